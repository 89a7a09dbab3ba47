//! HTTP basics every service serves: `/healthz`, `/readyz`, `/metrics`,
//! `/api/openapi.json`; request ids, tracing, body limits, timeouts, JSON
//! errors; and a server that shuts down gracefully within a deadline.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderName, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::ToSchema;

use crate::Infra;
use crate::error::ApiError;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The process-wide Prometheus recorder (metrics are process-global by
/// design of the `metrics` crate; `nasvyazi up` serves the same registry on
/// every service's `/metrics`).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                crate::observe::LATENCY_BUCKETS,
            )
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; then ours stays empty.
        let _ = metrics::set_global_recorder(recorder);
        crate::observe::register_all();
        handle
    })
}

/// State of the basic endpoints.
#[derive(Clone)]
pub struct Basics {
    pub infra: Infra,
    /// The service's OpenAPI document, rendered once.
    pub openapi: std::sync::Arc<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: bool,
    pub nats: bool,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: the database and NATS are reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Readiness),
              (status = 503, description = "a dependency is unreachable", body = Readiness)))]
pub async fn readyz(State(b): State<Basics>) -> Response {
    let database = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&b.infra.db),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    let nats = b.infra.nats.connection_state() == async_nats::connection::State::Connected;
    let ok = database && nats;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ok { "ready" } else { "unavailable" },
        database,
        nats,
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics() -> Response {
    let handle = metrics_handle();
    crate::observe::process_collector().collect();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

async fn openapi_json(State(b): State<Basics>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        b.openapi.as_str().to_owned(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// The basic routes, given the service's OpenAPI document.
pub fn basics_router(infra: Infra, openapi: &utoipa::openapi::OpenApi) -> Router {
    metrics_handle();
    let mut openapi = openapi.clone();
    crate::openapi::add_common_responses(&mut openapi);
    let components = openapi
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    for (name, schema) in [
        (
            "ErrorBody",
            <crate::error::ErrorBody as utoipa::PartialSchema>::schema(),
        ),
        (
            "ErrorDetail",
            <crate::error::ErrorDetail as utoipa::PartialSchema>::schema(),
        ),
    ] {
        components.schemas.entry(name.into()).or_insert(schema);
    }
    let state = Basics {
        infra,
        openapi: std::sync::Arc::new(openapi.to_json().expect("OpenAPI renders")),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi_json))
        .with_state(state)
}

/// Wraps a service's router in the common layers: request ids, a trace span
/// per request (method, path, request id; never the body or query), body
/// limit, timeout, panics turned into 500s, and a JSON 404.
pub fn with_layers(router: Router, body_limit: usize, timeout: Duration) -> Router {
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(crate::observe::http_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The route template only: a concrete path or query can carry
                // a token (`/u/{token}`), and tokens stay out of logs.
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "(unmatched)".into());
                tracing::info_span!("http", method = %req.method(), route = %route, request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

/// A NUL character in the path or query (`%00`) can't be stored or looked
/// up in PostgreSQL text and is never meaningful here: 400 before any
/// handler runs.
async fn refuse_nul(req: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    let has_nul = req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().to_ascii_lowercase().contains("%00"));
    if has_nul {
        return ApiError::bad_request("the address may not contain NUL characters").into_response();
    }
    next.run(req).await
}

/// axum's own rejections (a bad path or query value, an unknown method,
/// a body over the limit) answer in plain text; clients get the one JSON
/// error shape instead.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_text = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !is_text {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let message = if status.is_server_error() || text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text.trim().chars().take(300).collect()
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Serves until `shutdown`, then stops accepting and lets in-flight requests
/// finish (the caller bounds the total with its own deadline).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await?;
    Ok(())
}
