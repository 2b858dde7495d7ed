//! The HTTP client for the SE Ranking API: reads the account's subscription (status, units left,
//! expiry) so plans can be compared with the real balance.
//!
//! The only async module (besides the later run-time guard); everything else stays sync and calls
//! [`subscription_blocking`], which runs one request on a current-thread runtime. It must never
//! let the API key reach output, logs, errors or panics: the header is marked sensitive, reqwest
//! errors are reduced to their reason without their URL, and every vendor text that reaches a
//! message is scrubbed of the key and of `apikey=` values. It does no rendering.

mod client;
mod envelope;
mod error;
mod key;
mod retry;
mod subscription;

pub use client::{
    check_settings, AuthMethod, Client, Config, ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_BODY_BYTES,
};
pub use error::AccountError;
pub use key::{account_id, ApiKey, KeyOrigin, ENV_KEY, OFFLINE};
pub use retry::{retry_after, Backoff, DEFAULT_BASE_DELAY_MS, ENV_RETRY_BASE_MS, MAX_DELAY};
pub use subscription::Subscription;

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

/// Reads the subscription once (with retries) from sync code; a status other than `active` is
/// an error.
pub fn subscription_blocking(config: Config) -> Result<Subscription, AccountError> {
    block_on(async move { Client::new(config)?.subscription().await })?
}
