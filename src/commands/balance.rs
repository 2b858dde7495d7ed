//! `budget balance`, and the one place commands obtain a balance (flag, live API, or none).

use crate::account::{self, ApiKey, AuthMethod, Config, Subscription};
use crate::cli::{Auth, Global};
use crate::forecast::{Balance, BalanceSource};
use crate::{report, Error, Status};

/// `budget balance`: the live subscription. Needs a key; `--offline` contradicts it (exit 2).
pub fn run(global: &Global) -> Result<Status, Error> {
    if global.offline {
        return Err(Error::Usage {
            message: "budget balance reads the live API, which --offline forbids; drop --offline"
                .into(),
        });
    }
    let key = key_for_call(global, true)?.ok_or(account::AccountError::NoKey)?;
    let subscription = fetch(global, key)?;
    let now = chrono::Utc::now().naive_utc();
    super::to_stdout(|out| report::balance(out, global.format, &subscription, now))?;
    Ok(Status::Ok)
}

/// The balance to plan against: `--units-left` when given (no call); none with `--offline` or
/// without a key; else the live subscription, whose failure is an error (fail closed: a key was
/// set, so the user expects the real balance to be checked).
pub fn resolve(global: &Global, units_left: Option<u64>) -> Result<Option<Balance>, Error> {
    if let Some(units_left) = units_left {
        return Ok(Some(Balance::from_flag(units_left)));
    }
    if global.offline {
        return Ok(None);
    }
    let Some(key) = key_for_call(global, false)? else {
        return Ok(None);
    };
    let subscription = fetch(global, key)?;
    Ok(Some(Balance {
        source: BalanceSource::Live,
        status: Some(subscription.status),
        units_left: subscription.units_left,
        units_limit: Some(subscription.units_limit),
        expires: subscription.expires,
        reserved: 0,
    }))
}

/// The key for a live call, the connection settings checked first, so a bad `--api-url` or
/// `--timeout` is reported as a bad setting (exit 2) even when the key is missing or unusable too.
/// Without a key, settings are checked only when a call is certain (`always`).
fn key_for_call(global: &Global, always: bool) -> Result<Option<ApiKey>, Error> {
    let key = ApiKey::from_env_or_file(global.api_key_file.as_deref());
    if always || !matches!(key, Ok(None)) {
        let scrub = key
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map_or("", ApiKey::expose);
        account::check_settings(&global.api_url, global.timeout, scrub)?;
    }
    Ok(key?)
}

/// Reads the subscription once, with the global connection settings.
pub fn fetch(global: &Global, key: ApiKey) -> Result<Subscription, Error> {
    let auth = match global.auth {
        Auth::Header => AuthMethod::Header,
        Auth::Query => AuthMethod::Query,
    };
    let config = Config::new(&global.api_url, key, auth, global.retries, global.timeout)?;
    Ok(account::subscription_blocking(config)?)
}
