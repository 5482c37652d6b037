//! `unnest` of one array per column: how a batch writes many rows in one
//! statement.

use sqlx::{Postgres, QueryBuilder};

/// `unnest($a::t[], $b::u[], …) [WITH ORDINALITY] AS alias(a, b, … [, ord])`,
/// one column per call: each column's name, values and SQL type go in one
/// call, so the placeholders, the binds and the names cannot drift apart.
pub(super) struct Unnest<'b> {
    qb: &'b mut QueryBuilder<Postgres>,
    nombres: Vec<&'static str>,
}

impl<'b> Unnest<'b> {
    /// Opens `unnest(` on the statement being built.
    pub(super) fn new(qb: &'b mut QueryBuilder<Postgres>) -> Self {
        qb.push("unnest(");
        Unnest { qb, nombres: Vec::new() }
    }

    /// A column: its name, its values (one array bind) and their SQL type.
    pub(super) fn columna<T>(&mut self, nombre: &'static str, valores: T, tipo: &str) -> &mut Self
    where
        T: for<'t> sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
    {
        if !self.nombres.is_empty() {
            self.qb.push(", ");
        }
        self.qb.push_bind(valores).push("::").push(tipo).push("[]");
        self.nombres.push(nombre);
        self
    }

    /// Closes the call and names its columns; with `ordinalidad`, an `ord`
    /// column numbers the rows in array order.
    pub(super) fn cerrar(&mut self, alias: &str, ordinalidad: bool) {
        let orden = if ordinalidad { " WITH ORDINALITY" } else { "" };
        let extra = if ordinalidad { ", ord" } else { "" };
        self.qb.push(format!("){orden} AS {alias}({}{extra})", self.nombres.join(", ")));
    }
}
