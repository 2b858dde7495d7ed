//! Threshold alerts (`--alert-at 50%,80%,95%`, `--alert-webhook URL`, `--alert-command CMD`):
//! a message when a share of the budget is spent, once per threshold per budget.
//!
//! **Once.** A threshold is *claimed* before its alert is sent: in this process's state by the
//! journal (an `alert` line, replayed on start, so a restart does not send it again); in Redis
//! mode by an atomic `SET NX` on the budget's epoch (`budget:{ACCOUNT}:alert:{EPOCH}:{PERCENT}`),
//! so of several guards sharing the budget exactly one sends it (and journals it). A new budget
//! (a new epoch) starts with no threshold claimed. A claimed alert whose delivery fails is not
//! sent again by a restart: the failure is logged instead (better one lost alert, said so, than
//! a flood of them from a guard in a restart loop).
//!
//! **Never in the way of calls.** Calls only nudge a checker ([`super::events`]), which reads the
//! budget and claims thresholds in a task of its own; claimed alerts wait in a bounded queue
//! ([`QUEUE`]) for a sender task, which retries a failed webhook [`WEBHOOK_ATTEMPTS`] times with
//! back-off and logs what it could not deliver.
//!
//! **What an alert holds.** `{"text", "threshold_percent", "budget_units", "spent_units",
//! "remaining_units", "account"}` — `text` makes it a Slack or Mattermost incoming-webhook
//! message as is; `account` is the key's hash (`crate::account::account_id`), never the key, and
//! the text is scrubbed of the key all the same. The command gets the same fields as environment
//! variables (`BUDGET_ALERT_TEXT`, `BUDGET_ALERT_THRESHOLD_PERCENT`, …) in an environment cleared
//! of everything else but `PATH`, `HOME`, `LANG` and `TZ` (so not the guard's key), run without a
//! shell: its words are split on whitespace. A webhook URL may hold a secret (Slack's do): it is
//! shown only as `scheme://host/…`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use super::journal::{AlertLine, Journal};
use super::metrics::Metrics;
use super::state::{Figures, State};
use crate::ledger::Warn;

/// Alerts waiting to be sent; beyond, an alert is logged as dropped (it was claimed and
/// journaled all the same).
pub const QUEUE: usize = 32;
/// Attempts to deliver one alert to the webhook.
pub const WEBHOOK_ATTEMPTS: u32 = 4;
/// Time for one webhook attempt, and for the command.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where alerts go, as validated from the flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertSettings {
    /// Percentages of the budget, ascending, each 1–100.
    pub thresholds: Vec<u8>,
    pub webhook: Option<reqwest::Url>,
    /// The program and its arguments.
    pub command: Option<Vec<String>>,
}

impl AlertSettings {
    pub fn enabled(&self) -> bool {
        !self.thresholds.is_empty() && (self.webhook.is_some() || self.command.is_some())
    }
}

/// Parses `50%,80%,95%` (the `%` may be left out): whole percentages from 1 to 100, ascending,
/// without repeats.
pub fn parse_thresholds(text: &str) -> Result<Vec<u8>, String> {
    let mut out = BTreeSet::new();
    for part in text.split(',') {
        let part = part.trim();
        let number = part.strip_suffix('%').unwrap_or(part).trim();
        match number.parse::<u8>() {
            Ok(n) if (1..=100).contains(&n) => {
                out.insert(n);
            }
            _ => {
                return Err(format!(
                    "{part:?} is not a whole percentage from 1% to 100%; write thresholds like 50%,80%,95%"
                ))
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// A webhook URL as people may see it: scheme and host only (its path may be a secret).
pub fn shown_webhook(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}/…",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// One alert, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub text: String,
    pub threshold_percent: u8,
    pub budget_units: u64,
    pub spent_units: i64,
    pub remaining_units: i64,
    pub account: String,
}

/// The thresholds `figures` has reached that are not in `fired`, ascending.
pub fn reached(thresholds: &[u8], fired: &BTreeSet<u8>, figures: &Figures) -> Vec<u8> {
    // A budget of 0 has no share to reach.
    if figures.total == 0 {
        return Vec::new();
    }
    let spent = i128::from(figures.spent());
    thresholds
        .iter()
        .copied()
        .filter(|t| !fired.contains(t))
        .filter(|t| spent * 100 >= i128::from(*t) * i128::from(figures.total))
        .collect()
}

/// The alert's words.
pub fn text(percent: u8, figures: &Figures, account: &str) -> String {
    let left = if figures.left < 0 {
        format!(
            "overdrawn by {} units",
            crate::count::thousands(figures.left.unsigned_abs())
        )
    } else {
        format!(
            "{} units left",
            crate::count::thousands(figures.left.unsigned_abs())
        )
    };
    let spent = figures.spent();
    format!(
        "budget guard: {percent}% of the budget is spent — {}{} of {} units; {left} (account {account})",
        if spent < 0 { "-" } else { "" },
        crate::count::thousands(spent.unsigned_abs()),
        crate::count::thousands(figures.total)
    )
}

/// What the checker needs.
pub struct Checker {
    pub settings: AlertSettings,
    pub state: Arc<State>,
    pub journal: Arc<Journal>,
    pub metrics: Arc<Metrics>,
    /// Claimed thresholds, shared with the status endpoint.
    pub fired: Arc<Mutex<BTreeSet<u8>>>,
    pub account: String,
    pub epoch: String,
    pub scrubber: crate::account::Scrubber,
    pub warn: Warn,
}

impl Checker {
    /// Starts the checker and the sender: after each nudge (and once at start), the checker
    /// claims the thresholds reached and queues their alerts; the sender delivers them.
    pub fn spawn(self, nudge: Arc<Notify>) -> AlertTasks {
        let (tx, rx) = mpsc::channel::<Alert>(QUEUE);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let sender = tokio::spawn(send_all(rx, self.settings.clone(), self.warn.clone()));
        let checker = tokio::spawn(async move {
            loop {
                self.check(&tx).await;
                tokio::select! {
                    () = nudge.notified() => {}
                    _ = &mut stopped => {
                        // The calls are over: one last look, then the queue closes.
                        self.check(&tx).await;
                        break;
                    }
                }
            }
        });
        AlertTasks {
            stop,
            checker,
            sender,
        }
    }

    async fn check(&self, tx: &mpsc::Sender<Alert>) {
        let Ok(figures) = self.state.figures().await else {
            return; // the next nudge tries again
        };
        let fired = self.fired.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for percent in reached(&self.settings.thresholds, &fired, &figures) {
            let claimed = match self.state.claim_alert(&self.epoch, percent).await {
                Ok(claimed) => claimed,
                Err(_) => return, // the next nudge tries again
            };
            self.fired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(percent);
            self.metrics.set_alert(percent);
            if !claimed {
                continue; // another guard of the shared budget sends it
            }
            let _ = self.journal.alert(&AlertLine {
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                kind: "alert",
                epoch: self.epoch.clone(),
                threshold_percent: percent,
                budget_units: figures.total,
                spent_units: figures.spent(),
            });
            let alert = Alert {
                text: self
                    .scrubber
                    .scrub(&text(percent, &figures, &self.account))
                    .into_owned(),
                threshold_percent: percent,
                budget_units: figures.total,
                spent_units: figures.spent(),
                remaining_units: figures.left,
                account: self.account.clone(),
            };
            if tx.try_send(alert).is_err() {
                (self.warn)(&format!(
                    "warning: the {percent}% budget alert was dropped: {QUEUE} alerts are already waiting to be sent"
                ));
            }
        }
    }
}

/// The running checker and sender.
pub struct AlertTasks {
    stop: tokio::sync::oneshot::Sender<()>,
    checker: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
}

/// How long a stopping guard waits for alerts still being sent.
pub const DRAIN: Duration = Duration::from_secs(15);

impl AlertTasks {
    /// Once calls are over: a last check (a threshold the last call crossed is claimed), then
    /// up to `wait` for the queue to be delivered. False when alerts were still being sent
    /// (they are dropped).
    pub async fn finish(self, wait: Duration) -> bool {
        let AlertTasks {
            stop,
            checker,
            sender,
        } = self;
        let _ = stop.send(());
        let (abort_checker, abort_sender) = (checker.abort_handle(), sender.abort_handle());
        let drained = tokio::time::timeout(wait, async {
            let _ = checker.await;
            let _ = sender.await;
        })
        .await
        .is_ok();
        abort_checker.abort();
        abort_sender.abort();
        drained
    }

    /// Stops at once (a second signal): alerts not yet sent are dropped.
    pub fn abort(self) {
        self.checker.abort();
        self.sender.abort();
    }
}

/// Delivers queued alerts, one at a time per destination: the webhook and the command each
/// have their own line, so a webhook that hangs (up to [`WEBHOOK_ATTEMPTS`] × the delivery
/// timeout) never holds back the command, nor the command the webhook.
async fn send_all(mut rx: mpsc::Receiver<Alert>, settings: AlertSettings, warn: Warn) {
    let http = crate::account::transport::http_client(
        concat!("budget-guard/", env!("CARGO_PKG_VERSION")),
        DELIVERY_TIMEOUT,
    )
    .timeout(DELIVERY_TIMEOUT)
    .build()
    .ok();
    let (to_webhook, mut webhook_line) = mpsc::channel::<Alert>(QUEUE);
    let (to_command, mut command_line) = mpsc::channel::<Alert>(QUEUE);
    let dispatch = async {
        while let Some(alert) = rx.recv().await {
            for (line, wanted, destination) in [
                (&to_webhook, settings.webhook.is_some(), "webhook"),
                (&to_command, settings.command.is_some(), "command"),
            ] {
                if wanted && line.try_send(alert.clone()).is_err() {
                    warn(&format!(
                        "warning: the {}% budget alert was dropped for the {destination}: {QUEUE} alerts are already waiting for it",
                        alert.threshold_percent
                    ));
                }
            }
        }
        // The queue closed (the guard stops): so do the lines, once they are delivered.
        drop(to_webhook);
        drop(to_command);
    };
    let webhook = async {
        while let Some(alert) = webhook_line.recv().await {
            if let (Some(url), Some(http)) = (&settings.webhook, &http) {
                if let Err(reason) = post(http, url, &alert, Duration::from_millis(500)).await {
                    warn(&format!(
                        "warning: the {}% budget alert could not be sent to the webhook {} after {WEBHOOK_ATTEMPTS} attempts: {reason}",
                        alert.threshold_percent,
                        shown_webhook(url)
                    ));
                }
            }
        }
    };
    let command = async {
        while let Some(alert) = command_line.recv().await {
            if let Some(command) = &settings.command {
                if let Err(reason) = run(command, &alert).await {
                    warn(&format!(
                        "warning: the {}% budget alert command {} failed: {reason}",
                        alert.threshold_percent,
                        command.first().map_or("", String::as_str)
                    ));
                }
            }
        }
    };
    tokio::join!(dispatch, webhook, command);
}

/// POSTs the alert, retrying a failure (no answer, or not 2xx) with back-off from `first`.
async fn post(
    http: &reqwest::Client,
    url: &reqwest::Url,
    alert: &Alert,
    first: Duration,
) -> Result<(), String> {
    let mut wait = first;
    let mut last = String::new();
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        match http.post(url.clone()).json(alert).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last = format!("it answered {}", response.status().as_u16()),
            // reqwest's errors may quote the URL, which may be a secret: say what kind it was.
            Err(e) if e.is_timeout() => last = "no answer in time".into(),
            Err(e) if e.is_connect() => last = "could not connect".into(),
            Err(_) => last = "the request failed".into(),
        }
        if attempt < WEBHOOK_ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    Err(last)
}

/// The environment variables the command gets.
pub fn environment(alert: &Alert) -> Vec<(&'static str, String)> {
    vec![
        ("BUDGET_ALERT_TEXT", alert.text.clone()),
        (
            "BUDGET_ALERT_THRESHOLD_PERCENT",
            alert.threshold_percent.to_string(),
        ),
        ("BUDGET_ALERT_BUDGET_UNITS", alert.budget_units.to_string()),
        ("BUDGET_ALERT_SPENT_UNITS", alert.spent_units.to_string()),
        (
            "BUDGET_ALERT_REMAINING_UNITS",
            alert.remaining_units.to_string(),
        ),
        ("BUDGET_ALERT_ACCOUNT", alert.account.clone()),
    ]
}

/// Runs the command (no shell; a cleared environment) within [`DELIVERY_TIMEOUT`].
async fn run(command: &[String], alert: &Alert) -> Result<(), String> {
    let Some((program, args)) = command.split_first() else {
        return Ok(());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for var in ["PATH", "HOME", "LANG", "TZ"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.envs(environment(alert));
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("it could not be started ({})", crate::io_reason(&e)))?;
    match tokio::time::timeout(DELIVERY_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("it exited with {code}"),
            None => "it was killed by a signal".into(),
        }),
        Ok(Err(e)) => Err(crate::io_reason(&e)),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!(
                "it did not finish within {} s and was killed",
                DELIVERY_TIMEOUT.as_secs()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse() {
        assert_eq!(
            parse_thresholds("80%,50%, 95 %,80").unwrap(),
            vec![50, 80, 95]
        );
        for bad in ["0%", "101%", "half", "50%,", "12.5%"] {
            let e = parse_thresholds(bad).unwrap_err();
            assert!(e.contains("is not a whole percentage"), "{bad}: {e}");
        }
    }

    #[test]
    fn thresholds_reached_by_hand() {
        let f = |left: i64, reserved: u64| Figures {
            total: 1000,
            left,
            reserved,
        };
        let none = BTreeSet::new();
        // 1,000 − 450 − 50 = 500 spent: 50% reached, 80% not.
        assert_eq!(reached(&[50, 80, 95], &none, &f(450, 50)), vec![50]);
        // 499 spent: none.
        assert!(reached(&[50, 80], &none, &f(501, 0)).is_empty());
        // Overdrawn by 200 (1,200 spent): all, less those fired.
        let fired: BTreeSet<u8> = [50].into();
        assert_eq!(reached(&[50, 80, 95], &fired, &f(-200, 0)), vec![80, 95]);
        // A budget of 0: nothing to reach.
        let zero = Figures {
            total: 0,
            left: 0,
            reserved: 0,
        };
        assert!(reached(&[50], &none, &zero).is_empty());
    }

    #[test]
    fn the_text_and_the_webhook_as_shown() {
        let f = Figures {
            total: 10_000,
            left: 1_500,
            reserved: 500,
        };
        // 10,000 − 1,500 − 500 = 8,000 spent.
        assert_eq!(
            text(80, &f, "0123456789abcdef"),
            "budget guard: 80% of the budget is spent — 8,000 of 10,000 units; 1,500 units left (account 0123456789abcdef)"
        );
        let url = reqwest::Url::parse("https://hooks.slack.com/services/T0/B0/SECRET?x=1").unwrap();
        assert_eq!(shown_webhook(&url), "https://hooks.slack.com/…");
        let alert = Alert {
            text: "t".into(),
            threshold_percent: 80,
            budget_units: 10_000,
            spent_units: 8_000,
            remaining_units: 1_500,
            account: "a".into(),
        };
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"text": "t", "threshold_percent": 80, "budget_units": 10000, "spent_units": 8000, "remaining_units": 1500, "account": "a"})
        );
        assert!(environment(&alert).contains(&("BUDGET_ALERT_SPENT_UNITS", "8000".into())));
    }
}
