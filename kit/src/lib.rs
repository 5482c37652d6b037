//! The shared test kit: what the integration tests (`tests/api`, through
//! `tests/api/helpers.rs`), the fault suite (`tests/fallas.rs`) and the
//! benchmark harness (`mesa-bench`) need to drive a real worker over the real
//! Postgres and RabbitMQ — scratch databases and topology prefixes, tokens,
//! the one way a command is published, a worker in-process ([`TestApp`]) or as
//! a child process ([`Proceso`]).
//!
//! A crate of its own (not a `#[path]` module) so each user compiles all of
//! it once, with no `dead_code` allowances, and so the bench binary — which
//! cannot see dev-dependencies — can depend on it like the tests do.
//! Helpers panic: a test or a benchmark set-up that cannot reach its
//! services has nothing better to do.

#![warn(missing_docs)]

mod app;
mod cliente;
mod corte;
mod datos;
mod entorno;
mod esquemas;
mod libro;
mod proceso;
mod publicar;
mod tokens;

pub use app::{TestApp, esperar_worker, valor_metrica};
pub use cliente::Cliente;
pub use corte::Corte;
pub use datos::{ana_garcia, fecha, mensaje, motivos, publicar_pasos, publicar_rafaga};
pub use entorno::{
    Nombres, SECRETO, base_url, borrar_entorno, crear_base, crear_base_en, esperar_conteo, esperar_outbox_publicado,
    limpiar, puerto_libre, settings_de_prueba,
};
pub use esquemas::{es_respuesta_de, validar_evento, validar_respuesta};
pub use libro::{Libro, Publicador};
pub use mesa_ayuda::contrato::{cabeceras, propiedades};
pub use proceso::Proceso;
pub use publicar::{cola_de_respuestas, publicar};
pub use tokens::{token, token_con, token_de};
