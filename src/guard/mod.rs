//! `budget guard`: a local proxy for the SE Ranking Data API that holds a unit budget and the
//! rate limit at run time, so a misbehaving job can neither overspend nor cause 429 storms.
//!
//! Jobs send `/v1/...` calls to the guard instead of the API. For each call the guard: checks the
//! client token (when one is set), prices the call's worst case with the pricing catalogue
//! ([`price`]), reserves those units ([`state`]; 402 when they don't fit, without contacting the
//! API), waits for a slot in the rolling one-second window, forwards the call with the key
//! (through the account transport, `crate::account::transport`, which retries and classifies
//! replies as it does for every call to the API), then settles the reservation: a 2xx is
//! charged what it billed (rows counted in the reply for row endpoints, even beyond the price:
//! an [`Overrun`], which may take the budget below zero; else the price), anything else is
//! released. Every call becomes a journal line ([`journal`]), with the workflow and step the
//! client tagged it with (`X-Budget-Workflow`, `X-Budget-Step`: read by [`tags`], never
//! forwarded). A call the guard cannot price exactly is refused before anything is reserved or
//! forwarded ([`price`]).
//!
//! Each call runs in a task of its own, so a client that hangs up mid-call cannot stop it from
//! being settled and recorded; a stopping guard waits for those tasks ([`Guard::serve`]).
//!
//! The key is added to upstream requests only; it is never logged, put in the journal, or sent
//! back to clients (every reply body goes through the account's scrubber). This module renders
//! nothing: startup and summary output belong to `report`, orchestration to `commands::guard`.

pub mod admin;
pub mod admin_client;
pub mod alerts;
pub mod clients;
pub mod config;
pub mod dashboard;
pub mod events;
pub mod history;
pub mod hold;
pub mod journal;
#[cfg(test)]
mod laws;
pub mod metrics;
pub mod monitor;
pub mod price;
mod proxy;
pub mod redis;
mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod status;
pub mod tags;
pub mod wording;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::account::{ApiKey, AuthMethod, Backoff};
use crate::pricing::Pricing;

pub use history::{History, PastBudget};
pub use journal::{EndpointTotals, Entry, Journal, Outcome, Refusal, Totals};
pub use server::{Limits, Served};
pub use startup::{start, BudgetNotApplied, Running, Signals, Start, Startup, Stopped};
pub use state::{Backend, MemoryState, State};

/// The guard's own status endpoint, on its listener ([`status`]).
pub const STATUS_PATH: &str = "/budget/status";
/// Header a client may send its guard token in (or `Authorization: Bearer TOKEN`).
pub const TOKEN_HEADER: &str = "x-budget-token";
/// Largest API reply the guard buffers (it must read a reply whole to count its rows).
pub const MAX_REPLY_BYTES: usize = 256 << 20;

/// Everything the proxy needs besides its state.
pub struct Config {
    /// Base URL of the API (paths `/v1/...` are appended).
    pub api_url: String,
    pub key: ApiKey,
    pub auth: AuthMethod,
    pub pricing: Pricing,
    /// Upstream attempts per call, the first included.
    pub attempts: u32,
    /// Time for one call upstream, retries included (rate waits not included).
    pub timeout: Duration,
    pub backoff: Backoff,
    /// When set, every client must present this token.
    pub client_token: Option<String>,
    /// Connections, time and memory the server may use ([`server`]).
    pub limits: Limits,
    /// Told about every call billed beyond its price (the guard renders nothing itself).
    pub on_overrun: Option<OverrunHook>,
}

/// What a guard runs with besides [`Config`]: the operations side (docs/guard.md "Running
/// the guard for others"). `Ops::default()` is a guard in enforce mode with one client (or none), fresh
/// metrics and no alerts.
#[derive(Clone, Default)]
pub struct Ops {
    /// `--shadow`: price, pace and record every call, never refuse one for the budget.
    pub shadow: bool,
    /// `--clients`: who may call, charged to which budget.
    pub clients: Option<Arc<clients::Clients>>,
    pub metrics: Arc<metrics::Metrics>,
    /// What the status endpoint says of the budget besides the state's figures.
    pub info: status::Info,
    /// Alert thresholds claimed for this budget, in percent (shared with the alerts' task).
    pub fired: Arc<std::sync::Mutex<std::collections::BTreeSet<u8>>>,
    /// `--admin-token-file`: the token of the admin endpoint (`/budget/admin/…`); without
    /// one the endpoint does not exist ([`admin`]).
    pub admin_token: Option<Arc<str>>,
    /// `--approval-above`, `--soft-budget`: which calls need an operator's approval.
    pub rules: admin::Rules,
    /// The approvals asked for and given ([`admin::Approvals`]).
    pub approvals: Arc<admin::Approvals>,
    /// Renders the dashboard (`GET /budget/`): `report`'s, handed in by `commands` (the guard
    /// renders nothing itself). Without one the dashboard is not served.
    pub dashboard: Option<DashboardRenderer>,
    /// `--dashboard-refresh`: how often the dashboard's script refreshes its figures.
    pub dashboard_refresh: dashboard::Refresh,
}

/// Renders the dashboard's page from a status (see `crate::report::dashboard`).
pub type DashboardRenderer = Arc<dyn Fn(&dashboard::Page<'_>) -> Vec<u8> + Send + Sync>;

/// Receives [`Overrun`]s as they happen.
pub type OverrunHook = Arc<dyn Fn(&Overrun) + Send + Sync>;

/// A call whose 2xx reply held more records than the call was priced at: the difference is
/// charged to the budget (which may go below zero) and journaled as `overrun`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    pub endpoint: String,
    /// Units the call was priced (and held) at.
    pub priced: u64,
    /// Units its reply shows were billed.
    pub billed: u64,
    /// Whether the budget was charged the whole bill (false: the shared state could not be
    /// reached, and only the held units stay charged).
    pub settled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The API listener (`--listen`) or the metrics listener (`--metrics-listen`) cannot bind:
    /// the guard's own work failed (exit 5), not a flag's spelling.
    #[error("cannot listen on {addr}: {reason}; pick another {flag} address or port")]
    Listen {
        flag: &'static str,
        addr: SocketAddr,
        reason: String,
    },
    #[error("--api-url {url} is not a usable URL: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("the guard stopped with an error: {reason}")]
    Serve { reason: String },
    #[error("cannot set up the HTTP client: {reason}")]
    Client { reason: String },
    /// A flag the user must fix.
    #[error("{flag}: {reason}")]
    Setting { flag: &'static str, reason: String },
    /// Several flags to fix, one line each.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Settings { problems: Vec<GuardError> },
    /// Redis has no shared budget and this guard's journal shows it spent before: creating one
    /// from `--budget` would grant spent units again (see `startup`).
    #[error("the shared budget {key} is not in Redis (Redis lost its data, or the key was deleted), but the journal {} shows this guard spending from a budget of this account since {started} ({spent} units by this guard; guards elsewhere may have spent more): creating it again from --budget would grant spent units a second time. Start from the live balance (drop --budget), or pass --new-budget once with --budget set to what is really left", journal.display())]
    SharedBudgetGone {
        key: String,
        journal: std::path::PathBuf,
        started: String,
        spent: u64,
    },
    /// Redis has no shared budget and this guard has no journal to tell a first start from a
    /// restart after Redis lost its data.
    #[error("the shared budget {key} is not in Redis, and without --journal this guard cannot tell a first start from a restart after Redis lost its data (which would grant spent units again): pass --journal FILE (a first start then creates it), --new-budget (once, by hand: not in a unit that restarts), or start from the live balance (drop --budget)")]
    SharedBudgetUnknown { key: String },
    /// The budget or the rate window cannot be kept (Redis unreachable at start).
    #[error(transparent)]
    State {
        #[from]
        source: state::StateError,
    },
    #[error(transparent)]
    Journal {
        #[from]
        source: journal::JournalError,
    },
    /// The live balance could not be read.
    #[error(transparent)]
    Account {
        #[from]
        source: crate::account::AccountError,
    },
    /// The reservation ledger (other jobs' holds) is unusable.
    #[error(transparent)]
    Ledger {
        #[from]
        source: crate::ledger::LedgerError,
    },
}

/// The guard's handling of calls as an axum [`Router`](axum::Router): token, price, reserve,
/// pace, forward, settle, journal line, for every method and path (one handler, so that the
/// guard's own refusals are the answer to any path, never the router's). It is the pipeline
/// [`Guard`] serves, without the server around it: no listener, connection cap, head or body
/// timers of the connection, or stopping (`server`). For callers in this process, such as tests
/// driving it with `tower::ServiceExt::oneshot` (tests/guard_router.rs), as axum's own testing
/// example does; each request counts as a connection of its own.
pub fn router(
    config: Config,
    state: Arc<State>,
    journal: Arc<Journal>,
    ops: Ops,
) -> Result<axum::Router, GuardError> {
    let app = Arc::new(proxy::App::new(config, state, journal, ops)?);
    Ok(
        axum::Router::new().fallback(move |request: axum::extract::Request| {
            let app = app.clone();
            async move {
                let connection = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                app.handle(request, &connection)
                    .await
                    .map(axum::body::Body::new)
            }
        }),
    )
}

/// A bound guard, not yet serving.
pub struct Guard {
    listener: tokio::net::TcpListener,
    app: Arc<proxy::App>,
}

impl Guard {
    /// Binds `listen` and prepares the proxy.
    pub async fn bind(
        listen: SocketAddr,
        config: Config,
        state: Arc<State>,
        journal: Arc<Journal>,
    ) -> Result<Guard, GuardError> {
        Guard::bind_with(listen, config, state, journal, Ops::default()).await
    }

    /// As [`Guard::bind`], with the operations side ([`Ops`]).
    pub async fn bind_with(
        listen: SocketAddr,
        config: Config,
        state: Arc<State>,
        journal: Arc<Journal>,
        ops: Ops,
    ) -> Result<Guard, GuardError> {
        let app = Arc::new(proxy::App::new(config, state, journal, ops)?);
        let listener =
            tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| GuardError::Listen {
                    flag: "--listen",
                    addr: listen,
                    reason: crate::io_reason(&e),
                })?;
        Ok(Guard { listener, app })
    }

    /// The address actually bound (the port when `:0` was asked).
    pub fn local_addr(&self) -> Result<SocketAddr, GuardError> {
        self.listener.local_addr().map_err(|e| GuardError::Serve {
            reason: crate::io_reason(&e),
        })
    }

    /// Notified after each call that charged units (the alerts' checker waits on it).
    pub fn charged(&self) -> Arc<tokio::sync::Notify> {
        self.app.events().charged()
    }

    /// What the metrics listener serves ([`monitor`]).
    pub fn monitor(&self) -> monitor::Monitor {
        monitor::Monitor::new(self.app.clone())
    }

    /// The calls being handled now.
    pub fn in_flight(&self) -> InFlight {
        InFlight(self.app.in_flight.clone())
    }

    /// Serves until `shutdown` completes, then stops taking calls and lets calls in flight
    /// finish (those whose client hung up included: they still settle and get their journal
    /// line) within the grace period ([`Limits::grace`]); see [`server`].
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Served {
        let limits = self.app.limits();
        server::serve(self.listener, self.app, limits, shutdown).await
    }
}

/// The calls a guard is handling.
#[derive(Clone)]
pub struct InFlight(proxy::InFlight);

impl InFlight {
    pub fn count(&self) -> usize {
        self.0.count()
    }
}

/// How long a call may hold a reservation before it counts as spent: the longest a call can
/// take. Each upstream attempt may wait `max_wait` for the rate window plus a Redis round trip
/// (an answer and a reconnect, each up to [`redis::REDIS_TIMEOUT`]); all attempts, their back-off
/// and `Retry-After` waits share `timeout`; settling takes up to [`redis::SETTLE_TRIES`] tries;
/// plus a minute of margin.
pub fn hold_ttl(attempts: u32, max_wait: Duration, timeout: Duration) -> Duration {
    let round_trip = redis::REDIS_TIMEOUT.saturating_mul(2);
    let per_attempt = max_wait.saturating_add(round_trip);
    let settle = round_trip
        .saturating_add(Duration::from_millis(100))
        .saturating_mul(redis::SETTLE_TRIES);
    per_attempt
        .saturating_mul(attempts.max(1))
        .saturating_add(timeout)
        .saturating_add(settle)
        .saturating_add(Duration::from_secs(60))
}

/// A URL for people: scheme, host, port and path; never a query or credentials.
pub use crate::account::shown_url;

/// The client token in `path` (`--client-token-file`): read bounded (4 KiB, regular files only)
/// and normalised as the API key is (byte order mark and surrounding whitespace dropped; one line
/// of printable ASCII, which is all a header can carry).
pub fn client_token(path: &std::path::Path) -> Result<String, GuardError> {
    use crate::files::{self, FileKind};
    let setting = |reason: String| GuardError::Setting {
        flag: "--client-token-file",
        reason,
    };
    let bytes = files::read(path, FileKind::TokenFile).map_err(|e| setting(e.to_string()))?;
    crate::account::normalise(&bytes).map_err(|problem| {
        let hint = match problem {
            crate::account::SecretProblem::Empty => "put the token clients must send in it",
            _ => "it must hold the token clients send, on one line",
        };
        setting(format!(
            "the token file {} {}; {hint}",
            path.display(),
            problem.what()
        ))
    })
}

/// Whether two secrets are equal, in time independent of where they differ (both are hashed
/// first, so their lengths leak nothing either).
pub fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_outlive_the_longest_call() {
        // 5 attempts × (30 s wait + 10 s Redis) = 200 s, + 20 s timeout, + 3 × 10.1 s settle
        // = 30.3 s, + 60 s margin = 310.3 s.
        assert_eq!(
            hold_ttl(5, Duration::from_secs(30), Duration::from_secs(20)),
            Duration::from_millis(310_300)
        );
        // 1 attempt, no wait: 10 + 2 + 30.3 + 60 = 102.3 s.
        assert_eq!(
            hold_ttl(1, Duration::ZERO, Duration::from_secs(2)),
            Duration::from_millis(102_300)
        );
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("tok-123", "tok-123"));
        assert!(!same_secret("tok-123", "tok-124"));
        assert!(!same_secret("tok-123", "tok-1234"));
        assert!(!same_secret("", "x"));
    }

    #[test]
    fn client_tokens_are_read_bounded_and_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "\u{FEFF}tok-123\r\n").unwrap();
        assert_eq!(client_token(&path).unwrap(), "tok-123");
        for (text, phrase) in [
            ("\n", "is empty; put the token clients must send in it"),
            ("tok 123", "contains spaces, line breaks or tabs"),
        ] {
            std::fs::write(&path, text).unwrap();
            let message = client_token(&path).unwrap_err().to_string();
            assert!(
                message.starts_with("--client-token-file: the token file "),
                "{message}"
            );
            assert!(message.contains(phrase), "{message}");
        }
        let message = client_token(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("is a directory, not a regular file"),
            "{message}"
        );
    }
}
