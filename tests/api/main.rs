//! Integration tests against the real Postgres and RabbitMQ.

mod helpers;
mod comandos;
mod seguridad;
mod fiabilidad;
mod informes;
mod replicas;
mod sla;
