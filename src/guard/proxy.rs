//! The request handler: token, price, reserve, pace, forward with retries, settle, ledger line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use reqwest::Url;
use serde_json::json;

use super::journal::{Entry, Journal, Outcome};
use super::price::{self, PriceError};
use super::state::{Hold, RateError, State, StateError};
use super::{same_secret, Config, GuardError, MAX_REPLY_BYTES, MAX_REQUEST_BYTES, TOKEN_HEADER};
use crate::account::AuthMethod;

/// Connection setup to the API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct App {
    config: Config,
    http: reqwest::Client,
    base: Url,
    /// The API's base URL as messages show it.
    shown: String,
    authorization: HeaderValue,
    state: Arc<State>,
    journal: Arc<Journal>,
}

impl App {
    pub(crate) fn new(
        config: Config,
        state: Arc<State>,
        journal: Arc<Journal>,
    ) -> Result<App, GuardError> {
        // Messages show the URL without its query or credentials, where the key could hide.
        let parsed = Url::parse(config.api_url.trim());
        let url = match &parsed {
            Ok(u) => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => "(unparsable)".to_string(),
        };
        let invalid = |reason: &str| GuardError::ApiUrl {
            url: url.clone(),
            reason: reason.to_string(),
        };
        let base = parsed.map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("only http and https are supported"));
        }
        if base.query().is_some() || !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(
                "it carries a query or credentials; the key goes in SERANKING_API_KEY or --api-key-file",
            ));
        }
        let host = base.host_str().ok_or_else(|| invalid("it has no host"))?;
        let shown = format!(
            "{}://{}{}",
            base.scheme(),
            host,
            base.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let mut authorization = HeaderValue::from_str(&format!("Token {}", config.key.expose()))
            .map_err(|_| GuardError::Client {
                reason: format!(
                    "the API key from {} cannot be sent in a header",
                    config.key.origin()
                ),
            })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("budget-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| GuardError::Client {
                reason: "the TLS setup failed".into(),
            })?;
        Ok(App {
            config,
            http,
            base,
            shown,
            authorization,
            state,
            journal,
        })
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

/// What the ledger line of a call needs, filled in as the call goes.
struct Call {
    method: String,
    endpoint: String,
    targets: u64,
    reserved: u64,
    charged: u64,
    attempts: u32,
}

async fn handle(AxumState(app): AxumState<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut call = Call {
        method: parts.method.to_string(),
        endpoint: parts.uri.path().to_string(),
        targets: 0,
        reserved: 0,
        charged: 0,
        attempts: 0,
    };
    let (response, outcome) = app.process(&parts, body, &mut call).await;
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&call.charged.to_string()) {
        response
            .headers_mut()
            .insert("x-budget-units-charged", value);
    }
    app.journal.record(&Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        method: call.method,
        endpoint: call.endpoint,
        targets: call.targets,
        status: response.status().as_u16(),
        units_reserved: call.reserved,
        units_charged: call.charged,
        latency_ms: started.elapsed().as_micros() as f64 / 1000.0,
        attempts: call.attempts,
        outcome,
    });
    response
}

/// The API's reply to one attempt.
struct Upstream {
    status: u16,
    content_type: Option<HeaderValue>,
    body: Vec<u8>,
    too_large: bool,
}

/// Why forwarding gave up without a reply to pass on.
enum Failure {
    Rate(RateError),
    /// Never reached the API (connection refused, DNS …): nothing can have been billed.
    Unreachable(String),
    /// Sent, but no complete reply (timeout, connection lost): it may have been billed.
    Unknown(String),
}

impl App {
    async fn process(
        &self,
        parts: &axum::http::request::Parts,
        body: Body,
        call: &mut Call,
    ) -> (Response, Outcome) {
        if let Some(token) = &self.config.client_token {
            if !presented_token(&parts.headers).is_some_and(|t| same_secret(t, token)) {
                return (
                    envelope(
                        StatusCode::UNAUTHORIZED,
                        "Unauthorized",
                        "this guard needs its client token: send it in the X-Budget-Token header or as Authorization: Bearer TOKEN",
                    ),
                    Outcome::Unauthorized,
                );
            }
        }
        if parts.method != Method::GET && parts.method != Method::POST {
            return (
                envelope(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method Not Allowed",
                    "the guard forwards GET and POST calls only",
                ),
                Outcome::Rejected,
            );
        }
        let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
            return (
                envelope(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Payload Too Large",
                    &format!(
                        "request bodies above {} MiB are refused",
                        MAX_REQUEST_BYTES >> 20
                    ),
                ),
                Outcome::Rejected,
            );
        };
        let raw_query = parts.uri.query().unwrap_or("");
        let pairs = query_pairs(raw_query);
        let priced = match price::price(&self.config.pricing, parts.uri.path(), &pairs, Some(&body))
        {
            Ok(priced) => priced,
            Err(e) => {
                let (status, message) = match e {
                    PriceError::NotApi { .. } => (StatusCode::NOT_FOUND, "Not Found"),
                    PriceError::UnknownEndpoint { .. } => {
                        (StatusCode::BAD_REQUEST, "Unknown endpoint")
                    }
                    PriceError::Overflow { .. } => (StatusCode::BAD_REQUEST, "Bad Request"),
                };
                return (envelope(status, message, &e.to_string()), Outcome::Rejected);
            }
        };
        call.endpoint = priced.endpoint.clone();
        call.targets = priced.targets;
        let hold = match self.state.try_reserve(priced.units).await {
            Ok(hold) => hold,
            Err(StateError::Exceeded { needed, left }) => {
                let text = format!(
                    "this {} call needs {needed} units, {left} left of the guard's budget; it was not sent to the API",
                    priced.endpoint
                );
                return (
                    envelope(StatusCode::PAYMENT_REQUIRED, "Budget exceeded", &text),
                    Outcome::OverBudget,
                );
            }
            Err(e) => return (unavailable(&e.to_string()), Outcome::Failed),
        };
        call.reserved = hold.units;
        let result = self.forward(parts, raw_query, body, call).await;
        self.finish(hold, priced.units_per_row, result, call).await
    }

    /// Settles or releases the hold and builds the client's reply.
    async fn finish(
        &self,
        hold: Hold,
        units_per_row: Option<u64>,
        result: Result<Upstream, Failure>,
        call: &mut Call,
    ) -> (Response, Outcome) {
        let key = self.config.key.expose();
        let (charged, response, outcome) = match result {
            Ok(up) if (200..300).contains(&up.status) && up.too_large => (
                hold.units,
                envelope(
                    StatusCode::BAD_GATEWAY,
                    "Bad Gateway",
                    &format!(
                        "the API's reply is larger than {} MiB; it was charged its worst case",
                        MAX_REPLY_BYTES >> 20
                    ),
                ),
                Outcome::Failed,
            ),
            Ok(up) if (200..300).contains(&up.status) => {
                let counted = units_per_row
                    .and_then(|per| price::records_in_reply(&up.body).and_then(|n| n.checked_mul(per)));
                let charged = counted.map_or(hold.units, |c| c.min(hold.units));
                (charged, reply(up.status, up.content_type, up.body), Outcome::Charged)
            }
            Ok(up) if up.too_large => (
                0,
                envelope(StatusCode::BAD_GATEWAY, "Bad Gateway", "the API's error reply is too large to pass on"),
                Outcome::Released,
            ),
            Ok(up) => (
                0,
                reply(up.status, up.content_type, scrub(up.body, key)),
                Outcome::Released,
            ),
            Err(Failure::Rate(e)) => {
                let mut response = unavailable(&e.to_string());
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                (0, response, Outcome::RateQueue)
            }
            Err(Failure::Unreachable(reason)) => (
                0,
                envelope(
                    StatusCode::BAD_GATEWAY,
                    "Bad Gateway",
                    &format!(
                        "the guard could not reach the API at {}: {reason} ({} attempts)",
                        self.shown, call.attempts
                    ),
                ),
                Outcome::Failed,
            ),
            Err(Failure::Unknown(reason)) => (
                hold.units,
                envelope(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Gateway Timeout",
                    &format!(
                        "no complete reply from the API at {}: {reason}; the API may have billed the call, so it was charged its worst case and not retried",
                        self.shown
                    ),
                ),
                Outcome::Failed,
            ),
        };
        let settled = if charged > 0 {
            self.state.settle(&hold, charged).await
        } else {
            self.state.release(&hold).await
        };
        call.charged = charged;
        match settled {
            Ok(()) => (response, outcome),
            // The reply is still the client's; the shared state will reap the hold.
            Err(_) => (response, outcome),
        }
    }

    /// Sends the call, retrying 429/5xx and connection failures with back-off and full jitter,
    /// each attempt taking a slot in the rate window.
    async fn forward(
        &self,
        parts: &axum::http::request::Parts,
        raw_query: &str,
        body: Bytes,
        call: &mut Call,
    ) -> Result<Upstream, Failure> {
        let url = self.upstream_url(parts.uri.path(), raw_query);
        // The time limit starts with the first attempt: waiting for the rate window is bounded
        // by --max-wait on its own.
        let mut deadline: Option<Instant> = None;
        let mut last: Option<Result<Upstream, Failure>> = None;
        loop {
            self.state.slot().await.map_err(Failure::Rate)?;
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.config.timeout);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                if let Some(last) = last {
                    return last;
                }
            }
            call.attempts += 1;
            let attempt =
                tokio::time::timeout(remaining, self.attempt(parts, &url, body.clone())).await;
            let result = match attempt {
                Err(_) => return Err(Failure::Unknown("no reply in time".into())),
                Ok(Err(e)) if e.is_connect() => {
                    Err(Failure::Unreachable("connection failed".into()))
                }
                Ok(Err(e)) if e.is_timeout() => {
                    return Err(Failure::Unknown("no reply in time".into()))
                }
                Ok(Err(_)) => {
                    return Err(Failure::Unknown("the connection failed mid-call".into()))
                }
                Ok(Ok(up)) if matches!(up.status, 429 | 500 | 502 | 503 | 504) => Ok(up),
                Ok(Ok(up)) => return Ok(up),
            };
            let wait = self.config.backoff.delay(call.attempts);
            if call.attempts >= self.config.attempts.max(1) || Instant::now() + wait >= deadline {
                return result;
            }
            last = Some(result);
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        parts: &axum::http::request::Parts,
        url: &Url,
        body: Bytes,
    ) -> Result<Upstream, reqwest::Error> {
        let method = if parts.method == Method::POST {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let mut request = self.http.request(method, url.clone());
        for name in [header::CONTENT_TYPE, header::ACCEPT] {
            if let Some(value) = parts.headers.get(&name) {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        if self.config.auth == AuthMethod::Header {
            request = request.header(header::AUTHORIZATION.as_str(), self.authorization.clone());
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let mut response = request.send().await?;
        let mut up = Upstream {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()),
            body: Vec::new(),
            too_large: response
                .content_length()
                .is_some_and(|n| n > MAX_REPLY_BYTES as u64),
        };
        while !up.too_large {
            let Some(chunk) = response.chunk().await? else {
                break;
            };
            if up.body.len() + chunk.len() > MAX_REPLY_BYTES {
                up.too_large = true;
            } else {
                up.body.extend_from_slice(&chunk);
            }
        }
        Ok(up)
    }

    /// The API URL of a call: the client's path and query (any `apikey` removed), plus the key
    /// when it goes in the query.
    fn upstream_url(&self, path: &str, raw_query: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}{}",
            self.base.path().trim_end_matches('/'),
            path
        ));
        let kept: Vec<&str> = raw_query
            .split('&')
            .filter(|segment| !segment.is_empty())
            .filter(|segment| {
                let name = segment.split('=').next().unwrap_or("");
                !decode(name).eq_ignore_ascii_case("apikey")
            })
            .collect();
        url.set_query((!kept.is_empty()).then(|| kept.join("&")).as_deref());
        if self.config.auth == AuthMethod::Query {
            url.query_pairs_mut()
                .append_pair("apikey", self.config.key.expose());
        }
        url
    }
}

/// The client's token: `X-Budget-Token: T`, else `Authorization: Bearer T`.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(TOKEN_HEADER) {
        return value.to_str().ok().map(str::trim);
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Decoded `name=value` pairs of a query (`+` is a space, `%XX` a byte).
pub(crate) fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `body` with every occurrence of `key` replaced (a careless proxy may echo the request).
fn scrub(body: Vec<u8>, key: &str) -> Vec<u8> {
    let needle = key.as_bytes();
    if needle.is_empty() || !body.windows(needle.len()).any(|w| w == needle) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(needle) {
            out.extend_from_slice(b"[redacted]");
            i += needle.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

fn reply(status: u16, content_type: Option<HeaderValue>, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, body).into_response();
    match content_type {
        Some(ct) => {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        None => {
            response.headers_mut().remove(header::CONTENT_TYPE);
        }
    }
    response
}

/// An error in the vendor's envelope: `{"error": {"code", "message", "description"}}`.
fn envelope(status: StatusCode, message: &str, description: &str) -> Response {
    let body =
        json!({"error": {"code": status.as_u16(), "message": message, "description": description}});
    (status, axum::Json(body)).into_response()
}

fn unavailable(description: &str) -> Response {
    envelope(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        description,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            query_pairs("target=a.com&target%5B%5D=b%20c&q=x+y&flag"),
            vec![
                ("target".to_string(), "a.com".to_string()),
                ("target[]".to_string(), "b c".to_string()),
                ("q".to_string(), "x y".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }

    #[test]
    fn scrub_replaces_the_key() {
        assert_eq!(
            scrub(b"bad Token K1 here K1".to_vec(), "K1"),
            b"bad Token [redacted] here [redacted]".to_vec()
        );
        assert_eq!(scrub(b"clean".to_vec(), "K1"), b"clean".to_vec());
    }
}
