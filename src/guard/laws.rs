//! The pricing law as a property (docs/workflows.md "The arithmetic"): for every catalogue endpoint and any
//! step, the guard's price of each request the plan lists, summed, is the plan's worst case.
//!
//! The requests are built as a client would send them (query or JSON body, the entry's own
//! parameter names) and priced by the guard's whole reading path, so a parameter the guard reads
//! differently from the plan breaks the property.

use std::path::PathBuf;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::price::{self, Call, PriceError};
use crate::estimate::{self, Band, EstimateError, Requests, Shape};
use crate::pricing::{Endpoint, Granularity, Pricing, RecordKind};
use crate::workflow::{Step, Workflow};

fn catalogue() -> Vec<Endpoint> {
    Pricing::embedded_once()
        .endpoints
        .values()
        .cloned()
        .collect()
}

fn day(offset: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
        + chrono::Duration::days(i64::try_from(offset).unwrap())
}

/// A valid step on any catalogue entry, small enough to list request by request.
fn any_step() -> impl Strategy<Value = Step> {
    let endpoints = catalogue();
    (
        0..endpoints.len(),
        1u64..300,
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        prop::option::of(1u64..25),
        1u64..=3,
        1usize..=3,
        prop::option::of((0u64..800, 0u64..400)),
        0usize..3,
    )
        .prop_map(
            move |(
                i,
                targets,
                batch_seed,
                rows_seed,
                limit_seed,
                calls,
                repeat,
                sources,
                dates,
                g,
            )| {
                let endpoint = endpoints[i].clone();
                let batch = 1 + batch_seed % endpoint.max_batch.min(200);
                let (rows, limit) = match endpoint.limit {
                    Some(l) => {
                        let cap = l.max.min(30_000);
                        if endpoint.paged {
                            (Some(1 + rows_seed % (cap * 3)), Some(1 + limit_seed % cap))
                        } else {
                            let rows = 1 + rows_seed % cap;
                            (Some(rows), Some(rows.max(1 + limit_seed % cap).min(l.max)))
                        }
                    }
                    None => (None, None),
                };
                let ranged = endpoint.record.ranged();
                let granularity = [
                    Granularity::ByDay,
                    Granularity::ByWeek,
                    Granularity::ByMonth,
                ][g];
                Step {
                    name: endpoint.name.clone(),
                    targets,
                    batch,
                    rows,
                    expected_rows: None,
                    limit,
                    sources: if endpoint.source {
                        (0..sources).map(|n| format!("s{n}")).collect()
                    } else {
                        Vec::new()
                    },
                    calls,
                    repeat,
                    dates: dates
                        .filter(|_| ranged)
                        .map(|(start, length)| (day(start), day(start + length))),
                    granularity: if endpoint.record == RecordKind::Period {
                        granularity
                    } else {
                        Granularity::ByDay
                    },
                    line: None,
                    endpoint,
                }
            },
        )
}

/// One request of `shape`, as a client would send it; `in_body` puts the parameters in a JSON
/// body rather than the query.
fn request(step: &Step, shape: &Shape, in_body: bool) -> (String, Vec<(String, String)>, Vec<u8>) {
    let e = &step.endpoint;
    let mut query: Vec<(String, String)> = Vec::new();
    let mut body = Map::new();
    let targets: Vec<String> = (0..shape.targets)
        .map(|n| format!("t{n}.example"))
        .collect();
    if !targets.is_empty() {
        if in_body {
            // A JSON field is named without brackets when the entry reads such a name.
            let name = e
                .targets_from
                .iter()
                .find(|n| !n.ends_with("[]"))
                .unwrap_or(&e.targets_from[0]);
            body.insert(name.clone(), json!(targets));
        } else {
            let name = &e.targets_from[0];
            query.extend(targets.iter().map(|t| (name.clone(), t.clone())));
        }
    }
    if let Some(rows) = shape.rows {
        let path: Vec<&str> = e.rows_from.split('.').collect();
        if path.len() > 1 || in_body {
            let mut value = json!(rows);
            for part in path.iter().skip(1).rev() {
                value = json!({ *part: value });
            }
            body.insert(path[0].to_string(), value);
        } else {
            query.push((e.rows_from.clone(), rows.to_string()));
        }
    }
    if let Some(periods) = shape.periods {
        let (dates, granularity) = match step.calls {
            // Spread over `calls` requests: a range of exactly `periods` days, by day.
            Some(_) => (Some((day(0), day(periods - 1))), Granularity::ByDay),
            None => (step.dates, step.granularity),
        };
        let mut params = Vec::new();
        if let Some((from, to)) = dates {
            params.push(("date_from", from.to_string()));
            params.push(("date_to", to.to_string()));
        }
        params.push(("granularity", granularity.as_str().to_string()));
        for (k, v) in params {
            if in_body {
                body.insert(k.to_string(), Value::from(v));
            } else {
                query.push((k.to_string(), v));
            }
        }
    }
    if let Some(source) = step.sources.first() {
        query.push(("source".into(), source.clone()));
    }
    let body = if body.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(&Value::Object(body)).unwrap()
    };
    // POST where the entry takes it (the body is read either way), else its first method.
    let method = if e.methods.contains(&"POST") {
        "POST"
    } else {
        e.methods[0]
    }
    .to_string();
    (method, query, body)
}

/// Query pairs as a client's URL encodes them.
fn encoded(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn plan(step: &Step) -> Result<u64, EstimateError> {
    let workflow = Workflow {
        name: "law".into(),
        path: PathBuf::from("law.yaml"),
        account: None,
        max_units: None,
        reserve: None,
        rps: None,
        schedule: None,
        steps: vec![step.clone()],
    };
    estimate::workflow(&workflow, 10).map(|w| w.units)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_guard_prices_each_planned_request_at_the_plan_s_figure(
        step in any_step(),
        in_body in any::<bool>(),
    ) {
        let pricing = Pricing::embedded_once();
        let planned = plan(&step);
        let requests = Requests::of(&step, Band::Worst).unwrap();
        let mut guarded = 0u64;
        for (shape, n) in requests.iter() {
            let (method, query, body) = request(&step, &shape, in_body);
            let path = format!("/v1/{}", step.endpoint.path());
            let query = encoded(&query);
            let call = Call {
                method: &method,
                path: &path,
                query: &query,
                content_type: (!body.is_empty()).then_some("application/json"),
                body: &body,
                today: day(0),
            };
            match price::price(pricing, &call) {
                Ok(priced) => {
                    prop_assert_eq!(priced.endpoint.as_str(), step.endpoint.name.as_str());
                    guarded += priced.units * n;
                }
                Err(PriceError::PriceUnknown { .. }) => {
                    prop_assert!(step.endpoint.units.is_none());
                    prop_assert!(
                        matches!(planned, Err(EstimateError::UnknownPrice { .. })),
                        "the plan of an unknown price must fail too"
                    );
                    return Ok(());
                }
                Err(e) => prop_assert!(false, "{} refused {:?}: {}", step.endpoint.name, shape, e),
            }
        }
        prop_assert_eq!(planned.unwrap(), guarded, "{:?}", step);
    }

    /// Invariant: a call asking for rows at the top of `u64` is priced at exactly
    /// targets × rows × units per row (worked out in u128 apart from the code), or refused as an
    /// overflow naming its endpoint; never a wrapped price, never a panic.
    #[test]
    fn huge_row_counts_are_priced_exactly_or_refused_as_overflow(
        which in 0usize..3,
        targets in 1u64..=5,
        rows in prop_oneof![1u64..100_000, any::<u64>().prop_map(|n| n.max(1)), (u64::MAX / 2)..=u64::MAX],
    ) {
        // (entry, units per row): 1 unit a row, not paged and paged; 10 a row, per source.
        let (name, per_row) = [("backlinks/all", 1u128), ("backlinks/raw", 1), ("keywords/similar", 10)][which];
        let pricing = Pricing::embedded_once();
        let endpoint = pricing.endpoint(name).unwrap();
        let mut query: Vec<(String, String)> = (0..targets)
            .map(|i| (endpoint.targets_from[0].clone(), format!("t{i}.example")))
            .collect();
        query.push(("limit".into(), rows.to_string()));
        if endpoint.source {
            query.push(("source".into(), "us".into()));
        }
        let path = format!("/v1/{name}");
        let query = encoded(&query);
        let call = Call {
            method: "GET",
            path: &path,
            query: &query,
            content_type: None,
            body: b"",
            today: day(0),
        };
        let exact = u128::from(targets) * u128::from(rows) * per_row;
        match (price::price(pricing, &call), u64::try_from(exact)) {
            (Ok(priced), Ok(units)) => prop_assert_eq!(priced.units, units, "{}", name),
            (Err(PriceError::Overflow { endpoint, .. }), Err(_)) => prop_assert_eq!(endpoint, name),
            (got, _) => prop_assert!(false, "{name} × {targets} targets × {rows} rows ({exact} units): {got:?}"),
        }
    }
}
