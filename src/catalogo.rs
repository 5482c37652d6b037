//! `catalogo`: the workflow rendered from the very definitions the state
//! machine and authorization use, so it cannot disagree with them.

use crate::domain::estado::{Acceso, Estado, Operacion, TIPOS};
use crate::domain::sla::{self, PoliticaSla};
use serde_json::{Value, json};

pub fn catalogo(politica: &PoliticaSla) -> Value {
    let estados: Vec<Value> = Estado::TODOS
        .iter()
        .map(|e| json!({"nombre": e, "terminal": e.es_terminal()}))
        .collect();
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
    let prioridades: Vec<Value> = politica
        .prioridades()
        .iter()
        .map(|p| json!({"nombre": p.nombre, "slaHoras": sla::horas(p.objetivo)}))
        .collect();
    json!({
        "estados": estados,
        "transiciones": transiciones,
        "operaciones": operaciones,
        "tipos": TIPOS,
        "prioridades": prioridades,
        "sla": {
            "avisoPorcentaje": politica.aviso_porcentaje(),
            "pausaDetieneReloj": politica.pausa_detiene_reloj(),
        },
    })
}
