//! The metrics listener (`--metrics-listen`): a listener of its own, apart from the API
//! listener, so that scraping never competes with calls for connections and a firewall can
//! treat the two apart. It serves:
//! - `GET /metrics`: the Prometheus text format ([`super::metrics`]); the gauges are read from
//!   the budget's state at each scrape;
//! - `GET /healthz`: `200 {"status":"ok"}` while the guard takes calls and its state can be
//!   read, else `503` with the reason (`stopping`, or the state's error);
//! - `GET /budget/status`: the operator's status ([`super::status`]): every client's figures;
//! - `GET /budget/`: the operator's dashboard (every client), `POST /budget/login` its sign-in
//!   with the metrics token (`super::dashboard`).
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
            .route(super::dashboard::DASHBOARD_PATH, get(dashboard))
            .route(super::dashboard::LOGIN_PATH, axum::routing::post(login))
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

    /// A scraper: the token in `Authorization: Bearer`.
    fn scraper(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|presented| super::same_secret(presented.trim(), token))
    }

    /// A scraper, or a browser signed in to the dashboard.
    fn allowed(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|presented| super::same_secret(presented.trim(), token));
        // A browser signed in to the dashboard (`super::dashboard`): the cookie opens the
        // status and the dashboard, not `/metrics`.
        bearer
            || super::dashboard::presented_cookie(headers).is_some_and(|cookie| {
                super::same_secret(cookie, &super::dashboard::cookie_value(token))
            })
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
    if !monitor.scraper(&headers) {
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

/// `GET /budget/`: the operator's dashboard (every client), or the sign-in form.
async fn dashboard(AxumState(monitor): AxumState<Monitor>, headers: HeaderMap) -> Response {
    use super::dashboard::{nonce, Page};
    let app = &monitor.app;
    let Some(render) = &app.ops().dashboard else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let nonce = nonce();
    if !monitor.allowed(&headers) {
        let page = Page::SignIn {
            nonce: &nonce,
            failed: false,
        };
        return super::routes::page_response(render(&page), &nonce, StatusCode::UNAUTHORIZED);
    }
    match app.status(Scope::All).await {
        Ok(status) => {
            let page = Page::Dashboard {
                status: &status,
                nonce: &nonce,
                operator: true,
                refresh: app.ops().dashboard_refresh,
            };
            super::routes::page_response(render(&page), &nonce, StatusCode::OK)
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `POST /budget/login`: the metrics token from the sign-in form, exchanged for the cookie.
async fn login(AxumState(monitor): AxumState<Monitor>, body: axum::body::Bytes) -> Response {
    use super::dashboard::{form_token, nonce, set_cookie, Page, DASHBOARD_PATH, MAX_FORM};
    let see_dashboard = |cookie: Option<String>| {
        let mut response = StatusCode::SEE_OTHER.into_response();
        response
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static(DASHBOARD_PATH));
        if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    };
    let Some(token) = &monitor.token else {
        return see_dashboard(None);
    };
    let presented = (body.len() <= MAX_FORM)
        .then(|| form_token(&body))
        .flatten();
    match presented {
        Some(p) if super::same_secret(&p, token) => see_dashboard(Some(set_cookie(token))),
        _ => {
            let Some(render) = &monitor.app.ops().dashboard else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let nonce = nonce();
            let page = Page::SignIn {
                nonce: &nonce,
                failed: true,
            };
            super::routes::page_response(render(&page), &nonce, StatusCode::UNAUTHORIZED)
        }
    }
}

async fn status(AxumState(monitor): AxumState<Monitor>, headers: HeaderMap) -> Response {
    if !monitor.allowed(&headers) {
        return unauthorized();
    }
    status_response(monitor.app.status(Scope::All).await)
}
