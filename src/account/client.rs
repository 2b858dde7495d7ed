//! The account reads (free calls), on the shared [`Transport`]: turning its replies into
//! results and its failures into [`AccountError`]s with what to do.

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT};
use reqwest::Method;

use super::envelope::{Class, Terminal};
use super::retry::Backoff;
use super::transport::{self, Failure, Policy, Reply, Request, SetupError, Transport};
use super::{AccountBalance, AccountError, ApiKey, AuthMethod, Scrubber, Subscription};

/// Longest time one attempt may take (sending, waiting, reading the body), so a hung attempt
/// still leaves time to retry within the total limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Replies larger than this are refused (a subscription reply is about 200 bytes).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Everything a client needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL, e.g. `https://api.seranking.com` (paths under `/v1/` are appended).
    pub api_url: String,
    pub key: ApiKey,
    pub auth: AuthMethod,
    /// Attempts per call, the first included (at least 1).
    pub attempts: u32,
    /// Total time per call, retries and waits included.
    pub total_timeout: Duration,
    pub backoff: Backoff,
}

impl Config {
    /// A config from the command-line values; `timeout_seconds` must be positive and finite.
    /// `attempts` 0 is read as 1 (no retries). The back-off base comes from `BUDGET_RETRY_BASE_MS`.
    pub fn new(
        api_url: &str,
        key: ApiKey,
        auth: AuthMethod,
        attempts: u32,
        timeout_seconds: f64,
    ) -> Result<Config, AccountError> {
        let total_timeout = total_timeout(timeout_seconds)?;
        Ok(Config {
            api_url: api_url.to_string(),
            key,
            auth,
            attempts: attempts.max(1),
            total_timeout,
            backoff: Backoff::from_env()?,
        })
    }
}

/// `--timeout` as a duration: positive and finite.
fn total_timeout(timeout_seconds: f64) -> Result<Duration, AccountError> {
    Duration::try_from_secs_f64(timeout_seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| AccountError::Setting {
            name: "--timeout".into(),
            reason: format!("{timeout_seconds} is not a positive number of seconds"),
        })
}

/// Checks the connection settings (`--api-url`, `--timeout`, BUDGET_RETRY_BASE_MS) without a
/// key, so a bad setting is reported as such (exit 2) even when the key is also missing. `key`,
/// when known, is scrubbed from the messages.
pub fn check_settings(
    api_url: &str,
    timeout_seconds: f64,
    key: Option<&ApiKey>,
) -> Result<(), AccountError> {
    let scrubber = Scrubber::new(key.map(ApiKey::expose));
    transport::base_url(api_url, &scrubber).map_err(|e| setup_error(e, None))?;
    total_timeout(timeout_seconds)?;
    Backoff::from_env()?;
    Ok(())
}

/// A transport problem as an account error.
fn setup_error(e: SetupError, key: Option<&ApiKey>) -> AccountError {
    match e {
        SetupError::Url { url, reason } => AccountError::InvalidUrl { url, reason },
        SetupError::KeyNotSendable => match key {
            Some(key) => AccountError::KeyInvalid {
                origin: key.origin().clone(),
                problem: "cannot be sent in a header",
            },
            None => AccountError::Runtime {
                reason: "the API key cannot be sent".into(),
            },
        },
        SetupError::Client { reason } => AccountError::Runtime { reason },
    }
}

/// The SE Ranking API client for account reads.
#[derive(Debug)]
pub struct Client {
    transport: Transport,
    config: Config,
}

impl Client {
    pub fn new(config: Config) -> Result<Client, AccountError> {
        let policy = Policy {
            attempts: config.attempts,
            timeout: config.total_timeout,
            attempt_timeout: Some(ATTEMPT_TIMEOUT),
            backoff: config.backoff,
            body_cap: MAX_BODY_BYTES,
            // An account read is free: a call lost mid-way may be tried again.
            retry_lost: true,
            user_agent: concat!("budget/", env!("CARGO_PKG_VERSION")),
        };
        let transport = Transport::new(&config.api_url, config.key.clone(), config.auth, policy)
            .map_err(|e| setup_error(e, Some(&config.key)))?;
        Ok(Client { transport, config })
    }

    fn scrubbed(&self, text: &str) -> String {
        super::envelope::one_line(&self.transport.scrubber().scrub(text))
    }

    /// The account's balance in both pools (`/v1/account/credits`), or the subscription alone
    /// when the API answers that endpoint with 404 or the vendor's 400 "The requested resource
    /// could not be found.". Whether the account can spend is the caller's to ask
    /// ([`AccountBalance::require_usable`]): `budget balance` shows an inactive account too.
    pub async fn balance(&self) -> Result<AccountBalance, AccountError> {
        match self.get("v1/account/credits").await {
            Ok(reply) => {
                let now = chrono::Utc::now().naive_utc();
                AccountBalance::from_credits(&reply.body, now)
                    .map(|b| self.scrubbed_balance(b))
                    .map_err(|reason| AccountError::InvalidResponse {
                        status: reply.status,
                        reason: self.scrubbed(&reason),
                    })
            }
            Err(e) if no_such_endpoint(&e) => {
                let subscription = self.subscription().await?;
                Ok(self.scrubbed_balance(AccountBalance::from_subscription(subscription)))
            }
            Err(e) => Err(e),
        }
    }

    /// The texts of a balance that came from the API, scrubbed (they reach the output).
    fn scrubbed_balance(&self, b: AccountBalance) -> AccountBalance {
        AccountBalance {
            status: self.scrubbed(&b.status),
            access: b.access.as_deref().map(|a| self.scrubbed(a)),
            ..b
        }
    }

    /// The account's subscription, whatever its status.
    pub async fn subscription(&self) -> Result<Subscription, AccountError> {
        let reply = self.get("v1/account/subscription").await?;
        Subscription::parse(&reply.body).map_err(|reason| AccountError::InvalidResponse {
            status: reply.status,
            reason: self.scrubbed(&reason),
        })
    }

    /// `GET {api-url}/{path}` with the key, retried by the transport's rules; a 2xx reply read
    /// whole, or the error that ended the call.
    pub async fn get(&self, path: &str) -> Result<Reply, AccountError> {
        let request = Request {
            method: Method::GET,
            path,
            query: None,
            headers: vec![(ACCEPT, HeaderValue::from_static("application/json"))],
            body: bytes::Bytes::new(),
        };
        let exchange = self.transport.send_free(&request).await;
        let (attempts, elapsed) = (exchange.attempts, took(exchange.elapsed));
        let reply = match exchange.result {
            Ok(reply) => reply,
            Err(Failure::Hook(never)) => match never {},
            Err(Failure::Lost {
                timed_out: true, ..
            }) => {
                return Err(AccountError::TimedOut {
                    url: self.transport.shown().to_string(),
                    limit: seconds(self.config.total_timeout),
                    attempts,
                })
            }
            Err(
                Failure::NotSent { reason }
                | Failure::Unsendable { reason }
                | Failure::Lost { reason, .. },
            ) => {
                return Err(AccountError::Unreachable {
                    url: self.transport.shown().to_string(),
                    reason,
                    attempts,
                    elapsed,
                })
            }
        };
        let (status, message) = (reply.status, reply.message.clone());
        match reply.class {
            Class::Success if reply.too_large => Err(AccountError::InvalidResponse {
                status,
                reason: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            }),
            Class::Success => Ok(reply),
            Class::Retry => Err(AccountError::Unavailable {
                status,
                message,
                attempts,
                elapsed,
            }),
            Class::Terminal(terminal) => Err(match terminal {
                Terminal::InsufficientFunds => AccountError::InsufficientFunds { status, message },
                Terminal::LicenseExpired => AccountError::LicenseExpired { status, message },
                Terminal::NoToken => AccountError::NoToken { status, message },
                Terminal::AuthFailed => AccountError::AuthFailed {
                    status,
                    message,
                    origin: self.config.key.origin().to_string(),
                },
                Terminal::Redirect => AccountError::Rejected {
                    status,
                    message: "a redirect, which is not followed (the key must not go elsewhere)"
                        .into(),
                },
                Terminal::Rejected => AccountError::Rejected { status, message },
            }),
        }
    }
}

/// The API has no such endpoint: 404, or the vendor's 400 "The requested resource could not be
/// found." (an older API without `/v1/account/credits`).
fn no_such_endpoint(e: &AccountError) -> bool {
    match e {
        AccountError::Rejected { status: 404, .. } => true,
        AccountError::Rejected {
            status: 400,
            message,
        } => message
            .to_lowercase()
            .contains("the requested resource could not be found"),
        _ => false,
    }
}

/// Time taken: `"35 ms"` under a second, else `"1.2 s"`.
fn took(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        seconds(d)
    }
}

/// `1.25 s` → `"1.2 s"`; whole seconds without decimals.
fn seconds(d: Duration) -> String {
    let text = format!("{:.1}", d.as_secs_f64());
    format!("{} s", text.trim_end_matches(".0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::KeyOrigin;

    const SECRET: &str = "5ec7e7c0-1eak";

    #[test]
    fn config_checks_the_timeout_and_reads_attempts_0_as_1() {
        let key = || ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let message = Config::new("https://x.test", key(), AuthMethod::Header, 5, bad)
                .unwrap_err()
                .to_string();
            assert!(message.starts_with("--timeout: "), "{message}");
        }
        let config = Config::new("https://x.test", key(), AuthMethod::Header, 0, 0.5).unwrap();
        assert_eq!(
            (config.attempts, config.total_timeout),
            (1, Duration::from_millis(500))
        );
    }

    #[test]
    fn bad_urls_are_account_errors_without_the_key() {
        let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
        let config = Config {
            api_url: "https://me:5ec7e7c0-1eak@api.seranking.com".into(),
            key: key.clone(),
            auth: AuthMethod::Header,
            attempts: 1,
            total_timeout: Duration::from_secs(1),
            backoff: Backoff::default(),
        };
        let message = Client::new(config).unwrap_err().to_string();
        assert_eq!(
            message,
            "--api-url https://api.seranking.com is not a usable URL: it carries credentials; the key \
             goes in SERANKING_API_KEY or --api-key-file"
        );
        let message = check_settings("ftp://x.test/?apikey=5ec7e7c0-1eak", 1.0, Some(&key))
            .unwrap_err()
            .to_string();
        assert!(message.contains("only http and https"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(took(Duration::from_millis(35)), "35 ms");
        assert_eq!(took(Duration::from_millis(1250)), "1.2 s");
        assert_eq!(seconds(Duration::from_secs(20)), "20 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
    }
}
