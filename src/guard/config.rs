//! The guard's settings, validated: every flag problem is found at once (one line each), and
//! what passes is typed (an address, durations, a budget rule) so that the rest of the guard
//! never re-checks a flag. `commands::guard` copies the command line into [`Flags`]; this module
//! knows nothing of clap and prints nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use super::alerts::{self, AlertSettings};
use super::clients::Clients;
use super::dashboard::Refresh;
use super::server::Limits;
use super::GuardError;
use crate::workflow::Reserve;

/// The guard's flags as given (plain values).
#[derive(Debug, Clone, PartialEq)]
pub struct Flags {
    pub listen: String,
    pub budget: Option<u64>,
    pub reserve: Option<String>,
    pub new_budget: bool,
    pub rps: Option<u32>,
    pub journal: Option<PathBuf>,
    pub client_token_file: Option<PathBuf>,
    pub max_wait: f64,
    pub max_queue: usize,
    pub max_connections: usize,
    pub grace: f64,
    /// Milliseconds added to the vendor's one-second rate window.
    pub rate_margin_ms: u64,
    pub offline: bool,
    pub retries: u32,
    pub timeout: f64,
    pub redis: Option<String>,
    /// `--metrics-listen ADDR:PORT`.
    pub metrics_listen: Option<String>,
    pub metrics_token_file: Option<PathBuf>,
    pub shadow: bool,
    pub clients: Option<PathBuf>,
    /// `--alert-at 50%,80%,95%`.
    pub alert_at: Option<String>,
    pub alert_webhook: Option<String>,
    pub alert_command: Option<String>,
    /// `--admin-token-file`: opens the admin endpoint (raise, approve).
    pub admin_token_file: Option<PathBuf>,
    /// `--approval-above N`.
    pub approval_above: Option<u64>,
    /// `--soft-budget N`.
    pub soft_budget: Option<u64>,
    /// `--dashboard-refresh SECONDS`.
    pub dashboard_refresh: u64,
}

/// The thresholds alerts use when a destination is given without `--alert-at`.
pub const DEFAULT_ALERT_AT: [u8; 3] = [50, 80, 95];

/// Where the budget comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetRule {
    /// `--budget N`.
    Fixed(u64),
    /// The live `units_left`, less `--reserve` (and what others hold).
    Live { reserve: Option<Reserve> },
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The token every client must send (`--client-token-file`), when set.
    pub client_token: Option<String>,
    pub budget: BudgetRule,
    /// `--new-budget`: start a fresh budget even when the journal (or Redis) holds one.
    pub new_budget: bool,
    /// Requests per rolling window.
    pub rps: u32,
    /// The rolling window: one second plus the margin.
    pub window: Duration,
    pub max_wait: Duration,
    pub max_queue: usize,
    pub limits: Limits,
    /// Upstream attempts per call, the first included.
    pub attempts: u32,
    pub timeout: Duration,
    pub journal: Option<PathBuf>,
    pub redis: Option<String>,
    /// Where `/metrics`, `/healthz` and the operator's `/budget/status` are served.
    pub metrics_listen: Option<SocketAddr>,
    /// The token the metrics listener asks for (`--metrics-token-file`).
    pub metrics_token: Option<String>,
    /// `--shadow`: never refuse a call for the budget.
    pub shadow: bool,
    /// `--clients`: the clients, validated.
    pub clients: Option<Arc<Clients>>,
    pub alerts: AlertSettings,
    /// The admin endpoint's token (`--admin-token-file`), when it is served.
    pub admin_token: Option<String>,
    /// Which calls need an operator's approval.
    pub rules: super::admin::Rules,
    /// How often the dashboard's script refreshes its figures.
    pub dashboard_refresh: Refresh,
}

/// Most milliseconds `--rate-margin` takes: beyond, the window is more than twice the vendor's.
const MAX_MARGIN_MS: u64 = 1000;

fn seconds(value: f64, positive: bool) -> Option<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !positive || !d.is_zero())
}

impl Flags {
    /// Checks every flag; `default_rps` is the pricing file's rate limit. Collects every
    /// problem ([`GuardError::Settings`]).
    pub fn validate(&self, default_rps: u32) -> Result<Settings, GuardError> {
        let mut problems = Vec::new();
        let mut problem = |flag: &'static str, reason: String| {
            problems.push(GuardError::Setting { flag, reason });
        };
        if self.offline {
            problem(
                "--offline",
                "budget guard forwards calls to the API, which --offline forbids; drop --offline"
                    .into(),
            );
        }
        let listen = self.listen.trim().parse::<SocketAddr>().ok();
        if listen.is_none() {
            problem(
                "--listen",
                format!(
                    "{:?} is not an address and port like 127.0.0.1:8787",
                    self.listen
                ),
            );
        }
        let client_token = match &self.client_token_file {
            Some(path) => match super::client_token(path) {
                Ok(token) => Some(token),
                Err(GuardError::Setting { flag, reason }) => {
                    problem(flag, reason);
                    None
                }
                Err(other) => {
                    problem("--client-token-file", other.to_string());
                    None
                }
            },
            None => None,
        };
        if let Some(addr) = listen.filter(|a| !a.ip().is_loopback()) {
            if self.client_token_file.is_none() && self.clients.is_none() {
                problem(
                    "--listen",
                    format!(
                        "{addr} is reachable from other machines, whose calls would spend the budget; \
                         pass --client-token-file FILE (clients then send the token in X-Budget-Token) \
                         or --clients FILE, or listen on 127.0.0.1"
                    ),
                );
            }
        }
        if self.clients.is_some() && self.client_token_file.is_some() {
            problem(
                "--clients",
                "give --clients (each client with its own token) or --client-token-file (one token for all), not both".into(),
            );
        }
        let clients = match &self.clients {
            Some(path) => match Clients::load(path) {
                Ok(clients) => Some(Arc::new(clients)),
                Err(super::clients::ClientsError::Invalid { problems: lines }) => {
                    for line in lines {
                        problem("--clients", line);
                    }
                    None
                }
                Err(super::clients::ClientsError::File { reason }) => {
                    problem("--clients", reason);
                    None
                }
            },
            None => None,
        };
        let metrics_token = match &self.metrics_token_file {
            Some(path) => match super::client_token(path) {
                Ok(token) => Some(token),
                Err(GuardError::Setting { reason, .. }) => {
                    problem("--metrics-token-file", reason);
                    None
                }
                Err(other) => {
                    problem("--metrics-token-file", other.to_string());
                    None
                }
            },
            None => None,
        };
        let metrics_listen = match &self.metrics_listen {
            Some(text) => match text.trim().parse::<SocketAddr>() {
                Ok(addr) => {
                    if !addr.ip().is_loopback() && self.metrics_token_file.is_none() {
                        problem(
                            "--metrics-listen",
                            format!(
                                "{addr} is reachable from other machines, which would read the account's spend; \
                                 pass --metrics-token-file FILE (scrapers then send Authorization: Bearer TOKEN), \
                                 or listen on 127.0.0.1"
                            ),
                        );
                    }
                    if listen.is_some_and(|l| l == addr && addr.port() != 0) {
                        problem(
                            "--metrics-listen",
                            format!("{addr} is the API listener's address (--listen); give the metrics their own port"),
                        );
                    }
                    Some(addr)
                }
                Err(_) => {
                    problem(
                        "--metrics-listen",
                        format!("{text:?} is not an address and port like 127.0.0.1:9187"),
                    );
                    None
                }
            },
            None => None,
        };
        if self.metrics_token_file.is_some() && self.metrics_listen.is_none() {
            problem(
                "--metrics-token-file",
                "protects the metrics listener, which only --metrics-listen ADDR:PORT starts"
                    .into(),
            );
        }
        let mut alert_settings = AlertSettings::default();
        if let Some(text) = &self.alert_webhook {
            match reqwest::Url::parse(text.trim()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                    alert_settings.webhook = Some(url);
                }
                _ => problem(
                    "--alert-webhook",
                    "give an http:// or https:// URL (e.g. a Slack or Mattermost incoming webhook)"
                        .into(),
                ),
            }
        }
        if let Some(command) = &self.alert_command {
            let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
            if words.is_empty() {
                problem(
                    "--alert-command",
                    "is empty; give a program (and its arguments), e.g. /usr/local/bin/notify-budget".into(),
                );
            } else {
                alert_settings.command = Some(words);
            }
        }
        match &self.alert_at {
            Some(text) => match alerts::parse_thresholds(text) {
                Ok(thresholds) => alert_settings.thresholds = thresholds,
                Err(reason) => problem("--alert-at", reason),
            },
            None => alert_settings.thresholds = DEFAULT_ALERT_AT.to_vec(),
        }
        if self.alert_at.is_some() && self.alert_webhook.is_none() && self.alert_command.is_none() {
            problem(
                "--alert-at",
                "alerts need somewhere to go: add --alert-webhook URL or --alert-command CMD"
                    .into(),
            );
        }
        if alert_settings.webhook.is_none() && alert_settings.command.is_none() {
            alert_settings.thresholds.clear();
        }
        let reserve = match self.reserve.as_deref().map(Reserve::parse).transpose() {
            Ok(reserve) => reserve,
            Err(reason) => {
                problem("--reserve", reason);
                None
            }
        };
        let max_wait = seconds(self.max_wait, false);
        if max_wait.is_none() {
            problem(
                "--max-wait",
                format!("{} is not a number of seconds", self.max_wait),
            );
        }
        let timeout = seconds(self.timeout, true);
        if timeout.is_none() {
            problem(
                "--timeout",
                format!("{} is not a positive number of seconds", self.timeout),
            );
        }
        let grace = seconds(self.grace, false);
        if grace.is_none() {
            problem(
                "--grace",
                format!("{} is not a number of seconds", self.grace),
            );
        }
        let rps = self.rps.unwrap_or(default_rps);
        if rps == 0 {
            problem(
                "--rps",
                "0 requests per second would forward nothing; give 1 or more".into(),
            );
        }
        if self.max_connections == 0 {
            problem(
                "--max-connections",
                "0 connections would serve nothing; give 1 or more (default 512)".into(),
            );
        }
        if self.rate_margin_ms > MAX_MARGIN_MS {
            problem(
                "--rate-margin",
                format!(
                    "{} ms is more than the {MAX_MARGIN_MS} ms the window may grow by; give milliseconds, e.g. 25",
                    self.rate_margin_ms
                ),
            );
        }
        let dashboard_refresh = Refresh::from_seconds(self.dashboard_refresh);
        if dashboard_refresh.is_none() {
            problem(
                "--dashboard-refresh",
                format!(
                    "{} s is not between {} and {} seconds (an hour); give whole seconds, e.g. {} (the default)",
                    self.dashboard_refresh,
                    Refresh::MIN_SECONDS,
                    Refresh::MAX_SECONDS,
                    Refresh::DEFAULT_SECONDS,
                ),
            );
        }
        let admin_token = match &self.admin_token_file {
            Some(path) => match super::client_token(path) {
                Ok(token) => Some(token),
                Err(GuardError::Setting { reason, .. }) => {
                    problem(
                        "--admin-token-file",
                        reason.replace("clients must send", "operators send"),
                    );
                    None
                }
                Err(other) => {
                    problem("--admin-token-file", other.to_string());
                    None
                }
            },
            None => None,
        };
        if let Some(admin) = &admin_token {
            // One token, one power: a client's token spends units, the metrics token reads;
            // neither may raise the budget or approve calls.
            let clients_token = client_token
                .as_deref()
                .is_some_and(|t| super::same_secret(t, admin))
                || clients.as_ref().is_some_and(|c| c.has_token(admin));
            if clients_token {
                problem(
                    "--admin-token-file",
                    "holds a client's token: the admin token raises the budget and approves calls, so it must be one no client has; make one with `openssl rand -hex 32 > admin.token`".into(),
                );
            }
            if metrics_token
                .as_deref()
                .is_some_and(|t| super::same_secret(t, admin))
            {
                problem(
                    "--admin-token-file",
                    "holds the metrics listener's token (--metrics-token-file): give the admin endpoint a token of its own".into(),
                );
            }
        }
        if (self.approval_above.is_some() || self.soft_budget.is_some())
            && self.admin_token_file.is_none()
        {
            problem(
                if self.approval_above.is_some() { "--approval-above" } else { "--soft-budget" },
                "calls that need an approval could never get one: add --admin-token-file FILE (operators approve with budget guard-admin approve ID)".into(),
            );
        }
        let (
            Some(listen),
            Some(max_wait),
            Some(timeout),
            Some(grace),
            Some(dashboard_refresh),
            true,
        ) = (
            listen,
            max_wait,
            timeout,
            grace,
            dashboard_refresh,
            problems.is_empty(),
        )
        else {
            return Err(match problems.len() {
                1 => problems.remove(0),
                _ => GuardError::Settings { problems },
            });
        };
        Ok(Settings {
            listen,
            client_token,
            budget: match self.budget {
                Some(units) => BudgetRule::Fixed(units),
                None => BudgetRule::Live { reserve },
            },
            new_budget: self.new_budget,
            rps,
            window: Duration::from_secs(1) + Duration::from_millis(self.rate_margin_ms),
            max_wait,
            max_queue: self.max_queue,
            limits: Limits {
                max_connections: self.max_connections,
                grace,
                ..Limits::default()
            },
            attempts: self.retries.max(1),
            timeout,
            journal: self.journal.clone(),
            redis: self.redis.clone(),
            metrics_listen,
            metrics_token,
            shadow: self.shadow,
            clients,
            alerts: alert_settings,
            admin_token,
            rules: super::admin::Rules {
                above: self.approval_above,
                soft: self.soft_budget,
            },
            dashboard_refresh,
        })
    }
}

impl Settings {
    /// How long a call may hold a reservation before it counts as spent ([`super::hold_ttl`]).
    pub fn hold_ttl(&self) -> Duration {
        super::hold_ttl(self.attempts, self.max_wait, self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags {
            listen: "127.0.0.1:8787".into(),
            budget: Some(5),
            reserve: None,
            new_budget: false,
            rps: None,
            journal: None,
            client_token_file: None,
            max_wait: 30.0,
            max_queue: 1000,
            max_connections: 512,
            grace: 30.0,
            rate_margin_ms: 25,
            offline: false,
            retries: 5,
            timeout: 20.0,
            redis: None,
            metrics_listen: None,
            metrics_token_file: None,
            shadow: false,
            clients: None,
            alert_at: None,
            alert_webhook: None,
            alert_command: None,
            admin_token_file: None,
            approval_above: None,
            soft_budget: None,
            dashboard_refresh: 5,
        }
    }

    #[test]
    fn good_flags_become_settings() {
        let settings = flags().validate(10).expect("valid");
        assert_eq!(settings.listen, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(settings.budget, BudgetRule::Fixed(5));
        // 1 s + 25 ms margin.
        assert_eq!(settings.window, Duration::from_millis(1025));
        assert_eq!(settings.rps, 10);
        assert_eq!(settings.limits.max_connections, 512);
        assert_eq!(settings.limits.grace, Duration::from_secs(30));
        assert_eq!(settings.dashboard_refresh.seconds(), 5);
        let live = Flags {
            budget: None,
            reserve: Some("10%".into()),
            ..flags()
        }
        .validate(10)
        .expect("valid");
        assert!(matches!(
            live.budget,
            BudgetRule::Live {
                reserve: Some(Reserve::Percent(_))
            }
        ));
    }

    /// Every problem at once, one line each.
    #[test]
    fn every_problem_is_reported() {
        let bad = Flags {
            listen: "0.0.0.0:8787".into(),
            reserve: Some("lots".into()),
            rps: Some(0),
            max_wait: -1.0,
            timeout: 0.0,
            grace: f64::NAN,
            max_connections: 0,
            rate_margin_ms: 5000,
            offline: true,
            dashboard_refresh: 0,
            ..flags()
        };
        let text = bad.validate(10).unwrap_err().to_string();
        for phrase in [
            "--offline: budget guard forwards calls to the API",
            "--listen: 0.0.0.0:8787 is reachable from other machines",
            "--reserve: ",
            "--max-wait: -1 is not a number of seconds",
            "--timeout: 0 is not a positive number of seconds",
            "--grace: NaN is not a number of seconds",
            "--rps: 0 requests per second",
            "--max-connections: 0 connections would serve nothing",
            "--rate-margin: 5000 ms is more than",
            "--dashboard-refresh: 0 s is not between 1 and 3600 seconds",
        ] {
            assert!(text.contains(phrase), "{phrase:?} not in:\n{text}");
        }
        assert_eq!(text.lines().count(), 10, "{text}");
    }

    /// The operations flags: every problem at once too.
    #[test]
    fn operations_flags_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "tok\n").unwrap();
        let bad = Flags {
            metrics_listen: Some("0.0.0.0:9187".into()),
            alert_at: Some("50%,120%".into()),
            alert_webhook: Some("ftp://x".into()),
            alert_command: Some("  ".into()),
            clients: Some(dir.path().join("missing.yaml")),
            client_token_file: Some(token.clone()),
            ..flags()
        };
        let text = bad.validate(10).unwrap_err().to_string();
        for phrase in [
            "--metrics-listen: 0.0.0.0:9187 is reachable from other machines",
            "--alert-at: \"120%\" is not a whole percentage",
            "--alert-webhook: give an http:// or https:// URL",
            "--alert-command: is empty",
            "--clients: give --clients (each client with its own token) or --client-token-file",
            "--clients: cannot read the clients file",
        ] {
            assert!(text.contains(phrase), "{phrase:?} not in:\n{text}");
        }
        let nowhere = Flags {
            alert_at: Some("80%".into()),
            metrics_token_file: Some(token.clone()),
            ..flags()
        };
        let text = nowhere.validate(10).unwrap_err().to_string();
        assert!(
            text.contains("--alert-at: alerts need somewhere to go"),
            "{text}"
        );
        assert!(
            text.contains("--metrics-token-file: protects the metrics listener"),
            "{text}"
        );
        // A webhook without --alert-at: 50%, 80%, 95%; the metrics listener with its token.
        let good = Flags {
            alert_webhook: Some("https://hooks.example/T/B/secret".into()),
            metrics_listen: Some("0.0.0.0:9187".into()),
            metrics_token_file: Some(token),
            ..flags()
        }
        .validate(10)
        .unwrap();
        assert_eq!(good.alerts.thresholds, vec![50, 80, 95]);
        assert_eq!(good.metrics_token.as_deref(), Some("tok"));
        // No destination: no thresholds.
        assert!(flags().validate(10).unwrap().alerts.thresholds.is_empty());
    }
}
