//! The guard's admin side (docs/guard.md "Raise and approve"): raising a running guard's budget
//! and approving single calls, through an endpoint of the API listener that only the admin token
//! opens (`--admin-token-file`; never a client's token, never the API key).
//!
//! - `POST /budget/admin/raise` `{"by": N}` or `{"to": N}`, `"operator"`: raises the budget in
//!   the state (Redis: once for every guard sharing it) and journals a `raise` line, which a
//!   restart replays ([`super::history`]): a raised budget stays raised.
//! - `--approval-above N` / `--soft-budget N`: a call priced above N, or one that would take the
//!   units used past the soft limit, gets a 402 with `"approval_needed": true` and an approval
//!   id ([`Approvals::ask`]); `POST /budget/admin/approvals/ID/approve` grants exactly that call:
//!   its client's retry of the same call (same client, method, path, query and body: one
//!   [`fingerprint`]) passes once. `…/deny` refuses it; pending approvals expire after
//!   [`APPROVAL_TTL`]. Every step is a journal line (`{"kind":"approval","event":…}`).
//! - `GET /budget/admin/approvals`: what is pending or approved.
//!
//! The registry is this process's and bounded ([`MAX_APPROVALS`] entries): a flood of calls
//! needing approval cannot grow memory. In Redis mode the *allowance* approved calls add above
//! the soft limit is shared (`super::redis`), but the registry is not: an approval is granted by
//! the guard that asked for it, and a retry that lands on another guard asks again (fail
//! closed: never a call through without an approval).
//!
//! This module decides and keeps approvals; it renders nothing but its JSON replies' fields.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The admin endpoint's paths start with this.
pub const ADMIN_PREFIX: &str = "/budget/admin/";
/// How long an approval waits for an operator, and an approved call for its retry.
pub const APPROVAL_TTL: Duration = Duration::from_secs(15 * 60);
/// Most approvals (pending, approved or denied) kept at once.
pub const MAX_APPROVALS: usize = 100;
/// Longest operator name recorded.
pub const MAX_OPERATOR: usize = 64;
/// Largest admin request body read.
pub const MAX_ADMIN_BODY: usize = 4096;

/// When a call needs an operator's approval (`--approval-above`, `--soft-budget`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// A call priced above this many units.
    pub above: Option<u64>,
    /// A call that would take the units used (spent and held) past this figure, plus what
    /// operators approved.
    pub soft: Option<u64>,
}

impl Rules {
    pub fn any(&self) -> bool {
        self.above.is_some() || self.soft.is_some()
    }
}

/// Why a call needs approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Priced above `--approval-above`.
    Above,
    /// It would take the units used past `--soft-budget`.
    SoftBudget,
}

/// Where an approval stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Pending,
    Approved,
    /// Approved, and its call is being made now.
    InUse,
    Denied,
}

/// One call waiting for, or holding, an operator's decision.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub id: String,
    pub state: Standing,
    pub units: u64,
    pub endpoint: String,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub reason: Reason,
    /// When it was asked for (RFC 3339).
    pub requested: String,
    /// Who approved or denied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Seconds until it expires.
    pub expires_in_seconds: u64,
    #[serde(skip)]
    fingerprint: [u8; 32],
    #[serde(skip)]
    since: Instant,
}

/// What [`Approvals::ask`] found for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// An operator approved this call: it may pass once ([`Approvals::finish`] after it).
    Granted { id: String },
    /// It waits for an operator (a new approval, or the one asked for before).
    Pending { id: String, new: bool },
    /// An operator denied it (until the denial expires).
    Denied { id: String },
    /// [`MAX_APPROVALS`] are kept already.
    Full,
}

/// The call an approval is for.
#[derive(Debug, Clone)]
pub struct CallShape<'a> {
    pub fingerprint: [u8; 32],
    pub units: u64,
    pub endpoint: &'a str,
    pub method: &'a str,
    pub client: Option<&'a str>,
}

/// Why an operator's decision was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("no approval {id} is pending on this guard (it expired after 15 minutes, was decided already, or was asked of another guard)")]
    NotFound { id: String },
    #[error("approval {id} was {state} already")]
    Decided { id: String, state: &'static str },
}

/// The approvals of this guard process (see the module).
pub struct Approvals {
    inner: Mutex<BTreeMap<String, Approval>>,
    /// Ids are `PREFIX-N`: short enough to type.
    prefix: String,
    next: AtomicU64,
    ttl: Duration,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals::new(APPROVAL_TTL)
    }
}

/// The call an approval grants: its client, method, path, query pairs (sorted) and body, hashed.
pub fn fingerprint(
    client: Option<&str>,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> [u8; 32] {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    let mut h = Sha256::new();
    for part in [client.unwrap_or(""), method, path] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    for (name, value) in pairs {
        for part in [name, value] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    h.update((body.len() as u64).to_be_bytes());
    h.update(body);
    h.finalize().into()
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Approvals {
    pub fn new(ttl: Duration) -> Approvals {
        Approvals {
            inner: Mutex::new(BTreeMap::new()),
            prefix: format!("{:06x}", rand::random::<u32>() >> 8),
            next: AtomicU64::new(0),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Approval>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the approvals older than the time-to-live and returns those that were pending or
    /// approved (to journal as expired; a denial that lapses is not news).
    pub fn sweep(&self) -> Vec<Approval> {
        let mut map = self.lock();
        let ttl = self.ttl;
        let old: Vec<String> = map
            .iter()
            .filter(|(_, a)| a.state != Standing::InUse && a.since.elapsed() >= ttl)
            .map(|(id, _)| id.clone())
            .collect();
        old.into_iter()
            .filter_map(|id| map.remove(&id))
            .filter(|a| matches!(a.state, Standing::Pending | Standing::Approved))
            .collect()
    }

    /// What this call may do: pass on an approval, wait for one (asked now, or before), or
    /// nothing because it was denied. `reason` is why it needs one.
    pub fn ask(&self, call: &CallShape<'_>, reason: Reason) -> Asked {
        let mut map = self.lock();
        let found = map
            .values()
            .find(|a| a.fingerprint == call.fingerprint && a.state != Standing::InUse)
            .map(|a| (a.id.clone(), a.state.clone(), a.units));
        match found {
            Some((id, Standing::Approved, units)) if call.units <= units => {
                if let Some(a) = map.get_mut(&id) {
                    a.state = Standing::InUse;
                }
                return Asked::Granted { id };
            }
            Some((id, Standing::Pending, _)) => return Asked::Pending { id, new: false },
            Some((id, Standing::Denied, _)) => return Asked::Denied { id },
            // Approved for fewer units than the call is priced at now: asked anew.
            Some((id, _, _)) => {
                map.remove(&id);
            }
            None => {}
        }
        if map.len() >= MAX_APPROVALS {
            return Asked::Full;
        }
        let id = format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        );
        map.insert(
            id.clone(),
            Approval {
                id: id.clone(),
                state: Standing::Pending,
                units: call.units,
                endpoint: call.endpoint.to_string(),
                method: call.method.to_string(),
                client: call.client.map(str::to_string),
                reason,
                requested: now_text(),
                operator: None,
                expires_in_seconds: self.ttl.as_secs(),
                fingerprint: call.fingerprint,
                since: Instant::now(),
            },
        );
        Asked::Pending { id, new: true }
    }

    /// An approved call that has not needed one yet (it fits the rules now): its grant, if
    /// any, is used all the same, so that the one approval the operator gave is not left over.
    pub fn granted(&self, fingerprint: &[u8; 32], units: u64) -> Option<String> {
        let mut map = self.lock();
        let a = map.values_mut().find(|a| {
            a.fingerprint == *fingerprint && a.state == Standing::Approved && units <= a.units
        })?;
        a.state = Standing::InUse;
        Some(a.id.clone())
    }

    /// The call of a grant ended: `charged` uses the approval up; otherwise (refused, or the API
    /// answered an error) it stands again for a retry until it expires.
    pub fn finish(&self, id: &str, charged: bool) {
        let mut map = self.lock();
        if charged {
            map.remove(id);
        } else if let Some(a) = map.get_mut(id) {
            a.state = Standing::Approved;
        }
    }

    /// An operator's decision on `id`: `approve` or deny. Returns the approval as decided.
    pub fn decide(&self, id: &str, approve: bool, operator: &str) -> Result<Approval, DecideError> {
        let mut map = self.lock();
        let ttl = self.ttl;
        let Some(a) = map.get_mut(id).filter(|a| a.since.elapsed() < ttl) else {
            return Err(DecideError::NotFound { id: id.to_string() });
        };
        if a.state != Standing::Pending {
            return Err(DecideError::Decided {
                id: id.to_string(),
                state: match a.state {
                    Standing::Denied => "denied",
                    _ => "approved",
                },
            });
        }
        a.state = if approve {
            Standing::Approved
        } else {
            Standing::Denied
        };
        a.operator = Some(operator.to_string());
        // The retry has the full time from the decision.
        a.since = Instant::now();
        Ok(a.clone())
    }

    /// Every approval kept now, oldest first, with the seconds each has left.
    pub fn list(&self) -> Vec<Approval> {
        let map = self.lock();
        let mut all: Vec<Approval> = map
            .values()
            .map(|a| Approval {
                expires_in_seconds: self.ttl.saturating_sub(a.since.elapsed()).as_secs(),
                ..a.clone()
            })
            .collect();
        all.sort_by(|a, b| a.requested.cmp(&b.requested).then(a.id.cmp(&b.id)));
        all
    }

    /// Approvals waiting for an operator.
    pub fn pending(&self) -> usize {
        self.lock()
            .values()
            .filter(|a| a.state == Standing::Pending)
            .count()
    }
}

/// `POST /budget/admin/raise`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaiseRequest {
    #[serde(default)]
    pub by: Option<u64>,
    #[serde(default)]
    pub to: Option<u64>,
    #[serde(default)]
    pub operator: Option<String>,
}

/// An approve or deny request's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    #[serde(default)]
    pub operator: Option<String>,
}

/// An operator's name as recorded: 1 to [`MAX_OPERATOR`] printable characters, no control
/// characters. `None` when it is not one.
pub fn operator_name(name: Option<&str>) -> Result<String, String> {
    let name = name.map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err("the request names no operator: send \"operator\" (budget guard-admin sends --as NAME or the user's login name)".into());
    }
    if name.chars().count() > MAX_OPERATOR || name.chars().any(char::is_control) {
        return Err(format!(
            "the operator's name must be 1 to {MAX_OPERATOR} printable characters"
        ));
    }
    Ok(name.to_string())
}

/// A raise request as a [`super::state::Raise`].
pub fn raise_of(request: &RaiseRequest) -> Result<super::state::Raise, String> {
    use super::state::Raise;
    match (request.by, request.to) {
        (Some(0), None) => Err("a raise by 0 units changes nothing; give a positive number".into()),
        (Some(by), None) => Ok(Raise::By(by)),
        (None, Some(to)) => Ok(Raise::To(to)),
        _ => Err("send exactly one of \"by\" (units to add) and \"to\" (the new figure)".into()),
    }
}

/// HMAC-SHA-256 (RFC 2104), for the dashboard's cookie (`super::dashboard`).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(fingerprint: [u8; 32], units: u64) -> CallShape<'static> {
        CallShape {
            fingerprint,
            units,
            endpoint: "backlinks/summary",
            method: "GET",
            client: None,
        }
    }

    /// Invariant: an approval grants exactly one call of its fingerprint, for at most its
    /// units; a retry before the decision gets the same id; a call that was not charged keeps
    /// its grant for a retry.
    #[test]
    fn an_approval_grants_one_call() {
        let approvals = Approvals::default();
        let a = [1u8; 32];
        let Asked::Pending { id, new: true } = approvals.ask(&shape(a, 500), Reason::Above) else {
            panic!("a new approval")
        };
        assert_eq!(
            approvals.ask(&shape(a, 500), Reason::Above),
            Asked::Pending {
                id: id.clone(),
                new: false
            }
        );
        assert_eq!(approvals.pending(), 1);
        let decided = approvals.decide(&id, true, "alice").expect("approved");
        assert_eq!(
            (decided.state, decided.operator.as_deref()),
            (Standing::Approved, Some("alice"))
        );
        assert_eq!(
            approvals.decide(&id, false, "bob").err(),
            Some(DecideError::Decided {
                id: id.clone(),
                state: "approved"
            })
        );
        // Another call (another fingerprint) is not granted by it.
        assert!(matches!(
            approvals.ask(&shape([2u8; 32], 500), Reason::Above),
            Asked::Pending { new: true, .. }
        ));
        assert_eq!(
            approvals.ask(&shape(a, 500), Reason::Above),
            Asked::Granted { id: id.clone() }
        );
        // In use: a second copy of the call at the same moment is asked anew.
        assert!(matches!(
            approvals.ask(&shape(a, 500), Reason::Above),
            Asked::Pending { new: true, .. }
        ));
        // Not charged (the API failed): granted again; charged: used up.
        approvals.finish(&id, false);
        assert_eq!(approvals.granted(&a, 500), Some(id.clone()));
        approvals.finish(&id, true);
        assert_eq!(approvals.granted(&a, 500), None);
        assert_eq!(
            approvals.decide(&id, true, "alice").err(),
            Some(DecideError::NotFound { id })
        );
    }

    #[test]
    fn denials_expiry_and_the_bound() {
        let approvals = Approvals::new(Duration::ZERO);
        let Asked::Pending { id, .. } = approvals.ask(&shape([3u8; 32], 10), Reason::SoftBudget)
        else {
            panic!("pending")
        };
        // A time-to-live of 0: expired at once, and swept as expired.
        let swept = approvals.sweep();
        assert_eq!(swept.len(), 1);
        assert_eq!(swept[0].id, id);
        assert!(approvals.list().is_empty());

        let approvals = Approvals::default();
        let Asked::Pending { id, .. } = approvals.ask(&shape([4u8; 32], 10), Reason::Above) else {
            panic!("pending")
        };
        approvals.decide(&id, false, "bob").expect("denied");
        assert_eq!(
            approvals.ask(&shape([4u8; 32], 10), Reason::Above),
            Asked::Denied { id }
        );
        // 100 kept at most: the 101st call is told the registry is full.
        for n in 1..MAX_APPROVALS {
            let mut f = [0u8; 32];
            f[..8].copy_from_slice(&(n as u64).to_be_bytes());
            f[31] = 9;
            assert!(matches!(
                approvals.ask(&shape(f, 10), Reason::Above),
                Asked::Pending { new: true, .. }
            ));
        }
        assert_eq!(
            approvals.ask(&shape([5u8; 32], 10), Reason::Above),
            Asked::Full
        );
    }

    #[test]
    fn fingerprints_ignore_the_order_of_the_query() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let one = fingerprint(None, "GET", "/v1/x", &q(&[("a", "1"), ("b", "2")]), b"");
        let two = fingerprint(None, "GET", "/v1/x", &q(&[("b", "2"), ("a", "1")]), b"");
        assert_eq!(one, two);
        assert_ne!(
            one,
            fingerprint(
                Some("seo"),
                "GET",
                "/v1/x",
                &q(&[("a", "1"), ("b", "2")]),
                b""
            )
        );
        assert_ne!(
            one,
            fingerprint(None, "GET", "/v1/x", &q(&[("a", "12")]), b"")
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn operators_and_raises_are_checked() {
        assert_eq!(operator_name(Some(" alice ")).as_deref(), Ok("alice"));
        assert!(operator_name(None)
            .unwrap_err()
            .contains("names no operator"));
        assert!(operator_name(Some("a\nb"))
            .unwrap_err()
            .contains("printable"));
        let raise = |by, to| {
            raise_of(&RaiseRequest {
                by,
                to,
                operator: None,
            })
        };
        assert_eq!(raise(Some(5), None), Ok(super::super::state::Raise::By(5)));
        assert!(raise(Some(0), None)
            .unwrap_err()
            .contains("changes nothing"));
        assert!(raise(Some(1), Some(2)).unwrap_err().contains("exactly one"));
    }
}
