//! What can go wrong reading the account, each with what to do about it.

use super::KeyOrigin;
use crate::files::FileError;

/// One line each, lowercase, never containing the key.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no API key: set SERANKING_API_KEY or pass --api-key-file FILE")]
    NoKey,
    #[error("{source}{}", if matches!(source, FileError::Io { .. }) { "; check the path given to --api-key-file" } else { "" })]
    KeyFile { source: FileError },
    #[error("the API key in {origin} is empty; put your SE Ranking Data API key there")]
    EmptyKey { origin: KeyOrigin },
    #[error("the API key in {origin} {problem}; it must hold only the key SE Ranking shows")]
    KeyInvalid {
        origin: KeyOrigin,
        problem: &'static str,
    },
    #[error("--api-url {url} is not a usable URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{name}: {reason}")]
    Setting { name: String, reason: String },
    #[error("cannot start the HTTP client: {reason}")]
    Runtime { reason: String },
    #[error(
        "authentication failed (HTTP {status}): {message}; check that {origin} holds a valid, active \
         SE Ranking Data API key"
    )]
    AuthFailed {
        status: u16,
        message: String,
        origin: String,
    },
    #[error(
        "the API received no key (HTTP {status}: {message}); if a proxy strips the Authorization header, \
         try --auth query"
    )]
    NoToken { status: u16, message: String },
    #[error(
        "insufficient funds (HTTP {status}): {message}; the API key stays disabled until the account is \
         topped up — make a payment in SE Ranking, then try again (nothing was billed)"
    )]
    InsufficientFunds { status: u16, message: String },
    #[error("license expired (HTTP {status}): {message}; renew the SE Ranking API subscription")]
    LicenseExpired { status: u16, message: String },
    #[error(
        "the subscription is {status:?}, not active{}",
        if *wallet == Some(0) {
            ", and the wallet holds no credits; renew the subscription or top up the wallet in SE Ranking before spending units"
        } else {
            "; renew or reactivate it in SE Ranking before spending units"
        }
    )]
    NotActive {
        status: String,
        /// The wallet's credits, when the API reported them.
        wallet: Option<u64>,
    },
    #[error("the API rejected the request (HTTP {status}): {message}; check --api-url points at the SE Ranking API")]
    Rejected { status: u16, message: String },
    #[error(
        "{} (HTTP {status}: {message}), gave up after {attempts} attempt{} in {elapsed}; {}",
        if *.status == 429 { "the API's rate limit was hit" } else { "the API is failing" },
        plural(*.attempts),
        if *.status == 429 {
            "another job may be using the same key; try again in a minute"
        } else {
            "try again later, or allow more with --retries / --timeout"
        }
    )]
    Unavailable {
        status: u16,
        message: String,
        attempts: u32,
        elapsed: String,
    },
    #[error(
        "cannot reach the API at {url}: {reason}, gave up after {attempts} attempt{} in {elapsed}; check \
         --api-url (or SERANKING_API_URL) and the network",
        plural(*.attempts)
    )]
    Unreachable {
        url: String,
        reason: String,
        attempts: u32,
        elapsed: String,
    },
    #[error(
        "no answer from the API at {url} within the {limit} time limit ({attempts} attempt{}); try again \
         later or raise --timeout",
        plural(*.attempts)
    )]
    TimedOut {
        url: String,
        limit: String,
        attempts: u32,
    },
    #[error("unexpected reply from the API (HTTP {status}): {reason}; check --api-url points at the SE Ranking API")]
    InvalidResponse { status: u16, reason: String },
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
