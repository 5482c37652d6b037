//! Ticket rows: the one column list, reading rows back as domain tickets
//! and writing them as arrays, locking them for a batch and drawing ticket
//! numbers.

use super::unnest::Unnest;
use crate::domain::conversacion::{AlVencer, Espera, Pausa};
use crate::domain::estado::Tipo;
use crate::domain::sla::{NivelSla, Progreso, SlaEstado};
use crate::domain::ticket::{PrimeraRespuesta, Solicitante, Ticket, Veredicto};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// Derives everything that follows the column list of `tickets` (invoked
/// once, below): the select list, the row read back, the row written and its
/// `unnest` arrays, and which columns an update rewrites.
macro_rules! columnas_de_ticket {
    // The names joined by ", ", at compile time: a `const` for `format!`.
    (@lista $primera:ident $($resto:ident)*) => {
        concat!(stringify!($primera) $(, ", ", stringify!($resto))*)
    };
    // The type written: the one read back unless the line names another.
    (@escrito $leido:ty) => { $leido };
    (@escrito $leido:ty => $escrito:ty) => { $escrito };
    // Only the two words: a typo is a compile error, never a silent `fija`.
    (@cambia fija) => { false };
    (@cambia cambia) => { true };
    ($($columna:ident: $leido:ty $(=> $escrito:ty)?, $tipo:literal, $al_actualizar:ident;)+) => {
        /// Every column, in list order: the select list and the insert's.
        pub(super) const TICKET_COLUMNS: &str = columnas_de_ticket!(@lista $($columna)+);

        /// Each column's name and whether an update rewrites it, in list order.
        const AL_ACTUALIZAR: &[(&str, bool)] =
            &[$((stringify!($columna), columnas_de_ticket!(@cambia $al_actualizar)),)+];

        /// A row as read back: the columns as stored, for [`Ticket::try_from`].
        #[derive(sqlx::FromRow)]
        pub(super) struct TicketRow {
            $($columna: $leido,)+
        }

        /// A ticket as written, one field per column: built by a struct
        /// literal, so the compiler asks for every column.
        struct TicketValues {
            $($columna: columnas_de_ticket!(@escrito $leido $(=> $escrito)?),)+
        }

        /// Tickets as one array per column, for `unnest`.
        #[derive(Default)]
        pub(super) struct ColumnasTicket {
            $($columna: Vec<columnas_de_ticket!(@escrito $leido $(=> $escrito)?)>,)+
        }

        /// Each ticket's values pushed onto the arrays, column by column.
        impl FromIterator<Ticket> for ColumnasTicket {
            fn from_iter<I: IntoIterator<Item = Ticket>>(tickets: I) -> Self {
                let mut c = ColumnasTicket::default();
                for t in tickets {
                    let v = TicketValues::from(t);
                    $(c.$columna.push(v.$columna);)+
                }
                c
            }
        }

        impl ColumnasTicket {
            /// Every array as an `unnest` column, named and typed as listed.
            pub(super) fn unnest(self, u: &mut Unnest<'_>) {
                $(u.columna(stringify!($columna), self.$columna, $tipo);)+
            }
        }
    };
}

// The `tickets` row, one line per column, in the order of the select list:
//
//     name: type read back [=> type written], "SQL type", fija | cambia;
//
// `fija` is written once, by the insert; `cambia` is rewritten by every
// update too. `=> type written` only where the value written is not the type
// read back (a domain enum's `&'static str`, read back as a `String`). The
// SQL type is the `unnest` array's cast, so it names the type written.
//
// To add a column: its migration, one line here, then the two domain
// mappings below, which the compiler asks for: `TryFrom<TicketRow> for
// Ticket` (a field never read is a warning) and `From<Ticket> for
// TicketValues` (a missing field is an error). The select and insert lists,
// the update's `SET` and the batch `unnest` follow from this list.
columnas_de_ticket! {
    uuid:                           Uuid,                                    "uuid",        fija;
    num:                            i64,                                     "int8",        fija;
    label:                          String,                                  "text",        fija;
    solicitante_nombre:             String,                                  "text",        fija;
    solicitante_email:              Option<String>,                          "text",        fija;
    solicitante_telefono:           Option<String>,                          "text",        fija;
    tiene_whatsapp:                 bool,                                    "bool",        fija;
    documento:                      Option<String>,                          "text",        fija;
    empresa_departamento:           Option<String>,                          "text",        fija;
    tipo:                           String => &'static str,                  "text",        cambia;
    categoria:                      String,                                  "text",        cambia;
    subcategoria:                   Option<String>,                          "text",        cambia;
    asunto:                         Option<String>,                          "text",        fija;
    descripcion:                    String,                                  "text",        fija;
    respuesta_cliente:              Option<String>,                          "text",        cambia;
    area_asignada:                  String,                                  "text",        cambia;
    agente_asignado:                Option<String>,                          "text",        cambia;
    prioridad:                      String,                                  "text",        cambia;
    estado:                         String => &'static str,                  "text",        cambia;
    sla_objetivo_ms:                i64,                                     "int8",        cambia;
    fecha_limite_sla:               DateTime<Utc>,                           "timestamptz", cambia;
    fecha_aviso_sla:                DateTime<Utc>,                           "timestamptz", cambia;
    sla_alerta:                     Option<String> => Option<&'static str>,  "text",        cambia;
    proxima_alerta_sla:             Option<DateTime<Utc>>,                   "timestamptz", cambia;
    pausado_desde:                  Option<DateTime<Utc>>,                   "timestamptz", cambia;
    pausa_acumulada_ms:             i64,                                     "int8",        cambia;
    sla_final:                      Option<String> => Option<&'static str>,  "text",        cambia;
    creado_en:                      DateTime<Utc>,                           "timestamptz", fija;
    actualizado_en:                 DateTime<Utc>,                           "timestamptz", cambia;
    primera_asignacion_en:          Option<DateTime<Utc>>,                   "timestamptz", cambia;
    cerrado_en:                     Option<DateTime<Utc>>,                   "timestamptz", cambia;
    version:                        i64,                                     "int8",        cambia;
    sla_politica:                   Option<String>,                          "text",        cambia;
    sla_alerta_umbral:              Option<i16>,                             "int2",        cambia;
    primera_respuesta_objetivo_ms:  Option<i64>,                             "int8",        cambia;
    fecha_limite_primera_respuesta: Option<DateTime<Utc>>,                   "timestamptz", cambia;
    fecha_aviso_primera_respuesta:  Option<DateTime<Utc>>,                   "timestamptz", cambia;
    primera_respuesta_alerta:       Option<String> => Option<&'static str>,  "text",        cambia;
    primera_respuesta_umbral:       Option<i16>,                             "int2",        cambia;
    primera_respuesta_final:        Option<String> => Option<&'static str>,  "text",        cambia;
    espera:                         Option<String> => Option<&'static str>,  "text",        cambia;
    espera_hasta:                   Option<DateTime<Utc>>,                   "timestamptz", cambia;
    al_vencer:                      Option<String> => Option<&'static str>,  "text",        cambia;
    pendiente_desde:                Option<DateTime<Utc>>,                   "timestamptz", cambia;
    primera_respuesta_en:           Option<DateTime<Utc>>,                   "timestamptz", cambia;
    anonimizado_en:                 Option<DateTime<Utc>>,                   "timestamptz", cambia;
}

/// The columns an update rewrites, in list order: all but those fixed at
/// creation.
pub(super) fn columnas_que_cambian() -> impl Iterator<Item = &'static str> {
    AL_ACTUALIZAR.iter().filter(|(_, cambia)| *cambia).map(|(columna, _)| *columna)
}

/// A stored row the domain cannot read (a value no migration allows).
#[derive(Debug, thiserror::Error)]
#[error("fila de ticket inválida: {0}")]
pub(super) struct FilaInvalida(pub(super) String);

/// The domain mapping for reading: a row's columns as a ticket's fields,
/// refusing a value the domain does not know.
impl TryFrom<TicketRow> for Ticket {
    type Error = FilaInvalida;
    fn try_from(r: TicketRow) -> Result<Ticket, FilaInvalida> {
        Ok(Ticket {
            uuid: r.uuid,
            num: r.num,
            label: r.label,
            solicitante: Solicitante {
                nombre: r.solicitante_nombre,
                email: r.solicitante_email,
                telefono: r.solicitante_telefono,
                tiene_whatsapp: r.tiene_whatsapp,
                documento: r.documento,
                empresa_departamento: r.empresa_departamento,
            },
            tipo: Tipo::parse(&r.tipo).ok_or_else(|| FilaInvalida(format!("tipo desconocido: {}", r.tipo)))?,
            categoria: r.categoria,
            subcategoria: r.subcategoria,
            asunto: r.asunto,
            descripcion: r.descripcion,
            respuesta_cliente: r.respuesta_cliente,
            area_asignada: r.area_asignada,
            agente_asignado: r.agente_asignado,
            prioridad: r.prioridad,
            estado: r.estado.parse().map_err(FilaInvalida)?,
            sla_objetivo: TimeDelta::milliseconds(r.sla_objetivo_ms),
            fecha_limite_sla: r.fecha_limite_sla,
            fecha_aviso_sla: r.fecha_aviso_sla,
            sla_progreso: Progreso::de_columnas(nivel(r.sla_alerta, "sla_alerta")?, r.sla_alerta_umbral),
            sla_politica: r.sla_politica,
            primera_respuesta: match (
                r.primera_respuesta_objetivo_ms,
                r.fecha_limite_primera_respuesta,
                r.fecha_aviso_primera_respuesta,
            ) {
                (Some(ms), Some(fecha_limite), Some(fecha_aviso)) => Some(PrimeraRespuesta {
                    objetivo: TimeDelta::milliseconds(ms),
                    fecha_limite,
                    fecha_aviso,
                    progreso: Progreso::de_columnas(
                        nivel(r.primera_respuesta_alerta, "primera_respuesta_alerta")?,
                        r.primera_respuesta_umbral,
                    ),
                    resultado: match (
                        sla_estado(r.primera_respuesta_final, "primera_respuesta_final")?,
                        r.primera_respuesta_en,
                    ) {
                        (Some(estado), Some(en)) => Some(Veredicto { estado, en }),
                        (None, None) => None,
                        _ => return Err(FilaInvalida("primera respuesta sin fecha o sin resultado".into())),
                    },
                }),
                // A stopped clock's date is that clock's: never without it.
                (None, None, None) if r.primera_respuesta_en.is_none() => None,
                _ => return Err(FilaInvalida("primera respuesta incompleta".into())),
            },
            proxima_alerta_sla: r.proxima_alerta_sla,
            pausado_desde: r.pausado_desde,
            pausa: match (r.espera, r.al_vencer) {
                (Some(espera), Some(al_vencer)) => Some(Pausa {
                    espera: Espera::parse(&espera)
                        .ok_or_else(|| FilaInvalida(format!("espera desconocida: {espera}")))?,
                    hasta: r.espera_hasta,
                    al_vencer: AlVencer::parse(&al_vencer)
                        .ok_or_else(|| FilaInvalida(format!("al_vencer desconocido: {al_vencer}")))?,
                }),
                (None, None) => None,
                _ => return Err(FilaInvalida("espera incompleta".into())),
            },
            pendiente_desde: r.pendiente_desde,
            pausa_acumulada: TimeDelta::milliseconds(r.pausa_acumulada_ms),
            sla_final: sla_estado(r.sla_final, "sla_final")?,
            creado_en: r.creado_en,
            actualizado_en: r.actualizado_en,
            primera_asignacion_en: r.primera_asignacion_en,
            cerrado_en: r.cerrado_en,
            version: r.version,
            anonimizado_en: r.anonimizado_en,
        })
    }
}

/// The domain mapping for writing: a ticket's fields as its row's columns.
impl From<Ticket> for TicketValues {
    fn from(t: Ticket) -> TicketValues {
        let (sla_alerta, sla_alerta_umbral) = t.sla_progreso.columnas();
        let pr = t.primera_respuesta;
        let (primera_respuesta_alerta, primera_respuesta_umbral) =
            pr.as_ref().map(|p| p.progreso.columnas()).unwrap_or_default();
        TicketValues {
            uuid: t.uuid,
            num: t.num,
            label: t.label,
            solicitante_nombre: t.solicitante.nombre,
            solicitante_email: t.solicitante.email,
            solicitante_telefono: t.solicitante.telefono,
            tiene_whatsapp: t.solicitante.tiene_whatsapp,
            documento: t.solicitante.documento,
            empresa_departamento: t.solicitante.empresa_departamento,
            tipo: t.tipo.as_str(),
            categoria: t.categoria,
            subcategoria: t.subcategoria,
            asunto: t.asunto,
            descripcion: t.descripcion,
            respuesta_cliente: t.respuesta_cliente,
            area_asignada: t.area_asignada,
            agente_asignado: t.agente_asignado,
            prioridad: t.prioridad,
            estado: t.estado.as_str(),
            sla_objetivo_ms: t.sla_objetivo.num_milliseconds(),
            fecha_limite_sla: t.fecha_limite_sla,
            fecha_aviso_sla: t.fecha_aviso_sla,
            sla_alerta: sla_alerta.map(NivelSla::as_str),
            proxima_alerta_sla: t.proxima_alerta_sla,
            pausado_desde: t.pausado_desde,
            espera: t.pausa.map(|p| p.espera.as_str()),
            espera_hasta: t.pausa.and_then(|p| p.hasta),
            al_vencer: t.pausa.map(|p| p.al_vencer.as_str()),
            pendiente_desde: t.pendiente_desde,
            pausa_acumulada_ms: t.pausa_acumulada.num_milliseconds(),
            sla_final: t.sla_final.map(SlaEstado::as_str),
            creado_en: t.creado_en,
            actualizado_en: t.actualizado_en,
            primera_asignacion_en: t.primera_asignacion_en,
            cerrado_en: t.cerrado_en,
            version: t.version,
            sla_politica: t.sla_politica,
            sla_alerta_umbral,
            primera_respuesta_objetivo_ms: pr.as_ref().map(|p| p.objetivo.num_milliseconds()),
            fecha_limite_primera_respuesta: pr.as_ref().map(|p| p.fecha_limite),
            fecha_aviso_primera_respuesta: pr.as_ref().map(|p| p.fecha_aviso),
            primera_respuesta_alerta: primera_respuesta_alerta.map(NivelSla::as_str),
            primera_respuesta_umbral,
            primera_respuesta_final: pr.as_ref().and_then(|p| p.resultado).map(|v| v.estado.as_str()),
            primera_respuesta_en: pr.and_then(|p| p.resultado).map(|v| v.en),
            anonimizado_en: t.anonimizado_en,
        }
    }
}

fn nivel(texto: Option<String>, columna: &str) -> Result<Option<NivelSla>, FilaInvalida> {
    texto.map(|s| NivelSla::parse(&s).ok_or_else(|| FilaInvalida(format!("{columna} {s:?}")))).transpose()
}

fn sla_estado(texto: Option<String>, columna: &str) -> Result<Option<SlaEstado>, FilaInvalida> {
    texto.map(|s| SlaEstado::parse(&s).ok_or_else(|| FilaInvalida(format!("{columna} {s:?}")))).transpose()
}

/// A row as a domain ticket; a row the domain rejects is a decode error.
pub(super) fn a_ticket(row: TicketRow) -> Result<Ticket, sqlx::Error> {
    Ticket::try_from(row).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// The ticket `uuid`, if it exists.
pub async fn ticket(conn: &mut PgConnection, uuid: Uuid) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE uuid = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(uuid).fetch_optional(conn).await?.map(a_ticket).transpose()
}

/// The ticket with this label whose requester has this e-mail (compared
/// case-insensitively). One query either way, so a wrong e-mail and an
/// unknown label cannot be told apart.
pub async fn ticket_por_label_y_email(
    conn: &mut PgConnection,
    label: &str,
    email: &str,
) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE label = $1 AND lower(solicitante_email) = lower($2)");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(label)
        .bind(email)
        .fetch_optional(conn)
        .await?
        .map(a_ticket)
        .transpose()
}

/// Loads tickets and locks their rows until the transaction ends, so two
/// commands on one ticket never interleave. Locked in uuid order, so two
/// batches sharing tickets cannot deadlock.
pub async fn bloquear_tickets(conn: &mut PgConnection, uuids: &[Uuid]) -> Result<HashMap<Uuid, Ticket>, sqlx::Error> {
    if uuids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE uuid = ANY($1) ORDER BY uuid FOR UPDATE");
    let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(uuids).fetch_all(conn).await?;
    rows.into_iter().map(|r| a_ticket(r).map(|t| (t.uuid, t))).collect()
}

/// The tickets `seguimiento`s name, by (label, e-mail) as given: a pair
/// whose label is unknown or whose e-mail is not the requester's is left
/// out, one query either way. The e-mail is compared in SQL exactly as
/// `consultar` compares it (`lower(stored) = lower(given)`, Postgres's
/// `lower` under the database's collation), so the two can never disagree.
/// Not locked: a label never changes, so the uuids are then locked with
/// the others, in uuid order ([`bloquear_tickets`]).
pub async fn uuids_por_label(
    conn: &mut PgConnection,
    pares: &[(String, String)],
) -> Result<HashMap<(String, String), Uuid>, sqlx::Error> {
    if pares.is_empty() {
        return Ok(HashMap::new());
    }
    let (labels, emails): (Vec<&str>, Vec<&str>) = pares.iter().map(|(l, e)| (l.as_str(), e.as_str())).unzip();
    let filas: Vec<(String, String, Uuid)> = sqlx::query_as(
        "SELECT p.label, p.email, t.uuid FROM unnest($1::text[], $2::text[]) AS p(label, email) \
         JOIN tickets t ON t.label = p.label AND lower(t.solicitante_email) = lower(p.email)",
    )
    .bind(&labels)
    .bind(&emails)
    .fetch_all(conn)
    .await?;
    Ok(filas.into_iter().map(|(l, e, u)| ((l, e), u)).collect())
}

/// The tickets whose requester has one of `emails` (compared as
/// `consultar` compares them) and whose data is not erased yet, by e-mail
/// as given; not locked ([`bloquear_tickets`] locks them with the others).
/// An e-mail is matched whole: `%` and `_` are characters like any other.
pub async fn uuids_por_email(
    conn: &mut PgConnection,
    emails: &[String],
) -> Result<HashMap<String, Vec<Uuid>>, sqlx::Error> {
    let mut por_email: HashMap<String, Vec<Uuid>> = HashMap::new();
    if emails.is_empty() {
        return Ok(por_email);
    }
    let filas: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT e.email, t.uuid FROM unnest($1::text[]) AS e(email) \
         JOIN tickets t ON lower(t.solicitante_email) = lower(e.email) \
         WHERE t.solicitante_email IS NOT NULL AND t.anonimizado_en IS NULL ORDER BY t.num",
    )
    .bind(emails)
    .fetch_all(conn)
    .await?;
    for (email, uuid) in filas {
        por_email.entry(email).or_default().push(uuid);
    }
    Ok(por_email)
}

/// A page of one requester's tickets for `exportar`, oldest first (by
/// number), after `despues_de`; `limite` rows.
pub async fn tickets_por_email(
    conn: &mut PgConnection,
    email: &str,
    despues_de: Option<i64>,
    limite: usize,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE lower(solicitante_email) = lower($1) \
         AND solicitante_email IS NOT NULL AND num > $2 ORDER BY lower(solicitante_email), num LIMIT $3"
    );
    let filas: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .bind(despues_de.unwrap_or(0))
        .bind(super::limite_sql(limite))
        .fetch_all(conn)
        .await?;
    filas.into_iter().map(a_ticket).collect()
}

/// Claims up to `limite` tickets closed before `corte` whose data is not
/// erased yet, for the retention pass: locked, skipping those another
/// replica or a command holds, so each is erased once and no command waits
/// longer than one batch.
pub async fn reclamar_para_anonimizar(
    conn: &mut PgConnection,
    corte: DateTime<Utc>,
    limite: usize,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE cerrado_en IS NOT NULL AND anonimizado_en IS NULL \
         AND cerrado_en < $1 ORDER BY cerrado_en, uuid LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let filas: Vec<TicketRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(corte).bind(super::limite_sql(limite)).fetch_all(conn).await?;
    filas.into_iter().map(a_ticket).collect()
}

/// `n` fresh ticket numbers.
pub async fn siguientes_nums(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>, sqlx::Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT nextval('ticket_num_seq') FROM generate_series(1, $1)")
        .bind(n as i64)
        .fetch_all(conn)
        .await
}
