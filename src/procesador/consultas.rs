//! Queries, answered inside the batch's transaction where they stand, so
//! they see what the mutations before them wrote.

use super::{Desenlace, Procesador, fuera_de_area};
use crate::domain::comando::{Cursor, FiltroEstadisticas, FiltroExportacion, FiltroListado};
use crate::domain::conversacion::MENSAJES_POR_RESPUESTA;
use crate::domain::estado::Operacion;
use crate::domain::ticket::{Actor, Alcance};
use crate::error::{EnSentencia, ErrorContrato, ErrorProceso};
use crate::{store, vistas};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A validated query; the staff ones carry their verified actor.
pub(super) enum Consulta {
    Consultar {
        label: String,
        email: String,
    },
    Detalle {
        ticket_id: Uuid,
        actor: Actor,
    },
    Listar {
        filtro: FiltroListado,
        actor: Actor,
    },
    Estadisticas {
        filtro: FiltroEstadisticas,
        actor: Actor,
    },
    Catalogo,
    /// ADMIN only (checked with the role): every ticket of one requester.
    Exportar {
        filtro: FiltroExportacion,
    },
}

impl Consulta {
    fn operacion(&self) -> Operacion {
        match self {
            Consulta::Consultar { .. } => Operacion::Consultar,
            Consulta::Detalle { .. } => Operacion::Detalle,
            Consulta::Listar { .. } => Operacion::Listar,
            Consulta::Estadisticas { .. } => Operacion::Estadisticas,
            Consulta::Catalogo => Operacion::Catalogo,
            Consulta::Exportar { .. } => Operacion::Exportar,
        }
    }
}

impl Procesador {
    /// Answers a query inside the batch's transaction.
    pub(super) async fn consultar(
        &self,
        tx: &mut PgConnection,
        consulta: Consulta,
        ahora: DateTime<Utc>,
    ) -> Result<Desenlace, ErrorProceso> {
        let op = consulta.operacion();
        let respuesta = |r: Result<Desenlace, ErrorContrato>| r.unwrap_or_else(|e| Desenlace::rechazo(Some(op), &e));
        Ok(match consulta {
            Consulta::Consultar { label, email } => {
                let ticket =
                    store::ticket_por_label_y_email(tx, &label, &email).await.en("ticket_por_label_y_email")?;
                // Found by its e-mail, so it has one; an erased ticket has none
                // and is never found (§11).
                respuesta(match ticket.as_ref().and_then(|t| Some((t, t.solicitante.email.as_deref()?))) {
                    None => Err(ErrorContrato::consulta_no_encontrada()),
                    Some((t, email)) => {
                        let ultimo = store::ultimo_historial(tx, t.uuid).await.en("ultimo_historial")?;
                        let publicos =
                            store::conversacion(tx, t.uuid, true, MENSAJES_POR_RESPUESTA).await.en("conversacion")?;
                        Ok(Desenlace::ok(
                            op,
                            &vistas::consulta(t, email, ultimo.as_ref(), &publicos, ahora, &self.reglas),
                        ))
                    }
                })
            }
            Consulta::Detalle { ticket_id, actor } => {
                respuesta(match store::ticket(tx, ticket_id).await.en("ticket")? {
                    None => Err(ErrorContrato::ticket_no_encontrado()),
                    Some(t) if !actor.alcanza(&t) => Err(fuera_de_area()),
                    Some(t) => {
                        let (entradas, mensajes) = detalle_de(tx, t.uuid).await?;
                        Ok(Desenlace::ok(op, &vistas::detalle(&t, &entradas, &mensajes, ahora, &self.reglas)))
                    }
                })
            }
            Consulta::Listar { mut filtro, actor } => {
                let Alcance::Area(area) = actor.alcance(filtro.area.as_deref()) else {
                    return Ok(Desenlace::ok(op, &vistas::listado(&[], None, ahora, &self.reglas)));
                };
                filtro.area = area;
                let mut tickets =
                    store::listar(tx, &filtro, ahora, self.reglas.pausas_que_detienen()).await.en("listar")?;
                // One row more than the page says whether another follows.
                let siguiente = if tickets.len() as i64 > filtro.limite {
                    tickets.truncate(filtro.limite as usize);
                    tickets.last().map(|t| match (filtro.pendiente_respuesta, t.pendiente_desde) {
                        (Some(true), Some(desde)) => Cursor::Pendiente(desde, t.num).texto(),
                        _ => Cursor::Num(t.num).texto(),
                    })
                } else {
                    None
                };
                Desenlace::ok(op, &vistas::listado(&tickets, siguiente, ahora, &self.reglas))
            }
            Consulta::Estadisticas { filtro, actor } => {
                let hasta = filtro.hasta.unwrap_or(ahora);
                let desde = filtro.desde.unwrap_or(hasta - TimeDelta::days(30));
                let (e, area) = match actor.alcance(filtro.area.as_deref()) {
                    Alcance::Nada => (store::Estadisticas::default(), filtro.area.clone()),
                    Alcance::Area(area) => (
                        store::estadisticas(
                            tx,
                            desde,
                            hasta,
                            area.as_deref(),
                            ahora,
                            self.reglas.pausas_que_detienen(),
                        )
                        .await
                        .en("estadisticas")?,
                        area,
                    ),
                };
                Desenlace::ok(op, &vistas::estadisticas(&e, desde, hasta, area.as_deref()))
            }
            Consulta::Catalogo => Desenlace::ok(op, &vistas::vista_catalogo(&self.reglas)),
            Consulta::Exportar { filtro } => {
                let limite = filtro.limite as usize;
                // One row more than the page says whether another follows.
                let tickets = store::tickets_por_email(tx, &filtro.email, filtro.despues_de, limite + 1)
                    .await
                    .en("tickets_por_email")?;
                let hay_mas = tickets.len() > limite;
                // A page also ends before it outgrows `EXPORTADO_BYTES_MAX`
                // (one ticket at least): a reply must fit a broker message.
                let (mut pagina, mut bytes, mut cortada) = (Vec::new(), 0, false);
                for t in tickets.into_iter().take(limite) {
                    let (entradas, mensajes) = detalle_de(tx, t.uuid).await?;
                    let peso = vistas::peso(&vistas::detalle(&t, &entradas, &mensajes, ahora, &self.reglas));
                    if !pagina.is_empty() && bytes + peso > vistas::EXPORTADO_BYTES_MAX {
                        cortada = true;
                        break;
                    }
                    bytes += peso;
                    pagina.push((t, entradas, mensajes));
                }
                let siguiente =
                    (hay_mas || cortada).then(|| pagina.last().map(|(t, ..)| Cursor::Num(t.num).texto())).flatten();
                Desenlace::ok(op, &vistas::exportado(&filtro.email, &pagina, siguiente, ahora, &self.reglas))
            }
        })
    }
}

/// What `detalle` shows of a ticket besides its row, read as `detalle` and
/// `exportar` both show it: the whole history, and the latest messages with
/// how many are left out.
async fn detalle_de(
    tx: &mut PgConnection,
    ticket: Uuid,
) -> Result<(Vec<store::HistorialLeido>, store::Conversacion), ErrorProceso> {
    let entradas = store::historial(tx, ticket).await.en("historial")?;
    let mensajes = store::conversacion(tx, ticket, false, MENSAJES_POR_RESPUESTA).await.en("conversacion")?;
    Ok((entradas, mensajes))
}
