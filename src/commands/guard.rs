//! `budget guard`: checks the flags, settles the budget (flag, or live balance minus what gates
//! and other guards hold), holds it in the reservation ledger while it runs, opens the state (in-process or Redis) and the journal, serves until SIGINT or
//! SIGTERM (a second one stops at once), then prints the spend.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::account::{self, ApiKey, AuthMethod, Backoff, Client};
use crate::cli::{Auth, Global, GuardArgs};
use crate::guard::hold::{LedgerHold, Releasing};
use crate::guard::redis::{Joined, RedisState};
use crate::guard::{Backend, Config, Guard, GuardError, Journal, MemoryState, State};
use crate::ledger::{Claim, HolderKind};
use crate::workflow::Reserve;
use crate::{report, Error, Status};

pub fn run(global: &Global, args: &GuardArgs) -> Result<Status, Error> {
    let setting =
        |flag: &'static str, reason: String| Error::from(GuardError::Setting { flag, reason });
    if global.offline {
        return Err(setting(
            "--offline",
            "budget guard forwards calls to the API, which --offline forbids; drop --offline"
                .into(),
        ));
    }
    let listen: SocketAddr = args.listen.trim().parse().map_err(|_| {
        setting(
            "--listen",
            format!(
                "{:?} is not an address and port like 127.0.0.1:8787",
                args.listen
            ),
        )
    })?;
    let client_token = match &args.client_token_file {
        Some(path) => Some(crate::guard::client_token(path)?),
        None if !listen.ip().is_loopback() => {
            return Err(setting(
                "--listen",
                format!(
                    "{listen} is reachable from other machines, whose calls would spend the budget; \
                     pass --client-token-file FILE (clients then send the token in X-Budget-Token), \
                     or listen on 127.0.0.1"
                ),
            ))
        }
        None => None,
    };
    let reserve = args
        .reserve
        .as_deref()
        .map(Reserve::parse)
        .transpose()
        .map_err(|e| setting("--reserve", e))?;
    let max_wait = Duration::try_from_secs_f64(args.max_wait).map_err(|_| {
        setting(
            "--max-wait",
            format!("{} is not a number of seconds", args.max_wait),
        )
    })?;
    let timeout = Duration::try_from_secs_f64(global.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            setting(
                "--timeout",
                format!("{} is not a positive number of seconds", global.timeout),
            )
        })?;
    let pricing = super::load_pricing(global)?;
    let rps = args.rps.unwrap_or(pricing.requests_per_second);
    if rps == 0 {
        return Err(setting(
            "--rps",
            "0 requests per second would forward nothing; give 1 or more".into(),
        ));
    }
    let key = ApiKey::from_env_or_file(global.api_key_file.as_deref())?
        .ok_or(account::AccountError::NoKey)?;
    let auth = match global.auth {
        Auth::Header => AuthMethod::Header,
        Auth::Query => AuthMethod::Query,
    };
    let backoff = Backoff::from_env()?;
    let journal = Arc::new(Journal::open(args.journal.as_deref()).map_err(GuardError::from)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| GuardError::Serve {
            reason: crate::io_reason(&e),
        })?;
    // Guards sharing one API key meet under the same Redis keys (a hash of the key).
    let account_id = crate::account::account_id(Some(&key));
    // The guard's hold in the reservation ledger (the `--redis` one when given, else this
    // machine's; see `guard::hold`): a live budget leaves out what gates and other guards of
    // the same account hold, and they leave out the guard's unspent budget while it runs.
    let ledger = super::open_ledger(global)?;
    let warn = super::warnings_to_stderr();
    let claim = Claim::new(
        &account_id,
        HolderKind::Guard,
        Vec::new(),
        format!("budget guard on {listen}"),
    );
    let result = runtime.block_on(async move {
        // The budget: the flag, or the live balance minus the reserve and the gates' reservations.
        let (budget, budget_source, hold) = match args.budget {
            Some(budget) => {
                // A flag budget is spent from the same account: held too (fails closed).
                let (hold, _) = LedgerHold::take(ledger, &claim, |_| budget)?;
                (budget, "--budget".to_string(), hold)
            }
            None => {
                let config = account::Config::new(&global.api_url, key.clone(), auth, global.retries, global.timeout)?;
                // Both pools: the subscription's credits and the wallet's.
                let live = Client::new(config)?.balance().await?.require_usable()?;
                let left = live.units_left();
                let kept = reserve.map_or(0, |r| r.of(left));
                let mut source = format!("live units_left {}", report::thousands(left));
                let pools = live.pools();
                if let Some(wallet) = pools.wallet.filter(|w| *w > 0) {
                    source.push_str(&format!(
                        " (subscription {} + wallet {})",
                        report::thousands(pools.subscription),
                        report::thousands(wallet)
                    ));
                }
                if let Some(r) = reserve {
                    source.push_str(&format!(" − reserve {r}"));
                }
                let (hold, others) = LedgerHold::take(ledger, &claim, |reserved| {
                    left.saturating_sub(kept).saturating_sub(reserved)
                })?;
                source.push_str(&format!(
                    " − {} reserved by running jobs",
                    report::thousands(others)
                ));
                (hold.units(), source, hold)
            }
        };
        let hold = Releasing(Arc::new(hold));
        let hold_ttl = crate::guard::hold_ttl(global.retries.max(1), max_wait, timeout);
        let (backend, state_text, budget, shares) = match &global.redis {
            None => (Backend::Memory(MemoryState::new(budget)), "this process".to_string(), budget, None),
            Some(url) => {
                let redis = RedisState::connect(url, &account_id, hold_ttl).await.map_err(GuardError::from)?;
                let joined = redis.join(budget).await.map_err(GuardError::from)?;
                let (text, left) = match joined {
                    Joined::Created { left } => (format!("Redis at {} (new shared budget)", redis.shown()), left),
                    Joined::Existing { left } => (
                        format!(
                            "Redis at {} (joined the shared budget set earlier; delete {} to start over)",
                            redis.shown(),
                            redis.left_key()
                        ),
                        left,
                    ),
                };
                let shares = Some(redis.left_key().to_string());
                (Backend::Redis(Box::new(redis)), text, u64::try_from(left).unwrap_or(0), shares)
            }
        };
        let state = Arc::new(State::new(backend, rps, max_wait, args.max_queue));
        let config = Config {
            api_url: global.api_url.clone(),
            key,
            auth,
            pricing,
            attempts: global.retries.max(1),
            timeout,
            backoff,
            client_token,
            on_overrun: Some(Arc::new(|overrun: &crate::guard::Overrun| {
                // Warnings are not silenced by --quiet: an overrun is money.
                let _ = report::guard_overrun(&mut std::io::stderr().lock(), overrun);
            })),
        };
        let token = config.client_token.is_some();
        let api = reqwest::Url::parse(global.api_url.trim())
            .map_or_else(|_| "the API".to_string(), |u| crate::guard::shown_url(&u));
        let guard = Guard::bind(listen, config, state.clone(), journal.clone()).await?;
        let addr = guard.local_addr()?;
        hold.0.follow(
            state.clone(),
            crate::guard::hold::REFRESH,
            format!("budget guard on http://{addr}"),
            shares,
            warn,
        );
        let ledger_location = hold.0.location();
        // Installed before the startup text, which tells a supervisor the guard is ready.
        let mut signals = Signals::install();
        if !global.quiet {
            let url = format!("http://{addr}");
            let journal_path = journal.path().map(|p| p.display().to_string());
            let mut err = std::io::stderr().lock();
            report::guard_started(
                &mut err,
                &report::GuardStarted {
                    url: &url,
                    api: &api,
                    budget,
                    budget_source: &budget_source,
                    rps,
                    state: &state_text,
                    journal: journal_path.as_deref(),
                    ledger: &ledger_location,
                    token,
                },
            )?;
            err.flush()?;
        }
        // The first signal stops taking calls and lets those in flight finish; a second one
        // stops at once.
        let in_flight = guard.in_flight();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = guard.serve(async move {
            if first_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        });
        let quiet = global.quiet;
        let stop = async move {
            signals.next().await;
            let busy = in_flight.count();
            if !quiet && busy > 0 {
                report::notes(
                    &mut std::io::stderr().lock(),
                    &[format!("budget guard stopping: waiting for {busy} calls in flight; a second Ctrl-C (SIGINT or SIGTERM) stops at once")],
                );
            }
            let _ = first_tx.send(());
            signals.next().await;
            in_flight.count()
        };
        let abandoned = tokio::select! {
            served = serving => {
                served?;
                None
            }
            busy = stop => Some(busy),
        };
        let released = hold.0.release();
        let left = state.left().await.ok();
        let mut out = std::io::stdout().lock();
        report::guard_summary(&mut out, global.format, &journal.totals(), left)?;
        out.flush()?;
        let mut notes = Vec::new();
        if let Some(busy) = abandoned {
            notes.push(format!(
                "budget guard stopped at once on a second signal: {busy} calls in flight were abandoned; they have no journal line and their units stay reserved (in Redis they count as spent once their hold times out)"
            ));
        }
        if let Err(e) = released {
            notes.push(format!("warning: cannot release the guard's hold: {e}; it is dropped once this process has ended"));
        }
        if journal.write_failed() {
            notes.push(format!(
                "warning: some lines could not be written to the journal {}",
                journal.path().map(|p| p.display().to_string()).unwrap_or_default()
            ));
        }
        report::notes(&mut std::io::stderr().lock(), &notes);
        Ok::<_, Error>(Status::Ok)
    });
    // Calls abandoned by a second signal are dropped, not waited for.
    runtime.shutdown_background();
    result
}

/// SIGINT and SIGTERM, installed once so that none is missed between the first and the second.
struct Signals {
    both: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
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
