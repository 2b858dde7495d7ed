//! `budget guard`: copies the flags into `guard::config`, loads what the guard needs (pricing,
//! key, ledger), starts it (`guard::start` holds the startup policy), prints the startup text,
//! serves until SIGINT or SIGTERM, then prints the spend. Orchestration only: the policy is
//! `guard`'s, the words `report`'s.

use std::io::Write;

use crate::account::{AccountError, ApiKey, AuthMethod, Backoff};
use crate::cli::{Auth, Global, GuardArgs};
use crate::guard::config::Flags;
use crate::guard::{GuardError, Signals, Start};
use crate::{report, Error, Status};

pub fn run(global: &Global, args: &GuardArgs) -> Result<Status, Error> {
    let pricing = super::load_pricing(global)?;
    let settings = Flags {
        listen: args.listen.clone(),
        budget: args.budget,
        reserve: args.reserve.clone(),
        new_budget: args.new_budget,
        rps: args.rps,
        journal: args.journal.clone(),
        client_token_file: args.client_token_file.clone(),
        max_wait: args.max_wait,
        max_queue: args.max_queue,
        max_connections: args.max_connections,
        grace: args.grace,
        rate_margin_ms: args.rate_margin,
        offline: global.offline,
        retries: global.retries,
        timeout: global.timeout,
        redis: global.redis.clone(),
        metrics_listen: args.metrics_listen.clone(),
        metrics_token_file: args.metrics_token_file.clone(),
        shadow: args.shadow,
        clients: args.clients.clone(),
        alert_at: args.alert_at.clone(),
        alert_webhook: args.alert_webhook.clone(),
        alert_command: args.alert_command.clone(),
        admin_token_file: args.admin_token_file.clone(),
        approval_above: args.approval_above,
        soft_budget: args.soft_budget,
        dashboard_refresh: args.dashboard_refresh,
    }
    .validate(pricing.requests_per_second)?;
    let key =
        ApiKey::from_env_or_file(global.api_key_file.as_deref())?.ok_or(AccountError::NoKey)?;
    let auth = match global.auth {
        Auth::Header => AuthMethod::Header,
        Auth::Query => AuthMethod::Query,
    };
    let start = Start {
        settings,
        api_url: global.api_url.clone(),
        key,
        auth,
        pricing,
        backoff: Backoff::from_env()?,
        ledger: super::open_ledger(global)?,
        warn: super::warnings_to_stderr(),
        on_overrun: Some(std::sync::Arc::new(|overrun: &crate::guard::Overrun| {
            // Warnings are not silenced by --quiet: an overrun is money.
            let _ = report::guard_overrun(&mut std::io::stderr().lock(), overrun);
        })),
        dashboard: Some(std::sync::Arc::new(
            |page: &crate::guard::dashboard::Page<'_>| report::dashboard(page),
        )),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| GuardError::Serve {
            reason: crate::io_reason(&e),
        })?;
    let quiet = global.quiet;
    let result = runtime.block_on(async move {
        let running = crate::guard::start(start).await?;
        // Installed before the startup text, which tells a supervisor the guard is ready.
        let mut signals = Signals::install();
        if !quiet {
            let mut err = std::io::stderr().lock();
            report::guard_started(&mut err, &running.startup)?;
            err.flush()?;
        }
        let stopped = running
            .run(&mut signals, |busy| {
                if !quiet {
                    report::guard_stopping(&mut std::io::stderr().lock(), busy);
                }
            })
            .await;
        let mut out = std::io::stdout().lock();
        report::guard_summary_in(
            &mut out,
            global.format,
            &stopped.totals,
            stopped.left,
            stopped.shadow,
        )?;
        out.flush()?;
        report::guard_stopped(&mut std::io::stderr().lock(), &stopped);
        Ok::<_, Error>(Status::Ok)
    });
    // Calls abandoned by a second signal or the end of the grace period are dropped, not
    // waited for.
    runtime.shutdown_background();
    result
}
