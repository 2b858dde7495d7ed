//! Human-friendly counts: `250`, `"1_000_000"`, `"10,000"`, `"250k"`, `"1.5M"`.
//!
//! Workflows are written by people, and "250k" is how people write quantities. A count is a
//! non-negative whole number; anything else is refused with a message that says what to write.

use rust_decimal::Decimal;
use serde_yaml::Value;

/// A duration in whole milliseconds, saturating at `u64::MAX` (585 million years).
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
pub fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A non-negative finite `f64` rounded up to a whole number; negative or NaN is 0, beyond
/// `u64::MAX` saturates (for display only: never for units, which are `u64` throughout).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "float-to-int `as` saturates and maps NaN to 0, which is what display wants"
)]
pub fn ceil_u64(x: f64) -> u64 {
    x.ceil() as u64
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    group_digits(&n.to_string())
}

/// A run of ASCII digits grouped by thousands: `"1234567"` → `"1,234,567"` (for numbers wider
/// than `u64`, such as a decimal's whole part).
pub fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `text` as an error message quotes it: at most 40 characters, cut with `…`.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Parses a count from text.
pub fn parse(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let shown = quoted(trimmed);
    check_separators(trimmed)?;
    let cleaned: String = trimmed.chars().filter(|c| *c != '_' && *c != ',').collect();
    let (digits, factor) = match cleaned.chars().last() {
        Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1_000u64),
        Some('M') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        Some('m') => {
            return Err(format!(
                "{shown}: write millions with a capital M (\"{}M\")",
                &cleaned[..cleaned.len() - 1]
            ))
        }
        _ => (cleaned.as_str(), 1),
    };
    let hint = "write a whole number such as 250, \"10_000\", \"250k\" or \"1.5M\"";
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if digits.starts_with('-') {
            return Err(format!("{shown} is negative; {hint}"));
        }
        return Err(format!("{shown} is not a count; {hint}"));
    }
    if factor == 1 {
        return digits
            .parse::<u64>()
            .map_err(|_| match digits.contains('.') {
                true => format!("{shown} is not a whole number; {hint}"),
                false => format!("{shown} is too large (the maximum is {})", u64::MAX),
            });
    }
    let mantissa: Decimal = digits
        .parse()
        .map_err(|_| format!("{shown} is not a count; {hint}"))?;
    let value = mantissa
        .checked_mul(Decimal::from(factor))
        .ok_or_else(|| format!("{shown} is too large"))?;
    if !value.fract().is_zero() {
        return Err(format!("{shown} is not a whole number; {hint}"));
    }
    u64::try_from(value).map_err(|_| format!("{shown} is too large (the maximum is {})", u64::MAX))
}

/// A unit count or a percentage of some base: `"50k"` or `"10%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitsOrPercent {
    Units(u64),
    Percent(Decimal),
}

/// Parses a count or a percentage of 0 or more, at most `max_percent` when given.
pub fn units_or_percent(
    text: &str,
    max_percent: Option<Decimal>,
) -> Result<UnitsOrPercent, String> {
    let text = text.trim();
    let shown = quoted(text);
    let Some(number) = text.strip_suffix('%') else {
        return parse(text)
            .map(UnitsOrPercent::Units)
            .map_err(|e| format!("{e}; or a percentage such as \"10%\""));
    };
    let percent: Decimal = number
        .trim()
        .parse()
        .map_err(|_| format!("{shown} is not a percentage; write it like \"10%\""))?;
    if percent.is_sign_negative() {
        return Err(format!("{shown} is negative; a percentage is 0% or more"));
    }
    match max_percent {
        Some(max) if percent > max => Err(format!("{shown} is not between 0% and {max}%")),
        _ => Ok(UnitsOrPercent::Percent(percent)),
    }
}

/// Separators only where a person puts them: `,` between groups of three digits (so `"1,5k"`,
/// a European 1.5k, is refused rather than read as 15,000), `_` between digits, neither in the
/// decimals.
fn check_separators(text: &str) -> Result<(), String> {
    let whole = text.split('.').next().unwrap_or(text);
    let whole = whole.trim_end_matches(['k', 'K', 'M', 'm']);
    let bad = |why: &str| {
        Err(format!(
            "{}: {why}; write it like \"10,000\", \"10_000\" or \"1.5k\"",
            quoted(text)
        ))
    };
    if text
        .split('.')
        .nth(1)
        .is_some_and(|decimals| decimals.contains([',', '_']))
    {
        return bad("separators in the decimals");
    }
    let groups: Vec<&str> = whole.split(',').collect();
    if groups.len() > 1 {
        let digits = |g: &str| g.replace('_', "").len();
        let first_ok = (1..=3).contains(&digits(groups[0]));
        let rest_ok = groups[1..]
            .iter()
            .all(|g| digits(g) == 3 && !g.contains('_'));
        if !first_ok || !rest_ok {
            return bad("`,` separates groups of three digits (the decimal mark is `.`)");
        }
    }
    for part in whole.split(',') {
        if part.starts_with('_') || part.ends_with('_') || part.contains("__") {
            return bad("`_` goes between digits");
        }
    }
    Ok(())
}

/// YAML floats (`1e3`, `2.5e6`, `250.0`) are counts only below 2⁵²: there every half is a
/// float of its own, so a fraction (`x.5`) cannot round to a whole number unseen, and a whole
/// number is held exactly. From 2⁵² on, `4503599627370496.5` would read as a whole number and
/// `9007199254740993.0` as one less: the digits must be written as digits.
const EXACT_FLOAT: f64 = 4_503_599_627_370_496.0;

/// Parses a count from a YAML scalar (a number or a string).
pub fn from_yaml(value: &Value) -> Result<u64, String> {
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(n) => Ok(n),
            None if n.as_i64().is_some() => Err(format!(
                "{n} is negative; write a whole number such as 250"
            )),
            // `1e3` is a whole number written as a float; accept it while it is exact.
            None => match n.as_f64() {
                Some(f) if f.is_sign_negative() && f != 0.0 => Err(format!(
                    "{n} is negative; write a whole number such as 250"
                )),
                Some(f) if f.fract() == 0.0 && f < EXACT_FLOAT => Ok(ceil_u64(f)),
                // Whole, but past what a float holds exactly (`1e16`, `1e30`, `.inf`).
                Some(f) if f.is_infinite() || f >= EXACT_FLOAT => {
                    Err(format!(
                        "{n} is too large for a number with a decimal point or an exponent (at most {}); write the digits, e.g. \"10_000_000_000_000_000\"",
                        thousands((1 << 52) - 1)
                    ))
                }
                _ => Err(format!("{n} is not a whole number")),
            },
        },
        Value::String(s) => parse(s),
        other => Err(format!(
            "expected a count, found {}",
            crate::yaml_inline(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_by_hand() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(26000), "26,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[track_caller]
    fn ok(text: &str, expected: u64) {
        assert_eq!(parse(text), Ok(expected), "input {text:?}");
    }

    #[track_caller]
    fn err(text: &str, phrase: &str) {
        let e = parse(text).unwrap_err();
        assert!(e.contains(phrase), "input {text:?}: {e}");
    }

    #[test]
    fn accepted_forms() {
        ok("250", 250);
        ok("1_000_000", 1_000_000);
        ok("10,000", 10_000);
        ok("1,234,567", 1_234_567);
        ok("1,500k", 1_500_000);
        ok("10000_0", 100_000);
        ok("250k", 250_000);
        ok("250K", 250_000);
        ok("3M", 3_000_000);
        ok("1.5M", 1_500_000);
        ok("0.5k", 500);
        ok(" 42 ", 42);
        ok("18446744073709551615", u64::MAX);
    }

    #[test]
    fn refused_forms() {
        err("-5", "negative");
        err("ten", "not a count");
        err("1.5", "not a whole number");
        err("1.0005k", "not a whole number");
        err("18446744073709551616", "too large");
        err("99999999999999999999M", "too large");
        err("5m", "capital M");
        err("", "not a count");
        err("k", "not a count");
        err("1,5k", "groups of three digits");
        err("2,6", "groups of three digits");
        err("10,00", "groups of three digits");
        err("1.000,5", "decimals");
        err("_100", "between digits");
        err("1__000", "between digits");
    }

    #[test]
    fn yaml_numbers() {
        assert_eq!(from_yaml(&Value::from(7u64)), Ok(7));
        assert!(from_yaml(&Value::from(-7i64))
            .unwrap_err()
            .contains("negative"));
        assert_eq!(from_yaml(&Value::from(1000.0f64)), Ok(1000));
        assert!(from_yaml(&Value::from(2.5f64))
            .unwrap_err()
            .contains("not a whole number"));
        assert!(from_yaml(&Value::Bool(true))
            .unwrap_err()
            .contains("expected a count"));
    }

    #[track_caller]
    fn yaml_err(text: &str, phrase: &str) {
        let value: Value = serde_yaml::from_str(text).unwrap();
        let e = from_yaml(&value).unwrap_err();
        assert!(e.contains(phrase), "input {text}: {e}");
    }

    #[test]
    fn yaml_floats_say_what_is_wrong() {
        // Invariant: a whole number too large for a float is "too large", not "not a whole
        // number" (the old message for 1e16 and 1e30); a negative one is "negative".
        yaml_err(
            "1e16",
            "1e16 is too large for a number with a decimal point or an exponent (at most 4,503,599,627,370,495)",
        );
        yaml_err("1e30", "1e30 is too large");
        yaml_err(".inf", "is too large");
        yaml_err("-2.5", "-2.5 is negative");
        yaml_err("-1e3", "is negative");
        // The advice must not suggest 0, which fields of at least 1 refuse in turn.
        yaml_err("-1", "-1 is negative; write a whole number such as 250");
        yaml_err("2.5", "2.5 is not a whole number");
        yaml_err(".nan", "is not a whole number");
        // Below 2^52 a float holds every whole number and every half: 2^52 − 1 reads exactly.
        let exact: Value = serde_yaml::from_str("4.503599627370495e15").unwrap();
        assert_eq!(from_yaml(&exact), Ok(4_503_599_627_370_495));
        // From 2^52 on a fraction or the last digit is lost in the float, so the count is
        // refused rather than read wrong (before: 9007199254740993.0 read as …992, a plan 100
        // units low; 4503599627370496.5 read as a whole number).
        yaml_err(
            "9007199254740993.0",
            "is too large for a number with a decimal point",
        );
        yaml_err(
            "4503599627370496.5",
            "is too large for a number with a decimal point",
        );
        yaml_err(
            "4503599627370496.0",
            "is too large for a number with a decimal point",
        );
        // Written as digits, the same count is exact.
        let digits: Value = serde_yaml::from_str("9007199254740993").unwrap();
        assert_eq!(from_yaml(&digits), Ok(9_007_199_254_740_993));
    }

    use proptest::prelude::*;

    /// Counts from 0 to `u64::MAX`, the edges more often than chance would pick them.
    fn counts() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..100_000, any::<u64>(), (u64::MAX - 1000)..=u64::MAX]
    }

    /// `digits` with `sep` between groups of three from the right (a formatter written apart
    /// from `thousands`, which is under test too).
    fn grouped(digits: &str, sep: char) -> String {
        let reversed: Vec<char> = digits.chars().rev().collect();
        let mut groups: Vec<String> = reversed
            .chunks(3)
            .map(|group| group.iter().rev().collect())
            .collect();
        groups.reverse();
        groups.join(&sep.to_string())
    }

    proptest! {
        /// Invariant: every way the tool and people write a count reads back as that count.
        #[test]
        fn written_counts_read_back(n in counts()) {
            let digits = n.to_string();
            prop_assert_eq!(parse(&digits), Ok(n));
            prop_assert_eq!(parse(&thousands(n)), Ok(n));
            prop_assert_eq!(thousands(n), grouped(&digits, ','));
            prop_assert_eq!(parse(&grouped(&digits, '_')), Ok(n));
            prop_assert_eq!(parse(&format!(" {digits}\t")), Ok(n));
        }

        /// Invariant: `k` and `M` multiply exactly, with decimals as far as they make a whole
        /// number; beyond `u64::MAX` a count is "too large", never wrapped.
        #[test]
        fn suffixes_multiply_exactly(m in counts(), tenth in 0u64..10) {
            let exact = u128::from(m) * 1000 + u128::from(tenth) * 100;
            let read = parse(&format!("{m}.{tenth}k"));
            match u64::try_from(exact) {
                Ok(n) => prop_assert_eq!(read, Ok(n)),
                Err(_) => prop_assert!(read.as_ref().is_err_and(|e| e.contains("too large")), "{:?}", read),
            }
            let million = u128::from(m) * 1_000_000;
            let read = parse(&format!("{m}M"));
            match u64::try_from(million) {
                Ok(n) => prop_assert_eq!(read, Ok(n)),
                Err(_) => prop_assert!(read.as_ref().is_err_and(|e| e.contains("too large")), "{:?}", read),
            }
        }

        /// Invariant: numbers past `u64::MAX` are "too large" (with the maximum), never wrapped.
        #[test]
        fn past_the_largest_count_is_too_large(n in (u128::from(u64::MAX) + 1)..=u128::MAX) {
            let e = parse(&n.to_string()).unwrap_err();
            prop_assert!(e.contains("is too large (the maximum is 18446744073709551615)"), "{}", e);
        }

        /// Invariant: a `,` anywhere but between groups of three digits is refused (`1,5k`, a
        /// European 1.5k, must never read as 15,000).
        #[test]
        fn misplaced_commas_are_refused(n in 1_000u64..u64::MAX, cut in 1usize..19) {
            let digits = n.to_string();
            let cut = cut % digits.len();
            prop_assume!(cut > 0 && (digits.len() - cut) % 3 != 0);
            let text = format!("{},{}", &digits[..cut], &digits[cut..]);
            let e = parse(&text).unwrap_err();
            prop_assert!(e.contains("groups of three digits"), "{}: {}", text, e);
        }

        /// Invariant: no text makes `parse` panic; what it accepts it also writes back.
        #[test]
        fn any_text_is_read_or_refused(text in proptest::string::string_regex("[0-9_,.kKmM%+\\- ]{0,30}|\\PC{0,30}").expect("a valid regex")) {
            if let Ok(n) = parse(&text) {
                prop_assert_eq!(parse(&thousands(n)), Ok(n));
            }
            let _ = units_or_percent(&text, Some(Decimal::from(100)));
        }
    }
}
