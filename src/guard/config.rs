//! The guard's settings, validated: every flag problem is found at once (one line each), and
//! what passes is typed (an address, durations, a budget rule) so that the rest of the guard
//! never re-checks a flag. `commands::guard` copies the command line into [`Flags`]; this module
//! knows nothing of clap and prints nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
}

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
            if self.client_token_file.is_none() {
                problem(
                    "--listen",
                    format!(
                        "{addr} is reachable from other machines, whose calls would spend the budget; \
                         pass --client-token-file FILE (clients then send the token in X-Budget-Token), \
                         or listen on 127.0.0.1"
                    ),
                );
            }
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
        let (Some(listen), Some(max_wait), Some(timeout), Some(grace), true) =
            (listen, max_wait, timeout, grace, problems.is_empty())
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
        ] {
            assert!(text.contains(phrase), "{phrase:?} not in:\n{text}");
        }
        assert_eq!(text.lines().count(), 9, "{text}");
    }
}
