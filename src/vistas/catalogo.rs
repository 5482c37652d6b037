//! `catalogo`: the workflow rendered from the very definitions the state
//! machine and authorization use, so it cannot disagree with them.

use super::TipoSolicitud;
use crate::domain::conversacion::{AlVencer, Espera};
use crate::domain::estado::{Acceso, Estado, Operacion, Rol, TIPOS};
use crate::domain::sla::{self, Meta, PasoEscalado, Politica, ReglasSla, Umbral};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A state and whether nothing leaves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EstadoCatalogo {
    /// The state.
    pub nombre: Estado,
    /// Whether nothing leaves it (CANCELADO, ARCHIVADO).
    pub terminal: bool,
}

/// A legal transition.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransicionCatalogo {
    /// From (null for `crear`).
    #[schema(required = true)]
    pub desde: Option<Estado>,
    /// The operation.
    pub operacion: Operacion,
    /// To.
    pub hacia: Estado,
}

/// An operation and who may run it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperacionCatalogo {
    /// The operation.
    pub nombre: Operacion,
    /// Whether it changes a ticket.
    pub mutacion: bool,
    /// Whether it needs no token.
    pub publica: bool,
    /// The roles allowed (empty when public).
    pub roles: &'static [Rol],
    /// The event it emits, if any.
    #[schema(required = true)]
    pub evento: Option<&'static str>,
}

/// A priority and its default targets.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrioridadCatalogo<'a> {
    /// The priority.
    pub nombre: &'a str,
    /// Its resolution target, in hours.
    pub sla_horas: f64,
    /// Its first-response target, in hours; null without one (v1.1).
    #[schema(required = true)]
    pub primera_respuesta_horas: Option<f64>,
}

/// The default SLA rules.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaCatalogo<'a> {
    /// The first (most lenient) warning threshold, in percent of the target left.
    pub aviso_porcentaje: u8,
    /// Every warning threshold, most lenient first (v1.1).
    pub avisos: &'a [u8],
    /// Whether every pause stops the clock (v1; false when only some do).
    pub pausa_detiene_reloj: bool,
    /// The waits whose pauses stop the clock (v1.2, `sla.pausa_detiene_reloj`
    /// as a list; all three for `true`, none for `false`).
    pub pausa_detiene_reloj_esperas: Vec<Espera>,
}

/// When an escalation step applies: a threshold (percent left) or VENCIDO.
#[derive(Debug, Clone, Copy)]
pub struct EnUmbral(pub Umbral);

impl Serialize for EnUmbral {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Umbral::Aviso(n) => s.serialize_u8(n),
            Umbral::Vencido => s.serialize_str("VENCIDO"),
        }
    }
}

impl PartialSchema for EnUmbral {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(99)))
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["VENCIDO"])))
            .description(Some("A threshold of the meta (percent of the target left), or VENCIDO."))
            .into()
    }
}

impl ToSchema for EnUmbral {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EnUmbral")
    }
}

/// One escalation step of a policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasoCatalogo<'a> {
    /// The meta whose alert triggers it.
    pub meta: Meta,
    /// The alert that triggers it.
    pub en: EnUmbral,
    /// The area the ticket moves to.
    #[schema(required = true)]
    pub area: Option<&'a str>,
    /// The priority the ticket takes.
    #[schema(required = true)]
    pub prioridad: Option<&'a str>,
}

/// A policy as operators configured it; targets in hours, like `slaHoras` (v1.1).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoliticaCatalogo<'a> {
    /// Its name (`slaPolitica` of its tickets).
    pub nombre: &'a str,
    /// The types it applies to; null for any.
    #[schema(required = true)]
    pub tipos: Option<&'a [String]>,
    /// The priorities it applies to; null for any.
    #[schema(required = true)]
    pub prioridades: Option<&'a [String]>,
    /// The areas it applies to; null for any.
    #[schema(required = true)]
    pub areas: Option<&'a [String]>,
    /// The categories it applies to; null for any.
    #[schema(required = true)]
    pub categorias: Option<&'a [String]>,
    /// Its resolution target, in hours.
    pub resolucion_horas: f64,
    /// Its first-response target, in hours; null without one.
    #[schema(required = true)]
    pub primera_respuesta_horas: Option<f64>,
    /// Its thresholds; null for the defaults.
    #[schema(required = true)]
    pub avisos: Option<&'a [u8]>,
    /// Its named calendar; null for the default.
    #[schema(required = true)]
    pub calendario: Option<&'a str>,
    /// Its escalation steps, in order.
    pub escalado: Vec<PasoCatalogo<'a>>,
}

impl<'a> PoliticaCatalogo<'a> {
    fn de(p: &'a Politica) -> Self {
        let c = &p.condiciones;
        PoliticaCatalogo {
            nombre: &p.nombre,
            tipos: c.tipos.as_deref(),
            prioridades: c.prioridades.as_deref(),
            areas: c.areas.as_deref(),
            categorias: c.categorias.as_deref(),
            resolucion_horas: sla::horas(p.resolucion),
            primera_respuesta_horas: p.primera_respuesta.map(sla::horas),
            avisos: p.avisos.as_ref().map(|a| a.porcentajes()),
            calendario: p.calendario.as_deref(),
            escalado: p.escalado.iter().map(PasoCatalogo::de).collect(),
        }
    }
}

impl<'a> PasoCatalogo<'a> {
    fn de(e: &'a PasoEscalado) -> Self {
        PasoCatalogo { meta: e.meta, en: EnUmbral(e.en), area: e.area.as_deref(), prioridad: e.prioridad.as_deref() }
    }
}

/// `datos` of `catalogo`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Catalogo<'a> {
    /// The states.
    pub estados: Vec<EstadoCatalogo>,
    /// The legal transitions.
    pub transiciones: Vec<TransicionCatalogo>,
    /// The operations with their roles.
    pub operaciones: Vec<OperacionCatalogo>,
    /// The request types.
    #[schema(value_type = Vec<TipoSolicitud>)]
    pub tipos: &'static [&'static str],
    /// The priorities with their default targets.
    pub prioridades: Vec<PrioridadCatalogo<'a>>,
    /// The default SLA rules.
    pub sla: SlaCatalogo<'a>,
    /// The SLA policies (v1.1).
    pub politicas_sla: Vec<PoliticaCatalogo<'a>>,
    /// What a paused ticket may wait for (`pausar`'s `espera`, v1.2).
    pub esperas: &'static [Espera],
    /// What the end of a wait by its `hasta` may do (`alVencer`, v1.2).
    pub al_vencer: &'static [AlVencer],
}

/// The catalogue of these rules.
pub fn vista_catalogo(reglas: &ReglasSla) -> Catalogo<'_> {
    let estados = Estado::TODOS.iter().map(|&e| EstadoCatalogo { nombre: e, terminal: e.es_terminal() }).collect();
    let mut transiciones = vec![TransicionCatalogo { desde: None, operacion: Operacion::Crear, hacia: Estado::Nuevo }];
    for op in Operacion::TODAS {
        if let Some((origenes, destino)) = op.transicion() {
            transiciones.extend(origenes.iter().map(|&desde| TransicionCatalogo {
                desde: Some(desde),
                operacion: op,
                hacia: destino,
            }));
        }
    }
    let operaciones = Operacion::TODAS
        .iter()
        .map(|&op| {
            let (publica, roles) = match op.acceso() {
                Acceso::Publico => (true, &[][..]),
                Acceso::CualquierToken => (false, &Rol::TODOS[..]),
                Acceso::Roles(roles) => (false, roles),
            };
            OperacionCatalogo { nombre: op, mutacion: op.es_mutacion(), publica, roles, evento: op.tipo_evento() }
        })
        .collect();
    let prioridades = reglas
        .prioridades()
        .iter()
        .map(|p| PrioridadCatalogo {
            nombre: &p.nombre,
            sla_horas: sla::horas(p.objetivo),
            primera_respuesta_horas: reglas.primera_respuesta_por_defecto().get(&p.nombre).map(|o| sla::horas(*o)),
        })
        .collect();
    Catalogo {
        estados,
        transiciones,
        operaciones,
        tipos: &TIPOS,
        prioridades,
        sla: SlaCatalogo {
            aviso_porcentaje: reglas.avisos().primero(),
            avisos: reglas.avisos().porcentajes(),
            pausa_detiene_reloj: reglas.pausa_detiene_reloj(),
            pausa_detiene_reloj_esperas: reglas.pausas_que_detienen().esperas(),
        },
        politicas_sla: reglas.politicas().iter().map(PoliticaCatalogo::de).collect(),
        esperas: &Espera::TODAS,
        al_vencer: &AlVencer::TODOS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::prioridades_por_defecto;
    use serde_json::{Value, json};

    #[test]
    fn catalog_agrees_with_the_state_machine_and_roles() {
        let reglas = ReglasSla::new(prioridades_por_defecto(), 20, true);
        let c = serde_json::to_value(vista_catalogo(&reglas)).unwrap();
        for op in Operacion::TODAS {
            for desde in Estado::TODOS {
                let listada = c["transiciones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["operacion"] == op.as_str() && t["desde"] == desde.as_str());
                let destino = op.destino_desde(desde);
                assert_eq!(listada.map(|t| t["hacia"].clone()), destino.map(|d| json!(d)), "{op:?} desde {desde}");
            }
            let o = c["operaciones"].as_array().unwrap().iter().find(|o| o["nombre"] == op.as_str()).unwrap();
            for rol in [Rol::Admin, Rol::Mesa, Rol::Area] {
                let listado = o["publica"] == true || o["roles"].as_array().unwrap().contains(&json!(rol.as_str()));
                assert_eq!(listado, op.permite(rol), "{op:?} {rol:?}");
            }
            assert_eq!(o["mutacion"], op.es_mutacion());
        }
        let terminales: Vec<&Value> =
            c["estados"].as_array().unwrap().iter().filter(|e| e["terminal"] == true).collect();
        assert_eq!(terminales.len(), 2);
        assert_eq!(c["prioridades"][0]["nombre"], "CRITICA");
    }
}
