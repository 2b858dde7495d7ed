//! Pricing overlays (`--pricing-overlay FILE`): single endpoints and tiers laid over the active
//! pricing, so a contract price or a newly published endpoint needs a few lines, not a copy of the
//! whole catalogue.
//!
//! An overlay holds `endpoints:` and/or `overage: {tiers: [...]}`. An endpoint it names that the
//! pricing already has is changed field by field; one that sets `units` replaces the whole price
//! claim (`units`, `evidence`, `ref`, `note`, `disputes`), so the figure never keeps the evidence
//! of the figure it replaced. A new endpoint must be complete. Tiers merge by name. The merged
//! document is then validated as a whole (`parse::pricing`), problems naming the overlay.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::endpoint_key;
use super::parse::{duplicate_endpoints, duplicate_tiers, Problems, PRICE_CLAIM};
use super::PricingError;

/// Lays `layer` (read from `shown`) over `root`, recording what it touched.
pub(super) fn apply(
    root: &mut Value,
    layer: &Value,
    shown: &str,
    touched: &mut BTreeMap<String, String>,
) -> Result<(), PricingError> {
    let invalid = |problems: Vec<String>| PricingError::Invalid {
        origin: shown.to_string(),
        problems,
    };
    let Some(layer) = layer.as_mapping() else {
        return Err(invalid(vec![
            "an overlay is a mapping with `endpoints:` and/or `overage: {tiers: [...]}`".into(),
        ]));
    };
    let mut p = Problems::default();
    p.unknown_keys(layer, "", &["endpoints", "overage"]);
    let endpoints = match layer.get("endpoints") {
        None => None,
        Some(Value::Mapping(m)) => {
            for problem in duplicate_endpoints(m, "endpoints: ") {
                p.push(problem);
            }
            for (key, value) in m {
                match (key.as_str(), value) {
                    (Some(_), Value::Mapping(_)) => {}
                    (Some(key), _) => p.push(format!(
                        "endpoint `{key}`: must be a mapping of fields (units, per, record, ...)"
                    )),
                    (None, _) => p.push(format!(
                        "endpoints: key {} is not a string",
                        crate::yaml_inline(key)
                    )),
                }
            }
            Some(m)
        }
        Some(_) => {
            p.push("field `endpoints`: must be a mapping of endpoint names to fields".into());
            None
        }
    };
    let tiers = match layer.get("overage") {
        None => None,
        Some(Value::Mapping(m)) => {
            p.unknown_keys(m, "overage.", &["tiers"]);
            match m.get("tiers") {
                Some(Value::Sequence(tiers)) => {
                    for problem in duplicate_tiers(tiers, "overage: ") {
                        p.push(problem);
                    }
                    for (i, t) in tiers.iter().enumerate() {
                        if t.get("tier").and_then(Value::as_str).is_none() {
                            p.push(format!(
                                "overage tier #{}: needs `tier:` (the name of the tier to add or change)",
                                i + 1
                            ));
                        }
                    }
                    Some(tiers)
                }
                _ => {
                    p.push("field `overage.tiers`: must be a list of tiers".into());
                    None
                }
            }
        }
        Some(_) => {
            p.push("field `overage`: must be a mapping with `tiers`".into());
            None
        }
    };
    if !p.0.is_empty() {
        return Err(invalid(p.0));
    }
    let Some(base) = root.as_mapping_mut() else {
        // The base document's own problems are reported when it is validated.
        return Ok(());
    };
    if let Some(endpoints) = endpoints {
        let base_endpoints = base
            .entry(Value::from("endpoints"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Some(base_endpoints) = base_endpoints.as_mapping_mut() {
            for (key, fields) in endpoints {
                let (Some(key), Some(fields)) = (key.as_str(), fields.as_mapping()) else {
                    continue;
                };
                let normal = endpoint_key(key);
                let existing = base_endpoints
                    .keys()
                    .find(|k| k.as_str().is_some_and(|k| endpoint_key(k) == normal))
                    .cloned();
                match existing.and_then(|k| base_endpoints.get_mut(&k)) {
                    Some(Value::Mapping(entry)) => merge_entry(entry, fields),
                    _ => {
                        base_endpoints.insert(Value::from(key), Value::Mapping(fields.clone()));
                    }
                }
                touched.insert(normal, shown.to_string());
            }
        }
    }
    if let Some(tiers) = tiers {
        let overage = base
            .entry(Value::from("overage"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Some(overage) = overage.as_mapping_mut() {
            let base_tiers = overage
                .entry(Value::from("tiers"))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            if let Some(base_tiers) = base_tiers.as_sequence_mut() {
                for tier in tiers {
                    let (Some(name), Some(fields)) =
                        (tier.get("tier").and_then(Value::as_str), tier.as_mapping())
                    else {
                        continue;
                    };
                    let same = |t: &Value| {
                        t.get("tier")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    };
                    match base_tiers.iter_mut().find(|t| same(t)) {
                        Some(Value::Mapping(entry)) => {
                            for (k, v) in fields {
                                entry.insert(k.clone(), v.clone());
                            }
                        }
                        _ => base_tiers.push(tier.clone()),
                    }
                    touched.insert(
                        format!("tier {}", name.to_ascii_lowercase()),
                        shown.to_string(),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Changes an existing entry: a new `units` replaces the whole price claim.
fn merge_entry(entry: &mut Mapping, fields: &Mapping) {
    if fields.contains_key("units") {
        for claim in PRICE_CLAIM {
            entry.remove(*claim);
        }
    }
    for (k, v) in fields {
        entry.insert(k.clone(), v.clone());
    }
}
