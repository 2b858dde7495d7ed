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
}

/// Where events go.
pub struct Events {
    journal: Arc<Journal>,
    metrics: Arc<Metrics>,
    /// Woken after every call that was charged: the alerts' checker reads the budget then.
    charged: Arc<Notify>,
}

impl Events {
    pub fn new(journal: Arc<Journal>, metrics: Arc<Metrics>) -> Events {
        Events {
            journal,
            metrics,
            charged: Arc::new(Notify::new()),
        }
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
            self.charged.notify_one();
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
