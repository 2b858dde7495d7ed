//! The one scrubber: removes the API key (and any `apikey=VALUE`) from text that may reach a
//! person, a log or a file — account errors, the guard's replies, the gate's recorded command.
//!
//! It must never let the key through and never change anything else: what is shown is the
//! original text with the key's span replaced by [`REDACTED`].

use std::borrow::Cow;

/// What a redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// A scrubber for one key (or none: then only `apikey=VALUE` is redacted).
#[derive(Clone)]
pub struct Scrubber {
    /// The key as it may appear: raw, percent- and form-encoded; longest first.
    forms: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrubber(<redacted>)")
    }
}

impl Scrubber {
    pub fn new(key: Option<&str>) -> Scrubber {
        Scrubber {
            forms: key.map(key_forms).unwrap_or_default(),
        }
    }

    /// `text` with every occurrence of the key replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// As [`Scrubber::scrub`], for bytes that may not be text.
    pub fn scrub_bytes<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        let mut spans = Vec::new();
        let mut i = 0;
        while i < body.len() {
            if let Some(len) = self
                .forms
                .iter()
                .find(|f| body[i..].starts_with(f))
                .map(Vec::len)
            {
                spans.push((i, i + len));
                i += len;
            } else {
                i += 1;
            }
        }
        let lower = body.to_ascii_lowercase();
        let mut from = 0;
        while let Some(found) = find(&lower[from..], b"apikey=") {
            let start = from + found + b"apikey=".len();
            let end = body[start..]
                .iter()
                .position(|b| b"&#\"'\\<> \t\r\n".contains(b))
                .map_or(body.len(), |p| start + p);
            if end > start {
                spans.push((start, end));
            }
            from = end.max(start);
        }
        replace(body, spans)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `body` with each of `spans` (merged where they overlap) replaced by [`REDACTED`].
fn replace(body: &[u8], mut spans: Vec<(usize, usize)>) -> Cow<'_, [u8]> {
    if spans.is_empty() {
        return Cow::Borrowed(body);
    }
    spans.sort_unstable();
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    Cow::Owned(out)
}

/// The forms the key may take: as is, percent-encoded (upper- and lower-case hex) and
/// form-encoded (`+` for a space).
fn key_forms(key: &str) -> Vec<Vec<u8>> {
    let encode = |keep: &dyn Fn(u8) -> bool, space_plus: bool, lower: bool| -> Vec<u8> {
        let mut out = Vec::new();
        for &b in key.as_bytes() {
            if keep(b) {
                out.push(b);
            } else if space_plus && b == b' ' {
                out.push(b'+');
            } else if lower {
                out.extend_from_slice(format!("%{b:02x}").as_bytes());
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
        out
    };
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let form = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
    let mut forms = vec![key.as_bytes().to_vec()];
    for form in [
        encode(&unreserved, false, false),
        encode(&unreserved, false, true),
        encode(&form, true, false),
        encode(&form, true, true),
    ] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms.retain(|f| !f.is_empty());
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}
