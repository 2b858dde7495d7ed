//! The SE Ranking API seen from the account: the one HTTP transport (URL check, auth, body cap,
//! retry classifier, `Retry-After` policy) that the guard's forwarding uses too, the key and its
//! normaliser, the scrubber, and the account reads (status, balance, expiry) that plans are
//! compared with.
//!
//! The only async module besides the guard; everything else stays sync and calls
//! [`balance_blocking`], which runs one read on a current-thread runtime. It must never let
//! the API key reach output, logs, errors or panics: the header is marked sensitive, reqwest
//! errors are reduced to their reason without their URL, and every vendor text that reaches a
//! message goes through the [`Scrubber`]. It does no rendering.

mod balance;
mod client;
mod envelope;
mod error;
mod key;
mod retry;
mod scrub;
mod subscription;
pub mod transport;

pub use balance::{AccountBalance, BalanceEndpoint};
pub use client::{check_settings, Client, Config, ATTEMPT_TIMEOUT, MAX_BODY_BYTES};
pub use envelope::{classify, Class, Terminal};
pub use error::AccountError;
pub use key::{account_id, normalise, ApiKey, KeyOrigin, SecretProblem, ENV_KEY, OFFLINE};
pub use retry::{
    retry_after, wait_before_retry, Backoff, RetryState, DEFAULT_BASE_DELAY_MS, ENV_RETRY_BASE_MS,
    MAX_DELAY,
};
pub use scrub::{Scrubber, REDACTED};
pub use subscription::Subscription;
pub use transport::{shown_url, AuthMethod, CONNECT_TIMEOUT};

/// Runs `future` to completion on a fresh current-thread runtime, for sync callers.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, AccountError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AccountError::Runtime {
            reason: crate::io_reason(&e),
        })?;
    Ok(runtime.block_on(future))
}

/// Reads the balance once (with retries) from sync code, whether or not the account can spend.
pub fn balance_blocking(config: Config) -> Result<AccountBalance, AccountError> {
    block_on(async move { Client::new(config)?.balance().await })?
}
