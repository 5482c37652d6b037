//! `estadisticas`: counts, SLA compliance and time percentiles.

use super::Fecha;
use crate::store::{Conteo, Estadisticas, Percentiles};
use chrono::{DateTime, Utc};
use serde::Serialize;
#[allow(unused_imports)] // named by the schema attributes
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Compliance with one meta over the tickets whose clock stopped in the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cumplimiento {
    /// Tickets whose clock stopped.
    pub cerrados: i64,
    /// Of them, the ones in time.
    pub cumplidos: i64,
    /// `cumplidos` over `cerrados`, in percent; null with none closed.
    #[schema(required = true)]
    pub porcentaje: Option<f64>,
}

impl Cumplimiento {
    fn de(cerrados: i64, cumplidos: i64) -> Self {
        let porcentaje = (cerrados > 0).then(|| 100.0 * cumplidos as f64 / cerrados as f64);
        Cumplimiento { cerrados, cumplidos, porcentaje }
    }
}

/// A time distribution.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tiempos {
    /// How many tickets were measured.
    pub muestras: i64,
    /// Median, in seconds; null without samples.
    #[schema(required = true)]
    pub mediana_segundos: Option<f64>,
    /// 90th percentile, in seconds; null without samples.
    #[schema(required = true)]
    pub p90_segundos: Option<f64>,
}

impl From<&Percentiles> for Tiempos {
    fn from(p: &Percentiles) -> Self {
        Tiempos { muestras: p.muestras, mediana_segundos: p.mediana_s, p90_segundos: p.p90_s }
    }
}

/// `datos` of `estadisticas`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstadisticasVista<'a> {
    /// Window start.
    pub desde: Fecha,
    /// Window end.
    pub hasta: Fecha,
    /// The area filter, if any.
    #[schema(required = true)]
    pub area: Option<&'a str>,
    /// Tickets created in the window.
    pub total: i64,
    /// Counts by state.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub por_estado: &'a Conteo,
    /// Counts by type.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub por_tipo: &'a Conteo,
    /// Counts by priority.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub por_prioridad: &'a Conteo,
    /// Counts by area.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub por_area: &'a Conteo,
    /// Open tickets by SLA state.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub abiertos_por_sla_estado: &'a Conteo,
    /// Resolution SLA compliance.
    pub cumplimiento_sla: Cumplimiento,
    /// First-response SLA compliance (v1.1).
    pub cumplimiento_primera_respuesta: Cumplimiento,
    /// From creation to the first assignment.
    pub tiempo_hasta_asignacion: Tiempos,
    /// From creation to close.
    pub tiempo_hasta_cierre: Tiempos,
}

/// `datos` of `estadisticas`.
pub fn estadisticas<'a>(
    e: &'a Estadisticas,
    desde: DateTime<Utc>,
    hasta: DateTime<Utc>,
    area: Option<&'a str>,
) -> EstadisticasVista<'a> {
    EstadisticasVista {
        desde: Fecha(desde),
        hasta: Fecha(hasta),
        area,
        total: e.total,
        por_estado: &e.por_estado,
        por_tipo: &e.por_tipo,
        por_prioridad: &e.por_prioridad,
        por_area: &e.por_area,
        abiertos_por_sla_estado: &e.abiertos_por_sla,
        cumplimiento_sla: Cumplimiento::de(e.cerrados, e.cumplidos),
        cumplimiento_primera_respuesta: Cumplimiento::de(e.primera_respuesta_cerrados, e.primera_respuesta_cumplidos),
        tiempo_hasta_asignacion: Tiempos::from(&e.asignacion),
        tiempo_hasta_cierre: Tiempos::from(&e.cierre),
    }
}
