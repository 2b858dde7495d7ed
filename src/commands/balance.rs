//! `budget balance`, and the one place commands obtain a balance (flag, live API, or none).

use crate::account::{self, AccountBalance, ApiKey, AuthMethod, Config};
use crate::cli::{Auth, Global};
use crate::estimate::{Balance, BalanceSource};
use crate::{report, Error, Status};

/// `budget balance`: the live balance, both pools. Needs a key; `--offline` contradicts it
/// (exit 2). An account that cannot spend (subscription not active, no wallet credits) is shown,
/// then exits 3 with the reason.
pub fn run(global: &Global) -> Result<Status, Error> {
    if global.offline {
        return Err(Error::Usage {
            message: "budget balance reads the live API, which --offline forbids; drop --offline"
                .into(),
        });
    }
    let key = load_key(global, KeyUse::Call)?.ok_or(account::AccountError::NoKey)?;
    let balance = fetch(global, key)?;
    let now = chrono::Utc::now().naive_utc();
    super::to_stdout(|out| report::balance(out, global.format, &balance, now))?;
    balance.require_usable()?;
    Ok(Status::Ok)
}

/// What a run will do with the API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// `budget balance`: a call is certain.
    Call,
    /// `plan`, `check`, `forecast` without `--offline`/`--units-left`: a call when a key is set.
    CallIfSet,
    /// Only to name the ledger account: no call will be made.
    LedgerOnly,
}

/// The API key, read once per run (`--api-key-file`, else env SERANKING_API_KEY). It is only
/// ever hashed ([`crate::account::account_id`]) or sent to the API: never printed or stored.
///
/// Before a call the connection settings are checked first, so a bad `--api-url` or `--timeout`
/// is reported as such (exit 2) even when the key is unusable too, and a broken key is an error
/// (exit 3). When the key only names the ledger account, a missing file or an empty variable (a
/// fork's pull request gets empty secrets) must not stop an offline plan: it is a warning and the
/// account is the offline one.
pub fn load_key(global: &Global, key_use: KeyUse) -> Result<Option<ApiKey>, Error> {
    let key = ApiKey::from_env_or_file(global.api_key_file.as_deref());
    match (key_use, key) {
        (KeyUse::LedgerOnly, Err(e)) => {
            if !global.quiet {
                report::notes(
                    &mut std::io::stderr().lock(),
                    &[format!(
                        "warning: {e}; reservations are kept under the offline account"
                    )],
                );
            }
            Ok(None)
        }
        (KeyUse::LedgerOnly, key) | (KeyUse::CallIfSet, key @ Ok(None)) => Ok(key?),
        (KeyUse::Call | KeyUse::CallIfSet, key) => {
            let known = key.as_ref().ok().and_then(Option::as_ref);
            account::check_settings(&global.api_url, global.timeout, known)?;
            Ok(key?)
        }
    }
}

/// The balance to plan against: `--units-left` when given (no call); none with `--offline` or
/// without a key; else the live balance (both pools), whose failure — or an account that cannot
/// spend — is an error (fail closed: a key was set, so the user expects the real balance to be
/// checked).
pub fn resolve(
    global: &Global,
    units_left: Option<u64>,
    key: Option<&ApiKey>,
) -> Result<Option<Balance>, Error> {
    if let Some(units_left) = units_left {
        return Ok(Some(Balance::from_flag(units_left)));
    }
    let Some(key) = key.filter(|_| !global.offline) else {
        return Ok(None);
    };
    let live = fetch(global, key.clone())?.require_usable()?;
    Ok(Some(Balance {
        source: BalanceSource::Live,
        units_left: live.units_left(),
        pools: Some(live.pools()),
        units_limit: Some(live.subscription_limit),
        expires: live.expires,
        status: Some(live.status),
        reserved: 0,
    }))
}

/// Reads the balance once, with the global connection settings.
pub fn fetch(global: &Global, key: ApiKey) -> Result<AccountBalance, Error> {
    let auth = match global.auth {
        Auth::Header => AuthMethod::Header,
        Auth::Query => AuthMethod::Query,
    };
    let config = Config::new(&global.api_url, key, auth, global.retries, global.timeout)?;
    Ok(account::balance_blocking(config)?)
}
