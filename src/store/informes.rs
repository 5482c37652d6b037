//! Reports: `listar` pages and `estadisticas`, computed in SQL.

use super::tickets::{TICKET_COLUMNS, TicketRow, a_ticket};
use crate::domain::comando::{Cursor, FiltroListado};
use crate::domain::sla::PausasQueDetienen;
use crate::domain::ticket::Ticket;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::BTreeMap;

/// Whether a row's pause counts as one for the SLA, the same rule as
/// `PausasQueDetienen::suspende`: every pause under `true`/`false`, only the
/// waits listed otherwise (a pause recorded without one waits for OTRO).
fn push_en_pausa(qb: &mut QueryBuilder<Postgres>, pausas: &PausasQueDetienen) {
    match pausas {
        PausasQueDetienen::Todas | PausasQueDetienen::Ninguna => qb.push("estado = 'PAUSADO'"),
        PausasQueDetienen::Esperas(esperas) => qb
            .push("(estado = 'PAUSADO' AND coalesce(espera, 'OTRO') = ANY(")
            .push_bind(esperas.iter().map(|e| e.as_str()).collect::<Vec<_>>())
            .push("::text[]))"),
    };
}

/// `slaEstado` computed in SQL, the same rule as `Ticket::sla_estado`:
/// frozen when closed, PAUSADO while paused (as `pausas` count pauses), else
/// by deadline and warning time (`sla::estado_en_curso`).
fn push_sla_estado(qb: &mut QueryBuilder<Postgres>, ahora: DateTime<Utc>, pausas: &PausasQueDetienen) {
    qb.push("(CASE WHEN sla_final IS NOT NULL THEN sla_final WHEN ");
    push_en_pausa(qb, pausas);
    qb.push(" THEN 'PAUSADO' WHEN fecha_limite_sla < ")
        .push_bind(ahora)
        .push(" THEN 'VENCIDO' WHEN fecha_aviso_sla <= ")
        .push_bind(ahora)
        .push(" THEN 'POR_VENCER' ELSE 'EN_TIEMPO' END)");
}

/// `slaPrimeraRespuesta` computed in SQL, the same rule as
/// `Ticket::sla_primera_respuesta`: frozen once its clock stopped, PAUSADO
/// while paused (as `pausas` count pauses), else by deadline and warning
/// time; NULL without a target.
fn push_sla_primera_respuesta(qb: &mut QueryBuilder<Postgres>, ahora: DateTime<Utc>, pausas: &PausasQueDetienen) {
    qb.push(
        "(CASE WHEN fecha_limite_primera_respuesta IS NULL THEN NULL \
         WHEN primera_respuesta_final IS NOT NULL THEN primera_respuesta_final WHEN ",
    );
    push_en_pausa(qb, pausas);
    qb.push(" THEN 'PAUSADO' WHEN fecha_limite_primera_respuesta < ")
        .push_bind(ahora)
        .push(" THEN 'VENCIDO' WHEN fecha_aviso_primera_respuesta <= ")
        .push_bind(ahora)
        .push(" THEN 'POR_VENCER' ELSE 'EN_TIEMPO' END)");
}

/// One page of tickets, newest first, after the cursor. Fetches one row more
/// than asked so the caller knows whether another page exists.
pub async fn listar(
    conn: &mut PgConnection,
    filtro: &FiltroListado,
    ahora: DateTime<Utc>,
    pausas: &PausasQueDetienen,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE TRUE"));
    if let Some(estado) = filtro.estado {
        qb.push(" AND estado = ").push_bind(estado.as_str());
    }
    if let Some(area) = &filtro.area {
        qb.push(" AND area_asignada = ").push_bind(area.clone());
    }
    if let Some(prioridad) = &filtro.prioridad {
        qb.push(" AND prioridad = ").push_bind(prioridad.clone());
    }
    if let Some(tipo) = &filtro.tipo {
        qb.push(" AND tipo = ").push_bind(tipo.as_str());
    }
    if let Some(sla) = filtro.sla_estado {
        qb.push(" AND ");
        push_sla_estado(&mut qb, ahora, pausas);
        qb.push(" = ").push_bind(sla.as_str());
    }
    if let Some(sla) = filtro.sla_primera_respuesta {
        qb.push(" AND ");
        push_sla_primera_respuesta(&mut qb, ahora, pausas);
        qb.push(" = ").push_bind(sla.as_str());
    }
    if let Some(espera) = filtro.espera {
        qb.push(" AND espera = ").push_bind(espera.as_str());
    }
    // Waiting for the desk: on `tickets_pendientes` (`tickets_pendientes_por_area`
    // when scoped to an area), the longest-waiting first. `espera` likewise on
    // `tickets_por_espera` / `tickets_por_area_y_espera`.
    let pendientes = filtro.pendiente_respuesta == Some(true);
    match filtro.pendiente_respuesta {
        Some(true) => qb.push(" AND pendiente_desde IS NOT NULL"),
        Some(false) => qb.push(" AND pendiente_desde IS NULL"),
        None => &mut qb,
    };
    match filtro.despues_de {
        Some(Cursor::Num(num)) => {
            qb.push(" AND num < ").push_bind(num);
        }
        Some(Cursor::Pendiente(desde, num)) => {
            qb.push(" AND (pendiente_desde, num) > (").push_bind(desde).push(", ").push_bind(num).push(")");
        }
        None => {}
    }
    if pendientes {
        qb.push(" ORDER BY pendiente_desde, num LIMIT ").push_bind(filtro.limite + 1);
    } else {
        qb.push(" ORDER BY num DESC LIMIT ").push_bind(filtro.limite + 1);
    }
    let rows: Vec<TicketRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    rows.into_iter().map(a_ticket).collect()
}

/// Distribution of one dimension: value → count.
pub type Conteo = BTreeMap<String, i64>;

/// `estadisticas` over tickets created in `[desde, hasta)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Estadisticas {
    /// Tickets created in the window.
    pub total: i64,
    /// Of those, by `estado`.
    pub por_estado: Conteo,
    /// Of those, by `tipo`.
    pub por_tipo: Conteo,
    /// Of those, by `prioridad`.
    pub por_prioridad: Conteo,
    /// Of those, by `areaAsignada`.
    pub por_area: Conteo,
    /// Open ones, by `slaEstado`.
    pub abiertos_por_sla: Conteo,
    /// Tickets whose resolution clock stopped in the window.
    pub cerrados: i64,
    /// Of those, the ones that met it.
    pub cumplidos: i64,
    /// Tickets whose first-response clock stopped in the window.
    pub primera_respuesta_cerrados: i64,
    /// Of those, the ones that met it.
    pub primera_respuesta_cumplidos: i64,
    /// Time from creation to first assignment.
    pub asignacion: Percentiles,
    /// Time from creation to closing.
    pub cierre: Percentiles,
}

/// Median and 90th percentile of a duration, in seconds.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct Percentiles {
    /// Number of durations measured.
    pub muestras: i64,
    /// Median, in seconds; none without samples.
    pub mediana_s: Option<f64>,
    /// 90th percentile, in seconds; none without samples.
    pub p90_s: Option<f64>,
}

fn push_ventana(qb: &mut QueryBuilder<Postgres>, desde: DateTime<Utc>, hasta: DateTime<Utc>, area: Option<&str>) {
    qb.push(" WHERE creado_en >= ").push_bind(desde).push(" AND creado_en < ").push_bind(hasta);
    if let Some(area) = area {
        qb.push(" AND area_asignada = ").push_bind(area.to_string());
    }
}

/// All figures computed in Postgres; only the aggregates travel.
pub async fn estadisticas(
    conn: &mut PgConnection,
    desde: DateTime<Utc>,
    hasta: DateTime<Utc>,
    area: Option<&str>,
    ahora: DateTime<Utc>,
    pausas: &PausasQueDetienen,
) -> Result<Estadisticas, sqlx::Error> {
    let mut e = Estadisticas::default();

    let mut qb = QueryBuilder::<Postgres>::new("SELECT estado, tipo, prioridad, area_asignada, count(*) FROM tickets");
    push_ventana(&mut qb, desde, hasta, area);
    qb.push(" GROUP BY GROUPING SETS ((estado), (tipo), (prioridad), (area_asignada), ())");
    // (estado, tipo, prioridad, area, count): one non-null key per grouping set.
    type Fila = (Option<String>, Option<String>, Option<String>, Option<String>, i64);
    let filas: Vec<Fila> = qb.build_query_as().fetch_all(&mut *conn).await?;
    for (estado, tipo, prioridad, area, n) in filas {
        match (estado, tipo, prioridad, area) {
            (Some(v), ..) => e.por_estado.insert(v, n),
            (_, Some(v), ..) => e.por_tipo.insert(v, n),
            (_, _, Some(v), _) => e.por_prioridad.insert(v, n),
            (.., Some(v)) => e.por_area.insert(v, n),
            _ => {
                e.total = n;
                None
            }
        };
    }

    let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
    push_sla_estado(&mut qb, ahora, pausas);
    qb.push(" AS sla, count(*) FROM tickets");
    push_ventana(&mut qb, desde, hasta, area);
    qb.push(" AND cerrado_en IS NULL GROUP BY 1");
    let filas: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    e.abiertos_por_sla = filas.into_iter().collect();

    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT count(cerrado_en), count(*) FILTER (WHERE sla_final = 'CUMPLIDO') FROM tickets",
    );
    push_ventana(&mut qb, desde, hasta, area);
    (e.cerrados, e.cumplidos) = qb.build_query_as().fetch_one(&mut *conn).await?;

    // By when the clock stopped (`primera_respuesta_en`, set with the
    // result), on `tickets_primera_respuesta`.
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT count(*), count(*) FILTER (WHERE primera_respuesta_final = 'CUMPLIDO') FROM tickets \
         WHERE primera_respuesta_en >= ",
    );
    qb.push_bind(desde).push(" AND primera_respuesta_en < ").push_bind(hasta);
    if let Some(area) = area {
        qb.push(" AND area_asignada = ").push_bind(area.to_string());
    }
    (e.primera_respuesta_cerrados, e.primera_respuesta_cumplidos) = qb.build_query_as().fetch_one(&mut *conn).await?;

    for (columna, destino) in [("primera_asignacion_en", &mut e.asignacion), ("cerrado_en", &mut e.cierre)] {
        let segundos = format!("EXTRACT(EPOCH FROM {columna} - creado_en)");
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT count({columna}) AS muestras, \
             (percentile_cont(0.5) WITHIN GROUP (ORDER BY {segundos}))::float8 AS mediana_s, \
             (percentile_cont(0.9) WITHIN GROUP (ORDER BY {segundos}))::float8 AS p90_s FROM tickets"
        ));
        push_ventana(&mut qb, desde, hasta, area);
        *destino = qb.build_query_as().fetch_one(&mut *conn).await?;
    }
    Ok(e)
}
