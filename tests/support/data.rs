//! Data endpoints for the simulator, with unit accounting: every catalogue endpoint of
//! `pricing/seranking.yaml` answers the methods its entry lists (`methods`, GET and POST by
//! default; 405 for others) with a realistic body holding the right number of records — JSON, or
//! XML when the call asks `output=xml` — and bills the balance exactly as the vendor says:
//! per-request endpoints their units, per-record endpoints units × records returned. A call the
//! balance cannot pay gets the vendor's "Insufficient funds" (status
//! [`DataState::insufficient_status`], nothing billed).
//!
//! The billing here reads the pricing file on its own (methods, units, per, record, limit,
//! targets_from, rows_from, default_days; `GET path` entries for one method) and does not use the
//! `budget` crate, so a test cannot agree with the code under test by construction. It bills as the API
//! would on the catalogue's reading: per-request endpoints their units; per-record endpoints their
//! units × the records the reply holds (targets; rows: the `limit` asked or `rows_from`, capped by
//! [`DataState::rows_per_target`]; day and period endpoints: a row per day/period of the range,
//! which without dates ends today). Keywords arrive in the query, a JSON body or a multipart form;
//! a nested JSON field (`settings.max_pages`) is read in a query or form in its bracket form
//! (`settings[max_pages]`) too, as a PHP server would. With [`DataState::lenient_names`] it reads
//! names as a lenient server may (see [`lenient_pairs`]).
//! An endpoint of unknown price bills 1 unit per request (the guard never forwards one).
//! Auth, faults and the strict rolling window come from the simulator's middleware.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::simulator::{lock, Shared, Simulator, INSUFFICIENT_FUNDS};

/// What the simulator needs of one endpoint to bill it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billing {
    /// The HTTP methods the entry answers.
    pub methods: Vec<String>,
    pub units: u64,
    pub per_request: bool,
    /// `target`, `row`, `period` or `day`.
    pub record: String,
    pub default_limit: u64,
    pub targets_from: Vec<String>,
    pub rows_from: String,
    pub default_days: u64,
}

/// One billed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billed {
    pub endpoint: String,
    pub records: u64,
    pub units: u64,
    /// What the call would have billed had every target held all the rows it asked for
    /// (`rows_per_target` and `rows_override` aside): its worst case, the simulator's own
    /// reading of the price.
    pub worst: u64,
}

/// The data side of the simulated account.
#[derive(Debug)]
pub struct DataState {
    pub catalogue: BTreeMap<String, Billing>,
    /// Rows each target has (row endpoints return `min(limit, this)`); `None`: as many as asked.
    pub rows_per_target: Option<u64>,
    /// Status of the insufficient-funds reply (the vendor has been seen sending 400, 402, 403).
    pub insufficient_status: u16,
    /// Units billed so far.
    pub charged: u64,
    /// Every billed call, in order.
    pub billed: Vec<Billed>,
    /// Data calls refused for insufficient funds.
    pub refused_funds: u64,
    /// Rows a row endpoint returns per target whatever the call asked for (an API whose default
    /// changed, or that reads a parameter the guard does not); billed as returned.
    pub rows_override: Option<u64>,
    /// Read query parameter names as a lenient server may ([`lenient_pairs`]): `LIMIT`, `+limit`,
    /// `limit%00`, `%256Cimit` are `limit`; `target[1]` is `target`; `;` separates parameters.
    pub lenient_names: bool,
}

impl Default for DataState {
    fn default() -> Self {
        DataState {
            catalogue: catalogue(),
            rows_per_target: None,
            insufficient_status: 400,
            charged: 0,
            billed: Vec::new(),
            refused_funds: 0,
            rows_override: None,
            lenient_names: false,
        }
    }
}

/// The pricing file's endpoints, read independently of the crate.
fn catalogue() -> BTreeMap<String, Billing> {
    let path = super::root().join("pricing/seranking.yaml");
    let text = std::fs::read_to_string(&path).expect("read pricing/seranking.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("pricing YAML");
    let endpoints = doc["endpoints"].as_mapping().expect("endpoints mapping");
    endpoints
        .iter()
        .map(|(name, e)| {
            let name = name.as_str().expect("endpoint name").to_string();
            let names = |field: &str, default: &[&str]| -> Vec<String> {
                match e[field].as_sequence() {
                    Some(list) => list
                        .iter()
                        .map(|n| n.as_str().expect("parameter name").to_string())
                        .collect(),
                    None => default.iter().map(|n| n.to_string()).collect(),
                }
            };
            let methods = match name.split_once(' ') {
                Some((method, _)) => vec![method.to_string()],
                None => names("methods", &["GET", "POST"])
                    .into_iter()
                    .map(|m| m.to_ascii_uppercase())
                    .collect(),
            };
            let billing = Billing {
                methods,
                // unknown: the vendor's figure is not known; 1 per request stands in for it.
                units: e["units"].as_u64().unwrap_or(1),
                per_request: e["per"].as_str() == Some("request") || e["units"].as_u64().is_none(),
                record: e["record"].as_str().expect("record").to_string(),
                default_limit: e["limit"]["default"].as_u64().unwrap_or(1),
                targets_from: names("targets_from", &["target", "target[]"]),
                rows_from: e["rows_from"].as_str().unwrap_or("limit").to_string(),
                default_days: e["default_days"].as_u64().unwrap_or(1),
            };
            (name, billing)
        })
        .collect()
}

impl Simulator {
    /// The simulator with every data endpoint, a strict 10-per-second window and a balance.
    pub fn start_data(units_left: u64) -> Simulator {
        let sim = Simulator::start_with(|router| router.merge(data_routes()));
        sim.set(|s| {
            s.rate_limit = Some(10);
            s.units_left = units_left;
        });
        sim
    }

    /// Units billed so far.
    pub fn charged(&self) -> u64 {
        self.read(|s| s.data.charged)
    }

    /// Requests answered 429 by the rolling window.
    pub fn rate_limited(&self) -> u64 {
        self.read(|s| s.rate_limited)
    }
}

pub fn data_routes() -> Router<Shared> {
    Router::new().route("/v1/{*endpoint}", any(data))
}

async fn data(
    AxumState(state): AxumState<Shared>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    Path(endpoint): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let lenient = lock(&state).data.lenient_names;
    let query = if lenient {
        lenient_pairs(query.as_deref().unwrap_or(""))
    } else {
        pairs(query.as_deref().unwrap_or(""))
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split("boundary=").nth(1))
        .map(|boundary| form_fields(&body, boundary.trim_matches('"')))
        .unwrap_or_default();
    let mut s = lock(&state);
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let entry = format!("{method} {endpoint}");
    let known = s.data.catalogue.contains_key(&endpoint)
        || s.data
            .catalogue
            .keys()
            .any(|k| k.split_once(' ').is_some_and(|(_, path)| path == endpoint));
    let Some(billing) = s
        .data
        .catalogue
        .get(&entry)
        .or_else(|| {
            s.data
                .catalogue
                .get(&endpoint)
                .filter(|b| b.methods.iter().any(|m| *m == method.as_str()))
        })
        .cloned()
    else {
        let (status, text) = if known {
            (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        } else {
            (StatusCode::NOT_FOUND, "Not found")
        };
        return (status, Json(json!({ "error_description": text }))).into_response();
    };
    // A parameter's values: the query's, else the form's, else the JSON body's (a dotted name is
    // a path into nested objects).
    let values = |name: &str| -> Vec<String> {
        let bracketed = match name.split_once('.') {
            Some((first, rest)) => format!("{first}[{}]", rest.replace('.', "][")),
            None => name.to_string(),
        };
        let from_query: Vec<String> = query
            .iter()
            .chain(form.iter())
            .filter(|(k, _)| k == name || *k == bracketed)
            .map(|(_, v)| v.clone())
            .collect();
        if !from_query.is_empty() {
            return from_query;
        }
        let mut value = json.as_ref();
        for part in name.split('.') {
            value = value.and_then(|v| v.get(part));
        }
        match value {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Number(n)) => vec![n.to_string()],
            _ => Vec::new(),
        }
    };
    let targets: Vec<String> = billing
        .targets_from
        .iter()
        .flat_map(|name| values(name))
        .collect();
    let limit = values(&billing.rows_from)
        .first()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(billing.default_limit);
    let rows_each = match (s.data.rows_override, s.data.rows_per_target) {
        (Some(rows), _) => rows,
        (None, Some(available)) => limit.min(available),
        (None, None) => limit,
    };
    let target_count = targets.len().max(1) as u64;
    let days_each = range_rows(
        values("date_from").first().map(String::as_str),
        values("date_to").first().map(String::as_str),
        if billing.record == "period" {
            values("granularity")
                .first()
                .cloned()
                .unwrap_or_else(|| "by_day".into())
        } else {
            "by_day".into()
        }
        .as_str(),
        billing.default_days,
    );
    let records = match billing.record.as_str() {
        "row" => target_count * rows_each,
        "period" | "day" => target_count * days_each,
        _ => target_count,
    };
    let keywords = targets.clone();
    let units = if billing.per_request {
        billing.units
    } else {
        billing.units * records
    };
    let worst = match billing.record.as_str() {
        _ if billing.per_request => billing.units,
        "row" => billing.units * target_count * limit,
        _ => billing.units * records,
    };
    if s.charge(units).is_err() {
        s.data.refused_funds += 1;
        let status =
            StatusCode::from_u16(s.data.insufficient_status).unwrap_or(StatusCode::BAD_REQUEST);
        return (
            status,
            Json(json!({"error_description": INSUFFICIENT_FUNDS})),
        )
            .into_response();
    }
    s.data.charged += units;
    s.data.billed.push(Billed {
        endpoint: endpoint.clone(),
        records,
        units,
        worst,
    });
    drop(s);
    let xml = query.iter().any(|(k, v)| k == "output" && v == "xml");
    let target = |i: usize| {
        targets
            .get(i)
            .cloned()
            .unwrap_or_else(|| "example.com".into())
    };
    let body = match endpoint.as_str() {
        "backlinks/summary" => json!({"summary": (0..target_count as usize).map(|i| json!({
            "target": target(i), "backlinks": 12840 + i, "refdomains": 431, "subnets": 210, "ips": 388,
            "nofollow_backlinks": 1022, "dofollow_backlinks": 11818, "inlink_rank": 38, "domain_inlink_rank": 52,
            "anchors": 122, "pages_with_backlinks": 640, "top_anchors_by_backlinks": [{"anchor": "example", "backlinks": 420}]
        })).collect::<Vec<_>>()}),
        "backlinks/export" => json!({"task_id": "1_878619", "task_status": "queued_for_processing"}),
        "backlinks/export/status" => json!({"task_id": "1_878619", "task_status": "complete",
            "download_link": "https://download.example/1_878619.csv.gz"}),
        "serp/classic/tasks/html" => {
            // A ZIP archive (its local file header), as the API sends the HTML dump.
            return (
                [("content-type", "application/zip")],
                b"PK\x03\x04\x14\x00\x00\x00\x08\x00serp.html".to_vec(),
            )
                .into_response();
        }
        "serp/classic/tasks" if method == axum::http::Method::POST => json!({"tasks":
            keywords.iter().enumerate().map(|(i, k)| json!({"id": 987_654_321 + i, "query": k})).collect::<Vec<_>>()}),
        "site-audit/audits/standard" | "site-audit/audits/advanced" => json!({"id": 412_345}),
        "site-audit/audits/recheck/standard" | "site-audit/audits/recheck/advanced" => {
            json!({"id": 412_345, "status": "queued"})
        }
        "site-audit/audits" if method != axum::http::Method::GET => json!({"message": "ok"}),
        _ if billing.record == "period" || billing.record == "day" => json!({
            field_name(&endpoint): (0..records).map(|i| json!({"date": format!("day {i}"), "value": i})).collect::<Vec<_>>()
        }),
        "backlinks/all" => json!({"backlinks": backlink_rows(rows_each * target_count)}),
        "backlinks/raw" => json!({
            "backlinks": backlink_rows(rows_each * target_count),
            "next": if rows_each == limit && s_more(&state) { Value::from("c2Vjb25kLXBhZ2U") } else { Value::Null },
        }),
        "domain/overview" | "domain/overview/db" | "domain/overview/all" | "domain/overview/history" => json!([{
            "source": query.iter().find(|(k, _)| k == "source").map(|(_, v)| v.clone()).unwrap_or_else(|| "us".into()),
            "organic": {"keywords_count": 1840, "traffic_sum": 22150, "price_sum": 18400.5},
            "adv": {"keywords_count": 12, "traffic_sum": 300, "price_sum": 410.0}
        }]),
        "domain/keywords" | "domain/keywords/comparison" | "domain/ads" => Value::Array(
            (0..rows_each * target_count)
                .map(|i| json!({"keyword": format!("keyword {i}"), "position": 1 + i % 100, "volume": 1000 - i % 1000,
                                "cpc": 1.25, "competition": 0.4, "url": format!("https://{}/page-{i}", target(0))}))
                .collect(),
        ),
        "keywords/export" => Value::Array(
            keywords
                .iter()
                .map(|k| json!({"keyword": k, "volume": 5400, "cpc": 2.1, "competition": 0.55, "difficulty": 37}))
                .collect(),
        ),
        name if billing.record == "row" && name.starts_with("backlinks/") => {
            json!({ field_name(name): backlink_rows(rows_each * target_count) })
        }
        name if billing.record == "row" => json!({ field_name(name): (0..records)
            .map(|i| json!({"item": i}))
            .collect::<Vec<_>>() }),
        name => json!({ field_name(name): (0..target_count as usize)
            .map(|i| json!({"target": target(i), "value": 100 + i}))
            .collect::<Vec<_>>() }),
    };
    if xml {
        return ([("content-type", "application/xml")], to_xml(&body)).into_response();
    }
    Json(body).into_response()
}

/// A JSON reply as XML: objects as elements named by their keys, lists as repeated `<item>`
/// elements, under `<response>` (the simulator's own reading; the vendor documents no layout).
fn to_xml(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(fields) => {
                for (k, v) in fields {
                    out.push_str(&format!("<{k}>"));
                    write(v, out);
                    out.push_str(&format!("</{k}>"));
                }
            }
            Value::Array(items) => {
                for item in items {
                    out.push_str("<item>");
                    write(item, out);
                    out.push_str("</item>");
                }
            }
            Value::String(text) => out.push_str(
                &text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;"),
            ),
            Value::Null => {}
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>");
    write(value, &mut out);
    out.push_str("</response>");
    out
}

/// Whether raw pages should say there is more (rows not capped by `rows_per_target`).
fn s_more(state: &Shared) -> bool {
    lock(state).data.rows_per_target.is_none()
}

fn field_name(endpoint: &str) -> String {
    endpoint
        .rsplit('/')
        .next()
        .unwrap_or(endpoint)
        .replace('-', "_")
}

fn backlink_rows(n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"url_from": format!("https://blog{}.example.org/post-{i}", i % 97),
                   "url_to": "https://example.com/", "anchor": "example", "nofollow": i % 5 == 0,
                   "inlink_rank": 10 + i % 60, "first_seen": "2025-06-01", "last_visited": "2026-11-20"})
        })
        .collect()
}

/// Rows of a date range: days, or calendar weeks/months touched; without dates, `default_days`
/// ending today (the simulator's own reading of the API).
fn range_rows(from: Option<&str>, to: Option<&str>, granularity: &str, default_days: u64) -> u64 {
    use chrono::{Datelike, NaiveDate};
    let parse = |d: Option<&str>| d.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let today = chrono::Utc::now().date_naive();
    let span = chrono::Duration::days(default_days.saturating_sub(1) as i64);
    let (from, to) = match (parse(from), parse(to)) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, today.max(f)),
        (None, Some(t)) => (t - span, t),
        (None, None) => (today - span, today),
    };
    let days = (to - from).num_days().max(0) as u64 + 1;
    match granularity {
        "by_week" => {
            let week = |d: NaiveDate| (d.num_days_from_ce() as i64 - 1).div_euclid(7);
            (week(to) - week(from)).max(0) as u64 + 1
        }
        "by_month" => {
            let month = |d: NaiveDate| d.year() as i64 * 12 + d.month0() as i64;
            (month(to) - month(from)).max(0) as u64 + 1
        }
        _ => days,
    }
}

/// `(name, value)` fields of a multipart/form-data body (a simple reading: enough for tests).
fn form_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split(&format!("--{boundary}"))
        .filter_map(|part| {
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head.split("name=\"").nth(1)?.split('"').next()?;
            Some((
                name.to_string(),
                value.strip_suffix("\r\n").unwrap_or(value).to_string(),
            ))
        })
        .collect()
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("%5B", "[")
        .replace("%5D", "]")
        .replace("%2C", ",")
        .replace("%3A", ":")
        .replace("%2F", "/")
        .replace('+', " ")
}

/// Query pairs as a lenient server may read them (the red-team's fake API, written apart from
/// the crate): the whole query string percent-decoded once before it is split (so `x=1%26limit%3D9`
/// is `x=1` and `limit=9`); split on `&` and `;`; a name percent-decoded (and `+` a space) up to three times,
/// without leading spaces, control characters or `+`, cut at a NUL, in lower case; a PHP array
/// index (`target[1]`, `target[]`) dropped, a named field (`settings[max_pages]`) kept.
fn lenient_pairs(raw: &str) -> Vec<(String, String)> {
    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                },
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    let whole = decode(raw);
    whole
        .split(['&', ';'])
        .filter(|s| !s.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut name = k.to_string();
            for _ in 0..3 {
                name = decode(&name);
            }
            let name =
                name.trim_start_matches(|c: char| c.is_whitespace() || c.is_control() || c == '+');
            let name = name.split('\0').next().unwrap_or("").to_lowercase();
            let name = match name.split_once('[') {
                Some((base, rest)) => {
                    let field = rest.split(']').next().unwrap_or("").trim();
                    if field.is_empty() || field.bytes().all(|b| b.is_ascii_digit()) {
                        base.trim_end().to_string()
                    } else {
                        format!("{}[{field}]", base.trim_end())
                    }
                }
                None => name.trim_end().to_string(),
            };
            (name, decode(v))
        })
        .collect()
}
