//! The account's balance in both of its pools: the `/v1/account/credits` reply, or the
//! subscription alone when the API has no such endpoint.
//!
//! An account has two pools (docs/reference.md "The live API"): the subscription's monthly credits, which
//! expire at the end of the billing period, and the wallet's, which never expire.
//! `/v1/account/subscription` sees only the first; `/v1/account/credits` reports both
//! (`totals.subscription.{remaining,total,expire_at}`, `totals.wallet.{remaining}`,
//! `access.primary_reason`). What the key can spend is the subscription's remaining credits while
//! the subscription is active, plus the wallet's: an account whose subscription expired can still
//! spend its wallet. Pure: the caller passes the clock.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::subscription::{count, date_value};
use super::{AccountError, Subscription};
use crate::estimate::Pools;

/// Which endpoint the balance came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceEndpoint {
    /// `/v1/account/credits`: both pools.
    Credits,
    /// `/v1/account/subscription`: the subscription pool only.
    Subscription,
}

/// The account's balance as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    pub endpoint: BalanceEndpoint,
    /// The subscription's status: as `/subscription` sends it, or (from `/credits`, which sends
    /// none unless it does) `expired` once `expire_at` has passed, else `active`.
    pub status: String,
    /// The subscription pool's remaining credits, as reported (usable only while active).
    pub subscription_left: u64,
    pub subscription_limit: u64,
    pub start: Option<NaiveDateTime>,
    pub expires: Option<NaiveDateTime>,
    /// The wallet pool; `None` when only `/subscription` answered.
    pub wallet_left: Option<u64>,
    /// `access.primary_reason` (e.g. `active_wallet`), when `/credits` sends one.
    pub access: Option<String>,
}

impl AccountBalance {
    /// From `/v1/account/subscription`.
    pub fn from_subscription(s: Subscription) -> AccountBalance {
        AccountBalance {
            endpoint: BalanceEndpoint::Subscription,
            status: s.status,
            subscription_left: s.units_left,
            subscription_limit: s.units_limit,
            start: s.start,
            expires: s.expires,
            wallet_left: None,
            access: None,
        }
    }

    /// From the body of `/v1/account/credits` at `now` (UTC); `Err` says what is wrong with the
    /// body, for a person.
    pub fn from_credits(body: &[u8], now: NaiveDateTime) -> Result<AccountBalance, String> {
        let json: Value = serde_json::from_slice(body).map_err(|e| {
            if body.iter().all(u8::is_ascii_whitespace) {
                "the body is empty".to_string()
            } else {
                format!("the body is not valid JSON ({})", short(&e))
            }
        })?;
        let totals = json
            .get("totals")
            .and_then(Value::as_object)
            .ok_or("the body has no totals object")?;
        let subscription = totals
            .get("subscription")
            .and_then(Value::as_object)
            .ok_or("totals.subscription is missing or not an object")?;
        let field = |name: &str| subscription.get(name).unwrap_or(&Value::Null);
        let remaining = subscription
            .get("remaining")
            .ok_or("totals.subscription.remaining is missing")?;
        let subscription_left = count(remaining, "totals.subscription.remaining")?;
        let subscription_limit = match field("total") {
            Value::Null => 0,
            total => count(total, "totals.subscription.total")?,
        };
        let expires = date_value(field("expire_at"), "totals.subscription.expire_at")?;
        let start = date_value(field("start_at"), "totals.subscription.start_at")?;
        // A reply without a wallet has none.
        let wallet_left = match totals.get("wallet").and_then(|w| w.get("remaining")) {
            None | Some(Value::Null) => 0,
            Some(remaining) => count(remaining, "totals.wallet.remaining")?,
        };
        let status = match field("status") {
            Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ if expires.is_some_and(|end| end <= now) => "expired".into(),
            _ => "active".into(),
        };
        let access = json
            .get("access")
            .and_then(|a| a.get("primary_reason"))
            .and_then(Value::as_str)
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        Ok(AccountBalance {
            endpoint: BalanceEndpoint::Credits,
            status,
            subscription_left,
            subscription_limit,
            start,
            expires,
            wallet_left: Some(wallet_left),
            access,
        })
    }

    pub fn subscription_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("active")
    }

    /// What the key can spend, pool by pool: the subscription's credits only while it is active
    /// (an expired subscription's credits are gone), the wallet's always.
    pub fn pools(&self) -> Pools {
        Pools {
            subscription: if self.subscription_active() {
                self.subscription_left
            } else {
                0
            },
            wallet: self.wallet_left,
        }
    }

    /// Both usable pools together.
    pub fn units_left(&self) -> u64 {
        self.pools().total()
    }

    /// The one place that decides whether the account can spend at all: an active subscription,
    /// or wallet credits (which keep the key working when the subscription has lapsed).
    pub fn usable(&self) -> bool {
        self.subscription_active() || self.wallet_left.is_some_and(|w| w > 0)
    }

    /// The wallet keeps an account whose subscription is not active usable.
    pub fn on_wallet_only(&self) -> bool {
        !self.subscription_active() && self.usable()
    }

    /// This balance, or the error that says why the account cannot spend.
    pub fn require_usable(self) -> Result<AccountBalance, AccountError> {
        if self.usable() {
            Ok(self)
        } else {
            Err(AccountError::NotActive {
                status: self.status,
                wallet: self.wallet_left,
            })
        }
    }
}

fn short(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    const NOW: &str = "2026-03-01 00:00:00";

    #[test]
    fn the_documented_example_an_expired_subscription_kept_working_by_the_wallet() {
        // The facts file: subscription 0 of 25,000 while 248,442 wallet credits granted access.
        let body = br#"{"totals": {"subscription": {"remaining": 0, "total": 25000,
                       "expire_at": "2026-02-18T14:20:02Z"}, "wallet": {"remaining": 248442}},
                       "access": {"primary_reason": "active_wallet"}}"#;
        let b = AccountBalance::from_credits(body, at(NOW)).unwrap();
        assert_eq!(
            b,
            AccountBalance {
                endpoint: BalanceEndpoint::Credits,
                status: "expired".into(),
                subscription_left: 0,
                subscription_limit: 25_000,
                start: None,
                expires: Some(at("2026-02-18 14:20:02")),
                wallet_left: Some(248_442),
                access: Some("active_wallet".into()),
            }
        );
        // 0 (expired) + 248,442 = 248,442, usable on the wallet alone.
        assert_eq!(
            b.pools(),
            Pools {
                subscription: 0,
                wallet: Some(248_442)
            }
        );
        assert_eq!(b.units_left(), 248_442);
        assert!(b.usable() && b.on_wallet_only());
    }

    #[test]
    fn an_active_subscription_and_a_wallet_add_up() {
        let body = br#"{"totals": {"subscription": {"remaining": "10000", "total": 25000,
                       "expire_at": "2026-03-18 14:20:02", "status": "active"},
                       "wallet": {"remaining": 20000}}}"#;
        let b = AccountBalance::from_credits(body, at(NOW)).unwrap();
        // 10,000 + 20,000 = 30,000
        assert_eq!(b.units_left(), 30_000);
        assert_eq!((b.status.as_str(), b.access.as_deref()), ("active", None));
        assert!(b.usable() && !b.on_wallet_only());
    }

    #[test]
    fn an_expired_subscription_with_an_empty_wallet_cannot_spend() {
        let body = br#"{"totals": {"subscription": {"remaining": 500, "total": 25000,
                       "expire_at": "2026-02-01 00:00:00"}, "wallet": {"remaining": 0}}}"#;
        let b = AccountBalance::from_credits(body, at(NOW)).unwrap();
        // The 500 left expired with the subscription: nothing to spend.
        assert_eq!((b.units_left(), b.usable()), (0, false));
        let message = b.require_usable().unwrap_err().to_string();
        assert!(
            message.starts_with(
                "the subscription is \"expired\", not active, and the wallet holds no credits"
            ),
            "{message}"
        );
    }

    #[track_caller]
    fn refused(body: &str, phrase: &str) {
        let reason = AccountBalance::from_credits(body.as_bytes(), at(NOW)).unwrap_err();
        assert!(reason.contains(phrase), "{reason:?} lacks {phrase:?}");
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        refused("", "the body is empty");
        refused("{", "not valid JSON");
        refused("[]", "no totals object");
        refused(r#"{"totals": {}}"#, "totals.subscription is missing");
        refused(
            r#"{"totals": {"subscription": {}}}"#,
            "totals.subscription.remaining is missing",
        );
        refused(
            r#"{"totals": {"subscription": {"remaining": 1.5}}}"#,
            "totals.subscription.remaining is 1.5, not a whole number",
        );
        refused(
            r#"{"totals": {"subscription": {"remaining": 1, "expire_at": "soon"}}}"#,
            "totals.subscription.expire_at is \"soon\", not a date",
        );
        refused(
            r#"{"totals": {"subscription": {"remaining": 1}, "wallet": {"remaining": "x"}}}"#,
            "totals.wallet.remaining is \"x\", not a whole number",
        );
    }

    #[test]
    fn the_subscription_alone_has_no_wallet() {
        let b = AccountBalance::from_subscription(Subscription {
            status: "active".into(),
            units_left: 4_975_033,
            units_limit: 5_000_000,
            start: None,
            expires: None,
        });
        assert_eq!(
            b.pools(),
            Pools {
                subscription: 4_975_033,
                wallet: None
            }
        );
        assert!(b.usable());
        let inactive = AccountBalance {
            status: "disabled".into(),
            ..b
        };
        assert!(!inactive.usable());
        assert_eq!(
            inactive.require_usable().unwrap_err().to_string(),
            "the subscription is \"disabled\", not active; renew or reactivate it in SE Ranking before spending units"
        );
    }
}
