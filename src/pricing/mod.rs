//! The pricing file: unit costs, the endpoint catalogue, regional databases and overage tiers.
//!
//! SE Ranking changes its prices and contracts differ, so costs are data (`pricing/seranking.yaml`,
//! embedded at build time) rather than code. This module parses and validates that file and answers
//! lookups. It is pure: it reads only the file it is given and never touches the network.

mod catalogue;
mod money;

pub use catalogue::{closest_name, normalize_endpoint};
pub use money::{parse_usd, usd_for_units, Billing, OverageRate};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_yaml::{Mapping, Value};

/// The pricing file shipped with the binary.
pub const EMBEDDED: &str = include_str!("../../pricing/seranking.yaml");
const EMBEDDED_ORIGIN: &str = "embedded pricing (pricing/seranking.yaml)";

/// How an endpoint is billed: per returned record or per successful request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Record,
    Request,
}

/// What one record of an endpoint is: one per target, or one per returned row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Target,
    Row,
}

/// Rows per request of a row endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RowLimit {
    pub default: u64,
    pub max: u64,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub name: String,
    pub units: u64,
    pub per: Per,
    pub record: RecordKind,
    pub max_batch: u64,
    pub limit: Option<RowLimit>,
    pub paged: bool,
    pub source: bool,
    pub note: Option<String>,
}

/// One monthly-credits tier and its four overage rates (USD per `per_units` units).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tier {
    pub tier: String,
    pub credits: u64,
    pub plan: Decimal,
    pub plan_yearly: Decimal,
    pub addon: Decimal,
    pub addon_yearly: Decimal,
}

impl Tier {
    /// The rate for a billing period and overage kind.
    pub fn rate(&self, billing: Billing, rate: OverageRate) -> Decimal {
        match (rate, billing) {
            (OverageRate::Plan, Billing::Monthly) => self.plan,
            (OverageRate::Plan, Billing::Yearly) => self.plan_yearly,
            (OverageRate::Addon, Billing::Monthly) => self.addon,
            (OverageRate::Addon, Billing::Yearly) => self.addon_yearly,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Overage {
    pub currency: String,
    pub per_units: u64,
    pub tiers: Vec<Tier>,
}

/// The name of the custom tier, which always needs an explicit rate.
pub const ENTERPRISE: &str = "enterprise";

impl Overage {
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers
            .iter()
            .find(|t| t.tier.eq_ignore_ascii_case(name))
    }

    /// Tier names as a user would type them, for error messages.
    pub fn tier_names(&self) -> String {
        let mut names: Vec<&str> = self.tiers.iter().map(|t| t.tier.as_str()).collect();
        names.push(ENTERPRISE);
        names.join(", ")
    }
}

/// A validated pricing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub name: String,
    pub effective: NaiveDate,
    pub source: String,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub sources: BTreeSet<String>,
    pub overage: Overage,
    pub requests_per_second: u32,
    /// Where the file came from, for messages.
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read pricing file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{origin}: invalid YAML{location}: {message}")]
    Syntax {
        origin: String,
        location: String,
        message: String,
    },
    #[error("{origin}: invalid pricing file:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
}

impl Pricing {
    /// The pricing embedded in the binary.
    pub fn embedded() -> Result<Self, PricingError> {
        Self::parse(EMBEDDED, EMBEDDED_ORIGIN)
    }

    /// Reads a pricing file, or the embedded one when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, PricingError> {
        match path {
            None => Self::embedded(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| PricingError::Read {
                    path: path.display().to_string(),
                    reason: crate::io_reason(&e),
                })?;
                Self::parse(&text, &path.display().to_string())
            }
        }
    }

    /// Parses and validates pricing text, collecting every problem.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PricingError> {
        let root: Value = serde_yaml::from_str(text).map_err(|e| PricingError::Syntax {
            origin: origin.to_string(),
            location: e
                .location()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default(),
            message: crate::yaml_message(&e),
        })?;
        let mut p = Problems::default();
        let Some(root) = root.as_mapping() else {
            return Err(PricingError::Invalid {
                origin: origin.to_string(),
                problems: vec![
                    "the file must be a mapping with `name`, `endpoints`, `overage` ...".into(),
                ],
            });
        };
        p.unknown_keys(
            root,
            "",
            &[
                "name",
                "effective",
                "source",
                "endpoints",
                "sources",
                "overage",
                "rate_limit",
            ],
        );
        let name = p.string(root, "", "name").unwrap_or_default();
        let source = p.string(root, "", "source").unwrap_or_default();
        let effective = p.string(root, "", "effective").and_then(|s| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| {
                    p.push(format!(
                        "field `effective`: {s:?} is not a date (YYYY-MM-DD)"
                    ))
                })
                .ok()
        });
        let requests_per_second = match p.mapping(root, "", "rate_limit") {
            Some(m) => {
                p.unknown_keys(m, "rate_limit.", &["requests_per_second"]);
                p.count(m, "rate_limit.", "requests_per_second")
                    .and_then(|n| match u32::try_from(n) {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            p.push("field `rate_limit.requests_per_second`: must be between 1 and 4294967295".into());
                            None
                        }
                    })
            }
            None => None,
        };
        let mut endpoints = BTreeMap::new();
        if let Some(m) = p.mapping(root, "", "endpoints") {
            for (key, value) in m {
                let Some(key) = key.as_str() else {
                    p.push(format!(
                        "endpoints: key {} is not a string",
                        crate::yaml_inline(key)
                    ));
                    continue;
                };
                let name = normalize_endpoint(key).to_string();
                if let Some(endpoint) = endpoint(&mut p, &name, value) {
                    endpoints.insert(name, endpoint);
                }
            }
            if m.is_empty() {
                p.push("field `endpoints`: lists no endpoint".into());
            }
        }
        let mut sources = BTreeSet::new();
        match root.get("sources") {
            None => p.push("field `sources`: missing (the regional database codes)".into()),
            Some(Value::Sequence(seq)) => {
                for code in seq {
                    match code.as_str() {
                        Some(code) => {
                            sources.insert(code.to_ascii_lowercase());
                        }
                        None => p.push(format!(
                            "field `sources`: {} is not a code",
                            crate::yaml_inline(code)
                        )),
                    }
                }
            }
            Some(_) => p.push("field `sources`: must be a list of codes".into()),
        }
        let overage = p
            .mapping(root, "", "overage")
            .and_then(|m| overage(&mut p, m));
        match (effective, requests_per_second, overage) {
            (Some(effective), Some(requests_per_second), Some(overage)) if p.0.is_empty() => {
                Ok(Pricing {
                    name,
                    effective,
                    source,
                    endpoints,
                    sources,
                    overage,
                    requests_per_second,
                    origin: origin.to_string(),
                })
            }
            _ => Err(PricingError::Invalid {
                origin: origin.to_string(),
                problems: p.0,
            }),
        }
    }

    /// Looks up an endpoint as a user may write it (`/v1/backlinks/summary`, `backlinks/summary`).
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(normalize_endpoint(name))
    }

    /// The catalogue name closest to `name`, for "did you mean" hints.
    pub fn closest_endpoint(&self, name: &str) -> Option<&str> {
        closest_name(
            normalize_endpoint(name),
            self.endpoints.keys().map(String::as_str),
        )
    }

    /// Whether `code` is a known regional database.
    pub fn knows_source(&self, code: &str) -> bool {
        self.sources.contains(&code.to_ascii_lowercase())
    }
}

fn endpoint(p: &mut Problems, name: &str, value: &Value) -> Option<Endpoint> {
    let ctx = format!("endpoint `{name}`: ");
    let Some(m) = value.as_mapping() else {
        p.push(format!(
            "{ctx}must be a mapping of fields (units, per, record, ...)"
        ));
        return None;
    };
    let before = p.0.len();
    p.unknown_keys(
        m,
        &ctx,
        &[
            "units",
            "per",
            "record",
            "max_batch",
            "limit",
            "paged",
            "source",
            "note",
        ],
    );
    let units = p.count(m, &ctx, "units");
    let per = p.string(m, &ctx, "per").and_then(|s| match s.as_str() {
        "record" => Some(Per::Record),
        "request" => Some(Per::Request),
        other => {
            p.push(format!(
                "{ctx}field `per`: unknown value {other:?}; use `record` or `request`"
            ));
            None
        }
    });
    let record = p.string(m, &ctx, "record").and_then(|s| match s.as_str() {
        "target" => Some(RecordKind::Target),
        "row" => Some(RecordKind::Row),
        other => {
            p.push(format!(
                "{ctx}field `record`: unknown value {other:?}; use `target` or `row`"
            ));
            None
        }
    });
    let max_batch = p.count(m, &ctx, "max_batch");
    if max_batch == Some(0) {
        p.push(format!("{ctx}field `max_batch`: must be at least 1"));
    }
    let paged = p.boolean(m, &ctx, "paged");
    let source = p.boolean(m, &ctx, "source");
    let note = m.get("note").and_then(Value::as_str).map(str::to_string);
    let limit = match (m.get("limit"), record) {
        (None, Some(RecordKind::Row)) => {
            p.push(format!(
                "{ctx}field `limit`: missing; a row endpoint needs `{{default: N, max: M}}`"
            ));
            None
        }
        (None, _) => None,
        (Some(Value::Mapping(lm)), _) => {
            let lctx = format!("{ctx}limit.");
            p.unknown_keys(lm, &lctx, &["default", "max"]);
            let default = p.count(lm, &lctx, "default");
            let max = p.count(lm, &lctx, "max");
            match (default, max) {
                (Some(default), Some(max)) if default == 0 || default > max => {
                    p.push(format!(
                        "{ctx}field `limit`: default {default} must be between 1 and max {max}"
                    ));
                    None
                }
                (Some(default), Some(max)) => Some(RowLimit { default, max }),
                _ => None,
            }
        }
        (Some(_), _) => {
            p.push(format!(
                "{ctx}field `limit`: must be `{{default: N, max: M}}`"
            ));
            None
        }
    };
    if p.0.len() > before {
        return None;
    }
    Some(Endpoint {
        name: name.to_string(),
        units: units?,
        per: per?,
        record: record?,
        max_batch: max_batch?,
        limit,
        paged: paged?,
        source: source?,
        note,
    })
}

fn overage(p: &mut Problems, m: &Mapping) -> Option<Overage> {
    let ctx = "overage.";
    p.unknown_keys(m, ctx, &["currency", "per_units", "tiers", "enterprise"]);
    let currency = p.string(m, ctx, "currency");
    let per_units = p.count(m, ctx, "per_units");
    if per_units == Some(0) {
        p.push("field `overage.per_units`: must be at least 1".into());
    }
    let mut tiers = Vec::new();
    match m.get("tiers") {
        Some(Value::Sequence(seq)) => {
            for (i, t) in seq.iter().enumerate() {
                let Some(tm) = t.as_mapping() else {
                    p.push(format!("overage tier #{}: must be a mapping", i + 1));
                    continue;
                };
                let name = tm.get("tier").and_then(Value::as_str).map(str::to_string);
                let tctx = match &name {
                    Some(n) => format!("overage tier `{n}`: "),
                    None => format!("overage tier #{}: ", i + 1),
                };
                p.unknown_keys(
                    tm,
                    &tctx,
                    &[
                        "tier",
                        "credits",
                        "plan",
                        "plan_yearly",
                        "addon",
                        "addon_yearly",
                    ],
                );
                if name.is_none() {
                    p.push(format!("{tctx}field `tier`: missing (a name such as 1M)"));
                }
                let credits = p.count(tm, &tctx, "credits");
                let rates: Vec<Option<Decimal>> = ["plan", "plan_yearly", "addon", "addon_yearly"]
                    .iter()
                    .map(|field| p.rate(tm, &tctx, field))
                    .collect();
                if let (
                    Some(tier),
                    Some(credits),
                    [Some(plan), Some(plan_yearly), Some(addon), Some(addon_yearly)],
                ) = (name, credits, rates.as_slice())
                {
                    tiers.push(Tier {
                        tier,
                        credits,
                        plan: *plan,
                        plan_yearly: *plan_yearly,
                        addon: *addon,
                        addon_yearly: *addon_yearly,
                    });
                }
            }
        }
        Some(_) => p.push("field `overage.tiers`: must be a list of tiers".into()),
        None => p.push("field `overage.tiers`: missing".into()),
    }
    Some(Overage {
        currency: currency?,
        per_units: per_units?,
        tiers,
    })
}

/// Collects problems while reading a YAML mapping.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    fn unknown_keys(&mut self, m: &Mapping, ctx: &str, known: &[&str]) {
        for key in m.keys() {
            let key = key.as_str().unwrap_or("?");
            if !known.contains(&key) {
                self.push(format!(
                    "{ctx}unknown field `{key}`; expected one of: {}",
                    known.join(", ")
                ));
            }
        }
    }

    fn present<'a>(&mut self, m: &'a Mapping, ctx: &str, field: &str) -> Option<&'a Value> {
        let value = m.get(field);
        if value.is_none() {
            self.push(format!("{ctx}field `{field}`: missing"));
        }
        value
    }

    fn string(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<String> {
        match self.present(m, ctx, field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            other => {
                self.push(format!(
                    "{ctx}field `{field}`: expected text, found {}",
                    crate::yaml_inline(other)
                ));
                None
            }
        }
    }

    fn mapping<'a>(&mut self, m: &'a Mapping, ctx: &str, field: &str) -> Option<&'a Mapping> {
        match self.present(m, ctx, field)? {
            Value::Mapping(inner) => Some(inner),
            _ => {
                self.push(format!("{ctx}field `{field}`: must be a mapping"));
                None
            }
        }
    }

    fn boolean(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<bool> {
        match self.present(m, ctx, field)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.push(format!(
                    "{ctx}field `{field}`: expected true or false, found {}",
                    crate::yaml_inline(other)
                ));
                None
            }
        }
    }

    fn count(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<u64> {
        let value = self.present(m, ctx, field)?;
        match crate::count::from_yaml(value) {
            Ok(n) => Some(n),
            Err(e) => {
                self.push(format!("{ctx}field `{field}`: {e}"));
                None
            }
        }
    }

    fn rate(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<Decimal> {
        let value = self.present(m, ctx, field)?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => crate::yaml_inline(other),
        };
        match parse_usd(&text) {
            Ok(rate) => Some(rate),
            Err(e) => {
                self.push(format!("{ctx}field `{field}`: {e}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
