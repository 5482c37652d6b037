//! The schemas of the views, for the documents that describe the messages:
//! the AsyncAPI document (`docs/asyncapi.yaml`, written by `mesa-ayuda
//! asyncapi`) and the integration suite, which validates every reply and
//! event it sees against them.

use super::*;
use crate::domain::estado::Operacion;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// The AsyncAPI document's hand-written parts (channels, operations,
/// messages); its `components.schemas` come from [`esquemas`].
const PLANTILLA: &str = include_str!("asyncapi.plantilla.yaml");

/// Where in [`PLANTILLA`] the generated schemas go.
const MARCA: &str = "    # {esquemas}\n";

/// A ticket event: the envelope around [`DatosEventoTicket`].
type EventoTicket<'a> = Evento<'a, DatosEventoTicket<'a>>;

/// An SLA alert: the envelope around [`DatosAlerta`].
type EventoSla<'a> = Evento<'a, DatosAlerta<'a>>;

/// An erasure (§11): the envelope around [`DatosAnonimizado`].
type EventoAnonimizado<'a> = Evento<'a, DatosAnonimizado<'a>>;

fn con<T: ToSchema>(nombre: &str, v: &mut Vec<(String, RefOr<Schema>)>) {
    v.push((nombre.to_string(), T::schema()));
    T::schemas(v);
}

/// Every view's schema and those they refer to, by name, sorted: each
/// operation's `datos`, the refusal, the ticket object and both events.
pub fn esquemas() -> Vec<(String, RefOr<Schema>)> {
    let mut v = Vec::new();
    con::<Creado<'_>>("Creado", &mut v);
    con::<Transicion<'_>>("Transicion", &mut v);
    con::<Respondido<'_>>("Respondido", &mut v);
    con::<SeguimientoRegistrado<'_>>("SeguimientoRegistrado", &mut v);
    con::<Anonimizado>("Anonimizado", &mut v);
    con::<Exportado<'_>>("Exportado", &mut v);
    con::<Consulta<'_>>("Consulta", &mut v);
    con::<Detalle<'_>>("Detalle", &mut v);
    con::<Listado<'_>>("Listado", &mut v);
    con::<EstadisticasVista<'_>>("EstadisticasVista", &mut v);
    con::<Catalogo<'_>>("Catalogo", &mut v);
    con::<RespuestaError<'_>>("RespuestaError", &mut v);
    con::<EventoTicket<'_>>("EventoTicket", &mut v);
    con::<EventoSla<'_>>("EventoSla", &mut v);
    con::<EventoAnonimizado<'_>>("EventoAnonimizado", &mut v);
    // A generic envelope does not collect its payload's schemas.
    con::<DatosEventoTicket<'_>>("DatosEventoTicket", &mut v);
    con::<DatosAlerta<'_>>("DatosAlerta", &mut v);
    con::<DatosAnonimizado<'_>>("DatosAnonimizado", &mut v);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// The name of the schema of `op`'s `datos`.
pub fn esquema_respuesta(op: Operacion) -> &'static str {
    match op {
        Operacion::Crear => "Creado",
        Operacion::Consultar => "Consulta",
        Operacion::Detalle => "Detalle",
        Operacion::Listar => "Listado",
        Operacion::Estadisticas => "EstadisticasVista",
        Operacion::Catalogo => "Catalogo",
        Operacion::Asignar
        | Operacion::Transferir
        | Operacion::Reclasificar
        | Operacion::Pausar
        | Operacion::Reabrir
        | Operacion::Actualizar
        | Operacion::Cancelar
        | Operacion::Archivar => "Transicion",
        Operacion::Responder => "Respondido",
        Operacion::Seguimiento => "SeguimientoRegistrado",
        Operacion::Anonimizar => "Anonimizado",
        Operacion::Exportar => "Exportado",
    }
}

/// The name of the schema of an event published with routing key `tipo`.
pub fn esquema_evento(tipo: &str) -> &'static str {
    match tipo {
        "ticket.anonimizado" => "EventoAnonimizado",
        _ if tipo.starts_with("sla.") => "EventoSla",
        _ => "EventoTicket",
    }
}

/// The AsyncAPI document: [`PLANTILLA`] with the views' schemas in
/// `components.schemas`, each a JSON (hence YAML flow) mapping.
pub fn asyncapi() -> String {
    let mut generado =
        String::from("    # Generated from the views in src/vistas by `mesa-ayuda asyncapi`; edit those, not these.\n");
    for (nombre, esquema) in esquemas() {
        let json = serde_json::to_string_pretty(&esquema).unwrap_or_default();
        // Flow lines must be indented deeper than the key they belong to.
        let json = json.replace('\n', "\n      ");
        generado.push_str(&format!("    {nombre}: {json}\n"));
    }
    PLANTILLA.replacen(MARCA, &generado, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_asyncapi_yaml_is_current() {
        let escrito = include_str!("../../docs/asyncapi.yaml");
        assert!(
            escrito == asyncapi(),
            "docs/asyncapi.yaml is stale: run `cargo run -- asyncapi --salida docs/asyncapi.yaml`"
        );
    }

    #[test]
    fn every_reference_names_a_published_schema() {
        let nombres: Vec<String> = esquemas().into_iter().map(|(n, _)| n).collect();
        let texto = serde_json::to_string(&esquemas()).unwrap_or_default();
        let plantilla = PLANTILLA;
        for referencia in
            texto.split("#/components/schemas/").skip(1).chain(plantilla.split("#/components/schemas/").skip(1))
        {
            let nombre: String = referencia.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            let a_mano = plantilla.contains(&format!("\n    {nombre}:"));
            assert!(nombres.contains(&nombre) || a_mano, "{nombre} is referred to but not published");
        }
        for op in Operacion::TODAS {
            assert!(nombres.iter().any(|n| n == esquema_respuesta(op)), "{op:?}");
        }
        for tipo in ["ticket.creado", "sla.vencido", "ticket.anonimizado"] {
            assert!(nombres.iter().any(|n| n == esquema_evento(tipo)), "{tipo}");
        }
    }
}
