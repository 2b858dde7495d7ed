//! Prices one API call before it is forwarded: which catalogue entry it is, what it asks for, and
//! the units that one call can bill.
//!
//! The arithmetic is [`estimate::price`] of the call's [`Shape`], the same function `budget plan`
//! sums over a step's requests (docs/workflows.md "The arithmetic"); this module only reads the request into
//! a shape, and **refuses what it cannot read exactly** (fail closed): a price read wrong is a
//! budget that does not hold. Refused, with what to change:
//! - a body that is not readable JSON (a UTF-8 byte order mark, UTF-16/32 text, bad syntax, JSON
//!   nested deeper than the parser reads, an object naming a key twice, a body that is not an
//!   object), a form-encoded body, an unreadable multipart body;
//! - targets both in the query and in the body;
//! - a parameter that changes the price (`limit`, `date_from`, `date_to`, `granularity`) given
//!   twice with different values;
//! - a count that is not plain ASCII digits (`5000.0`, `5e3`, `5_000`, `５０００`, `-1`), or 0;
//! - a date that is not `YYYY-MM-DD`, a range that ends before it starts, an unknown granularity;
//! - **a parameter the API may read as one the price is read from, under a spelling the guard
//!   does not read** (`LIMIT`, `+limit`, `limit%00`, `%256Cimit`, `target[1]`, `Target`,
//!   `+settings[max_pages]`; a JSON key `Limit`; a multipart field `target ` …): names are read
//!   the way a lenient server may read them ([`transport::read_name`], the reading that strips the
//!   key parameter), and the set of names that change the price is the set the pricer asked for
//!   while reading this call, so it cannot drift from what is priced (see [`Input`]);
//! - a raw `;` in the query string (servers that split on it would read `x=1;limit=9000`), and
//!   a price parameter behind an encoded `&` or `;` in another parameter's value
//!   (`x=1%26limit%3D9000`: a server that decodes the query before splitting it reads `limit`);
//! - a multipart part whose Content-Disposition names its field twice (`name="x"; name="target"`),
//!   with `name*`, or in two such headers.
//!
//! Which entry: the one named by the call's method and path (`GET serp/classic/tasks`), else the
//! path's own when its `methods` list the call's method. A path the catalogue knows, called with a
//! method none of its entries lists, is refused naming the methods it takes; a path it does not
//! know is refused as unknown; an entry whose price nobody publishes (`units: unknown`) is refused
//! as such.
//!
//! Read exactly:
//! - targets: every value of the entry's `targets_from` parameters (`target`, `target[]` by default;
//!   `keywords[]` for keywords/export, `query` for SERP tasks), from the query, a JSON body (an
//!   array counts its items, a string 1) or a multipart form; a call naming none counts as one;
//! - rows (row endpoints): the entry's `rows_from` parameter (`limit`, or a JSON path such as
//!   `settings.max_pages`, also read as `settings[max_pages]` from a query or a form), else its
//!   `limit.default` (1,000 pages for a site audit, the documented default). A `limit` above
//!   `limit.max` is priced as asked: the worst case is what the client asked for;
//! - periods (period and day endpoints): `date_from..date_to` at `granularity`; without dates, the
//!   entry's `default_days` at their worst alignment; with `date_from` only, up to `today`.
//!
//! Pure: no I/O, no clock (the caller passes `today`).

use std::cell::RefCell;

use chrono::NaiveDate;
use serde_json::Value;

use crate::account::transport;
use crate::estimate::{self, Shape};
use crate::pricing::range::{most_periods, parse_date, periods};
use crate::pricing::{
    Endpoint, Evidence, Granularity, Per, Pricing, RecordKind, GRANULARITIES, OVERLAY_FLAG,
};

/// A call as the guard received it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a str,
    /// The request path, e.g. `/v1/backlinks/summary`.
    pub path: &'a str,
    /// The query string as sent (without `?`), which is what the guard forwards: the guard reads
    /// it into pairs itself, keeping each name as written for the spelling check.
    pub query: &'a str,
    /// The `Content-Type` header, when sent.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// The date the API will read "today" as (for a range given only its start).
    pub today: NaiveDate,
}

/// What one call costs at worst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// The catalogue name, e.g. `backlinks/summary`.
    pub endpoint: String,
    /// Targets named (at least 1).
    pub targets: u64,
    pub shape: Shape,
    /// The units this call can bill.
    pub units: u64,
    /// Units per record when a 2xx reply's records are what is billed (row endpoints asked with
    /// `limit`, period and day endpoints, billed per record): the guard charges the records it
    /// counts in the reply.
    pub units_per_row: Option<u64>,
    /// Where the entry's price comes from (`assumed` for a free management call nobody states
    /// is free), for the journal line.
    pub evidence: Evidence,
    /// Period endpoints: the granularity the call's periods are counted at.
    pub granularity: Option<Granularity>,
}

/// Why a call cannot be priced exactly: the client must change it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the body starts with a UTF-8 byte order mark, which a JSON reader may not skip; send the JSON without it")]
    ByteOrderMark,
    #[error("the body is UTF-16 or UTF-32 text (or holds NUL bytes); send it as UTF-8 JSON")]
    WideText,
    #[error("the body is not readable JSON ({detail}); send a JSON object")]
    NotJson { detail: String },
    #[error(
        "the JSON body is nested deeper than the guard reads (128 levels); send a flatter object"
    )]
    TooDeep,
    #[error("the JSON body names `{key}` twice; the API may read either, so send it once")]
    DuplicateKey { key: String },
    #[error("the JSON body is not an object; send the parameters as a JSON object")]
    NotObject,
    #[error("the body is form-encoded (application/x-www-form-urlencoded), which the guard does not read; send the parameters in the query or as a JSON object")]
    FormEncoded,
    #[error("the multipart body cannot be read ({detail}); send well-formed multipart/form-data")]
    Multipart { detail: String },
    #[error("targets are given both in the query and in the body; send them in one place")]
    TargetsTwice,
    #[error("`{param}` is given twice with different values ({first} and {second}); the API may read either, so send it once")]
    Conflicting {
        param: String,
        first: String,
        second: String,
    },
    #[error("`{param}` is {value}, not a whole number written with the digits 0-9; send e.g. {param}=5000")]
    NotDigits { param: String, value: String },
    #[error("`{param}` is 0; ask for 1 or more")]
    Zero { param: String },
    #[error("`{param}` in the body is {found}; send the targets as a list of strings")]
    BadTargets { param: String, found: String },
    #[error("`{param}` is {value}, not a date like 2026-10-01; send YYYY-MM-DD")]
    BadDate { param: String, value: String },
    #[error(
        "the date range ends ({to}) before it starts ({from}); send date_from on or before date_to"
    )]
    Backwards { from: String, to: String },
    #[error("`granularity` is {value}; send {GRANULARITIES}")]
    BadGranularity { value: String },
    #[error("the {place} {sent} may be read by the API as `{param}`, which changes this call's price, but the guard reads only its exact spelling; write it as {write} (lower case, nothing before or after the name, no other brackets or encoding)")]
    Spelling {
        /// `query parameter`, `form field` or `JSON key`.
        place: &'static str,
        /// The name as sent, quoted and cut short.
        sent: String,
        /// The parameter it may be read as.
        param: String,
        /// The spellings the guard reads, e.g. `` `target=` or `target[]=` ``.
        write: String,
    },
    #[error("the query string holds a `;`, which some servers read as `&` (a separator between parameters); send `&` between parameters and %3B for a `;` in a value")]
    Semicolon,
    #[error("the query parameter {sent} holds an encoded `&` or `;` followed by {hidden}, which a server that decodes the query string before splitting it reads as `{param}`, a parameter that changes this call's price; the guard cannot price that, so it did not send the call: send `{param}` as a parameter of its own and leave it out of other names and values (a target URL whose own query names `{param}` cannot pass the guard: leave that part of its query out)")]
    Hidden {
        /// The parameter's name as sent.
        sent: String,
        /// The hidden name as it reads once decoded, quoted.
        hidden: String,
        /// The price parameter it may be read as.
        param: String,
    },
    #[error("a multipart part names its field {found}; the API may read either name, so send one name=\"...\" per part")]
    PartNames {
        /// What the part's headers hold, e.g. `twice (name="x"; name="target")`.
        found: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("{path} is not an SE Ranking Data API path; paths start with /v1/")]
    NotApi { path: String },
    #[error("{endpoint} is not in the guard's pricing catalogue{}, so the guard cannot price it and did not send it to the API; retrying will not help: the guard's operator can add it in a pricing overlay ({OVERLAY_FLAG}) and restart the guard", suggestion.as_ref().map(|s| format!(" (a typo of {s}?)")).unwrap_or_default())]
    UnknownEndpoint {
        endpoint: String,
        suggestion: Option<String>,
    },
    #[error("the price of {endpoint} is unknown (no source publishes it), so the guard did not send the call to the API; retrying will not help: the guard's operator can set the price in a pricing overlay ({OVERLAY_FLAG}) and restart the guard")]
    PriceUnknown { endpoint: String },
    #[error("{endpoint} takes {}; the guard does not forward {method} calls to it", allowed.join(", "))]
    MethodNotAllowed {
        endpoint: String,
        /// The call's method, cut short for the message.
        method: String,
        /// The methods the catalogue's entries of this path take.
        allowed: Vec<&'static str>,
    },
    #[error(
        "this {endpoint} call cannot be priced exactly, so it was not sent to the API: {reason}"
    )]
    Unreadable {
        endpoint: String,
        reason: Unreadable,
    },
    #[error("the price of this {endpoint} call overflows the largest count ({quantity})")]
    Overflow {
        endpoint: String,
        quantity: &'static str,
    },
}

/// Prices a call.
pub fn price(pricing: &Pricing, call: &Call) -> Result<Priced, PriceError> {
    let name = call
        .path
        .strip_prefix("/v1/")
        .filter(|rest| !rest.trim_matches('/').is_empty())
        .ok_or_else(|| PriceError::NotApi {
            path: call.path.to_string(),
        })?;
    let Some(endpoint) = pricing.endpoint_for(call.method, name) else {
        let allowed = pricing.methods_of(name);
        if !allowed.is_empty() {
            return Err(PriceError::MethodNotAllowed {
                endpoint: crate::pricing::normalize_endpoint(name).to_string(),
                method: call.method.chars().take(20).collect(),
                allowed,
            });
        }
        return Err(PriceError::UnknownEndpoint {
            endpoint: name.trim_end_matches('/').to_string(),
            suggestion: pricing.closest_endpoint(name).map(str::to_string),
        });
    };
    let Some(units) = endpoint.units else {
        return Err(PriceError::PriceUnknown {
            endpoint: endpoint.name.clone(),
        });
    };
    let unreadable = |reason| PriceError::Unreadable {
        endpoint: endpoint.name.clone(),
        reason,
    };
    if call.query.contains(';') {
        return Err(unreadable(Unreadable::Semicolon));
    }
    let body = Body::read(call.content_type, call.body).map_err(unreadable)?;
    let input = Input::new(call.query, body);
    let shape = shape(endpoint, call.today, &input).map_err(unreadable)?;
    let units_total = estimate::price(endpoint, &shape).map_err(|e| match e {
        estimate::PriceError::Overflow { quantity } => PriceError::Overflow {
            endpoint: endpoint.name.clone(),
            quantity,
        },
        estimate::PriceError::Unknown { endpoint } => PriceError::PriceUnknown { endpoint },
    })?;
    // Billed by the records a reply holds: rows asked with `limit`, periods, days. Rows asked
    // any other way (a site audit's `settings.max_pages`: pages crawled later, not returned) are
    // charged the price.
    let counted = endpoint.per == Per::Record
        && match endpoint.record {
            RecordKind::Target => false,
            RecordKind::Row => endpoint.rows_from == "limit",
            RecordKind::Period | RecordKind::Day => true,
        };
    let granularity = match endpoint.record {
        RecordKind::Period => Some(granularity(&input).map_err(unreadable)?),
        RecordKind::Day => Some(Granularity::ByDay),
        _ => None,
    };
    // Last, once every name the price was read from is known.
    input.spellings().map_err(unreadable)?;
    Ok(Priced {
        endpoint: endpoint.name.clone(),
        targets: shape.targets.max(1),
        shape,
        units: units_total,
        units_per_row: counted.then_some(units),
        evidence: endpoint.evidence,
        granularity,
    })
}

/// What still fits `left` units, for the endpoint of a call that did not: the same call with
/// fewer targets, rows or periods, found with the pricing law's own [`estimate::price`] so the
/// figure a client is told is the figure the guard will reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// At most `targets` targets (keywords) in the call, costing `units`.
    Targets { targets: u64, units: u64 },
    /// `param` (the entry's `rows_from`, e.g. `limit`) at most `rows`, costing `units`.
    Rows {
        param: String,
        rows: u64,
        units: u64,
    },
    /// A date range of at most `periods` periods at `granularity`, costing `units`.
    Periods {
        periods: u64,
        granularity: Granularity,
        units: u64,
    },
    /// No call to this endpoint fits: the smallest costs `smallest` units.
    Nothing { smallest: u64 },
}

/// The largest call like `priced` (same endpoint, same targets per row or period) that costs at
/// most `left` units.
pub fn largest_fit(endpoint: &Endpoint, priced: &Priced, left: u64) -> Fit {
    let shape = priced.shape;
    let cost = |s: &Shape| estimate::price(endpoint, s).unwrap_or(u64::MAX);
    // The quantity a smaller call asks less of: targets, rows or periods.
    let asked = match (endpoint.per, endpoint.record) {
        (Per::Request, _) => None,
        (Per::Record, RecordKind::Target) => Some(shape.targets.max(1)),
        (Per::Record, RecordKind::Row) => shape.rows,
        (Per::Record, RecordKind::Period | RecordKind::Day) => shape.periods,
    };
    let with = |k: u64| match endpoint.record {
        RecordKind::Target => Shape {
            targets: k,
            ..shape
        },
        RecordKind::Row => Shape {
            rows: Some(k),
            ..shape
        },
        RecordKind::Period | RecordKind::Day => Shape {
            periods: Some(k),
            ..shape
        },
    };
    let Some(asked) = asked else {
        return Fit::Nothing {
            smallest: priced.units,
        };
    };
    // Never more than the endpoint takes: `max_batch` targets, `limit.max` rows.
    let most = match endpoint.record {
        RecordKind::Target => endpoint.max_batch,
        RecordKind::Row => endpoint.limit.map_or(u64::MAX, |l| l.max),
        RecordKind::Period | RecordKind::Day => u64::MAX,
    };
    let ceiling = asked.min(most.saturating_add(1));
    let smallest = cost(&with(1));
    if smallest > left || ceiling <= 1 {
        return Fit::Nothing { smallest };
    }
    // The price grows with the quantity: the largest k below `ceiling` whose price fits.
    let (mut fits, mut over) = (1u64, ceiling);
    while over - fits > 1 {
        let mid = fits + (over - fits) / 2;
        if cost(&with(mid)) <= left {
            fits = mid;
        } else {
            over = mid;
        }
    }
    let units = cost(&with(fits));
    match endpoint.record {
        RecordKind::Target => Fit::Targets {
            targets: fits,
            units,
        },
        RecordKind::Row => Fit::Rows {
            param: endpoint.rows_from.clone(),
            rows: fits,
            units,
        },
        RecordKind::Period | RecordKind::Day => Fit::Periods {
            periods: fits,
            granularity: priced.granularity.unwrap_or(Granularity::ByDay),
            units,
        },
    }
}

/// The parameters a body carries.
enum Body {
    None,
    Json(serde_json::Map<String, Value>),
    Form(Vec<(String, String)>),
}

impl Body {
    fn read(content_type: Option<&str>, body: &[u8]) -> Result<Body, Unreadable> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::None);
        }
        let media = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media == "application/x-www-form-urlencoded" {
            return Err(Unreadable::FormEncoded);
        }
        if media == "multipart/form-data" {
            return multipart(content_type.unwrap_or(""), body).map(Body::Form);
        }
        if body.starts_with(crate::files::UTF8_BOM) {
            return Err(Unreadable::ByteOrderMark);
        }
        if body.starts_with(&[0xFE, 0xFF]) || body.starts_with(&[0xFF, 0xFE]) || body.contains(&0) {
            return Err(Unreadable::WideText);
        }
        match strict_json(body)? {
            Value::Object(map) => Ok(Body::Json(map)),
            _ => Err(Unreadable::NotObject),
        }
    }

    /// The values of parameter `name` in the body.
    fn values(&self, name: &str) -> Vec<BodyValue<'_>> {
        match self {
            Body::None => Vec::new(),
            Body::Form(pairs) => pairs
                .iter()
                .filter(|(k, _)| names(k, name))
                .map(|(_, v)| BodyValue::Text(v))
                .collect(),
            Body::Json(map) => {
                // A dotted name is a path into nested objects (`settings.max_pages`).
                let mut parts = name.split('.');
                let first = parts.next().unwrap_or(name);
                let mut value = map.get(first);
                for part in parts {
                    value = value.and_then(|v| v.get(part));
                }
                match value {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => vec![BodyValue::Json(v)],
                }
            }
        }
    }
}

enum BodyValue<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A call's parameters as the pricer reads them, and the names it asked for.
///
/// Every reader below asks through [`Input::query_values`] and [`Input::body_values`] by name, and
/// each name asked is remembered: those are the parameters that change this call's price (its
/// entry's target parameters, its `rows_from`, `date_from`/`date_to`/`granularity` of a period
/// call). [`Input::spellings`] then refuses any other name the API may read as one of them, so a
/// new price parameter is guarded the day the pricer reads it, with no list to keep in step.
struct Input {
    /// `(name as sent, decoded name, decoded value)`, in order.
    query: Vec<(String, String, String)>,
    body: Body,
    asked: RefCell<Vec<String>>,
}

impl Input {
    fn new(raw_query: &str, body: Body) -> Input {
        let query = raw_query
            .split('&')
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                let raw = segment.split('=').next().unwrap_or("");
                let (name, value) = form_urlencoded::parse(segment.as_bytes())
                    .next()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .unwrap_or_default();
                (raw.to_string(), name, value)
            })
            .collect();
        Input {
            query,
            body,
            asked: RefCell::new(Vec::new()),
        }
    }

    /// The query's values of parameter `name`, remembering that the price reads it.
    fn query_values(&self, name: &str) -> Vec<&str> {
        self.ask(name);
        self.query
            .iter()
            .filter(|(_, k, _)| names(k, name))
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The body's values of parameter `name`, remembering that the price reads it.
    fn body_values(&self, name: &str) -> Vec<BodyValue<'_>> {
        self.ask(name);
        self.body.values(name)
    }

    fn ask(&self, name: &str) {
        let mut asked = self.asked.borrow_mut();
        if !asked.iter().any(|n| n == name) {
            asked.push(name.to_string());
        }
    }

    /// Refuses a query parameter, form field or JSON key that a lenient server may read as a
    /// parameter the price was read from ([`may_read_as`]) but that the pricer did not read as
    /// it: the API would bill what the guard did not price.
    ///
    /// PHP's indexed arrays (`target[0]=a&target[1]=b`) are refused too, not counted: an index
    /// may repeat (`target[0]=a&target[0]=b` is one target to PHP, two to a reader that
    /// appends) or nest (`target[0][x]`), and how a server merges them with `target=` differs
    /// from server to server; `target=a&target=b` and `target[]=a&target[]=b` say the same thing
    /// with one reading, and are what SE Ranking's MCP server sends (tests/data/mcp-corpus.json).
    fn spellings(&self) -> Result<(), Unreadable> {
        let asked = self.asked.borrow();
        let check = |place: &'static str, raw: &str, name: &str| -> Result<(), Unreadable> {
            if asked
                .iter()
                .any(|a| names(name, a) || another_field(name, a))
            {
                return Ok(());
            }
            match asked.iter().find(|a| may_read_as(raw, a)) {
                Some(a) => Err(misspelt(place, raw, a, &asked, false)),
                None => Ok(()),
            }
        };
        for (raw, name, _) in &self.query {
            check("query parameter", raw, name)?;
        }
        for (raw, _, value) in &self.query {
            // The name as sent can hide one too (`x%26limit=9000`), so the whole part is read.
            let part = format!("{}={value}", transport::form_decode(raw));
            for hidden in transport::hidden_names(&part) {
                if let Some(a) = asked.iter().find(|a| may_read_as(&hidden, a)) {
                    return Err(Unreadable::Hidden {
                        sent: shown(raw),
                        hidden: shown(&hidden),
                        param: a.strip_suffix("[]").unwrap_or(a).to_string(),
                    });
                }
            }
        }
        match &self.body {
            Body::None => Ok(()),
            Body::Form(fields) => fields
                .iter()
                .try_for_each(|(name, _)| check("form field", name, name)),
            Body::Json(map) => {
                let paths: Vec<Vec<&str>> = asked.iter().map(|a| a.split('.').collect()).collect();
                json_spellings(map, &paths, "", &asked)
            }
        }
    }
}

/// [`Input::spellings`] of a JSON object's keys, one level of the asked names' paths at a time
/// (`settings.max_pages`: `settings` here, `max_pages` in its object).
fn json_spellings(
    object: &serde_json::Map<String, Value>,
    paths: &[Vec<&str>],
    prefix: &str,
    asked: &[String],
) -> Result<(), Unreadable> {
    for key in object.keys() {
        if paths.iter().any(|p| p.first() == Some(&key.as_str())) {
            continue;
        }
        if let Some(path) = paths
            .iter()
            .find(|p| p.first().is_some_and(|first| may_read_as(key, first)))
        {
            let name = format!("{prefix}{}", path.join("."));
            return Err(misspelt("JSON key", key, &name, asked, true));
        }
    }
    for key in object.keys() {
        let deeper: Vec<Vec<&str>> = paths
            .iter()
            .filter(|p| p.len() > 1 && p[0] == key)
            .map(|p| p[1..].to_vec())
            .collect();
        if let (false, Some(Value::Object(inner))) = (deeper.is_empty(), object.get(key)) {
            json_spellings(inner, &deeper, &format!("{prefix}{key}."), asked)?;
        }
    }
    Ok(())
}

/// The refusal of `raw`, which may be read as the asked name `name`: says how the guard reads it.
fn misspelt(
    place: &'static str,
    raw: &str,
    name: &str,
    asked: &[String],
    json: bool,
) -> Unreadable {
    let base = |n: &str| n.strip_suffix("[]").unwrap_or(n).to_string();
    let param = base(name);
    let mut write: Vec<String> = Vec::new();
    for a in asked.iter().filter(|a| base(a) == param) {
        let spelling = if json {
            format!("`{}`", base(a))
        } else {
            // A dotted name is written with brackets in a query or form.
            let mut parts = a.split('.');
            let mut text = parts.next().unwrap_or("").to_string();
            for part in parts {
                text.push_str(&format!("[{part}]"));
            }
            format!("`{text}=`")
        };
        if !write.contains(&spelling) {
            write.push(spelling);
        }
    }
    Unreadable::Spelling {
        place,
        sent: shown(raw),
        param,
        write: write.join(" or "),
    }
}

/// Whether a lenient server may read a parameter written `raw` as the pricer's `name` (`limit`,
/// `target[]`, `settings.max_pages`): its [`transport::read_name`] is the name's base (brackets
/// and what follows a dot dropped), also read with PHP's turning of spaces and dots into `_`
/// (`date.from` is `date_from`) and as a reader nesting on dots does (`settings.max_pages`).
fn may_read_as(raw: &str, name: &str) -> bool {
    let name = name.strip_suffix("[]").unwrap_or(name);
    let base = name.split('.').next().unwrap_or(name);
    let read = transport::read_name(raw);
    read == base
        || read.replace([' ', '.'], "_") == base
        || read
            .split_once('.')
            .is_some_and(|(first, _)| first.trim_end() == base)
}

/// Whether `key` (as the pricer reads it) plainly names another field of the object a nested
/// `name` is in: `settings[max_depth]` for `settings.max_pages`, so a site audit's other settings
/// pass in a query or form. Only that plain form: `settings[0][max_pages]`, `settings[MAX_PAGES]`
/// or `settings[ max_pages]` may be read as the field and are refused.
fn another_field(key: &str, name: &str) -> bool {
    let Some((base, field)) = name.split_once('.') else {
        return false;
    };
    key.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('['))
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|other| {
            !other.is_empty()
                && other != field
                && other
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !other.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Reads the call into the shape the pricing law prices.
fn shape(endpoint: &Endpoint, today: NaiveDate, input: &Input) -> Result<Shape, Unreadable> {
    let targets = targets(endpoint, input)?;
    let mut shape = Shape {
        targets,
        rows: None,
        periods: None,
    };
    match endpoint.record {
        RecordKind::Target => {}
        RecordKind::Row => {
            let asked = count(&endpoint.rows_from, input)?;
            shape.rows = Some(asked.or(endpoint.limit.map(|l| l.default)).unwrap_or(1));
        }
        RecordKind::Period | RecordKind::Day => {
            shape.periods = Some(range(endpoint, today, input)?);
        }
    }
    Ok(shape)
}

fn targets(endpoint: &Endpoint, input: &Input) -> Result<u64, Unreadable> {
    let mut in_query = 0u64;
    let mut in_body = 0u64;
    for name in &endpoint.targets_from {
        in_query += input.query_values(name).len() as u64;
        for value in input.body_values(name) {
            in_body += match value {
                BodyValue::Text(_) => 1,
                BodyValue::Json(Value::Array(items)) => items.len() as u64,
                BodyValue::Json(Value::String(_) | Value::Number(_)) => 1,
                BodyValue::Json(other) => {
                    return Err(Unreadable::BadTargets {
                        param: name.clone(),
                        found: match other {
                            Value::Object(_) => "an object".into(),
                            Value::Bool(b) => b.to_string(),
                            _ => "not a list".into(),
                        },
                    })
                }
            };
        }
    }
    if in_query > 0 && in_body > 0 {
        return Err(Unreadable::TargetsTwice);
    }
    Ok(in_query + in_body)
}

/// Whether a query or form key names parameter `name`: the name itself, or for a dotted name
/// (`settings.max_pages`) its bracket form too (`settings[max_pages]`), which a server reading
/// forms the PHP way takes for the same nested field.
fn names(key: &str, name: &str) -> bool {
    if key == name {
        return true;
    }
    let mut parts = name.split('.');
    let (Some(first), rest) = (parts.next(), parts) else {
        return false;
    };
    let mut bracketed = first.to_string();
    let mut nested = false;
    for part in rest {
        bracketed.push('[');
        bracketed.push_str(part);
        bracketed.push(']');
        nested = true;
    }
    nested && key == bracketed
}

/// The one value of a single-valued parameter, from the query and the body: `None` when absent;
/// refused when given with different values.
fn single(name: &str, input: &Input) -> Result<Option<String>, Unreadable> {
    let mut values: Vec<String> = input
        .query_values(name)
        .into_iter()
        .map(str::to_string)
        .collect();
    for value in input.body_values(name) {
        values.push(match value {
            BodyValue::Text(t) => t.to_string(),
            BodyValue::Json(Value::String(s)) => s.clone(),
            BodyValue::Json(other) => other.to_string(),
        });
    }
    let mut distinct = values.iter();
    let Some(first) = distinct.next() else {
        return Ok(None);
    };
    if let Some(second) = distinct.find(|v| *v != first) {
        return Err(Unreadable::Conflicting {
            param: name.to_string(),
            first: first.clone(),
            second: second.clone(),
        });
    }
    Ok(Some(first.clone()))
}

/// A count parameter: plain ASCII digits (or a JSON whole number), 1 or more.
fn count(name: &str, input: &Input) -> Result<Option<u64>, Unreadable> {
    let Some(text) = single(name, input)? else {
        return Ok(None);
    };
    let not_digits = || Unreadable::NotDigits {
        param: name.to_string(),
        value: shown(&text),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_digits());
    }
    let n: u64 = text.parse().map_err(|_| not_digits())?;
    if n == 0 {
        return Err(Unreadable::Zero {
            param: name.to_string(),
        });
    }
    Ok(Some(n))
}

/// The periods a period or day call asks for.
fn range(endpoint: &Endpoint, today: NaiveDate, input: &Input) -> Result<u64, Unreadable> {
    let date = |name: &str| -> Result<Option<NaiveDate>, Unreadable> {
        match single(name, input)? {
            None => Ok(None),
            Some(text) => parse_date(&text).map(Some).ok_or(Unreadable::BadDate {
                param: name.to_string(),
                value: shown(&text),
            }),
        }
    };
    let from = date("date_from")?;
    let to = date("date_to")?;
    let granularity = match endpoint.record {
        RecordKind::Day => Granularity::ByDay,
        _ => granularity(input)?,
    };
    let days = endpoint.default_days.unwrap_or(1);
    let (from, to) = match (from, to) {
        (None, None) => return Ok(most_periods(days, granularity)),
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, today.max(from)),
        (None, Some(to)) => (
            to.checked_sub_signed(chrono::Duration::days(
                i64::try_from(days.saturating_sub(1)).unwrap_or(i64::MAX),
            ))
            .unwrap_or(to),
            to,
        ),
    };
    if from > to {
        return Err(Unreadable::Backwards {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    Ok(periods(from, to, granularity))
}

/// The `granularity` a period call asks for (by day when it names none).
fn granularity(input: &Input) -> Result<Granularity, Unreadable> {
    match single("granularity", input)? {
        None => Ok(Granularity::ByDay),
        Some(text) => Granularity::parse(&text).ok_or(Unreadable::BadGranularity {
            value: shown(&text),
        }),
    }
}

/// A client's value, quoted and cut short for a message.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{:?}", format!("{cut}{more}"))
}

/// Parses JSON refusing duplicate keys (the API may read the first where a reader keeps the last).
fn strict_json(body: &[u8]) -> Result<Value, Unreadable> {
    match serde_json::from_slice::<Strict>(body) {
        Ok(Strict(value)) => Ok(value),
        Err(e) => {
            let text = e.to_string();
            if text.contains("recursion limit exceeded") {
                Err(Unreadable::TooDeep)
            } else if let Some(key) = text
                .strip_prefix("duplicate key `")
                .and_then(|rest| rest.split('`').next())
            {
                Err(Unreadable::DuplicateKey {
                    key: key.to_string(),
                })
            } else {
                Err(Unreadable::NotJson {
                    detail: match text.find(" at line ") {
                        Some(i) => text[..i].to_string(),
                        None => text,
                    },
                })
            }
        }
    }
}

/// A JSON value whose objects name each key once.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The `(name, value)` fields of a `multipart/form-data` body (file parts count by name, their
/// content unread).
fn multipart(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, Unreadable> {
    let fail = |detail: &str| Unreadable::Multipart {
        detail: detail.to_string(),
    };
    let boundary = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| fail("no boundary in the Content-Type header"))?;
    let delimiter = format!("--{boundary}").into_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let mut at = match find(body, &delimiter, 0) {
        Some(0) => 0,
        Some(i) if body[..i].ends_with(b"\r\n") => i,
        _ => return Err(fail("the body does not start with the boundary")),
    };
    let mut fields = Vec::new();
    loop {
        at += delimiter.len();
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(fail("a boundary is not followed by a line break"));
        }
        at += 2;
        let headers_end =
            find(body, b"\r\n\r\n", at).ok_or_else(|| fail("a part's headers never end"))?;
        let headers = String::from_utf8_lossy(&body[at..headers_end]);
        let mut dispositions = headers.split("\r\n").filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(value)
        });
        let disposition = dispositions
            .next()
            .ok_or_else(|| fail("a part has no Content-Disposition name"))?;
        if dispositions.next().is_some() {
            return Err(Unreadable::PartNames {
                found: "in two Content-Disposition headers".into(),
            });
        }
        let name = disposition_name(disposition)?
            .ok_or_else(|| fail("a part has no Content-Disposition name"))?;
        let content = headers_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delimiter);
        let end = find(body, &closing, content).ok_or_else(|| fail("a part never ends"))?;
        fields.push((
            name,
            String::from_utf8_lossy(&body[content..end]).into_owned(),
        ));
        at = end + 2;
    }
}

/// `name` of a `form-data; name="x"; filename="y"` header value; refused when it is named
/// more than once (`name="x"; name="target"`: servers differ on which they read) or with the
/// extended `name*=` (which some read instead of `name`). Parameter names in any case.
fn disposition_name(value: &str) -> Result<Option<String>, Unreadable> {
    let mut found = Vec::new();
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        if k.starts_with("name*") {
            return Err(Unreadable::PartNames {
                found: format!("with name* ({})", shown(value.trim())),
            });
        }
        if k == "name" {
            let v = v.trim();
            found.push(
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
                    .replace("\\\"", "\""),
            );
        }
    }
    if found.len() > 1 {
        return Err(Unreadable::PartNames {
            found: format!("twice ({})", shown(value.trim())),
        });
    }
    Ok(found.pop())
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
mod tests;
