//! Error bodies in any of the vendor's envelopes, reduced to one readable line, and the decision
//! of what an HTTP status means. Pure: no I/O, so every case is unit-tested.

use serde_json::Value;

/// Longest vendor text shown, in characters.
const MAX_TEXT: usize = 240;

/// The vendor's text from an error body: `error_description`, `error.{message, description}`,
/// `message`, or — when the body is not JSON (an HTML page from a proxy) — its title or text.
/// The key is scrubbed from the whole body *before* it is shortened, so a cut can never leave a
/// piece of the key that no longer matches it.
pub fn error_text(body: &[u8], key: &str) -> String {
    let text = scrub(&String::from_utf8_lossy(body), key);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "empty body".into();
    }
    if let Ok(json) = serde_json::from_str::<Value>(trimmed) {
        if let Some(found) = json_text(&json) {
            return one_line(&found);
        }
        return one_line(&format!("unrecognised error body {}", compact(&json)));
    }
    if trimmed.starts_with('<') {
        let found = html_title(trimmed)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| strip_tags(trimmed));
        let found = one_line(&found);
        return if found.is_empty() {
            "an HTML page".into()
        } else {
            format!("{found} (an HTML page)")
        };
    }
    one_line(trimmed)
}

fn json_text(json: &Value) -> Option<String> {
    let object = json.as_object()?;
    if let Some(text) = object.get("error_description").and_then(Value::as_str) {
        return Some(text.to_string());
    }
    match object.get("error") {
        Some(Value::Object(error)) => {
            let parts: Vec<&str> = ["message", "description"]
                .iter()
                .filter_map(|k| error.get(*k).and_then(Value::as_str))
                .filter(|s| !s.trim().is_empty())
                .collect();
            if !parts.is_empty() {
                return Some(parts.join(": "));
            }
        }
        Some(Value::String(text)) => return Some(text.clone()),
        _ => {}
    }
    object
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn compact(json: &Value) -> String {
    json.to_string()
}

fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    Some(html[open_end..close].to_string())
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whitespace collapsed to single spaces, control characters dropped, cut at [`MAX_TEXT`].
pub fn one_line(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined: String = words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if joined.chars().count() > MAX_TEXT {
        let cut: String = joined.chars().take(MAX_TEXT).collect();
        format!("{}…", cut.trim_end())
    } else {
        joined
    }
}

/// Removes the key and any `apikey=VALUE` from a text that may reach a message.
pub fn scrub(text: &str, key: &str) -> String {
    let mut out = if key.is_empty() {
        text.to_string()
    } else {
        text.replace(key, "<redacted>")
    };
    let mut from = 0;
    while let Some(found) = out[from..].to_ascii_lowercase().find("apikey=") {
        let value_start = from + found + "apikey=".len();
        let value_end = out[value_start..]
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '"' || c == '\'')
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "<redacted>");
        from = value_start + "<redacted>".len();
    }
    out
}

/// What a non-2xx reply means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Try again later: 429, 500, 502, 503, 504.
    Retry,
    InsufficientFunds,
    LicenseExpired,
    NoToken,
    AuthFailed,
    /// Any other refusal: not retried.
    Rejected,
}

/// Decides from the status and the vendor's text. The text wins: "Insufficient funds" has been
/// seen with 400, 402 and 403 and is never retried, whatever the status.
pub fn classify(status: u16, text: &str) -> Disposition {
    let lower = text.to_lowercase();
    if lower.contains("insufficient funds") {
        Disposition::InsufficientFunds
    } else if lower.contains("license expired") {
        Disposition::LicenseExpired
    } else if lower.contains("no token") {
        Disposition::NoToken
    } else if lower.contains("authentication failed") || status == 401 {
        Disposition::AuthFailed
    } else if matches!(status, 429 | 500 | 502 | 503 | 504) {
        Disposition::Retry
    } else if status == 403 {
        Disposition::AuthFailed
    } else {
        Disposition::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn text_is(body: &str, expected: &str) {
        assert_eq!(error_text(body.as_bytes(), ""), expected, "body: {body}");
    }

    #[test]
    fn every_envelope_becomes_one_line() {
        text_is(r#"{"error_description": "No token"}"#, "No token");
        text_is(
            r#"{"error": {"code": 429, "message": "Too Many Requests", "description": "The call-rate limit has been reached."}}"#,
            "Too Many Requests: The call-rate limit has been reached.",
        );
        text_is(r#"{"error": {"code": 500, "description": "Boom"}}"#, "Boom");
        text_is(r#"{"error": "License expired"}"#, "License expired");
        text_is(
            r#"{"message": "Service Unavailable"}"#,
            "Service Unavailable",
        );
        text_is(
            r#"{"detail": 1}"#,
            r#"unrecognised error body {"detail":1}"#,
        );
        text_is("", "empty body");
        text_is("Bad gateway\n\nplease retry", "Bad gateway please retry");
        text_is(
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><h1>502 Bad Gateway</h1></body></html>",
            "502 Bad Gateway (an HTML page)",
        );
        text_is(
            "<html><body><h1>Service down</h1><p>later</p></body></html>",
            "Service down later (an HTML page)",
        );
        text_is("<html></html>", "an HTML page");
    }

    #[test]
    fn long_text_is_cut() {
        let body = "x".repeat(1000);
        let text = error_text(body.as_bytes(), "");
        // 240 characters and the ellipsis.
        assert_eq!(text.chars().count(), 241);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn scrub_removes_key_and_apikey_values() {
        let key = "5ec7e7c0-abcd";
        assert_eq!(
            scrub("bad key 5ec7e7c0-abcd here", key),
            "bad key <redacted> here"
        );
        assert_eq!(
            scrub("GET /v1/x?apikey=other-secret&target=a.com", key),
            "GET /v1/x?apikey=<redacted>&target=a.com"
        );
        assert_eq!(
            scrub("url ?APIKEY=zz end", key),
            "url ?APIKEY=<redacted> end"
        );
        assert_eq!(scrub("apikey=", key), "apikey=<redacted>");
        assert_eq!(scrub("nothing secret", key), "nothing secret");
    }

    #[track_caller]
    fn classified(status: u16, text: &str, expected: Disposition) {
        assert_eq!(classify(status, text), expected, "{status} {text}");
    }

    #[test]
    fn statuses_and_texts_are_classified() {
        use Disposition::*;
        let funds = "Insufficient funds, API key is temporarily disabled.";
        for status in [400, 402, 403] {
            classified(status, funds, InsufficientFunds);
        }
        classified(503, funds, InsufficientFunds);
        classified(403, "License expired", LicenseExpired);
        classified(400, "No token", NoToken);
        classified(
            400,
            "Authentication failed. Please make sure your API key is valid",
            AuthFailed,
        );
        classified(401, "Unauthorized", AuthFailed);
        classified(403, "Forbidden", AuthFailed);
        for status in [429, 500, 502, 503, 504] {
            classified(status, "whatever", Retry);
        }
        classified(400, "Invalid target", Rejected);
        classified(404, "Not Found", Rejected);
        classified(501, "Not Implemented", Rejected);
        classified(301, "moved", Rejected);
    }

    #[test]
    fn a_key_across_the_cut_is_scrubbed_before_it() {
        let key = "SECRETKEY0123456789abcdefSECRET";
        // 230 characters of text, then the key: the 240-character cut falls inside the key.
        let message = format!("{} invalid token {key}", "x".repeat(215));
        let body = format!("{{\"message\": \"{message}\"}}");
        let text = error_text(body.as_bytes(), key);
        assert!(!text.contains("SECRETKEY"), "{text}");
        let html = format!("<html><title>{} {key}</title></html>", "y".repeat(230));
        let text = error_text(html.as_bytes(), key);
        assert!(!text.contains("SECRETKEY"), "{text}");
    }
}
