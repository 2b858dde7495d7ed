//! Date ranges of the history endpoints: how many billed periods (days, weeks, months) a range
//! holds.
//!
//! `backlinks/authority/page/history` returns one row per period of `date_from..date_to` at its
//! `granularity`; the history counts return one row per day. Both `budget plan` and the guard count
//! periods with these functions, so a step's forecast and the guard's price of the same call agree.
//! Pure: no clock (a caller that needs "today" passes it in).

use chrono::{Datelike, NaiveDate};

/// How a period endpoint groups its rows (`granularity` parameter; `by_day` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    #[default]
    ByDay,
    ByWeek,
    ByMonth,
}

impl Granularity {
    /// The API's spelling: `by_day`, `by_week`, `by_month`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "by_day" => Some(Self::ByDay),
            "by_week" => Some(Self::ByWeek),
            "by_month" => Some(Self::ByMonth),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ByDay => "by_day",
            Self::ByWeek => "by_week",
            Self::ByMonth => "by_month",
        }
    }
}

/// The words of [`Granularity::parse`], for messages.
pub const GRANULARITIES: &str = "by_day, by_week or by_month";

/// A date as the API writes it: `YYYY-MM-DD`, exactly (ten characters).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Periods of `from..=to` (both days included) at `granularity`: days; calendar months touched;
/// weeks touched, counting both a Monday and a Sunday week start and keeping the larger (the API
/// does not say where its weeks start). `from` must not be after `to`.
pub fn periods(from: NaiveDate, to: NaiveDate, granularity: Granularity) -> u64 {
    let days = (to - from).num_days();
    if days < 0 {
        return 0;
    }
    match granularity {
        Granularity::ByDay => days.unsigned_abs() + 1,
        Granularity::ByWeek => {
            let weeks = |start_monday: bool| {
                // Days since a fixed Monday (0001-01-01 was a Monday in the proleptic calendar).
                let index = |d: NaiveDate| {
                    let n = i64::from(d.num_days_from_ce()) - 1 + i64::from(!start_monday);
                    n.div_euclid(7)
                };
                (index(to) - index(from)).unsigned_abs() + 1
            };
            weeks(true).max(weeks(false))
        }
        Granularity::ByMonth => {
            let month = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
            (month(to) - month(from)).unsigned_abs() + 1
        }
    }
}

/// The most periods any range of `days` consecutive days can hold at `granularity`, whatever
/// day it starts on: the price of a call that names no dates, whose range the API chooses.
pub fn most_periods(days: u64, granularity: Granularity) -> u64 {
    if days == 0 {
        return 0;
    }
    match granularity {
        Granularity::ByDay => days,
        // A range that starts on the last day of a week touches one more week than it fills.
        Granularity::ByWeek => 1 + (days - 1).div_ceil(7),
        Granularity::ByMonth => {
            // Months touched only grow as the start moves later within its month, so the worst
            // start is the last day of some month; the calendar repeats every 400 years.
            let span = i64::try_from(days - 1).unwrap_or(i64::MAX);
            let mut most = 1u64;
            for year in 2000..2400 {
                for month in 1..=12u32 {
                    let Some(last) = last_day(year, month) else {
                        continue;
                    };
                    let Some(end) = last.checked_add_signed(chrono::Duration::days(span)) else {
                        // Beyond chrono's calendar: a month per 28 days is an upper bound.
                        return 1 + (days - 1).div_ceil(28);
                    };
                    most = most.max(periods(last, end, Granularity::ByMonth));
                }
            }
            most
        }
    }
}

fn last_day(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        parse_date(text).expect("date")
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(
            parse_date("2026-10-01"),
            NaiveDate::from_ymd_opt(2026, 10, 1)
        );
        for bad in [
            "2026-1-01",
            "2026-13-01",
            "26-10-01",
            "2026/10/01",
            " 2026-10-01",
            "2026-02-30",
            "２０２６-10-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn periods_by_hand() {
        // October 2026: 31 days; 2026-10-01 is a Thursday.
        assert_eq!(
            periods(d("2026-10-01"), d("2026-10-31"), Granularity::ByDay),
            31
        );
        assert_eq!(
            periods(d("2026-10-01"), d("2026-10-01"), Granularity::ByDay),
            1
        );
        // Jan..Oct 2026: 10 months.
        assert_eq!(
            periods(d("2026-01-01"), d("2026-10-31"), Granularity::ByMonth),
            10
        );
        assert_eq!(
            periods(d("2026-01-31"), d("2026-02-01"), Granularity::ByMonth),
            2
        );
        // Thu 1 Oct .. Sat 31 Oct. Monday weeks: Sep 28, Oct 5, 12, 19, 26 = 5.
        // Sunday weeks: Sep 27, Oct 4, 11, 18, 25 = 5.
        assert_eq!(
            periods(d("2026-10-01"), d("2026-10-31"), Granularity::ByWeek),
            5
        );
        // Sun 4 Oct .. Mon 5 Oct: Monday weeks Sep 28 and Oct 5 = 2; Sunday weeks Oct 4 = 1.
        assert_eq!(
            periods(d("2026-10-04"), d("2026-10-05"), Granularity::ByWeek),
            2
        );
        // Sat 3 Oct .. Sun 4 Oct: Monday weeks 1; Sunday weeks Sep 27 and Oct 4 = 2.
        assert_eq!(
            periods(d("2026-10-03"), d("2026-10-04"), Granularity::ByWeek),
            2
        );
        assert_eq!(
            periods(d("2026-10-05"), d("2026-10-04"), Granularity::ByDay),
            0
        );
    }

    #[test]
    fn most_periods_by_hand() {
        assert_eq!(most_periods(365, Granularity::ByDay), 365);
        // 1 + ceil(364 / 7) = 53; 8 days can touch 2 weeks, 9 days 3 (Sun | Mon..Sun | Mon).
        assert_eq!(most_periods(365, Granularity::ByWeek), 53);
        assert_eq!(most_periods(8, Granularity::ByWeek), 2);
        assert_eq!(most_periods(9, Granularity::ByWeek), 3);
        // 365 days from the last day of a month touch 13 months (e.g. 31 Jan .. 30 Jan).
        assert_eq!(most_periods(365, Granularity::ByMonth), 13);
        // 30 days from 31 Jan in a common year end on 1 Mar: January, February, March.
        assert_eq!(most_periods(30, Granularity::ByMonth), 3);
        assert_eq!(most_periods(2, Granularity::ByMonth), 2);
        assert_eq!(most_periods(1, Granularity::ByMonth), 1);
        assert_eq!(most_periods(0, Granularity::ByDay), 0);
    }
}
