//! The integration tests' helpers: the shared test kit (`kit/`, crate
//! `mesa-kit`, also used by `tests/fallas.rs` and `mesa-bench`) under the
//! names the tests import — spawning the worker on a fresh database and
//! topology prefix, and talking to it over the real RabbitMQ as an upstream
//! system would.

pub use mesa_kit::*;
