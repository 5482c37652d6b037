//! Erasure of a requester's data (contract §11), pure: what `anonimizar`
//! and the retention pass change in a ticket, the entry that records it,
//! and how a copy kept as JSON (an outbox event) loses the same data.

use super::estado::{Accion, RolActor};
use super::ticket::{Actor, Historial, Ticket};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The requester's name once erased.
pub const NOMBRE_ANONIMIZADO: &str = "Solicitante anonimizado";
/// What the requester wrote, once erased.
pub const TEXTO_ANONIMIZADO: &str = "[anonimizado]";
/// `motivo` of the retention pass's ANONIMIZACION (actor SISTEMA).
pub const MOTIVO_RETENCION: &str = "retención: cerrado hace más de retencion.anonimizar_cerrados";

/// Who erases: an ADMIN by command, or the retention pass.
#[derive(Debug, Clone, Copy)]
pub enum Anonimizador<'a> {
    /// `anonimizar`, with its `motivo`.
    Admin(&'a Actor, &'a str),
    /// `retencion.anonimizar_cerrados`.
    Retencion,
}

/// What a ticket's copies must lose, and how to find it in a copy kept as
/// JSON (an outbox event). Only in memory, for the one batch that erases it.
///
/// A copy is erased by where the requester's data sits, never by comparing
/// every string with the requester's words: a subject equal to a category
/// ("Soporte"), a company equal to an area ("Compras") or a requester named
/// like the agent must not take the other field down with it. Only the
/// identifiers that nothing else can equal by chance — e-mail (in any
/// case), phone, document — are also replaced wherever they appear whole.
#[derive(Debug, Clone, PartialEq)]
pub struct DatosPersonales {
    /// The ticket they belonged to.
    pub ticket: uuid::Uuid,
    /// E-mail, phone and document, as stored.
    identificadores: Vec<String>,
}

/// Keys whose text only the requester wrote (the ticket view's, an SLA alert's).
const ESCRITO_POR_EL_SOLICITANTE: [&str; 2] = ["asunto", "descripcion"];

impl DatosPersonales {
    fn de(t: &Ticket) -> Self {
        let s = &t.solicitante;
        let identificadores = [s.email.clone(), s.telefono.clone(), s.documento.clone()]
            .into_iter()
            .flatten()
            .filter(|v| !v.trim().is_empty())
            .collect();
        DatosPersonales { ticket: t.uuid, identificadores }
    }

    /// Whether `s` is one of the identifiers (an e-mail in any case, as
    /// `consultar` compares it).
    fn es_identificador(&self, s: &str) -> bool {
        self.identificadores.iter().any(|v| v == s || (v.contains('@') && v.to_lowercase() == s.to_lowercase()))
    }

    /// Erases the requester's data from `v`, a copy kept as JSON (an
    /// event): `asunto` and `descripcion`; the name of an actor or author
    /// whose role is USUARIO (`nombre` beside `rol`, `actor_nombre` beside
    /// `actor_rol`); the `texto` and `adjuntos` of a message whose author is
    /// the requester; and any string that is one of the identifiers.
    /// Whether anything changed.
    pub fn borrar_de(&self, v: &mut Value) -> bool {
        match v {
            Value::String(s) if self.es_identificador(s) => {
                *s = TEXTO_ANONIMIZADO.to_string();
                true
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, i| self.borrar_de(i) | c),
            Value::Object(campos) => {
                let usuario = RolActor::Usuario.as_str();
                let es_usuario = |clave: &str, campos: &serde_json::Map<String, Value>| {
                    campos.get(clave).and_then(Value::as_str) == Some(usuario)
                };
                let mut cambio = false;
                let mut poner = |campos: &mut serde_json::Map<String, Value>, clave: &str, valor: Value| {
                    if let Some(actual) = campos.get_mut(clave).filter(|a| !a.is_null() && **a != valor) {
                        *actual = valor;
                        cambio = true;
                    }
                };
                for clave in ESCRITO_POR_EL_SOLICITANTE {
                    poner(campos, clave, Value::String(TEXTO_ANONIMIZADO.into()));
                }
                if es_usuario("rol", campos) {
                    poner(campos, "nombre", Value::String(NOMBRE_ANONIMIZADO.into()));
                }
                if es_usuario("actor_rol", campos) {
                    poner(campos, "actor_nombre", Value::String(NOMBRE_ANONIMIZADO.into()));
                }
                let del_solicitante =
                    campos.get("autor").and_then(Value::as_object).is_some_and(|a| es_usuario("rol", a));
                if del_solicitante {
                    poner(campos, "texto", Value::String(TEXTO_ANONIMIZADO.into()));
                    poner(campos, "adjuntos", Value::Array(Vec::new()));
                }
                campos.values_mut().fold(cambio, |c, i| self.borrar_de(i) | c)
            }
            _ => false,
        }
    }
}

impl Ticket {
    /// Whether its requester's data was erased already.
    pub fn anonimizado(&self) -> bool {
        self.anonimizado_en.is_some()
    }

    /// The ticket with its requester's data erased (§11), in any state: the
    /// name becomes [`NOMBRE_ANONIMIZADO`], e-mail, phone, document and
    /// company are gone, `asunto` and `descripcion` become
    /// [`TEXTO_ANONIMIZADO`]; what statistics need (type, category,
    /// priority, area, states, dates, SLA) stays. With its ANONIMIZACION
    /// entry (no personal data: a `motivo` quoting the e-mail, phone or
    /// document loses it) and what every copy must lose. None when erased
    /// already: erasure happens once.
    pub fn anonimizar(
        &self,
        quien: Anonimizador<'_>,
        ahora: DateTime<Utc>,
    ) -> Option<(Ticket, Historial, DatosPersonales)> {
        if self.anonimizado() {
            return None;
        }
        let datos = DatosPersonales::de(self);
        let mut t = self.clone();
        let s = &mut t.solicitante;
        s.nombre = NOMBRE_ANONIMIZADO.to_string();
        s.email = None;
        s.telefono = None;
        s.tiene_whatsapp = false;
        s.documento = None;
        s.empresa_departamento = None;
        t.asunto = t.asunto.as_ref().map(|_| TEXTO_ANONIMIZADO.to_string());
        t.descripcion = TEXTO_ANONIMIZADO.to_string();
        t.anonimizado_en = Some(ahora);
        t.actualizado_en = ahora;
        t.version += 1;
        let entrada = match quien {
            Anonimizador::Admin(actor, motivo) => {
                let mut e = t.entrada_sistema(ahora, Accion::Anonimizacion, sin_valores(motivo, &datos));
                e.actor_id = Some(actor.id.clone());
                e.actor_nombre = actor.nombre.clone();
                e.actor_rol = RolActor::Staff(actor.rol);
                e
            }
            Anonimizador::Retencion => t.entrada_sistema(ahora, Accion::Anonimizacion, MOTIVO_RETENCION.to_string()),
        };
        Some((t, entrada, datos))
    }
}

/// A `motivo` with every identifier inside it replaced (an ADMIN may have
/// quoted the e-mail it erases). Names are not searched for: a short one
/// ("Ana") would also be found inside other words ("semana").
fn sin_valores(motivo: &str, datos: &DatosPersonales) -> String {
    let mut texto = motivo.to_string();
    for valor in &datos.identificadores {
        texto = reemplazar_sin_mayusculas(&texto, valor, TEXTO_ANONIMIZADO);
    }
    texto
}

/// `texto` with every occurrence of `valor` replaced, ignoring ASCII case.
fn reemplazar_sin_mayusculas(texto: &str, valor: &str, reemplazo: &str) -> String {
    if valor.is_empty() {
        return texto.to_string();
    }
    let (bajo, buscado) = (texto.to_ascii_lowercase(), valor.to_ascii_lowercase());
    let mut salida = String::with_capacity(texto.len());
    let mut desde = 0;
    while let Some(i) = bajo[desde..].find(&buscado) {
        salida.push_str(&texto[desde..desde + i]);
        salida.push_str(reemplazo);
        desde += i + buscado.len();
    }
    salida.push_str(&texto[desde..]);
    salida
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::comando::{Peticion, validar};
    use crate::domain::estado::{Operacion, Rol};
    use crate::domain::sla::{ReglasSla, prioridades_por_defecto};
    use serde_json::json;

    fn ticket() -> Ticket {
        let reglas = ReglasSla::new(prioridades_por_defecto(), 20, true);
        let body = json!({"nombre": "Ana García", "email": "Ana@Empresa.com", "tipo": "QUEJA", "categoria": "Soporte",
            "descripcion": "Mi cédula 1020304050 no aparece", "prioridad": "ALTA", "telefono": "+573001234567",
            "documento": "1020304050", "empresaDepartamento": "Contabilidad", "asunto": "Cédula"});
        let Ok(Peticion::Crear(datos)) =
            validar(Operacion::Crear, body.as_object().unwrap(), &reglas, chrono::Utc::now())
        else {
            panic!("a valid creation")
        };
        Ticket::crear(*datos, uuid::Uuid::new_v4(), 7, chrono::Utc::now(), &reglas).0
    }

    fn admin() -> Actor {
        Actor::staff("admin-1".into(), "Laura Admin".into(), Rol::Admin, None)
    }

    #[test]
    fn erasure_keeps_what_statistics_need_and_happens_once() {
        let t = ticket();
        let ahora = t.creado_en + chrono::TimeDelta::hours(1);
        let actor = admin();
        let (a, entrada, _) = t.anonimizar(Anonimizador::Admin(&actor, "solicitud de supresión"), ahora).unwrap();
        assert_eq!(a.solicitante.nombre, NOMBRE_ANONIMIZADO);
        assert_eq!((&a.solicitante.email, &a.solicitante.telefono, &a.solicitante.documento), (&None, &None, &None));
        assert_eq!(a.solicitante.empresa_departamento, None);
        assert_eq!((a.asunto.as_deref(), a.descripcion.as_str()), (Some(TEXTO_ANONIMIZADO), TEXTO_ANONIMIZADO));
        // Statistics read these: untouched.
        assert_eq!(
            (a.tipo, &a.categoria, &a.prioridad, &a.area_asignada),
            (t.tipo, &t.categoria, &t.prioridad, &t.area_asignada)
        );
        assert_eq!(
            (a.estado, a.creado_en, a.fecha_limite_sla, a.cerrado_en),
            (t.estado, t.creado_en, t.fecha_limite_sla, t.cerrado_en)
        );
        assert_eq!(a.version, t.version + 1);
        assert_eq!(entrada.accion, Accion::Anonimizacion);
        assert_eq!((entrada.estado_antes, entrada.estado_despues), (Some(t.estado), t.estado));
        assert_eq!((entrada.actor_rol, entrada.actor_id.as_deref()), (RolActor::Staff(Rol::Admin), Some("admin-1")));
        assert!(a.anonimizar(Anonimizador::Retencion, ahora).is_none(), "once only");
    }

    #[test]
    fn the_entry_quotes_no_personal_value() {
        let t = ticket();
        let actor = admin();
        let motivo = "pedido por ANA@empresa.com, doc 1020304050";
        let (_, entrada, _) = t.anonimizar(Anonimizador::Admin(&actor, motivo), t.creado_en).unwrap();
        let m = entrada.motivo.unwrap();
        assert!(!m.to_lowercase().contains("ana@empresa.com") && !m.contains("1020304050"), "{m}");
        let (_, entrada, _) = t.anonimizar(Anonimizador::Retencion, t.creado_en).unwrap();
        assert_eq!((entrada.actor_rol, entrada.motivo.as_deref()), (RolActor::Sistema, Some(MOTIVO_RETENCION)));
    }

    #[test]
    fn a_copy_loses_every_value_and_the_requesters_messages() {
        let t = ticket();
        let (_, _, datos) = t.anonimizar(Anonimizador::Retencion, t.creado_en).unwrap();
        let mut evento = json!({"data": {
            "ticket": {"asunto": "Cédula", "descripcion": "Mi cédula 1020304050 no aparece", "categoria": "Soporte"},
            "actor": {"nombre": "Ana García", "rol": "USUARIO"},
            "mensaje": {"autor": {"nombre": "Ana García", "rol": "USUARIO"}, "texto": "adjunto la foto",
                        "adjuntos": [{"nombre": "foto.png", "url": "https://x.example/f"}]},
            "otro": {"autor": {"nombre": "Laura", "rol": "MESA"}, "texto": "gracias", "adjuntos": [{"nombre": "a.pdf"}]},
            "email": "ana@EMPRESA.com"
        }});
        assert!(datos.borrar_de(&mut evento));
        let texto = evento.to_string();
        for dato in ["Ana García", "Cédula", "1020304050", "adjunto la foto", "foto.png", "x.example"] {
            assert!(!texto.contains(dato), "{dato} in {texto}");
        }
        assert!(!texto.to_lowercase().contains("ana@empresa.com"));
        // Staff's message and other fields stay as they were.
        assert_eq!(evento["data"]["otro"]["texto"], "gracias");
        assert_eq!(evento["data"]["ticket"]["categoria"], "Soporte");
        assert!(!datos.borrar_de(&mut evento), "a second pass changes nothing");
    }

    #[test]
    fn a_copy_keeps_other_fields_that_happen_to_equal_the_requesters_words() {
        let t = ticket();
        let (_, _, datos) = t.anonimizar(Anonimizador::Retencion, t.creado_en).unwrap();
        // The requester's company is "Contabilidad", her subject "Cédula":
        // an area, a category and an agent with the same words are not hers.
        let mut evento = json!({"data": {
            "ticket": {"asunto": "Cédula", "categoria": "Cédula", "area_asignada": "Contabilidad",
                       "agente_asignado": "Ana García"},
            "historial": {"actor_nombre": "Ana García", "actor_rol": "MESA", "area_despues": "Contabilidad"},
            "actor": {"nombre": "Ana García", "rol": "MESA"}
        }});
        assert!(datos.borrar_de(&mut evento));
        assert_eq!(evento["data"]["ticket"]["asunto"], TEXTO_ANONIMIZADO);
        assert_eq!(evento["data"]["ticket"]["categoria"], "Cédula");
        assert_eq!(evento["data"]["ticket"]["area_asignada"], "Contabilidad");
        assert_eq!(evento["data"]["ticket"]["agente_asignado"], "Ana García");
        assert_eq!(evento["data"]["historial"]["actor_nombre"], "Ana García", "a staff member of the same name");
        assert_eq!(evento["data"]["actor"]["nombre"], "Ana García");
        // The requester's own entry loses her name.
        let mut entrada = json!({"historial": {"actor_nombre": "Ana García", "actor_rol": "USUARIO"}});
        assert!(datos.borrar_de(&mut entrada));
        assert_eq!(entrada["historial"]["actor_nombre"], NOMBRE_ANONIMIZADO);
    }

    #[test]
    fn replacing_ignores_ascii_case_and_keeps_the_rest() {
        assert_eq!(reemplazar_sin_mayusculas("a ANA@x.co b ana@x.co", "ana@x.co", "[x]"), "a [x] b [x]");
        assert_eq!(reemplazar_sin_mayusculas("nada", "", "[x]"), "nada");
        assert_eq!(reemplazar_sin_mayusculas("ñandú ANA", "ana", "-"), "ñandú -");
    }
}
