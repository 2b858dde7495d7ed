//! The guard's own pages on its API listener, apart from the call pipeline (`proxy`): the admin
//! endpoint (`/budget/admin/…`, [`super::admin`]) and the dashboard (`/budget/`,
//! [`super::dashboard`]). Replies are the vendor's envelope (errors) or JSON; the dashboard's
//! HTML is `report`'s, through the renderer in [`super::Ops::dashboard`].

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::admin::{self, DecideError, DecideRequest, RaiseRequest};
use super::dashboard::{self, Page};
use super::journal::{RaiseLine, Refusal};
use super::proxy::{envelope, App};
use super::same_secret;
use super::state::StateError;
use super::status::Scope;

fn admin_unauthorized() -> Response {
    let mut response = envelope(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "the admin endpoint needs the guard's admin token: Authorization: Bearer TOKEN (the guard's --admin-token-file; budget guard-admin --admin-token-file sends it)",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = envelope(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        &format!("this admin path takes {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn bad_request(description: &str) -> Response {
    envelope(StatusCode::BAD_REQUEST, "Bad Request", description)
}

/// A JSON body of at most `max` bytes (`{}` when empty).
async fn json_body<T: serde::de::DeserializeOwned>(body: Body, max: usize) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| {
        envelope(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            &format!("admin requests are at most {max} bytes"),
        )
    })?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        bad_request(&format!(
            "the request body is not what this admin path takes: {e}"
        ))
    })
}

impl App {
    /// `/budget/admin/…`: only with `--admin-token-file`, only with its token.
    pub(crate) async fn admin_reply(
        &self,
        parts: &axum::http::request::Parts,
        body: Body,
    ) -> Response {
        let Some(token) = &self.ops().admin_token else {
            return envelope(
                StatusCode::NOT_FOUND,
                "Not Found",
                "this guard has no admin endpoint: start it with --admin-token-file FILE",
            );
        };
        if !bearer(&parts.headers).is_some_and(|t| same_secret(t, token)) {
            self.events().refused(Refusal::Unauthorized, None, None);
            return admin_unauthorized();
        }
        let rest = parts
            .uri
            .path()
            .strip_prefix(admin::ADMIN_PREFIX)
            .unwrap_or("");
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["raise"] if parts.method == Method::POST => self.raise(body).await,
            ["raise"] => method_not_allowed("POST"),
            ["approvals"] if parts.method == Method::GET => {
                self.sweep_approvals();
                let list = self.ops().approvals.list();
                let mut response = (
                    StatusCode::OK,
                    axum::Json(json!({"approvals": list, "pending": self.ops().approvals.pending()})),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            ["approvals"] => method_not_allowed("GET"),
            ["approvals", id, decision @ ("approve" | "deny")] if parts.method == Method::POST => {
                self.decide(id, *decision == "approve", body).await
            }
            ["approvals", _, "approve" | "deny"] => method_not_allowed("POST"),
            _ => envelope(
                StatusCode::NOT_FOUND,
                "Not Found",
                "the admin endpoint has POST /budget/admin/raise, GET /budget/admin/approvals, POST /budget/admin/approvals/ID/approve and …/deny",
            ),
        }
    }

    async fn raise(&self, body: Body) -> Response {
        let request: RaiseRequest = match json_body(body, admin::MAX_ADMIN_BODY).await {
            Ok(request) => request,
            Err(response) => return response,
        };
        let operator = match admin::operator_name(request.operator.as_deref()) {
            Ok(name) => self.scrubber().scrub(&name).into_owned(),
            Err(reason) => return bad_request(&reason),
        };
        let raise = match admin::raise_of(&request) {
            Ok(raise) => raise,
            Err(reason) => return bad_request(&reason),
        };
        let raised = match self.state().raise(raise).await {
            Ok(raised) => raised,
            Err(e @ StateError::NotARaise { .. }) => {
                return envelope(StatusCode::CONFLICT, "Conflict", &e.to_string())
            }
            Err(e @ StateError::RaiseTooLarge { .. }) => {
                return envelope(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unprocessable Entity",
                    &e.to_string(),
                )
            }
            Err(e) => {
                return envelope(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    &format!("{e}; the budget was not raised"),
                )
            }
        };
        // The state is raised first: a journal line for a raise that did not happen would
        // grant units on restart; a raise the journal missed is lost on restart (said below).
        let journaled = self.journal().raise(&RaiseLine {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            kind: "raise",
            epoch: self.journal().epoch().to_string(),
            by: raised.by(),
            budget_before: raised.before,
            budget_units: raised.after,
            operator: operator.clone(),
        });
        let remaining = self.state().left().await.ok();
        let mut answer = json!({
            "budget_before": raised.before,
            "budget_units": raised.after,
            "by": raised.by(),
            "remaining_units": remaining,
            "operator": operator,
            "journaled": journaled.is_ok(),
        });
        if let Err(e) = journaled {
            answer["warning"] = json!(format!(
                "{e}: the raise holds while this guard runs, but a restart will not keep it"
            ));
        }
        // Calls waiting on the budget are not woken: a refused call is answered at once (402),
        // and its client's retry meets the raised budget.
        self.events().charged().notify_one();
        (StatusCode::OK, axum::Json(answer)).into_response()
    }

    async fn decide(&self, id: &str, approve: bool, body: Body) -> Response {
        let request: DecideRequest = match json_body(body, admin::MAX_ADMIN_BODY).await {
            Ok(request) => request,
            Err(response) => return response,
        };
        let operator = match admin::operator_name(request.operator.as_deref()) {
            Ok(name) => self.scrubber().scrub(&name).into_owned(),
            Err(reason) => return bad_request(&reason),
        };
        self.sweep_approvals();
        match self.ops().approvals.decide(id, approve, &operator) {
            Ok(decided) => {
                let shape = admin::CallShape {
                    fingerprint: [0; 32],
                    units: decided.units,
                    endpoint: &decided.endpoint,
                    method: &decided.method,
                    client: decided.client.as_deref(),
                };
                self.journal_approval(
                    if approve { "approved" } else { "denied" },
                    &decided.id,
                    &shape,
                    decided.reason,
                    Some(&operator),
                );
                (StatusCode::OK, axum::Json(json!({"approval": decided}))).into_response()
            }
            Err(e @ DecideError::NotFound { .. }) => {
                envelope(StatusCode::NOT_FOUND, "Not Found", &e.to_string())
            }
            Err(e @ DecideError::Decided { .. }) => {
                envelope(StatusCode::CONFLICT, "Conflict", &e.to_string())
            }
        }
    }

    /// `/budget/`, `/budget` and `/budget/login` on the API listener.
    pub(crate) async fn dashboard_reply(
        &self,
        parts: &axum::http::request::Parts,
        body: Body,
    ) -> Response {
        let path = parts.uri.path();
        if path == "/budget" {
            return redirect(dashboard::DASHBOARD_PATH, None);
        }
        if path == dashboard::LOGIN_PATH {
            if parts.method != Method::POST {
                return redirect(dashboard::DASHBOARD_PATH, None);
            }
            let Ok(form) = axum::body::to_bytes(body, dashboard::MAX_FORM).await else {
                return bad_request("the sign-in form is too large");
            };
            let token = dashboard::form_token(&form);
            let mut headers = HeaderMap::new();
            if let Some(token) = &token {
                headers.insert(
                    super::TOKEN_HEADER,
                    HeaderValue::from_str(token).unwrap_or(HeaderValue::from_static("-")),
                );
            }
            return match (token, self.caller(&headers)) {
                (Some(token), Ok(_)) if self.has_tokens() => redirect(
                    dashboard::DASHBOARD_PATH,
                    Some(&dashboard::set_cookie(&token)),
                ),
                (_, Ok(_)) if !self.has_tokens() => redirect(dashboard::DASHBOARD_PATH, None),
                _ => {
                    self.events().refused(Refusal::Unauthorized, None, None);
                    self.page(
                        &Page::SignIn {
                            nonce: &dashboard::nonce(),
                            failed: true,
                        },
                        StatusCode::UNAUTHORIZED,
                    )
                }
            };
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return method_not_allowed("GET");
        }
        let client = match self.viewer(&parts.headers) {
            Ok(client) => client,
            Err(()) => {
                return self.page(
                    &Page::SignIn {
                        nonce: &dashboard::nonce(),
                        failed: false,
                    },
                    StatusCode::UNAUTHORIZED,
                )
            }
        };
        let scope = match &client {
            Some(name) => Scope::Client(name),
            None => Scope::All,
        };
        match self.status(scope).await {
            Ok(status) => self.page(
                &Page::Dashboard {
                    status: &status,
                    nonce: &dashboard::nonce(),
                    operator: false,
                    refresh: self.ops().dashboard_refresh,
                },
                StatusCode::OK,
            ),
            Err(e) => envelope(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                &e.to_string(),
            ),
        }
    }

    /// Whether callers of this listener need a token.
    fn has_tokens(&self) -> bool {
        self.ops().clients.is_some() || self.client_token().is_some()
    }

    /// A page of the dashboard with its security headers.
    pub(crate) fn page(&self, page: &Page<'_>, status: StatusCode) -> Response {
        let Some(render) = &self.ops().dashboard else {
            return envelope(StatusCode::NOT_FOUND, "Not Found", "no dashboard");
        };
        let nonce = match page {
            Page::Dashboard { nonce, .. } | Page::SignIn { nonce, .. } => *nonce,
        };
        page_response(render(page), nonce, status)
    }
}

/// The dashboard's HTML with its headers.
pub(crate) fn page_response(html: Vec<u8>, nonce: &str, status: StatusCode) -> Response {
    let mut response = (status, html).into_response();
    for (name, value) in dashboard::headers(nonce) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A 303 to `to`, setting `cookie` when given.
fn redirect(to: &'static str, cookie: Option<&str>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
