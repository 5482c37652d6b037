//! The command consumer: deliveries from `P.comandos` into lanes (a ticket's
//! commands in flight always in one, `Reparto`), each lane applying what it
//! holds, in delivery order, one batch (one transaction) at a time. A
//! delivery is acked only after its batch committed.

use crate::amqp::llegadas::Llegadas;
use crate::amqp::reparto::{Fase, Reparto};
use crate::amqp::sonda::{self, Sondeada};
use crate::amqp::{self, ErrorAmqp, Topologia, en_paso};
use crate::auth::Verificador;
use crate::configuration::Settings;
use crate::contrato::MessageId;
use crate::error::{Disposicion, ErrorProceso};
use crate::metrics::{EtiquetasComando, Metricas};
use crate::procesador::{Desenlace, Mensaje, Procesador, Resultado};
use futures_util::{FutureExt, StreamExt};
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use secrecy::{ExposeSecret, SecretString};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// The command consumer: reads `P.comandos`, applies each delivery through the `Procesador` on the lane `Reparto` picks, replies and acknowledges.
#[derive(Clone)]
pub struct Consumidor {
    /// Applies each command.
    procesador: Procesador,
    /// Queue and exchange names.
    topologia: Topologia,
    /// Broker address (`amqp://...`; several, comma-separated, for a cluster).
    amqp_url: SecretString,
    /// Most unacknowledged deliveries the broker hands this consumer at once.
    prefetch: u16,
    /// Larger bodies are refused unread and dead-lettered.
    max_cuerpo: usize,
    /// Most deliveries one lane applies in one transaction (1 = no grouping).
    lote: usize,
    /// How long a lane that just took a delivery may wait for more to join
    /// its transaction, when its pace says more are due (zero: never).
    juntar: Duration,
    /// Number of lanes; a ticket's commands in flight always share one (`Reparto`).
    carriles: usize,
    /// Where command counts, durations and reconnections are recorded.
    metricas: Arc<Metricas>,
    /// Set while the consumer has a live broker session (readiness).
    conectado: Arc<AtomicBool>,
}

/// What a consumer works with besides its settings.
pub struct PartesConsumidor {
    /// Applies each command.
    pub procesador: Procesador,
    /// Where command counts, durations and reconnections are recorded.
    pub metricas: Arc<Metricas>,
    /// Set while the consumer has a live broker session (readiness).
    pub conectado: Arc<AtomicBool>,
}

impl Consumidor {
    /// A consumer as `settings` say (`[amqp]`, `[worker]`, `[topology]`).
    pub fn new(settings: &Settings, partes: PartesConsumidor) -> Self {
        let PartesConsumidor { procesador, metricas, conectado } = partes;
        Consumidor {
            procesador,
            topologia: Topologia::de(&settings.topology),
            amqp_url: settings.amqp.url.clone(),
            prefetch: settings.amqp.prefetch,
            max_cuerpo: settings.amqp.max_cuerpo_bytes,
            lote: settings.worker.lote,
            juntar: settings.worker.juntar,
            carriles: settings.worker.lanes,
            metricas,
            conectado,
        }
    }

    /// Consumes until `shutdown`, reconnecting whenever the broker goes away.
    pub async fn ejecutar(self, shutdown: CancellationToken) {
        let metricas = self.metricas.clone();
        amqp::con_reconexion(
            "consumidor",
            &shutdown,
            self.conectado.clone(),
            || metricas.reconexion("consumidor"),
            || self.sesion(&shutdown),
        )
        .await;
    }

    async fn sesion(&self, shutdown: &CancellationToken) -> Result<(), ErrorAmqp> {
        let conexion = Arc::new(
            amqp::conectar(self.amqp_url.expose_secret(), "mesa-ayuda consumidor")
                .await
                .map_err(en_paso("conectar"))?,
        );
        let canal = conexion.create_channel().await.map_err(en_paso("abrir el canal"))?;
        let respuestas = conexion.create_channel().await.map_err(en_paso("abrir el canal de respuestas"))?;
        // Dead letters are republished with their reason, confirmed before the ack.
        let rechazos = conexion.create_channel().await.map_err(en_paso("abrir el canal de rechazos"))?;
        rechazos.confirm_select(ConfirmSelectOptions::default()).await.map_err(en_paso("activar confirmaciones"))?;
        amqp::declarar(&canal, &self.topologia).await.map_err(en_paso("declarar la topología"))?;
        canal.basic_qos(self.prefetch, BasicQosOptions::default()).await.map_err(en_paso("fijar el prefetch"))?;
        let etiqueta = format!("mesa-ayuda-{}", uuid::Uuid::new_v4());
        let mut entregas = canal
            .basic_consume(
                self.topologia.comandos().into(),
                etiqueta.clone().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(en_paso("consumir"))?;
        self.conectado.store(true, Ordering::SeqCst);
        tracing::info!(cola = %self.topologia.comandos(), prefetch = self.prefetch, carriles = self.carriles, "consumiendo comandos");
        // Aborted when the session ends, whichever way, so it never marks a
        // finished session ready again.
        let sonda =
            sonda::vigilar(conexion.clone(), Sondeada::Comandos(self.topologia.clone()), self.conectado.clone());

        let mut carriles = Vec::with_capacity(self.carriles);
        let mut tareas = Vec::with_capacity(self.carriles);
        let reparto = Arc::new(Reparto::new(self.carriles, self.lote));
        for indice in 0..self.carriles {
            let (tx, rx) = mpsc::channel::<Entrega>(self.prefetch as usize);
            carriles.push(tx);
            let salida = Salida {
                respuestas: respuestas.clone(),
                rechazos: rechazos.clone(),
                topologia: self.topologia.clone(),
                dlx: self.topologia.dlx(),
                metricas: self.metricas.clone(),
                verificador: self.procesador.verificador().clone(),
            };
            let limites = Limites { lote: self.lote, juntar: self.juntar };
            let carril = Carril { indice, reparto: reparto.clone() };
            tareas.push(tokio::spawn(carril.ejecutar(rx, self.procesador.clone(), salida, limites, shutdown.clone())));
        }
        let resultado = loop {
            tokio::select! {
                biased;
                // Stop dispatching; what is already in the lanes finishes.
                // The consumer stays registered (see below).
                _ = shutdown.cancelled() => break Ok(()),
                entrega = entregas.next() => match entrega {
                    Some(Ok(mut delivery)) => {
                        // Size first: an oversized body is neither copied nor parsed.
                        let mut mensaje = amqp::mensaje(&mut delivery, self.max_cuerpo, &self.topologia);
                        let ticket = mensaje.as_ref().ok().and_then(Mensaje::clave_de_orden);
                        let span = span_de_comando(&delivery, mensaje.as_mut().ok(), ticket);
                        let clave = clave_de_reparto(ticket, mensaje.as_ref().ok());
                        let i = reparto.elegir(clave, |j| carriles[j].max_capacity() - carriles[j].capacity());
                        let llegada = tokio::time::Instant::now();
                        if carriles[i].send(Entrega { delivery, mensaje, span, llegada, clave }).await.is_err() {
                            // A lane stops early only when told to stop mid-outage.
                            if shutdown.is_cancelled() {
                                break Ok(());
                            }
                            break Err(ErrorAmqp::CarrilCaido);
                        }
                    }
                    Some(Err(e)) => break Err(en_paso("recibir una entrega")(e)),
                    None => break Err(ErrorAmqp::ConsumidorCancelado),
                }
            }
        };
        drop(sonda);
        drop(carriles);
        for tarea in tareas {
            let _ = tarea.await;
        }
        if resultado.is_ok() {
            // Never basic.cancel while holding deliveries: a standby would
            // become active at once and get newer commands before the ones
            // held here return. Closing the connection returns them and hands
            // the queue over in one step, returned ones first.
            let _barrera = esperar_acks(&canal, &self.topologia.comandos()).await;
            let _ = conexion.close(200, "apagando".into()).await;
        }
        // Dropping the consumer cancels it, so only now (see above).
        drop(entregas);
        resultado
    }
}

/// Returns once RabbitMQ has applied every ack sent before it on `canal`.
/// Acks are fire-and-forget in AMQP 0-9-1, and a quorum queue's channel holds
/// back acks beyond 32 in flight until earlier ones are applied; closing right
/// after acking made RabbitMQ requeue commands already applied. Registering a
/// consumer is a synchronous round trip through the queue's log, so acks sent
/// before it land first. With single active consumer it only waits behind the
/// active one, and goes away with the connection.
async fn esperar_acks(canal: &Channel, cola: &str) -> Option<lapin::Consumer> {
    let etiqueta = format!("mesa-ayuda-barrera-{}", uuid::Uuid::new_v4());
    canal
        .basic_consume(cola.into(), etiqueta.into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "no se pudo esperar la confirmación de los acks"))
        .ok()
}

/// A delivery on its way to a lane.
struct Entrega {
    delivery: Delivery,
    /// Its command, or how it ends unread (a body over the size limit, a
    /// `reply_to` into the worker's own topology).
    mensaje: Result<Mensaje, Desenlace>,
    /// The command's span, from arrival to settlement.
    span: tracing::Span,
    /// When the consumer took it from the broker: the lane's pace is the
    /// deliveries' (`Llegadas`), not how fast the lane drains what queued
    /// while it was busy.
    llegada: tokio::time::Instant,
    /// Its `clave de reparto`, counted in flight in its lane until the lane is done
    /// with it (`Reparto`).
    clave: Option<u64>,
}

/// The span of one command, from the moment it arrives until it is
/// answered and settled: a child of the publisher's `traceparent` (same
/// trace), or a root when it came without a valid one — then, with traces
/// on, the command takes the span's own `traceparent`, so the events it
/// causes still join its trace. Its attributes are ids, the operation and
/// the result: never a body.
fn span_de_comando(delivery: &Delivery, mensaje: Option<&mut Mensaje>, ticket: Option<Uuid>) -> tracing::Span {
    let traceparent = mensaje.as_ref().and_then(|m| m.traceparent.clone());
    let span = tracing::info_span!(
        "comando",
        message_id = tracing::field::Empty,
        routing_key = %rotulo(delivery.routing_key.as_str()),
        ticket = ticket.map(|t| t.to_string()).unwrap_or_default(),
        traceparent = traceparent.as_deref().unwrap_or(""),
        operacion = tracing::field::Empty,
        resultado = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    crate::telemetry::continuar(&span, traceparent.as_deref());
    // Only a message_id that could be recorded is logged (the contract's
    // rule, `MessageId::leer`): one printable line, bounded.
    if let Ok(id) = MessageId::leer(delivery.properties.message_id().as_ref().map(|s| s.as_str())) {
        span.record("message_id", id.as_str());
    }
    if let Some(m) = mensaje
        && m.traceparent.is_none()
    {
        m.traceparent = crate::telemetry::traceparent(&span);
    }
    span
}

/// What a command must stay in order with: its ticket; else (a `crear`, a
/// query) its `message_id`, so copies of one command never run side by
/// side; else nothing. A hash: keys that collide only share a lane.
fn clave_de_reparto(ticket: Option<Uuid>, m: Option<&Mensaje>) -> Option<u64> {
    let mut h = DefaultHasher::new();
    let label = || m.and_then(Mensaje::label_de_seguimiento);
    match (ticket, m.and_then(|m| m.message_id.as_ref())) {
        (Some(ticket), _) => ticket.hash(&mut h),
        // A requester's follow-ups stay in order by the label they name.
        (None, _) if let Some(label) = label() => label.hash(&mut h),
        (None, Some(id)) => id.hash(&mut h),
        (None, None) => return None,
    }
    Some(h.finish())
}

/// The routing key as logged: an operation's key as it is; anything else
/// escaped and cut, so a hostile key cannot forge or flood log lines.
fn rotulo(routing_key: &str) -> String {
    if crate::domain::estado::Operacion::from_routing_key(routing_key).is_some() {
        routing_key.to_string()
    } else {
        let corto: String = routing_key.chars().take(64).collect();
        format!("{corto:?}")
    }
}

/// Where a lane sends what it produces besides acks.
#[derive(Clone)]
struct Salida {
    respuestas: Channel,
    rechazos: Channel,
    /// The worker's own names: no reply is ever published into them.
    topologia: Topologia,
    dlx: String,
    metricas: Arc<Metricas>,
    /// Seals the authority of a staff command parked by a failure of ours.
    verificador: Verificador,
}

/// One lane: its place among the lanes, and what routes deliveries to them.
struct Carril {
    /// Its index in `Reparto`.
    indice: usize,
    /// Told what this lane is doing, and when it is done with a delivery.
    reparto: Arc<Reparto>,
}

impl Carril {
    async fn ejecutar(
        self,
        mut rx: mpsc::Receiver<Entrega>,
        procesador: Procesador,
        salida: Salida,
        limites: Limites,
        shutdown: CancellationToken,
    ) {
        let mut llegadas = Llegadas::new(limites.juntar);
        loop {
            self.reparto.fase(self.indice, Fase::Libre);
            let Some(primera) = rx.recv().await else { break };
            self.reparto.fase(self.indice, Fase::Juntando);
            // Group commit: whatever this lane already holds goes in one
            // transaction, with what arrives meanwhile when the pace says more
            // is due within `juntar`, for as long as it keeps coming at that
            // pace (see `Llegadas`).
            llegadas.llega(primera.llegada);
            let hasta = tokio::time::Instant::now() + llegadas.espera();
            let mut lote = vec![primera];
            while lote.len() < limites.lote {
                let siguiente = match rx.try_recv() {
                    Ok(e) => Some(e),
                    // The timer counts whole milliseconds: a patience below one
                    // (a burst, a saturated consumer) is no reason to wait.
                    Err(mpsc::error::TryRecvError::Empty)
                        if llegadas.paciencia() >= Duration::from_millis(1) && tokio::time::Instant::now() < hasta =>
                    {
                        let limite = hasta.min(tokio::time::Instant::now() + llegadas.paciencia());
                        tokio::time::timeout_at(limite, rx.recv()).await.ok().flatten()
                    }
                    Err(_) => None,
                };
                let Some(e) = siguiente else { break };
                llegadas.llega(e.llegada);
                lote.push(e);
            }
            self.reparto.fase(self.indice, Fase::Aplicando);
            let claves: Vec<u64> = lote.iter().filter_map(|e| e.clave).collect();
            if !atender_lote(lote, &procesador, &salida, &shutdown).await {
                // Stopping in the middle of an outage: nothing behind an unapplied
                // command may be applied before it, so the rest stays unacked too.
                // The connection's close hands it all back, in delivery order.
                // Its keys stay in flight here: a later command on one of them,
                // dispatched meanwhile, must fail to reach this ended lane rather
                // than be applied by another lane before the one handed back.
                return;
            }
            self.reparto.hecho(claves);
        }
    }
}

#[derive(Clone, Copy)]
struct Limites {
    /// Most deliveries applied in one transaction.
    lote: usize,
    /// The longest a batch's first delivery waits for others (`Llegadas`).
    juntar: Duration,
}

/// Turns a panic into a permanent failure, so one bad command can never take
/// the lane (or the process) down.
async fn sin_panico<T>(trabajo: impl Future<Output = Result<T, ErrorProceso>>) -> Result<T, ErrorProceso> {
    match AssertUnwindSafe(trabajo).catch_unwind().await {
        Ok(r) => r,
        // Its message is not kept: a panic's text may quote the command's
        // data (a slice of a name, a value unwrapped).
        Err(_) => Err(ErrorProceso::Panico),
    }
}

/// Applies a batch and then, in delivery order, answers and settles each
/// delivery: acks only after the batch committed. `false` if shutdown came
/// in the middle of an outage: what was not applied is left unacked (a nack
/// would requeue it behind deliveries this consumer already holds).
async fn atender_lote(
    lote: Vec<Entrega>,
    procesador: &Procesador,
    salida: &Salida,
    shutdown: &CancellationToken,
) -> bool {
    let inicio = Instant::now();
    let aptos: Vec<&Mensaje> = lote.iter().filter_map(|e| e.mensaje.as_ref().ok()).collect();
    // The batch's one transaction, seen from each command in it: a child of
    // every command's span (all spanning the same time), so each command's
    // trace shows it; `comandos` tells how many shared it.
    let transacciones: Vec<tracing::Span> = lote
        .iter()
        .filter(|e| e.mensaje.is_ok())
        .map(|e| tracing::debug_span!(parent: &e.span, "transaction", comandos = aptos.len()))
        .collect();
    if !aptos.is_empty() {
        salida.metricas.comandos_por_lote.observe(aptos.len() as f64);
    }
    let mut completo = true;
    let mut desenlaces: Vec<Result<Desenlace, ErrorProceso>> =
        match con_reintentos(procesador, &aptos, salida, shutdown).await {
            Aplicado::Hecho(ds) => ds.into_iter().map(Ok).collect(),
            Aplicado::Abandonado => return false,
            // One bad command must not sink the others: apply them one by one.
            Aplicado::Fallo(_) if aptos.len() > 1 => {
                let mut uno_a_uno = Vec::with_capacity(aptos.len());
                for m in &aptos {
                    match con_reintentos(procesador, &[*m], salida, shutdown).await {
                        Aplicado::Hecho(d) => uno_a_uno.extend(d.into_iter().map(Ok)),
                        Aplicado::Fallo(e) => uno_a_uno.push(Err(e)),
                        Aplicado::Abandonado => {
                            completo = false;
                            break;
                        }
                    }
                }
                uno_a_uno
            }
            Aplicado::Fallo(e) => vec![Err(e)],
        }
        .into_iter()
        .rev()
        .collect();
    drop(transacciones);
    // Replies and acks of the whole batch go out together: their frames are
    // queued in delivery order and the connection's I/O loop writes them in
    // one go, instead of one hand-off to it (and back) per reply and per ack.
    // Outcomes run out only where the batch was left unfinished.
    let finales = lote.iter().map_while(|Entrega { delivery, mensaje, span, .. }| {
        let desenlace = match mensaje {
            Err(unread) => Ok(unread.clone()),
            Ok(_) => desenlaces.pop()?,
        };
        Some(finalizar(delivery, mensaje.as_ref().ok(), desenlace, salida, inicio).instrument(span.clone()))
    });
    futures_util::future::join_all(finales).await;
    completo
}

/// How a batch's run through [`con_reintentos`] ended.
enum Aplicado {
    /// Applied: an outcome per command, in order.
    Hecho(Vec<Desenlace>),
    /// A failure retrying cannot fix.
    Fallo(ErrorProceso),
    /// Shutdown came during an outage: nothing more was tried.
    Abandonado,
}

/// Runs the batch, retrying transient failures in place (holding the lane,
/// so nothing behind can overtake). Abandoned if shutdown came during an
/// outage: a retry is abandoned mid-flight (its transaction rolls back, or
/// committed and will only re-answer), a first attempt never is.
async fn con_reintentos(
    procesador: &Procesador,
    mensajes: &[&Mensaje],
    salida: &Salida,
    shutdown: &CancellationToken,
) -> Aplicado {
    if mensajes.is_empty() {
        return Aplicado::Hecho(vec![]);
    }
    let mut pausa = Duration::from_millis(50);
    let mut en_caida = false;
    loop {
        let intento = sin_panico(procesador.procesar_lote(mensajes));
        let resultado = if en_caida {
            tokio::select! {
                _ = shutdown.cancelled() => return Aplicado::Abandonado,
                r = intento => r,
            }
        } else {
            intento.await
        };
        match resultado {
            Ok(d) => return Aplicado::Hecho(d),
            Err(e) if e.es_transitorio() => {
                salida.metricas.reintentos_transitorios.inc();
                tracing::warn!(error = %e, comandos = mensajes.len(), "fallo transitorio; se reintenta");
                en_caida = true;
                tokio::select! {
                    _ = shutdown.cancelled() => return Aplicado::Abandonado,
                    _ = tokio::time::sleep(pausa) => {}
                }
                pausa = (pausa * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, comandos = mensajes.len(), "fallo permanente");
                return Aplicado::Fallo(e);
            }
        }
    }
}

/// Replies, then acks or parks one delivery.
async fn finalizar(
    delivery: &Delivery,
    mensaje: Option<&Mensaje>,
    desenlace: Result<Desenlace, ErrorProceso>,
    salida: &Salida,
    inicio: Instant,
) {
    // A failure of ours, not the command's: re-driven once fixed, it should
    // apply with its sender's authority (`auth::autoridad`).
    let nuestro = desenlace.is_err();
    let (respuesta, disposicion, resultado, operacion) = match desenlace {
        Ok(Desenlace { respuesta, disposicion, resultado, operacion }) => {
            (Some(respuesta), disposicion, resultado, operacion)
        }
        // The reason names the cause (the statement, for a database error),
        // never a body: see `ErrorProceso`.
        Err(e) => (None, Disposicion::DeadLetter { motivo: e.to_string() }, Resultado::ErrorInterno, None),
    };
    let resultado = resultado.as_str();
    // Counted before the reply leaves: whoever saw the reply sees the count.
    let operacion = operacion.map(|o| o.as_str()).unwrap_or("desconocida");
    let metricas = &salida.metricas;
    metricas
        .comandos
        .get_or_create(&EtiquetasComando { operacion: operacion.to_string(), resultado: resultado.to_string() })
        .inc();
    metricas.duracion.observe(inicio.elapsed().as_secs_f64());
    let span = tracing::Span::current();
    span.record("operacion", operacion);
    span.record("resultado", resultado);
    if resultado == Resultado::ErrorInterno.as_str() {
        span.record("otel.status_code", "ERROR");
    }
    // Never into the worker's own topology, whatever decided the outcome
    // (contract §3, v1.2): `amqp::mensaje` parked such a command unread.
    let reply_to = delivery.properties.reply_to().as_ref().filter(|r| !salida.topologia.es_propia(r.as_str()));
    if let (Some(reply_to), Some(respuesta)) = (reply_to, &respuesta) {
        let correlation = delivery.properties.correlation_id().as_ref();
        let publicar = amqp::responder(&salida.respuestas, reply_to, correlation, respuesta.as_bytes());
        if let Err(e) = publicar.instrument(tracing::debug_span!("respuesta")).await {
            tracing::warn!(error = %e, "no se pudo publicar la respuesta");
        }
    }
    let confirmado = match &disposicion {
        Disposicion::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Disposicion::DeadLetter { motivo } => {
            tracing::warn!(motivo = %motivo, "comando enviado a rechazados");
            let autoridad = match mensaje.filter(|_| nuestro) {
                Some(m) => salida.verificador.sellar(m.authorization.as_deref(), m.vinculo()).await,
                None => None,
            };
            // The body lives in the message, or (refused unread) still in the delivery.
            let cuerpo = mensaje.map_or(&delivery.data[..], |m| &m.body[..]);
            let aparcado = amqp::Aparcado { cuerpo, motivo, autoridad };
            match amqp::rechazar(&salida.rechazos, &salida.dlx, delivery, aparcado).await {
                Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
                // Could not park it with its reason: let the queue dead-letter it.
                Err(_) => delivery.acker.reject(BasicRejectOptions { requeue: false }).await,
            }
        }
    };
    match confirmado {
        Ok(true) => {}
        // The broker will redeliver; the idempotency record answers again.
        Ok(false) => tracing::warn!("no se pudo confirmar la entrega: canal cerrado"),
        Err(e) => tracing::warn!(error = %e, "no se pudo confirmar la entrega"),
    }
    tracing::info!(operacion, resultado, ms = inicio.elapsed().as_millis() as u64, "comando atendido");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_permanent_failure() {
        let r: Result<(), _> = sin_panico(async { panic!("Ana García ana.garcia@empresa.com") }).await;
        match r {
            Err(e @ ErrorProceso::Panico) => {
                assert!(!e.es_transitorio());
                // Never the panic's own text: it may quote the command.
                assert_eq!(e.to_string(), "fallo permanente: pánico al procesar");
            }
            otro => panic!("{otro:?}"),
        }
        assert!(sin_panico(async { Ok::<_, ErrorProceso>(7) }).await.is_ok());
    }

    #[test]
    fn the_order_key_is_the_ticket_id_validation_reads() {
        let clave = |body: &str| Mensaje { body: body.as_bytes().to_vec(), ..Default::default() }.clave_de_orden();
        let id: Uuid = "6f9619ff-8b86-d011-b42d-00cf4fc964ff".parse().unwrap();
        assert_eq!(clave(r#"{"a": [1, {"b": 2}], "ticketId": " 6F9619FF-8B86-D011-B42D-00CF4FC964FF "}"#), Some(id));
        assert_eq!(clave(r#"{"ticketId": "6f9619ff-8b86-d011-b42d-00cf4fc964f\u0066"}"#), Some(id), "escaped");
        assert_eq!(clave(r#"{"ticket\u0049d": "6f9619ff-8b86-d011-b42d-00cf4fc964ff"}"#), Some(id), "escaped key");
        // Issue #11, item 7: other spellings of the same ticket named no lane of their own.
        for otra in [
            "{6f9619ff-8b86-d011-b42d-00cf4fc964ff}",
            "urn:uuid:6f9619ff-8b86-d011-b42d-00cf4fc964ff",
            "6f9619ff8b86d011b42d00cf4fc964ff",
        ] {
            assert_eq!(clave(&format!(r#"{{"ticketId": "{otra}"}}"#)), None, "{otra}");
        }
        // Duplicates: the last one wins, as in validation.
        let dos = r#"{"ticketId": "00000000-0000-0000-0000-000000000001", "ticketId": "6f9619ff-8b86-d011-b42d-00cf4fc964ff"}"#;
        assert_eq!(clave(dos), Some(id));
        assert_eq!(clave(r#"{"ticketId": 7}"#), None);
        assert_eq!(clave(r#"{"label": "x"}"#), None);
        assert_eq!(clave(r#"{"ticketId": "6f9619ff-8b86-d011-b42d-00cf4fc964ff"} x"#), None, "trailing bytes");
        assert_eq!(clave("[1]"), None);
        assert_eq!(clave("no es json"), None);
    }

    #[test]
    fn a_requesters_follow_ups_on_one_ticket_share_a_lane_by_their_label() {
        let seguimiento = |label: &str, id: &str| Mensaje {
            routing_key: "ticket.seguimiento".into(),
            message_id: Some(id.into()),
            body: format!("{{\"label\": \"{label}\", \"email\": \"a@b.co\", \"texto\": \"t\"}}").into_bytes(),
            ..Default::default()
        };
        let clave = |m: Mensaje| clave_de_reparto(m.clave_de_orden(), Some(&m));
        let a = clave(seguimiento("TKT-2026-00001", "1"));
        assert!(a.is_some());
        assert_eq!(a, clave(seguimiento(" tkt-2026-00001 ", "2")), "the label as validation reads it");
        assert_ne!(a, clave(seguimiento("TKT-2026-00002", "1")), "another ticket, another key");
        // Only a seguimiento is keyed by label; another operation's body is not.
        let mut otro = seguimiento("TKT-2026-00001", "1");
        otro.routing_key = "ticket.consultar".into();
        assert_eq!(otro.label_de_seguimiento(), None);
    }

    #[test]
    fn one_ticket_always_has_one_order_key() {
        let m = |t: &str, id: &str| Mensaje {
            message_id: Some(id.into()),
            body: format!("{{\"ticketId\": \"{t}\"}}").into_bytes(),
            ..Default::default()
        };
        let clave = |t: &str, id: &str| {
            let mensaje = m(t, id);
            clave_de_reparto(mensaje.clave_de_orden(), Some(&mensaje))
        };
        let a = clave("6F9619FF-8B86-D011-B42D-00CF4FC964FF", "1");
        assert!(a.is_some());
        for i in 0..20 {
            assert_eq!(clave("6f9619ff-8b86-d011-b42d-00cf4fc964ff", &i.to_string()), a);
        }
        // Keyless commands order by message_id, and without one by nothing.
        let crear = |id: Option<&str>| Mensaje { message_id: id.map(str::to_string), ..Default::default() };
        assert_eq!(clave_de_reparto(None, Some(&crear(Some("x")))), clave_de_reparto(None, Some(&crear(Some("x")))));
        assert_ne!(clave_de_reparto(None, Some(&crear(Some("x")))), clave_de_reparto(None, Some(&crear(Some("y")))));
        assert_eq!(clave_de_reparto(None, Some(&crear(None))), None);
    }
}
