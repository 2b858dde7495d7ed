//! One place where every call outcome becomes a record: the journal line (or the refusal
//! count), the metrics, and the nudge to the alerts' checker. The proxy and the server report
//! events here and nowhere else, so the journal's figures, `/metrics`, `/budget/status` and the
//! alerts cannot disagree (docs/guard.md "Running the guard for others").
//!
//! This module writes no output of its own and decides nothing: it hands each event on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::journal::{Entry, Journal, Refusal};
use super::metrics::{Metrics, Retried};

/// A priced call, ended.
pub struct CallEvent<'a> {
    pub entry: &'a Entry,
    /// The latency the guard added (see `super::metrics`).
    pub added: Duration,
    /// Why each retried attempt was retried.
    pub retried: &'a [Retried],
    /// A refused call's price (its line reserves nothing).
    pub refused_units: u64,
}

/// Where events go.
pub struct Events {
    journal: Arc<Journal>,
    metrics: Arc<Metrics>,
    /// Woken after every call that was charged: the alerts' checker reads the budget then.
    charged: Arc<Notify>,
    /// Charges and refusals of late, for the status's burn rate and recent refusals.
    recent: std::sync::Mutex<Recent>,
}

/// Units charged per second over the burn window, and the latest refusals (both bounded).
struct Recent {
    started: std::time::Instant,
    /// (second since `started`, units charged in it), oldest first, within the window.
    charges: std::collections::VecDeque<(u64, u64)>,
    refusals: std::collections::VecDeque<super::status::RecentRefusal>,
}

impl Recent {
    fn forget_before(&mut self, now: u64) {
        let window = super::status::BURN_WINDOW.as_secs();
        while self
            .charges
            .front()
            .is_some_and(|(second, _)| second + window <= now)
        {
            self.charges.pop_front();
        }
    }
}

impl Events {
    pub fn new(journal: Arc<Journal>, metrics: Arc<Metrics>) -> Events {
        Events {
            journal,
            metrics,
            charged: Arc::new(Notify::new()),
            recent: std::sync::Mutex::new(Recent {
                started: std::time::Instant::now(),
                charges: std::collections::VecDeque::new(),
                refusals: std::collections::VecDeque::new(),
            }),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Units charged over the burn window, and the window's length: the last 300 s, or since
    /// start when shorter — but at least a minute, so that a guard's first seconds do not
    /// read as a pace no job keeps.
    pub fn burned(&self) -> (u64, Duration) {
        let mut recent = self.recent();
        let elapsed = recent.started.elapsed();
        recent.forget_before(elapsed.as_secs());
        let units = recent.charges.iter().map(|(_, u)| *u).sum();
        (
            units,
            elapsed.clamp(super::status::BURN_MIN_WINDOW, super::status::BURN_WINDOW),
        )
    }

    /// The latest refused calls, newest first (a client's own with `client`).
    pub fn refusals(&self, client: Option<&str>) -> Vec<super::status::RecentRefusal> {
        self.recent()
            .refusals
            .iter()
            .rev()
            .filter(|r| client.is_none() || r.client.as_deref() == client)
            .cloned()
            .collect()
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Notified after each call that charged units (a stored permit: a checker that is busy
    /// sees it when it next waits, and several calls wake it once).
    pub fn charged(&self) -> Arc<Notify> {
        self.charged.clone()
    }

    /// A priced call: its journal line, its metrics.
    pub fn call(&self, event: CallEvent<'_>) {
        self.journal.record(event.entry);
        self.metrics.call(
            event.entry,
            event.entry.client.as_deref(),
            event.added,
            event.retried,
        );
        if event.entry.units_charged > 0 {
            let mut recent = self.recent();
            let second = recent.started.elapsed().as_secs();
            recent.forget_before(second);
            match recent.charges.back_mut() {
                Some((s, units)) if *s == second => {
                    *units = units.saturating_add(event.entry.units_charged);
                }
                _ => recent
                    .charges
                    .push_back((second, event.entry.units_charged)),
            }
            drop(recent);
            self.charged.notify_one();
        }
        use super::journal::Outcome;
        if matches!(
            event.entry.outcome,
            Outcome::OverBudget | Outcome::RateQueue | Outcome::Rejected
        ) {
            let mut recent = self.recent();
            if recent.refusals.len() >= super::status::RECENT_REFUSALS {
                recent.refusals.pop_front();
            }
            recent.refusals.push_back(super::status::RecentRefusal {
                time: event.entry.time.clone(),
                method: event.entry.method.clone(),
                endpoint: event.entry.endpoint.clone(),
                status: event.entry.status,
                outcome: event.entry.outcome,
                units: event.entry.units_reserved.max(event.refused_units),
                client: event.entry.client.clone(),
                approval: event.entry.approval.clone(),
            });
        }
    }

    /// A call refused before pricing: counted in the journal's summary lines and the metrics
    /// (`added`: when the request reached the proxy; connections refused by the server have
    /// none).
    pub fn refused(&self, why: Refusal, client: Option<&str>, added: Option<Duration>) {
        self.journal.refuse(why);
        self.metrics.refused(why, client, added);
    }
}
