//! Operator tools over `P.comandos.rechazados` (contract §9): list, show,
//! re-drive and purge dead letters.
//!
//! A quorum queue cannot be browsed, so every verb walks it the same way:
//! `basic.get` without ack, one dead letter after another, holding the ones
//! it leaves; closing the channel at the end hands those back, in the order
//! they were. RabbitMQ 3.10 puts handed-back messages behind those it did
//! not hand out (measured), so a walk always covers the whole queue: the
//! queue then keeps its order. The walk is bounded by the queue's depth when
//! it started, so a dead letter parked meanwhile (say a re-driven command
//! that is still undecodable) is not seen twice; it ends up ahead of the
//! handed-back ones.
//!
//! Every hand-back counts as a delivery (`x-delivery-count`). The queue sets
//! no delivery limit, but a broker may (RabbitMQ 4 sets 20 on every quorum
//! queue by default, and a policy can set one): so a dead letter whose count
//! reaches [`RENOVAR_DESDE`] is copied back to the queue, confirmed, and only
//! then is the old copy acked — inspecting can never make the broker drop one.

use crate::amqp::{self, Topologia};
use crate::contrato::{HEADER_AUTORIDAD, HEADER_FECHA, HEADER_MOTIVO, HEADER_ROUTING_KEY};
use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use serde::Serialize;
use serde_json::{Value, json};

/// A dead letter handed back this many times is renewed (copied back and the
/// old copy acked), well below RabbitMQ 4's default delivery limit of 20.
pub const RENOVAR_DESDE: i64 = 10;

/// Bookkeeping headers a re-driven command does not carry: the broker's and
/// ours about the parking itself. Everything else (`traceparent`, an
/// `authorization` RabbitMQ kept on a delivery-limit dead letter, the
/// publisher's own headers) goes back as it came.
const CABECERAS_DE_RECHAZO: &[&str] = &[
    HEADER_MOTIVO,
    HEADER_ROUTING_KEY,
    HEADER_FECHA,
    "x-death",
    "x-delivery-count",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

/// What can go wrong talking to the dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum ErrorRechazados {
    /// A step the broker refused, or a connection it dropped.
    #[error("RabbitMQ, {paso}: {fuente}")]
    Broker {
        /// What was being done.
        paso: &'static str,
        /// The broker's or the connection's error.
        #[source]
        fuente: lapin::Error,
    },
    /// The queue is not there: a wrong prefix, or no worker ever started.
    #[error("la cola {0} no existe: ¿el prefijo (MESA__TOPOLOGY__PREFIX) es el del worker?")]
    ColaInexistente(String),
    /// A renewal copy was not confirmed: the dead letter stays as it was.
    #[error("el broker no confirmó la copia renovada de un rechazado")]
    RenovacionSinConfirmar,
    /// The thread a count ran on stopped before it answered (a panic, or
    /// the runtime shutting down).
    #[error("el recuento de rechazados se interrumpió")]
    Interrumpido,
}

/// Names the step a lapin error happened in, as `amqp::en_paso` does for
/// the worker's sessions: the same concept into this tool's own error.
fn en_paso(paso: &'static str) -> impl FnOnce(lapin::Error) -> ErrorRechazados {
    move |fuente| ErrorRechazados::Broker { paso, fuente }
}

/// One dead letter as `listar` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rechazado {
    /// When it was parked: `x-mesa-rechazado-en`, else the broker's
    /// `x-death` time, else the publisher's `timestamp`; `None` when unknown.
    pub fecha: Option<DateTime<Utc>>,
    /// The routing key it was published with.
    #[serde(rename = "routingKey")]
    pub routing_key: String,
    /// Its AMQP `message_id`, if it had one.
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    /// Why: `x-mesa-motivo`, else the broker's dead-letter reason (`delivery_limit`, ...).
    pub motivo: Option<String>,
    /// Body size in bytes.
    pub bytes: usize,
    /// How often the queue has handed it out before (`x-delivery-count`).
    pub entregas: i64,
}

/// One dead letter whole, for `ver`: properties, headers and body.
#[derive(Debug, Clone, Serialize)]
pub struct RechazadoCompleto {
    /// The summary `listar` shows.
    #[serde(flatten)]
    pub resumen: Rechazado,
    /// AMQP properties other than headers.
    pub propiedades: Value,
    /// Every header, AMQP values rendered as JSON.
    pub headers: Value,
    /// The body as parked.
    #[serde(skip)]
    pub cuerpo: Vec<u8>,
}

/// Which dead letters a verb acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Seleccion {
    /// Those whose `message_id` is one of these.
    Ids(Vec<String>),
    /// Every one.
    Todos,
    /// Those parked before this instant (those of unknown date are kept).
    Antes(DateTime<Utc>),
    /// Those whose body mentions this e-mail (§11; [`menciona_email`]).
    Email(String),
}

impl Seleccion {
    fn incluye(&self, r: &Rechazado, cuerpo: &[u8]) -> bool {
        match self {
            Seleccion::Ids(ids) => r.message_id.as_ref().is_some_and(|id| ids.contains(id)),
            Seleccion::Todos => true,
            Seleccion::Antes(t) => r.fecha.is_some_and(|f| f < *t),
            Seleccion::Email(email) => menciona_email(cuerpo, email),
        }
    }
}

/// Whether a dead letter's body mentions `email`, in any case (as
/// `consultar` compares e-mails), anywhere in the body, not only in an
/// `email` field (a parked command may quote it in any text), and whole:
/// `ana@x.co` is not mentioned by `mariana@x.co` nor by `ana@x.co.uk`. The
/// body is read as it is and, when it is JSON, with its strings decoded
/// too, so an escaped spelling (`ana\u0040empresa.com`) is found as well.
/// An empty e-mail mentions nothing.
pub fn menciona_email(cuerpo: &[u8], email: &str) -> bool {
    let buscado = email.trim().to_lowercase();
    if buscado.is_empty() {
        return false;
    }
    if contiene_entero(&String::from_utf8_lossy(cuerpo).to_lowercase(), &buscado) {
        return true;
    }
    fn en(v: &Value, buscado: &str) -> bool {
        match v {
            Value::String(s) => contiene_entero(&s.to_lowercase(), buscado),
            Value::Array(l) => l.iter().any(|i| en(i, buscado)),
            Value::Object(m) => m.iter().any(|(k, i)| contiene_entero(&k.to_lowercase(), buscado) || en(i, buscado)),
            _ => false,
        }
    }
    serde_json::from_slice::<Value>(cuerpo).is_ok_and(|v| en(&v, &buscado))
}

/// Whether `texto` holds `buscado` as a whole address: not preceded by a
/// character of an address's local part, not followed by one of a domain
/// (a `.` counts only when more of a domain follows: a sentence may end
/// right after an address).
fn contiene_entero(texto: &str, buscado: &str) -> bool {
    let local = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let dominio = |c: char| c.is_alphanumeric() || c == '-';
    texto.match_indices(buscado).any(|(i, _)| {
        let antes = texto[..i].chars().next_back();
        let mut despues = texto[i + buscado.len()..].chars();
        let siguiente = despues.next();
        let sigue_dominio = match siguiente {
            Some('.') => despues.next().is_some_and(dominio),
            Some(c) => dominio(c),
            None => false,
        };
        !antes.is_some_and(local) && !sigue_dominio
    })
}

/// Where the worker counts, for `anonimizar`'s reply, the dead letters that
/// still mention an e-mail: its broker and topology. Each count opens a
/// connection of its own for one walk (an erasure is rare; the worker's
/// sessions stay out of it).
#[derive(Clone)]
pub struct ContadorRechazados {
    amqp_url: secrecy::SecretString,
    topologia: Topologia,
}

impl ContadorRechazados {
    /// Counts on the broker at `amqp_url`, in `topologia`'s dead-letter queue.
    pub fn new(amqp_url: secrecy::SecretString, topologia: Topologia) -> Self {
        Self { amqp_url, topologia }
    }

    /// The dead letters now parked whose body mentions `email`.
    ///
    /// The walk's visitor is an async closure, whose future the compiler
    /// cannot prove `Send` for every lifetime, while the worker's lanes are
    /// spawned tasks: so the walk runs on a blocking thread of its own,
    /// driven there by the runtime (only owned values cross).
    pub async fn contar(&self, email: &str) -> Result<u64, ErrorRechazados> {
        let (contador, email) = (self.clone(), email.to_string());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(contador.contar_aqui(email)))
            .await
            .unwrap_or(Err(ErrorRechazados::Interrumpido))
    }

    async fn contar_aqui(self, email: String) -> Result<u64, ErrorRechazados> {
        use secrecy::ExposeSecret;
        let r = Rechazados::abrir(self.amqp_url.expose_secret(), self.topologia).await?;
        let n = r.contar(&Seleccion::Email(email)).await;
        r.cerrar().await;
        n
    }
}

/// What a re-drive or purge did, dead letter by dead letter.
#[derive(Debug, Default, Serialize)]
pub struct Informe {
    /// Re-driven (confirmed, then removed) or purged; with `--dry-run`, those
    /// that would be.
    pub hechos: Vec<Rechazado>,
    /// Re-drives that failed, with why; those dead letters stay in the queue.
    pub fallidos: Vec<(Rechazado, String)>,
    /// Asked-for `message_id`s no dead letter carries.
    #[serde(rename = "noEncontrados")]
    pub no_encontrados: Vec<String>,
    /// Whether nothing was changed (`--dry-run`).
    pub simulado: bool,
}

/// A connection to the broker for one operator command.
pub struct Rechazados {
    conexion: Connection,
    topologia: Topologia,
}

impl Rechazados {
    /// Connects (any node of `amqp_url`) and checks the queue exists.
    pub async fn abrir(amqp_url: &str, topologia: Topologia) -> Result<Self, ErrorRechazados> {
        let conexion = amqp::conectar(amqp_url, "mesa-ayuda rechazados").await.map_err(en_paso("conectar"))?;
        let r = Self { conexion, topologia };
        let canal = r.canal().await?;
        r.profundidad(&canal).await?;
        let _ = canal.close(200, "listo".into()).await;
        Ok(r)
    }

    /// Closes the connection.
    pub async fn cerrar(self) {
        let _ = self.conexion.close(200, "listo".into()).await;
    }

    async fn canal(&self) -> Result<Channel, ErrorRechazados> {
        let canal = self.conexion.create_channel().await.map_err(en_paso("abrir un canal"))?;
        canal.confirm_select(ConfirmSelectOptions::default()).await.map_err(en_paso("activar confirmaciones"))?;
        Ok(canal)
    }

    /// Dead letters ready in the queue now.
    async fn profundidad(&self, canal: &Channel) -> Result<u32, ErrorRechazados> {
        let pasiva = QueueDeclareOptions { passive: true, ..Default::default() };
        match canal.queue_declare(self.topologia.rechazados().into(), pasiva, FieldTable::default()).await {
            Ok(q) => Ok(q.message_count()),
            Err(e) if es_no_encontrado(&e) => Err(ErrorRechazados::ColaInexistente(self.topologia.rechazados())),
            Err(e) => Err(en_paso("consultar la cola")(e)),
        }
    }

    /// Walks every dead letter present now, oldest first, calling `visitar`
    /// on each. Those it leaves stay held and go back, in order, when the
    /// walk's channel closes (RabbitMQ puts them behind anything it did not
    /// hand out, hence a walk always covers the whole queue); one handed back
    /// [`RENOVAR_DESDE`] times or more is renewed instead. Returns once they
    /// are back.
    async fn recorrer(
        &self,
        mut visitar: impl AsyncFnMut(&Channel, &Delivery) -> Result<Paso, ErrorRechazados>,
    ) -> Result<(), ErrorRechazados> {
        let canal = self.canal().await?;
        let total = self.profundidad(&canal).await?;
        let cola = self.topologia.rechazados();
        let mut tomados = 0;
        let mut resultado = Ok(());
        for _ in 0..total {
            let m = match canal.basic_get(cola.clone().into(), BasicGetOptions { no_ack: false }).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    resultado = Err(en_paso("leer la cola")(e));
                    break;
                }
            };
            let paso = match visitar(&canal, &m.delivery).await {
                Ok(p) => p,
                Err(e) => {
                    resultado = Err(e);
                    break;
                }
            };
            if paso == Paso::Tomado {
                tomados += 1;
            } else if entregas(&m.delivery.properties) >= RENOVAR_DESDE
                && let Err(e) = self.renovar(&canal, &m.delivery).await
            {
                resultado = Err(e);
                break;
            }
        }
        self.devolver(canal, total.saturating_sub(tomados)).await;
        resultado
    }

    /// Closes a walk's channel, so what it still holds goes back to the
    /// queue in order, and waits (a few seconds at most) until the queue
    /// holds at least `esperados` again: RabbitMQ returns them after the
    /// close is answered, and the next command (or walk) must see them.
    async fn devolver(&self, canal: Channel, esperados: u32) {
        if let Err(e) = canal.close(200, "devueltos".into()).await {
            tracing::warn!(error = %e, "no se pudo cerrar el canal; la conexión devolverá los rechazados");
        }
        let Ok(canal) = self.conexion.create_channel().await else { return };
        for _ in 0..100 {
            match self.profundidad(&canal).await {
                Ok(n) if n < esperados => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                _ => break,
            }
        }
        let _ = canal.close(200, "listo".into()).await;
    }

    /// Copies a dead letter back to the tail of the queue with its delivery
    /// count dropped (confirmed) and acks the old copy: to the broker it is
    /// then a new message, never near a delivery limit.
    async fn renovar(&self, canal: &Channel, d: &Delivery) -> Result<(), ErrorRechazados> {
        let props = d.properties.clone().with_headers(sin_cabeceras(&d.properties, &["x-delivery-count"]));
        let confirmacion = canal
            .basic_publish(
                "".into(),
                self.topologia.rechazados().into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                &d.data,
                props,
            )
            .await
            .map_err(en_paso("renovar un rechazado"))?
            .await
            .map_err(en_paso("confirmar la renovación"))?;
        if !matches!(confirmacion, Confirmation::Ack(None)) {
            return Err(ErrorRechazados::RenovacionSinConfirmar);
        }
        canal
            .basic_ack(d.delivery_tag, BasicAckOptions::default())
            .await
            .map_err(en_paso("retirar la copia renovada"))?;
        tracing::info!(entregas = entregas(&d.properties), "rechazado renovado");
        Ok(())
    }

    /// Up to `limite` dead letters, oldest first, left in the queue.
    pub async fn listar(&self, limite: usize) -> Result<Vec<Rechazado>, ErrorRechazados> {
        let mut vistos = Vec::new();
        if limite > 0 {
            // The walk goes on past `limite` without collecting: RabbitMQ puts
            // what is handed back behind what was not taken, so only a walk
            // over the whole queue keeps the order.
            self.recorrer(async |_, d| {
                if vistos.len() < limite {
                    vistos.push(resumen(d));
                }
                Ok(Paso::Seguir)
            })
            .await?;
        }
        Ok(vistos)
    }

    /// Every dead letter carrying `message_id`, whole, left in the queue.
    pub async fn ver(&self, message_id: &str) -> Result<Vec<RechazadoCompleto>, ErrorRechazados> {
        let mut hallados = Vec::new();
        self.recorrer(async |_, d| {
            if d.properties.message_id().as_ref().map(|s| s.as_str()) == Some(message_id) {
                hallados.push(completo(d));
            }
            Ok(Paso::Seguir)
        })
        .await?;
        Ok(hallados)
    }

    /// Publishes the selected dead letters again to `P.comandos` with their
    /// routing key, `message_id`, properties and headers (minus the parking
    /// bookkeeping), mandatory and confirmed; only a confirmed, routed one is
    /// removed. `simular` changes nothing and says what would be done.
    pub async fn reenviar(&self, seleccion: &Seleccion, simular: bool) -> Result<Informe, ErrorRechazados> {
        let mut informe = Informe { simulado: simular, ..Default::default() };
        let comandos = self.topologia.comandos();
        self.recorrer(async |canal, d| {
            let r = resumen(d);
            if !seleccion.incluye(&r, &d.data) {
                return Ok(Paso::Seguir);
            }
            if simular {
                informe.hechos.push(r);
                return Ok(Paso::Seguir);
            }
            match reenviar_uno(canal, &comandos, d).await {
                Ok(()) => {
                    canal.basic_ack(d.delivery_tag, BasicAckOptions::default()).await.map_err(en_paso("retirar"))?;
                    informe.hechos.push(r);
                    Ok(Paso::Tomado)
                }
                Err(motivo) => {
                    informe.fallidos.push((r, motivo));
                    Ok(Paso::Seguir)
                }
            }
        })
        .await?;
        informe.no_encontrados = no_encontrados(seleccion, &informe);
        Ok(informe)
    }

    /// How many dead letters the selection holds, left in the queue.
    pub async fn contar(&self, seleccion: &Seleccion) -> Result<u64, ErrorRechazados> {
        let mut n = 0;
        self.recorrer(async |_, d| {
            if seleccion.incluye(&resumen(d), &d.data) {
                n += 1;
            }
            Ok(Paso::Seguir)
        })
        .await?;
        Ok(n)
    }

    /// Removes the selected dead letters for good. `simular` changes nothing.
    pub async fn purgar(&self, seleccion: &Seleccion, simular: bool) -> Result<Informe, ErrorRechazados> {
        let mut informe = Informe { simulado: simular, ..Default::default() };
        self.recorrer(async |canal, d| {
            let r = resumen(d);
            if !seleccion.incluye(&r, &d.data) {
                return Ok(Paso::Seguir);
            }
            informe.hechos.push(r);
            if simular {
                return Ok(Paso::Seguir);
            }
            canal.basic_ack(d.delivery_tag, BasicAckOptions::default()).await.map_err(en_paso("purgar"))?;
            Ok(Paso::Tomado)
        })
        .await?;
        informe.no_encontrados = no_encontrados(seleccion, &informe);
        Ok(informe)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Paso {
    /// Leave it (held until the channel closes) and go on.
    Seguir,
    /// The visitor settled it (re-driven or purged): it is gone.
    Tomado,
}

fn no_encontrados(seleccion: &Seleccion, informe: &Informe) -> Vec<String> {
    let Seleccion::Ids(ids) = seleccion else { return vec![] };
    let vistos: Vec<&str> = informe
        .hechos
        .iter()
        .chain(informe.fallidos.iter().map(|(r, _)| r))
        .filter_map(|r| r.message_id.as_deref())
        .collect();
    ids.iter().filter(|id| !vistos.contains(&id.as_str())).cloned().collect()
}

/// Publishes one dead letter to `P.comandos` as it was first published;
/// `Err` says why it was not taken (and so must stay parked).
async fn reenviar_uno(canal: &Channel, comandos: &str, d: &Delivery) -> Result<(), String> {
    let routing_key = routing_key(d);
    // A forged header could name anything; AMQP routing keys are short strings.
    if routing_key.len() > 255 {
        return Err("la routing key pasa de 255 bytes".into());
    }
    let props = d.properties.clone().with_headers(sin_cabeceras(&d.properties, CABECERAS_DE_RECHAZO));
    let confirmacion = canal
        .basic_publish(
            comandos.to_string().into(),
            routing_key.into(),
            BasicPublishOptions { mandatory: true, ..Default::default() },
            &d.data,
            props,
        )
        .await
        .map_err(|e| format!("publicar: {e}"))?
        .await
        .map_err(|e| format!("confirmar: {e}"))?;
    match confirmacion {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err("sin ruta: ninguna cola acepta esa routing key".into()),
        Confirmation::Nack(_) => Err("el broker no lo confirmó".into()),
        Confirmation::NotRequested => Err("el canal no está en modo confirmación".into()),
    }
}

/// The headers of `p` but `quitar`.
fn sin_cabeceras(p: &BasicProperties, quitar: &[&str]) -> FieldTable {
    let mut headers = FieldTable::default();
    for (k, v) in p.headers().as_ref().map(|h| h.inner().clone()).unwrap_or_default() {
        if !quitar.contains(&k.as_str()) {
            headers.insert(k, v);
        }
    }
    headers
}

fn es_no_encontrado(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if matches!(p.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
}

fn texto(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

fn entero(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::ShortShortInt(n) => Some((*n).into()),
        AMQPValue::ShortShortUInt(n) => Some((*n).into()),
        AMQPValue::ShortInt(n) => Some((*n).into()),
        AMQPValue::ShortUInt(n) => Some((*n).into()),
        AMQPValue::LongInt(n) => Some((*n).into()),
        AMQPValue::LongUInt(n) => Some((*n).into()),
        AMQPValue::LongLongInt(n) => Some(*n),
        _ => None,
    }
}

fn cabecera<'a>(p: &'a BasicProperties, nombre: &str) -> Option<&'a AMQPValue> {
    p.headers().as_ref()?.inner().get(nombre)
}

/// The latest `x-death` entry RabbitMQ recorded (it keeps the latest first).
fn ultima_muerte(p: &BasicProperties) -> Option<&FieldTable> {
    match cabecera(p, "x-death")? {
        AMQPValue::FieldArray(a) => a.as_slice().iter().find_map(|v| match v {
            AMQPValue::FieldTable(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn entregas(p: &BasicProperties) -> i64 {
    cabecera(p, "x-delivery-count").and_then(entero).unwrap_or(0)
}

fn routing_key(d: &Delivery) -> String {
    if let Some(rk) = cabecera(&d.properties, HEADER_ROUTING_KEY).and_then(texto) {
        return rk;
    }
    let de_la_muerte = ultima_muerte(&d.properties).and_then(|t| match t.inner().get("routing-keys")? {
        AMQPValue::FieldArray(a) => a.as_slice().first().and_then(texto),
        _ => None,
    });
    de_la_muerte.unwrap_or_else(|| d.routing_key.as_str().to_string())
}

fn fecha(p: &BasicProperties) -> Option<DateTime<Utc>> {
    if let Some(f) = cabecera(p, HEADER_FECHA).and_then(texto)
        && let Ok(f) = DateTime::parse_from_rfc3339(&f)
    {
        return Some(f.to_utc());
    }
    let muerte = ultima_muerte(p).and_then(|t| match t.inner().get("time")? {
        AMQPValue::Timestamp(s) => Some(*s),
        _ => None,
    });
    let segundos = muerte.or(*p.timestamp())?;
    DateTime::from_timestamp(i64::try_from(segundos).ok()?, 0)
}

fn resumen(d: &Delivery) -> Rechazado {
    let p = &d.properties;
    let motivo = cabecera(p, HEADER_MOTIVO)
        .and_then(texto)
        .or_else(|| ultima_muerte(p).and_then(|t| t.inner().get("reason")).and_then(texto));
    Rechazado {
        fecha: fecha(p),
        routing_key: routing_key(d),
        message_id: p.message_id().as_ref().map(|s| s.as_str().to_string()),
        motivo,
        bytes: d.data.len(),
        entregas: entregas(p),
    }
}

fn completo(d: &Delivery) -> RechazadoCompleto {
    let p = &d.properties;
    let corto = |s: Option<&lapin::types::ShortString>| s.map(|s| s.as_str().to_string());
    let propiedades = json!({
        "contentType": corto(p.content_type().as_ref()),
        "contentEncoding": corto(p.content_encoding().as_ref()),
        "deliveryMode": p.delivery_mode(),
        "correlationId": corto(p.correlation_id().as_ref()),
        "replyTo": corto(p.reply_to().as_ref()),
        "timestamp": p.timestamp().and_then(|t| DateTime::from_timestamp(i64::try_from(t).ok()?, 0)),
        "type": corto(p.kind().as_ref()),
        "appId": corto(p.app_id().as_ref()),
    });
    let mut headers = p.headers().as_ref().map(tabla_json).unwrap_or_else(|| json!({}));
    // The seal is good for re-driving this one command, and says nothing an
    // operator needs: it is not printed.
    if let Some(sello) = headers.get_mut(HEADER_AUTORIDAD) {
        *sello = json!("(autoridad sellada)");
    }
    RechazadoCompleto { resumen: resumen(d), propiedades, headers, cuerpo: d.data.clone() }
}

fn tabla_json(t: &FieldTable) -> Value {
    Value::Object(t.inner().iter().map(|(k, v)| (k.as_str().to_string(), valor_json(v))).collect())
}

/// An AMQP header value as JSON; timestamps as RFC 3339, bytes as hex.
fn valor_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::Float(f) => json!(f),
        AMQPValue::Double(f) => json!(f),
        AMQPValue::DecimalValue(d) => json!(format!("{d:?}")),
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => json!(texto(v)),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(valor_json).collect()),
        AMQPValue::Timestamp(t) => {
            json!(i64::try_from(*t).ok().and_then(|s| DateTime::from_timestamp(s, 0)).map(|f| f.to_rfc3339()))
        }
        AMQPValue::FieldTable(t) => tabla_json(t),
        AMQPValue::ByteArray(b) => json!(b.as_slice().iter().map(|x| format!("{x:02x}")).collect::<String>()),
        AMQPValue::Void => Value::Null,
        otro => json!(entero(otro)),
    }
}

/// Text from a dead letter made safe for a terminal: control characters
/// (an escape sequence could rewrite the operator's screen) are escaped and
/// the result cut to `max` characters.
pub fn para_terminal(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_mentions_an_email_in_any_case_and_spelling_and_nothing_else() {
        let cuerpo = br#"{"email":"Ana@Empresa.com","texto":"hola"}"#;
        assert!(menciona_email(cuerpo, "ana@empresa.com"));
        assert!(menciona_email(br#"{"nota":"escribir a ana\u0040empresa.com"}"#, "ANA@empresa.com"));
        assert!(menciona_email(b"no es json: ana@empresa.com", "ana@empresa.com"));
        assert!(!menciona_email(cuerpo, "ana@empresa.co.uk"));
        // Wildcards are characters like any other.
        assert!(!menciona_email(cuerpo, "%@empresa.com"));
        assert!(!menciona_email(cuerpo, "an_@empresa.com"));
        assert!(!menciona_email(cuerpo, "  "));
        // Whole addresses only: another person's that contains it is not hers.
        assert!(!menciona_email(br#"{"email":"mariana@empresa.com"}"#, "ana@empresa.com"));
        assert!(!menciona_email(br#"{"email":"ana@empresa.com.co"}"#, "ana@empresa.com"));
        assert!(!menciona_email(br#"{"email":"ana@empresa.company"}"#, "ana@empresa.com"));
        assert!(menciona_email(br#"{"nota":"escriba a ana@empresa.com."}"#, "ana@empresa.com"));
        assert!(menciona_email(br#"{"nota":"<ana@empresa.com>, gracias"}"#, "ana@empresa.com"));
        let seleccion = Seleccion::Email("ana@empresa.com".into());
        let r = Rechazado {
            fecha: None,
            routing_key: "ticket.crear".into(),
            message_id: None,
            motivo: None,
            bytes: cuerpo.len(),
            entregas: 0,
        };
        assert!(seleccion.incluye(&r, cuerpo));
        assert!(!seleccion.incluye(&r, b"{}"));
    }

    #[test]
    fn terminal_text_escapes_control_characters_and_is_bounded() {
        assert_eq!(para_terminal("a\u{1b}[2Jb\n", 40), "a\\u{1b}[2Jb\\n");
        assert_eq!(para_terminal(&"x".repeat(50), 3), "xxx…");
        assert_eq!(para_terminal("ñandú", 10), "ñandú");
    }

    #[test]
    fn a_selection_by_date_keeps_dead_letters_of_unknown_date() {
        let r = |fecha| Rechazado {
            fecha,
            routing_key: "ticket.crear".into(),
            message_id: Some("a".into()),
            motivo: None,
            bytes: 0,
            entregas: 0,
        };
        let t = Utc::now();
        let antes = Seleccion::Antes(t);
        assert!(antes.incluye(&r(Some(t - chrono::TimeDelta::seconds(1))), b""));
        assert!(!antes.incluye(&r(Some(t)), b""));
        assert!(!antes.incluye(&r(None), b""));
        assert!(Seleccion::Ids(vec!["a".into()]).incluye(&r(None), b""));
        assert!(!Seleccion::Ids(vec!["b".into()]).incluye(&r(None), b""));
    }

    #[test]
    fn header_values_render_as_json() {
        let mut t = FieldTable::default();
        t.insert("count".into(), AMQPValue::LongLongInt(3));
        t.insert("time".into(), AMQPValue::Timestamp(0));
        t.insert("keys".into(), AMQPValue::FieldArray(vec![AMQPValue::LongString("ticket.crear".into())].into()));
        assert_eq!(tabla_json(&t), json!({"count": 3, "time": "1970-01-01T00:00:00+00:00", "keys": ["ticket.crear"]}));
    }
}
