//! Forecast against actual (`budget reconcile`): a saved plan set against the guard's call
//! journals step by step — was the forecast right, and where was it wrong? docs/reconcile.md
//! ("Was the forecast right?") is the user's side of this module.
//!
//! Pure analysis: it reads the files it is given (the saved plan, the journals) through `files`,
//! with their caps, and computes. No clock, no network, no output; `report` renders the result.
//!
//! **Which step a call belongs to.** A call of the journal is attributed in three moves:
//! 1. its `workflow` tag (header `X-Budget-Workflow`) selects the plan's workflows whose name or
//!    path equals it — none: the call is *unplanned*; without the tag, every workflow of the plan;
//! 2. its `step` tag (header `X-Budget-Step`) selects, in those workflows, the steps whose name
//!    equals it, or, when no name does and the tag is a number, the step with that 1-based
//!    number — none: unplanned. Of those, the steps that plan the call's endpoint (a tagged call
//!    to an endpoint its step did not plan is unplanned);
//! 3. without a step tag: the steps of those workflows that plan the call's endpoint.
//!
//! One step: the call is that step's. Several (an untagged call to an endpoint that two steps
//! plan): the call goes to an *endpoint row* covering those steps, whose forecast is theirs
//! together and whose actual is every call of those steps plus these. No step: an unplanned row.
//! Matching is exact (after the guard's trimming); tags never match by prefix or case.
//!
//! **Exceeded.** A row exceeded its forecast when the units charged are above its planned worst
//! case (an unplanned row plans 0, so any units exceed it); the total likewise against the plan's
//! total. Requests are shown but not judged: more pages than planned cost nothing extra on a
//! per-record endpoint.

mod journal;
pub mod profile;
mod saved_plan;

pub use journal::{read as read_journal, Call, JournalRead, JournalWarning, MAX_LINE_BYTES};
pub use saved_plan::{
    from_estimates as plan_from_estimates, load as load_plan, SavedPlan, SavedStep, SavedWorkflow,
};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::files::FileError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    File {
        #[from]
        source: FileError,
    },
    #[error("plan file {} is not JSON ({reason}); save one with `budget plan WORKFLOW --format json > plan.json`", path.display())]
    PlanSyntax { path: PathBuf, reason: String },
    #[error("plan file {} is not a saved `budget plan --format json` result: {}", path.display(), problems.join("; "))]
    PlanShape {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{}:{line}: {reason}", path.display())]
    JournalLine {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "the journal {} has lines that are not guard journal lines; give the file `budget guard --journal FILE` wrote:\n  - {}{}",
        path.display(),
        problems.join("\n  - "),
        if *more > 0 { format!("\n  … and {more} more") } else { String::new() }
    )]
    JournalLines {
        path: PathBuf,
        problems: Vec<String>,
        more: u64,
    },
    #[error("{}:{line}: the {what} overflow the largest count ({}); reconcile fewer journals at once", path.display(), u64::MAX)]
    Overflow {
        path: PathBuf,
        line: u64,
        what: &'static str,
    },
    #[error("plan file {}: the {what} of the steps sharing an endpoint overflow the largest count ({}); is it a real plan?", path.display(), u64::MAX)]
    SumOverflow { path: PathBuf, what: &'static str },
}

/// What a plan forecast for a step (or a group of steps, or the whole plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Planned {
    pub requests: u64,
    /// The worst case.
    pub units: u64,
    pub units_expected: u64,
}

impl Planned {
    fn checked_add(self, other: Planned) -> Option<Planned> {
        Some(Planned {
            requests: self.requests.checked_add(other.requests)?,
            units: self.units.checked_add(other.units)?,
            units_expected: self.units_expected.checked_add(other.units_expected)?,
        })
    }
}

/// What the journals show for a step (or a row of calls).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Actual {
    /// Calls the API answered 2xx: billed requests.
    pub requests: u64,
    /// Units the guard charged (a call without a complete reply is charged its worst case).
    pub units: u64,
    /// Units charged above the calls' holds, as the journal records them.
    pub overrun_units: u64,
    /// Calls not answered 2xx: refused by the guard, or not billed by the API.
    pub other_calls: u64,
}

impl Actual {
    /// Adds a call; `Err` names the quantity that overflowed.
    fn add(&mut self, call: &Call) -> Result<(), &'static str> {
        if call.is_charged() {
            self.requests = self.requests.checked_add(1).ok_or("requests")?;
        } else {
            self.other_calls = self.other_calls.checked_add(1).ok_or("calls")?;
        }
        self.units = self
            .units
            .checked_add(call.units_charged)
            .ok_or("units charged")?;
        self.overrun_units = self
            .overrun_units
            .checked_add(call.overrun.unwrap_or(0))
            .ok_or("overrun units")?;
        Ok(())
    }

    fn checked_add(self, other: Actual) -> Option<Actual> {
        Some(Actual {
            requests: self.requests.checked_add(other.requests)?,
            units: self.units.checked_add(other.units)?,
            overrun_units: self.overrun_units.checked_add(other.overrun_units)?,
            other_calls: self.other_calls.checked_add(other.other_calls)?,
        })
    }
}

/// A forecast and what became of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub planned: Planned,
    pub actual: Actual,
}

impl Figures {
    /// Units charged above the planned worst case.
    pub fn exceeded(&self) -> bool {
        self.actual.units > self.planned.units
    }

    /// Units charged in percent of the worst case (one decimal); `None` when 0 was planned.
    pub fn worst_ratio(&self) -> Option<Decimal> {
        percent(self.actual.units, self.planned.units)
    }

    /// Units charged in percent of the expected units (one decimal); `None` when 0 was expected.
    pub fn expected_ratio(&self) -> Option<Decimal> {
        percent(self.actual.units, self.planned.units_expected)
    }
}

/// `part / whole × 100`, rounded half away from zero to one decimal.
fn percent(part: u64, whole: u64) -> Option<Decimal> {
    if whole == 0 {
        return None;
    }
    let exact = Decimal::from(part)
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(Decimal::from(whole))?;
    let mut rounded = exact.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(1);
    Some(rounded)
}

/// A step of the plan, as rows name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepName {
    pub workflow: String,
    /// 1-based.
    pub number: usize,
    pub name: String,
}

/// A planned step and the calls attributed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub step: StepName,
    pub endpoint: String,
    pub figures: Figures,
}

/// Steps that plan the same endpoint, judged together because untagged calls to that endpoint
/// could be any of theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// The workflow, when all the steps are of one.
    pub workflow: Option<String>,
    pub endpoint: String,
    pub steps: Vec<StepName>,
    /// Calls that only this row holds (the others are its steps').
    pub untagged_calls: u64,
    pub figures: Figures,
}

/// Why calls are unplanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unplanned {
    /// The `workflow` tag names no workflow of the plan.
    UnknownWorkflow,
    /// The `step` tag names no step of the plan (of the tagged workflow).
    UnknownStep,
    /// The tagged step plans another endpoint.
    OtherEndpoint,
    /// No step of the plan calls this endpoint.
    NotPlanned,
}

/// Calls no step planned, grouped by their tags, endpoint and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnplannedRow {
    pub workflow: Option<String>,
    pub step: Option<String>,
    pub endpoint: String,
    pub reason: Unplanned,
    pub actual: Actual,
}

impl UnplannedRow {
    pub fn figures(&self) -> Figures {
        Figures {
            planned: Planned::default(),
            actual: self.actual,
        }
    }
}

/// A plan set against its journals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub plan: PathBuf,
    pub journals: Vec<PathBuf>,
    /// Journal lines read (calls).
    pub calls: u64,
    pub steps: Vec<StepRow>,
    pub endpoints: Vec<EndpointRow>,
    pub unplanned: Vec<UnplannedRow>,
    pub total: Figures,
}

impl Reconciliation {
    /// No step, endpoint row, unplanned row or the total exceeded its forecast.
    pub fn forecast_held(&self) -> bool {
        !self.total.exceeded()
            && self.steps.iter().all(|r| !r.figures.exceeded())
            && self.endpoints.iter().all(|r| !r.figures.exceeded())
            && self.unplanned.iter().all(|r| !r.figures().exceeded())
    }
}

/// Something that takes the calls of journals one by one.
pub trait Sink {
    /// `Err` names a quantity that overflowed.
    fn add(&mut self, call: &Call) -> Result<(), &'static str>;

    /// Called after each journal's last call.
    fn end_journal(&mut self, _read: &JournalRead) {}
}

/// Streams `journals` in the order given (a rotated journal: oldest first) into every sink. A
/// journal with the same content as one before it gets a warning: its calls count twice.
pub fn read_journals(
    journals: &[PathBuf],
    sinks: &mut [&mut dyn Sink],
) -> Result<Vec<JournalRead>, ReconcileError> {
    let mut reads: Vec<JournalRead> = Vec::with_capacity(journals.len());
    for path in journals {
        let mut read = read_journal(path, |call, line| {
            for sink in sinks.iter_mut() {
                sink.add(call).map_err(|what| ReconcileError::Overflow {
                    path: path.clone(),
                    line,
                    what,
                })?;
            }
            Ok(())
        })?;
        if let Some(same) = reads
            .iter()
            .find(|r| r.digest == read.digest && read.calls > 0)
        {
            read.warnings.push(JournalWarning::SameContent {
                path: path.clone(),
                earlier: same.path.clone(),
            });
        }
        for sink in sinks.iter_mut() {
            sink.end_journal(&read);
        }
        reads.push(read);
    }
    Ok(reads)
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Step(usize, usize),
    /// Steps (workflow, step), in plan order.
    Endpoint(Vec<(usize, usize)>),
    Unplanned(Option<String>, Option<String>, String, Unplanned),
}

/// Attributes calls to the steps of a plan as they stream by.
pub struct Reconciler<'a> {
    plan: &'a SavedPlan,
    /// Workflow indexes by name and by path.
    workflows: HashMap<&'a str, Vec<usize>>,
    /// Per workflow: step indexes by name, and by endpoint.
    names: Vec<HashMap<&'a str, Vec<usize>>>,
    endpoints: Vec<HashMap<&'a str, Vec<usize>>>,
    steps: Vec<Vec<Actual>>,
    groups: BTreeMap<Vec<(usize, usize)>, Actual>,
    unplanned: BTreeMap<(Option<String>, Option<String>, String, Unplanned), Actual>,
    total: Actual,
    calls: u64,
}

impl<'a> Reconciler<'a> {
    pub fn new(plan: &'a SavedPlan) -> Reconciler<'a> {
        let mut workflows: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, w) in plan.workflows.iter().enumerate() {
            workflows.entry(&w.name).or_default().push(i);
            if !w.path.is_empty() && w.path != w.name {
                workflows.entry(&w.path).or_default().push(i);
            }
        }
        let index = |key: fn(&'a SavedStep) -> &'a str| -> Vec<HashMap<&'a str, Vec<usize>>> {
            plan.workflows
                .iter()
                .map(|w| {
                    let mut map: HashMap<&str, Vec<usize>> = HashMap::new();
                    for (j, s) in w.steps.iter().enumerate() {
                        map.entry(key(s)).or_default().push(j);
                    }
                    map
                })
                .collect()
        };
        Reconciler {
            plan,
            workflows,
            names: index(|s| &s.name),
            endpoints: index(|s| &s.endpoint),
            steps: plan
                .workflows
                .iter()
                .map(|w| vec![Actual::default(); w.steps.len()])
                .collect(),
            groups: BTreeMap::new(),
            unplanned: BTreeMap::new(),
            total: Actual::default(),
            calls: 0,
        }
    }

    fn target(&self, call: &Call) -> Target {
        let unplanned = |reason| {
            Target::Unplanned(
                call.workflow.clone(),
                call.step.clone(),
                call.endpoint.clone(),
                reason,
            )
        };
        let scope: Vec<usize> = match &call.workflow {
            Some(tag) => match self.workflows.get(tag.as_str()) {
                Some(found) => {
                    let mut found = found.clone();
                    found.dedup();
                    found
                }
                None => return unplanned(Unplanned::UnknownWorkflow),
            },
            None => (0..self.plan.workflows.len()).collect(),
        };
        let candidates: Vec<(usize, usize)> = match &call.step {
            Some(tag) => {
                let by_name: Vec<(usize, usize)> = scope
                    .iter()
                    .flat_map(|&w| {
                        self.names[w]
                            .get(tag.as_str())
                            .into_iter()
                            .flatten()
                            .map(move |&s| (w, s))
                    })
                    .collect();
                let named = if by_name.is_empty() {
                    match tag.parse::<usize>() {
                        Ok(n) if n >= 1 => scope
                            .iter()
                            .filter(|&&w| n <= self.plan.workflows[w].steps.len())
                            .map(|&w| (w, n - 1))
                            .collect(),
                        _ => Vec::new(),
                    }
                } else {
                    by_name
                };
                if named.is_empty() {
                    return unplanned(Unplanned::UnknownStep);
                }
                let same_endpoint: Vec<(usize, usize)> = named
                    .into_iter()
                    .filter(|&(w, s)| self.plan.workflows[w].steps[s].endpoint == call.endpoint)
                    .collect();
                if same_endpoint.is_empty() {
                    return unplanned(Unplanned::OtherEndpoint);
                }
                same_endpoint
            }
            None => scope
                .iter()
                .flat_map(|&w| {
                    self.endpoints[w]
                        .get(call.endpoint.as_str())
                        .into_iter()
                        .flatten()
                        .map(move |&s| (w, s))
                })
                .collect(),
        };
        match candidates.as_slice() {
            [] => unplanned(Unplanned::NotPlanned),
            [(w, s)] => Target::Step(*w, *s),
            _ => {
                let mut steps = candidates;
                steps.sort_unstable();
                steps.dedup();
                Target::Endpoint(steps)
            }
        }
    }

    /// The rows, once every call is in.
    pub fn finish(self, journals: &[PathBuf]) -> Result<Reconciliation, ReconcileError> {
        let overflow = |what| ReconcileError::SumOverflow {
            path: self.plan.path.clone(),
            what,
        };
        let name = |w: usize, s: usize| StepName {
            workflow: self.plan.workflows[w].name.clone(),
            number: s + 1,
            name: self.plan.workflows[w].steps[s].name.clone(),
        };
        let mut steps = Vec::new();
        for (w, workflow) in self.plan.workflows.iter().enumerate() {
            for (s, step) in workflow.steps.iter().enumerate() {
                steps.push(StepRow {
                    step: name(w, s),
                    endpoint: step.endpoint.clone(),
                    figures: Figures {
                        planned: step.planned,
                        actual: self.steps[w][s],
                    },
                });
            }
        }
        let mut endpoints = Vec::new();
        for (covered, own) in &self.groups {
            let mut figures = Figures {
                planned: Planned::default(),
                actual: *own,
            };
            for &(w, s) in covered {
                figures.planned = figures
                    .planned
                    .checked_add(self.plan.workflows[w].steps[s].planned)
                    .ok_or_else(|| overflow("planned units"))?;
                figures.actual = figures
                    .actual
                    .checked_add(self.steps[w][s])
                    .ok_or_else(|| overflow("units charged"))?;
            }
            let first = covered[0].0;
            endpoints.push(EndpointRow {
                workflow: covered
                    .iter()
                    .all(|&(w, _)| w == first)
                    .then(|| self.plan.workflows[first].name.clone()),
                endpoint: self.plan.workflows[first].steps[covered[0].1]
                    .endpoint
                    .clone(),
                steps: covered.iter().map(|&(w, s)| name(w, s)).collect(),
                untagged_calls: own.requests.saturating_add(own.other_calls),
                figures,
            });
        }
        let unplanned = self
            .unplanned
            .into_iter()
            .map(
                |((workflow, step, endpoint, reason), actual)| UnplannedRow {
                    workflow,
                    step,
                    endpoint,
                    reason,
                    actual,
                },
            )
            .collect();
        Ok(Reconciliation {
            plan: self.plan.path.clone(),
            journals: journals.to_vec(),
            calls: self.calls,
            steps,
            endpoints,
            unplanned,
            total: Figures {
                planned: self.plan.total,
                actual: self.total,
            },
        })
    }
}

impl Sink for Reconciler<'_> {
    fn add(&mut self, call: &Call) -> Result<(), &'static str> {
        self.calls = self.calls.checked_add(1).ok_or("calls")?;
        self.total.add(call)?;
        match self.target(call) {
            Target::Step(w, s) => self.steps[w][s].add(call),
            Target::Endpoint(steps) => self.groups.entry(steps).or_default().add(call),
            Target::Unplanned(workflow, step, endpoint, reason) => self
                .unplanned
                .entry((workflow, step, endpoint, reason))
                .or_default()
                .add(call),
        }
    }
}

#[cfg(test)]
mod tests;
