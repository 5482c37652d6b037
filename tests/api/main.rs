//! Integration tests against the real Postgres and RabbitMQ.

mod bordes;
mod bordes_amqp;
mod bordes_http;
mod comandos;
mod configuracion;
mod conversacion;
mod datos;
mod fiabilidad;
mod gateway;
mod helpers;
mod hostil;
mod hostil_http;
mod informes;
mod observabilidad;
mod operacion;
mod rechazados;
mod rendimiento;
mod replicas;
mod seguridad;
mod sla;
mod trazas;
