//! Property tests: the engine's laws hold for any step the validator could accept.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::pricing::{Endpoint, Pricing};
use crate::workflow::{self, Step, Workflow};

/// Priced catalogue entries `keep` accepts (an entry of unknown price cannot be planned).
fn catalogue(keep: fn(&Endpoint) -> bool) -> Vec<Endpoint> {
    Pricing::embedded()
        .unwrap()
        .endpoints
        .into_values()
        .filter(|e| e.units.is_some())
        .filter(keep)
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
        let pricing = Pricing::embedded().unwrap();
        // Through a real file, so the bytes → UTF-8 check of `load` is exercised too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.yaml");
        std::fs::write(&path, &bytes).unwrap();
        let _ = workflow::load(&path, &pricing);
        let _ = workflow::parse(&String::from_utf8_lossy(&bytes), Path::new("fuzz.yaml"), &pricing);
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
        let pricing = Pricing::embedded().unwrap();
        let fields: Vec<String> = keys.iter().zip(values.iter().cycle()).map(|(k, v)| format!("{k}: {v}")).collect();
        let text = format!("steps:\n  - {{{}}}\n", fields.join(", "));
        if let Ok(loaded) = workflow::parse(&text, Path::new("fuzz.yaml"), &pricing) {
            let _ = super::workflow(&loaded.workflow, 10);
        }
    }
}
