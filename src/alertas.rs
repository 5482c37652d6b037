//! `mesa-ayuda alertas`: an operator's live view of SLA alerts.

use crate::amqp::{self, Topologia};
use crate::configuration::Settings;
use anyhow::Context;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use secrecy::ExposeSecret;
use serde_json::Value;

const ROJO: &str = "\x1b[1;31m";
const AMARILLO: &str = "\x1b[1;33m";
const GRIS: &str = "\x1b[2m";
const FIN: &str = "\x1b[0m";

/// The table's header, aligned with [`fila`].
pub fn encabezado() -> String {
    columnas(["HORA (UTC)", "NIVEL", "META", "UMBRAL", "TICKET", "PRIORIDAD", "ÁREA", "ESTADO", "MINUTOS"], "ASUNTO")
}

fn columnas(c: [&str; 9], asunto: &str) -> String {
    format!(
        "{:<20} {:<11} {:<17} {:>6}  {:<15} {:<10} {:<16} {:<14} {:>7}  {asunto}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
    )
}

/// One table row for an SLA event body: its meta and threshold (v1.1)
/// beside the level.
pub fn fila(evento: &Value, color: bool) -> String {
    let d = &evento["data"];
    let texto = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let nivel = texto(&d["nivel"]);
    let hora = texto(&evento["time"]).replace('T', " ").chars().take(19).collect::<String>();
    let minutos = d["minutosRestantes"].as_i64().map(|m| m.to_string()).unwrap_or_else(|| "-".into());
    let umbral = d["umbral"].as_i64().map(|u| format!("{u} %")).unwrap_or_else(|| "-".into());
    let asunto: String = texto(&d["asunto"]).chars().take(40).collect();
    let area: String = texto(&d["areaAsignada"]).chars().take(16).collect();
    let linea = columnas(
        [
            &hora,
            &nivel,
            &texto(&d["meta"]),
            &umbral,
            &texto(&d["ticketLabel"]),
            &texto(&d["prioridad"]),
            &area,
            &texto(&d["estado"]),
            &minutos,
        ],
        &asunto,
    );
    if !color {
        return linea;
    }
    let tono = match nivel.as_str() {
        "VENCIDO" => ROJO,
        "POR_VENCER" => AMARILLO,
        _ => GRIS,
    };
    format!("{tono}{linea}{FIN}")
}

/// Follows the alerts until Ctrl-C: a private tap on `P.eventos`, or the
/// shared `P.sla.alertas` queue with `consumir`.
pub async fn seguir(settings: &Settings, consumir: bool, color: bool) -> anyhow::Result<()> {
    let topo = Topologia::de(&settings.topology);
    let conexion = amqp::conectar(settings.amqp.url.expose_secret(), "mesa-ayuda alertas")
        .await
        .context("no se pudo conectar a RabbitMQ")?;
    let canal = conexion.create_channel().await?;
    amqp::declarar(&canal, &topo).await?;
    let (cola, mut entregas) = if consumir {
        let opciones = BasicConsumeOptions::default();
        let c = canal.basic_consume(topo.alertas().into(), "".into(), opciones, FieldTable::default()).await?;
        (topo.alertas(), c)
    } else {
        let c = amqp::escuchar(&canal, &topo.eventos(), "sla.#").await?;
        (c.queue().as_str().to_string(), c)
    };
    eprintln!("siguiendo alertas de SLA en {cola} (Ctrl-C para salir)");
    println!("{}", encabezado());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            entrega = entregas.next() => {
                let Some(entrega) = entrega else { break };
                let entrega = entrega?;
                match serde_json::from_slice::<Value>(&entrega.data) {
                    Ok(evento) => println!("{}", fila(&evento, color)),
                    Err(_) => eprintln!("(mensaje ilegible en {cola})"),
                }
                if consumir {
                    entrega.acker.ack(BasicAckOptions::default()).await?;
                }
            }
        }
    }
    let _ = conexion.close(200, "listo".into()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evento(nivel: &str) -> Value {
        json!({"time": "2026-03-24T14:16:00.000Z", "data": {"ticketLabel": "TKT-2026-00142", "nivel": nivel,
            "meta": "RESOLUCION", "umbral": if nivel == "VENCIDO" { json!(null) } else { json!(20) },
            "prioridad": "ALTA", "areaAsignada": "MESA", "estado": "ASIGNADO", "minutosRestantes": -1,
            "asunto": "No puedo acceder a mi correo corporativo"}})
    }

    #[test]
    fn rows_line_up_and_are_coloured_by_level() {
        let plana = fila(&evento("VENCIDO"), false);
        assert!(
            plana.starts_with("2026-03-24 14:16:00  VENCIDO     RESOLUCION             -  TKT-2026-00142"),
            "{plana}"
        );
        assert!(plana.contains("-1  No puedo"));
        assert!(fila(&evento("POR_VENCER"), false).contains("RESOLUCION          20 %  TKT"));
        assert!(fila(&evento("VENCIDO"), true).starts_with(ROJO));
        assert!(fila(&evento("POR_VENCER"), true).starts_with(AMARILLO));
        let cabecera = encabezado();
        let col = |s: &str, w: &str| s.chars().collect::<String>().find(w);
        assert_eq!(col(&cabecera, "NIVEL"), col(&plana, "VENCIDO"));
        assert_eq!(col(&cabecera, "META"), col(&plana, "RESOLUCION"));
        assert_eq!(
            col(&cabecera, "UMBRAL").map(|i| i + 6),
            col(&fila(&evento("POR_VENCER"), false), " %").map(|i| i + 2)
        );
    }
}
