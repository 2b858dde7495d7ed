//! Human-friendly counts: `250`, `"1_000_000"`, `"10,000"`, `"250k"`, `"1.5M"`.
//!
//! Workflows are written by people, and "250k" is how people write quantities. A count is a
//! non-negative whole number; anything else is refused with a message that says what to write.

use rust_decimal::Decimal;
use serde_yaml::Value;

/// Parses a count from text.
pub fn parse(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let cleaned: String = trimmed.chars().filter(|c| *c != '_' && *c != ',').collect();
    let (digits, factor) = match cleaned.chars().last() {
        Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1_000u64),
        Some('M') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        Some('m') => {
            return Err(format!(
                "{trimmed:?}: write millions with a capital M (\"{}M\")",
                &cleaned[..cleaned.len() - 1]
            ))
        }
        _ => (cleaned.as_str(), 1),
    };
    let hint = "write a whole number such as 250, \"10_000\", \"250k\" or \"1.5M\"";
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if digits.starts_with('-') {
            return Err(format!("{trimmed:?} is negative; {hint}"));
        }
        return Err(format!("{trimmed:?} is not a count; {hint}"));
    }
    if factor == 1 {
        return digits
            .parse::<u64>()
            .map_err(|_| match digits.contains('.') {
                true => format!("{trimmed:?} is not a whole number; {hint}"),
                false => format!("{trimmed:?} is too large (the maximum is {})", u64::MAX),
            });
    }
    let mantissa: Decimal = digits
        .parse()
        .map_err(|_| format!("{trimmed:?} is not a count; {hint}"))?;
    let value = mantissa
        .checked_mul(Decimal::from(factor))
        .ok_or_else(|| format!("{trimmed:?} is too large"))?;
    if !value.fract().is_zero() {
        return Err(format!("{trimmed:?} is not a whole number; {hint}"));
    }
    u64::try_from(value)
        .map_err(|_| format!("{trimmed:?} is too large (the maximum is {})", u64::MAX))
}

/// Parses a count from a YAML scalar (a number or a string).
pub fn from_yaml(value: &Value) -> Result<u64, String> {
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(n) => Ok(n),
            None if n.as_i64().is_some() => Err(format!(
                "{n} is negative; write a whole number of 0 or more"
            )),
            None => Err(format!("{n} is not a whole number")),
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
    }

    #[test]
    fn yaml_numbers() {
        assert_eq!(from_yaml(&Value::from(7u64)), Ok(7));
        assert!(from_yaml(&Value::from(-7i64))
            .unwrap_err()
            .contains("negative"));
        assert!(from_yaml(&Value::from(2.5f64))
            .unwrap_err()
            .contains("not a whole number"));
        assert!(from_yaml(&Value::Bool(true))
            .unwrap_err()
            .contains("expected a count"));
    }
}
