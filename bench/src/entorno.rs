//! The scratch environment every measurement runs in: a database and a
//! topology prefix of its own on the configured servers, seeded in bulk.

use anyhow::Context;
use mesa_ayuda::amqp::Topologia;
use mesa_ayuda::configuration::{Config, Settings};
use mesa_kit::{Nombres, SECRETO, borrar_entorno};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// A scratch database and topology prefix on the configured servers, dropped at the end.
pub(crate) struct Entorno {
    pub(crate) settings: Settings,
    db: String,
    /// The configured Postgres URL without its database name.
    base: String,
}

impl Entorno {
    pub(crate) async fn nuevo() -> anyhow::Result<Entorno> {
        let mut settings = Config::load()?.settings;
        let url = settings.database.url.expose_secret().to_string();
        let base = url.rsplit_once('/').map(|(b, _)| b.to_string()).context("database.url sin nombre de base")?;
        let Nombres { db, prefijo } = Nombres::nuevos("mesa_bench", "bench");
        mesa_kit::crear_base_en(&base, &db).await?;
        settings.database.url = SecretString::from(format!("{base}/{db}"));
        settings.topology.prefix = prefijo;
        settings.auth.jwt_secret = Some(SecretString::from(SECRETO));
        settings.http.port = 0;
        Ok(Entorno { settings, db, base })
    }

    pub(crate) async fn pool(&self) -> anyhow::Result<PgPool> {
        let pool = PgPool::connect(self.settings.database.url.expose_secret()).await?;
        mesa_ayuda::store::migrate(&pool).await?;
        Ok(pool)
    }

    pub(crate) async fn limpiar(self) {
        let topo = Topologia::de(&self.settings.topology);
        borrar_entorno(&self.base, &self.db, &topo, self.settings.amqp.url.expose_secret()).await;
    }
}

/// Inserts `n` tickets straight into the table: a realistic spread of
/// states, priorities, areas and ages (MESA, TI, RRHH and FINANZAS alike,
/// and a small COMPRAS: 1.4 % of the tickets, all of them closed). `debidos`
/// of them are owed every SLA alert of both metas.
///
/// The conversation (v1.2, contract §10), as a desk a while after the
/// upgrade would hold it: every paused ticket (10 %) waits for someone —
/// `espera` SOLICITANTE for half of them (5 % of all), TERCERO for 2 %,
/// OTRO for 3 % — and half of the waits end by themselves (`espera_hasta` 1 to
/// 86 days ahead, so no scheduler run ends one; `alVencer` ARCHIVAR for the
/// SOLICITANTE ones among them, else REABRIR). About 5 % of the tickets wait
/// for the desk (`pendiente_desde`: the requester wrote last, some time in
/// the last 30 days, never before the ticket's creation): a fifth of the
/// assigned ones (4 % of all, every area alike) and half of the paused ones
/// waiting for a third party (1 % of all); never a closed one (closing takes
/// a ticket out of the desk's inbox).
pub(crate) async fn sembrar(pool: &PgPool, n: i64, debidos: i64) -> anyhow::Result<Duration> {
    let inicio = Instant::now();
    let lote = 100_000;
    let mut hecho = 0;
    while hecho < n {
        let hasta = (hecho + lote).min(n);
        sqlx::query(
            "INSERT INTO tickets (uuid, num, label, solicitante_nombre, solicitante_email, tipo, categoria, descripcion, \
             area_asignada, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, fecha_aviso_sla, proxima_alerta_sla, \
             sla_final, creado_en, actualizado_en, cerrado_en, version, espera, espera_hasta, al_vencer, pendiente_desde) \
             SELECT gen_random_uuid(), nextval('ticket_num_seq'), 'TKT-2026-' || lpad(g::text, 7, '0'), 'Usuario ' || g, \
               'u' || g || '@example.com', (ARRAY['PETICION','QUEJA','RECLAMO','SUGERENCIA','INCIDENTE','SOLICITUD','CONSULTA'])[1 + g % 7], \
               'Sistemas', 'Descripción de prueba número ' || g, \
               CASE WHEN g % 10 < 7 AND (g / 10) % 50 = 7 THEN 'COMPRAS' ELSE (ARRAY['MESA','TI','RRHH','FINANZAS'])[1 + g % 4] END, \
               (ARRAY['CRITICA','ALTA','MEDIA','BAJA'])[1 + g % 4], \
               CASE WHEN g % 10 < 6 THEN 'ARCHIVADO' WHEN g % 10 < 7 THEN 'CANCELADO' WHEN g % 10 < 8 THEN 'PAUSADO' ELSE 'ASIGNADO' END, \
               86400000, c + interval '1 day', c + interval '19 hours 12 minutes', \
               CASE WHEN g % 10 >= 8 THEN now() + interval '30 days' END, \
               CASE WHEN g % 10 < 7 THEN 'CUMPLIDO' END, c, c, CASE WHEN g % 10 < 7 THEN c + interval '2 hours' END, 3, \
               CASE WHEN g % 10 = 7 THEN CASE WHEN d < 5 THEN 'SOLICITANTE' WHEN d < 7 THEN 'TERCERO' ELSE 'OTRO' END END, \
               CASE WHEN g % 10 = 7 AND d IN (0, 1, 2, 5, 7) THEN now() + (1 + (g / 100) % 86) * interval '1 day' END, \
               CASE WHEN g % 10 = 7 THEN CASE WHEN d < 2 THEN 'ARCHIVAR' ELSE 'REABRIR' END END, \
               CASE WHEN (g % 10 >= 8 AND d < 2) OR (g % 10 = 7 AND d IN (5, 6) AND (g / 100) % 2 = 0) \
                 THEN greatest(c, now() - ((g * 7919) % 2592000) * interval '1 second') END \
             FROM generate_series($1::bigint, $2::bigint) g, \
               LATERAL (SELECT now() - (g % 525600) * interval '1 minute' AS c, (g / 10) % 10 AS d) t",
        )
        .bind(hecho + 1)
        .bind(hasta)
        .execute(pool)
        .await?;
        hecho = hasta;
    }
    // The due ones: open, never assigned, both clocks (resolution 1 day,
    // first response 1 hour) past their deadlines with no alert sent, so each
    // is owed every threshold and VENCIDO of both metas.
    sqlx::query(
        "UPDATE tickets SET estado = 'NUEVO', creado_en = now() - interval '25 hours', \
         fecha_limite_sla = now() - interval '1 hour', fecha_aviso_sla = now() - interval '13 hours', \
         primera_respuesta_objetivo_ms = 3600000, fecha_limite_primera_respuesta = now() - interval '24 hours', \
         fecha_aviso_primera_respuesta = now() - interval '24 hours 30 minutes', \
         proxima_alerta_sla = now() - interval '24 hours 30 minutes', sla_alerta = NULL \
         WHERE uuid IN (SELECT uuid FROM tickets WHERE estado = 'ASIGNADO' LIMIT $1)",
    )
    .bind(debidos)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE tickets").execute(pool).await?;
    Ok(inicio.elapsed())
}

/// Seeds exactly `n` closed tickets (CANCELADO or ARCHIVADO), every one
/// closed more than 400 days ago, for the retention pass to erase: the
/// spread of `sembrar` (types, areas, priorities; its CANCELADO ones stay
/// CANCELADO, every other ticket was ARCHIVADO), all its clocks and dates a
/// further 401 days back (`sembrar`'s newest is closed 2 hours after now) and nothing left open (no wait, no pending reply,
/// no alert due). So that the erasure of each copy has rows to rewrite, as
/// on a real desk, each ticket gets two history entries (its creation by
/// the requester, its closing by the desk) and one message of the requester.
/// Outbox rows are not seeded: a year-old ticket's events were pruned long
/// ago (`retencion.eventos`). `sembrar` itself is unchanged, so the other
/// measurements seed what they always did.
pub(crate) async fn sembrar_cerrados(pool: &PgPool, n: i64) -> anyhow::Result<Duration> {
    let inicio = Instant::now();
    sembrar(pool, n, 0).await?;
    // Set from the old values throughout (an UPDATE's right-hand sides read
    // the row as it was), so each date keeps its distance to `creado_en`.
    sqlx::query(
        "UPDATE tickets SET estado = CASE WHEN estado = 'CANCELADO' THEN 'CANCELADO' ELSE 'ARCHIVADO' END, \
         creado_en = creado_en - interval '401 days', \
         actualizado_en = creado_en - interval '401 days' + interval '2 hours', \
         cerrado_en = creado_en - interval '401 days' + interval '2 hours', \
         fecha_limite_sla = fecha_limite_sla - interval '401 days', \
         fecha_aviso_sla = fecha_aviso_sla - interval '401 days', \
         proxima_alerta_sla = NULL, sla_final = coalesce(sla_final, 'CUMPLIDO'), \
         espera = NULL, espera_hasta = NULL, al_vencer = NULL, pendiente_desde = NULL",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO historial (ticket_uuid, fecha, accion, actor_nombre, actor_rol, estado_antes, estado_despues) \
         SELECT uuid, creado_en, 'CREACION', solicitante_nombre, 'USUARIO', NULL, 'NUEVO' FROM tickets \
         UNION ALL \
         SELECT uuid, cerrado_en, CASE WHEN estado = 'CANCELADO' THEN 'CANCELACION' ELSE 'ARCHIVO' END, \
           'Agente bench', 'MESA', 'ASIGNADO', estado FROM tickets",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO mensajes (uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto) \
         SELECT gen_random_uuid(), uuid, creado_en + interval '1 hour', solicitante_nombre, 'USUARIO', 'PUBLICO', \
           'Sigue sin funcionar, adjunto más datos.' FROM tickets",
    )
    .execute(pool)
    .await?;
    let cerrados: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE estado IN ('CANCELADO', 'ARCHIVADO') \
         AND cerrado_en < now() - interval '400 days' AND anonimizado_en IS NULL",
    )
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(cerrados == n, "sembrados {cerrados} tickets cerrados hace más de 400 días, no {n}");
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(inicio.elapsed())
}

/// A day-long token of role `rol` for the actor `bench`.
pub(crate) fn token(rol: &str) -> String {
    mesa_kit::token_de("bench", rol, None, 24 * 3600, SECRETO)
}

/// The database's size on disk, in bytes.
pub(crate) async fn tamano_db(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(pool).await?)
}

/// A process a measurement starts: this very binary, re-run as the worker or
/// the gateway (`mesa-bench worker|gateway-proceso`, exactly `mesa-ayuda
/// run|gateway`).
#[derive(Clone, Copy)]
pub(crate) enum Hijo {
    /// `run`.
    Worker,
    /// `gateway`, on this port of 127.0.0.1, no public rate limit.
    Gateway(u16),
    /// The broker-only worker of `carga --eco` (`eco.rs`).
    Eco,
}

/// Starts `hijo` on the environment's database and topology, quiet
/// (`RUST_LOG=warn` unless set): killed if dropped.
pub(crate) fn lanzar(hijo: Hijo, settings: &Settings) -> anyhow::Result<tokio::process::Child> {
    lanzar_con(hijo, settings, &[])
}

/// `lanzar`, with these environment variables on top (`MESA__…` settings a
/// measurement changes for its worker alone); they win over the
/// environment's.
pub(crate) fn lanzar_con(
    hijo: Hijo,
    settings: &Settings,
    variables: &[(String, String)],
) -> anyhow::Result<tokio::process::Child> {
    let exe = std::env::current_exe()?;
    let mut c = tokio::process::Command::new(exe);
    c.env("MESA__DATABASE__URL", settings.database.url.expose_secret())
        .env("MESA__TOPOLOGY__PREFIX", &settings.topology.prefix)
        .env("MESA__AUTH__JWT_SECRET", SECRETO)
        .env("MESA__HTTP__PORT", "0")
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .kill_on_drop(true);
    match hijo {
        Hijo::Worker => c.arg("worker"),
        Hijo::Eco => c.arg("eco-proceso"),
        Hijo::Gateway(puerto) => c
            .arg("gateway-proceso")
            .env("MESA__GATEWAY__HOST", "127.0.0.1")
            .env("MESA__GATEWAY__PORT", puerto.to_string())
            .env("MESA__GATEWAY__LIMITE_PUBLICO", "0"),
    };
    c.envs(variables.iter().map(|(k, v)| (k, v)));
    c.spawn().context("no se pudo iniciar el proceso")
}

/// SIGTERM, then up to 30 s for it to drain and exit.
pub(crate) async fn terminar(h: &mut tokio::process::Child) {
    if let Some(pid) = h.id() {
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), h.wait()).await;
}
