//! Usage profiles: how many rows (and, for paged endpoints, pages) one target really returned,
//! as the guard saw it, so the expected band of later plans rests on observations instead of
//! guesses (docs/reconcile.md "Usage profiles").
//!
//! A profile is built from journals ([`ProfileBuilder`], a [`Sink`]), kept per endpoint and,
//! for endpoints that take a regional database, per `source`:
//! - **rows per target** of row endpoints: a 2xx call's `rows` (a call naming one target). For
//!   paged endpoints the rows of every page of one listing add up: a listing is the calls with
//!   the same tags, endpoint, source and `target_hash`, begun by a call that does not continue
//!   an earlier one (`continues`); a listing whose first page is missing is not observed, nor
//!   are its rows when a page did not show them;
//! - **pages per target** of paged endpoints: the 2xx calls of one listing.
//!
//! Each is a histogram (value → how often) with count, p50, p90 and max: nearest-rank
//! percentiles (the smallest observed value with at least p% of the observations at or below
//! it), exact integers. A histogram keeps every distinct value up to [`MAX_DISTINCT`]; beyond,
//! values are rounded **up** to two significant digits (`rounded: true`), so percentiles may be
//! up to 10% high, never low. Histograms add exactly, which is how profiles merge. The journals
//! a profile was built from are remembered by digest, so the same journal is never added twice.
//!
//! `budget plan --profile` ([`apply`]) takes the p90 of rows per target as `expected_rows` of
//! the row steps that state none — the largest p90 among a step's sources, never above the
//! step's `rows` — so a profile moves the expected band and never the worst case.
//!
//! Pure: reads the profile file it is given; writing one is `report::profile`'s job.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::{Call, JournalRead, Sink};
use crate::estimate::{ExpectedFrom, WorkflowEstimate};
use crate::files::{self, FileError, FileKind};
use crate::pricing::{Pricing, RecordKind};
use crate::workflow::Workflow;

/// The only profile version.
pub const VERSION: u64 = 1;
/// Distinct values a histogram keeps exactly.
pub const MAX_DISTINCT: usize = 1000;
/// Journal digests a profile remembers (the most recent).
pub const MAX_JOURNALS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    File {
        #[from]
        source: FileError,
    },
    #[error("usage profile {} is not YAML ({reason}); write one with `budget reconcile PLAN.json JOURNAL --write-profile FILE`", path.display())]
    Syntax { path: PathBuf, reason: String },
    #[error("usage profile {} is not a budget usage profile:\n  - {}\nwrite one with `budget reconcile PLAN.json JOURNAL --write-profile FILE`", path.display(), problems.join("\n  - "))]
    Shape {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error(
        "the usage profile's {what} overflow the largest count ({}); start a new profile",
        u64::MAX
    )]
    Overflow { what: &'static str },
}

/// Observed values and how often each was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: BTreeMap<u64, u64>,
    rounded: bool,
}

/// `value` rounded up to two significant digits (`101` → `110`, `1234` → `1300`).
fn round_up(value: u64) -> u64 {
    let mut scale = 1u64;
    while value / scale >= 100 {
        scale *= 10;
    }
    value.div_ceil(scale).checked_mul(scale).unwrap_or(value)
}

impl Histogram {
    /// Adds one observation.
    pub fn add(&mut self, value: u64) -> Result<(), ProfileError> {
        self.add_count(value, 1)
    }

    fn add_count(&mut self, value: u64, times: u64) -> Result<(), ProfileError> {
        let value = if self.rounded { round_up(value) } else { value };
        let slot = self.counts.entry(value).or_insert(0);
        *slot = slot.checked_add(times).ok_or(ProfileError::Overflow {
            what: "observation counts",
        })?;
        if !self.rounded && self.counts.len() > MAX_DISTINCT {
            self.coarsen()?;
        }
        Ok(())
    }

    fn coarsen(&mut self) -> Result<(), ProfileError> {
        let exact = std::mem::take(&mut self.counts);
        self.rounded = true;
        for (value, times) in exact {
            self.add_count(value, times)?;
        }
        Ok(())
    }

    /// Adds another histogram's observations.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), ProfileError> {
        if other.rounded && !self.rounded {
            self.coarsen()?;
        }
        for (&value, &times) in &other.counts {
            self.add_count(value, times)?;
        }
        Ok(())
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.counts
            .values()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// The nearest-rank `p`-th percentile: the smallest value with at least `p`% of the
    /// observations at or below it. `None` without observations.
    pub fn percentile(&self, p: u64) -> Option<u64> {
        let n = u128::from(self.count());
        if n == 0 {
            return None;
        }
        let rank = (u128::from(p.min(100)) * n).div_ceil(100).max(1);
        let mut seen = 0u128;
        self.counts.iter().find_map(|(&value, &times)| {
            seen += u128::from(times);
            (seen >= rank).then_some(value)
        })
    }

    pub fn max(&self) -> Option<u64> {
        self.counts.keys().next_back().copied()
    }

    /// Value → times seen, ascending.
    pub fn counts(&self) -> &BTreeMap<u64, u64> {
        &self.counts
    }

    /// Values were rounded up to two significant digits.
    pub fn rounded(&self) -> bool {
        self.rounded
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// What was observed of one endpoint (in one source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub rows_per_target: Histogram,
    pub pages_per_target: Histogram,
}

impl Usage {
    fn merge(&mut self, other: &Usage) -> Result<(), ProfileError> {
        self.rows_per_target.merge(&other.rows_per_target)?;
        self.pages_per_target.merge(&other.pages_per_target)
    }
}

/// An endpoint, and the regional database for endpoints that take one.
pub type UsageKey = (String, Option<String>);

/// A usage profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub usage: BTreeMap<UsageKey, Usage>,
    /// Digests of the journals observed (oldest first), see [`JournalRead::digest`].
    pub journals: Vec<String>,
}

/// A journal's observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub path: PathBuf,
    pub digest: String,
    pub profile: Profile,
}

/// What [`Profile::add`] did with each journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    pub added: Vec<PathBuf>,
    /// Journals the profile already holds (same content): not added again.
    pub skipped: Vec<PathBuf>,
}

impl Profile {
    /// Adds another profile's observations and journals.
    pub fn merge(&mut self, other: &Profile) -> Result<(), ProfileError> {
        for (key, usage) in &other.usage {
            self.usage.entry(key.clone()).or_default().merge(usage)?;
        }
        for digest in &other.journals {
            if !self.journals.contains(digest) {
                self.journals.push(digest.clone());
            }
        }
        let excess = self.journals.len().saturating_sub(MAX_JOURNALS);
        self.journals.drain(..excess);
        Ok(())
    }

    /// Adds journals' observations, except those of journals already in the profile.
    pub fn add(&mut self, observed: &[Observed]) -> Result<Added, ProfileError> {
        let mut added = Added::default();
        for o in observed {
            if self.journals.contains(&o.digest) {
                added.skipped.push(o.path.clone());
            } else {
                self.merge(&o.profile)?;
                added.added.push(o.path.clone());
            }
        }
        Ok(added)
    }

    /// Rows per target observed for `endpoint` in `source`, falling back to the calls that named
    /// no source.
    pub fn rows(&self, endpoint: &str, source: Option<&str>) -> Option<&Histogram> {
        let find = |source: Option<&str>| {
            self.usage
                .get(&(endpoint.to_string(), source.map(str::to_string)))
                .map(|u| &u.rows_per_target)
                .filter(|h| !h.is_empty())
        };
        source.and_then(|s| find(Some(s))).or_else(|| find(None))
    }
}

/// The key of a paged listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ListingKey {
    workflow: Option<String>,
    step: Option<String>,
    endpoint: String,
    source: Option<String>,
    target_hash: String,
}

struct Listing {
    /// The journal it began in.
    journal: usize,
    /// `None` once a page did not show its rows.
    rows: Option<u64>,
    pages: u64,
    /// Its first page was not seen: not observed.
    partial: bool,
}

/// Builds the observations of journals as their calls stream by.
pub struct ProfileBuilder<'a> {
    pricing: &'a Pricing,
    /// Observations by the journal their listing began in.
    journals: Vec<Observed>,
    current: Profile,
    open: HashMap<ListingKey, Listing>,
}

impl<'a> ProfileBuilder<'a> {
    pub fn new(pricing: &'a Pricing) -> ProfileBuilder<'a> {
        ProfileBuilder {
            pricing,
            journals: Vec::new(),
            current: Profile::default(),
            open: HashMap::new(),
        }
    }

    fn usage(&mut self, journal: usize, key: UsageKey) -> &mut Usage {
        let profile = if journal < self.journals.len() {
            &mut self.journals[journal].profile
        } else {
            &mut self.current
        };
        profile.usage.entry(key).or_default()
    }

    fn close(&mut self, key: &ListingKey, listing: Listing) -> Result<(), ProfileError> {
        if listing.partial {
            return Ok(());
        }
        let usage = self.usage(listing.journal, (key.endpoint.clone(), key.source.clone()));
        usage.pages_per_target.add(listing.pages)?;
        if let Some(rows) = listing.rows {
            usage.rows_per_target.add(rows)?;
        }
        Ok(())
    }

    fn observe(&mut self, call: &Call) -> Result<(), ProfileError> {
        if !call.is_charged() || call.targets.unwrap_or(1) > 1 {
            return Ok(());
        }
        let Some(endpoint) = self.pricing.endpoint(&call.endpoint) else {
            return Ok(());
        };
        if endpoint.record != RecordKind::Row {
            return Ok(());
        }
        let key = (endpoint.name.clone(), call.source.clone());
        let journal = self.journals.len();
        if !endpoint.paged {
            if let Some(rows) = call.rows {
                self.usage(journal, key).rows_per_target.add(rows)?;
            }
            return Ok(());
        }
        let Some(target_hash) = &call.target_hash else {
            return Ok(());
        };
        let listing_key = ListingKey {
            workflow: call.workflow.clone(),
            step: call.step.clone(),
            endpoint: key.0,
            source: key.1,
            target_hash: target_hash.clone(),
        };
        if call.continues {
            if let Some(listing) = self.open.get_mut(&listing_key) {
                listing.pages = listing.pages.saturating_add(1);
                listing.rows = listing
                    .rows
                    .zip(call.rows)
                    .and_then(|(sum, rows)| sum.checked_add(rows));
                return Ok(());
            }
        }
        let listing = Listing {
            journal,
            rows: call.rows,
            pages: 1,
            partial: call.continues,
        };
        if let Some(previous) = self.open.insert(listing_key.clone(), listing) {
            self.close(&listing_key, previous)?;
        }
        Ok(())
    }

    /// The observations of each journal, open listings closed.
    pub fn finish(mut self) -> Result<Vec<Observed>, ProfileError> {
        let open: Vec<(ListingKey, Listing)> = self.open.drain().collect();
        for (key, listing) in open {
            self.close(&key, listing)?;
        }
        Ok(self.journals)
    }
}

impl Sink for ProfileBuilder<'_> {
    fn add(&mut self, call: &Call) -> Result<(), &'static str> {
        self.observe(call).map_err(|_| "observations")
    }

    fn end_journal(&mut self, read: &JournalRead) {
        let mut profile = std::mem::take(&mut self.current);
        profile.journals = vec![read.digest.clone()];
        self.journals.push(Observed {
            path: read.path.clone(),
            digest: read.digest.clone(),
            profile,
        });
    }
}

/// Reads a profile; every problem is reported at once.
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let bytes = files::read(path, FileKind::Profile)?;
    let text = String::from_utf8_lossy(files::strip_bom(&bytes));
    parse(path, &text)
}

/// Parses a profile's text.
pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| ProfileError::Syntax {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut p = Problems(Vec::new());
    let profile = p.profile(&root);
    if p.0.is_empty() {
        Ok(profile)
    } else {
        Err(ProfileError::Shape {
            path: path.to_path_buf(),
            problems: p.0,
        })
    }
}

struct Problems(Vec<String>);

impl Problems {
    /// The entries of a mapping with string keys; other keys are problems.
    fn mapping<'v>(&mut self, value: &'v Value, at: &str) -> Vec<(String, &'v Value)> {
        let Some(map) = value.as_mapping() else {
            self.0.push(format!("`{at}` is not a mapping"));
            return Vec::new();
        };
        let mut entries = Vec::new();
        for (k, v) in map {
            match k {
                Value::String(s) => entries.push((s.clone(), v)),
                Value::Number(n) => entries.push((n.to_string(), v)),
                other => self.0.push(format!(
                    "`{at}` has the key {}; keys are names",
                    crate::yaml_inline(other)
                )),
            }
        }
        entries
    }

    fn unknown(&mut self, at: &str, key: &str, known: &[&str]) {
        self.0.push(format!(
            "`{at}.{key}` is not a profile field (known: {})",
            known.join(", ")
        ));
    }

    fn profile(&mut self, root: &Value) -> Profile {
        let mut profile = Profile::default();
        if root.is_null() {
            return profile;
        }
        for (key, value) in self.mapping(root, "profile") {
            match key.as_str() {
                "version" => {
                    if value.as_u64() != Some(VERSION) {
                        self.0.push(format!(
                            "`version` is {}; this budget reads version {VERSION}",
                            crate::yaml_inline(value)
                        ));
                    }
                }
                "journals" => match value.as_sequence() {
                    Some(list) => {
                        for item in list {
                            match item.as_str() {
                                Some(d) => profile.journals.push(d.to_string()),
                                None => self
                                    .0
                                    .push("`journals` holds something other than digests".into()),
                            }
                        }
                    }
                    None if value.is_null() => {}
                    None => self.0.push("`journals` is not a list".into()),
                },
                "endpoints" if value.is_null() => {}
                "endpoints" => {
                    for (endpoint, entry) in self.mapping(value, "endpoints") {
                        self.endpoint(&mut profile, &endpoint, entry);
                    }
                }
                other => self.unknown("profile", other, &["version", "journals", "endpoints"]),
            }
        }
        profile
    }

    fn endpoint(&mut self, profile: &mut Profile, endpoint: &str, entry: &Value) {
        let at = format!("endpoints.{endpoint}");
        for (key, value) in self.mapping(entry, &at) {
            match key.as_str() {
                "sources" => {
                    for (source, usage) in self.mapping(value, &format!("{at}.sources")) {
                        let at = format!("{at}.sources.{source}");
                        let usage = self.usage(usage, &at);
                        profile
                            .usage
                            .insert((endpoint.to_string(), Some(source)), usage);
                    }
                }
                "rows_per_target" | "pages_per_target" => {}
                other => self.unknown(
                    &at,
                    other,
                    &["rows_per_target", "pages_per_target", "sources"],
                ),
            }
        }
        let mut own = Usage::default();
        if let Some(h) = entry.get("rows_per_target") {
            own.rows_per_target = self.histogram(h, &format!("{at}.rows_per_target"));
        }
        if let Some(h) = entry.get("pages_per_target") {
            own.pages_per_target = self.histogram(h, &format!("{at}.pages_per_target"));
        }
        if own != Usage::default() {
            profile.usage.insert((endpoint.to_string(), None), own);
        }
    }

    fn usage(&mut self, value: &Value, at: &str) -> Usage {
        let mut usage = Usage::default();
        for (key, value) in self.mapping(value, at) {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "rows_per_target" => usage.rows_per_target = self.histogram(value, &here),
                "pages_per_target" => usage.pages_per_target = self.histogram(value, &here),
                other => self.unknown(at, other, &["rows_per_target", "pages_per_target"]),
            }
        }
        usage
    }

    fn histogram(&mut self, value: &Value, at: &str) -> Histogram {
        let mut h = Histogram::default();
        let mut stated = Vec::new();
        let mut observed = None;
        for (key, v) in self.mapping(value, at) {
            match key.as_str() {
                "observed" => observed = Some(v),
                "rounded" => h.rounded = v.as_bool().unwrap_or(false),
                "count" | "p50" | "p90" | "max" => stated.push((key, v)),
                other => self.unknown(
                    at,
                    other,
                    &["count", "p50", "p90", "max", "rounded", "observed"],
                ),
            }
        }
        let Some(observed) = observed else {
            self.0.push(format!(
                "`{at}` has no `observed` values (the summary is computed from them)"
            ));
            return h;
        };
        for (value, times) in self.mapping(observed, &format!("{at}.observed")) {
            match (value.parse::<u64>(), times.as_u64()) {
                (Ok(value), Some(times)) if times > 0 => {
                    if h.counts.insert(value, times).is_some() {
                        self.0
                            .push(format!("`{at}.observed` lists {value} twice"));
                    }
                }
                _ => self.0.push(format!(
                    "`{at}.observed`: `{value}: {}` is not a value and the number of times it was seen (1 or more)",
                    crate::yaml_inline(times)
                )),
            }
        }
        for (key, v) in stated {
            let computed = match key.as_str() {
                "count" => Some(h.count()),
                "p50" => h.percentile(50),
                "p90" => h.percentile(90),
                _ => h.max(),
            };
            if v.as_u64() != computed {
                self.0.push(format!(
                    "`{at}.{key}` is {} but `observed` gives {}; the summary is computed from `observed`: fix or delete it",
                    crate::yaml_inline(v),
                    computed.map_or_else(|| "nothing".to_string(), |c| c.to_string())
                ));
            }
        }
        h
    }
}

/// A step whose expected band now comes from the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub workflow: usize,
    pub step: usize,
    /// The expected rows per target set: the p90, at most the step's `rows`.
    pub expected_rows: u64,
    /// The largest p90 among the step's sources.
    pub p90: u64,
    /// Targets observed (in all the step's sources).
    pub observations: u64,
}

/// A row step without `expected_rows` that the profile could not fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplied {
    pub workflow: usize,
    pub step: usize,
    pub endpoint: String,
    /// The sources with no observations (empty: the endpoint takes none).
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Application {
    pub applied: Vec<Applied>,
    pub not_applied: Vec<NotApplied>,
}

/// Sets `expected_rows` of the row steps that state none from the profile's p90 rows per target
/// (every source of the step must have observations; the largest p90 is taken, capped at the
/// step's `rows`). The worst case (`rows`) is never touched.
pub fn apply(workflows: &mut [Workflow], profile: &Profile) -> Application {
    let mut app = Application::default();
    for (w, workflow) in workflows.iter_mut().enumerate() {
        for (s, step) in workflow.steps.iter_mut().enumerate() {
            let Some(rows) = step.rows else { continue };
            if step.expected_rows.is_some() {
                continue;
            }
            let endpoint = step.endpoint.name.clone();
            let sources: Vec<Option<&str>> = if step.sources.is_empty() {
                vec![None]
            } else {
                step.sources.iter().map(|s| Some(s.as_str())).collect()
            };
            let mut p90 = 0u64;
            let mut observations = 0u64;
            let mut missing = Vec::new();
            for source in &sources {
                match profile
                    .rows(&endpoint, *source)
                    .and_then(|h| Some((h.percentile(90)?, h.count())))
                {
                    Some((p, n)) => {
                        p90 = p90.max(p);
                        observations = observations.saturating_add(n);
                    }
                    None => missing.push(source.unwrap_or_default().to_string()),
                }
            }
            if missing.is_empty() {
                let expected_rows = p90.min(rows);
                step.expected_rows = Some(expected_rows);
                app.applied.push(Applied {
                    workflow: w,
                    step: s,
                    expected_rows,
                    p90,
                    observations,
                });
            } else {
                missing.retain(|m| !m.is_empty());
                app.not_applied.push(NotApplied {
                    workflow: w,
                    step: s,
                    endpoint,
                    missing,
                });
            }
        }
    }
    app
}

/// Marks the steps of `forecasts` whose expected band came from the profile.
pub fn mark(forecasts: &mut [WorkflowEstimate], applied: &[Applied]) {
    for a in applied {
        if let Some(step) = forecasts
            .get_mut(a.workflow)
            .and_then(|w| w.steps.get_mut(a.step))
        {
            step.expected_from = Some(ExpectedFrom::Profile);
        }
    }
}

#[cfg(test)]
mod tests;
