//! The SLA scheduler: on a cron, flags every ticket whose warning time or
//! deadline has come. Exactly-once is enforced by the database (`sla_alertas`
//! primary key, row locks with SKIP LOCKED), so any number of replicas and
//! overlapping ticks are safe.

use crate::anonimizacion::Origen;
use crate::configuration::RetencionSettings;
use crate::domain::anonimizacion::Anonimizador;
use crate::domain::sla::{Meta, NivelSla, ReglasSla};
use crate::domain::ticket::{Alerta, Ticket};
use crate::error::{EnSentencia, ErrorProceso};
use crate::metrics::Metricas;
use crate::reloj::{Cron, Reloj};
use crate::{store, vistas};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// The SLA scheduler of one process; clones share the scan lock.
#[derive(Clone)]
pub struct Planificador {
    /// The database the scan locks and writes tickets in.
    pub pool: PgPool,
    /// The SLA rules: thresholds, calendars and escalation steps by policy.
    pub reglas: Arc<ReglasSla>,
    /// The current time (tests inject theirs).
    pub reloj: Reloj,
    /// Wakes the relay once a scan committed events.
    pub aviso_outbox: Arc<Notify>,
    /// Alert counters.
    pub metricas: Arc<Metricas>,
    /// Tickets locked per transaction.
    pub lote: usize,
    /// One scan at a time per process; other processes are kept apart by locks.
    en_curso: Arc<Mutex<()>>,
    /// One retention erasure at a time per process: a pass longer than its
    /// cron's period must not be joined by another (they would only compete
    /// with commands for the cores and the pool); other processes share the
    /// work through SKIP LOCKED.
    retencion_en_curso: Arc<Mutex<()>>,
}

impl Planificador {
    /// A scheduler over `pool` with these rules, clock, relay wake-up and metrics.
    pub fn new(
        pool: PgPool,
        reglas: Arc<ReglasSla>,
        reloj: Reloj,
        aviso_outbox: Arc<Notify>,
        metricas: Arc<Metricas>,
        lote: usize,
    ) -> Self {
        Self {
            pool,
            reglas,
            reloj,
            aviso_outbox,
            metricas,
            lote,
            en_curso: Arc::new(Mutex::new(())),
            retencion_en_curso: Arc::new(Mutex::new(())),
        }
    }

    /// One scan at the current time; returns the alerts emitted.
    pub async fn escanear_ahora(&self) -> Result<usize, ErrorProceso> {
        let ahora = crate::reloj::ahora(&self.reloj);
        self.escanear(ahora).await
    }

    /// One scan as of `ahora`: every due ticket, batch by batch. A scan that
    /// finds the previous one still running in this process does nothing.
    pub async fn escanear(&self, ahora: DateTime<Utc>) -> Result<usize, ErrorProceso> {
        let Ok(_turno) = self.en_curso.try_lock() else {
            tracing::debug!("SLA: el barrido anterior sigue en curso");
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let (vistos, emitidas) = self.lote(ahora).await?;
            total += emitidas;
            // Stop on a short batch, or when a full one changed nothing (a
            // deadline exactly equal to `ahora` is due, but not yet overdue).
            if vistos < self.lote || emitidas == 0 {
                break;
            }
        }
        let mut esperas = 0;
        loop {
            let (vistos, terminadas) = self.lote_de_esperas(ahora).await?;
            esperas += terminadas;
            if vistos < self.lote || terminadas == 0 {
                break;
            }
        }
        if total > 0 || esperas > 0 {
            self.aviso_outbox.notify_one();
            tracing::info!(alertas = total, esperas, "SLA: alertas emitidas y esperas terminadas");
        }
        Ok(total)
    }

    /// Ends the waits due at `ahora` in one batch (contract §10): each
    /// ticket's steps, their history and events, in one statement.
    /// (tickets seen, waits ended).
    async fn lote_de_esperas(&self, ahora: DateTime<Utc>) -> Result<(usize, usize), ErrorProceso> {
        let mut tx = self.pool.begin().await.en("begin")?;
        let debidos =
            store::reclamar_esperas_vencidas(&mut tx, ahora, self.lote).await.en("reclamar_esperas_vencidas")?;
        let mut cambios = store::Cambios::default();
        let mut terminadas = 0;
        for t in &debidos {
            let pasos = t.vencer_espera(ahora, &self.reglas);
            let Some((ultimo, _)) = pasos.last() else { continue };
            let ultimo = ultimo.clone();
            for (estado, entrada) in &pasos {
                let leida = store::HistorialLeido::from(entrada);
                let tipo = entrada.accion.tipo_evento();
                let datos = vistas::datos_evento_ticket(estado, &leida, None, None, ahora, &self.reglas);
                evento_del_planificador(&mut cambios, Uuid::new_v4(), tipo, estado, ahora, datos);
                cambios.historial_leido(t.uuid, leida, None);
            }
            cambios.ticket_cambiado(ultimo);
            terminadas += 1;
        }
        cambios.escribir(&mut tx).await.en("escribir_cambios")?;
        tx.commit().await.en("commit")?;
        Ok((debidos.len(), terminadas))
    }

    async fn lote(&self, ahora: DateTime<Utc>) -> Result<(usize, usize), ErrorProceso> {
        let mut tx = self.pool.begin().await.en("begin")?;
        let debidos =
            store::reclamar_alertas_debidas(&mut tx, ahora, self.lote).await.en("reclamar_alertas_debidas")?;
        // Every alert due is decided in memory, then all are recorded in one
        // statement: the scan costs a fixed number of round trips per batch.
        // Escalation changes neither deadlines nor progress, so it cannot change
        // which alerts are due.
        let decididos: Vec<(Ticket, Vec<(Alerta, Uuid)>)> = debidos
            .iter()
            .map(|t| {
                let (nuevo, alertas) = t.alertar(ahora, &self.reglas);
                (nuevo, alertas.into_iter().map(|a| (a, Uuid::new_v4())).collect())
            })
            .collect();
        let nuevas: Vec<store::AlertaNueva> = decididos
            .iter()
            .flat_map(|(t, alertas)| {
                alertas.iter().map(|(a, evento_id)| store::AlertaNueva {
                    ticket: t.uuid,
                    meta: a.meta,
                    umbral: a.umbral,
                    fecha_limite: a.fecha_limite,
                    evento_id: *evento_id,
                })
            })
            .collect();
        let registradas = store::registrar_alertas(&mut tx, &nuevas).await.en("registrar_alertas")?;
        let mut emitidas = 0;
        let mut cambios = store::Cambios::default();
        for (mut actual, alertas) in decididos {
            for (alerta, evento_id) in alertas {
                if !registradas.contains(&evento_id) {
                    continue; // Already sent for this deadline.
                }
                cambios.historial(actual.uuid, &alerta.entrada, None);
                let datos = vistas::datos_alerta(&actual, &alerta, ahora);
                evento_del_planificador(
                    &mut cambios,
                    evento_id,
                    alerta.umbral.nivel().tipo_evento(),
                    &actual,
                    ahora,
                    datos,
                );
                self.metricas.alerta(alerta.meta, alerta.umbral.nivel());
                emitidas += 1;
                // An escalation step rides on its alert: applied once, in this transaction.
                if let Some((escalado, entrada)) = actual.escalar(alerta.meta, alerta.umbral, ahora, &self.reglas) {
                    actual = escalado;
                    let leida = store::HistorialLeido::from(&entrada);
                    let tipo = entrada.accion.tipo_evento();
                    let datos = vistas::datos_evento_ticket(&actual, &leida, None, None, ahora, &self.reglas);
                    evento_del_planificador(&mut cambios, Uuid::new_v4(), tipo, &actual, ahora, datos);
                    cambios.historial_leido(actual.uuid, leida, None);
                    self.metricas.escalamiento(alerta.meta);
                }
            }
            cambios.ticket_cambiado(actual);
        }
        cambios.escribir(&mut tx).await.en("escribir_cambios")?;
        tx.commit().await.en("commit")?;
        Ok((debidos.len(), emitidas))
    }

    /// The retention pass's erasure (§11, `retencion.anonimizar_cerrados`):
    /// every ticket closed before `ahora - edad` whose requester's data is
    /// still there is erased as `anonimizar` erases it (actor SISTEMA), one
    /// transaction per `lote` of tickets. Exactly once: each batch claims
    /// its tickets `FOR UPDATE SKIP LOCKED` on the partial index of those
    /// not erased, and marks them erased in the same transaction, so two
    /// replicas share the work and a command waits for one batch at most.
    /// How many tickets it erased; none when this process's previous pass
    /// is still running.
    pub async fn anonimizar_cerrados(&self, ahora: DateTime<Utc>, edad: TimeDelta) -> Result<usize, ErrorProceso> {
        let Ok(_turno) = self.retencion_en_curso.try_lock() else {
            tracing::debug!("retención: la anonimización anterior sigue en curso");
            return Ok(0);
        };
        let corte = ahora - edad;
        let mut total = 0;
        loop {
            let mut tx = self.pool.begin().await.en("begin")?;
            let cerrados =
                store::reclamar_para_anonimizar(&mut tx, corte, self.lote).await.en("reclamar_para_anonimizar")?;
            let mut cambios = store::Cambios::default();
            for t in &cerrados {
                if crate::anonimizacion::registrar(&mut cambios, t, Anonimizador::Retencion, Origen::default(), ahora)
                    .is_some()
                {
                    total += 1;
                }
            }
            let eventos = cambios.hay_eventos();
            cambios.escribir(&mut tx).await.en("escribir_cambios")?;
            tx.commit().await.en("commit")?;
            if eventos {
                self.aviso_outbox.notify_one();
            }
            if cerrados.len() < self.lote {
                return Ok(total);
            }
        }
    }

    /// Runs `escanear_ahora` on `cron` (6 fields, seconds first), and the retention
    /// pass on its own cron, until `shutdown`.
    pub async fn ejecutar(self, cron: Cron, retencion: RetencionSettings, shutdown: CancellationToken) {
        if let Err(e) = self.programar(&cron, retencion, shutdown).await {
            tracing::error!(error = %format!("{e:#}"), "SLA: el planificador se detuvo");
        }
    }

    async fn programar(
        self,
        cron: &Cron,
        retencion: RetencionSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut programador = JobScheduler::new().await?;
        let p = self.clone();
        let trabajo = Job::new_async(cron.as_str(), move |_, _| {
            let p = p.clone();
            Box::pin(async move {
                // Each scheduled scan is a trace of its own; the events it
                // records carry no command's trace.
                let span = tracing::info_span!(
                    parent: None,
                    "escanear",
                    alertas = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                );
                match p.escanear_ahora().instrument(span.clone()).await {
                    Ok(n) => {
                        span.record("alertas", n);
                    }
                    Err(e) => {
                        span.record("otel.status_code", "ERROR");
                        tracing::warn!(error = %e, "SLA: barrido fallido; se reintenta en el próximo");
                    }
                }
            })
        })?;
        programador.add(trabajo).await?;
        let p = self.clone();
        let (eventos, comandos) = (TimeDelta::from_std(retencion.eventos)?, TimeDelta::from_std(retencion.comandos)?);
        let anonimizar = retencion.anonimizar_cerrados.map(TimeDelta::from_std).transpose()?;
        let poda = Job::new_async(retencion.cron.as_str(), move |_, _| {
            let p = p.clone();
            Box::pin(async move {
                let ahora = crate::reloj::ahora(&p.reloj);
                match crate::retencion::podar(&p.pool, ahora, eventos, comandos).await {
                    Ok(n) => tracing::info!(eventos = n.eventos, comandos = n.comandos, "retención: filas podadas"),
                    Err(e) => tracing::warn!(error = %e, "retención: poda fallida; se reintenta en la próxima"),
                }
                if let Some(edad) = anonimizar {
                    match p.anonimizar_cerrados(ahora, edad).await {
                        Ok(n) => tracing::info!(tickets = n, "retención: tickets cerrados anonimizados"),
                        Err(e) => {
                            tracing::warn!(error = %e, "retención: anonimización fallida; se reintenta en la próxima")
                        }
                    }
                }
            })
        })?;
        programador.add(poda).await?;
        programador.start().await?;
        tracing::info!(cron = %cron, "SLA: planificador en marcha");
        shutdown.cancelled().await;
        programador.shutdown().await?;
        // Let a scan in progress finish its transaction.
        let _ = self.en_curso.lock().await;
        Ok(())
    }
}

/// Puts an event of the scheduler's about `ticket` in the batch's outbox
/// (no command caused it: no trace context).
fn evento_del_planificador(
    cambios: &mut store::Cambios,
    evento_id: Uuid,
    tipo: &'static str,
    ticket: &Ticket,
    ahora: DateTime<Utc>,
    datos: impl serde::Serialize,
) {
    cambios.evento(store::EventoNuevo {
        evento_id,
        tipo,
        ticket: Some(ticket.uuid),
        cuerpo: vistas::evento(evento_id, tipo, ticket.uuid, ahora, None, datos),
        traceparent: None,
    });
}

impl Metricas {
    /// Counts an SLA alert sent.
    pub fn alerta(&self, meta: Meta, nivel: NivelSla) {
        let etiqueta = crate::metrics::EtiquetaAlerta { nivel: nivel.as_str(), meta: meta.as_str() };
        self.alertas_sla.get_or_create(&etiqueta).inc();
    }

    /// Counts an escalation applied.
    pub fn escalamiento(&self, meta: Meta) {
        self.escalamientos_sla.get_or_create(&crate::metrics::EtiquetaMeta { meta: meta.as_str() }).inc();
    }
}
