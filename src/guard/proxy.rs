//! The request handler: token, price, reserve, pace, forward with retries, settle, journal line.

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
use super::{
    same_secret, Config, GuardError, Overrun, MAX_REPLY_BYTES, MAX_REQUEST_BYTES, TOKEN_HEADER,
};
use crate::account::{retry_after, AuthMethod};

/// Connection setup to the API.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct App {
    config: Config,
    http: reqwest::Client,
    base: Url,
    /// The API's base URL as messages show it.
    shown: String,
    authorization: HeaderValue,
    /// The key as it may appear in a reply: raw, percent- and form-encoded.
    key_forms: Vec<Vec<u8>>,
    state: Arc<State>,
    journal: Arc<Journal>,
    pub(crate) in_flight: InFlight,
}

/// Calls being handled, so that a stopping guard waits for their journal lines.
#[derive(Clone)]
pub(crate) struct InFlight(Arc<tokio::sync::watch::Sender<usize>>);

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl InFlight {
    fn enter(&self) -> Entered {
        self.0.send_modify(|n| *n += 1);
        Entered(self.clone())
    }

    pub(crate) fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Completes when no call is in flight.
    pub(crate) async fn idle(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// One call in flight; leaves when dropped.
struct Entered(InFlight);

impl Drop for Entered {
    fn drop(&mut self) {
        self.0 .0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl App {
    pub(crate) fn new(
        config: Config,
        state: Arc<State>,
        journal: Arc<Journal>,
    ) -> Result<App, GuardError> {
        // Messages show the URL without its query or credentials, where the key could hide.
        let parsed = Url::parse(config.api_url.trim());
        let url = parsed
            .as_ref()
            .map_or_else(|_| "(unparsable)".to_string(), super::shown_url);
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
        if base.host_str().is_none() {
            return Err(invalid("it has no host"));
        }
        let shown = super::shown_url(&base);
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
        let key_forms = key_forms(config.key.expose());
        Ok(App {
            config,
            http,
            base,
            shown,
            authorization,
            key_forms,
            state,
            journal,
            in_flight: InFlight::default(),
        })
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

/// What the journal line of a call needs, filled in as the call goes.
struct Call {
    method: String,
    endpoint: String,
    targets: u64,
    reserved: u64,
    charged: u64,
    /// Units billed beyond what the call was priced at (charged all the same).
    overrun: u64,
    attempts: u32,
}

async fn handle(AxumState(app): AxumState<Arc<App>>, request: Request) -> Response {
    // The call runs in a task of its own: a client that hangs up drops this handler, but a call
    // already sent to the API (and maybe billed) must still settle and get its journal line.
    let entered = app.in_flight.enter();
    let call = tokio::spawn(async move {
        let _entered = entered;
        app.call(request).await
    });
    match call.await {
        Ok(response) => response,
        Err(_) => envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "the guard failed while handling this call",
        ),
    }
}

impl App {
    /// One call from arrival to journal line.
    async fn call(&self, request: Request) -> Response {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let mut call = Call {
            method: parts.method.to_string(),
            // As the catalogue names it, so refused and charged calls group together.
            endpoint: crate::pricing::normalize_endpoint(parts.uri.path()).to_string(),
            targets: 0,
            reserved: 0,
            charged: 0,
            overrun: 0,
            attempts: 0,
        };
        let (mut response, outcome) = self.process(&parts, body, &mut call).await;
        if let Ok(value) = HeaderValue::from_str(&call.charged.to_string()) {
            response
                .headers_mut()
                .insert("x-budget-units-charged", value);
        }
        self.journal.record(&Entry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            method: call.method,
            endpoint: call.endpoint,
            targets: call.targets,
            status: response.status().as_u16(),
            units_reserved: call.reserved,
            units_charged: call.charged,
            overrun: call.overrun,
            latency_ms: started.elapsed().as_micros() as f64 / 1000.0,
            attempts: call.attempts,
            outcome,
        });
        response
    }
}

/// The API's reply to one attempt.
struct Upstream {
    status: u16,
    content_type: Option<HeaderValue>,
    /// `Retry-After` as sent (passed on to the client) and as a wait.
    retry_after: Option<(HeaderValue, Duration)>,
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
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let call_to_price = price::Call {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &pairs,
            content_type,
            body: &body,
            today: chrono::Utc::now().date_naive(),
        };
        let priced = match price::price(&self.config.pricing, &call_to_price) {
            Ok(priced) => priced,
            Err(e) => {
                let (status, message) = match &e {
                    PriceError::NotApi { .. } => (StatusCode::NOT_FOUND, "Not Found"),
                    PriceError::UnknownEndpoint { .. } => {
                        (StatusCode::BAD_REQUEST, "Unknown endpoint")
                    }
                    PriceError::PriceUnknown { endpoint } => {
                        call.endpoint.clone_from(endpoint);
                        (StatusCode::BAD_REQUEST, "Price unknown")
                    }
                    PriceError::Unreadable { endpoint, .. } => {
                        call.endpoint.clone_from(endpoint);
                        (StatusCode::BAD_REQUEST, "Cannot price this call")
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
                let text = if left < 0 {
                    format!(
                        "this {} call needs {needed} units, and the guard's budget is overdrawn by {} units (calls were billed more than they were priced at); it was not sent to the API",
                        priced.endpoint,
                        left.unsigned_abs()
                    )
                } else {
                    format!(
                        "this {} call needs {needed} units, {left} left of the guard's budget; it was not sent to the API",
                        priced.endpoint
                    )
                };
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
                // What was billed: the records counted in the reply, even beyond what the call
                // was priced at (an overrun is charged, never forgiven), else the price.
                let counted = units_per_row
                    .and_then(|per| price::records_in_reply(&up.body).and_then(|n| n.checked_mul(per)));
                let charged = counted.unwrap_or(hold.units);
                (charged, self.reply(up), Outcome::Charged)
            }
            Ok(up) if up.too_large => (
                0,
                envelope(StatusCode::BAD_GATEWAY, "Bad Gateway", "the API's error reply is too large to pass on"),
                Outcome::Released,
            ),
            Ok(up) => (0, self.reply(up), Outcome::Released),
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
        // Settling is retried (Redis); when it still fails, the hold stays and, once timed out,
        // counts as spent in full: the budget keeps the worst case, and so does the journal.
        call.overrun = charged.saturating_sub(hold.units);
        let settled = self.state.settle(&hold, charged).await;
        call.charged = match settled {
            Ok(()) => charged,
            Err(_) => hold.units,
        };
        if call.overrun > 0 {
            if let Some(warn) = &self.config.on_overrun {
                warn(&Overrun {
                    endpoint: call.endpoint.clone(),
                    priced: hold.units,
                    billed: charged,
                    settled: settled.is_ok(),
                });
            }
        }
        (response, outcome)
    }

    /// The API's reply for the client: status, content type and `Retry-After` as sent, the body
    /// scrubbed of the key (a careless proxy or API may echo the request).
    fn reply(&self, up: Upstream) -> Response {
        let status = StatusCode::from_u16(up.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut response = (status, scrub(up.body, &self.key_forms)).into_response();
        match up.content_type {
            Some(ct) => {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            None => {
                response.headers_mut().remove(header::CONTENT_TYPE);
            }
        }
        if let Some((value, _)) = up.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
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
            // The back-off, or the API's Retry-After when longer; a wait that would pass the
            // call's deadline ends the call with the reply in hand.
            let retry_after = match &result {
                Ok(up) => up.retry_after.as_ref().map(|(_, wait)| *wait),
                Err(_) => None,
            };
            let wait = self
                .config
                .backoff
                .delay(call.attempts)
                .max(retry_after.unwrap_or_default());
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
            retry_after: response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| {
                    let wait = v
                        .to_str()
                        .ok()
                        .and_then(|t| retry_after(t, chrono::Utc::now()))?;
                    Some((HeaderValue::from_bytes(v.as_bytes()).ok()?, wait))
                }),
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
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
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

/// The forms the key may take in a reply: as is, percent-encoded (`%20`, upper- and lower-case
/// hex) and form-encoded (`+`, as the guard sends it with `--auth query`).
fn key_forms(key: &str) -> Vec<Vec<u8>> {
    let encode = |keep: &dyn Fn(u8) -> bool, space_plus: bool, lower: bool| -> Vec<u8> {
        let mut out = Vec::new();
        for &b in key.as_bytes() {
            if keep(b) {
                out.push(b);
            } else if space_plus && b == b' ' {
                out.push(b'+');
            } else if lower {
                out.extend_from_slice(format!("%{b:02x}").as_bytes());
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
        out
    };
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let form = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
    let mut forms = vec![key.as_bytes().to_vec()];
    for form in [
        encode(&unreserved, false, false),
        encode(&unreserved, false, true),
        encode(&form, true, false),
        encode(&form, true, true),
    ] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms.retain(|f| !f.is_empty());
    // Longest first: a form that contains another is replaced whole.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

/// `body` with every occurrence of any of `needles` replaced by `[redacted]`.
fn scrub(body: Vec<u8>, needles: &[Vec<u8>]) -> Vec<u8> {
    let mut starts = [false; 256];
    for n in needles {
        if let Some(&b) = n.first() {
            starts[usize::from(b)] = true;
        }
    }
    let found = |i: usize| {
        if !starts[usize::from(body[i])] {
            return None;
        }
        needles
            .iter()
            .find(|n| body[i..].starts_with(n))
            .map(Vec::len)
    };
    let Some(first) = (0..body.len()).find(|&i| found(i).is_some()) else {
        return body;
    };
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..first]);
    let mut i = first;
    while i < body.len() {
        match found(i) {
            Some(len) => {
                out.extend_from_slice(b"[redacted]");
                i += len;
            }
            None => {
                out.push(body[i]);
                i += 1;
            }
        }
    }
    out
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

    #[track_caller]
    fn scrubbed(body: &str, key: &str, expected: &str) {
        let out = scrub(body.as_bytes().to_vec(), &key_forms(key));
        assert_eq!(String::from_utf8_lossy(&out), expected);
    }

    #[test]
    fn scrub_replaces_the_key_in_every_form() {
        scrubbed(
            "bad Token K1 here K1",
            "K1",
            "bad Token [redacted] here [redacted]",
        );
        scrubbed("clean", "K1", "clean");
        // "k y/+" percent-encoded is k%20y%2F%2B (or lower-case hex), form-encoded k+y%2F%2B.
        scrubbed(
            "raw k y/+ pct k%20y%2F%2B low k%20y%2f%2b form k+y%2F%2B end",
            "k y/+",
            "raw [redacted] pct [redacted] low [redacted] form [redacted] end",
        );
    }
}
