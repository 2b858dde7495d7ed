//! An in-process simulator of the SE Ranking Data API, for tests.
//!
//! The account endpoints serve both balance pools: `/v1/account/subscription` (the subscription
//! pool, with its status) and `/v1/account/credits` (subscription and wallet, see
//! [`CreditsRoute`] for an API without it); data calls are charged to the subscription first.
//!
//! A real HTTP server (axum) on `127.0.0.1:0`, run by its own tokio runtime on a background
//! thread, so plain synchronous tests can start it, point the `budget` binary at [`Simulator::url`]
//! and read what it received. It must never reach the internet and never sleep longer than a test
//! asks it to.
//!
//! Every route goes through one middleware chain, in this order:
//! 1. count the request (and which auth method it used);
//! 2. a pause until the test releases the request ([`State::paused`]), then a queued or
//!    persistent [`Fault`], if any (slow replies delay, then carry on);
//! 3. authentication: `Authorization: Token KEY` or `?apikey=KEY` (400 "No token" when neither,
//!    [`State::auth_failure_status`] with the vendor's "Authentication failed" text when wrong);
//! 4. the strict rolling window (one second, [`State::rate_window`]) of [`State::rate_limit`]
//!    requests (429 with the vendor's `{"error": {"code": 429, ...}}` envelope beyond it;
//!    rejected requests do not enter the window);
//! 5. the route itself.
//!
//! Extending it: data endpoints (backlinks/summary, all, raw, export ...) are added with
//! [`Simulator::start_with`], which receives the router before the middleware is layered on, so new
//! routes get auth, faults and the rate window for free; they read and charge the balance in the
//! shared [`State`] (see [`State::charge`]).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// The key the simulator accepts unless a test sets another. Distinctive, so tests can prove it
/// never shows up in output.
pub const KEY: &str = "5ec7e7c0-1eak-4b2f-9c3e-d0n7l3akm3e0";

/// The vendor's insufficient-funds text (vendor doc's error table).
pub const INSUFFICIENT_FUNDS: &str = "Insufficient funds, API key is temporarily disabled. Please make a payment to enable you API key or contact us at api@seranking.com.";
/// The vendor's authentication-failure text.
pub const AUTH_FAILED: &str =
    "Authentication failed. Please make sure your API key is valid and active. To get an API key, please contact us at api@seranking.com.";

/// A 502 page as a proxy in front of the API would send it.
pub const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// Which spelling of the expiry key the subscription endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryKey {
    /// `expiration_date`, as the vendor's field table spells it.
    Documented,
    /// `expiraton_date` (sic), as the live API was seen to send it.
    Live,
}

/// How `GET /v1/account/credits` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditsRoute {
    /// Both pools: `totals.subscription.{remaining,total,expire_at}`, `totals.wallet.{remaining}`,
    /// `access.primary_reason` (the shape in the facts file).
    Served,
    /// 404, as an API without the endpoint would.
    NotFound,
    /// The vendor's 400 "The requested resource could not be found.".
    NotFound400,
}

/// The vendor's text for a path it does not serve.
pub const RESOURCE_NOT_FOUND: &str = "The requested resource could not be found.";

/// A failure the simulator answers with instead of the real reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with the vendor's rate-limit envelope.
    TooManyRequests,
    /// 500 with `{"error_description": "Unexpected error. Please try again later."}`.
    Internal,
    /// 503 with `{"message": "Service Unavailable"}`.
    Unavailable,
    /// 502 with an HTML page (as from nginx).
    BadGatewayHtml,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Insufficient funds, with this HTTP status (400, 402 or 403).
    InsufficientFunds { status: u16 },
    /// 403 "License expired".
    LicenseExpired,
    /// Authentication failure, with this HTTP status, whatever key was sent.
    AuthFailed { status: u16 },
    /// 429 with a `Retry-After: SECONDS` header (the vendor sends none; the client must honour one).
    TooManyRequestsRetryAfter { seconds: u64 },
    /// 400 "No token".
    NoToken,
    /// 200 with a 2 MiB body (above the client's cap).
    Oversized,
    /// 400 whose text echoes the request line and the `Authorization` header, key included (a
    /// careless proxy): the client must scrub it.
    EchoKey,
    /// As [`Fault::EchoKey`], but answered 200 (a proxy that echoes into a success reply).
    EchoKeyOk,
    /// Waits this long, then answers normally (or with the next queued fault).
    Slow { delay: Duration },
    /// This status and this body, as given (a JSON text whose escapes the test chose).
    Raw { status: u16, body: String },
}

/// The simulated account and everything the tests set or read. Public fields: tests change them
/// through [`Simulator::set`].
#[derive(Debug)]
pub struct State {
    /// The key that authenticates.
    pub key: String,
    /// The subscription's status (`/v1/account/subscription` only; `/credits` has no status).
    pub status: String,
    /// The subscription pool: what `/subscription` calls `units_left`.
    pub units_left: u64,
    pub units_limit: u64,
    /// The wallet pool (never expires), seen only by `/v1/account/credits`.
    pub wallet_left: u64,
    pub credits: CreditsRoute,
    /// `access.primary_reason`; by default `active_subscription` while the subscription has units
    /// and has not expired, else `active_wallet` when the wallet has some, else `no_credits`.
    pub access_reason: Option<String>,
    pub start_date: String,
    pub expiration_date: String,
    pub expiry_key: ExpiryKey,
    /// Every request waits this long before anything else (slow replies of any kind).
    pub delay: Option<Duration>,
    /// Status for a wrong key (the vendor doc says 400; 401 has been seen).
    pub auth_failure_status: u16,
    /// At most this many accepted requests in any rolling [`State::rate_window`]; `None`: no
    /// limit.
    pub rate_limit: Option<usize>,
    /// The rolling window of `rate_limit`: the vendor's second. In-process tests whose subject
    /// is the window, not its length, use a shorter one on both sides (tests/guard_router.rs).
    pub rate_window: Duration,
    /// When set, every request, once counted, waits for a permit of this semaphore before it is
    /// answered: an API that answers when the test says so (`add_permits`), never on a timer.
    pub paused: Option<Arc<tokio::sync::Semaphore>>,
    /// Faults served one per request, before anything else.
    pub faults: VecDeque<Fault>,
    /// A fault served on every request once `faults` is empty.
    pub always: Option<Fault>,
    /// Requests received, whatever became of them.
    pub requests: u64,
    /// Requests that carried the key in the `Authorization` header / in the `apikey` parameter.
    pub header_auth: u64,
    pub query_auth: u64,
    /// Request paths with their query, `apikey` included (the simulator is the only place it may be).
    pub log: Vec<String>,
    /// Requests answered 429 by the rolling window (not by injected faults).
    pub rate_limited: u64,
    /// When each request with the right key reached the rolling window, in order: the spacing
    /// the API would see (see [`margin`]).
    pub arrivals: Vec<Instant>,
    /// Requests that carried a header of the guard's own (`X-Budget-…`), which must never
    /// reach the API.
    pub budget_headers: u64,
    /// Data endpoints: catalogue, billed units and calls (see `data.rs`).
    pub data: super::data::DataState,
    /// The balance shows charges late, in batches, like the live meter; `None`: at once.
    pub settling: Option<Settling>,
    window: VecDeque<Instant>,
}

impl Default for State {
    fn default() -> Self {
        State {
            key: KEY.to_string(),
            status: "active".into(),
            units_left: 4_975_033,
            units_limit: 5_000_000,
            wallet_left: 0,
            credits: CreditsRoute::Served,
            access_reason: None,
            start_date: "2024-01-18 14:20:02".into(),
            expiration_date: "2099-02-18 14:20:02".into(),
            expiry_key: ExpiryKey::Live,
            delay: None,
            auth_failure_status: 400,
            rate_limit: None,
            rate_window: Duration::from_secs(1),
            paused: None,
            faults: VecDeque::new(),
            always: None,
            requests: 0,
            header_auth: 0,
            query_auth: 0,
            log: Vec::new(),
            rate_limited: 0,
            budget_headers: 0,
            arrivals: Vec::new(),
            data: super::data::DataState::default(),
            settling: None,
            window: VecDeque::new(),
        }
    }
}

impl State {
    /// Queues `n` copies of `fault` (e.g. two 429s before success).
    pub fn fail_next(&mut self, n: usize, fault: Fault) {
        self.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Takes `units` from the balance, as a billed 2xx reply would: the subscription pool first,
    /// then the wallet. When both together are short it charges nothing and returns the fault to
    /// answer with ([`fault_response`]).
    pub fn charge(&mut self, units: u64) -> Result<(), Fault> {
        if units > self.units_left.saturating_add(self.wallet_left) {
            return Err(Fault::InsufficientFunds { status: 400 });
        }
        let from_subscription = units.min(self.units_left);
        self.units_left -= from_subscription;
        self.wallet_left -= units - from_subscription;
        if let Some(settling) = &mut self.settling {
            settling.charged(Instant::now(), units);
        }
        Ok(())
    }

    /// `units_left` as the subscription endpoint shows it at `now`: charges not yet settled are
    /// not taken off.
    pub fn shown_units_left(&self, now: Instant) -> u64 {
        let hidden = self.settling.as_ref().map_or(0, |s| s.hidden(now));
        self.units_left.saturating_add(hidden)
    }

    fn next_fault(&mut self) -> Option<Fault> {
        self.faults.pop_front().or_else(|| self.always.clone())
    }

    /// Admits a request into the rolling window, or says it is over the limit.
    fn admit(&mut self, now: Instant) -> bool {
        let Some(limit) = self.rate_limit else {
            return true;
        };
        let window = self.rate_window;
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.window.pop_front();
        }
        if self.window.len() >= limit {
            return false;
        }
        self.window.push_back(now);
        true
    }
}

/// A meter that settles late: a charge shows in the balance only once `delay` has passed, at the
/// next multiple of `batch` since the meter started (the live balance settles 20–60 s after a
/// call, in batches). Tests use a few hundred milliseconds.
#[derive(Debug, Clone)]
pub struct Settling {
    pub delay: Duration,
    pub batch: Duration,
    started: Instant,
    /// Charges and when they show.
    pending: Vec<(Instant, u64)>,
}

impl Settling {
    pub fn new(delay: Duration, batch: Duration) -> Settling {
        Settling {
            delay,
            batch,
            started: Instant::now(),
            pending: Vec::new(),
        }
    }

    fn charged(&mut self, at: Instant, units: u64) {
        let due = (at + self.delay).duration_since(self.started);
        let batch = self.batch.as_nanos().max(1);
        let batches = due.as_nanos().div_ceil(batch);
        let shows = self.started + Duration::from_nanos((batches * batch) as u64);
        self.pending.push((shows, units));
    }

    /// Units charged that do not show yet.
    fn hidden(&self, now: Instant) -> u64 {
        self.pending
            .iter()
            .filter(|(shows, _)| *shows > now)
            .map(|(_, units)| units)
            .sum()
    }
}

/// The shared state handed to every route and middleware.
pub type Shared = Arc<Mutex<State>>;

/// Locks the state; a test that panicked while holding it must not hide the original failure.
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    url: String,
    addr: SocketAddr,
    state: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Starts the subscription endpoint with the default account.
    pub fn start() -> Simulator {
        Self::start_with(|router| router)
    }

    /// Starts with extra routes: `extend` gets the base router (subscription endpoint included)
    /// before the middleware is applied.
    pub fn start_with(extend: impl FnOnce(Router<Shared>) -> Router<Shared>) -> Simulator {
        let state: Shared = Arc::new(Mutex::new(State::default()));
        let app = extend(base_router())
            .layer(middleware::from_fn_with_state(state.clone(), gatekeeper))
            .with_state(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("simulator runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    result = axum::serve(listener, app) => result.expect("simulator server"),
                    _ = stop => {}
                }
            });
        });
        Simulator {
            url: format!("http://{addr}"),
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (pass as `--api-url` or `SERANKING_API_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the state: `sim.set(|s| s.fail_next(2, Fault::TooManyRequests))`.
    pub fn set(&self, change: impl FnOnce(&mut State)) {
        change(&mut lock(&self.state));
    }

    /// Reads the state: `sim.read(|s| s.units_left)`.
    pub fn read<T>(&self, look: impl FnOnce(&State) -> T) -> T {
        look(&lock(&self.state))
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.read(|s| s.requests)
    }

    pub fn shared(&self) -> Shared {
        self.state.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The routes without middleware: later work adds data endpoints to it.
pub fn base_router() -> Router<Shared> {
    Router::new()
        .route("/v1/account/subscription", get(subscription))
        .route("/v1/account/credits", get(credits))
}

async fn credits(AxumState(state): AxumState<Shared>) -> Response {
    let s = lock(&state);
    match s.credits {
        CreditsRoute::NotFound => return StatusCode::NOT_FOUND.into_response(),
        CreditsRoute::NotFound400 => {
            return error_description(StatusCode::BAD_REQUEST, RESOURCE_NOT_FOUND)
        }
        CreditsRoute::Served => {}
    }
    let expired = chrono::NaiveDateTime::parse_from_str(&s.expiration_date, "%Y-%m-%d %H:%M:%S")
        .is_ok_and(|end| end <= chrono::Utc::now().naive_utc());
    let reason = s.access_reason.clone().unwrap_or_else(|| {
        if s.units_left > 0 && !expired {
            "active_subscription".into()
        } else if s.wallet_left > 0 {
            "active_wallet".into()
        } else {
            "no_credits".into()
        }
    });
    Json(json!({
        "totals": {
            "subscription": {
                "remaining": s.shown_units_left(Instant::now()),
                "total": s.units_limit,
                "expire_at": s.expiration_date,
            },
            "wallet": {"remaining": s.wallet_left},
        },
        "access": {"primary_reason": reason},
    }))
    .into_response()
}

async fn subscription(AxumState(state): AxumState<Shared>) -> Response {
    let s = lock(&state);
    let expiry = match s.expiry_key {
        ExpiryKey::Documented => "expiration_date",
        ExpiryKey::Live => "expiraton_date",
    };
    let mut info = serde_json::Map::new();
    info.insert("status".into(), json!(s.status));
    info.insert("start_date".into(), json!(s.start_date));
    info.insert(expiry.into(), json!(s.expiration_date));
    info.insert("units_limit".into(), json!(s.units_limit));
    info.insert(
        "units_left".into(),
        json!(s.shown_units_left(Instant::now())),
    );
    Json(json!({ "subscription_info": info })).into_response()
}

/// The key a request carried, and how.
fn presented_key(headers: &HeaderMap, query: Option<&str>) -> (Option<String>, Option<String>) {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .map(|k| k.trim().to_string());
    let query = query.and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "apikey")
            .map(|(_, value)| value.to_string())
    });
    (header, query)
}

async fn gatekeeper(AxumState(state): AxumState<Shared>, request: Request, next: Next) -> Response {
    let (header_key, query_key) = presented_key(request.headers(), request.uri().query());
    let echo = format!(
        "bad request {} with {:?}",
        request.uri(),
        request.headers().get(header::AUTHORIZATION)
    );
    let (delay, mut fault, paused) = {
        let mut s = lock(&state);
        s.requests += 1;
        s.header_auth += u64::from(header_key.is_some());
        s.query_auth += u64::from(query_key.is_some());
        s.log.push(request.uri().to_string());
        s.budget_headers += u64::from(
            request
                .headers()
                .keys()
                .any(|name| name.as_str().starts_with("x-budget-")),
        );
        (s.delay, s.next_fault(), s.paused.clone())
    };
    if let Some(paused) = paused {
        if let Ok(permit) = paused.acquire().await {
            permit.forget();
        }
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    while let Some(Fault::Slow { delay }) = fault {
        tokio::time::sleep(delay).await;
        fault = lock(&state).faults.pop_front();
    }
    if let Some(Fault::EchoKey) = fault {
        return error_description(StatusCode::BAD_REQUEST, &echo);
    }
    if let Some(Fault::EchoKeyOk) = fault {
        return (StatusCode::OK, Json(json!({ "echo": echo }))).into_response();
    }
    if let Some(fault) = fault {
        return fault_response(&fault);
    }
    {
        let mut s = lock(&state);
        match header_key.as_deref().or(query_key.as_deref()) {
            None => return error_description(StatusCode::BAD_REQUEST, "No token"),
            Some(key) if key != s.key => {
                let status =
                    StatusCode::from_u16(s.auth_failure_status).unwrap_or(StatusCode::BAD_REQUEST);
                return error_description(status, AUTH_FAILED);
            }
            Some(_) => {}
        }
        let now = Instant::now();
        s.arrivals.push(now);
        if !s.admit(now) {
            s.rate_limited += 1;
            return fault_response(&Fault::TooManyRequests);
        }
    }
    next.run(request).await
}

fn error_description(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "error_description": text }))).into_response()
}

/// The reply a fault stands for.
pub fn fault_response(fault: &Fault) -> Response {
    match fault {
        Fault::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {
                "code": 429,
                "message": "Too Many Requests",
                "description": "The call-rate limit has been reached. Please reduce your request frequency."
            }})),
        )
            .into_response(),
        Fault::Internal => error_description(StatusCode::INTERNAL_SERVER_ERROR, "Unexpected error. Please try again later."),
        Fault::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"message": "Service Unavailable"}))).into_response(),
        Fault::BadGatewayHtml => (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], HTML_502).into_response(),
        Fault::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"subscription_info\": {\"status\": \"active\", \"units_left\": 12",
        )
            .into_response(),
        Fault::InsufficientFunds { status } => {
            error_description(StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST), INSUFFICIENT_FUNDS)
        }
        Fault::LicenseExpired => error_description(StatusCode::FORBIDDEN, "License expired"),
        Fault::AuthFailed { status } => {
            error_description(StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST), AUTH_FAILED)
        }
        Fault::TooManyRequestsRetryAfter { seconds } => {
            let mut response = fault_response(&Fault::TooManyRequests);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.to_string().parse().expect("header value"));
            response
        }
        Fault::NoToken => error_description(StatusCode::BAD_REQUEST, "No token"),
        Fault::Oversized => (StatusCode::OK, "x".repeat(2 << 20)).into_response(),
        // Answered in the middleware, which has the request to echo.
        Fault::EchoKey => error_description(StatusCode::BAD_REQUEST, "bad request"),
        Fault::EchoKeyOk => StatusCode::OK.into_response(),
        Fault::Slow { .. } => StatusCode::OK.into_response(),
        Fault::Raw { status, body } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
    }
}

/// The margin the API's rolling one-second window saw: over every `limit + 1` consecutive
/// `arrivals`, the shortest span minus one second, in milliseconds (negative: `limit + 1`
/// requests arrived within one second). `None` with `limit` arrivals or fewer.
pub fn margin(arrivals: &[Instant], limit: usize) -> Option<f64> {
    margin_within(arrivals, limit, Duration::from_secs(1))
}

/// As [`margin`], for a window of `window` ([`State::rate_window`]).
pub fn margin_within(arrivals: &[Instant], limit: usize, window: Duration) -> Option<f64> {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    sorted
        .windows(limit + 1)
        .map(|w| (w[limit] - w[0]).as_secs_f64() * 1000.0 - window.as_secs_f64() * 1000.0)
        .min_by(f64::total_cmp)
}

/// A bare HTTP/1.0 GET for tests of the simulator itself: `(status, body)`.
pub fn raw_get(addr: SocketAddr, path_and_query: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to simulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut request = format!("GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}
