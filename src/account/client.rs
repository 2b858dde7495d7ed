//! One client per run: the request, the retry loop, and turning replies into results.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use reqwest::Url;

use super::envelope::{self, Disposition};
use super::retry::{self, Backoff};
use super::{AccountError, ApiKey, Subscription};

/// Longest time to set up a connection (TCP + TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest time one attempt may take (sending, waiting, reading the body), so a hung attempt
/// still leaves time to retry within the total limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Replies larger than this are refused (a subscription reply is about 200 bytes).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Token KEY` (the default).
    Header,
    /// `?apikey=KEY`.
    Query,
}

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

/// The API's base URL, checked, and as messages show it (no credentials, no query). `key` is
/// scrubbed from any message.
fn base_url(api_url: &str, key: &str) -> Result<(Url, String), AccountError> {
    let invalid = |reason: &str| AccountError::InvalidUrl {
        url: envelope::scrub(api_url, key),
        reason: reason.to_string(),
    };
    let base = Url::parse(api_url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(invalid("only http and https are supported"));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(invalid(
            "it has a query or fragment; the key goes in SERANKING_API_KEY or --api-key-file",
        ));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(invalid(
            "it has credentials in it; the key goes in SERANKING_API_KEY or --api-key-file",
        ));
    }
    let host = base.host_str().ok_or_else(|| invalid("it has no host"))?;
    let shown = format!(
        "{}://{}{}{}",
        base.scheme(),
        host,
        base.port().map(|p| format!(":{p}")).unwrap_or_default(),
        base.path().trim_end_matches('/')
    );
    Ok((base, shown))
}

/// Checks the connection settings (`--api-url`, `--timeout`, BUDGET_RETRY_BASE_MS) without a
/// key, so a bad setting is reported as such (exit 2) even when the key is also missing.
pub fn check_settings(api_url: &str, timeout_seconds: f64, key: &str) -> Result<(), AccountError> {
    base_url(api_url, key)?;
    total_timeout(timeout_seconds)?;
    Backoff::from_env()?;
    Ok(())
}

/// A reply the caller should handle: a 2xx, body read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The SE Ranking API client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// The base URL as messages show it: no credentials, no query.
    shown: String,
    authorization: HeaderValue,
    config: Config,
}

/// Why an attempt failed in a way worth retrying.
enum Failure {
    Status { status: u16, message: String },
    Transport { reason: String },
    Timeout,
}

impl Client {
    pub fn new(config: Config) -> Result<Client, AccountError> {
        let key = config.key.expose();
        let (base, shown) = base_url(&config.api_url, key)?;
        let mut authorization = HeaderValue::from_str(&format!("Token {key}")).map_err(|_| {
            AccountError::KeyInvalid {
                origin: config.key.origin().clone(),
            }
        })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(config.total_timeout))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("budget/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AccountError::Runtime {
                reason: describe(e, key),
            })?;
        Ok(Client {
            http,
            base,
            shown,
            authorization,
            config,
        })
    }

    /// The account's subscription; a status other than `active` is [`AccountError::NotActive`].
    pub async fn subscription(&self) -> Result<Subscription, AccountError> {
        let reply = self.get("v1/account/subscription").await?;
        let subscription =
            Subscription::parse(&reply.body).map_err(|reason| AccountError::InvalidResponse {
                status: reply.status,
                reason: envelope::one_line(&envelope::scrub(&reason, self.config.key.expose())),
            })?;
        if !subscription.is_active() {
            return Err(AccountError::NotActive {
                status: envelope::one_line(&envelope::scrub(
                    &subscription.status,
                    self.config.key.expose(),
                )),
            });
        }
        Ok(subscription)
    }

    /// `GET {api-url}/{path}` with the key, retried as the module says; a 2xx reply, or the
    /// terminal error.
    pub async fn get(&self, path: &str) -> Result<Reply, AccountError> {
        let key = self.config.key.expose();
        let url = self.url(path);
        let started = Instant::now();
        let deadline = started + self.config.total_timeout;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let limit = remaining.min(ATTEMPT_TIMEOUT);
            let mut wait = None;
            let failure = match tokio::time::timeout(limit, self.attempt(&url)).await {
                Err(_) => Failure::Timeout,
                Ok(Err(e)) if is_transient(&e) => Failure::Transport {
                    reason: describe(e, key),
                },
                Ok(Err(e)) => {
                    return Err(AccountError::Unreachable {
                        url: self.shown.clone(),
                        reason: describe(e, key),
                        attempts,
                        elapsed: took(started.elapsed()),
                    })
                }
                Ok(Ok(attempt)) => {
                    let status = attempt.status;
                    if attempt.too_large {
                        return Err(AccountError::InvalidResponse {
                            status,
                            reason: format!("the body is larger than {} bytes", MAX_BODY_BYTES),
                        });
                    }
                    if (200..300).contains(&status) {
                        return Ok(Reply {
                            status,
                            body: attempt.body,
                        });
                    }
                    // Without its final full stop: messages go on after it with "; what to do".
                    let message = envelope::error_text(&attempt.body, key)
                        .trim_end_matches('.')
                        .to_string();
                    match envelope::classify(status, &message) {
                        Disposition::Retry => {
                            wait = attempt
                                .retry_after
                                .as_deref()
                                .and_then(|v| retry::retry_after(v, chrono::Utc::now()));
                            Failure::Status { status, message }
                        }
                        terminal => return Err(self.terminal(terminal, status, message)),
                    }
                }
            };
            let wait = wait.unwrap_or_else(|| self.config.backoff.delay(attempts));
            let out_of_time = Instant::now() + wait >= deadline;
            if attempts >= self.config.attempts || out_of_time {
                return Err(self.exhausted(failure, attempts, started.elapsed()));
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        if self.config.auth == AuthMethod::Query {
            url.query_pairs_mut()
                .append_pair("apikey", self.config.key.expose());
        }
        url
    }

    async fn attempt(&self, url: &Url) -> Result<Attempt, reqwest::Error> {
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if self.config.auth == AuthMethod::Header {
            request = request.header(AUTHORIZATION, self.authorization.clone());
        }
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut attempt = Attempt {
            status,
            retry_after,
            body: Vec::new(),
            too_large: response
                .content_length()
                .is_some_and(|n| n > MAX_BODY_BYTES as u64),
        };
        while !attempt.too_large {
            let Some(chunk) = response.chunk().await? else {
                break;
            };
            if attempt.body.len() + chunk.len() > MAX_BODY_BYTES {
                attempt.too_large = true;
            } else {
                attempt.body.extend_from_slice(&chunk);
            }
        }
        Ok(attempt)
    }

    fn terminal(&self, disposition: Disposition, status: u16, message: String) -> AccountError {
        match disposition {
            Disposition::InsufficientFunds => AccountError::InsufficientFunds { status, message },
            Disposition::LicenseExpired => AccountError::LicenseExpired { status, message },
            Disposition::NoToken => AccountError::NoToken { status, message },
            Disposition::AuthFailed => AccountError::AuthFailed {
                status,
                message,
                origin: self.config.key.origin().to_string(),
            },
            Disposition::Retry | Disposition::Rejected if (300..400).contains(&status) => {
                AccountError::Rejected {
                    status,
                    message: "a redirect, which is not followed (the key must not go elsewhere)"
                        .into(),
                }
            }
            Disposition::Retry | Disposition::Rejected => {
                AccountError::Rejected { status, message }
            }
        }
    }

    fn exhausted(&self, failure: Failure, attempts: u32, elapsed: Duration) -> AccountError {
        match failure {
            Failure::Status { status, message } => AccountError::Unavailable {
                status,
                message,
                attempts,
                elapsed: took(elapsed),
            },
            Failure::Transport { reason } => AccountError::Unreachable {
                url: self.shown.clone(),
                reason,
                attempts,
                elapsed: took(elapsed),
            },
            Failure::Timeout => AccountError::TimedOut {
                url: self.shown.clone(),
                limit: seconds(self.config.total_timeout),
                attempts,
            },
        }
    }
}

/// One attempt's reply.
struct Attempt {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
    too_large: bool,
}

/// Connection failures and timeouts can succeed later; a request that could not even be built
/// cannot.
fn is_transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

/// A reqwest error's reason, without its URL (which may hold `apikey=`), scrubbed anyway.
fn describe(e: reqwest::Error, key: &str) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(inner) = source {
        reason = match inner.downcast_ref::<std::io::Error>() {
            Some(io) => crate::io_reason(io),
            None => inner.to_string(),
        };
        source = inner.source();
    }
    if e.is_connect() && !reason.to_lowercase().contains("connect") {
        reason = format!("cannot connect ({reason})");
    }
    let reason = envelope::one_line(&envelope::scrub(&reason, key));
    let mut chars = reason.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => reason,
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

    fn client(api_url: &str, auth: AuthMethod) -> Result<Client, AccountError> {
        let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
        Client::new(Config {
            api_url: api_url.into(),
            key,
            auth,
            attempts: 5,
            total_timeout: Duration::from_secs(20),
            backoff: Backoff::default(),
        })
    }

    #[track_caller]
    fn url_is(api_url: &str, auth: AuthMethod, expected: &str, shown: &str) {
        let c = client(api_url, auth).unwrap();
        assert_eq!(c.url("v1/account/subscription").as_str(), expected);
        assert_eq!(c.shown, shown);
    }

    #[test]
    fn urls_join_and_carry_the_key_only_in_query_mode() {
        use AuthMethod::*;
        let sub = "https://api.seranking.com/v1/account/subscription";
        url_is(
            "https://api.seranking.com",
            Header,
            sub,
            "https://api.seranking.com",
        );
        url_is(
            "https://api.seranking.com/",
            Header,
            sub,
            "https://api.seranking.com",
        );
        url_is(
            "http://127.0.0.1:8080/proxy/",
            Query,
            "http://127.0.0.1:8080/proxy/v1/account/subscription?apikey=5ec7e7c0-1eak",
            "http://127.0.0.1:8080/proxy",
        );
    }

    #[track_caller]
    fn bad_url(api_url: &str, phrase: &str) {
        let message = client(api_url, AuthMethod::Header).unwrap_err().to_string();
        assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
        assert!(!message.contains(SECRET), "{message:?}");
    }

    #[test]
    fn unusable_urls() {
        bad_url(
            "api.seranking.com",
            "is not a usable URL: relative URL without a base",
        );
        bad_url(
            "ftp://api.seranking.com",
            "only http and https are supported",
        );
        bad_url(
            "https://api.seranking.com/?apikey=5ec7e7c0-1eak",
            "?apikey=<redacted>\" is not a usable URL: it has a query",
        );
        bad_url(
            "https://me:5ec7e7c0-1eak@api.seranking.com",
            "it has credentials in it",
        );
    }

    #[test]
    fn the_header_is_sensitive() {
        let c = client("https://api.seranking.com", AuthMethod::Header).unwrap();
        assert!(c.authorization.is_sensitive());
        assert!(
            !format!("{c:?}").contains(SECRET),
            "Debug of the client shows the key"
        );
    }

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
    fn durations_read_well() {
        assert_eq!(took(Duration::from_millis(35)), "35 ms");
        assert_eq!(took(Duration::from_millis(1250)), "1.2 s");
        assert_eq!(seconds(Duration::from_secs(20)), "20 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
    }
}
