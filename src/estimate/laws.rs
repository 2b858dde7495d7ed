//! Property tests: the engine's laws hold for any step the validator could accept.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::pricing::{Endpoint, Pricing};
use crate::workflow::{self, Step, Workflow};

/// Priced catalogue entries `keep` accepts (an entry of unknown price cannot be planned).
fn catalogue(keep: fn(&Endpoint) -> bool) -> Vec<Endpoint> {
    Pricing::embedded_once()
        .endpoints
        .values()
        .filter(|e| e.units.is_some())
        .filter(|e| keep(e))
        .cloned()
        .collect()
}

/// A valid step on any catalogue endpoint, with counts small enough never to overflow.
fn any_step() -> impl Strategy<Value = Step> {
    step_on(|_| true)
}

/// A valid step on an endpoint of the catalogue that `keep` accepts.
fn step_on(keep: fn(&Endpoint) -> bool) -> impl Strategy<Value = Step> {
    let endpoints = catalogue(keep);
    (
        0..endpoints.len(),
        1u64..100_000,
        1u64..=10_000,
        prop::option::of(1u64..1_000),
        1u64..=5,
        1usize..=4,
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            move |(
                i,
                targets,
                batch_seed,
                calls,
                repeat,
                sources,
                rows_seed,
                limit_seed,
                expected_seed,
            )| {
                let endpoint = endpoints[i].clone();
                let batch = 1 + batch_seed % endpoint.max_batch;
                let (rows, limit, expected_rows) = match endpoint.limit {
                    Some(l) => {
                        let ceiling = if endpoint.paged { l.max * 10 } else { l.max };
                        let rows = 1 + rows_seed % ceiling;
                        let limit = if endpoint.paged {
                            1 + limit_seed % l.max
                        } else {
                            rows.max(1 + limit_seed % l.max).min(l.max)
                        };
                        (Some(rows), Some(limit), Some(expected_seed % (rows + 1)))
                    }
                    None => (None, None, None),
                };
                let sources = if endpoint.source {
                    (0..sources).map(|n| format!("s{n}")).collect()
                } else {
                    Vec::new()
                };
                Step {
                    name: endpoint.name.clone(),
                    endpoint,
                    targets,
                    batch,
                    rows,
                    expected_rows,
                    limit,
                    sources,
                    calls,
                    repeat,
                    dates: None,
                    granularity: crate::pricing::Granularity::ByDay,
                    line: None,
                }
            },
        )
}

fn workflow(steps: Vec<Step>) -> Workflow {
    Workflow {
        name: "law".into(),
        path: PathBuf::from("law.yaml"),
        account: None,
        max_units: None,
        reserve: None,
        rps: None,
        schedule: None,
        steps,
    }
}

/// Counts that reach `u64::MAX`: small ones, any, and the top half of the range.
fn huge() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..1000,
        any::<u64>().prop_map(|n| n.max(1)),
        (u64::MAX / 2)..=u64::MAX,
    ]
}

/// `name` of the embedded catalogue.
fn entry(name: &str) -> Endpoint {
    Pricing::embedded_once().endpoint(name).unwrap().clone()
}

fn cost(step: &Step) -> StepEstimate {
    super::workflow(&workflow(vec![step.clone()]), 10)
        .unwrap()
        .steps
        .remove(0)
}

proptest! {
    #[test]
    fn totals_are_the_sums_of_the_steps(steps in prop::collection::vec(any_step(), 1..20)) {
        let f = super::workflow(&workflow(steps), 10).unwrap();
        prop_assert_eq!(f.requests, f.steps.iter().map(|s| s.requests).sum::<u64>());
        prop_assert_eq!(f.records, f.steps.iter().map(|s| s.records).sum::<u64>());
        prop_assert_eq!(f.units, f.steps.iter().map(|s| s.units).sum::<u64>());
        prop_assert_eq!(f.units_expected, f.steps.iter().map(|s| s.units_expected).sum::<u64>());
        let t = totals(std::slice::from_ref(&f)).unwrap();
        prop_assert_eq!((t.requests, t.units), (f.requests, f.units));
    }

    #[test]
    fn expected_never_exceeds_worst_case(step in any_step()) {
        let c = cost(&step);
        prop_assert!(c.units_expected <= c.units);
    }

    #[test]
    fn more_targets_never_cost_less(step in any_step(), extra in 1u64..1000) {
        let mut more = step.clone();
        more.targets += extra;
        let (a, b) = (cost(&step), cost(&more));
        prop_assert!(b.units >= a.units && b.requests >= a.requests && b.records >= a.records);
    }

    #[test]
    fn more_rows_never_cost_less(step in step_on(|e| e.limit.is_some()), extra in 1u64..1000) {
        let mut more = step.clone();
        let (rows, limit) = (step.rows.unwrap(), step.limit.unwrap());
        let row_limit = step.endpoint.limit.unwrap();
        if step.endpoint.paged {
            more.rows = Some(rows + extra);
        } else {
            // a non-paged endpoint stays within its maximum, with limit ≥ rows
            let grown = (rows + extra).min(row_limit.max);
            more.rows = Some(grown);
            more.limit = Some(limit.max(grown));
        }
        let (a, b) = (cost(&step), cost(&more));
        prop_assert!(b.units >= a.units && b.requests >= a.requests && b.records >= a.records);
    }

    #[test]
    fn more_repeats_never_cost_less(step in any_step(), extra in 1u64..10) {
        let mut more = step.clone();
        more.repeat += extra;
        let (a, b) = (cost(&step), cost(&more));
        prop_assert!(b.units >= a.units && b.requests >= a.requests);
    }

    #[test]
    fn batch_size_never_changes_records(step in any_step(), seed in any::<u64>()) {
        let mut other = step.clone();
        other.batch = 1 + seed % step.endpoint.max_batch;
        prop_assert_eq!(cost(&step).records, cost(&other).records);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let pricing = Pricing::embedded_once();
        // Through a real file, so the bytes → UTF-8 check of `load` is exercised too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.yaml");
        std::fs::write(&path, &bytes).unwrap();
        let _ = workflow::load(&path, pricing);
        let _ = workflow::parse(&String::from_utf8_lossy(&bytes), Path::new("fuzz.yaml"), pricing);
    }

    #[test]
    fn yaml_shaped_input_never_panics(
        keys in prop::collection::vec(prop::sample::select(vec![
            "endpoint", "targets", "batch", "rows", "expected_rows", "limit", "source", "sources", "calls", "repeat", "name", "file",
        ]), 1..6),
        values in prop::collection::vec(prop::sample::select(vec![
            "0", "-1", "1", "250k", "\"1_000\"", "18446744073709551615", "[]", "[us, de]", "{file: x}", "backlinks/raw",
            "domain/keywords", "null", "true", "1.5", "\"\"", "1e9",
        ]), 1..6),
    ) {
        let pricing = Pricing::embedded_once();
        let fields: Vec<String> = keys.iter().zip(values.iter().cycle()).map(|(k, v)| format!("{k}: {v}")).collect();
        let text = format!("steps:\n  - {{{}}}\n", fields.join(", "));
        if let Ok(loaded) = workflow::parse(&text, Path::new("fuzz.yaml"), pricing) {
            let _ = super::workflow(&loaded.workflow, 10);
        }
    }

    /// Invariant: counts at the top of `u64` either fit, and then every figure is the exact
    /// product, or the estimate is an overflow error naming the step; never a wrapped figure,
    /// never a panic. Three laws of the catalogue (docs/workflows.md "The arithmetic"), worked out in u128
    /// apart from the code: backlinks/summary (100 per target, up to 100 targets a request),
    /// backlinks/raw (1 per row, paged by `limit`), domain/keywords (100 per request, paged by
    /// `limit`, per source).
    #[test]
    fn huge_counts_are_exact_or_an_overflow_naming_the_step(
        which in 0usize..3,
        targets in huge(),
        rows in huge(),
        repeat in huge(),
        seed in any::<u64>(),
        sources in 1u64..=4,
    ) {
        // Products in u128, `None` past it (certainly past u64 too).
        let product = |factors: &[u128]| {
            factors
                .iter()
                .try_fold(1u128, |product, factor| product.checked_mul(*factor))
        };
        let (t, r, n, s) = (
            u128::from(targets),
            u128::from(rows),
            u128::from(repeat),
            u128::from(sources),
        );
        let (endpoint, batch, rows, limit, sources, expected) = match which {
            0 => {
                let batch = 1 + seed % 100;
                let requests = product(&[t.div_ceil(u128::from(batch)), n]);
                ("backlinks/summary", batch, None, None, 1, [requests, product(&[t, n]), product(&[100, t, n])])
            }
            1 => {
                let limit = 1 + seed % 100_000;
                let requests = product(&[t, r.div_ceil(u128::from(limit)), n]);
                let records = product(&[t, r, n]);
                ("backlinks/raw", 1, Some(rows), Some(limit), 1, [requests, records, records])
            }
            _ => {
                let limit = 1 + seed % 1000;
                let requests = product(&[t, r.div_ceil(u128::from(limit)), s, n]);
                let units = requests.and_then(|q| q.checked_mul(100));
                ("domain/keywords", 1, Some(rows), Some(limit), sources, [requests, product(&[t, r, s, n]), units])
            }
        };
        let step = Step {
            name: "huge".into(),
            endpoint: entry(endpoint),
            targets,
            batch,
            rows,
            expected_rows: None,
            limit,
            sources: (0..sources).map(|i| format!("s{i}")).collect(),
            calls: None,
            repeat,
            dates: None,
            granularity: crate::pricing::Granularity::ByDay,
            line: None,
        };
        let fits = expected
            .iter()
            .all(|q| q.is_some_and(|q| u64::try_from(q).is_ok()));
        match super::workflow(&workflow(vec![step]), 10) {
            Ok(w) => {
                prop_assert!(fits, "{endpoint}: {w:?} from counts that overflow");
                let got = &w.steps[0];
                prop_assert_eq!(
                    [got.requests, got.records, got.units].map(|q| Some(u128::from(q))),
                    expected,
                    "{}", endpoint
                );
                prop_assert_eq!(got.units_expected, got.units);
            }
            Err(e) => {
                prop_assert!(!fits, "{endpoint}: refused counts that fit: {e}");
                let text = e.to_string();
                prop_assert!(
                    text.starts_with("law.yaml: step 1 (huge): the ") && text.contains(" overflow"),
                    "{}", text
                );
            }
        }
    }
}
