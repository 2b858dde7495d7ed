//! Every problem a workflow file can have: one variant each, with named fields, a stable code
//! (`W001`…) and its wording — all here, so the messages read alike and a code never changes
//! meaning. The codes are listed in docs/diagnostics.md (a test keeps the two equal).
//!
//! Adding a check: add a variant at the end of [`Diagnostic`] with the next free code in
//! [`Diagnostic::code`], word it in `Display`, list it in docs/diagnostics.md and in the test's
//! sample list below; then raise it from the validation with `Check::problem`. A code is never
//! reused, even when its check is removed.
//!
//! Layer 2 (workflow): no I/O, no output; `report` renders these.

use std::fmt;
use std::path::PathBuf;

use super::target_count::{TargetsError, MAX_LINE};
use crate::files::FileError;

/// A diagnostic's stable code, shown as `W001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub u16);

impl Code {
    /// [`Diagnostic::Unreadable`]'s code, also shown by [`WorkflowError::Read`].
    pub const UNREADABLE: Self = Self(1);
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "W{:03}", self.0)
    }
}

/// Whether a diagnostic stops the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One thing wrong with (or worth saying about) a workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnostic {
    // ---- the file and its YAML ----------------------------------------------------------
    /// The workflow file cannot be read (missing, a directory, a device, too large).
    Unreadable {
        reason: String,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        line: usize,
    },
    /// Nested deeper than the scan allows (`outline::MAX_DEPTH`).
    TooDeep {
        max: usize,
    },
    /// serde_yaml refused the text.
    Syntax {
        message: String,
    },
    /// A key set twice in one mapping.
    DuplicateKey {
        key: String,
    },
    /// A custom tag such as `!foo`.
    CustomTag {
        tag: String,
    },
    /// A YAML merge key (`<<: *base`).
    MergeKey,
    /// The document is not a mapping.
    NotAWorkflow {
        found: String,
    },
    // ---- fields of any mapping ------------------------------------------------------------
    /// A key not in the mapping's field list.
    UnknownField {
        suggestion: Option<&'static str>,
        known: &'static [&'static str],
    },
    /// A field that takes text holds something else.
    ExpectedText {
        found: String,
    },
    /// A count that does not parse (`count::parse` says why).
    BadCount {
        reason: String,
    },
    /// A count below the field's minimum.
    CountBelow {
        min: u64,
        found: u64,
    },
    // ---- top-level fields -----------------------------------------------------------------
    UnsupportedVersion {
        found: String,
    },
    BadSchedule {
        reason: String,
    },
    // ---- account and budget ---------------------------------------------------------------
    AccountNotMapping,
    TierMissing {
        tiers: String,
    },
    UnknownTier {
        tier: String,
        tiers: String,
    },
    UnknownBilling {
        billing: String,
    },
    UnknownOverage {
        overage: String,
    },
    BadRate {
        reason: String,
    },
    EnterpriseWithoutRate,
    BudgetNotMapping,
    BadReserve {
        reason: String,
    },
    ReserveWrongType {
        found: String,
    },
    RpsTooLarge {
        rps: u64,
    },
    // ---- steps and endpoints --------------------------------------------------------------
    NoSteps,
    StepsNotAList {
        found: String,
    },
    StepNotMapping,
    EndpointMissing,
    EndpointNotText,
    UnknownEndpoint {
        endpoint: String,
        suggestion: Option<String>,
    },
    BatchAboveMax {
        batch: u64,
        endpoint: String,
        max_batch: u64,
    },
    /// `rows`, `expected_rows` or `limit` on an endpoint billed per target.
    NotARowEndpoint {
        endpoint: String,
        field: &'static str,
    },
    RowsAboveMax {
        rows: u64,
        endpoint: String,
        max: u64,
        /// An endpoint that pages, to suggest instead.
        paged_alternative: Option<&'static str>,
    },
    LimitAboveMax {
        limit: u64,
        endpoint: String,
        max: u64,
    },
    LimitBelowRows {
        endpoint: String,
        limit: u64,
        rows: u64,
    },
    ExpectedAboveRows {
        expected: u64,
        rows: u64,
    },
    // ---- regional databases ---------------------------------------------------------------
    SourceAndSources,
    EmptySources,
    SourceNotText {
        found: String,
    },
    UnknownSource {
        code: String,
        suggestion: Option<String>,
    },
    SourceNotTaken {
        endpoint: String,
        field: String,
    },
    SourceMissing {
        endpoint: String,
    },
    SourceTwice {
        code: String,
    },
    // ---- targets --------------------------------------------------------------------------
    NoTargets,
    BadTargetCount {
        reason: String,
    },
    TargetNotText,
    EmptyTargetList,
    BlankTarget {
        number: usize,
    },
    TargetsWrongType {
        found: String,
    },
    TargetsFileMissing,
    /// The targets file cannot be opened: missing, not a regular file.
    TargetsFileUnreadable {
        error: FileError,
    },
    TargetsFileEmpty {
        path: String,
    },
    /// A warning: targets listed more than once.
    DuplicateTargets {
        origin: String,
        duplicates: u64,
    },
    /// The targets file is not a list of targets (encoding, binary bytes, a line too long).
    BadTargetsFile {
        path: String,
        error: TargetsError,
    },
    /// More mappings and lists than the scan allows (`outline::MAX_COLLECTIONS`).
    TooManyCollections {
        max: usize,
    },
    // ---- prices and date ranges -----------------------------------------------------------
    /// An endpoint whose price no source publishes (`units: unknown` in the catalogue).
    PriceUnknown {
        endpoint: String,
    },
    /// `date_from`, `date_to` or `granularity` on an endpoint without a date range.
    NotARangeEndpoint {
        endpoint: String,
        field: &'static str,
    },
    /// A date that is not `YYYY-MM-DD`.
    BadDate {
        found: String,
    },
    /// One end of a date range without the other.
    HalfRange {
        missing: &'static str,
    },
    /// A range that ends before it starts.
    DatesBackwards {
        from: String,
        to: String,
    },
    /// A granularity other than by_day, by_week or by_month.
    BadGranularity {
        found: String,
    },
    /// `granularity` on an endpoint that returns a row per day whatever is asked.
    GranularityNotTaken {
        endpoint: String,
    },
    /// Two spellings of one regional database (`uk` and `gb`).
    SameDatabase {
        first: String,
        second: String,
        code: String,
    },
}

impl Diagnostic {
    /// The stable code. Never reuse a number.
    pub fn code(&self) -> Code {
        use Diagnostic as D;
        Code(match self {
            D::Unreadable { .. } => Code::UNREADABLE.0,
            D::NotUtf8 { .. } => 2,
            D::TooDeep { .. } => 3,
            D::Syntax { .. } => 4,
            D::DuplicateKey { .. } => 5,
            D::CustomTag { .. } => 6,
            D::MergeKey => 7,
            D::NotAWorkflow { .. } => 8,
            D::UnknownField { .. } => 9,
            D::ExpectedText { .. } => 10,
            D::BadCount { .. } => 11,
            D::CountBelow { .. } => 12,
            D::UnsupportedVersion { .. } => 13,
            D::BadSchedule { .. } => 14,
            D::AccountNotMapping => 15,
            D::TierMissing { .. } => 16,
            D::UnknownTier { .. } => 17,
            D::UnknownBilling { .. } => 18,
            D::UnknownOverage { .. } => 19,
            D::BadRate { .. } => 20,
            D::EnterpriseWithoutRate => 21,
            D::BudgetNotMapping => 22,
            D::BadReserve { .. } => 23,
            D::ReserveWrongType { .. } => 24,
            D::RpsTooLarge { .. } => 25,
            D::NoSteps => 26,
            D::StepsNotAList { .. } => 27,
            D::StepNotMapping => 28,
            D::EndpointMissing => 29,
            D::EndpointNotText => 30,
            D::UnknownEndpoint { .. } => 31,
            D::BatchAboveMax { .. } => 32,
            D::NotARowEndpoint { .. } => 33,
            D::RowsAboveMax { .. } => 34,
            D::LimitAboveMax { .. } => 35,
            D::LimitBelowRows { .. } => 36,
            D::ExpectedAboveRows { .. } => 37,
            D::SourceAndSources => 38,
            D::EmptySources => 39,
            D::SourceNotText { .. } => 40,
            D::UnknownSource { .. } => 41,
            D::SourceNotTaken { .. } => 42,
            D::SourceMissing { .. } => 43,
            D::SourceTwice { .. } => 44,
            D::NoTargets => 45,
            D::BadTargetCount { .. } => 46,
            D::TargetNotText => 47,
            D::EmptyTargetList => 48,
            D::BlankTarget { .. } => 49,
            D::TargetsWrongType { .. } => 50,
            D::TargetsFileMissing => 51,
            D::TargetsFileUnreadable { .. } => 52,
            D::TargetsFileEmpty { .. } => 53,
            D::DuplicateTargets { .. } => 54,
            D::BadTargetsFile { .. } => 55,
            D::TooManyCollections { .. } => 56,
            D::PriceUnknown { .. } => 57,
            D::NotARangeEndpoint { .. } => 58,
            D::BadDate { .. } => 59,
            D::HalfRange { .. } => 60,
            D::DatesBackwards { .. } => 61,
            D::BadGranularity { .. } => 62,
            D::GranularityNotTaken { .. } => 63,
            D::SameDatabase { .. } => 64,
        })
    }

    pub fn severity(&self) -> Severity {
        match self {
            Self::DuplicateTargets { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// Problems with the file as a whole (it could not be read or parsed): printed on their own
    /// rather than in a list.
    pub fn is_document(&self) -> bool {
        matches!(
            self,
            Self::Unreadable { .. }
                | Self::NotUtf8 { .. }
                | Self::TooDeep { .. }
                | Self::TooManyCollections { .. }
                | Self::Syntax { .. }
                | Self::DuplicateKey { .. }
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Diagnostic as D;
        match self {
            D::Unreadable { reason } => f.write_str(reason),
            D::NotUtf8 { line } => write!(
                f,
                "the file is not UTF-8 text (line {line}); save it as UTF-8"
            ),
            D::TooDeep { max } => write!(
                f,
                "nested more than {max} levels deep; a workflow needs 4 (workflow, steps, step, targets)"
            ),
            D::Syntax { message } => write!(f, "invalid YAML: {message}"),
            D::DuplicateKey { key } => write!(
                f,
                "invalid YAML: `{key}` is set twice in one mapping; keep one",
                key = Clip(key)
            ),
            D::CustomTag { tag } => write!(
                f,
                "the custom tag `{tag}` is not supported; remove it (workflow values are plain YAML)",
                tag = Clip(tag)
            ),
            D::MergeKey => f.write_str(
                "merge keys (`<<`) are not supported; write the fields out in each place",
            ),
            D::NotAWorkflow { found } => write!(
                f,
                "a workflow is a mapping with a `steps` list, found {found}",
                found = Clip(found)
            ),
            D::UnknownField { suggestion, known } => match suggestion {
                Some(near) => write!(f, "unknown field; did you mean `{near}`?"),
                None => write!(f, "unknown field; known fields: {}", known.join(", ")),
            },
            D::ExpectedText { found } => write!(f, "expected text, found {}", Clip(found)),
            D::BadCount { reason } => f.write_str(reason),
            D::CountBelow { min, found } => write!(f, "must be at least {min}, found {found}"),
            D::UnsupportedVersion { found } => {
                write!(f, "unsupported version {}; 1 is the only version", Clip(found))
            }
            D::BadSchedule { reason } => f.write_str(reason),
            D::AccountNotMapping => {
                f.write_str("must be a mapping such as `{tier: 1M, billing: monthly}`")
            }
            D::TierMissing { tiers } => write!(f, "missing; use one of: {tiers}"),
            D::UnknownTier { tier, tiers } => {
                write!(f, "unknown tier `{}`; use one of: {tiers}", Clip(tier))
            }
            D::UnknownBilling { billing } => {
                write!(f, "unknown billing `{}`; use monthly or yearly", Clip(billing))
            }
            D::UnknownOverage { overage } => {
                write!(
                    f,
                    "unknown overage `{}`; use off (the default), plan or addon",
                    Clip(overage)
                )
            }
            D::BadRate { reason } => f.write_str(reason),
            D::EnterpriseWithoutRate => f.write_str(
                "enterprise overage is priced by contract: set `usd_per_million` to your rate (e.g. \"30.00\")",
            ),
            D::BudgetNotMapping => {
                f.write_str("must be a mapping such as `{max_units: 50000, reserve: 10%}`")
            }
            D::BadReserve { reason } => f.write_str(reason),
            D::ReserveWrongType { found } => {
                write!(f, "expected units or a percentage, found {}", Clip(found))
            }
            D::RpsTooLarge { rps } => {
                write!(f, "{rps} requests per second is more than any API allows")
            }
            D::NoSteps => f.write_str(
                "the workflow has no steps; add a `steps:` list with at least one `- endpoint: …`",
            ),
            D::StepsNotAList { found } => write!(f, "must be a list of steps, found {}", Clip(found)),
            D::StepNotMapping => f.write_str("a step is a mapping with at least `endpoint: …`"),
            D::EndpointMissing => f.write_str(
                "missing; name the API endpoint, e.g. `endpoint: backlinks/summary`",
            ),
            D::EndpointNotText => {
                f.write_str("expected an endpoint path such as backlinks/summary")
            }
            D::UnknownEndpoint {
                endpoint,
                suggestion,
            } => match suggestion {
                Some(near) => write!(
                    f,
                    "unknown endpoint `{}`; did you mean `{near}`?",
                    Clip(endpoint)
                ),
                None => write!(
                    f,
                    "unknown endpoint `{}`; run `budget prices` for the catalogue",
                    Clip(endpoint)
                ),
            },
            D::BatchAboveMax {
                batch,
                endpoint,
                max_batch,
            } => write!(
                f,
                "{batch} targets per request is above {endpoint}'s max_batch of {max_batch}; set batch to {max_batch} or less"
            ),
            D::NotARowEndpoint { endpoint, field } => write!(
                f,
                "{endpoint} returns one record per target, not rows; remove `{field}` (use `targets` and `batch`)"
            ),
            D::RowsAboveMax {
                rows,
                endpoint,
                max,
                paged_alternative,
            } => {
                write!(
                    f,
                    "{rows} rows per target is above the {max} that {endpoint} returns (it is not paged); set rows to {max} or less"
                )?;
                match paged_alternative {
                    Some(paged) => write!(f, ", or use {paged}, which pages"),
                    None => Ok(()),
                }
            }
            D::LimitAboveMax {
                limit,
                endpoint,
                max,
            } => write!(
                f,
                "{limit} rows per request is above {endpoint}'s maximum of {max}; set limit to {max} or less"
            ),
            D::LimitBelowRows {
                endpoint,
                limit,
                rows,
            } => write!(
                f,
                "{endpoint} is not paged, so one request per target returns at most {limit} rows, fewer than rows {rows}; raise limit to {rows} or lower rows"
            ),
            D::ExpectedAboveRows { expected, rows } => write!(
                f,
                "{expected} is more than rows {rows}; expected_rows is the likely case and rows the worst case, so expected_rows ≤ rows"
            ),
            D::SourceAndSources => f.write_str("both `source` and `sources` are set; keep one"),
            D::EmptySources => {
                f.write_str("the list is empty; name at least one regional database")
            }
            D::SourceNotText { found } => {
                write!(f, "expected a regional database code, found {}", Clip(found))
            }
            D::UnknownSource { code, suggestion } => {
                write!(f, "unknown regional database `{}`; ", Clip(code))?;
                if let Some(near) = suggestion {
                    write!(f, "did you mean `{near}`? ")?;
                }
                f.write_str("use a two-letter country code such as us, de or uk, or ww (`budget prices` lists them)")
            }
            D::SourceNotTaken { endpoint, field } => write!(
                f,
                "{endpoint} takes no regional database (`source`); remove `{field}` from this step"
            ),
            D::SourceMissing { endpoint } => write!(
                f,
                "{endpoint} needs a regional database; add `source: us` (or another code) to this step or to the workflow"
            ),
            D::SourceTwice { code } => {
                write!(f, "`{}` is listed twice; each source runs the step once", Clip(code))
            }
            D::NoTargets => {
                f.write_str("must be at least 1 (remove the step if it has nothing to do)")
            }
            D::BadTargetCount { reason } => write!(
                f,
                "{reason}; or give a list of targets, or `{{file: targets.txt}}`"
            ),
            D::TargetNotText => {
                f.write_str("every target in the list must be text (a domain, host or URL)")
            }
            D::EmptyTargetList => f.write_str("the list is empty; give at least one target"),
            D::BlankTarget { number } => write!(
                f,
                "target #{number} is empty; remove it or write the domain"
            ),
            D::TargetsWrongType { found } => write!(
                f,
                "expected a count, a list or `{{file: path}}`, found {}",
                Clip(found)
            ),
            D::TargetsFileMissing => {
                f.write_str("missing; write `targets: {file: path/to/targets.txt}`")
            }
            D::TargetsFileUnreadable { error } => match error {
                FileError::Io { .. } => {
                    write!(f, "{error} (the path is relative to the workflow file)")
                }
                _ => write!(f, "{error}"),
            },
            D::BadTargetsFile { path, error } => write!(f, "the targets file {path}: {error}"),
            D::TooManyCollections { max } => write!(
                f,
                "holds more than {} mappings and lists; a workflow needs about one per step",
                crate::count::thousands(*max as u64)
            ),
            D::TargetsFileEmpty { path } => {
                write!(f, "{path} lists no targets (only blank lines or # comments)")
            }
            D::DuplicateTargets { origin, duplicates } => {
                let n = *duplicates;
                write!(
                    f,
                    "{origin} repeats {n} target{}; {} counted (and paid) as many times as listed",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it is" } else { "they are" }
                )
            }
            D::PriceUnknown { endpoint } => write!(
                f,
                "the price of {endpoint} is unknown (no source publishes it); set it in a pricing overlay, {}, holding `endpoints: {{{endpoint}: {{units: N, evidence: docs, ref: \"where the figure comes from\"}}}}`, or remove the step",
                crate::pricing::OVERLAY_FLAG
            ),
            D::NotARangeEndpoint { endpoint, field } => write!(
                f,
                "{endpoint} takes no date range; remove `{field}`"
            ),
            D::BadDate { found } => write!(
                f,
                "{} is not a date; write it like 2026-10-01",
                Clip(found)
            ),
            D::HalfRange { missing } => write!(
                f,
                "a date range needs both ends: add `{missing}`, or remove both for the endpoint's default range"
            ),
            D::DatesBackwards { from, to } => write!(
                f,
                "the range ends ({to}) before it starts ({from}); set date_from on or before date_to"
            ),
            D::BadGranularity { found } => write!(
                f,
                "{} is not a granularity; use {}",
                Clip(found),
                crate::pricing::GRANULARITIES
            ),
            D::GranularityNotTaken { endpoint } => write!(
                f,
                "{endpoint} returns a row per day whatever the granularity; remove `granularity`"
            ),
            D::SameDatabase {
                first,
                second,
                code,
            } => write!(
                f,
                "`{}` and `{}` are the same regional database ({code}); each source runs the step once, so keep one",
                Clip(first),
                Clip(second)
            ),
        }
    }
}

/// Why a targets file is refused, after "the targets file PATH: ".
impl fmt::Display for TargetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ONE_PER_LINE: &str = "a targets file lists one domain, host or URL per line";
        match self {
            Self::Io { reason } => write!(f, "cannot read it: {reason}"),
            Self::Utf16 => f.write_str(
                "is UTF-16 text (what PowerShell's `>` writes); save it as UTF-8, e.g. `Out-File -Encoding utf8`",
            ),
            Self::Utf32 => f.write_str("is UTF-32 text; save it as UTF-8"),
            Self::Nul { line } => write!(
                f,
                "line {line} holds a NUL byte: is it a binary or UTF-16 file? {ONE_PER_LINE}, as UTF-8 text"
            ),
            Self::NotUtf8 { line } => {
                write!(f, "line {line} is not UTF-8 text; save the file as UTF-8")
            }
            Self::Control { line, found } => write!(
                f,
                "line {line} holds the control character {found}; {ONE_PER_LINE}"
            ),
            Self::TooLong { line } => write!(
                f,
                "line {line} is longer than {MAX_LINE} bytes; {ONE_PER_LINE}"
            ),
        }
    }
}

/// A value from the file as messages show it: at most [`Clip::MAX`] characters, cut with `…`.
/// A 1 MB endpoint name is a typo of nothing, and a message a megabyte long helps nobody.
pub struct Clip<'a>(pub &'a str);

impl Clip<'_> {
    pub const MAX: usize = 80;
}

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(Self::MAX) {
            Some((cut, _)) => write!(f, "{}…", &self.0[..cut]),
            None => f.write_str(self.0),
        }
    }
}

/// Where in a workflow a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    /// 1-based, as a person counts.
    pub number: usize,
    pub name: String,
}

/// A diagnostic and where it is: the file, the step, the field and the field's own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub step: Option<StepRef>,
    /// The field as written in the file (`batch`, `account.tier`, `targets.file`); empty for
    /// the step or the file as a whole.
    pub field: String,
    /// 1-based line, when known (for CI annotations).
    pub line: Option<usize>,
    /// 1-based column, when known (YAML syntax errors).
    pub column: Option<usize>,
    pub diagnostic: Diagnostic,
}

impl Problem {
    pub fn code(&self) -> Code {
        self.diagnostic.code()
    }

    /// The diagnostic's text alone.
    pub fn message(&self) -> String {
        self.diagnostic.to_string()
    }

    /// Everything but the file and line: `step 1 (x): field `batch`: … [W032]`. CI annotations
    /// carry the file and line as properties and this as their text.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(step) = &self.step {
            text.push_str(&format!("step {} ({}): ", step.number, Clip(&step.name)));
        }
        if !self.field.is_empty() {
            text.push_str(&format!("field `{}`: ", Clip(&self.field)));
        }
        text.push_str(&format!("{} [{}]", self.diagnostic, self.code()));
        text
    }
}

/// `file:line:column: step …: field `…`: message [Wnnn]`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.describe())
    }
}

/// Something worth telling the user that does not stop the plan.
pub type Warning = Problem;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The file cannot be read at all (missing, not a regular file, too large).
    #[error("{source} [{}]", Code::UNREADABLE)]
    Read { source: FileError },
    /// Problems in the text, never an empty list.
    #[error("{}", invalid(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// At most this many problems of one file are listed (and annotated in CI); the rest are
/// counted. A broken 4 MiB file can hold 100,000 problems, and nobody reads past the first.
pub const MAX_SHOWN: usize = 100;

/// One problem with the whole document alone; otherwise a counted list.
fn invalid(path: &std::path::Path, problems: &[Problem]) -> String {
    if let [only] = problems {
        if only.diagnostic.is_document() {
            return only.to_string();
        }
    }
    let mut text = format!(
        "{} problem{} in {}:\n{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        path.display(),
        problems
            .iter()
            .take(MAX_SHOWN)
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if problems.len() > MAX_SHOWN {
        text.push_str(&format!(
            "\n  … and {} more (fix these first)",
            problems.len() - MAX_SHOWN
        ));
    }
    text
}

impl WorkflowError {
    /// The problems with a location, for CI annotations: the first [`MAX_SHOWN`].
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Read { source } => vec![Problem {
                path: source.path().to_path_buf(),
                step: None,
                field: String::new(),
                line: None,
                column: None,
                diagnostic: Diagnostic::Unreadable {
                    reason: source.to_string(),
                },
            }],
            Self::Invalid { problems, .. } => problems.iter().take(MAX_SHOWN).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// One of each variant. `covered` makes the compiler ask for a new variant here.
    fn samples() -> Vec<Diagnostic> {
        use Diagnostic as D;
        let s = || String::from("x");
        vec![
            D::Unreadable { reason: s() },
            D::NotUtf8 { line: 1 },
            D::TooDeep { max: 32 },
            D::Syntax { message: s() },
            D::DuplicateKey { key: s() },
            D::CustomTag { tag: s() },
            D::MergeKey,
            D::NotAWorkflow { found: s() },
            D::UnknownField {
                suggestion: None,
                known: &[],
            },
            D::ExpectedText { found: s() },
            D::BadCount { reason: s() },
            D::CountBelow { min: 1, found: 0 },
            D::UnsupportedVersion { found: s() },
            D::BadSchedule { reason: s() },
            D::AccountNotMapping,
            D::TierMissing { tiers: s() },
            D::UnknownTier {
                tier: s(),
                tiers: s(),
            },
            D::UnknownBilling { billing: s() },
            D::UnknownOverage { overage: s() },
            D::BadRate { reason: s() },
            D::EnterpriseWithoutRate,
            D::BudgetNotMapping,
            D::BadReserve { reason: s() },
            D::ReserveWrongType { found: s() },
            D::RpsTooLarge { rps: 1 },
            D::NoSteps,
            D::StepsNotAList { found: s() },
            D::StepNotMapping,
            D::EndpointMissing,
            D::EndpointNotText,
            D::UnknownEndpoint {
                endpoint: s(),
                suggestion: None,
            },
            D::BatchAboveMax {
                batch: 2,
                endpoint: s(),
                max_batch: 1,
            },
            D::NotARowEndpoint {
                endpoint: s(),
                field: "rows",
            },
            D::RowsAboveMax {
                rows: 2,
                endpoint: s(),
                max: 1,
                paged_alternative: None,
            },
            D::LimitAboveMax {
                limit: 2,
                endpoint: s(),
                max: 1,
            },
            D::LimitBelowRows {
                endpoint: s(),
                limit: 1,
                rows: 2,
            },
            D::ExpectedAboveRows {
                expected: 2,
                rows: 1,
            },
            D::SourceAndSources,
            D::EmptySources,
            D::SourceNotText { found: s() },
            D::UnknownSource {
                code: s(),
                suggestion: None,
            },
            D::SourceNotTaken {
                endpoint: s(),
                field: s(),
            },
            D::SourceMissing { endpoint: s() },
            D::SourceTwice { code: s() },
            D::NoTargets,
            D::BadTargetCount { reason: s() },
            D::TargetNotText,
            D::EmptyTargetList,
            D::BlankTarget { number: 1 },
            D::TargetsWrongType { found: s() },
            D::TargetsFileMissing,
            D::TargetsFileUnreadable {
                error: FileError::NotRegular {
                    kind: crate::files::FileKind::Targets,
                    path: "x".into(),
                    found: "a FIFO",
                },
            },
            D::TargetsFileEmpty { path: s() },
            D::DuplicateTargets {
                origin: s(),
                duplicates: 2,
            },
            D::BadTargetsFile {
                path: s(),
                error: TargetsError::Utf16,
            },
            D::TooManyCollections { max: 1 },
            D::PriceUnknown { endpoint: s() },
            D::NotARangeEndpoint {
                endpoint: s(),
                field: "date_from",
            },
            D::BadDate { found: s() },
            D::HalfRange { missing: "date_to" },
            D::DatesBackwards { from: s(), to: s() },
            D::BadGranularity { found: s() },
            D::GranularityNotTaken { endpoint: s() },
            D::SameDatabase {
                first: s(),
                second: s(),
                code: s(),
            },
        ]
    }

    /// Exhaustive on purpose: a new variant fails to compile until it is added to `samples`.
    #[allow(dead_code)]
    fn covered(d: &Diagnostic) {
        use Diagnostic as D;
        match d {
            D::Unreadable { .. }
            | D::NotUtf8 { .. }
            | D::TooDeep { .. }
            | D::Syntax { .. }
            | D::DuplicateKey { .. }
            | D::CustomTag { .. }
            | D::MergeKey
            | D::NotAWorkflow { .. }
            | D::UnknownField { .. }
            | D::ExpectedText { .. }
            | D::BadCount { .. }
            | D::CountBelow { .. }
            | D::UnsupportedVersion { .. }
            | D::BadSchedule { .. }
            | D::AccountNotMapping
            | D::TierMissing { .. }
            | D::UnknownTier { .. }
            | D::UnknownBilling { .. }
            | D::UnknownOverage { .. }
            | D::BadRate { .. }
            | D::EnterpriseWithoutRate
            | D::BudgetNotMapping
            | D::BadReserve { .. }
            | D::ReserveWrongType { .. }
            | D::RpsTooLarge { .. }
            | D::NoSteps
            | D::StepsNotAList { .. }
            | D::StepNotMapping
            | D::EndpointMissing
            | D::EndpointNotText
            | D::UnknownEndpoint { .. }
            | D::BatchAboveMax { .. }
            | D::NotARowEndpoint { .. }
            | D::RowsAboveMax { .. }
            | D::LimitAboveMax { .. }
            | D::LimitBelowRows { .. }
            | D::ExpectedAboveRows { .. }
            | D::SourceAndSources
            | D::EmptySources
            | D::SourceNotText { .. }
            | D::UnknownSource { .. }
            | D::SourceNotTaken { .. }
            | D::SourceMissing { .. }
            | D::SourceTwice { .. }
            | D::NoTargets
            | D::BadTargetCount { .. }
            | D::TargetNotText
            | D::EmptyTargetList
            | D::BlankTarget { .. }
            | D::TargetsWrongType { .. }
            | D::TargetsFileMissing
            | D::TargetsFileUnreadable { .. }
            | D::TargetsFileEmpty { .. }
            | D::DuplicateTargets { .. }
            | D::BadTargetsFile { .. }
            | D::TooManyCollections { .. }
            | D::PriceUnknown { .. }
            | D::NotARangeEndpoint { .. }
            | D::BadDate { .. }
            | D::HalfRange { .. }
            | D::DatesBackwards { .. }
            | D::BadGranularity { .. }
            | D::GranularityNotTaken { .. }
            | D::SameDatabase { .. } => {}
        }
    }

    #[test]
    fn codes_are_unique_and_documented() {
        let samples = samples();
        let codes: BTreeSet<String> = samples.iter().map(|d| d.code().to_string()).collect();
        assert_eq!(codes.len(), samples.len(), "two diagnostics share a code");
        // docs/diagnostics.md has one table row per code: `| W001 | … |`.
        let doc = include_str!("../../docs/diagnostics.md");
        let documented: BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| W"))
            .map(|l| format!("W{}", &l[..3]))
            .collect();
        assert_eq!(
            codes, documented,
            "docs/diagnostics.md and the codes differ"
        );
    }

    #[test]
    fn messages_carry_their_code() {
        let p = Problem {
            path: "wf.yaml".into(),
            step: Some(StepRef {
                number: 2,
                name: "Sums".into(),
            }),
            field: "batch".into(),
            line: Some(7),
            column: None,
            diagnostic: Diagnostic::CountBelow { min: 1, found: 0 },
        };
        assert_eq!(
            p.to_string(),
            "wf.yaml:7: step 2 (Sums): field `batch`: must be at least 1, found 0 [W012]"
        );
        assert_eq!(
            p.describe(),
            "step 2 (Sums): field `batch`: must be at least 1, found 0 [W012]"
        );
    }
}
