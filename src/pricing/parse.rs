//! Turning pricing YAML into a validated [`Pricing`], collecting every problem on the way.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_yaml::{Mapping, Value};

use super::{
    endpoint_key, method_name, parse_usd, split_method, Dispute, Endpoint, Evidence, Overage, Per,
    Pricing, PricingError, RecordKind, RowLimit, Tier,
};

pub(super) const TOP_FIELDS: &[&str] = &[
    "name",
    "effective",
    "source",
    "endpoints",
    "sources",
    "source_aliases",
    "overage",
    "rate_limit",
];

pub(super) const ENDPOINT_FIELDS: &[&str] = &[
    "methods",
    "units",
    "per",
    "record",
    "max_batch",
    "default_batch",
    "limit",
    "paged",
    "source",
    "default_days",
    "targets_from",
    "rows_from",
    "evidence",
    "ref",
    "note",
    "disputes",
];

/// The fields that make up an entry's price claim: an overlay that sets `units` replaces them all.
pub(super) const PRICE_CLAIM: &[&str] = &["units", "evidence", "ref", "note", "disputes"];

pub(super) const TIER_FIELDS: &[&str] = &[
    "tier",
    "credits",
    "plan",
    "plan_yearly",
    "addon",
    "addon_yearly",
];

/// Parses YAML text into a value, naming `origin` on a syntax error.
pub(super) fn yaml(text: &str, origin: &str) -> Result<Value, PricingError> {
    serde_yaml::from_str(text).map_err(|e| PricingError::Syntax {
        origin: origin.to_string(),
        location: e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default(),
        message: crate::yaml_message(&e),
    })
}

/// Keys of `m` that name the same endpoint as an earlier key, as problems.
pub(super) fn duplicate_endpoints(m: &Mapping, ctx: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for key in m.keys().filter_map(Value::as_str) {
        let normal = endpoint_key(key);
        match seen.get(&normal) {
            Some(first) => problems.push(format!(
                "{ctx}`{first}` and `{key}` name the same endpoint ({normal}); keep one of them"
            )),
            None => {
                seen.insert(normal, key.to_string());
            }
        }
    }
    problems
}

/// Tier names listed more than once in a `tiers` list, as problems.
pub(super) fn duplicate_tiers(tiers: &[Value], ctx: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for name in tiers.iter().filter_map(|t| t.get("tier")?.as_str()) {
        if !seen.insert(name.to_ascii_lowercase()) {
            problems.push(format!(
                "{ctx}tier `{name}` is listed more than once; keep one"
            ));
        }
    }
    problems
}

/// Validates a whole pricing document. `touched` names the overlay that last changed an endpoint
/// or tier (by endpoint key, or `tier NAME`), so messages point at the file to fix.
pub(super) fn pricing(
    root: &Value,
    origin: &str,
    touched: &BTreeMap<String, String>,
) -> Result<Pricing, PricingError> {
    // A problem an overlay brought in is the overlay's to fix: the heading names them too.
    let overlays: BTreeSet<&str> = touched.values().map(String::as_str).collect();
    let heading = match overlays.len() {
        0 => origin.to_string(),
        1 => format!(
            "{origin} with overlay {}",
            Vec::from_iter(overlays).join(", ")
        ),
        _ => format!(
            "{origin} with overlays {}",
            Vec::from_iter(overlays).join(", ")
        ),
    };
    let invalid = |problems| PricingError::Invalid {
        origin: heading.clone(),
        problems,
    };
    let Some(root) = root.as_mapping() else {
        return Err(invalid(vec![
            "the file must be a mapping with `name`, `endpoints`, `overage` ...".into(),
        ]));
    };
    let mut p = Problems::default();
    p.unknown_keys(root, "", TOP_FIELDS);
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
        for problem in duplicate_endpoints(m, "endpoints: ") {
            p.push(problem);
        }
        for (key, value) in m {
            let Some(key) = key.as_str() else {
                p.push(format!(
                    "endpoints: key {} is not a string",
                    crate::yaml_inline(key)
                ));
                continue;
            };
            let name = endpoint_key(key);
            let from = touched
                .get(&name)
                .map(|o| format!(" (from overlay {o})"))
                .unwrap_or_default();
            if let Some(endpoint) = endpoint(&mut p, &name, &from, value) {
                endpoints.entry(name).or_insert(endpoint);
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
    let mut source_aliases = BTreeMap::new();
    match root.get("source_aliases") {
        None => {}
        Some(Value::Mapping(m)) => {
            for (alias, code) in m {
                let (Some(alias), Some(code)) = (alias.as_str(), code.as_str()) else {
                    p.push("field `source_aliases`: write `alias: code`, e.g. `gb: uk`".into());
                    continue;
                };
                let (alias, code) = (alias.to_ascii_lowercase(), code.to_ascii_lowercase());
                if sources.contains(&alias) {
                    p.push(format!("field `source_aliases`: `{alias}` is also in `sources`; a code is either a database or another name for one"));
                } else if !sources.contains(&code) {
                    p.push(format!("field `source_aliases`: `{alias}` stands for `{code}`, which is not in `sources`"));
                } else {
                    source_aliases.insert(alias, code);
                }
            }
        }
        Some(_) => p.push("field `source_aliases`: must be a mapping such as `{gb: uk}`".into()),
    }
    let overage = p
        .mapping(root, "", "overage")
        .and_then(|m| overage(&mut p, m, touched));
    match (effective, requests_per_second, overage) {
        (Some(effective), Some(requests_per_second), Some(overage)) if p.0.is_empty() => {
            Ok(Pricing {
                name,
                effective,
                source,
                endpoints,
                sources,
                source_aliases,
                overage,
                requests_per_second,
                origin: origin.to_string(),
                overlays: Vec::new(),
            })
        }
        _ => Err(invalid(p.0)),
    }
}

fn endpoint(p: &mut Problems, name: &str, from: &str, value: &Value) -> Option<Endpoint> {
    let ctx = format!("endpoint `{name}`{from}: ");
    let Some(m) = value.as_mapping() else {
        p.push(format!(
            "{ctx}must be a mapping of fields (units, per, record, ...)"
        ));
        return None;
    };
    let before = p.0.len();
    p.unknown_keys(m, &ctx, ENDPOINT_FIELDS);
    let methods = methods(p, &ctx, name, m.get("methods"));
    let units = match m.get("units") {
        Some(Value::String(s)) if s == "unknown" => Some(None),
        _ => p.count(m, &ctx, "units").map(Some),
    };
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
        "period" => Some(RecordKind::Period),
        "day" => Some(RecordKind::Day),
        other => {
            p.push(format!(
                "{ctx}field `record`: unknown value {other:?}; use `target`, `row`, `period` or `day`"
            ));
            None
        }
    });
    let max_batch = p.count(m, &ctx, "max_batch");
    if max_batch == Some(0) {
        p.push(format!("{ctx}field `max_batch`: must be at least 1"));
    }
    if record.is_some_and(|r| r != RecordKind::Target) && max_batch.is_some_and(|b| b > 1) {
        p.push(format!(
            "{ctx}field `max_batch`: an endpoint billed by rows, periods or days takes one target per request; set max_batch to 1"
        ));
    }
    let default_batch = match m.get("default_batch") {
        None => max_batch,
        Some(_) => p
            .count(m, &ctx, "default_batch")
            .and_then(|d| match max_batch {
                Some(max) if d == 0 || d > max => {
                    p.push(format!(
                        "{ctx}field `default_batch`: {d} must be between 1 and max_batch {max}"
                    ));
                    None
                }
                _ => Some(d),
            }),
    };
    let paged = p.boolean(m, &ctx, "paged");
    let source = p.boolean(m, &ctx, "source");
    let note = p.optional_text(m, &ctx, "note");
    let limit = match (m.get("limit"), record) {
        (None, Some(RecordKind::Row)) => {
            p.push(format!(
                "{ctx}field `limit`: missing; a row endpoint needs `{{default: N, max: M}}`"
            ));
            None
        }
        (None, _) => None,
        (Some(_), Some(kind)) if kind != RecordKind::Row => {
            p.push(format!(
                "{ctx}field `limit`: only row endpoints (`record: row`) ask for rows; remove it"
            ));
            None
        }
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
    if record.is_some_and(RecordKind::ranged) && paged == Some(true) {
        p.push(format!(
            "{ctx}field `paged`: a period or day endpoint returns its whole date range at once; set paged to false"
        ));
    }
    let default_days = match (m.get("default_days"), record) {
        (None, Some(kind)) if kind.ranged() => {
            p.push(format!(
                "{ctx}field `default_days`: missing; a period or day endpoint needs the days of the range a call without dates covers"
            ));
            None
        }
        (None, _) => None,
        (Some(_), Some(kind)) if !kind.ranged() => {
            p.push(format!(
                "{ctx}field `default_days`: only period and day endpoints take a date range; remove it"
            ));
            None
        }
        (Some(_), _) => match p.count(m, &ctx, "default_days") {
            Some(0) => {
                p.push(format!("{ctx}field `default_days`: must be at least 1"));
                None
            }
            days => days,
        },
    };
    let targets_from = match m.get("targets_from") {
        None => Some(vec!["target".to_string(), "target[]".to_string()]),
        Some(Value::Sequence(names)) if !names.is_empty() => {
            let names: Vec<String> = names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            if names.iter().any(String::is_empty) || names.is_empty() {
                p.push(format!("{ctx}field `targets_from`: list parameter names such as [target, \"target[]\"]"));
            }
            Some(names)
        }
        Some(_) => {
            p.push(format!(
                "{ctx}field `targets_from`: must be a list of parameter names such as [target, \"target[]\"]"
            ));
            None
        }
    };
    let rows_from = match m.get("rows_from") {
        None => Some("limit".to_string()),
        Some(_) if record != Some(RecordKind::Row) => {
            p.push(format!(
                "{ctx}field `rows_from`: only row endpoints ask for rows; remove it"
            ));
            None
        }
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            p.push(format!(
                "{ctx}field `rows_from`: must be a parameter name such as `limit` or `settings.max_pages`"
            ));
            None
        }
    };
    let evidence = p.evidence(m, &ctx, "evidence");
    let reference = p.required_text(m, &ctx, "ref");
    let disputes = match m.get("disputes") {
        None => Some(Vec::new()),
        Some(Value::Sequence(items)) => {
            let mut disputes = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let dctx = format!("{ctx}disputes #{}: ", i + 1);
                let Some(dm) = item.as_mapping() else {
                    p.push(format!(
                        "{dctx}must be `{{figure: …, evidence: …, ref: …}}`"
                    ));
                    continue;
                };
                p.unknown_keys(dm, &dctx, &["figure", "evidence", "ref"]);
                let figure = p.required_text(dm, &dctx, "figure");
                let evidence = p.evidence(dm, &dctx, "evidence");
                let reference = p.required_text(dm, &dctx, "ref");
                if let (Some(figure), Some(evidence), Some(reference)) =
                    (figure, evidence, reference)
                {
                    disputes.push(Dispute {
                        figure,
                        evidence,
                        reference,
                    });
                }
            }
            Some(disputes)
        }
        Some(_) => {
            p.push(format!(
                "{ctx}field `disputes`: must be a list of `{{figure, evidence, ref}}`"
            ));
            None
        }
    };
    if p.0.len() > before {
        return None;
    }
    Some(Endpoint {
        name: name.to_string(),
        methods: methods?,
        units: units?,
        per: per?,
        record: record?,
        max_batch: max_batch?,
        default_batch: default_batch?,
        limit,
        paged: paged?,
        source: source?,
        default_days,
        targets_from: targets_from?,
        rows_from: rows_from?,
        evidence: evidence?,
        reference: reference?,
        note,
        disputes: disputes?,
    })
}

/// An entry's `methods`: HTTP methods in any case, each once, in [`super::METHODS`] order. An entry
/// named by a method (`GET serp/classic/tasks`) takes that method only.
fn methods(
    p: &mut Problems,
    ctx: &str,
    name: &str,
    value: Option<&Value>,
) -> Option<Vec<&'static str>> {
    let named = split_method(name).0.and_then(method_name);
    let Some(value) = value else {
        return Some(match named {
            Some(method) => vec![method],
            None => super::DEFAULT_METHODS.to_vec(),
        });
    };
    let hint = "list HTTP methods such as [GET, POST] (GET, POST, PUT, PATCH or DELETE)";
    let Some(items) = value.as_sequence().filter(|items| !items.is_empty()) else {
        p.push(format!("{ctx}field `methods`: {hint}"));
        return None;
    };
    let mut methods = Vec::new();
    for item in items {
        match item.as_str().and_then(method_name) {
            Some(method) if methods.contains(&method) => {
                p.push(format!("{ctx}field `methods`: {method} is listed twice"));
            }
            Some(method) => methods.push(method),
            None => p.push(format!(
                "{ctx}field `methods`: {} is not an HTTP method; {hint}",
                crate::yaml_inline(item)
            )),
        }
    }
    if let Some(method) = named {
        if methods != [method] {
            p.push(format!(
                "{ctx}field `methods`: an entry named `{method} …` prices {method} calls only; remove `methods` or name the entry by its path"
            ));
            return None;
        }
    }
    methods.sort_by_key(|m| super::METHODS.iter().position(|x| x == m));
    (methods.len() == items.len()).then_some(methods)
}

fn overage(p: &mut Problems, m: &Mapping, touched: &BTreeMap<String, String>) -> Option<Overage> {
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
            for problem in duplicate_tiers(seq, "overage: ") {
                p.push(problem);
            }
            for (i, t) in seq.iter().enumerate() {
                let Some(tm) = t.as_mapping() else {
                    p.push(format!("overage tier #{}: must be a mapping", i + 1));
                    continue;
                };
                let name = tm.get("tier").and_then(Value::as_str).map(str::to_string);
                let tctx = match &name {
                    Some(n) => {
                        let from = touched
                            .get(&format!("tier {}", n.to_ascii_lowercase()))
                            .map(|o| format!(" (from overlay {o})"))
                            .unwrap_or_default();
                        format!("overage tier `{n}`{from}: ")
                    }
                    None => format!("overage tier #{}: ", i + 1),
                };
                p.unknown_keys(tm, &tctx, TIER_FIELDS);
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
                    if !tiers
                        .iter()
                        .any(|t: &Tier| t.tier.eq_ignore_ascii_case(&tier))
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
pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    pub(super) fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    pub(super) fn unknown_keys(&mut self, m: &Mapping, ctx: &str, known: &[&str]) {
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

    /// A field that must hold some non-blank text.
    fn required_text(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<String> {
        match m.get(field) {
            None => {
                self.push(format!(
                    "{ctx}field `{field}`: missing; say where the figure comes from (a document, a page, a measurement)"
                ));
                None
            }
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                self.push(format!(
                    "{ctx}field `{field}`: expected text, found {}",
                    crate::yaml_inline(other)
                ));
                None
            }
        }
    }

    fn optional_text(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<String> {
        match m.get(field) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.push(format!(
                    "{ctx}field `{field}`: expected text, found {}",
                    crate::yaml_inline(other)
                ));
                None
            }
        }
    }

    fn evidence(&mut self, m: &Mapping, ctx: &str, field: &str) -> Option<Evidence> {
        match m.get(field) {
            None => {
                self.push(format!(
                    "{ctx}field `{field}`: missing; one of {}",
                    Evidence::NAMES
                ));
                None
            }
            Some(value) => match value.as_str().and_then(Evidence::parse) {
                Some(evidence) => Some(evidence),
                None => {
                    self.push(format!(
                        "{ctx}field `{field}`: {} is not one of {}",
                        crate::yaml_inline(value),
                        Evidence::NAMES
                    ));
                    None
                }
            },
        }
    }

    pub(super) fn mapping<'a>(
        &mut self,
        m: &'a Mapping,
        ctx: &str,
        field: &str,
    ) -> Option<&'a Mapping> {
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
