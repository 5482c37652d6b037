//! Mesa de Ayuda worker: ticket commands from RabbitMQ, applied to Postgres
//! through the state machine, with events out through a transactional outbox.

// Visibility says what the library's surface is (the binaries, tests and the
// benchmark use it); anything else is `pub(crate)` or narrower.
#![warn(unreachable_pub)]
// The library is the surface the binaries, tests and the benchmark use, so
// every public item says what it is.
#![warn(missing_docs)]

/// `mesa-ayuda alertas`: the operators' live SLA view.
pub mod alertas;
/// RabbitMQ adapter: connection, topology, messages, the command consumer
/// with per-ticket lanes, the outbox relay.
pub mod amqp;
/// Erasure of a requester's data as a batch stages it (§11).
pub mod anonimizacion;
/// Identity from verified JWTs: HS256, or an identity provider's JWKS.
pub mod auth;
/// The `mesa-ayuda` command line: run, migrate, config, send, token, alertas.
pub mod cli;
/// Layered settings: defaults, files, `MESA__` environment variables, validated as a whole.
pub mod configuration;
/// The wire contract of a command: `message_id`, headers, properties.
pub mod contrato;
/// Pure domain: state machine, SLA arithmetic, validation, the ticket.
pub mod domain;
/// Contract error codes and AMQP dispositions.
pub mod error;
/// `mesa-ayuda gateway`: the HTTP API of contract §8 in front of the worker.
pub mod gateway;
/// Health, readiness and Prometheus endpoints.
pub mod http;
/// Metrics and readiness flags.
pub mod metrics;
/// The SLA scheduler.
pub mod planificador;
/// Command handling, broker-independent.
pub mod procesador;
/// Operator tools over the dead-letter queue: list, show, re-drive, purge.
pub mod rechazados;
/// The injectable clock (`Reloj`) the processor and the scheduler read.
pub mod reloj;
/// Pruning of published events and old idempotency records.
pub mod retencion;
/// The HTTP/1.1 server loop with the edge limits (head, idle, connections).
pub mod servidor;
/// Wiring and the process lifecycle.
pub mod startup;
/// Persistence over sqlx.
pub mod store;
/// Logging setup.
pub mod telemetry;
/// The one TLS provider and HTTP client builder.
pub mod tls;
/// JSON shapes of replies and events.
pub mod vistas;
