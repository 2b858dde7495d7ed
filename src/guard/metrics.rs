//! The guard's Prometheus metrics (`--metrics-listen`, `GET /metrics`): counters fed by the same
//! call events as the journal ([`super::events`]), so that the two never disagree, and gauges read
//! from the budget's state when scraped.
//!
//! Naming follows Prometheus's rules: `budget_guard_` prefix, base units (`_units`, `_seconds`),
//! `_total` for counters (added by the client library). Labels are bounded: `endpoint` is a
//! catalogue name or `other` (calls refused before pricing, whose paths a client may vary at
//! will), `outcome` one of [`OUTCOMES`], `status` an HTTP status or `connection`, `client` a name
//! from `--clients`. No label carries a target, a path or a tag.
//!
//! **Added latency** (`budget_guard_request_duration_seconds`): from the moment the guard has a
//! request's head to the moment its reply is ready, minus the time the API took — each attempt's
//! exchange with the API and the back-off between retries. What is left is the guard's own
//! work: reading the body, pricing, reserving, the wait for the rate window, journal lines,
//! settling. The wait for the rate window is included: it is latency the guard adds on purpose.
//!
//! This module renders nothing but the exposition text, and decides nothing.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::journal::{Entry, Outcome, Refusal};
use super::state::Figures;

/// The `outcome` label's values.
pub const OUTCOMES: [&str; 7] = [
    "forwarded",
    "over_budget",
    "rate_queue_full",
    "unauthorized",
    "bad_request",
    "upstream_error",
    "unavailable",
];

/// The `endpoint` label of calls refused before pricing.
pub const OTHER: &str = "other";

/// The `status` label of a retry after a connection that failed before anything was sent.
pub const CONNECTION: &str = "connection";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    endpoint: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabel {
    client: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientOutcome {
    client: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThresholdLabel {
    threshold_percent: String,
}

/// Why an attempt was retried: the API's status, or `None` when the connection failed before
/// the request was sent.
pub type Retried = Option<u16>;

/// Every metric of one guard.
pub struct Metrics {
    registry: Registry,
    budget: Gauge,
    remaining: Gauge,
    reserved: Gauge,
    spent: Gauge,
    shadow: Gauge,
    state_up: Gauge,
    charged: Family<EndpointLabel, Counter>,
    overrun: Family<EndpointLabel, Counter>,
    calls: Family<CallLabels, Counter>,
    would_refuse: Family<EndpointLabel, Counter>,
    would_refuse_units: Family<EndpointLabel, Counter>,
    retries: Family<StatusLabel, Counter>,
    queue: Gauge,
    window_used: Gauge,
    duration: Histogram,
    client_charged: Family<ClientLabel, Counter>,
    client_calls: Family<ClientOutcome, Counter>,
    client_budget: Family<ClientLabel, Gauge>,
    client_remaining: Family<ClientLabel, Gauge>,
    alerts: Family<ThresholdLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What a call outcome is, as the `outcome` label says it.
pub fn outcome_of(entry: &Entry) -> &'static str {
    match entry.outcome {
        Outcome::Charged => "forwarded",
        Outcome::Released => "upstream_error",
        Outcome::OverBudget => "over_budget",
        Outcome::RateQueue => "rate_queue_full",
        Outcome::Rejected => "bad_request",
        // No reply, or the API unreachable: the API's trouble; else the guard's own (the
        // shared state or the journal failing).
        Outcome::Failed if matches!(entry.status, 502 | 504) => "upstream_error",
        Outcome::Failed => "unavailable",
    }
}

/// What a refusal before pricing is, as the `outcome` label says it.
pub fn refusal_outcome(why: Refusal) -> &'static str {
    match why {
        Refusal::Unauthorized => "unauthorized",
        Refusal::NotApi
        | Refusal::UnknownEndpoint
        | Refusal::Malformed
        | Refusal::TooLarge
        | Refusal::Timeout => "bad_request",
        Refusal::TooManyConnections | Refusal::Busy | Refusal::Stopping => "unavailable",
    }
}

/// Seconds buckets of the added latency: 0.5 ms to 30 s (the longest wait for the rate window
/// is `--max-wait`, 30 s by default).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("budget_guard");
        let m = Metrics {
            registry: Registry::default(),
            budget: Gauge::default(),
            remaining: Gauge::default(),
            reserved: Gauge::default(),
            spent: Gauge::default(),
            shadow: Gauge::default(),
            state_up: Gauge::default(),
            charged: Family::default(),
            overrun: Family::default(),
            calls: Family::default(),
            would_refuse: Family::default(),
            would_refuse_units: Family::default(),
            retries: Family::default(),
            queue: Gauge::default(),
            window_used: Gauge::default(),
            duration: Histogram::new(BUCKETS),
            client_charged: Family::default(),
            client_calls: Family::default(),
            client_budget: Family::default(),
            client_remaining: Family::default(),
            alerts: Family::default(),
        };
        registry.register(
            "budget_units",
            "The guard's budget: --budget (units spent before a restart included), the live figure at start, or the shared budget's",
            m.budget.clone(),
        );
        registry.register(
            "units_remaining",
            "Units that calls may still reserve (below zero when overruns overdrew the budget)",
            m.remaining.clone(),
        );
        registry.register(
            "units_reserved",
            "Units held by calls in flight",
            m.reserved.clone(),
        );
        registry.register(
            "units_spent",
            "Units charged from the budget (budget - remaining - reserved)",
            m.spent.clone(),
        );
        registry.register(
            "shadow_mode",
            "1 when the guard runs with --shadow (prices and records, never refuses for the budget)",
            m.shadow.clone(),
        );
        registry.register(
            "state_up",
            "1 when the last scrape could read the budget's state (0: Redis unreachable; the gauges keep their last values)",
            m.state_up.clone(),
        );
        registry.register(
            "units_charged",
            "Units charged by calls this guard handled, by catalogue endpoint",
            m.charged.clone(),
        );
        registry.register(
            "overrun_units",
            "Units charged beyond the calls' prices (replies with more records than priced)",
            m.overrun.clone(),
        );
        registry.register(
            "calls",
            "Calls by catalogue endpoint (other: refused before pricing) and outcome",
            m.calls.clone(),
        );
        registry.register(
            "would_refuse",
            "Shadow mode: calls forwarded that enforcement would have refused for the budget",
            m.would_refuse.clone(),
        );
        registry.register(
            "would_refuse_units",
            "Shadow mode: units the calls enforcement would have refused were priced at",
            m.would_refuse_units.clone(),
        );
        registry.register(
            "upstream_retries",
            "Attempts retried, by the API's status (connection: no connection)",
            m.retries.clone(),
        );
        registry.register(
            "queue_depth",
            "Calls waiting for the rate window",
            m.queue.clone(),
        );
        registry.register(
            "rate_window_used",
            "Requests started in the current rolling window (every guard sharing it, in Redis mode)",
            m.window_used.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Latency the guard added to a call: arrival to reply, minus the API's exchanges and retry back-off (the wait for the rate window included)",
            m.duration.clone(),
        );
        registry.register(
            "client_units_charged",
            "Units charged by calls of each client (--clients)",
            m.client_charged.clone(),
        );
        registry.register(
            "client_calls",
            "Calls of each client (--clients) by outcome",
            m.client_calls.clone(),
        );
        registry.register(
            "client_budget_units",
            "Each client's own budget (--clients)",
            m.client_budget.clone(),
        );
        registry.register(
            "client_units_remaining",
            "Units each client's own budget may still reserve",
            m.client_remaining.clone(),
        );
        registry.register(
            "alert_fired",
            "1 once the threshold's alert was claimed for this budget (--alert-at)",
            m.alerts.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one priced call (see [`super::events`]).
    pub fn call(&self, entry: &Entry, client: Option<&str>, added: Duration, retried: &[Retried]) {
        let endpoint = EndpointLabel {
            endpoint: entry.endpoint.clone(),
        };
        let outcome = outcome_of(entry);
        self.calls
            .get_or_create(&CallLabels {
                endpoint: entry.endpoint.clone(),
                outcome,
            })
            .inc();
        self.charged
            .get_or_create(&endpoint)
            .inc_by(entry.units_charged);
        if entry.overrun > 0 {
            self.overrun.get_or_create(&endpoint).inc_by(entry.overrun);
        }
        if entry.would_refuse {
            self.would_refuse.get_or_create(&endpoint).inc();
            self.would_refuse_units
                .get_or_create(&endpoint)
                .inc_by(entry.units_reserved);
        }
        for why in retried {
            let status = why.map_or_else(|| CONNECTION.to_string(), |s| s.to_string());
            self.retries.get_or_create(&StatusLabel { status }).inc();
        }
        if let Some(client) = client {
            let label = ClientLabel {
                client: client.to_string(),
            };
            self.client_charged
                .get_or_create(&label)
                .inc_by(entry.units_charged);
            self.client_calls
                .get_or_create(&ClientOutcome {
                    client: client.to_string(),
                    outcome,
                })
                .inc();
        }
        self.duration.observe(added.as_secs_f64());
    }

    /// Counts one refusal before pricing.
    pub fn refused(&self, why: Refusal, client: Option<&str>, added: Option<Duration>) {
        let outcome = refusal_outcome(why);
        self.calls
            .get_or_create(&CallLabels {
                endpoint: OTHER.to_string(),
                outcome,
            })
            .inc();
        if let Some(client) = client {
            self.client_calls
                .get_or_create(&ClientOutcome {
                    client: client.to_string(),
                    outcome,
                })
                .inc();
        }
        if let Some(added) = added {
            self.duration.observe(added.as_secs_f64());
        }
    }

    /// Sets the gauges read from the state (before each scrape).
    pub fn set_figures(&self, figures: &Figures, queue: usize, window_used: u64) {
        self.budget
            .set(i64::try_from(figures.total).unwrap_or(i64::MAX));
        self.remaining.set(figures.left);
        self.reserved
            .set(i64::try_from(figures.reserved).unwrap_or(i64::MAX));
        self.spent.set(figures.spent());
        self.queue.set(i64::try_from(queue).unwrap_or(i64::MAX));
        self.window_used
            .set(i64::try_from(window_used).unwrap_or(i64::MAX));
    }

    /// Sets a client's own budget's gauges.
    pub fn set_client(&self, client: &str, figures: &Figures) {
        let label = ClientLabel {
            client: client.to_string(),
        };
        self.client_budget
            .get_or_create(&label)
            .set(i64::try_from(figures.total).unwrap_or(i64::MAX));
        self.client_remaining
            .get_or_create(&label)
            .set(figures.left);
    }

    pub fn set_state_up(&self, up: bool) {
        self.state_up.set(i64::from(up));
    }

    pub fn set_shadow(&self, shadow: bool) {
        self.shadow.set(i64::from(shadow));
    }

    /// Marks a threshold's alert as claimed.
    pub fn set_alert(&self, percent: u8) {
        self.alerts
            .get_or_create(&ThresholdLabel {
                threshold_percent: percent.to_string(),
            })
            .set(1);
    }

    /// The exposition in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(endpoint: &str, outcome: Outcome, status: u16, charged: u64) -> Entry {
        Entry {
            time: "2026-11-26T07:00:00.000Z".into(),
            method: "GET".into(),
            endpoint: endpoint.into(),
            targets: 1,
            status,
            units_reserved: 100,
            units_charged: charged,
            overrun: 0,
            latency_ms: 1.0,
            attempts: 1,
            outcome,
            workflow: None,
            step: None,
            source: None,
            rows: None,
            evidence: None,
            counted: None,
            target_hash: None,
            continues: false,
            hold: None,
            client: None,
            would_refuse: false,
            approval: None,
            approval_needed: false,
        }
    }

    #[track_caller]
    fn has(text: &str, line: &str) {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }

    #[test]
    fn outcomes_by_hand() {
        for (outcome, status, label) in [
            (Outcome::Charged, 200, "forwarded"),
            (Outcome::Released, 500, "upstream_error"),
            (Outcome::OverBudget, 402, "over_budget"),
            (Outcome::RateQueue, 503, "rate_queue_full"),
            (Outcome::Rejected, 422, "bad_request"),
            (Outcome::Failed, 502, "upstream_error"),
            (Outcome::Failed, 504, "upstream_error"),
            (Outcome::Failed, 503, "unavailable"),
        ] {
            assert_eq!(outcome_of(&entry("x", outcome, status, 0)), label);
            assert!(OUTCOMES.contains(&label));
        }
        assert_eq!(refusal_outcome(Refusal::Unauthorized), "unauthorized");
        assert_eq!(refusal_outcome(Refusal::UnknownEndpoint), "bad_request");
        assert_eq!(refusal_outcome(Refusal::Busy), "unavailable");
    }

    /// The exposition names, labels and sums, by hand.
    #[test]
    fn the_exposition_counts_what_it_was_told() {
        let m = Metrics::new();
        m.call(
            &entry("backlinks/summary", Outcome::Charged, 200, 100),
            Some("seo"),
            Duration::from_micros(300),
            &[Some(429), None],
        );
        m.call(
            &Entry {
                would_refuse: true,
                units_reserved: 300,
                ..entry("backlinks/summary", Outcome::Charged, 200, 300)
            },
            None,
            Duration::from_millis(3),
            &[],
        );
        m.refused(Refusal::Unauthorized, None, None);
        m.set_figures(
            &Figures {
                total: 1000,
                left: 550,
                reserved: 50,
            },
            2,
            7,
        );
        let text = m.encode();
        // 100 + 300 charged; 1,000 − 550 − 50 = 400 spent.
        has(
            &text,
            r#"budget_guard_units_charged_total{endpoint="backlinks/summary"} 400"#,
        );
        has(
            &text,
            r#"budget_guard_calls_total{endpoint="backlinks/summary",outcome="forwarded"} 2"#,
        );
        has(
            &text,
            r#"budget_guard_calls_total{endpoint="other",outcome="unauthorized"} 1"#,
        );
        has(
            &text,
            r#"budget_guard_would_refuse_total{endpoint="backlinks/summary"} 1"#,
        );
        has(
            &text,
            r#"budget_guard_would_refuse_units_total{endpoint="backlinks/summary"} 300"#,
        );
        has(
            &text,
            r#"budget_guard_upstream_retries_total{status="429"} 1"#,
        );
        has(
            &text,
            r#"budget_guard_upstream_retries_total{status="connection"} 1"#,
        );
        has(
            &text,
            r#"budget_guard_client_units_charged_total{client="seo"} 100"#,
        );
        has(&text, "budget_guard_budget_units 1000");
        has(&text, "budget_guard_units_remaining 550");
        has(&text, "budget_guard_units_spent 400");
        has(&text, "budget_guard_queue_depth 2");
        // 0.3 ms falls in the 0.5 ms bucket, 3 ms in the 5 ms one: two observations in all.
        has(
            &text,
            r#"budget_guard_request_duration_seconds_bucket{le="0.0005"} 1"#,
        );
        has(
            &text,
            r#"budget_guard_request_duration_seconds_bucket{le="0.005"} 2"#,
        );
        has(&text, "budget_guard_request_duration_seconds_count 2");
        has(
            &text,
            "# TYPE budget_guard_request_duration_seconds histogram",
        );
    }
}
