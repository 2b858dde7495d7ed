//! The request handler: token, price, reserve, pace, forward, settle, journal line.
//!
//! Forwarding itself (URL, auth, retries, what a reply means, scrubbing) is the account
//! transport's ([`crate::account::transport`]); this module keeps the guard's pipeline around it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

use super::journal::{Entry, Journal, Outcome};
use super::price::{self, PriceError};
use super::state::{Hold, RateError, State, StateError};
use super::tags::{self, Facts, Tags};
use super::{
    same_secret, Config, GuardError, Overrun, MAX_REPLY_BYTES, MAX_REQUEST_BYTES, TOKEN_HEADER,
};
use crate::account::transport::{self, Policy, SetupError, Transport};

pub(crate) struct App {
    config: Config,
    transport: Transport,
    /// The API's base URL as messages show it.
    shown: String,
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
        let policy = Policy {
            attempts: config.attempts,
            timeout: config.timeout,
            // One attempt may use all the time the call has left.
            attempt_timeout: None,
            backoff: config.backoff,
            body_cap: MAX_REPLY_BYTES,
            // A call sent without a complete reply may have been billed: never sent again.
            retry_lost: false,
            user_agent: concat!("budget-guard/", env!("CARGO_PKG_VERSION")),
        };
        let transport = Transport::new(&config.api_url, config.key.clone(), config.auth, policy)
            .map_err(|e| match e {
                SetupError::Url { url, reason } => GuardError::ApiUrl { url, reason },
                SetupError::KeyNotSendable => GuardError::Client {
                    reason: format!(
                        "the API key from {} cannot be sent in a header",
                        config.key.origin()
                    ),
                },
                SetupError::Client { reason } => GuardError::Client { reason },
            })?;
        Ok(App {
            config,
            shown: transport.shown().to_string(),
            transport,
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
    tags: Tags,
    facts: Facts,
    /// A row endpoint: its 2xx replies' rows are journaled.
    row_endpoint: bool,
    /// Rows in the 2xx reply.
    rows: Option<u64>,
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
            // As the catalogue names it, so refused and charged calls group together; scrubbed,
            // since a client's path goes to the journal and the summary.
            endpoint: self
                .transport
                .scrubber()
                .scrub(crate::pricing::normalize_endpoint(parts.uri.path()))
                .into_owned(),
            targets: 0,
            reserved: 0,
            charged: 0,
            overrun: 0,
            attempts: 0,
            tags: Tags::default(),
            facts: Facts::default(),
            row_endpoint: false,
            rows: None,
        };
        let (response, outcome) = self.process(&parts, body, &mut call).await;
        let mut response = self.scrubbed(response).await;
        if let Ok(value) = HeaderValue::from_str(&call.charged.to_string()) {
            response
                .headers_mut()
                .insert("x-budget-units-charged", value);
        }
        // What a client wrote (tags, the source parameter) is journaled scrubbed, as its path is.
        let scrub =
            |text: Option<String>| text.map(|t| self.transport.scrubber().scrub(&t).into_owned());
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
            workflow: scrub(call.tags.workflow),
            step: scrub(call.tags.step),
            source: scrub(call.facts.source),
            rows: call.rows,
            target_hash: call.facts.target_hash,
            continues: call.facts.continues,
        });
        response
    }
}

/// Marks a response whose body was scrubbed already (the API's replies, in [`App::reply`]).
#[derive(Clone, Copy)]
struct Scrubbed;

/// The guard's own messages are small; one larger than this is replaced, not scrubbed.
const MAX_OWN_MESSAGE: usize = 1 << 20;

impl App {
    /// Every reply leaves the guard scrubbed of the key: the API's (scrubbed and marked in
    /// [`App::reply`]) and the guard's own messages, which may quote a client's path or
    /// parameters.
    async fn scrubbed(&self, response: Response) -> Response {
        if response.extensions().get::<Scrubbed>().is_some() {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_OWN_MESSAGE).await else {
            return envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "the guard's message could not be checked for the key",
            );
        };
        let body = match self.transport.scrubber().scrub_bytes(&bytes) {
            std::borrow::Cow::Borrowed(_) => bytes,
            std::borrow::Cow::Owned(scrubbed) => Bytes::from(scrubbed),
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(body))
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
        // The guard's own tag headers: recorded, never forwarded (see `tags`).
        match tags::read(&parts.headers) {
            Ok(tags) => call.tags = tags,
            Err(e) => {
                let text = format!("{e}; the call was not sent to the API");
                return (
                    envelope(StatusCode::BAD_REQUEST, "Bad Request", &text),
                    Outcome::Rejected,
                );
            }
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
        if let Some(endpoint) = self.config.pricing.endpoint(&priced.endpoint) {
            call.facts = tags::facts(endpoint, &pairs, &body);
            call.row_endpoint = endpoint.record == crate::pricing::RecordKind::Row;
        }
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
                // What was billed: the records counted in the reply (row endpoints: journaled as
                // `rows` too), even beyond what the call was priced at (an overrun is charged,
                // never forgiven), else the price.
                call.rows = call
                    .row_endpoint
                    .then(|| price::records_in_reply(&up.body))
                    .flatten();
                let counted = units_per_row.and_then(|per| {
                    price::records_in_reply(&up.body).and_then(|n| n.checked_mul(per))
                });
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
        let body = match self.transport.scrubber().scrub_bytes(&up.body) {
            std::borrow::Cow::Borrowed(_) => up.body,
            std::borrow::Cow::Owned(scrubbed) => scrubbed,
        };
        let mut response = (status, body).into_response();
        response.extensions_mut().insert(Scrubbed);
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

    /// Sends the call through the transport (its retries, its classifier), each attempt first
    /// taking a slot in the rate window.
    async fn forward(
        &self,
        parts: &axum::http::request::Parts,
        raw_query: &str,
        body: Bytes,
        call: &mut Call,
    ) -> Result<Upstream, Failure> {
        // axum and reqwest share the `http` types (only GET and POST get this far).
        let method = parts.method.clone();
        let headers = [header::CONTENT_TYPE, header::ACCEPT]
            .into_iter()
            .filter_map(|name| Some((name.clone(), parts.headers.get(&name)?.clone())))
            .collect();
        let request = transport::Request {
            method,
            path: parts.uri.path(),
            query: Some(raw_query),
            headers,
            body,
        };
        let exchange = self.transport.send(&request, || self.state.slot()).await;
        call.attempts = exchange.attempts;
        match exchange.result {
            Ok(reply) => Ok(Upstream {
                status: reply.status,
                retry_after: reply
                    .retry_after_wait()
                    .and_then(|wait| Some((reply.retry_after.clone()?, wait))),
                content_type: reply.content_type,
                body: reply.body,
                too_large: reply.too_large,
            }),
            Err(transport::Failure::Hook(e)) => Err(Failure::Rate(e)),
            Err(transport::Failure::NotSent { .. }) => {
                Err(Failure::Unreachable("connection failed".into()))
            }
            Err(transport::Failure::Unsendable { reason }) => Err(Failure::Unreachable(reason)),
            Err(transport::Failure::Lost {
                timed_out: true, ..
            }) => Err(Failure::Unknown("no reply in time".into())),
            Err(transport::Failure::Lost { .. }) => {
                Err(Failure::Unknown("the connection failed mid-call".into()))
            }
        }
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
    form_urlencoded::parse(raw.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
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
            query_pairs("target=a.com&target%5B%5D=b%20c&q=x+y&flag&&100%&bad=%zz"),
            vec![
                ("target".to_string(), "a.com".to_string()),
                ("target[]".to_string(), "b c".to_string()),
                ("q".to_string(), "x y".to_string()),
                ("flag".to_string(), String::new()),
                ("100%".to_string(), String::new()),
                ("bad".to_string(), "%zz".to_string()),
            ]
        );
    }
}
