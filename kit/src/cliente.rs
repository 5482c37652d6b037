//! A test's client of the broker: publishes commands, waits for their
//! replies and taps every event, checking each reply and event against its
//! published schema ([`crate::validar_respuesta`], [`crate::validar_evento`]).

use crate::esquemas::{validar_evento, validar_respuesta};
use crate::publicar::{cola_de_respuestas, publicar};
use futures_util::StreamExt;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, Consumer};
use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::contrato::{cabeceras, propiedades};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// How long [`Cliente::respuesta`] waits for a reply.
const ESPERA: Duration = Duration::from_secs(15);

/// The trace context a test's authenticated commands carry.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A client of the broker for one test: replies and a tap on all events.
pub struct Cliente {
    _conexion: Connection,
    /// Its channel, for a test's own declarations and reads.
    pub canal: Channel,
    /// The topology it publishes to.
    pub topo: Topologia,
    cola_respuestas: String,
    respuestas: Consumer,
    pendientes: HashMap<String, Value>,
    /// The routing key each command awaiting a reply was published with
    /// (by correlation id): which schema its reply must match.
    rutas: Mutex<HashMap<String, String>>,
    eventos: Consumer,
}

impl Cliente {
    /// Messages ready in `cola` (not those held unacked by a consumer).
    pub async fn en_cola(&self, cola: String) -> i64 {
        let opciones = QueueDeclareOptions { passive: true, ..Default::default() };
        let q = self.canal.queue_declare(cola.into(), opciones, FieldTable::default()).await.unwrap();
        i64::from(q.message_count())
    }

    /// Connects, declares the topology and opens a reply queue and an event tap.
    pub async fn new(amqp: &str, topo: &Topologia) -> Cliente {
        let conexion = amqp::conectar(amqp, "mesa tests").await.expect("amqp");
        let canal = conexion.create_channel().await.unwrap();
        amqp::declarar(&canal, topo).await.expect("topology");
        let (cola_respuestas, respuestas) = cola_de_respuestas(&canal).await.unwrap();
        let eventos = amqp::escuchar(&canal, &topo.eventos(), "#").await.unwrap();
        Cliente {
            _conexion: conexion,
            canal,
            topo: topo.clone(),
            cola_respuestas,
            respuestas,
            pendientes: HashMap::new(),
            rutas: Mutex::new(HashMap::new()),
            eventos,
        }
    }

    /// Publishes a raw command; returns its correlation id.
    pub async fn publicar(
        &self,
        routing_key: &str,
        cuerpo: &[u8],
        message_id: Option<&str>,
        auth: Option<&str>,
    ) -> String {
        let h = cabeceras(auth.map(str::as_bytes), auth.map(|_| TRACEPARENT));
        self.publicar_con_headers(routing_key, cuerpo, message_id, h).await
    }

    /// Publishes a raw command with exactly these headers; returns its correlation id.
    pub async fn publicar_con_headers(
        &self,
        routing_key: &str,
        cuerpo: &[u8],
        message_id: Option<&str>,
        headers: FieldTable,
    ) -> String {
        let correlacion = Uuid::new_v4().to_string();
        self.rutas.lock().unwrap_or_else(|e| e.into_inner()).insert(correlacion.clone(), routing_key.to_string());
        let props = propiedades(message_id, Some((&self.cola_respuestas, &correlacion)), headers);
        publicar(&self.canal, &self.topo, routing_key, cuerpo, props).await.unwrap();
        correlacion
    }

    /// Leaves the reply to `correlacion` unchecked against its operation's
    /// schema: a command that reuses a `message_id` gets the recorded reply
    /// of whichever operation was applied under it (§3), which the test
    /// then checks itself.
    pub fn sin_esquema(&self, correlacion: &str) {
        self.rutas.lock().unwrap_or_else(|e| e.into_inner()).remove(correlacion);
    }

    /// The reply to `correlacion`; panics when none comes within 15 s.
    pub async fn respuesta(&mut self, correlacion: &str) -> Value {
        self.respuesta_en(correlacion, ESPERA).await.unwrap_or_else(|| panic!("no reply for {correlacion}"))
    }

    /// The reply to `correlacion`, if it comes within `espera`.
    pub async fn respuesta_en(&mut self, correlacion: &str, espera: Duration) -> Option<Value> {
        if let Some(v) = self.pendientes.remove(correlacion) {
            return Some(v);
        }
        let fin = tokio::time::Instant::now() + espera;
        loop {
            let entrega = tokio::time::timeout_at(fin, self.respuestas.next()).await.ok()?.unwrap().unwrap();
            let c = entrega.properties.correlation_id().as_ref().unwrap().as_str().to_string();
            let v: Value = serde_json::from_slice(&entrega.data).unwrap();
            let ruta = self.rutas.lock().unwrap_or_else(|e| e.into_inner()).remove(&c);
            if let Some(ruta) = ruta {
                validar_respuesta(&ruta, &v);
            }
            if c == correlacion {
                return Some(v);
            }
            self.pendientes.insert(c, v);
        }
    }

    /// Sends `ticket.<op>` with a fresh message id and waits for the reply.
    pub async fn enviar(&mut self, op: &str, cuerpo: Value, token: Option<&str>) -> Value {
        self.enviar_con_id(op, cuerpo, token, &Uuid::new_v4().to_string()).await
    }

    /// Sends `ticket.<op>` with message id `id` and waits for the reply.
    pub async fn enviar_con_id(&mut self, op: &str, cuerpo: Value, token: Option<&str>, id: &str) -> Value {
        let auth = token.map(|t| format!("Bearer {t}"));
        let c = self.publicar(&format!("ticket.{op}"), cuerpo.to_string().as_bytes(), Some(id), auth.as_deref()).await;
        self.respuesta(&c).await
    }

    /// The next event within `espera`, with its AMQP properties.
    pub async fn evento(&mut self, espera: Duration) -> Option<(BasicProperties, String, Value)> {
        let entrega = tokio::time::timeout(espera, self.eventos.next()).await.ok()??.ok()?;
        let cuerpo = serde_json::from_slice(&entrega.data).unwrap();
        let tipo = entrega.routing_key.as_str().to_string();
        validar_evento(&tipo, &cuerpo);
        Some((entrega.properties, tipo, cuerpo))
    }

    /// Every event that arrives until `silencio` passes without one.
    pub async fn eventos_hasta_silencio(&mut self, silencio: Duration) -> Vec<(BasicProperties, String, Value)> {
        let mut v = Vec::new();
        while let Some(e) = self.evento(silencio).await {
            v.push(e);
        }
        v
    }
}
