//! Date-times given on the command line, and the run times a schedule gives in a period.
//!
//! Everything is UTC: a date-time with an offset is converted, one without is taken as UTC (the
//! SE Ranking subscription dates carry no zone).

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime};

use crate::workflow::Schedule;

/// The longest period a forecast covers (ten years and change), so a typo in a year cannot make
/// it enumerate millions of runs.
pub const MAX_PERIOD_DAYS: i64 = 3660;

/// Parses `2026-11-26T00:00:00Z` (RFC 3339, any offset), `2026-11-26 00:00:00`,
/// `2026-11-26T00:00:00` or `2026-11-26` (midnight), all UTC.
pub fn parse_datetime(text: &str) -> Result<NaiveDateTime, String> {
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(past_leap_second(t.naive_utc()));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(trimmed, format) {
            return Ok(past_leap_second(t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    Err(format!(
        "{trimmed:?} is not a date-time; write it as 2026-11-26T00:00:00Z (RFC 3339), 2026-11-26 00:00:00 or 2026-11-26 (UTC)"
    ))
}

/// A leap second (`23:59:60`, which chrono keeps as 23:59:59 and a second of nanoseconds) is
/// the next day's `00:00:00`: whole days added to it then land on midnights, as for any other
/// time (before: runs 86,399 s apart, one more in the period).
fn past_leap_second(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    if t.nanosecond() < 1_000_000_000 {
        return t;
    }
    let whole = t
        .with_nanosecond(t.nanosecond() - 1_000_000_000)
        .unwrap_or(t);
    whole + chrono::Duration::seconds(1)
}

/// The run times of `schedule` from `now` (a run at `now` counts) up to, not including, `end`.
///
/// `once` runs at `now`. `daily`, `weekly` and `every N days` add whole days to `now`.
/// `monthly` runs on `now`'s day of the month each month, at `now`'s time, on the last day of
/// shorter months (Jan 31 → Feb 28 → Mar 31: each run is counted from `now`, so a short month
/// does not pull later runs earlier).
pub fn run_times(schedule: Schedule, now: NaiveDateTime, end: NaiveDateTime) -> Vec<NaiveDateTime> {
    let mut runs = Vec::new();
    let step_days = match schedule {
        Schedule::Once => {
            if now < end {
                runs.push(now);
            }
            return runs;
        }
        Schedule::Daily => 1,
        Schedule::Weekly => 7,
        Schedule::EveryDays(n) => i64::from(n),
        Schedule::Monthly => {
            for k in 0u32.. {
                match now.checked_add_months(Months::new(k)) {
                    Some(t) if t < end => runs.push(t),
                    _ => break,
                }
            }
            return runs;
        }
    };
    for k in 0i64.. {
        let t =
            Duration::try_days(step_days.saturating_mul(k)).and_then(|d| now.checked_add_signed(d));
        match t {
            Some(t) if t < end => runs.push(t),
            _ => break,
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn at(text: &str) -> NaiveDateTime {
        parse_datetime(text).expect("date-time")
    }

    #[test]
    fn a_leap_second_is_the_next_midnight() {
        // 23:59:60 is the instant 2027-01-01T00:00:00; a daily run from it lands on 2 Jan
        // 00:00, the period end, so it does not count: one run.
        assert_eq!(at("2026-12-31T23:59:60Z"), at("2027-01-01T00:00:00Z"));
        assert_eq!(at("2026-12-31 23:59:60"), at("2027-01-01 00:00:00"));
        runs(
            "daily",
            "2026-12-31T23:59:60Z",
            "2027-01-02T00:00:00Z",
            &["2027-01-01T00:00:00Z"],
        );
    }

    #[track_caller]
    fn runs(schedule: &str, now: &str, end: &str, expected: &[&str]) {
        let got: Vec<NaiveDateTime> =
            run_times(Schedule::parse(schedule).unwrap(), at(now), at(end));
        let expected: Vec<NaiveDateTime> = expected.iter().map(|t| at(t)).collect();
        assert_eq!(got, expected, "{schedule} from {now} to {end}");
    }

    #[test]
    fn datetime_forms() {
        let midnight = NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        for text in [
            "2026-11-26T00:00:00Z",
            "2026-11-26T01:00:00+01:00",
            "2026-11-26 00:00:00",
            "2026-11-26T00:00:00",
            "2026-11-26",
            " 2026-11-26 ",
        ] {
            assert_eq!(parse_datetime(text), Ok(midnight), "{text}");
        }
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-11-26 25:00:00",
            "26/11/2026",
        ] {
            let err = parse_datetime(bad).unwrap_err();
            assert!(err.contains("is not a date-time"), "{bad}: {err}");
        }
    }

    #[test]
    fn once() {
        runs(
            "once",
            "2026-11-26T10:00:00Z",
            "2026-12-26",
            &["2026-11-26T10:00:00Z"],
        );
    }

    #[test]
    fn daily_counts_now_and_stops_before_end() {
        // 2026-11-26 00:00 to 2026-12-01 00:00: runs on 26, 27, 28, 29, 30 (not on the 1st)
        runs(
            "daily",
            "2026-11-26",
            "2026-12-01",
            &[
                "2026-11-26",
                "2026-11-27",
                "2026-11-28",
                "2026-11-29",
                "2026-11-30",
            ],
        );
        // one second later the 1st would count
        assert_eq!(
            run_times(Schedule::Daily, at("2026-11-26"), at("2026-12-01 00:00:01")).len(),
            6
        );
    }

    #[test]
    fn weekly() {
        // 2026-11-26 + 0, 7, 14, 21, 28 days = 26 Nov, 3, 10, 17, 24 Dec; 31 Dec is at the end
        runs(
            "weekly",
            "2026-11-26 09:30:00",
            "2026-12-31 09:30:00",
            &[
                "2026-11-26 09:30:00",
                "2026-12-03 09:30:00",
                "2026-12-10 09:30:00",
                "2026-12-17 09:30:00",
                "2026-12-24 09:30:00",
            ],
        );
    }

    #[test]
    fn every_n_days() {
        // every 10 days from 26 Nov to 26 Dec: 26 Nov, 6 Dec, 16 Dec (26 Dec is the end)
        runs(
            "every 10 days",
            "2026-11-26",
            "2026-12-26",
            &["2026-11-26", "2026-12-06", "2026-12-16"],
        );
    }

    #[test]
    fn monthly_clamps_to_month_end() {
        // 31 Jan, then 28 Feb (2027 is no leap year), 31 Mar, 30 Apr; 31 May is the end
        runs(
            "monthly",
            "2027-01-31 12:00:00",
            "2027-05-31 12:00:00",
            &[
                "2027-01-31 12:00:00",
                "2027-02-28 12:00:00",
                "2027-03-31 12:00:00",
                "2027-04-30 12:00:00",
            ],
        );
        // 2028 is a leap year: 31 Jan -> 29 Feb
        runs(
            "monthly",
            "2028-01-31",
            "2028-03-01",
            &["2028-01-31", "2028-02-29"],
        );
    }

    #[test]
    fn nothing_when_the_period_is_over() {
        for schedule in ["once", "daily", "weekly", "monthly", "every 3 days"] {
            runs(schedule, "2026-12-26", "2026-12-26", &[]);
            runs(schedule, "2026-12-27", "2026-12-26", &[]);
        }
    }
}
