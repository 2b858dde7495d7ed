//! The pricing law (docs/workflows.md "The arithmetic"): a step's worst case is the sum, over the requests it
//! makes, of what each request can bill; and what one request can bill is [`price`] of its
//! [`Shape`]. `budget plan` sums [`Requests`] of a step; the guard prices each call it forwards
//! with the same [`price`], so the two can never disagree (a property test holds them to it).
//!
//! Which requests a step makes (per run: once per regional database, `repeat` times):
//! - per-target endpoints: `ceil(targets / batch)` requests of `batch` targets, the last one
//!   carrying the rest;
//! - row endpoints, per target: pages of `limit` rows, the last page trimmed to the rows still
//!   wanted (a job asks only for what it wants); a non-paged endpoint makes one request asking
//!   `rows`;
//! - period and day endpoints, per target: one request for the whole date range;
//! - `calls: N`: N requests, the run's records spread over them as evenly as possible, each
//!   asking at least one (so a run bills at least N records).
//!
//! Requests are listed as runs of identical shapes, lazily: a step of a million targets is a
//! handful of blocks, never a million values. Pure and exact: `u64` with checked arithmetic.

use crate::pricing::range::{most_periods, periods};
use crate::pricing::{Endpoint, Granularity, Per, RecordKind};
use crate::workflow::Step;

/// What one request names and asks for, as far as its price goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Targets (or keywords) the request carries; a request naming none is billed as one.
    pub targets: u64,
    /// Row endpoints: rows asked per target (the `limit` parameter).
    pub rows: Option<u64>,
    /// Period and day endpoints: periods (days) of the date range asked for.
    pub periods: Option<u64>,
}

impl Shape {
    /// Records a request of this shape can return: its targets (at least one) × the rows or
    /// periods it asks for per target.
    pub fn records(&self) -> Option<u64> {
        let per_target = self.rows.or(self.periods).unwrap_or(1);
        self.targets.max(1).checked_mul(per_target)
    }
}

/// Why a request (or a step) has no price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("the price of {endpoint} is unknown")]
    Unknown { endpoint: String },
    #[error("the {quantity} overflow the largest count")]
    Overflow { quantity: &'static str },
}

const fn overflow(quantity: &'static str) -> PriceError {
    PriceError::Overflow { quantity }
}

/// What one request of `shape` to `endpoint` can bill: its units when billed per request, else
/// its records × the units per record.
pub fn price(endpoint: &Endpoint, shape: &Shape) -> Result<u64, PriceError> {
    let units = endpoint.units.ok_or_else(|| PriceError::Unknown {
        endpoint: endpoint.name.clone(),
    })?;
    match endpoint.per {
        Per::Request => Ok(units),
        Per::Record => shape
            .records()
            .ok_or(overflow("records"))?
            .checked_mul(units)
            .ok_or(overflow("units")),
    }
}

/// The periods a request for `dates` (or, without dates, for the endpoint's default range) asks
/// for: days for a day endpoint, periods at `granularity` for a period endpoint.
pub fn range_periods(
    endpoint: &Endpoint,
    dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    granularity: Granularity,
) -> u64 {
    let granularity = match endpoint.record {
        RecordKind::Day => Granularity::ByDay,
        _ => granularity,
    };
    match dates {
        Some((from, to)) => periods(from, to, granularity),
        None => most_periods(endpoint.default_days.unwrap_or(1), granularity),
    }
}

/// Which figures a step is listed for: the worst case, or the expected band (`expected_rows`
/// instead of `rows`; a day endpoint billed per target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Worst,
    Expected,
}

/// `times` repetitions of a pattern of requests: `(shape, count)` in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    times: u64,
    pattern: Vec<(Shape, u64)>,
}

/// The requests a step makes, in the order a job makes them: `runs` runs (one per regional
/// database, `repeat` times) of the same blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requests {
    runs: u64,
    blocks: Vec<Block>,
}

/// Where, in a step's requests, spending runs past a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// The 1-based request of the step that no longer fits.
    pub request: u64,
    /// Units the step's requests before it spend.
    pub spent: u64,
}

impl Requests {
    /// Lists a step's requests. `Err` names the quantity that overflowed.
    pub fn of(step: &Step, band: Band) -> Result<Requests, PriceError> {
        let e = &step.endpoint;
        let sources = u64::try_from(step.sources.len().max(1)).map_err(|_| overflow("requests"))?;
        let runs = sources
            .checked_mul(step.repeat)
            .ok_or(overflow("requests"))?;
        let t = step.targets;
        let blocks = match e.record {
            RecordKind::Target => {
                let batch = step.batch.max(1);
                let mut blocks = vec![Block {
                    times: t / batch,
                    pattern: vec![(Shape::targets(batch), 1)],
                }];
                if !t.is_multiple_of(batch) {
                    blocks.push(Block {
                        times: 1,
                        pattern: vec![(Shape::targets(t % batch), 1)],
                    });
                }
                blocks
            }
            RecordKind::Row => {
                let worst = step.rows.unwrap_or(1);
                let rows = match band {
                    Band::Worst => worst,
                    Band::Expected => step.expected_rows.unwrap_or(worst),
                };
                let limit = step.limit.unwrap_or(worst).max(1);
                let pattern = if !e.paged || rows == 0 {
                    vec![(Shape::rows(rows), 1)]
                } else {
                    let mut pattern = vec![(Shape::rows(limit), rows / limit)];
                    if !rows.is_multiple_of(limit) {
                        pattern.push((Shape::rows(rows % limit), 1));
                    }
                    pattern
                };
                vec![Block { times: t, pattern }]
            }
            RecordKind::Period | RecordKind::Day => {
                let periods = match (e.record, band) {
                    (RecordKind::Day, Band::Expected) => 1,
                    _ => range_periods(e, step.dates, step.granularity),
                };
                vec![Block {
                    times: t,
                    pattern: vec![(Shape::periods(periods), 1)],
                }]
            }
        };
        let computed = Requests { runs, blocks };
        let Some(calls) = step.calls else {
            return Ok(computed);
        };
        // `calls: N`: the run's records, spread over N requests, at least one each.
        let records = computed.run_records()?;
        let (q, rem) = (records / calls.max(1), records % calls.max(1));
        let shape = |k: u64| match e.record {
            RecordKind::Target => Shape::targets(k),
            RecordKind::Row => Shape::rows(k),
            RecordKind::Period | RecordKind::Day => Shape::periods(k),
        };
        let pattern = if q == 0 {
            vec![(shape(1), calls)]
        } else {
            let mut pattern = Vec::new();
            if rem > 0 {
                pattern.push((shape(q + 1), rem));
            }
            pattern.push((shape(q), calls - rem));
            pattern
        };
        Ok(Requests {
            runs,
            blocks: vec![Block { times: 1, pattern }],
        })
    }

    /// Every request, in order, as `(shape, how many in a row)`; lazily.
    pub fn iter(&self) -> impl Iterator<Item = (Shape, u64)> + '_ {
        (0..self.runs).flat_map(move |_| {
            self.blocks.iter().flat_map(|b| {
                (0..b.times).flat_map(move |_| b.pattern.iter().copied().filter(|(_, n)| *n > 0))
            })
        })
    }

    /// How many requests the step makes.
    pub fn count(&self) -> Result<u64, PriceError> {
        self.sum(|_| Ok(1)).map_err(|_| overflow("requests"))
    }

    /// Records the step's requests can bill.
    pub fn records(&self) -> Result<u64, PriceError> {
        self.sum(|s| s.records().ok_or(overflow("records")))
            .map_err(|_| overflow("records"))
    }

    /// The step's worst case: the sum of [`price`] over its requests.
    pub fn units(&self, endpoint: &Endpoint) -> Result<u64, PriceError> {
        self.sum(|s| price(endpoint, s))
    }

    /// The request at which the step's spending passes `budget` units, if it does.
    pub fn stop(&self, endpoint: &Endpoint, budget: u64) -> Result<Option<Stop>, PriceError> {
        let run_units = self.run_sum(|s| price(endpoint, s))?;
        let run_count = self.run_sum(|_| Ok(1))?;
        let whole = run_units.checked_mul(self.runs).ok_or(overflow("units"))?;
        if whole <= budget {
            return Ok(None);
        }
        // Whole runs paid before the one that passes the budget.
        let runs_paid = budget / run_units;
        let mut left = budget - runs_paid * run_units;
        let mut request = runs_paid
            .checked_mul(run_count)
            .ok_or(overflow("requests"))?;
        for block in &self.blocks {
            let mut one = 0u64;
            let mut count = 0u64;
            for (shape, n) in &block.pattern {
                one = one
                    .checked_add(
                        price(endpoint, shape)?
                            .checked_mul(*n)
                            .ok_or(overflow("units"))?,
                    )
                    .ok_or(overflow("units"))?;
                count += n;
            }
            let all = one.checked_mul(block.times).ok_or(overflow("units"))?;
            if all <= left {
                left -= all;
                request = count
                    .checked_mul(block.times)
                    .and_then(|n| request.checked_add(n))
                    .ok_or(overflow("requests"))?;
                continue;
            }
            let times_paid = left / one;
            left -= times_paid * one;
            request += times_paid * count;
            for (shape, n) in &block.pattern {
                let each = price(endpoint, shape)?;
                let all = each * n;
                if all <= left {
                    left -= all;
                    request += n;
                    continue;
                }
                let paid = left / each;
                request += paid + 1;
                left -= paid * each;
                return Ok(Some(Stop {
                    request,
                    spent: budget - left,
                }));
            }
        }
        // Unreachable when the arithmetic above holds; say "at the end" rather than panic.
        Ok(Some(Stop {
            request,
            spent: budget - left,
        }))
    }

    /// Records of one run.
    fn run_records(&self) -> Result<u64, PriceError> {
        self.run_sum(|s| s.records().ok_or(overflow("records")))
    }

    /// Σ over one run's requests of `each`.
    fn run_sum(&self, each: impl Fn(&Shape) -> Result<u64, PriceError>) -> Result<u64, PriceError> {
        let mut total = 0u64;
        for block in &self.blocks {
            let mut one = 0u64;
            for (shape, n) in &block.pattern {
                let value = each(shape)?.checked_mul(*n).ok_or(overflow("units"))?;
                one = one.checked_add(value).ok_or(overflow("units"))?;
            }
            let all = one.checked_mul(block.times).ok_or(overflow("units"))?;
            total = total.checked_add(all).ok_or(overflow("units"))?;
        }
        Ok(total)
    }

    /// Σ over all the step's requests of `each`.
    fn sum(&self, each: impl Fn(&Shape) -> Result<u64, PriceError>) -> Result<u64, PriceError> {
        self.run_sum(each)?
            .checked_mul(self.runs)
            .ok_or(overflow("units"))
    }
}

impl Shape {
    fn targets(targets: u64) -> Shape {
        Shape {
            targets,
            rows: None,
            periods: None,
        }
    }

    fn rows(rows: u64) -> Shape {
        Shape {
            targets: 1,
            rows: Some(rows),
            periods: None,
        }
    }

    fn periods(periods: u64) -> Shape {
        Shape {
            targets: 1,
            rows: None,
            periods: Some(periods),
        }
    }
}
