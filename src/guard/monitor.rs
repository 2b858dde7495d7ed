//! The metrics listener (`--metrics-listen`): a listener of its own, apart from the API
//! listener, so that scraping never competes with calls for connections and a firewall can
//! treat the two apart. It serves:
//! - `GET /metrics`: the Prometheus text format ([`super::metrics`]); the gauges are read from
//!   the budget's state at each scrape;
//! - `GET /healthz`: `200 {"status":"ok"}` while the guard takes calls and its state can be
//!   read, else `503` with the reason (`stopping`, or the state's error);
//! - `GET /budget/status`: the operator's status ([`super::status`]): every client's figures.
//!
//! `--metrics-token-file` makes `/metrics` and `/budget/status` ask for `Authorization: Bearer
//! TOKEN` (`/healthz` says nothing worth a token). Without a token only a loopback address is
//! accepted (`guard::config`). The listener is meant for a scraper and a dashboard, not for
//! hostile clients: it has no connection cap of its own (put it on loopback or behind the
//! token).
//!
//! This module decides nothing about calls and writes nothing but its replies.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::proxy::{status_response, App};
use super::status::Scope;

/// What the metrics listener serves, for one guard.
#[derive(Clone)]
pub struct Monitor {
    app: Arc<App>,
    token: Option<Arc<str>>,
}

impl Monitor {
    pub(crate) fn new(app: Arc<App>) -> Monitor {
        Monitor { app, token: None }
    }

    /// Asks for `Authorization: Bearer TOKEN` on `/metrics` and `/budget/status`.
    pub fn with_token(mut self, token: Option<String>) -> Monitor {
        self.token = token.map(Arc::from);
        self
    }

    /// The routes, for serving or for driving in tests.
    pub fn router(self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route(super::STATUS_PATH, get(status))
            .with_state(self)
    }

    /// Serves `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let _ = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
    }

    fn allowed(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|presented| super::same_secret(presented.trim(), token))
    }
}

fn unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "this listener needs its token: Authorization: Bearer TOKEN (--metrics-token-file)"})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn metrics(AxumState(monitor): AxumState<Monitor>, headers: HeaderMap) -> Response {
    if !monitor.allowed(&headers) {
        return unauthorized();
    }
    let app = &monitor.app;
    let state = app.state();
    let metrics = &app.ops().metrics;
    let read = async {
        let figures = state.figures().await?;
        let window_used = state.window_used().await?;
        let clients = state.client_figures().await?;
        Ok::<_, super::state::StateError>((figures, window_used, clients))
    };
    // A state that cannot be read (Redis down) leaves the gauges as last read; the counters
    // are this process's and always current.
    let up = match read.await {
        Ok((figures, window_used, clients)) => {
            metrics.set_figures(&figures, state.queued(), window_used);
            for (name, f) in &clients {
                metrics.set_client(name, f);
            }
            true
        }
        Err(_) => false,
    };
    metrics.set_state_up(up);
    let mut response = (StatusCode::OK, metrics.encode()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::metrics::CONTENT_TYPE),
    );
    response
}

async fn healthz(AxumState(monitor): AxumState<Monitor>) -> Response {
    let app = &monitor.app;
    if app.is_stopping() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "stopping"})),
        )
            .into_response();
    }
    match app.state().figures().await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": e.to_string()})),
        )
            .into_response(),
    }
}

async fn status(AxumState(monitor): AxumState<Monitor>, headers: HeaderMap) -> Response {
    if !monitor.allowed(&headers) {
        return unauthorized();
    }
    status_response(monitor.app.status(Scope::All).await)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use crate::account::{ApiKey, AuthMethod, Backoff, KeyOrigin};
    use crate::guard::redis::RedisState;
    use crate::guard::{Backend, Config, Guard, Journal, Ops, State};
    use crate::ledger::redis_server::RedisServer;

    async fn get(router: &axum::Router, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("served");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Invariant: the health check and the metrics say when the budget's state cannot be read
    /// (Redis gone): /healthz 503 with the reason, /metrics still served with state_up 0.
    #[tokio::test]
    async fn a_lost_state_shows_in_health_and_metrics() {
        let server = RedisServer::start();
        let redis = RedisState::connect(&server.url(), "acctm", Duration::from_secs(60))
            .await
            .expect("connect");
        redis.join(1000).await.expect("join");
        let state = std::sync::Arc::new(State::new(
            Backend::Redis(Box::new(redis)),
            10,
            Duration::from_secs(1),
            10,
        ));
        let config = Config {
            api_url: "http://127.0.0.1:9".into(),
            key: ApiKey::new("k3y", KeyOrigin::Env).expect("key"),
            auth: AuthMethod::Header,
            pricing: crate::pricing::Pricing::embedded().expect("pricing"),
            attempts: 1,
            timeout: Duration::from_secs(1),
            backoff: Backoff::default(),
            client_token: None,
            limits: crate::guard::Limits::default(),
            on_overrun: None,
        };
        let guard = Guard::bind_with(
            "127.0.0.1:0".parse().expect("addr"),
            config,
            state,
            std::sync::Arc::new(Journal::in_memory()),
            Ops::default(),
        )
        .await
        .expect("bind");
        let router = guard.monitor().with_token(Some("scrape".into())).router();
        assert_eq!(
            get(&router, "/healthz", None).await,
            (200, r#"{"status":"ok"}"#.to_string())
        );
        let (status, metrics) = get(&router, "/metrics", Some("scrape")).await;
        assert_eq!(status, 200);
        assert!(metrics.contains("\nbudget_guard_state_up 1\n"), "{metrics}");
        assert!(
            metrics.contains("\nbudget_guard_budget_units 1000\n"),
            "{metrics}"
        );
        assert_eq!(get(&router, "/metrics", Some("wrong")).await.0, 401);
        drop(server);
        let (status, health) = get(&router, "/healthz", None).await;
        assert_eq!(status, 503);
        assert!(
            health.contains("the shared state in Redis is unavailable"),
            "{health}"
        );
        let (status, metrics) = get(&router, "/metrics", Some("scrape")).await;
        assert_eq!(status, 200);
        assert!(metrics.contains("\nbudget_guard_state_up 0\n"), "{metrics}");
        // The gauges keep their last values.
        assert!(
            metrics.contains("\nbudget_guard_budget_units 1000\n"),
            "{metrics}"
        );
        let (status, body) = get(&router, "/budget/status", Some("scrape")).await;
        assert_eq!(status, 503, "{body}");
    }
}
