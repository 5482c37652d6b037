//! `/health`, `/ready` and `/metrics`.

use crate::metrics::{Metricas, Salud};
use crate::store;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the HTTP handlers share (axum state).
#[derive(Clone)]
struct EstadoHttp {
    pool: PgPool,
    salud: Arc<Salud>,
    metricas: Arc<Metricas>,
}

/// Routes of `/health`, `/ready` and `/metrics`.
pub fn router(pool: PgPool, salud: Arc<Salud>, metricas: Arc<Metricas>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"estado": "ok"})) }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(EstadoHttp { pool, salud, metricas })
}

async fn base_de_datos_lista(pool: &PgPool) -> bool {
    matches!(tokio::time::timeout(Duration::from_secs(2), store::ping(pool)).await, Ok(Ok(())))
}

/// Whether the database and both broker sessions are up: (all, database, consumer, relay).
async fn listo(e: &EstadoHttp) -> (bool, bool, bool, bool) {
    let base = base_de_datos_lista(&e.pool).await;
    let consumidor = e.salud.consumidor.load(Ordering::SeqCst);
    let relay = e.salud.relay.load(Ordering::SeqCst);
    (base && consumidor && relay, base, consumidor, relay)
}

async fn ready(State(e): State<EstadoHttp>) -> impl IntoResponse {
    let (listo, base, consumidor, relay) = listo(&e).await;
    let codigo = if listo { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (codigo, Json(json!({"listo": listo, "baseDeDatos": base, "consumidor": consumidor, "relay": relay})))
}

async fn metrics(State(e): State<EstadoHttp>, cabeceras: HeaderMap) -> Response {
    if let Ok(Ok((pendientes, antiguedad))) =
        tokio::time::timeout(Duration::from_secs(2), store::backlog_outbox(&e.pool)).await
    {
        e.metricas.outbox_pendientes.set(pendientes);
        e.metricas.outbox_antiguedad.set(antiguedad);
    }
    e.metricas.listo.set(i64::from(listo(&e).await.0));
    crate::metrics::exposicion::responder(&cabeceras, e.metricas.texto())
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains
/// gracefully; with the gateway's edge limits at their defaults.
pub async fn servir(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    crate::servidor::servir(listener, app, crate::servidor::LimitesHttp::default(), shutdown).await
}
