//! Pure domain code: no I/O, no clock. Time is always passed in.

pub mod anonimizacion;
pub mod calendario;
pub mod comando;
pub mod conversacion;
pub mod estado;
pub mod sla;
pub mod texto;
pub mod ticket;
