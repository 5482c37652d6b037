//! `catalogo`: the workflow rendered from the very definitions the state
//! machine and authorization use, so it cannot disagree with them.

use crate::domain::estado::{Acceso, Estado, Operacion, TIPOS};
use crate::domain::sla::{self, Politica, ReglasSla, Umbral};
use serde_json::{Value, json};

/// `datos` of `catalogo`.
pub fn catalogo(reglas: &ReglasSla) -> Value {
    let estados: Vec<Value> = Estado::TODOS.iter().map(|e| json!({"nombre": e, "terminal": e.es_terminal()})).collect();
    let mut transiciones = vec![json!({"desde": null, "operacion": "crear", "hacia": Estado::Nuevo})];
    for op in Operacion::TODAS {
        if let Some((origenes, destino)) = op.transicion() {
            for desde in origenes {
                transiciones.push(json!({"desde": desde, "operacion": op, "hacia": destino}));
            }
        }
    }
    let operaciones: Vec<Value> = Operacion::TODAS
        .iter()
        .map(|op| {
            let (publica, roles): (bool, Vec<&str>) = match op.acceso() {
                Acceso::Publico => (true, vec![]),
                Acceso::CualquierToken => (false, vec!["ADMIN", "MESA", "AREA"]),
                Acceso::Roles(roles) => (false, roles.iter().map(|r| r.as_str()).collect()),
            };
            json!({
                "nombre": op,
                "mutacion": op.es_mutacion(),
                "publica": publica,
                "roles": roles,
                "evento": op.tipo_evento(),
            })
        })
        .collect();
    let prioridades: Vec<Value> = reglas
        .prioridades()
        .iter()
        .map(|p| {
            let primera = reglas.primera_respuesta_por_defecto().get(&p.nombre).map(|o| sla::horas(*o));
            json!({"nombre": p.nombre, "slaHoras": sla::horas(p.objetivo), "primeraRespuestaHoras": primera})
        })
        .collect();
    json!({
        "estados": estados,
        "transiciones": transiciones,
        "operaciones": operaciones,
        "tipos": TIPOS,
        "prioridades": prioridades,
        "sla": {
            "avisoPorcentaje": reglas.avisos().primero(),
            "avisos": reglas.avisos().porcentajes(),
            "pausaDetieneReloj": reglas.pausa_detiene_reloj(),
        },
        "politicasSla": reglas.politicas().iter().map(politica).collect::<Vec<_>>(),
    })
}

/// One policy as operators configured it; targets in hours, like `slaHoras`.
fn politica(p: &Politica) -> Value {
    let c = &p.condiciones;
    json!({
        "nombre": p.nombre,
        "tipos": c.tipos,
        "prioridades": c.prioridades,
        "areas": c.areas,
        "categorias": c.categorias,
        "resolucionHoras": sla::horas(p.resolucion),
        "primeraRespuestaHoras": p.primera_respuesta.map(sla::horas),
        "avisos": p.avisos.as_ref().map(|a| a.porcentajes()),
        "calendario": p.calendario,
        "escalado": p.escalado.iter().map(|e| json!({
            "meta": e.meta,
            "en": match e.en { Umbral::Aviso(n) => json!(n), Umbral::Vencido => json!("VENCIDO") },
            "area": e.area,
            "prioridad": e.prioridad,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::estado::Rol;
    use crate::domain::sla::prioridades_por_defecto;

    #[test]
    fn catalog_agrees_with_the_state_machine_and_roles() {
        let reglas = ReglasSla::new(prioridades_por_defecto(), 20, true);
        let c = catalogo(&reglas);
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
