//! `budget forecast`: scheduled workflows projected to the end of the billing period.
//!
//! All workflows draw on one balance (one API key), so their runs are taken in time order and
//! paid from it until it cannot pay a whole run. That run is the first that "can no longer be
//! paid": its date is `exhausted_on`, and every unit from there on is overage.

use chrono::{NaiveDate, NaiveDateTime};

use super::{run_times, FinanceError, MAX_PERIOD_DAYS};
use crate::workflow::Schedule;

/// One workflow to project: its schedule (`None` runs once) and its cost per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledWorkflow {
    pub name: String,
    pub schedule: Option<Schedule>,
    pub units_per_run: u64,
    /// A run's requests in order, for [`project_without_overage`]; `None`: a run pays what
    /// the balance holds of its units.
    pub run: Option<crate::estimate::RunRequests>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowProjection {
    pub name: String,
    /// The schedule in force (`once` when the workflow names none).
    pub schedule: Schedule,
    pub runs: u64,
    pub units_per_run: u64,
    pub units: u64,
    pub first_run: Option<NaiveDateTime>,
    pub last_run: Option<NaiveDateTime>,
    /// Date of this workflow's first run the balance can no longer pay; `None` if every run is
    /// paid or no balance is known.
    pub exhausted_on: Option<NaiveDate>,
    /// Units of this workflow beyond the balance; `None` when no balance is known.
    pub overage_units: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalProjection {
    pub runs: u64,
    pub units: u64,
    pub exhausted_on: Option<NaiveDate>,
    pub overage_units: Option<u64>,
}

/// Cumulative projected units at the end of one day of the period (for the chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayPoint {
    pub date: NaiveDate,
    pub units: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub now: NaiveDateTime,
    pub period_end: NaiveDateTime,
    /// What the runs can draw on (units_left minus reservations), when known.
    pub spendable: Option<u64>,
    pub workflows: Vec<WorkflowProjection>,
    pub total: TotalProjection,
    /// One point per day from `now`'s date to the last day before the period end.
    pub days: Vec<DayPoint>,
}

impl Projection {
    /// The balance runs out before the period ends.
    pub fn runs_out(&self) -> bool {
        self.total.exhausted_on.is_some()
    }
}

/// Projects `workflows` from `now` to `period_end` against `spendable` units, overage on:
/// runs go on past the balance, and every unit beyond it is overage.
pub fn project(
    workflows: &[ScheduledWorkflow],
    now: NaiveDateTime,
    period_end: NaiveDateTime,
    spendable: Option<u64>,
) -> Result<Projection, FinanceError> {
    projected(workflows, now, period_end, spendable, false)
}

/// As [`project`], overage off (the API's default): a run pays its requests in order until
/// the first the balance left cannot pay; the API rejects that one whole and bills nothing,
/// and the job stops there. Later runs start again and pay what they can (a smaller run may
/// still fit). `overage_units` are then the units of runs that would fail, and `exhausted_on`
/// the date of the first run that could not finish.
pub fn project_without_overage(
    workflows: &[ScheduledWorkflow],
    now: NaiveDateTime,
    period_end: NaiveDateTime,
    spendable: Option<u64>,
) -> Result<Projection, FinanceError> {
    projected(workflows, now, period_end, spendable, true)
}

fn projected(
    workflows: &[ScheduledWorkflow],
    now: NaiveDateTime,
    period_end: NaiveDateTime,
    spendable: Option<u64>,
    stop: bool,
) -> Result<Projection, FinanceError> {
    if period_end <= now {
        return Err(FinanceError::PeriodNotAfterNow {
            now: super::rfc3339(now),
            end: super::rfc3339(period_end),
        });
    }
    let days = (period_end - now).num_days();
    if days > MAX_PERIOD_DAYS {
        return Err(FinanceError::PeriodTooLong {
            days,
            max: MAX_PERIOD_DAYS,
        });
    }
    let overflow = |quantity| FinanceError::UnitsOverflow { quantity };

    let mut events: Vec<(NaiveDateTime, usize)> = Vec::new();
    let mut projections = Vec::with_capacity(workflows.len());
    for (i, w) in workflows.iter().enumerate() {
        let schedule = w.schedule.unwrap_or(Schedule::Once);
        let times = run_times(schedule, now, period_end);
        let runs = u64::try_from(times.len()).map_err(|_| overflow("runs"))?;
        projections.push(WorkflowProjection {
            name: w.name.clone(),
            schedule,
            runs,
            units_per_run: w.units_per_run,
            units: runs.checked_mul(w.units_per_run).ok_or(overflow("units"))?,
            first_run: times.first().copied(),
            last_run: times.last().copied(),
            exhausted_on: None,
            overage_units: spendable.map(|_| 0),
        });
        events.extend(times.into_iter().map(|t| (t, i)));
    }
    // Time order; at the same instant, the order the workflows were given.
    events.sort();

    let mut cumulative = 0u64;
    let mut total_exhausted = None;
    // Overage off: the balance left, and the units of runs that fail.
    let mut left = spendable;
    let mut failed_total = 0u64;
    let mut day_points: Vec<DayPoint> = Vec::new();
    let last_day = (period_end - chrono::Duration::seconds(1)).date();
    let mut events = events.into_iter().peekable();
    let mut day = now.date();
    while day <= last_day {
        while let Some(&(t, i)) = events.peek() {
            if t.date() != day {
                break;
            }
            events.next();
            let w = &mut projections[i];
            let before = cumulative;
            cumulative = cumulative
                .checked_add(w.units_per_run)
                .ok_or(overflow("units"))?;
            if let (true, Some(balance)) = (stop, left) {
                let paid = match &workflows[i].run {
                    Some(run) => run.paid_within(balance).map_err(|_| overflow("units"))?,
                    None => w.units_per_run.min(balance),
                };
                left = Some(balance - paid);
                let failed = w.units_per_run.saturating_sub(paid);
                if failed > 0 {
                    w.overage_units = Some(w.overage_units.unwrap_or(0) + failed);
                    w.exhausted_on.get_or_insert(t.date());
                    total_exhausted.get_or_insert(t.date());
                    failed_total = failed_total.checked_add(failed).ok_or(overflow("units"))?;
                }
            } else if let Some(spendable) = spendable {
                if cumulative > spendable {
                    // Only the part beyond the balance is overage (a run may be part-paid).
                    let over = cumulative - before.max(spendable);
                    w.overage_units = Some(w.overage_units.unwrap_or(0) + over);
                    w.exhausted_on.get_or_insert(t.date());
                    total_exhausted.get_or_insert(t.date());
                }
            }
        }
        day_points.push(DayPoint {
            date: day,
            units: cumulative,
        });
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    let runs = projections
        .iter()
        .try_fold(0u64, |sum, w| sum.checked_add(w.runs))
        .ok_or(overflow("runs"))?;
    Ok(Projection {
        now,
        period_end,
        spendable,
        total: TotalProjection {
            runs,
            units: cumulative,
            exhausted_on: total_exhausted,
            overage_units: match stop {
                true => spendable.map(|_| failed_total),
                false => spendable.map(|s| cumulative.saturating_sub(s)),
            },
        },
        workflows: projections,
        days: day_points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finance::parse_datetime;

    #[track_caller]
    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).expect("date-time")
    }

    fn date(text: &str) -> NaiveDate {
        at(text).date()
    }

    fn wf(name: &str, schedule: Option<Schedule>, units_per_run: u64) -> ScheduledWorkflow {
        ScheduledWorkflow {
            run: None,
            name: name.into(),
            schedule,
            units_per_run,
        }
    }

    #[test]
    fn the_issue_example() {
        // daily, 1,000 units a run, 10,000 left, 26 Nov 00:00 to 26 Dec 00:00:
        // runs 26 Nov .. 25 Dec = 30 (Nov 26..30 = 5, Dec 1..25 = 25), 30 × 1,000 = 30,000 units.
        // Runs 1..10 (26 Nov .. 5 Dec) use exactly 10,000; run 11 on 6 Dec cannot be paid.
        // Overage 30,000 − 10,000 = 20,000.
        let p = project(
            &[wf("daily", Some(Schedule::Daily), 1_000)],
            at("2026-11-26T00:00:00Z"),
            at("2026-12-26T00:00:00Z"),
            Some(10_000),
        )
        .unwrap();
        assert_eq!(p.total.runs, 30);
        assert_eq!(p.total.units, 30_000);
        assert_eq!(p.total.exhausted_on, Some(date("2026-12-06")));
        assert_eq!(p.total.overage_units, Some(20_000));
        assert_eq!(p.workflows[0].exhausted_on, Some(date("2026-12-06")));
        assert_eq!(p.workflows[0].overage_units, Some(20_000));
        assert!(p.runs_out());
        // one chart point per day: 30 days; day 1 = 1,000, day 10 (5 Dec) = 10,000, day 30 = 30,000
        assert_eq!(p.days.len(), 30);
        assert_eq!(
            p.days[0],
            DayPoint {
                date: date("2026-11-26"),
                units: 1_000
            }
        );
        assert_eq!(
            p.days[9],
            DayPoint {
                date: date("2026-12-05"),
                units: 10_000
            }
        );
        assert_eq!(
            p.days[29],
            DayPoint {
                date: date("2026-12-25"),
                units: 30_000
            }
        );
    }

    #[test]
    fn exactly_enough_is_not_exhausted() {
        // 30 runs × 1,000 = 30,000 = units_left: every run is paid
        let p = project(
            &[wf("daily", Some(Schedule::Daily), 1_000)],
            at("2026-11-26"),
            at("2026-12-26"),
            Some(30_000),
        )
        .unwrap();
        assert_eq!(p.total.exhausted_on, None);
        assert_eq!(p.total.overage_units, Some(0));
        assert!(!p.runs_out());
    }

    #[test]
    fn part_paid_run_and_two_workflows_share_the_balance() {
        // A: daily 1,000; B: weekly 2,500; 26 Nov 00:00 .. 3 Dec 00:00 (7 days), 8,000 left.
        // A runs 26 Nov .. 2 Dec = 7 runs = 7,000. B runs 26 Nov only (3 Dec is the end) = 2,500.
        // At the same instant A (given first) runs before B.
        // Order: A26 1,000 | B26 3,500 | A27 4,500 | A28 5,500 | A29 6,500 | A30 7,500 | A1 8,500 > 8,000
        // -> A's run on 1 Dec is part-paid (500 overage), A2 adds 1,000: A overage 1,500, B none.
        let p = project(
            &[
                wf("A", Some(Schedule::Daily), 1_000),
                wf("B", Some(Schedule::Weekly), 2_500),
            ],
            at("2026-11-26"),
            at("2026-12-03"),
            Some(8_000),
        )
        .unwrap();
        assert_eq!(p.workflows[0].runs, 7);
        assert_eq!(p.workflows[1].runs, 1);
        assert_eq!(p.total.units, 9_500);
        assert_eq!(p.workflows[0].exhausted_on, Some(date("2026-12-01")));
        assert_eq!(p.workflows[0].overage_units, Some(1_500));
        assert_eq!(p.workflows[1].exhausted_on, None);
        assert_eq!(p.workflows[1].overage_units, Some(0));
        assert_eq!(p.total.overage_units, Some(1_500));
        assert_eq!(p.total.exhausted_on, Some(date("2026-12-01")));
    }

    #[test]
    fn no_balance_no_verdict() {
        // no schedule = once: 1 run of 700 units
        let p = project(
            &[wf("one-off", None, 700)],
            at("2026-11-26"),
            at("2026-12-26"),
            None,
        )
        .unwrap();
        assert_eq!(p.workflows[0].schedule, Schedule::Once);
        assert_eq!((p.total.runs, p.total.units), (1, 700));
        assert_eq!(p.total.overage_units, None);
        assert_eq!(p.workflows[0].overage_units, None);
        assert!(!p.runs_out());
    }

    #[test]
    fn bad_periods() {
        let w = [wf("w", Some(Schedule::Daily), 1)];
        let err = project(&w, at("2026-12-26"), at("2026-12-26"), None).unwrap_err();
        assert!(err.to_string().contains("is not after now"), "{err}");
        let err = project(&w, at("2026-01-01"), at("2099-01-01"), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("a forecast covers at most 3660 days"),
            "{err}"
        );
    }

    #[test]
    fn overflow_is_an_error() {
        let w = [wf("w", Some(Schedule::Daily), u64::MAX / 2)];
        let err = project(&w, at("2026-11-26"), at("2026-11-29"), None).unwrap_err();
        assert_eq!(err, FinanceError::UnitsOverflow { quantity: "units" });
    }
}
