//! The pricing file: unit costs, the endpoint catalogue, regional databases and overage tiers.
//!
//! SE Ranking changes its prices and contracts differ, so costs are data (`pricing/seranking.yaml`,
//! embedded at build time) rather than code. Every catalogue entry says where its price comes from
//! (`evidence` and `ref`, docs/reference.md "The pricing file"); where sources disagree the entry carries the
//! figure that forecasts more and records the others (`disputes`); a price nobody has published is
//! `units: unknown`, which planning and the guard refuse rather than guess. Pricing overlays
//! (`--pricing-overlay FILE`) add or replace single entries and tiers on top of the active file.
//!
//! This module parses and validates those files and answers lookups. It is pure: it reads only the
//! files it is given and never touches the network. It prices no step and no call (`estimate`
//! does, with the catalogue's figures).

mod catalogue;
mod money;
mod overlay;
mod parse;
pub mod range;

pub use catalogue::{
    closest_name, endpoint_key, method_name, normalize_endpoint, split_method, DEFAULT_METHODS,
    METHODS,
};
pub use money::{parse_usd, usd_for_units, Billing, OverageRate};
pub use range::{Granularity, GRANULARITIES};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::files::{FileError, FileKind};

/// The pricing file shipped with the binary.
pub const EMBEDDED: &str = include_str!("../../pricing/seranking.yaml");
const EMBEDDED_ORIGIN: &str = "embedded pricing (pricing/seranking.yaml)";

/// The flag that adds pricing overlays, for messages that tell people where to set a price.
pub const OVERLAY_FLAG: &str = "--pricing-overlay FILE";

/// How an endpoint is billed: per returned record or per successful request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Record,
    Request,
}

/// What one record of an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// One per target (or keyword) a request carries.
    Target,
    /// One per returned row; a request asks for `limit` rows per target.
    Row,
    /// One per period (day, week, month) of the request's date range, at its `granularity`.
    Period,
    /// One per day of the request's date range (the history counts); billing per target is the
    /// other reading, which the expected band uses.
    Day,
}

impl RecordKind {
    /// Whether a request's records depend on a date range.
    pub fn ranged(self) -> bool {
        matches!(self, Self::Period | Self::Day)
    }
}

/// Rows per request of a row endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RowLimit {
    pub default: u64,
    pub max: u64,
}

/// Where a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// The vendor doc's unit table (the billing reference).
    Table,
    /// The endpoint's own documentation page (or the vendor's OpenAPI file, MCP server, skills).
    Docs,
    /// A live measurement.
    Measured,
    /// No source states it: a guess, written down.
    Assumed,
}

impl Evidence {
    pub const NAMES: &'static str = "table, docs, measured or assumed";

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "table" => Some(Self::Table),
            "docs" => Some(Self::Docs),
            "measured" => Some(Self::Measured),
            "assumed" => Some(Self::Assumed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Docs => "docs",
            Self::Measured => "measured",
            Self::Assumed => "assumed",
        }
    }
}

/// A figure another source gives for an endpoint, recorded where the catalogue chose differently
/// (it keeps the figure that forecasts more).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dispute {
    /// What the other source says, in words: `1 unit per target`.
    pub figure: String,
    pub evidence: Evidence,
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    /// The catalogue name: the path (`backlinks/summary`), or a method and a path for an entry
    /// that applies to one method only (`GET serp/classic/tasks`).
    pub name: String,
    /// The HTTP methods this entry prices (`methods:`; by default GET and POST, or the one method
    /// its name starts with). A method no entry of a path lists is refused with 405.
    pub methods: Vec<&'static str>,
    /// Units per billed item; `None` when no source publishes the price (`units: unknown`).
    #[serde(serialize_with = "serialize_units")]
    pub units: Option<u64>,
    pub per: Per,
    pub record: RecordKind,
    /// Targets (keywords) one request may carry.
    pub max_batch: u64,
    /// Targets per request when a step sets no `batch` (at most `max_batch`).
    pub default_batch: u64,
    pub limit: Option<RowLimit>,
    pub paged: bool,
    pub source: bool,
    /// Period and day endpoints: the days of the range assumed for a call that names no dates.
    pub default_days: Option<u64>,
    /// Parameters (query, JSON or form fields) that carry the billed targets.
    pub targets_from: Vec<String>,
    /// The parameter that asks for rows (a JSON path such as `settings.max_pages` for bodies).
    pub rows_from: String,
    pub evidence: Evidence,
    #[serde(rename = "ref")]
    pub reference: String,
    pub note: Option<String>,
    pub disputes: Vec<Dispute>,
}

fn serialize_units<S: serde::Serializer>(units: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match units {
        Some(n) => s.serialize_u64(*n),
        None => s.serialize_str("unknown"),
    }
}

impl Endpoint {
    /// The path without a method, e.g. `serp/classic/tasks`.
    pub fn path(&self) -> &str {
        split_method(&self.name).1
    }

    /// The method this entry is limited to, if any.
    pub fn method(&self) -> Option<&str> {
        split_method(&self.name).0
    }

    /// Sources disagree about this entry.
    pub fn disputed(&self) -> bool {
        !self.disputes.is_empty()
    }

    /// A plan relying on this entry relies on a figure nobody published, or one another source
    /// contradicts.
    pub fn uncertain(&self) -> bool {
        self.evidence == Evidence::Assumed || self.disputed()
    }
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

/// A validated pricing file, with its overlays applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub name: String,
    pub effective: NaiveDate,
    pub source: String,
    /// By catalogue name (see [`endpoint_key`]).
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Regional database codes, canonical spelling.
    pub sources: BTreeSet<String>,
    /// Other spellings of a regional database → its canonical code (`gb` → `uk`).
    pub source_aliases: BTreeMap<String, String>,
    pub overage: Overage,
    pub requests_per_second: u32,
    /// Where the file came from, for messages (overlays included).
    pub origin: String,
    /// The overlay files applied, in order.
    pub overlays: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error(transparent)]
    File {
        #[from]
        source: FileError,
    },
    #[error("{origin}: the file is not UTF-8 text")]
    NotText { origin: String },
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

    /// The embedded pricing, parsed once per test process: a parse takes about 15 ms in a
    /// debug build, and property tests price hundreds of cases.
    #[cfg(test)]
    pub(crate) fn embedded_once() -> &'static Pricing {
        static PRICING: std::sync::OnceLock<Pricing> = std::sync::OnceLock::new();
        PRICING.get_or_init(|| Pricing::embedded().expect("the embedded pricing parses"))
    }

    /// Reads a pricing file (the embedded one when `path` is `None`) and applies `overlays` in
    /// order on top of it.
    pub fn load(path: Option<&Path>, overlays: &[PathBuf]) -> Result<Self, PricingError> {
        let (text, origin) = match path {
            None => (EMBEDDED.to_string(), EMBEDDED_ORIGIN.to_string()),
            Some(path) => (
                read_text(path, FileKind::Pricing)?,
                path.display().to_string(),
            ),
        };
        let mut root = parse::yaml(&text, &origin)?;
        let mut touched = BTreeMap::new();
        for overlay in overlays {
            let shown = overlay.display().to_string();
            let text = read_text(overlay, FileKind::PricingOverlay)?;
            let layer = parse::yaml(&text, &shown)?;
            overlay::apply(&mut root, &layer, &shown, &mut touched)?;
        }
        let mut pricing = parse::pricing(&root, &origin, &touched)?;
        if !overlays.is_empty() {
            let names: Vec<String> = overlays.iter().map(|p| p.display().to_string()).collect();
            pricing.origin = format!("{origin} + overlay {}", names.join(", "));
            pricing.overlays = overlays.to_vec();
        }
        Ok(pricing)
    }

    /// Parses and validates pricing text, collecting every problem.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PricingError> {
        let root = parse::yaml(text, origin)?;
        parse::pricing(&root, origin, &BTreeMap::new())
    }

    /// Looks up an endpoint as a user may write it (`/v1/backlinks/summary`, `backlinks/summary`,
    /// `GET serp/classic/tasks`).
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(&endpoint_key(name))
    }

    /// The entry that prices a call: the one named by this method and path, else the path's own
    /// when it lists the method.
    pub fn endpoint_for(&self, method: &str, path: &str) -> Option<&Endpoint> {
        let path = normalize_endpoint(path);
        self.endpoints
            .get(&format!("{} {path}", method.to_ascii_uppercase()))
            .or_else(|| {
                self.endpoints
                    .get(path)
                    .filter(|e| e.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            })
    }

    /// The methods the entries of `path` take together, in [`METHODS`] order; empty when the
    /// catalogue does not know the path.
    pub fn methods_of(&self, path: &str) -> Vec<&'static str> {
        let path = normalize_endpoint(path);
        let taken: Vec<&'static str> = self
            .endpoints
            .values()
            .filter(|e| e.path() == path)
            .flat_map(|e| e.methods.iter().copied())
            .collect();
        METHODS
            .iter()
            .copied()
            .filter(|m| taken.contains(m))
            .collect()
    }

    /// The catalogue name closest to `name`, for "did you mean" hints.
    pub fn closest_endpoint(&self, name: &str) -> Option<&str> {
        closest_name(
            &endpoint_key(name),
            self.endpoints.keys().map(String::as_str),
        )
    }

    /// The canonical code of a regional database (`GB` → `uk`), or `None` when unknown.
    pub fn source_code(&self, code: &str) -> Option<String> {
        let lower = code.to_ascii_lowercase();
        if let Some(canonical) = self.source_aliases.get(&lower) {
            return Some(canonical.clone());
        }
        self.sources.contains(&lower).then_some(lower)
    }

    /// Whether `code` is a known regional database (or another spelling of one).
    pub fn knows_source(&self, code: &str) -> bool {
        self.source_code(code).is_some()
    }
}

/// A pricing file's text: bounded read, UTF-8, a leading byte order mark dropped.
fn read_text(path: &Path, kind: FileKind) -> Result<String, PricingError> {
    let bytes = crate::files::read(path, kind)?;
    String::from_utf8(crate::files::strip_bom(&bytes).to_vec()).map_err(|_| PricingError::NotText {
        origin: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests;
