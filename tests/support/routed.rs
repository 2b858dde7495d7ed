//! The guard in this process: its call handling as a `Router` (`budget::guard::router`), driven
//! with `tower::ServiceExt::oneshot` as axum's testing example does, forwarding to the in-process
//! simulator. No process, no listener: what tests/guard_router.rs checks needs neither (pricing,
//! refusals, tokens, scrubbing, tags, charging, journal lines). What needs a process (signals,
//! exit codes, restarts, the binary's startup text) stays in tests/guard.rs.
//!
//! The guard's wiring here is `guard::start`'s for a `--budget` guard: a state (memory, or Redis
//! joined with the budget), a journal file opened as the binary opens it, the pricing with its
//! overlays. What the binary prints at the end is rendered from the same figures by the same
//! functions ([`Routed::stop`], [`Routed::overrun_warnings`]).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use budget::account::{ApiKey, AuthMethod, Backoff, KeyOrigin};
use budget::guard::journal::Sharing;
use budget::guard::redis::RedisState;
use budget::guard::{Backend, Config, Journal, Limits, MemoryState, Overrun, State};
use budget::pricing::Pricing;
use serde_json::Value;
use tower::ServiceExt;

use super::calls::{Answer, Call};
use super::simulator::KEY;
use super::Scratch;

/// How to set a guard up; [`Setup::start`] builds it. Defaults are the binary's for
/// `budget guard --budget N` (5 attempts, 20 s per call, 10 requests per second, 30 s of wait
/// for the window), with the retry back-off the process tests use (`BUDGET_RETRY_BASE_MS=5`).
pub struct Setup {
    pub api_url: String,
    pub budget: u64,
    pub key: String,
    pub auth: AuthMethod,
    pub attempts: u32,
    pub timeout: Duration,
    pub client_token: Option<String>,
    pub rps: u32,
    /// The rolling window (the binary's: one second plus the 25 ms margin).
    pub window: Duration,
    pub max_wait: Duration,
    pub max_queue: usize,
    pub overlays: Vec<PathBuf>,
    /// Shared state in Redis at this URL (the budget joined, or created when first).
    pub redis: Option<String>,
    /// Serve the dashboard (`/budget/`), rendered by `report::dashboard` as the binary does.
    pub dashboard: bool,
    /// `--admin-token-file`'s token, the approval rules and how long approvals are kept.
    pub admin: Option<(String, budget::guard::admin::Rules, Duration)>,
}

impl Setup {
    pub fn new(api_url: &str, budget: u64) -> Setup {
        Setup {
            api_url: api_url.to_string(),
            budget,
            key: KEY.to_string(),
            auth: AuthMethod::Header,
            attempts: 5,
            timeout: Duration::from_secs(20),
            client_token: None,
            rps: 10,
            window: budget::guard::state::WINDOW,
            max_wait: Duration::from_secs(30),
            max_queue: 1000,
            overlays: Vec::new(),
            redis: None,
            dashboard: false,
            admin: None,
        }
    }

    /// The admin endpoint with `token`, approvals by `rules`, each kept `ttl`.
    pub fn admin(
        mut self,
        token: &str,
        rules: budget::guard::admin::Rules,
        ttl: Duration,
    ) -> Setup {
        self.admin = Some((token.to_string(), rules, ttl));
        self
    }

    pub fn dashboard(mut self) -> Setup {
        self.dashboard = true;
        self
    }

    pub fn attempts(mut self, attempts: u32) -> Setup {
        self.attempts = attempts;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Setup {
        self.timeout = timeout;
        self
    }

    pub fn auth(mut self, auth: AuthMethod) -> Setup {
        self.auth = auth;
        self
    }

    pub fn key(mut self, key: &str) -> Setup {
        self.key = key.to_string();
        self
    }

    pub fn token(mut self, token: &str) -> Setup {
        self.client_token = Some(token.to_string());
        self
    }

    pub fn rate(mut self, rps: u32, window: Duration, max_wait: Duration) -> Setup {
        self.rps = rps;
        self.window = window;
        self.max_wait = max_wait;
        self
    }

    pub fn overlay(mut self, path: &str) -> Setup {
        self.overlays.push(PathBuf::from(path));
        self
    }

    pub fn redis(mut self, url: Option<String>) -> Setup {
        self.redis = url;
        self
    }

    /// The guard, its journal in a scratch directory of its own.
    pub async fn start(self) -> Routed {
        let scratch = Scratch::new();
        let journal_path = scratch.path().join("calls.jsonl");
        let key = ApiKey::new(&self.key, KeyOrigin::Env).expect("key");
        let account = budget::account::account_id(Some(&key));
        let (journal, _history) = Journal::open(
            &journal_path,
            &account,
            chrono::Utc::now(),
            budget::guard::startup::SETTLE_LAG,
            if self.redis.is_some() {
                Sharing::Shared
            } else {
                Sharing::Alone
            },
        )
        .expect("journal");
        let backend = match &self.redis {
            None => Backend::Memory(MemoryState::new(self.budget)),
            Some(url) => {
                let redis = RedisState::connect(url, &account, Duration::from_secs(300))
                    .await
                    .expect("connect to Redis");
                redis.join(self.budget).await.expect("join the budget");
                Backend::Redis(Box::new(redis))
            }
        };
        let state = Arc::new(
            State::new(backend, self.rps, self.max_wait, self.max_queue).with_window(self.window),
        );
        let journal = Arc::new(journal);
        let overruns: Arc<Mutex<Vec<Overrun>>> = Arc::default();
        let heard = overruns.clone();
        let config = Config {
            api_url: self.api_url,
            key,
            auth: self.auth,
            pricing: Pricing::load(None, &self.overlays).expect("pricing"),
            attempts: self.attempts,
            timeout: self.timeout,
            backoff: Backoff {
                base: Duration::from_millis(5),
            },
            client_token: self.client_token,
            limits: Limits::default(),
            on_overrun: Some(Arc::new(move |o: &Overrun| {
                heard.lock().unwrap().push(o.clone())
            })),
        };
        let mut ops = budget::guard::Ops {
            dashboard: self.dashboard.then(|| -> budget::guard::DashboardRenderer {
                Arc::new(|page: &budget::guard::dashboard::Page<'_>| {
                    budget::report::dashboard(page)
                })
            }),
            ..budget::guard::Ops::default()
        };
        if let Some((token, rules, ttl)) = self.admin {
            ops.admin_token = Some(Arc::from(token.as_str()));
            ops.rules = rules;
            ops.approvals = Arc::new(budget::guard::admin::Approvals::new(ttl));
        }
        let router =
            budget::guard::router(config, state.clone(), journal.clone(), ops).expect("the router");
        Routed {
            router,
            state,
            journal,
            journal_path,
            overruns,
            _scratch: scratch,
        }
    }
}

/// A guard in this process.
pub struct Routed {
    router: axum::Router,
    pub state: Arc<State>,
    pub journal: Arc<Journal>,
    pub journal_path: PathBuf,
    overruns: Arc<Mutex<Vec<Overrun>>>,
    _scratch: Scratch,
}

/// What the binary prints on stdout when it stops, and the units left.
pub struct Summary {
    pub stdout: String,
    pub left: Option<i64>,
}

impl Routed {
    /// One call, answered.
    pub async fn send(&self, call: Call) -> Answer {
        self.reply(call).await.0
    }

    /// One call: the answer and the units the guard says it charged (`X-Budget-Units-Charged`).
    pub async fn reply(&self, call: Call) -> (Answer, Option<u64>) {
        self.reply_to(request(&call)).await
    }

    /// A request built by the caller, answered.
    pub async fn send_request(&self, request: Request<Body>) -> Answer {
        self.reply_to(request).await.0
    }

    /// A request built by the caller: the status, the headers and the body.
    pub async fn exchange(&self, request: Request<Body>) -> (u16, axum::http::HeaderMap, String) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        (
            parts.status.as_u16(),
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn reply_to(&self, request: Request<Body>) -> (Answer, Option<u64>) {
        let (status, headers, body) = self.exchange(request).await;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let answer = Answer {
            status,
            body,
            retry_after: header("retry-after"),
        };
        (
            answer,
            header("x-budget-units-charged").and_then(|v| v.parse().ok()),
        )
    }

    /// Each list of calls sent in order by a client of its own, all clients at once; the answers
    /// client by client.
    pub async fn clients(self: &Arc<Self>, clients: Vec<Vec<Call>>) -> Vec<Answer> {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|calls| {
                let guard = self.clone();
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for call in calls {
                        answers.push(guard.send(call).await);
                    }
                    answers
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("client task"));
        }
        all
    }

    /// Every line of the journal.
    pub fn journal_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal_path)
            .expect("journal")
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
            .collect()
    }

    /// The call lines of the journal (those with an `endpoint`).
    pub fn lines(&self) -> Vec<Value> {
        self.journal_lines()
            .into_iter()
            .filter(|l| l.get("endpoint").is_some())
            .collect()
    }

    /// The `refused_summary` lines of the journal.
    pub fn refusal_lines(&self) -> Vec<Value> {
        self.journal_lines()
            .into_iter()
            .filter(|l| l["kind"] == "refused_summary")
            .collect()
    }

    /// Ends as a stopping guard does (`guard::Running::run`): the refusals counted since the last
    /// summary line are written, and the spend is rendered as the binary prints it.
    pub async fn stop(&self) -> Summary {
        self.journal
            .summarise(budget::guard::journal::SUMMARY_EVERY.as_secs());
        let left = self.state.left().await.ok();
        let mut out = Vec::new();
        budget::report::guard_summary(
            &mut out,
            budget::report::Format::Table,
            &self.journal.totals(),
            left,
        )
        .expect("render the summary");
        Summary {
            stdout: String::from_utf8(out).expect("UTF-8"),
            left,
        }
    }

    /// The overrun warnings as the binary prints them on stderr, one per call billed beyond its
    /// price.
    pub fn overrun_warnings(&self) -> String {
        let mut err = Vec::new();
        for overrun in self.overruns.lock().unwrap().iter() {
            budget::report::guard_overrun(&mut err, overrun).expect("render");
        }
        String::from_utf8(err).expect("UTF-8")
    }
}

/// The HTTP request a [`Call`] stands for.
pub fn request(call: &Call) -> Request<Body> {
    let mut builder = Request::builder().uri(call.path.as_str());
    let body = match (&call.post, &call.raw) {
        (_, Some((content_type, bytes))) => {
            builder = builder
                .method("POST")
                .header("content-type", content_type.as_str());
            Body::from(bytes.clone())
        }
        (Some(json), None) => {
            builder = builder
                .method("POST")
                .header("content-type", "application/json");
            Body::from(json.clone())
        }
        (None, None) => Body::empty(),
    };
    for (name, value) in &call.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(body).expect("request")
}

/// Waits (at most 15 s) until `done` holds, polling every 5 ms without blocking the runtime.
#[track_caller]
pub fn until<'a>(
    what: &'a str,
    done: impl Fn() -> bool + 'a,
) -> impl std::future::Future<Output = ()> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what} ({caller})");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
