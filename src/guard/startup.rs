//! Starting and stopping a guard: the budget policy (what a start may spend, and whether it may
//! create a budget at all), the state, the journal's budget line, the hold in the reservation
//! ledger, serving until the signals say stop.
//!
//! **What a start may spend** (docs/guard.md "What survives what"):
//! - in this process, with `--journal`: the journal is the record ([`super::history`]). A start
//!   that finds this account's budget in it *continues* it: `--budget` minus what was spent
//!   under it (holds of calls that never ended count in full). Without history, or with
//!   `--new-budget`, a fresh budget (a new epoch) starts. Without `--journal` nothing survives
//!   the process: the startup text says so;
//! - in Redis: the shared budget is the record while Redis keeps it. A guard joins the one it
//!   finds. When there is none it creates it only when it can tell that this is a first start:
//!   from the live balance (which shows what was spent), or from `--budget` with a journal that
//!   holds no budget of this account; or when told to (`--new-budget`, which also replaces an
//!   existing one). Otherwise (Redis lost its data, and this guard's journal shows it spent
//!   before, or it has no journal) it refuses to start: other guards' spend is in no record it
//!   can read;
//! - from the live balance: `units_left` − `--reserve` − what gates and other guards hold − what
//!   this guard's journal shows was charged (or held by calls that never ended) in the last
//!   [`SETTLE_LAG`] plus `--timeout` (the API's balance shows a call 20–60 s after it).
//!
//! This module renders nothing: the facts go to `report` through [`Startup`] and [`Stopped`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::config::{BudgetRule, Settings};
use super::history::{History, PastBudget};
use super::hold::{LedgerHold, Releasing};
use super::journal::{new_id, BudgetLine, Journal, Totals};
use super::redis::{Joined, RedisState};
use super::server::Limits;
use super::state::{Backend, ClientBudget, MemoryState, State};
use super::{Config, Guard, GuardError};
use crate::account::{self, ApiKey, AuthMethod, Backoff};
use crate::estimate::Pools;
use crate::ledger::{Claim, HolderKind, Ledger, Warn};
use crate::pricing::Pricing;
use crate::workflow::Reserve;

/// How long after a call the API's balance may not show it yet (the vendor settles 20–60 s
/// late, in batches; twice that).
pub const SETTLE_LAG: Duration = Duration::from_secs(120);

/// What a start needs besides the settings.
pub struct Start {
    pub settings: Settings,
    pub api_url: String,
    pub key: ApiKey,
    pub auth: AuthMethod,
    pub pricing: Pricing,
    pub backoff: Backoff,
    /// The reservation ledger the guard holds its budget in (see `super::hold`).
    pub ledger: Box<dyn Ledger>,
    pub warn: Warn,
    /// Told about every call billed beyond its price.
    pub on_overrun: Option<super::OverrunHook>,
    /// Renders the dashboard (`report`'s); without one `/budget/` is not served.
    pub dashboard: Option<super::DashboardRenderer>,
}

/// Where the figure a guard spends from comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetOrigin {
    /// `--budget`, less what was spent under it before this start.
    Flag { budget: u64, spent: u64 },
    /// The live balance.
    Live {
        units_left: u64,
        /// The subscription's and the wallet's credits, when the wallet holds some.
        wallet: Option<(u64, u64)>,
        reserve: Option<Reserve>,
        /// Units the reserve keeps.
        kept: u64,
        /// Held by running gates and other guards.
        others: u64,
        /// Spent by this guard within the settle lag (not in the balance yet).
        recent: u64,
    },
    /// The shared budget found in Redis.
    Shared,
}

/// What makes the budget survive a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Nothing: in this process, without a journal.
    None,
    /// A fresh budget in the journal; `replaced` is the one `--new-budget` set aside.
    Fresh { replaced: Option<PastBudget> },
    /// The journal's budget, continued.
    Continued { past: PastBudget },
    /// The shared budget in Redis.
    Shared { how: SharedHow },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedHow {
    /// This guard set it.
    Created,
    /// Another guard set it earlier.
    Joined,
    /// `--new-budget` replaced the one set earlier.
    Replaced,
}

/// The facts of a start, for `report`.
#[derive(Debug, Clone)]
pub struct Startup {
    /// `http://ADDR:PORT`.
    pub url: String,
    /// The API base URL (no credentials).
    pub api: String,
    /// Units the guard may spend now.
    pub budget: u64,
    pub origin: BudgetOrigin,
    pub record: Record,
    /// `HOST:PORT` of Redis and the key of the shared budget, in shared mode.
    pub redis: Option<(String, String)>,
    pub rps: u32,
    pub window: Duration,
    pub journal: Option<PathBuf>,
    /// Lines of the journal skipped as unreadable, and whether its last line was torn.
    pub unreadable: u64,
    pub torn: bool,
    /// Where the guard holds its budget in the reservation ledger.
    pub ledger: String,
    pub token: bool,
    /// The limits served within (connections fitted to the open-file limit).
    pub limits: Limits,
    /// `--max-connections` as asked, and the open-file limit, when the limit lowered it.
    pub connections_lowered: Option<(usize, u64)>,
    /// `http://ADDR:PORT` of the metrics listener (`--metrics-listen`).
    pub metrics: Option<String>,
    /// `--shadow`.
    pub shadow: bool,
    /// The clients (`--clients`): name, own budget in units, share of the rate.
    pub clients: Vec<(String, Option<u64>, Option<u32>)>,
    /// Alerts: thresholds, where they go (the webhook as shown, the command's program), and
    /// those already claimed for this budget.
    pub alerts: Option<AlertsShown>,
    /// `/budget/` is served.
    pub dashboard: bool,
    /// The admin endpoint is served (`--admin-token-file`).
    pub admin: bool,
    /// Which calls wait for approval.
    pub rules: super::admin::Rules,
    /// `--budget` as asked, when this guard joined a shared budget of another figure: the
    /// shared one holds, and the startup text warns that the flag did not (docs/guard.md
    /// "Several workers, several machines").
    pub budget_not_applied: Option<BudgetNotApplied>,
}

/// A budget flag a guard was given but could not apply: it joined a shared budget in Redis that
/// another guard set earlier. `shared` is that budget's figure, as the guard that set it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetNotApplied {
    /// `--budget` as given, another figure than the shared one.
    Budget { asked: u64, shared: u64 },
    /// `--reserve` as given: the shared budget holds, not the live balance less the reserve.
    Reserve { asked: Reserve, shared: u64 },
}

/// The alerts as the startup text shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsShown {
    pub thresholds: Vec<u8>,
    pub webhook: Option<String>,
    pub command: Option<String>,
    pub fired: Vec<u8>,
}

/// A started guard: bound, holding its budget, not yet serving.
pub struct Running {
    guard: Guard,
    state: Arc<State>,
    journal: Arc<Journal>,
    hold: Releasing,
    /// The metrics listener, bound, not yet serving.
    monitor: Option<(tokio::net::TcpListener, super::monitor::Monitor)>,
    /// The alerts' checker and sender.
    alerts: Option<super::alerts::AlertTasks>,
    pub startup: Startup,
}

/// Calls a stopped guard left unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// A second signal.
    Signal { calls: usize },
    /// The grace period ran out.
    Grace { calls: usize, grace: Duration },
}

/// What a guard did, once stopped.
#[derive(Debug, Clone)]
pub struct Stopped {
    pub totals: Totals,
    /// Units left of the budget (`None`: it could not be read).
    pub left: Option<i64>,
    pub abandoned: Option<Abandoned>,
    /// Why the hold in the reservation ledger could not be released.
    pub release_failed: Option<String>,
    /// The journal, when a line could not be written to it.
    pub journal_failed: Option<PathBuf>,
    /// `--shadow`: the summary says what would have been refused.
    pub shadow: bool,
    /// Alerts were still being sent when the guard stopped, and were dropped.
    pub alerts_dropped: bool,
}

/// The units a start may spend, and where the figure comes from (pure).
///
/// `shared`: the shared budget found in Redis; `units_left`: the live balance (live rule);
/// `others`: what gates and other guards hold; `recent` and `spent`: from the journal.
pub fn budget_figure(
    rule: BudgetRule,
    shared: Option<i64>,
    units_left: u64,
    others: u64,
    recent: u64,
    spent: u64,
) -> (u64, BudgetOrigin) {
    match (shared, rule) {
        (Some(left), _) => (u64::try_from(left).unwrap_or(0), BudgetOrigin::Shared),
        (None, BudgetRule::Fixed(budget)) => (
            budget.saturating_sub(spent),
            BudgetOrigin::Flag { budget, spent },
        ),
        (None, BudgetRule::Live { reserve }) => {
            let kept = reserve.map_or(0, |r| r.of(units_left));
            let figure = crate::estimate::usable(units_left, kept, others).saturating_sub(recent);
            (
                figure,
                BudgetOrigin::Live {
                    units_left,
                    wallet: None,
                    reserve,
                    kept,
                    others,
                    recent,
                },
            )
        }
    }
}

/// Starts a guard (see the module).
pub async fn start(start: Start) -> Result<Running, GuardError> {
    let Start {
        settings,
        api_url,
        key,
        auth,
        pricing,
        backoff,
        ledger,
        warn,
        on_overrun,
        dashboard,
    } = start;
    // The admin token is never the API key: whoever holds it would hold the key.
    if settings
        .admin_token
        .as_deref()
        .is_some_and(|t| super::same_secret(t, key.expose()))
    {
        return Err(GuardError::Setting {
            flag: "--admin-token-file",
            reason: "holds the API key: the admin endpoint needs a token of its own, never the key; make one with `openssl rand -hex 32 > admin.token`".into(),
        });
    }
    // Guards sharing one API key meet under the same Redis keys and journal budgets (a hash
    // of the key, never the key).
    let account = account::account_id(Some(&key));
    let (journal, history) = match &settings.journal {
        Some(path) => Journal::open(
            path,
            &account,
            chrono::Utc::now(),
            SETTLE_LAG.saturating_add(settings.timeout),
            match settings.redis {
                Some(_) => super::journal::Sharing::Shared,
                None => super::journal::Sharing::Alone,
            },
        )?,
        None => (Journal::in_memory(), History::default()),
    };
    let redis = match &settings.redis {
        Some(url) => Some(RedisState::connect(url, &account, settings.hold_ttl()).await?),
        None => None,
    };
    let shared = match &redis {
        Some(r) if !settings.new_budget => r.peek().await?,
        _ => None,
    };
    if let (Some(r), None, BudgetRule::Fixed(_), false) =
        (&redis, shared, settings.budget, settings.new_budget)
    {
        match (&settings.journal, &history.last) {
            (None, _) => {
                return Err(GuardError::SharedBudgetUnknown {
                    key: r.left_key().to_string(),
                })
            }
            (Some(path), Some(past)) => {
                return Err(GuardError::SharedBudgetGone {
                    key: r.left_key().to_string(),
                    journal: path.clone(),
                    started: past.started.clone(),
                    spent: past.spent(),
                })
            }
            (Some(_), None) => {} // a first start
        }
    }
    // Both pools: the subscription's credits and the wallet's.
    let pools = match (settings.budget, shared) {
        (BudgetRule::Live { .. }, None) => {
            let config = account::Config {
                api_url: api_url.clone(),
                key: key.clone(),
                auth,
                attempts: settings.attempts,
                total_timeout: settings.timeout,
                backoff,
            };
            account::Client::new(config)?
                .balance()
                .await?
                .require_usable()?
                .pools()
        }
        _ => Pools {
            subscription: 0,
            wallet: None,
        },
    };
    let units_left = pools.total();
    let wallet = pools
        .wallet
        .filter(|w| *w > 0)
        .map(|w| (pools.subscription, w));
    // In this process, a journal with this account's budget is continued (unless told not to).
    let continued = match (&redis, settings.new_budget, &history.last) {
        (None, false, Some(past)) => Some(past.clone()),
        _ => None,
    };
    let recent = history.last.as_ref().map_or(0, |p| p.recent);
    let spent = continued.as_ref().map_or(0, PastBudget::spent);
    let claim = Claim::new(
        &account,
        HolderKind::Guard,
        Vec::new(),
        format!("budget guard on {}", settings.listen),
    );
    // The figure is decided inside the ledger's critical section: a gate starting now cannot
    // take the same units.
    let mut origin = BudgetOrigin::Shared;
    let alert_warn = warn.clone();
    let scrubber = crate::account::Scrubber::for_key(Some(&key));
    // A continued `--budget` keeps what operators raised it by (`raise` lines). Clients'
    // percentages stay of `--budget`: a raise is the guard's total's, as it was while running.
    let raised = match settings.budget {
        BudgetRule::Fixed(_) => continued.as_ref().map_or(0, |p| p.raised),
        // A live budget is figured from the balance again: what was raised is not added.
        BudgetRule::Live { .. } => 0,
    };
    let rule = match settings.budget {
        BudgetRule::Fixed(budget) => BudgetRule::Fixed(budget.saturating_add(raised)),
        live => live,
    };
    let (hold, _) = LedgerHold::take(ledger, &claim, |others| {
        let (figure, from) = budget_figure(rule, shared, units_left, others, recent, spent);
        origin = match from {
            BudgetOrigin::Live {
                units_left,
                reserve,
                kept,
                others,
                recent,
                ..
            } => BudgetOrigin::Live {
                units_left,
                wallet,
                reserve,
                kept,
                others,
                recent,
            },
            other => other,
        };
        figure
    })?;
    let mut figure = hold.units();
    let hold = Releasing(Arc::new(hold));
    let fresh = new_id();
    let clients = settings.clients.clone();
    // The budget's whole figure: `--budget` (what was spent before this start included), or
    // the figure at start.
    let total = match origin {
        BudgetOrigin::Flag { budget, .. } => budget,
        _ => figure,
    };
    let mut not_applied = None;
    let (backend, epoch, record, shown) = match redis {
        None => {
            let (epoch, record) = match (&continued, settings.journal.is_some()) {
                (Some(past), _) if !past.epoch.is_empty() => {
                    (past.epoch.clone(), Record::Continued { past: past.clone() })
                }
                // Lines from before epochs: continued under a new epoch that carries them.
                (Some(past), _) => (fresh.clone(), Record::Continued { past: past.clone() }),
                (None, true) => (
                    fresh.clone(),
                    Record::Fresh {
                        replaced: history.last.clone().filter(|_| settings.new_budget),
                    },
                ),
                (None, false) => (fresh.clone(), Record::None),
            };
            // Clients' own budgets continue with the journal's budget too.
            let client_budgets: Vec<ClientBudget> = clients
                .as_ref()
                .map(|c| c.budgets(total.saturating_sub(raised)))
                .unwrap_or_default()
                .into_iter()
                .map(|(name, budget)| ClientBudget {
                    spent: continued
                        .as_ref()
                        .and_then(|p| p.clients.get(&name).copied())
                        .unwrap_or(0),
                    name,
                    budget,
                })
                .collect();
            let spent_before = match origin {
                BudgetOrigin::Flag { .. } => total.saturating_sub(figure).max(spent),
                _ => 0,
            };
            (
                Backend::Memory(MemoryState::continuing_approved(
                    total,
                    spent_before,
                    &client_budgets,
                    continued.as_ref().map_or(0, |p| p.approved),
                )),
                epoch,
                record,
                None,
            )
        }
        Some(r) => {
            let (epoch, how) = if settings.new_budget {
                r.replace(figure, &fresh).await?;
                (fresh.clone(), SharedHow::Replaced)
            } else {
                let (joined, epoch) = r.join_epoch(figure, &fresh).await?;
                match joined {
                    Joined::Created { .. } => (epoch, SharedHow::Created),
                    Joined::Existing { left } => {
                        figure = u64::try_from(left).unwrap_or(0);
                        origin = BudgetOrigin::Shared;
                        (epoch, SharedHow::Joined)
                    }
                }
            };
            if let Some(clients) = &clients {
                // Out of the shared budget's figure as its creator set it.
                let shared_total = r.figures().await?.total;
                let budgets: Vec<ClientBudget> = clients
                    .budgets(shared_total)
                    .into_iter()
                    .map(|(name, budget)| ClientBudget {
                        name,
                        budget,
                        spent: 0,
                    })
                    .collect();
                // A budget this guard set (or replaced) sets its clients' anew: keys left from
                // an earlier budget must not carry over; a joined one keeps theirs.
                r.join_clients(&budgets, how != SharedHow::Joined).await?;
            }
            // A guard joining another's budget cannot apply its own `--budget`: say so when the
            // two figures differ, rather than ignore the flag in silence.
            not_applied = match (how, settings.budget) {
                (SharedHow::Joined, BudgetRule::Fixed(asked)) => {
                    let shared = r.figures().await?.total;
                    (asked != shared).then_some(BudgetNotApplied::Budget { asked, shared })
                }
                (
                    SharedHow::Joined,
                    BudgetRule::Live {
                        reserve: Some(asked),
                    },
                ) => Some(BudgetNotApplied::Reserve {
                    asked,
                    shared: r.figures().await?.total,
                }),
                _ => None,
            };
            let shown = (r.shown().to_string(), r.left_key().to_string());
            (
                Backend::Redis(Box::new(r)),
                epoch,
                Record::Shared { how },
                Some(shown),
            )
        }
    };
    let carried = match &continued {
        Some(past) if past.epoch.is_empty() => past.spent(),
        _ => 0,
    };
    journal.begin(&BudgetLine {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        kind: "budget",
        epoch: epoch.clone(),
        account: account.clone(),
        // `--budget` as given: the raises are their own lines.
        budget: match origin {
            BudgetOrigin::Flag { budget, .. } => budget.saturating_sub(raised),
            _ => figure,
        },
        source: match settings.budget {
            BudgetRule::Fixed(_) => "flag",
            BudgetRule::Live { .. } => "live",
        },
        state: if shown.is_some() { "redis" } else { "memory" },
        spent,
        carried,
    })?;
    let journal = Arc::new(journal);
    let state = Arc::new(
        State::new(backend, settings.rps, settings.max_wait, settings.max_queue)
            .with_window(settings.window)
            .with_shares(
                clients
                    .as_ref()
                    .map(|c| c.shares(settings.rps))
                    .unwrap_or_default(),
            ),
    );
    // Thresholds already claimed for this budget: the journal's record of a continued
    // budget, or Redis's claims of the shared one.
    let mut fired: std::collections::BTreeSet<u8> = continued
        .as_ref()
        .map(|p| p.alerts.clone())
        .unwrap_or_default();
    fired.extend(
        state
            .claimed_alerts(&epoch, &settings.alerts.thresholds)
            .await?,
    );
    let metrics = Arc::new(super::metrics::Metrics::new());
    metrics.set_shadow(settings.shadow);
    for percent in &fired {
        metrics.set_alert(*percent);
    }
    let ops = super::Ops {
        shadow: settings.shadow,
        clients: clients.clone(),
        metrics: metrics.clone(),
        info: super::status::Info {
            account: account.clone(),
            epoch: epoch.clone(),
            source: match (&origin, settings.budget) {
                (BudgetOrigin::Shared, _) => "shared",
                (_, BudgetRule::Fixed(_)) => "flag",
                (_, BudgetRule::Live { .. }) => "live",
            },
            state: if shown.is_some() { "redis" } else { "memory" },
            shadow: settings.shadow,
            thresholds: settings.alerts.thresholds.clone(),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
        fired: Arc::new(std::sync::Mutex::new(fired.clone())),
        admin_token: settings.admin_token.as_deref().map(Arc::from),
        rules: settings.rules,
        approvals: Arc::new(super::admin::Approvals::default()),
        dashboard,
        dashboard_refresh: settings.dashboard_refresh,
    };
    // Connections that fit the open-file limit (raised to its hard limit first).
    let files = super::server::raise_open_files();
    let mut limits = settings.limits;
    limits.max_connections = super::server::connection_cap(limits.max_connections, files);
    let connections_lowered = files
        .filter(|_| limits.max_connections < settings.limits.max_connections)
        .map(|files| (settings.limits.max_connections, files));
    let config = Config {
        api_url: api_url.clone(),
        key,
        auth,
        pricing,
        attempts: settings.attempts,
        timeout: settings.timeout,
        backoff,
        client_token: settings.client_token.clone(),
        limits,
        on_overrun,
    };
    let token = config.client_token.is_some();
    let served_dashboard = ops.dashboard.is_some();
    let api = reqwest::Url::parse(api_url.trim())
        .map_or_else(|_| "the API".to_string(), |u| super::shown_url(&u));
    let fired_shared = ops.fired.clone();
    let guard =
        Guard::bind_with(settings.listen, config, state.clone(), journal.clone(), ops).await?;
    let addr = guard.local_addr()?;
    let monitor = match settings.metrics_listen {
        Some(at) => {
            let listener =
                tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(|e| GuardError::Listen {
                        flag: "--metrics-listen",
                        addr: at,
                        reason: crate::io_reason(&e),
                    })?;
            Some((
                listener,
                guard.monitor().with_token(settings.metrics_token.clone()),
            ))
        }
        None => None,
    };
    let metrics_url = match &monitor {
        Some((listener, _)) => Some(format!(
            "http://{}",
            listener.local_addr().map_err(|e| GuardError::Serve {
                reason: crate::io_reason(&e),
            })?
        )),
        None => None,
    };
    let alerts = if settings.alerts.enabled() {
        super::alerts::Checker {
            settings: settings.alerts.clone(),
            state: state.clone(),
            journal: journal.clone(),
            metrics,
            fired: fired_shared,
            account: account.clone(),
            epoch: epoch.clone(),
            scrubber,
            warn: alert_warn,
        }
        .spawn(guard.charged())
        .into()
    } else {
        None
    };
    hold.0
        .follow(
            state.clone(),
            super::hold::REFRESH,
            format!("budget guard on http://{addr}"),
            shown.as_ref().map(|(_, key)| key.clone()),
            warn,
        )
        .await;
    let startup = Startup {
        url: format!("http://{addr}"),
        api,
        budget: figure,
        origin,
        record,
        redis: shown,
        rps: settings.rps,
        window: settings.window,
        journal: settings.journal.clone(),
        unreadable: history.unreadable,
        torn: history.torn,
        ledger: hold.0.location(),
        token,
        limits,
        connections_lowered,
        metrics: metrics_url,
        shadow: settings.shadow,
        clients: clients
            .as_ref()
            .map(|c| {
                let budgets = c.budgets(total.saturating_sub(raised));
                c.list
                    .iter()
                    .map(|client| {
                        (
                            client.name.clone(),
                            budgets
                                .iter()
                                .find(|(n, _)| *n == client.name)
                                .map(|(_, b)| *b),
                            client.rate.map(|r| r.of(settings.rps)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        alerts: settings.alerts.enabled().then(|| AlertsShown {
            thresholds: settings.alerts.thresholds.clone(),
            webhook: settings
                .alerts
                .webhook
                .as_ref()
                .map(super::alerts::shown_webhook),
            command: settings
                .alerts
                .command
                .as_ref()
                .and_then(|c| c.first().cloned()),
            fired: fired.iter().copied().collect(),
        }),
        dashboard: served_dashboard,
        admin: settings.admin_token.is_some(),
        rules: settings.rules,
        budget_not_applied: not_applied,
    };
    Ok(Running {
        guard,
        state,
        journal,
        hold,
        monitor,
        alerts,
        startup,
    })
}

impl Running {
    /// Serves until the first SIGINT or SIGTERM (then `stopping` is told how many calls are in
    /// flight, calls in flight get the grace period), or a second signal (then at once).
    pub async fn run(self, signals: &mut Signals, stopping: impl FnOnce(usize) + Send) -> Stopped {
        let Running {
            guard,
            state,
            journal,
            hold,
            monitor,
            alerts,
            startup,
        } = self;
        let (monitor_stop, monitor_stopped) = tokio::sync::oneshot::channel::<()>();
        let monitor = monitor.map(|(listener, monitor)| {
            tokio::spawn(monitor.serve(listener, async move {
                let _ = monitor_stopped.await;
            }))
        });
        let in_flight = guard.in_flight();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = guard.serve(async move {
            if first_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        });
        let stop = async move {
            signals.next().await;
            stopping(in_flight.count());
            let _ = first_tx.send(());
            signals.next().await;
            in_flight.count()
        };
        let abandoned = tokio::select! {
            served = serving => (served.abandoned > 0).then_some(Abandoned::Grace {
                calls: served.abandoned,
                grace: startup.limits.grace,
            }),
            calls = stop => Some(Abandoned::Signal { calls }),
        };
        journal.summarise(super::journal::SUMMARY_EVERY.as_secs());
        let _ = monitor_stop.send(());
        if let Some(monitor) = monitor {
            monitor.abort();
        }
        // A graceful stop lets the alerts the last calls crossed go out; a second signal
        // does not wait for them.
        let alerts_dropped = match (alerts, &abandoned) {
            (Some(alerts), Some(Abandoned::Signal { .. })) => {
                alerts.abort();
                false
            }
            (Some(alerts), _) => !alerts.finish(super::alerts::DRAIN).await,
            (None, _) => false,
        };
        let release_failed = hold.0.release().err().map(|e| e.to_string());
        let left = state.left().await.ok();
        Stopped {
            totals: journal.totals(),
            left,
            abandoned,
            release_failed,
            journal_failed: journal
                .write_failed()
                .then(|| journal.path().map(PathBuf::from))
                .flatten(),
            shadow: startup.shadow,
            alerts_dropped,
        }
    }
}

/// SIGINT and SIGTERM, installed once so that none is missed between the first and the second.
pub struct Signals {
    both: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers (inside a runtime). Install them before telling a supervisor the
    /// guard is ready.
    pub fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            both: signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok(),
        }
    }

    /// Completes on the next SIGINT or SIGTERM; never, without signal handlers (the guard then
    /// runs until killed).
    async fn next(&mut self) {
        match &mut self.both {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_by_hand() {
        use rust_decimal::Decimal;
        // --budget 3,000 with 1,140 spent before this start: 1,860.
        assert_eq!(
            budget_figure(BudgetRule::Fixed(3000), None, 0, 500, 900, 1140),
            (
                1860,
                BudgetOrigin::Flag {
                    budget: 3000,
                    spent: 1140
                }
            )
        );
        // Spent more than the budget: nothing left, never a wrap.
        assert_eq!(
            budget_figure(BudgetRule::Fixed(100), None, 0, 0, 0, 250).0,
            0
        );
        // Live 30,000 − 10% (3,000) − 4,000 held by others − 700 recent = 22,300.
        let reserve = Some(Reserve::Percent(Decimal::from(10)));
        assert_eq!(
            budget_figure(
                BudgetRule::Live { reserve },
                None,
                30_000,
                4_000,
                700,
                99_999
            ),
            (
                22_300,
                BudgetOrigin::Live {
                    units_left: 30_000,
                    wallet: None,
                    reserve,
                    kept: 3_000,
                    others: 4_000,
                    recent: 700
                }
            )
        );
        // A shared budget found in Redis is what it is (below zero: nothing).
        assert_eq!(
            budget_figure(BudgetRule::Fixed(5000), Some(1200), 0, 0, 0, 0),
            (1200, BudgetOrigin::Shared)
        );
        assert_eq!(
            budget_figure(BudgetRule::Fixed(5000), Some(-30), 0, 0, 0, 0).0,
            0
        );
    }
}
