//! Error bodies in any of the vendor's envelopes, reduced to one readable line, and the one retry
//! classifier: what a status and the vendor's text mean (retry, or which terminal condition).
//! Pure: no I/O, so every case is unit-tested.

use serde_json::Value;

use super::Scrubber;

/// Longest vendor text shown, in characters.
const MAX_TEXT: usize = 240;

/// The vendor's text from an error body: `error_description`, `error.{message, description}`,
/// `message`, or — when the body is not JSON (an HTML page from a proxy) — its title or text.
/// The key is scrubbed from the whole body *before* it is shortened, so a cut can never leave a
/// piece of the key that no longer matches it.
pub fn error_text(body: &[u8], scrubber: &Scrubber) -> String {
    let text = String::from_utf8_lossy(&scrubber.scrub_bytes(body)).into_owned();
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

/// What a reply means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx: the answer (billed, for a billable call).
    Success,
    /// Try again later: 429, 500, 502, 503, 504 (unless the text says otherwise).
    Retry,
    /// Never retried.
    Terminal(Terminal),
}

/// Why a reply ends the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    InsufficientFunds,
    LicenseExpired,
    NoToken,
    AuthFailed,
    /// 3xx: redirects are not followed (the key must not go elsewhere).
    Redirect,
    /// Any other refusal.
    Rejected,
}

/// The one retry classifier, for every request path (account reads and the guard's forwarding).
/// A 2xx is a success whatever its body. Otherwise the vendor's text wins over the status:
/// "Insufficient funds" has been seen with 400, 402 and 403 and is terminal in any status (a 503
/// saying so is not retried either); then "License expired", "No token", "Authentication failed"
/// (or 401). Only then do 429 and 500/502/503/504 mean "retry".
pub fn classify(status: u16, text: &str) -> Class {
    let lower = text.to_lowercase();
    let terminal = if (200..300).contains(&status) {
        return Class::Success;
    } else if lower.contains("insufficient funds") {
        Terminal::InsufficientFunds
    } else if lower.contains("license expired") {
        Terminal::LicenseExpired
    } else if lower.contains("no token") {
        Terminal::NoToken
    } else if lower.contains("authentication failed") || status == 401 {
        Terminal::AuthFailed
    } else if matches!(status, 429 | 500 | 502 | 503 | 504) {
        return Class::Retry;
    } else if status == 403 {
        Terminal::AuthFailed
    } else if (300..400).contains(&status) {
        Terminal::Redirect
    } else {
        Terminal::Rejected
    };
    Class::Terminal(terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn text_is(body: &str, expected: &str) {
        assert_eq!(
            error_text(body.as_bytes(), &Scrubber::new(None)),
            expected,
            "body: {body}"
        );
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
        let text = error_text(body.as_bytes(), &Scrubber::new(None));
        // 240 characters and the ellipsis.
        assert_eq!(text.chars().count(), 241);
        assert!(text.ends_with('…'));
    }

    #[track_caller]
    fn classified(status: u16, text: &str, expected: Class) {
        assert_eq!(classify(status, text), expected, "{status} {text}");
    }

    #[test]
    fn statuses_and_texts_are_classified() {
        use Class::{Retry, Success};
        use Terminal::*;
        let t = Class::Terminal;
        let funds = "Insufficient funds, API key is temporarily disabled.";
        // Terminal in any status, a retryable one included; a 2xx is a success whatever it says.
        for status in [400, 402, 403, 429, 500, 503] {
            classified(status, funds, t(InsufficientFunds));
        }
        classified(200, funds, Success);
        classified(204, "", Success);
        classified(403, "License expired", t(LicenseExpired));
        classified(503, "License expired", t(LicenseExpired));
        classified(400, "No token", t(NoToken));
        classified(
            400,
            "Authentication failed. Please make sure your API key is valid",
            t(AuthFailed),
        );
        classified(401, "Unauthorized", t(AuthFailed));
        classified(403, "Forbidden", t(AuthFailed));
        for status in [429, 500, 502, 503, 504] {
            classified(status, "whatever", Retry);
        }
        classified(400, "Invalid target", t(Rejected));
        classified(404, "Not Found", t(Rejected));
        classified(501, "Not Implemented", t(Rejected));
        classified(408, "Request Timeout", t(Rejected));
        classified(301, "moved", t(Redirect));
    }

    #[test]
    fn a_key_across_the_cut_is_scrubbed_before_it() {
        let key = "SECRETKEY0123456789abcdefSECRET";
        // 230 characters of text, then the key: the 240-character cut falls inside the key.
        let message = format!("{} invalid token {key}", "x".repeat(215));
        let body = format!("{{\"message\": \"{message}\"}}");
        let scrubber = Scrubber::new(Some(key));
        let text = error_text(body.as_bytes(), &scrubber);
        assert!(!text.contains("SECRETKEY"), "{text}");
        let html = format!("<html><title>{} {key}</title></html>", "y".repeat(230));
        let text = error_text(html.as_bytes(), &scrubber);
        assert!(!text.contains("SECRETKEY"), "{text}");
    }
}
