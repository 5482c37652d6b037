//! Integration tests against the real Postgres and RabbitMQ.

mod bordes;
mod comandos;
mod configuracion;
mod fiabilidad;
mod gateway;
#[allow(dead_code)] // shared with tests/fallas.rs, which uses other parts
mod helpers;
mod hostil;
mod informes;
mod operacion;
mod rendimiento;
mod replicas;
mod seguridad;
mod sla;
