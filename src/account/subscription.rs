//! The `subscription_info` reply of `GET /v1/account/subscription`.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// The account's subscription as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub status: String,
    /// Negative values (seen on other vendors' accounts in overage) read as 0.
    pub units_left: u64,
    pub units_limit: u64,
    pub start: Option<NaiveDateTime>,
    pub expires: Option<NaiveDateTime>,
}

impl Subscription {
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("active")
    }

    /// Parses the reply body; `Err` says what is wrong with it, for a person.
    pub fn parse(body: &[u8]) -> Result<Subscription, String> {
        let json: Value = serde_json::from_slice(body).map_err(|e| {
            if body.iter().all(u8::is_ascii_whitespace) {
                "the body is empty".to_string()
            } else {
                format!("the body is not valid JSON ({})", json_error(&e))
            }
        })?;
        let info = json
            .get("subscription_info")
            .and_then(Value::as_object)
            .ok_or("the body has no subscription_info object")?;
        let status = info
            .get("status")
            .and_then(Value::as_str)
            .ok_or("subscription_info.status is missing or not a string")?
            .trim()
            .to_string();
        Ok(Subscription {
            status,
            units_left: units(info, "units_left")?,
            units_limit: units(info, "units_limit")?,
            start: date(info, &["start_date"])?,
            expires: date(info, &["expiration_date", "expiraton_date"])?,
        })
    }
}

fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// A unit count under `info.field`: a whole number, or a string holding one.
fn units(info: &Map<String, Value>, field: &str) -> Result<u64, String> {
    let value = info
        .get(field)
        .ok_or_else(|| format!("subscription_info.{field} is missing"))?;
    count(value, &format!("subscription_info.{field}"))
}

/// A unit count: a whole number, or a string holding one; negative values (seen on accounts in
/// overage) read as 0. `name` is the field's path, for the message.
pub(super) fn count(value: &Value, name: &str) -> Result<u64, String> {
    let number = match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    let number = number.ok_or_else(|| format!("{name} is {value}, not a whole number"))?;
    Ok(u64::try_from(number.max(0)).unwrap_or(u64::MAX))
}

/// A date under the first of `names` present; null or absent is `None`.
fn date(info: &Map<String, Value>, names: &[&str]) -> Result<Option<NaiveDateTime>, String> {
    let Some((name, value)) = names.iter().find_map(|n| info.get(*n).map(|v| (*n, v))) else {
        return Ok(None);
    };
    date_value(value, &format!("subscription_info.{name}"))
}

/// A date (`2024-02-18 14:20:02`, `2024-02-18T14:20:02`, RFC 3339 with an offset, read in UTC,
/// or `2024-02-18`); null is `None`. `name` is the field's path, for the message.
pub(super) fn date_value(value: &Value, name: &str) -> Result<Option<NaiveDateTime>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => parse_date(s.trim())
            .map(Some)
            .ok_or_else(|| format!("{name} is {s:?}, not a date like 2024-02-18 14:20:02")),
        other => Err(format!(
            "{name} is {other}, not a date like 2024-02-18 14:20:02"
        )),
    }
}

fn parse_date(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.naive_utc())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<NaiveDateTime> {
        Some(NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap())
    }

    #[test]
    fn both_expiry_spellings() {
        for key in ["expiration_date", "expiraton_date"] {
            let body = format!(
                r#"{{"subscription_info": {{"status": "active", "start_date": "2024-01-18 14:20:02",
                   "{key}": "2024-02-18 14:20:02", "units_limit": 5000000, "units_left": 4975033}}}}"#
            );
            let s = Subscription::parse(body.as_bytes()).unwrap();
            assert_eq!(
                s,
                Subscription {
                    status: "active".into(),
                    units_left: 4_975_033,
                    units_limit: 5_000_000,
                    start: at("2024-01-18 14:20:02"),
                    expires: at("2024-02-18 14:20:02"),
                },
                "{key}"
            );
            assert!(s.is_active());
        }
    }

    #[test]
    fn lenient_numbers_and_missing_dates() {
        let body = r#"{"subscription_info": {"status": "Expired", "units_limit": "100", "units_left": -5,
                      "start_date": null}}"#;
        let s = Subscription::parse(body.as_bytes()).unwrap();
        assert_eq!(
            (s.units_left, s.units_limit, s.start, s.expires),
            (0, 100, None, None)
        );
        assert!(!s.is_active());
    }

    #[track_caller]
    fn rejected(body: &str, phrase: &str) {
        let reason = Subscription::parse(body.as_bytes()).unwrap_err();
        assert!(reason.contains(phrase), "{reason:?} lacks {phrase:?}");
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        rejected("", "the body is empty");
        rejected(
            "{\"subscription_info\": {",
            "not valid JSON (EOF while parsing an object)",
        );
        rejected("<html></html>", "not valid JSON");
        rejected("[]", "no subscription_info object");
        rejected(
            r#"{"subscription_info": {"units_left": 1, "units_limit": 2}}"#,
            "status is missing",
        );
        rejected(
            r#"{"subscription_info": {"status": "active", "units_limit": 2}}"#,
            "units_left is missing",
        );
        rejected(
            r#"{"subscription_info": {"status": "active", "units_left": 1.5, "units_limit": 2}}"#,
            "units_left is 1.5, not a whole number",
        );
        rejected(
            r#"{"subscription_info": {"status": "active", "units_left": 1, "units_limit": 2, "expiraton_date": "18/02/2024"}}"#,
            "expiraton_date is \"18/02/2024\", not a date like 2024-02-18 14:20:02",
        );
    }
}
