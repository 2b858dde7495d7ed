//! The request handler: token, price, reserve, pace, forward, settle, journal line.
//!
//! Forwarding itself (URL, auth, retries, what a reply means, scrubbing) is the account
//! transport's ([`crate::account::transport`]); this module keeps the guard's pipeline around it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::events::{CallEvent, Events};
use super::journal::{Entry, Journal, Outcome, Refusal};
use super::metrics::Retried;
use super::price::{self, PriceError, Priced};
use super::server::{Busy, Limits, Tracked};
use super::state::{Ask, Hold, RateError, State, StateError};
use super::status::Scope;
use super::tags::{self, Facts, Tags};
use super::wording;
use super::{same_secret, Config, GuardError, Ops, Overrun, MAX_REPLY_BYTES, TOKEN_HEADER};
use crate::account::transport::{self, Policy, SetupError, Transport};

pub(crate) struct App {
    config: Config,
    transport: Transport,
    /// The API's base URL as messages show it.
    shown: String,
    state: Arc<State>,
    journal: Arc<Journal>,
    events: Events,
    ops: Ops,
    pub(crate) in_flight: InFlight,
    /// Request bodies held at once, in bytes (`Limits::max_buffered`).
    buffered: Arc<Semaphore>,
    /// Set once the guard stops taking calls.
    stopping: tokio::sync::watch::Sender<bool>,
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
        ops: Ops,
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
            buffered: Arc::new(Semaphore::new(config.limits.max_buffered)),
            config,
            shown: transport.shown().to_string(),
            transport,
            state,
            events: Events::new(journal.clone(), ops.metrics.clone()),
            journal,
            ops,
            in_flight: InFlight::default(),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    pub(crate) fn journal(&self) -> &Journal {
        &self.journal
    }

    pub(crate) fn events(&self) -> &Events {
        &self.events
    }

    pub(crate) fn ops(&self) -> &Ops {
        &self.ops
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Scrubs the key out of text the guard writes (operators' names, clients' tags).
    pub(crate) fn scrubber(&self) -> &crate::account::Scrubber {
        self.transport.scrubber()
    }

    /// `--client-token-file`'s token.
    pub(crate) fn client_token(&self) -> Option<&str> {
        self.config.client_token.as_deref()
    }

    /// Whether the guard has stopped taking calls.
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// The status now, for `scope` ([`super::status`]).
    pub(crate) async fn status(
        &self,
        scope: Scope<'_>,
    ) -> Result<super::status::Status, StateError> {
        let clients: Vec<(String, Option<u32>)> = match &self.ops.clients {
            Some(clients) => clients
                .list
                .iter()
                .map(|c| (c.name.clone(), c.rate.map(|r| r.of(self.state.rps()))))
                .collect(),
            None => Vec::new(),
        };
        let mut fired: std::collections::BTreeSet<u8> = self
            .ops
            .fired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // In Redis mode, thresholds other guards claimed since this guard's checker last
        // looked (it looks after its own charges only) are in Redis: the status says them too.
        fired.extend(
            self.state
                .claimed_alerts(&self.ops.info.epoch, &self.ops.info.thresholds)
                .await?,
        );
        let fired = fired.into_iter().collect();
        let mut status = super::status::read(
            &self.state,
            &self.journal.totals(),
            &self.ops.info,
            fired,
            &clients,
            scope,
        )
        .await?;
        let (units, window) = self.events.burned();
        status.burn = super::status::burn(
            units,
            window,
            status.budget.remaining_units,
            chrono::Utc::now(),
        );
        let only = match scope {
            Scope::All => None,
            Scope::Client(name) => Some(name),
        };
        status.recent_refusals = self.events.refusals(only);
        self.sweep_approvals();
        let list: Vec<super::admin::Approval> = self
            .ops
            .approvals
            .list()
            .into_iter()
            .filter(|a| only.is_none() || a.client.as_deref() == only)
            .collect();
        status.approvals = super::status::ApprovalsStatus {
            approval_above_units: self.ops.rules.above,
            soft_budget_units: self.ops.rules.soft,
            approved_units: if self.ops.rules.soft.is_some() {
                self.state.approved().await?
            } else {
                0
            },
            pending: list
                .iter()
                .filter(|a| a.state == super::admin::Standing::Pending)
                .count(),
            list,
        };
        Ok(status)
    }

    pub(crate) fn limits(&self) -> Limits {
        self.config.limits
    }

    /// Stops taking calls: bodies being read and calls arriving now are refused (503).
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Changes once the guard stops taking calls.
    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }
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
    hold: Option<String>,
    tags: Tags,
    facts: Facts,
    /// A row endpoint: its 2xx replies' rows are journaled.
    row_endpoint: bool,
    /// Rows in the 2xx reply.
    rows: Option<u64>,
    /// Where the price of the call's entry comes from.
    evidence: Option<crate::pricing::Evidence>,
    /// A call billed by the records of its reply: whether they were counted (false: the reply
    /// did not show them, e.g. `output=xml`, and the call was charged its price).
    counted: Option<bool>,
    /// The client it is charged to (`--clients`).
    client: Option<String>,
    /// Shadow mode: enforcement would have refused it for the budget.
    would_refuse: bool,
    /// Why each retried attempt was retried.
    retried: Vec<Retried>,
    /// Time spent in the API's exchanges (attempts and back-off), not the rate window.
    upstream: Duration,
    /// The approval the call asked for, or passed on.
    approval: Option<String>,
    /// Refused until an operator approves it.
    approval_needed: bool,
    /// What the call was priced at.
    priced: u64,
}

/// A request that passed every check before pricing and was priced.
struct Accepted {
    body: Bytes,
    raw_query: String,
    priced: Priced,
    tags: Tags,
    facts: Facts,
    /// A row endpoint: its 2xx replies' rows are journaled.
    row_endpoint: bool,
    /// The client it is charged to (`--clients`).
    client: Option<String>,
    /// Its share of the buffered bytes, given back when the call ends.
    _buffered: Option<OwnedSemaphorePermit>,
}

/// A call the guard does not forward: counted in the journal's summary when refused before
/// pricing (`why`), or journaled as `rejected` when its endpoint is known but the call cannot
/// be priced exactly (`endpoint`: the catalogue's name); answered with `response`.
struct Refused {
    why: Option<Refusal>,
    endpoint: Option<String>,
    tags: Tags,
    client: Option<String>,
    response: Response,
}

fn refused(why: Refusal, status: StatusCode, message: &str, description: &str) -> Refused {
    let mut response = envelope(status, message, description);
    if matches!(why, Refusal::Busy | Refusal::Stopping) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if why == Refusal::Stopping {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Refused {
        why: Some(why),
        endpoint: None,
        tags: Tags::default(),
        client: None,
        response,
    }
}

impl App {
    /// One request from its connection (`busy`: that connection's count of calls in progress).
    pub(crate) async fn handle(
        self: &Arc<Self>,
        request: Request,
        busy: &Arc<AtomicUsize>,
    ) -> hyper::Response<Tracked> {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        if parts.uri.path() == super::STATUS_PATH {
            let response = self.scrubbed(self.status_reply(&parts).await).await;
            return response.map(|inner| Tracked { inner, _busy: None });
        }
        if parts.uri.path().starts_with(super::admin::ADMIN_PREFIX) {
            let response = self.scrubbed(self.admin_reply(&parts, body).await).await;
            return response.map(|inner| Tracked { inner, _busy: None });
        }
        if matches!(
            parts.uri.path(),
            "/budget" | super::dashboard::DASHBOARD_PATH | super::dashboard::LOGIN_PATH
        ) && self.ops.dashboard.is_some()
        {
            let response = self
                .scrubbed(self.dashboard_reply(&parts, body).await)
                .await;
            return response.map(|inner| Tracked { inner, _busy: None });
        }
        let accepted = match self.accept(&parts, body).await {
            Ok(accepted) => accepted,
            Err(refused) => {
                match (refused.why, refused.endpoint) {
                    (Some(why), _) => {
                        self.events
                            .refused(why, refused.client.as_deref(), Some(started.elapsed()))
                    }
                    (None, Some(endpoint)) => self.reject(
                        &parts,
                        endpoint,
                        refused.tags,
                        refused.client,
                        &refused.response,
                        started,
                    ),
                    (None, None) => {}
                }
                let response = self.scrubbed(refused.response).await;
                return response.map(|inner| Tracked { inner, _busy: None });
            }
        };
        // From here the call holds its connection (the cap does not close it) until its reply
        // is written.
        let busy = Busy::enter(busy);
        // The call runs in a task of its own: a client that hangs up drops this future, but a
        // call already sent to the API (and maybe billed) must still settle and get its line.
        let entered = self.in_flight.enter();
        let app = self.clone();
        let call = tokio::spawn(async move {
            let _entered = entered;
            app.call(parts, accepted, started).await
        });
        let response = match call.await {
            Ok(response) => response,
            Err(_) => envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "the guard failed while handling this call",
            ),
        };
        response.map(|inner| Tracked {
            inner,
            _busy: Some(busy),
        })
    }

    /// The checks before pricing (token, method, stopping, body), then the price.
    async fn accept(
        &self,
        parts: &axum::http::request::Parts,
        body: Body,
    ) -> Result<Accepted, Refused> {
        let client = self.caller(&parts.headers).map_err(|()| unauthorized())?;
        // The guard's own tag headers: recorded, never forwarded (see `tags`).
        let tags = tags::read(&parts.headers).map_err(|e| {
            refused(
                Refusal::Malformed,
                StatusCode::BAD_REQUEST,
                "Bad Request",
                &format!("{e}; the call was not sent to the API"),
            )
        })?;
        if *self.stopping.borrow() {
            return Err(stopping_refusal());
        }
        let (body, buffered) = self.read_body(&parts.headers, body).await?;
        let raw_query = parts.uri.query().unwrap_or("").to_string();
        let pairs = query_pairs(&raw_query);
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let call_to_price = price::Call {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &raw_query,
            content_type,
            body: &body,
            today: chrono::Utc::now().date_naive(),
        };
        let priced = price::price(&self.config.pricing, &call_to_price).map_err(|e| {
            let refusal = wording::price_refusal(&e);
            let mut response = envelope(refusal.status, refusal.message, &refusal.description);
            if let Some(allow) = refusal.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            let (why, endpoint) = match e {
                // Not a path of the catalogue: refused before pricing, counted (its path, which
                // a client may vary at will, is never written).
                PriceError::NotApi { .. } => (Some(Refusal::NotApi), None),
                PriceError::UnknownEndpoint { .. } => (Some(Refusal::UnknownEndpoint), None),
                // A path of the catalogue the guard would not forward as sent: journaled as
                // rejected, under the catalogue's name.
                PriceError::MethodNotAllowed { endpoint, .. }
                | PriceError::PriceUnknown { endpoint }
                | PriceError::Unreadable { endpoint, .. }
                | PriceError::Overflow { endpoint, .. } => (None, Some(endpoint)),
            };
            Refused {
                why,
                endpoint,
                tags: tags.clone(),
                client: client.clone(),
                response,
            }
        })?;
        let (facts, row_endpoint) = match self.config.pricing.endpoint(&priced.endpoint) {
            Some(endpoint) => (
                tags::facts(endpoint, &pairs, &body),
                endpoint.record == crate::pricing::RecordKind::Row,
            ),
            None => (Facts::default(), false),
        };
        Ok(Accepted {
            body,
            raw_query,
            priced,
            tags,
            facts,
            row_endpoint,
            client,
            _buffered: buffered,
        })
    }

    /// Who is calling: `Ok(None)` when the guard takes anyone (no token set) or has one token,
    /// `Ok(Some(name))` for a client of `--clients`, `Err` for a missing or wrong token.
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Result<Option<String>, ()> {
        let presented = presented_token(headers);
        match (&self.ops.clients, &self.config.client_token) {
            (Some(clients), _) => clients
                .identify(presented)
                .map(|c| Some(c.name.clone()))
                .ok_or(()),
            (None, Some(token)) => match presented {
                Some(t) if same_secret(t, token) => Ok(None),
                _ => Err(()),
            },
            (None, None) => Ok(None),
        }
    }

    /// Who may read the status and the dashboard: a caller with a token (as [`App::caller`]), or
    /// a browser with the dashboard's cookie made from one (`super::dashboard`).
    pub(crate) fn viewer(&self, headers: &HeaderMap) -> Result<Option<String>, ()> {
        let Some(cookie) = super::dashboard::presented_cookie(headers) else {
            return self.caller(headers);
        };
        if presented_token(headers).is_some() {
            return self.caller(headers);
        }
        match (&self.ops.clients, &self.config.client_token) {
            (Some(clients), _) => clients
                .identify_cookie(cookie)
                .map(|c| Some(c.name.clone()))
                .ok_or(()),
            (None, Some(token)) if same_secret(cookie, &super::dashboard::cookie_value(token)) => {
                Ok(None)
            }
            (None, Some(_)) => Err(()),
            (None, None) => Ok(None),
        }
    }

    /// `GET /budget/status` on the API listener: with tokens, only for a caller with one; a
    /// client of `--clients` sees its own entry among the clients.
    async fn status_reply(&self, parts: &axum::http::request::Parts) -> Response {
        let client = match self.viewer(&parts.headers) {
            Ok(client) => client,
            Err(()) => {
                self.events.refused(Refusal::Unauthorized, None, None);
                return unauthorized().response;
            }
        };
        if parts.method != axum::http::Method::GET {
            let mut response = envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "the guard's status takes GET",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        let scope = match &client {
            Some(name) => Scope::Client(name),
            None => Scope::All,
        };
        status_response(self.status(scope).await)
    }

    /// Reads a request body within the limits: its size (413), its time (408), the bytes all
    /// clients hold at once (503), and the guard stopping (503).
    async fn read_body(
        &self,
        headers: &HeaderMap,
        mut body: Body,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Refused> {
        let limits = self.config.limits;
        let too_large = || {
            refused(
                Refusal::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                &format!(
                    "request bodies above {} KiB are refused (a 10,000-keyword export is about 400 KB)",
                    limits.max_body >> 10
                ),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limits.max_body as u64) {
            return Err(too_large());
        }
        let read = async {
            let mut data = Vec::with_capacity(
                usize::try_from(declared.unwrap_or(0))
                    .unwrap_or(0)
                    .min(limits.max_body),
            );
            let mut held: Option<OwnedSemaphorePermit> = None;
            while let Some(frame) =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
            {
                let Ok(frame) = frame else {
                    return Err(refused(
                        Refusal::Malformed,
                        StatusCode::BAD_REQUEST,
                        "Bad Request",
                        "the request body could not be read",
                    ));
                };
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                if data.len() + chunk.len() > limits.max_body {
                    return Err(too_large());
                }
                let permit = u32::try_from(chunk.len())
                    .ok()
                    .and_then(|n| self.buffered.clone().try_acquire_many_owned(n).ok());
                let Some(permit) = permit else {
                    return Err(refused(
                        Refusal::Busy,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service Unavailable",
                        &format!(
                            "the guard holds {} MiB of request bodies already; try again later",
                            limits.max_buffered >> 20
                        ),
                    ));
                };
                match &mut held {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                }
                data.extend_from_slice(&chunk);
            }
            Ok((Bytes::from(data), held))
        };
        let mut stopping = self.stopping();
        tokio::select! {
            read = tokio::time::timeout(limits.body_timeout, read) => match read {
                Ok(read) => read,
                Err(_) => Err(refused(
                    Refusal::Timeout,
                    StatusCode::REQUEST_TIMEOUT,
                    "Request Timeout",
                    &format!(
                        "the request body did not arrive within {} s",
                        limits.body_timeout.as_secs()
                    ),
                )),
            },
            _ = stopping.wait_for(|stopping| *stopping) => Err(stopping_refusal()),
        }
    }

    /// The journal line of a call rejected at pricing (a catalogue endpoint it cannot price).
    fn reject(
        &self,
        parts: &axum::http::request::Parts,
        endpoint: String,
        tags: Tags,
        client: Option<String>,
        response: &Response,
        started: Instant,
    ) {
        let scrub =
            |text: Option<String>| text.map(|t| self.transport.scrubber().scrub(&t).into_owned());
        let entry = Entry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            method: parts.method.to_string(),
            endpoint,
            targets: 0,
            status: response.status().as_u16(),
            units_reserved: 0,
            units_charged: 0,
            overrun: 0,
            latency_ms: started.elapsed().as_micros() as f64 / 1000.0,
            attempts: 0,
            outcome: Outcome::Rejected,
            workflow: scrub(tags.workflow),
            step: scrub(tags.step),
            source: None,
            rows: None,
            evidence: None,
            counted: None,
            target_hash: None,
            continues: false,
            hold: None,
            client,
            would_refuse: false,
            approval: None,
            approval_needed: false,
        };
        self.events.call(CallEvent {
            entry: &entry,
            added: started.elapsed(),
            retried: &[],
            refused_units: 0,
        });
    }

    /// One priced call from reservation to journal line.
    async fn call(
        &self,
        parts: axum::http::request::Parts,
        accepted: Accepted,
        started: Instant,
    ) -> Response {
        let mut call = Call {
            method: parts.method.to_string(),
            endpoint: accepted.priced.endpoint.clone(),
            targets: accepted.priced.targets,
            reserved: 0,
            charged: 0,
            overrun: 0,
            attempts: 0,
            hold: None,
            tags: accepted.tags.clone(),
            facts: accepted.facts.clone(),
            row_endpoint: accepted.row_endpoint,
            rows: None,
            evidence: Some(accepted.priced.evidence),
            counted: None,
            client: accepted.client.clone(),
            would_refuse: false,
            retried: Vec::new(),
            upstream: Duration::ZERO,
            approval: None,
            approval_needed: false,
            priced: accepted.priced.units,
        };
        let (response, outcome) = self.process(&parts, accepted, &mut call).await;
        let mut response = self.scrubbed(response).await;
        if let Ok(value) = HeaderValue::from_str(&call.charged.to_string()) {
            response
                .headers_mut()
                .insert("x-budget-units-charged", value);
        }
        // What a client wrote (tags, the source parameter) is journaled scrubbed, as its path is.
        let scrub =
            |text: Option<String>| text.map(|t| self.transport.scrubber().scrub(&t).into_owned());
        let latency = started.elapsed();
        let entry = Entry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            method: call.method,
            endpoint: call.endpoint,
            targets: call.targets,
            status: response.status().as_u16(),
            units_reserved: call.reserved,
            units_charged: call.charged,
            overrun: call.overrun,
            latency_ms: latency.as_micros() as f64 / 1000.0,
            attempts: call.attempts,
            outcome,
            workflow: scrub(call.tags.workflow),
            step: scrub(call.tags.step),
            source: scrub(call.facts.source),
            rows: call.rows,
            evidence: call.evidence,
            counted: call.counted,
            target_hash: call.facts.target_hash,
            continues: call.facts.continues,
            hold: call.hold,
            client: call.client,
            would_refuse: call.would_refuse,
            approval: call.approval,
            approval_needed: call.approval_needed,
        };
        self.events.call(CallEvent {
            entry: &entry,
            added: latency.saturating_sub(call.upstream),
            retried: &call.retried,
            refused_units: call.priced,
        });
        response
    }
}

fn unauthorized() -> Refused {
    refused(
        Refusal::Unauthorized,
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "this guard needs its client token: send it in the X-Budget-Token header, or as Authorization: Bearer TOKEN (or Token TOKEN)",
    )
}

/// A status as JSON, or 503 when the budget's state cannot be read.
pub(crate) fn status_response(status: Result<super::status::Status, StateError>) -> Response {
    match status {
        Ok(status) => {
            let mut response = (StatusCode::OK, axum::Json(status)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => unavailable(&e.to_string()),
    }
}

fn stopping_refusal() -> Refused {
    refused(
        Refusal::Stopping,
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "the guard is stopping and takes no new calls",
    )
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
        accepted: Accepted,
        call: &mut Call,
    ) -> (Response, Outcome) {
        let Accepted {
            body,
            raw_query,
            priced,
            ..
        } = accepted;
        // Approvals (docs/guard.md "Raise and approve"): a call an operator approved passes the
        // rules once; one that needs an approval is refused until it has one. Shadow mode asks
        // none (it refuses nothing for the budget).
        let rules = self.ops.rules;
        let asks = rules.any() && !self.ops.shadow;
        let fingerprint = super::admin::fingerprint(
            call.client.as_deref(),
            parts.method.as_str(),
            parts.uri.path(),
            &query_pairs(&raw_query),
            &body,
        );
        let grant = if asks {
            self.ops.approvals.granted(&fingerprint, priced.units)
        } else {
            None
        };
        if asks && grant.is_none() && rules.above.is_some_and(|above| priced.units > above) {
            return self.needs_approval(
                call,
                fingerprint,
                priced.units,
                super::admin::Reason::Above,
                None,
            );
        }
        call.approval = grant.clone();
        let ask = Ask {
            units: priced.units,
            client: call.client.as_deref(),
            shadow: self.ops.shadow,
            soft: if asks || self.ops.shadow {
                rules.soft
            } else {
                None
            },
            approved: grant.is_some(),
        };
        let reserved = self.state.reserve(ask).await;
        if let (Some(id), Err(_)) = (&grant, &reserved) {
            self.ops.approvals.finish(id, false);
        }
        let hold = match reserved {
            Ok(reserved) => {
                call.would_refuse = reserved.would_refuse.is_some();
                reserved.hold
            }
            Err(StateError::SoftLimit {
                needed,
                used,
                limit,
            }) => {
                return self.needs_approval(
                    call,
                    fingerprint,
                    priced.units,
                    super::admin::Reason::SoftBudget,
                    Some((needed, used, limit)),
                );
            }
            Err(StateError::ClientExceeded {
                client,
                needed,
                left,
                budget,
            }) => {
                let fit = self.fit(&priced, left);
                let text = wording::over_client_budget(
                    &priced.endpoint,
                    &client,
                    needed,
                    left,
                    budget,
                    &fit,
                );
                return (
                    envelope(StatusCode::PAYMENT_REQUIRED, "Budget exceeded", &text),
                    Outcome::OverBudget,
                );
            }
            Err(StateError::Exceeded { needed, left }) => {
                let fit = self.fit(&priced, left);
                let text = wording::over_budget(&priced.endpoint, needed, left, &fit);
                return (
                    envelope(StatusCode::PAYMENT_REQUIRED, "Budget exceeded", &text),
                    Outcome::OverBudget,
                );
            }
            Err(e) => return (unavailable(&e.to_string()), Outcome::Failed),
        };
        call.reserved = hold.units;
        // On record before it is sent: a guard killed mid-call counts it as spent on restart.
        match self
            .journal
            .hold_approved(hold.units, hold.client.as_deref(), grant.is_some())
        {
            Ok(id) => call.hold = id,
            Err(e) => {
                let _ = self.state.release(&hold).await;
                if let Some(id) = &grant {
                    self.ops.approvals.finish(id, false);
                }
                return (
                    unavailable(&format!(
                        "{e}; a call the journal cannot record is not sent to the API"
                    )),
                    Outcome::Failed,
                );
            }
        }
        let result = self.forward(parts, &raw_query, body, call).await;
        let finished = self.finish(hold, priced.units_per_row, result, call).await;
        if let Some(id) = &grant {
            // Charged — a 2xx, or a call the API may have billed (no complete reply: charged
            // its worst case) — the approval is used up; else (released) it stands for a retry.
            self.ops
                .approvals
                .finish(id, finished.1 == Outcome::Charged || call.charged > 0);
        }
        finished
    }

    /// The 402 of a call that needs an operator's approval (or 503 when too many wait), and
    /// the journal line of a new request. `soft`: the soft limit's figures when that is why.
    fn needs_approval(
        &self,
        call: &mut Call,
        fingerprint: [u8; 32],
        units: u64,
        reason: super::admin::Reason,
        soft: Option<(u64, i64, u64)>,
    ) -> (Response, Outcome) {
        use super::admin::Asked;
        self.sweep_approvals();
        let shape = super::admin::CallShape {
            fingerprint,
            units,
            endpoint: &call.endpoint,
            method: &call.method,
            client: call.client.as_deref(),
        };
        let asked = self.ops.approvals.ask(&shape, reason);
        let (id, text, needed) = match asked {
            Asked::Full => {
                return (
                    unavailable(&wording::approvals_full(super::admin::MAX_APPROVALS)),
                    Outcome::Failed,
                )
            }
            Asked::Denied { id } => {
                let text = wording::approval_denied(&call.endpoint, &id);
                (id, text, false)
            }
            Asked::Granted { id } => {
                // Approved between the two looks: it stands for the retry.
                self.ops.approvals.finish(&id, false);
                let text =
                    wording::approval_needed(&call.endpoint, units, &id, self.ops.rules, soft);
                (id, text, true)
            }
            Asked::Pending { id, new } => {
                if new {
                    self.journal_approval("requested", &id, &shape, reason, None);
                }
                let text =
                    wording::approval_needed(&call.endpoint, units, &id, self.ops.rules, soft);
                (id, text, true)
            }
        };
        call.approval = Some(id.clone());
        call.approval_needed = needed;
        let body = json!({"error": {
            "code": 402,
            "message": if needed { "Approval needed" } else { "Approval denied" },
            "description": text,
            "source": wording::SOURCE,
            "approval_needed": needed,
            "approval_id": id,
            "units": units,
        }});
        (
            (StatusCode::PAYMENT_REQUIRED, axum::Json(body)).into_response(),
            Outcome::OverBudget,
        )
    }

    /// Journals one step of an approval.
    pub(crate) fn journal_approval(
        &self,
        event: &'static str,
        id: &str,
        shape: &super::admin::CallShape<'_>,
        reason: super::admin::Reason,
        operator: Option<&str>,
    ) {
        let _ = self.journal.approval(&super::journal::ApprovalLine {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            kind: "approval",
            epoch: self.journal.epoch().to_string(),
            event,
            id: id.to_string(),
            units: shape.units,
            endpoint: shape.endpoint.to_string(),
            method: shape.method.to_string(),
            reason,
            client: shape.client.map(str::to_string),
            operator: operator.map(|o| self.transport.scrubber().scrub(o).into_owned()),
        });
    }

    /// Drops approvals past their time and journals those that were pending or approved as
    /// expired (the server calls it every few seconds too).
    pub(crate) fn sweep_approvals(&self) {
        for a in self.ops.approvals.sweep() {
            let shape = super::admin::CallShape {
                fingerprint: [0; 32],
                units: a.units,
                endpoint: &a.endpoint,
                method: &a.method,
                client: a.client.as_deref(),
            };
            self.journal_approval("expired", &a.id, &shape, a.reason, a.operator.as_deref());
        }
    }

    /// What still fits `left` units of this call's endpoint (for the 402's words).
    fn fit(&self, priced: &Priced, left: i64) -> price::Fit {
        match self.config.pricing.endpoint(&priced.endpoint) {
            Some(endpoint) => {
                price::largest_fit(endpoint, priced, u64::try_from(left).unwrap_or(0))
            }
            None => price::Fit::Nothing {
                smallest: priced.units,
            },
        }
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
                // A reply whose records cannot be counted (XML, or no one list of them) is
                // charged its price, and the journal says so.
                call.counted = units_per_row.map(|_| counted.is_some());
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
        // axum and reqwest share the `http` types (only methods the catalogue lists get this far).
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
        // Time waiting for the rate window, to tell the API's time from the guard's.
        let waited = std::sync::Mutex::new(Duration::ZERO);
        let client = call.client.clone();
        let exchange = self
            .transport
            .send(&request, || async {
                let asked = Instant::now();
                let slot = self.state.slot_for(client.as_deref()).await;
                *waited.lock().unwrap_or_else(|p| p.into_inner()) += asked.elapsed();
                slot
            })
            .await;
        call.attempts = exchange.attempts;
        call.retried = exchange.retried.clone();
        call.upstream = exchange
            .elapsed
            .saturating_sub(*waited.lock().unwrap_or_else(|p| p.into_inner()));
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

/// The client's token: `X-Budget-Token: T`, else `Authorization: Bearer T`, else
/// `Authorization: Token T` — the header SE Ranking's MCP server sends its `DATA_API_TOKEN` in,
/// so a guard with a client token can serve it (docs/agents.md).
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(TOKEN_HEADER) {
        return value.to_str().ok().map(str::trim);
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("Token "))
        .map(str::trim)
}

/// Decoded `name=value` pairs of a query (`+` is a space, `%XX` a byte).
pub(crate) fn query_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// An error of the guard's own in the vendor's envelope, `{"error": {"code", "message",
/// "description"}}`, marked `"source": "budget-guard"` so that no client takes it for the API's.
pub(crate) fn envelope(status: StatusCode, message: &str, description: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "description": description, "source": wording::SOURCE}});
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
