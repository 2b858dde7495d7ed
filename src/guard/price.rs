//! Prices one API call before it is forwarded: which catalogue endpoint it is, how many targets
//! and rows it asks for, and the worst-case units that one call can cost.
//!
//! Pure: no I/O. The arithmetic is `estimate::price_request`, the same table `budget plan` uses;
//! this module only reads the request (path, query pairs, JSON body) into its inputs.
//!
//! Counting rules (where the vendor's API reads them):
//! - targets: repeated `target` (or `target[]`) query parameters, else a JSON body's `target`
//!   (an array counts its items, a string counts 1); a call naming no target counts as 1
//!   (e.g. `export/status?task_id=…`, `account/subscription`);
//! - `keywords/export`: its targets are the keywords: `keywords[]`/`keywords` query parameters or
//!   a JSON `keywords` array (one request whatever the count, so the price does not change);
//! - row endpoints: the `limit` parameter (query or JSON), else the endpoint's `limit.default`.
//!   A `limit` above `limit.max` is priced as asked: the worst case is what the client requested;
//!   a `limit` that is not a positive whole number is priced at the default (the API refuses it,
//!   and a refused call is free).

use serde_json::Value;

use crate::estimate;
use crate::pricing::{Endpoint, Pricing, RecordKind};

/// What one call costs at worst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// The catalogue name, e.g. `backlinks/summary`.
    pub endpoint: String,
    pub targets: u64,
    /// Rows per target asked for (row endpoints only).
    pub rows: Option<u64>,
    /// Worst-case units.
    pub units: u64,
    /// Units per billed record (to settle row endpoints by the records actually returned);
    /// `None` when the call is billed per request or per target.
    pub units_per_row: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("{path} is not an SE Ranking Data API path; paths start with /v1/")]
    NotApi { path: String },
    #[error("unknown endpoint {endpoint}{}: the guard cannot price it, so it does not forward it; add it to the pricing file (--pricing)", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownEndpoint {
        endpoint: String,
        suggestion: Option<String>,
    },
    #[error("the price of this {endpoint} call overflows the largest count ({quantity})")]
    Overflow {
        endpoint: String,
        quantity: &'static str,
    },
}

/// Prices a call to `path` (e.g. `/v1/backlinks/summary`) with its decoded query pairs and its
/// body (parsed as JSON when it is JSON; anything else is ignored).
pub fn price(
    pricing: &Pricing,
    path: &str,
    query: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<Priced, PriceError> {
    let name = path
        .strip_prefix("/v1/")
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| PriceError::NotApi {
            path: path.to_string(),
        })?;
    let endpoint = lookup(pricing, name)?;
    let json = body
        .filter(|b| !b.is_empty())
        .and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let json = json.as_ref();

    let targets = if endpoint.name == "keywords/export" {
        count(query, &["keywords[]", "keywords"], json, "keywords")
    } else {
        count(query, &["target", "target[]"], json, "target")
    };
    let rows = match endpoint.record {
        RecordKind::Target => None,
        RecordKind::Row => Some(
            limit(query, json)
                .or(endpoint.limit.map(|l| l.default))
                .unwrap_or(1),
        ),
    };
    let units = estimate::price_request(endpoint, targets, rows).map_err(|quantity| {
        PriceError::Overflow {
            endpoint: endpoint.name.clone(),
            quantity,
        }
    })?;
    let units_per_row = (endpoint.record == RecordKind::Row
        && endpoint.per == crate::pricing::Per::Record)
        .then_some(endpoint.units);
    Ok(Priced {
        endpoint: endpoint.name.clone(),
        targets: targets.max(1),
        rows,
        units,
        units_per_row,
    })
}

fn lookup<'a>(pricing: &'a Pricing, name: &str) -> Result<&'a Endpoint, PriceError> {
    pricing
        .endpoint(name)
        .ok_or_else(|| PriceError::UnknownEndpoint {
            endpoint: name.trim_end_matches('/').to_string(),
            suggestion: pricing.closest_endpoint(name).map(str::to_string),
        })
}

/// Query parameters named one of `names`, else the JSON field `field`.
fn count(query: &[(String, String)], names: &[&str], json: Option<&Value>, field: &str) -> u64 {
    let in_query = query
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .count() as u64;
    if in_query > 0 {
        return in_query;
    }
    match json.and_then(|j| j.get(field)) {
        Some(Value::Array(items)) => items.len() as u64,
        Some(Value::Null) | None => 0,
        Some(_) => 1,
    }
}

/// A positive whole `limit` from the query or the JSON body.
fn limit(query: &[(String, String)], json: Option<&Value>) -> Option<u64> {
    let from_query = query
        .iter()
        .rev()
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v.trim().parse::<u64>().ok());
    let value = match from_query {
        Some(parsed) => parsed,
        None => match json.and_then(|j| j.get("limit")) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        },
    };
    value.filter(|&n| n > 0)
}

/// Billed records a 2xx reply shows, for row endpoints: the length of a top-level JSON array,
/// or of the only array among a top-level object's fields. `None` when the reply does not say
/// (then the call is charged its worst case).
pub fn records_in_reply(body: &[u8]) -> Option<u64> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Array(items) => Some(items.len() as u64),
        Value::Object(fields) => {
            let mut arrays = fields.values().filter_map(Value::as_array);
            let first = arrays.next()?;
            arrays.next().is_none().then_some(first.len() as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing() -> Pricing {
        Pricing::embedded().expect("embedded pricing")
    }

    fn pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[track_caller]
    fn costs(
        path: &str,
        query: &str,
        body: Option<&str>,
        endpoint: &str,
        targets: u64,
        units: u64,
    ) {
        let priced = price(&pricing(), path, &pairs(query), body.map(str::as_bytes))
            .unwrap_or_else(|e| panic!("{path}?{query}: {e}"));
        assert_eq!(priced.endpoint, endpoint, "{path}?{query}");
        assert_eq!(priced.targets, targets, "targets of {path}?{query}");
        assert_eq!(priced.units, units, "units of {path}?{query}");
    }

    #[test]
    fn calls_priced_by_hand() {
        // summary: 100 units per target record.
        costs(
            "/v1/backlinks/summary",
            "target=a.com",
            None,
            "backlinks/summary",
            1,
            100,
        );
        costs(
            "/v1/backlinks/summary",
            "target=a.com&target=b.com&target=c.com",
            None,
            "backlinks/summary",
            3,
            300,
        );
        costs(
            "/v1/backlinks/summary",
            "target[]=a.com&target[]=b.com",
            None,
            "backlinks/summary",
            2,
            200,
        );
        // POST body with a target array: 4 targets × 100.
        costs(
            "/v1/backlinks/summary",
            "",
            Some(r#"{"target":["a","b","c","d"],"mode":"host"}"#),
            "backlinks/summary",
            4,
            400,
        );
        costs(
            "/v1/backlinks/count",
            "",
            Some(r#"{"target":"a.com"}"#),
            "backlinks/count",
            1,
            100,
        );
        // all: rows × 1 unit, default limit 100, or the limit asked.
        costs(
            "/v1/backlinks/all",
            "target=a.com",
            None,
            "backlinks/all",
            1,
            100,
        );
        costs(
            "/v1/backlinks/all",
            "target=a.com&limit=2500",
            None,
            "backlinks/all",
            1,
            2500,
        );
        costs(
            "/v1/backlinks/all",
            "",
            Some(r#"{"target":"a.com","limit":40}"#),
            "backlinks/all",
            1,
            40,
        );
        // raw: default limit 10000 rows × 1 unit.
        costs(
            "/v1/backlinks/raw",
            "target=a.com",
            None,
            "backlinks/raw",
            1,
            10_000,
        );
        // a limit that is not a positive number is priced at the default.
        costs(
            "/v1/backlinks/all",
            "target=a.com&limit=abc",
            None,
            "backlinks/all",
            1,
            100,
        );
        costs(
            "/v1/backlinks/all",
            "target=a.com&limit=0",
            None,
            "backlinks/all",
            1,
            100,
        );
        // export: 1000 per target; status polls: 0, no target.
        costs(
            "/v1/backlinks/export",
            "target=a.com&mode=host",
            None,
            "backlinks/export",
            1,
            1000,
        );
        costs(
            "/v1/backlinks/export/status",
            "task_id=1_878619",
            None,
            "backlinks/export/status",
            1,
            0,
        );
        // per request: 100 whatever the rows.
        costs(
            "/v1/domain/overview",
            "target=a.com&source=us",
            None,
            "domain/overview",
            1,
            100,
        );
        costs(
            "/v1/domain/keywords",
            "target=a.com&source=us&limit=1000",
            None,
            "domain/keywords",
            1,
            100,
        );
        // keywords/export: one request for 3 keywords = 100 units.
        costs(
            "/v1/keywords/export",
            "source=us&keywords[]=a&keywords[]=b&keywords[]=c",
            None,
            "keywords/export",
            3,
            100,
        );
        costs(
            "/v1/keywords/export",
            "source=us",
            Some(r#"{"keywords":["a","b"]}"#),
            "keywords/export",
            2,
            100,
        );
        costs(
            "/v1/account/subscription",
            "",
            None,
            "account/subscription",
            1,
            0,
        );
    }

    #[test]
    fn rows_and_row_price() {
        let priced = price(
            &pricing(),
            "/v1/backlinks/all",
            &pairs("target=a&limit=7"),
            None,
        )
        .expect("priced");
        assert_eq!(priced.rows, Some(7));
        assert_eq!(priced.units_per_row, Some(1));
        let priced =
            price(&pricing(), "/v1/domain/keywords", &pairs("target=a"), None).expect("priced");
        // per request: settled at the request price, never by rows.
        assert_eq!(priced.units_per_row, None);
    }

    #[test]
    fn unknown_and_foreign_paths() {
        let e = price(&pricing(), "/v1/backlinks/sumary", &[], None).unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown endpoint backlinks/sumary (did you mean backlinks/summary?)"),
            "{e}"
        );
        let e = price(&pricing(), "/v2/backlinks/summary", &[], None).unwrap_err();
        assert!(e.to_string().contains("paths start with /v1/"), "{e}");
        let e = price(&pricing(), "/v1/", &[], None).unwrap_err();
        assert!(matches!(e, PriceError::NotApi { .. }), "{e}");
    }

    #[test]
    fn overflow_is_an_error() {
        // 2^63 rows × 1 unit fits, but × 2 targets does not.
        let q = pairs("target=a&target=b&limit=18446744073709551615");
        let e = price(&pricing(), "/v1/backlinks/all", &q, None).unwrap_err();
        assert!(matches!(e, PriceError::Overflow { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("the price of this backlinks/all call overflows the largest count"),
            "{e}"
        );
    }

    #[track_caller]
    fn counted(body: &str, expected: Option<u64>) {
        assert_eq!(records_in_reply(body.as_bytes()), expected, "{body}");
    }

    #[test]
    fn records_counted_from_replies() {
        counted(r#"[{"a":1},{"a":2}]"#, Some(2));
        counted(r#"{"backlinks":[1,2,3],"next":"x"}"#, Some(3));
        counted(r#"{"backlinks":[]}"#, Some(0));
        counted(r#"{"a":[1],"b":[2]}"#, None);
        counted(r#"{"total":5}"#, None);
        counted("not json", None);
    }
}
