//! The JSON shapes of the contract: replies (§4) and event envelopes (§5).

use crate::domain::sla;
use crate::domain::ticket::{Alerta, Ticket};
use crate::error::ErrorContrato;
use crate::store::{Estadisticas, HistorialLeido, Percentiles};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

mod catalogo;

pub use catalogo::catalogo;

/// RFC 3339, UTC, milliseconds.
pub fn fecha(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn fecha_opt(t: Option<DateTime<Utc>>) -> Value {
    t.map(fecha).map(Value::String).unwrap_or(Value::Null)
}

/// A success reply: `{"ok": true, "datos": datos}`.
pub fn ok(datos: Value) -> Value {
    json!({"ok": true, "datos": datos})
}

/// `datos` of `crear`.
pub fn creado(t: &Ticket) -> Value {
    json!({
        "ticketUuid": t.uuid,
        "ticketLabel": t.label,
        "estado": t.estado,
        "tipo": t.tipo,
        "prioridad": t.prioridad,
        "slaHoras": sla::horas(t.sla_objetivo),
        "fechaCreacion": fecha(t.creado_en),
        "fechaLimiteSla": fecha(t.fecha_limite_sla),
        "fechaLimitePrimeraRespuesta": fecha_opt(t.fecha_limite(sla::Meta::PrimeraRespuesta)),
        "slaPolitica": t.sla_politica,
        "mensaje": "Su solicitud ha sido registrada exitosamente.",
    })
}

/// `datos` of every mutation but `crear`.
pub fn transicion(antes: &Ticket, t: &Ticket, ahora: DateTime<Utc>) -> Value {
    json!({
        "ticketUuid": t.uuid,
        "ticketLabel": t.label,
        "estadoAnterior": antes.estado,
        "estado": t.estado,
        "areaAsignada": t.area_asignada,
        "prioridad": t.prioridad,
        "fechaLimiteSla": fecha(t.fecha_limite_sla),
        "slaEstado": t.sla_estado(ahora),
        "fechaLimitePrimeraRespuesta": fecha_opt(t.fecha_limite(sla::Meta::PrimeraRespuesta)),
        "slaPrimeraRespuesta": t.sla_primera_respuesta(ahora),
        "slaPolitica": t.sla_politica,
        "version": t.version,
    })
}

/// The `ticket` object of `detalle`, `listar` and events (snake_case).
pub fn ticket(t: &Ticket, ahora: DateTime<Utc>) -> Value {
    json!({
        "uuid": t.uuid,
        "label": t.label,
        "num": t.num,
        "tipo_solicitud": t.tipo,
        "categoria": t.categoria,
        "subcategoria": t.subcategoria,
        "asunto": t.asunto,
        "descripcion": t.descripcion,
        "respuesta_cliente": t.respuesta_cliente,
        "estado": t.estado,
        "prioridad": t.prioridad,
        "area_asignada": t.area_asignada,
        "agente_asignado": t.agente_asignado,
        "sla_horas": sla::horas(t.sla_objetivo),
        "fecha_limite_sla": fecha(t.fecha_limite_sla),
        "sla_estado": t.sla_estado(ahora),
        "fecha_limite_primera_respuesta": fecha_opt(t.fecha_limite(sla::Meta::PrimeraRespuesta)),
        "sla_primera_respuesta": t.sla_primera_respuesta(ahora),
        "sla_politica": t.sla_politica,
        "creado_en": fecha(t.creado_en),
        "actualizado_en": fecha(t.actualizado_en),
        "cerrado_en": fecha_opt(t.cerrado_en),
        "version": t.version,
    })
}

/// The `solicitante` object of a ticket.
pub fn solicitante(t: &Ticket) -> Value {
    let s = &t.solicitante;
    json!({
        "nombre": s.nombre,
        "email": s.email,
        "telefono": s.telefono,
        "tieneWhatsapp": s.tiene_whatsapp,
        "documento": s.documento,
        "empresaDepartamento": s.empresa_departamento,
    })
}

/// One `historial` entry.
pub fn historial(h: &HistorialLeido) -> Value {
    json!({
        "fecha": fecha(h.fecha),
        "accion": h.accion,
        "motivo": h.motivo,
        "actor_nombre": h.actor_nombre,
        "actor_rol": h.actor_rol,
        "estado_antes": h.estado_antes,
        "estado_despues": h.estado_despues,
        "prioridad_antes": h.prioridad_antes,
        "prioridad_despues": h.prioridad_despues,
        "area_antes": h.area_antes,
        "area_despues": h.area_despues,
    })
}

/// `datos` of `detalle`.
pub fn detalle(t: &Ticket, entradas: &[HistorialLeido], ahora: DateTime<Utc>) -> Value {
    json!({
        "ticket": ticket(t, ahora),
        "solicitante": solicitante(t),
        "historial": entradas.iter().map(historial).collect::<Vec<_>>(),
    })
}

/// `datos` of `consultar`: ConsultarTicketOut plus SLA fields.
pub fn consulta(t: &Ticket, ultimo: Option<&HistorialLeido>, ahora: DateTime<Utc>) -> Value {
    let s = &t.solicitante;
    json!({
        "ticketUuid": t.uuid,
        "ticketLabel": t.label,
        "ticketNum": t.num,
        "solicitanteNombre": s.nombre,
        "solicitanteEmail": s.email,
        "solicitanteTel": s.telefono,
        "tieneWhatsapp": s.tiene_whatsapp,
        "documento": s.documento,
        "empresaDepartamento": s.empresa_departamento,
        "tipoSolicitud": t.tipo,
        "categoria": t.categoria,
        "subcategoria": t.subcategoria,
        "asunto": t.asunto,
        "descripcionProblema": t.descripcion,
        "respuestaCliente": t.respuesta_cliente,
        "areaAsignada": t.area_asignada,
        "prioridadNombre": t.prioridad,
        "estadoNombre": t.estado,
        "creadoEn": fecha(t.creado_en),
        "actualizadoEn": fecha(t.actualizado_en),
        "ultimaFechaHistorial": fecha_opt(ultimo.map(|h| h.fecha)),
        "ultimaAccion": ultimo.map(|h| h.accion.clone()),
        "ultimoMotivo": ultimo.and_then(|h| h.motivo.clone()),
        "ultimoActorNombre": ultimo.map(|h| h.actor_nombre.clone()),
        "ultimoActorRol": ultimo.map(|h| h.actor_rol),
        "slaHoras": sla::horas(t.sla_objetivo),
        "fechaLimiteSla": fecha(t.fecha_limite_sla),
        "slaEstado": t.sla_estado(ahora),
        "fechaLimitePrimeraRespuesta": fecha_opt(t.fecha_limite(sla::Meta::PrimeraRespuesta)),
        "slaPrimeraRespuesta": t.sla_primera_respuesta(ahora),
        "slaPolitica": t.sla_politica,
    })
}

/// A CloudEvents 1.0 envelope.
pub fn evento(
    id: Uuid,
    tipo: &str,
    sujeto: Uuid,
    ahora: DateTime<Utc>,
    traceparent: Option<&str>,
    data: Value,
) -> Value {
    let mut e = json!({
        "specversion": "1.0",
        "id": id,
        "source": "mesa-ayuda",
        "type": tipo,
        "subject": sujeto,
        "time": fecha(ahora),
        "datacontenttype": "application/json",
        "data": data,
    });
    if let Some(tp) = traceparent {
        // CloudEvents distributed-tracing extension.
        e["traceparent"] = json!(tp);
    }
    e
}

/// `data` of a ticket event; its actor is the history entry's (none has an
/// id but staff). `comando_id` is none for the scheduler's changes (escalations).
pub fn datos_evento_ticket(
    t: &Ticket,
    entrada: &HistorialLeido,
    comando_id: Option<&str>,
    ahora: DateTime<Utc>,
) -> Value {
    json!({
        "ticket": ticket(t, ahora),
        "historial": historial(entrada),
        "comandoId": comando_id,
        "actor": {
            "id": entrada.actor_id,
            "nombre": entrada.actor_nombre,
            "rol": entrada.actor_rol,
        },
    })
}

/// `datos` of `listar`.
pub fn listado(tickets: &[Ticket], siguiente: Option<String>, ahora: DateTime<Utc>) -> Value {
    json!({
        "items": tickets.iter().map(|t| ticket(t, ahora)).collect::<Vec<_>>(),
        "siguienteCursor": siguiente,
    })
}

fn percentiles(p: &Percentiles) -> Value {
    json!({"muestras": p.muestras, "medianaSegundos": p.mediana_s, "p90Segundos": p.p90_s})
}

/// `datos` of `estadisticas`.
pub fn estadisticas(e: &Estadisticas, desde: DateTime<Utc>, hasta: DateTime<Utc>, area: Option<&str>) -> Value {
    let cumplimiento = |cerrados: i64, cumplidos: i64| {
        let porcentaje = (cerrados > 0).then(|| 100.0 * cumplidos as f64 / cerrados as f64);
        json!({"cerrados": cerrados, "cumplidos": cumplidos, "porcentaje": porcentaje})
    };
    json!({
        "desde": fecha(desde),
        "hasta": fecha(hasta),
        "area": area,
        "total": e.total,
        "porEstado": e.por_estado,
        "porTipo": e.por_tipo,
        "porPrioridad": e.por_prioridad,
        "porArea": e.por_area,
        "abiertosPorSlaEstado": e.abiertos_por_sla,
        "cumplimientoSla": cumplimiento(e.cerrados, e.cumplidos),
        "cumplimientoPrimeraRespuesta": cumplimiento(e.primera_respuesta_cerrados, e.primera_respuesta_cumplidos),
        "tiempoHastaAsignacion": percentiles(&e.asignacion),
        "tiempoHastaCierre": percentiles(&e.cierre),
    })
}

/// `data` of an SLA event: the v1 fields, `fechaLimiteSla` and
/// `minutosRestantes` those of the alert's meta, plus `meta`, `umbral` and
/// `slaPolitica` (v1.1).
pub fn datos_alerta(t: &Ticket, alerta: &Alerta, ahora: DateTime<Utc>) -> Value {
    json!({
        "ticketUuid": t.uuid,
        "ticketLabel": t.label,
        "nivel": alerta.umbral.nivel(),
        "meta": alerta.meta,
        "umbral": alerta.umbral.porcentaje(),
        "slaPolitica": t.sla_politica,
        "fechaLimiteSla": fecha(alerta.fecha_limite),
        "minutosRestantes": sla::minutos_restantes(ahora, alerta.fecha_limite),
        "prioridad": t.prioridad,
        "areaAsignada": t.area_asignada,
        "estado": t.estado,
        "asunto": t.asunto,
    })
}

/// The reply to a refused command (contract §4): `campos` is always there
/// (empty unless VALIDACION), `estado` and `operacion` for TRANSICION_INVALIDA.
pub fn error(e: &ErrorContrato) -> Value {
    let mut error = json!({
        "codigo": e.codigo(),
        "http": e.http(),
        "mensaje": e.to_string(),
        "campos": [],
    });
    match e {
        ErrorContrato::Validacion(campos) => error["campos"] = json!(campos),
        ErrorContrato::TransicionInvalida { estado, operacion } => {
            error["estado"] = json!(estado);
            error["operacion"] = json!(operacion);
        }
        _ => {}
    }
    json!({"ok": false, "error": error})
}
