//! `budget guard`: checks the flags, settles the budget (flag or live balance), opens the state
//! (in-process or Redis) and the ledger, serves until SIGINT/SIGTERM, then prints the spend.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::account::{self, ApiKey, AuthMethod, Backoff, Client};
use crate::cli::{Auth, Global, GuardArgs};
use crate::guard::redis::{Joined, RedisState};
use crate::guard::{Backend, Config, Guard, GuardError, Journal, MemoryState, State};
use crate::pricing::Pricing;
use crate::workflow::Reserve;
use crate::{report, Error, Status};

pub fn run(global: &Global, args: &GuardArgs) -> Result<Status, Error> {
    let setting =
        |flag: &'static str, reason: String| Error::Guard(GuardError::Setting { flag, reason });
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
        Some(path) => Some(read_token(path)?),
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
    let pricing = Pricing::load(global.pricing.as_deref())?;
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
    let journal = Arc::new(Journal::open(args.ledger.as_deref()).map_err(GuardError::from)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| GuardError::Serve {
            reason: crate::io_reason(&e),
        })?;
    // Guards sharing one API key meet under the same Redis keys (a hash of the key).
    let account_id = crate::ledger::account_id(Some(key.expose()));
    runtime.block_on(async move {
        // The budget: the flag, or the live balance minus the reserve.
        let (budget, budget_source) = match args.budget {
            Some(budget) => (budget, "--budget".to_string()),
            None => {
                let config = account::Config::new(&global.api_url, key.clone(), auth, global.retries, global.timeout)?;
                let subscription = Client::new(config)?.subscription().await?;
                let left = subscription.units_left;
                let kept = reserve.map_or(0, |r| r.of(left));
                let source = match reserve {
                    Some(r) => format!("live units_left {} − reserve {r}", report::thousands(left)),
                    None => format!("live units_left {}", report::thousands(left)),
                };
                (left.saturating_sub(kept), source)
            }
        };
        let hold_ttl = max_wait + timeout + Duration::from_secs(60);
        let (backend, state_text, budget) = match &global.redis {
            None => (Backend::Memory(MemoryState::new(budget)), "this process".to_string(), budget),
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
                (Backend::Redis(Box::new(redis)), text, u64::try_from(left).unwrap_or(0))
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
        };
        let token = config.client_token.is_some();
        let api = shown_url(&global.api_url);
        let guard = Guard::bind(listen, config, state.clone(), journal.clone()).await?;
        let addr = guard.local_addr()?;
        if !global.quiet {
            let url = format!("http://{addr}");
            let ledger = journal.path().map(|p| p.display().to_string());
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
                    ledger: ledger.as_deref(),
                    token,
                },
            )?;
            err.flush()?;
        }
        guard.serve(stop_signal()).await?;
        let left = state.left().await.ok();
        let mut out = std::io::stdout().lock();
        report::guard_summary(&mut out, global.format, &journal.totals(), left)?;
        out.flush()?;
        if journal.write_failed() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "warning: some lines could not be written to the ledger {}",
                journal.path().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
        Ok::<_, Error>(Status::Ok)
    })
}

/// The token in `path`, trimmed; empty or unreadable is an error.
fn read_token(path: &Path) -> Result<String, Error> {
    let setting = |reason: String| {
        Error::Guard(GuardError::Setting {
            flag: "--client-token-file",
            reason,
        })
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        setting(format!(
            "cannot read {}: {}",
            path.display(),
            crate::io_reason(&e)
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(setting(format!(
            "{} is empty; put the token clients must send in it",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// The API URL for people: scheme, host, port, path; never a query or credentials.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path().trim_end_matches('/')
        ),
        Err(_) => "the API".into(),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the guard runs until killed.
        _ => std::future::pending::<()>().await,
    }
}
