//! What a call's journal line records besides its price, so that `budget reconcile` can set the
//! calls against a saved plan and build usage profiles (docs/reconcile.md):
//!
//! - the **tags** a client put on the call: `X-Budget-Workflow` and `X-Budget-Step`. They are the
//!   guard's own headers: read here, written to the journal as `workflow` and `step`, and never
//!   forwarded to the API (the proxy copies only `Content-Type` and `Accept` upstream);
//! - the **regional database** (`source`) of endpoints that take one;
//! - for **paged** row endpoints, which target a page belongs to (`target_hash`, a digest: the
//!   journal holds no targets) and whether the call continues a listing (`continues`), so that
//!   the pages of one target can be counted.
//!
//! A tag is plain text: valid UTF-8 without control or bidirectional-override characters, at most
//! [`MAX_TAG_BYTES`] bytes after trimming surrounding spaces. A tag beyond that is **refused**
//! (400, never forwarded), not cut: two long step names that share a prefix would otherwise
//! merge in the journal. An empty tag counts as absent.
//!
//! Pure: reads the request's headers, query and body; no I/O, no output.

use axum::http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::pricing::Endpoint;

/// Names the workflow a call belongs to (the plan's workflow name or path).
pub const WORKFLOW_HEADER: &str = "x-budget-workflow";
/// Names the step a call belongs to (the plan's step name, or its 1-based number).
pub const STEP_HEADER: &str = "x-budget-step";
/// The longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 200;

/// The workflow and step a client tagged a call with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub workflow: Option<String>,
    pub step: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("the {header} header is {bytes} bytes long, above the guard's limit of {MAX_TAG_BYTES}; use a shorter workflow or step name (or the step's number)")]
    TooLong { header: &'static str, bytes: usize },
    #[error("the {header} header is not plain text (it holds control characters, direction overrides or bytes that are not UTF-8); send the workflow or step name as plain text")]
    NotText { header: &'static str },
    #[error("the {header} header is sent more than once; send it once per call")]
    Repeated { header: &'static str },
}

/// The tags of a call's headers.
pub fn read(headers: &HeaderMap) -> Result<Tags, TagError> {
    Ok(Tags {
        workflow: tag(headers, WORKFLOW_HEADER, "X-Budget-Workflow")?,
        step: tag(headers, STEP_HEADER, "X-Budget-Step")?,
    })
}

fn tag(
    headers: &HeaderMap,
    name: &'static str,
    shown: &'static str,
) -> Result<Option<String>, TagError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(TagError::Repeated { header: shown });
    }
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| TagError::NotText { header: shown })?
        .trim();
    if text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(TagError::NotText { header: shown });
    }
    if text.len() > MAX_TAG_BYTES {
        return Err(TagError::TooLong {
            header: shown,
            bytes: text.len(),
        });
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// Characters that reorder the text around them on a terminal (Unicode's Bidi_Control set).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What the journal records about the request itself, beyond its price.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The regional database, for endpoints that take one (lowercase; `worldwide` read as `ww`).
    pub source: Option<String>,
    /// Paged endpoints, one target: the first 16 hex digits of the SHA-256 of the target.
    pub target_hash: Option<String>,
    /// Paged endpoints: the call asks for a later page (`page` above 1, `offset` above 0, or a
    /// `next` cursor) of a listing begun by an earlier call.
    pub continues: bool,
}

/// The facts of a call to `endpoint` with these query pairs and body.
pub fn facts(endpoint: &Endpoint, query: &[(String, String)], body: &[u8]) -> Facts {
    if !endpoint.source && !endpoint.paged {
        return Facts::default();
    }
    let json = (!body.is_empty())
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten();
    let param = |name: &str| -> Option<String> {
        let from_query = query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string());
        from_query.or_else(|| match json.as_ref()?.get(name)? {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let source = endpoint
        .source
        .then(|| param("source"))
        .flatten()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|s| {
            if s == "worldwide" {
                "ww".to_string()
            } else {
                s
            }
        });
    if !endpoint.paged {
        return Facts {
            source,
            ..Facts::default()
        };
    }
    let number = |name: &str| param(name).and_then(|v| v.parse::<u64>().ok());
    let continues = number("page").is_some_and(|p| p > 1)
        || number("offset").is_some_and(|o| o > 0)
        || param("next").is_some_and(|n| !n.is_empty());
    Facts {
        source,
        target_hash: one_target(query, json.as_ref()).map(|t| digest(&t)),
        continues,
    }
}

/// The call's target when it names exactly one (`target`/`target[]` in the query, else the JSON
/// body's `target`).
fn one_target(query: &[(String, String)], json: Option<&Value>) -> Option<String> {
    let mut named = query
        .iter()
        .filter(|(k, _)| k == "target" || k == "target[]")
        .map(|(_, v)| v.trim().to_string());
    if let Some(first) = named.next() {
        return named.next().is_none().then_some(first);
    }
    match json?.get("target")? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Array(items) if items.len() == 1 => items[0].as_str().map(|s| s.trim().to_string()),
        _ => None,
    }
}

fn digest(target: &str) -> String {
    Sha256::digest(target.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).expect("header value"));
        }
        map
    }

    #[track_caller]
    fn tags_are(pairs: &[(&'static str, &[u8])], workflow: Option<&str>, step: Option<&str>) {
        let tags = read(&headers(pairs)).expect("tags");
        assert_eq!(tags.workflow.as_deref(), workflow);
        assert_eq!(tags.step.as_deref(), step);
    }

    #[track_caller]
    fn refused(pairs: &[(&'static str, &[u8])], phrase: &str) {
        let e = read(&headers(pairs)).expect_err("refused");
        assert!(e.to_string().contains(phrase), "{e} lacks {phrase:?}");
    }

    #[test]
    fn tags_are_read_trimmed_and_bounded() {
        tags_are(&[], None, None);
        tags_are(
            &[
                ("x-budget-workflow", b"Quarterly audit"),
                ("x-budget-step", b" 2 "),
            ],
            Some("Quarterly audit"),
            Some("2"),
        );
        // UTF-8 names are plain text too ("Étape" is 6 bytes).
        tags_are(
            &[("x-budget-step", "Étape 1".as_bytes())],
            None,
            Some("Étape 1"),
        );
        tags_are(&[("x-budget-step", b"   ")], None, None);
        // 200 bytes is the limit: accepted; 201 is refused, not cut.
        let at_limit = "s".repeat(200);
        tags_are(
            &[("x-budget-step", at_limit.as_bytes())],
            None,
            Some(&at_limit),
        );
        refused(
            &[("x-budget-step", "s".repeat(201).as_bytes())],
            "the X-Budget-Step header is 201 bytes long, above the guard's limit of 200",
        );
    }

    #[test]
    fn tags_that_are_not_plain_text_are_refused() {
        refused(
            &[("x-budget-workflow", b"a\tb")],
            "the X-Budget-Workflow header is not plain text",
        );
        refused(&[("x-budget-step", b"\xff\xfe")], "is not plain text");
        // U+0085 (NEXT LINE), a control character in UTF-8.
        refused(
            &[("x-budget-step", "a\u{85}b".as_bytes())],
            "is not plain text",
        );
        // U+202E RIGHT-TO-LEFT OVERRIDE would reorder a terminal line.
        refused(
            &[("x-budget-step", "abc\u{202e}def".as_bytes())],
            "is not plain text",
        );
        refused(
            &[("x-budget-step", b"one"), ("x-budget-step", b"two")],
            "the X-Budget-Step header is sent more than once",
        );
    }

    fn endpoint(name: &str) -> Endpoint {
        crate::pricing::Pricing::embedded()
            .expect("embedded pricing")
            .endpoint(name)
            .expect("endpoint")
            .clone()
    }

    fn pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[track_caller]
    fn facts_are(endpoint_name: &str, query: &str, body: &str, expected: Facts) {
        assert_eq!(
            facts(&endpoint(endpoint_name), &pairs(query), body.as_bytes()),
            expected,
            "{endpoint_name}?{query} {body}"
        );
    }

    #[test]
    fn facts_of_calls() {
        // `printf a.com | sha256sum` = d6c1754dbbf0bc91d7d6…; its first 16 hex digits name it.
        let a_com = Some("d6c1754dbbf0bc91".to_string());
        // Not paged, no source: nothing to record.
        facts_are("backlinks/all", "target=a.com", "", Facts::default());
        // A source endpoint that does not page.
        facts_are(
            "domain/overview/db",
            "target=a.com&source=US",
            "",
            Facts {
                source: Some("us".into()),
                ..Facts::default()
            },
        );
        // Paged by page: the first page, then a later one; the source from a JSON body.
        facts_are(
            "domain/keywords",
            "target=a.com&source=worldwide",
            "",
            Facts {
                source: Some("ww".into()),
                target_hash: a_com.clone(),
                continues: false,
            },
        );
        facts_are(
            "domain/keywords",
            "target=a.com&page=2",
            r#"{"source": "de"}"#,
            Facts {
                source: Some("de".into()),
                target_hash: a_com.clone(),
                continues: true,
            },
        );
        facts_are(
            "domain/keywords",
            "target=a.com&source=us&page=1",
            "",
            Facts {
                source: Some("us".into()),
                target_hash: a_com.clone(),
                continues: false,
            },
        );
        // Paged by cursor (raw takes no source); a JSON target list of one.
        facts_are(
            "backlinks/raw",
            "next=c2Vjb25k",
            r#"{"target": ["a.com"]}"#,
            Facts {
                source: None,
                target_hash: a_com,
                continues: true,
            },
        );
        // Two targets: no one target to name.
        facts_are(
            "backlinks/raw",
            "target=a.com&target=b.com",
            "",
            Facts::default(),
        );
        // A source that is not a short code is not recorded.
        facts_are(
            "domain/overview",
            "target=a.com&source=us%20;rm",
            "",
            Facts::default(),
        );
    }
}
