//! Mesa de Ayuda worker: ticket commands from RabbitMQ, applied to Postgres
//! through the state machine, with events out through a transactional outbox.

/// `mesa-ayuda alertas`: the operators' live SLA view.
pub mod alertas;
/// Identity from HS256 JWTs.
pub mod auth;
/// RabbitMQ adapter: connection, topology, replies, reconnects.
pub mod broker;
/// `catalogo`, generated from the state machine and the role matrix.
pub mod catalogo;
/// The `mesa-ayuda` command line: run, migrate, send, token.
pub mod cli;
/// Layered settings: defaults, files, `MESA__` environment variables.
pub mod configuration;
/// The command consumer with per-ticket lanes.
pub mod consumidor;
/// Pure domain: state machine, SLA arithmetic, validation, the ticket.
pub mod domain;
/// Contract error codes and AMQP dispositions.
pub mod error;
/// Health, readiness and Prometheus endpoints.
pub mod http;
/// Metrics and readiness flags.
pub mod metrics;
/// The outbox relay.
pub mod outbox;
/// The SLA scheduler.
pub mod planificador;
/// Command handling, broker-independent.
pub mod procesador;
/// Pruning of published events and old idempotency records.
pub mod retencion;
/// Wiring and the process lifecycle.
pub mod startup;
/// Persistence over sqlx.
pub mod store;
/// Logging setup.
pub mod telemetry;
/// JSON shapes of replies and events.
pub mod vistas;
