//! Integration tests against the real Postgres and RabbitMQ.

#[allow(dead_code)] // shared with tests/fallas.rs, which uses other parts
mod helpers;
mod comandos;
mod seguridad;
mod fiabilidad;
mod informes;
mod operacion;
mod replicas;
mod sla;
