//! The one scrubber: removes the API key (and any `apikey=VALUE`) from text that may reach a
//! person, a log or a file — account errors, the guard's replies (2xx included), the gate's
//! recorded command line.
//!
//! A server, a proxy or a shell may echo the key in many forms, so the text is **decoded first,
//! then scrubbed**: JSON string escapes (`\/`, `\uXXXX`), percent-encoding (any case, `+` as a
//! space) and HTML entities (named and numeric) are undone, twice over (an escape inside an
//! escape); control and invisible characters are dropped (one inside the key must not hide it);
//! case is ignored. On each of those views of the text it looks for any run of 8 or more
//! consecutive characters of the key (a prefix, a suffix or a middle: every 8-character piece of
//! the key is a pattern), the same pieces written in hex, the key's base64 forms (standard and URL-safe, in the three alignments a
//! surrounding text can give it), and `apikey=` followed by a value. Each view keeps, for every
//! character, the span of the original bytes it came from, so a match becomes a span of the
//! original text: what is shown is the original with the key's span replaced by [`REDACTED`],
//! and a JSON document stays JSON (a span always covers whole escapes).
//!
//! It is one pass over the text (a streaming multi-pattern automaton per view, from the
//! `aho-corasick` crate), so its time is linear in the text's length: a 1 MiB body with 130,000
//! `apikey=` is scrubbed in milliseconds (benches/scrub.rs). It does no I/O and decides nothing
//! else.

use std::borrow::Cow;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, PatternID};
use base64::Engine;

/// What a redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// The shortest run of the key's characters that is redacted on its own.
pub const MIN_RUN: usize = 8;

/// Views of the text: as it is, decoded once, decoded twice.
const VIEWS: usize = 3;

/// Bytes that end an `apikey=` value.
fn ends_value(byte: u8) -> bool {
    matches!(
        byte,
        b'&' | b'#' | b'"' | b'\'' | b'\\' | b'<' | b'>' | b' ' | b'\t' | b'\r' | b'\n'
    )
}

/// A scrubber for one key (or none: then only `apikey=VALUE` is redacted). Build it once per
/// key: the automaton is built from the key's pieces.
#[derive(Clone)]
pub struct Scrubber {
    dfa: DFA,
    start: StateID,
    apikey: PatternID,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrubber(<redacted>)")
    }
}

impl Scrubber {
    /// The scrubber for an API key (or for none).
    pub fn for_key(key: Option<&super::ApiKey>) -> Scrubber {
        Scrubber::new(key.map(super::ApiKey::expose))
    }

    pub fn new(key: Option<&str>) -> Scrubber {
        let mut patterns: Vec<Vec<u8>> = vec![b"apikey=".to_vec()];
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            patterns.extend(key_patterns(key.as_bytes()));
        }
        patterns.sort();
        patterns.dedup();
        let build = |patterns: &[Vec<u8>]| {
            let dfa = DFA::builder()
                .match_kind(MatchKind::Standard)
                .prefilter(false)
                .build(patterns)
                .ok()?;
            let start = dfa.start_state(Anchored::No).ok()?;
            Some((dfa, start))
        };
        // A key of 36 characters makes about 35 small patterns; even a 4 KiB key (the key file's
        // cap) builds. Should it not, the whole key and `apikey=` still do.
        let built = build(&patterns).or_else(|| {
            patterns = vec![b"apikey=".to_vec()];
            patterns.extend(key.map(|k| k.to_ascii_lowercase().into_bytes()));
            build(&patterns)
        });
        #[allow(clippy::expect_used)]
        let (dfa, start) = built.expect("an automaton of two patterns always builds");
        let apikey = patterns
            .iter()
            .position(|p| p == b"apikey=")
            .and_then(|i| PatternID::new(i).ok())
            .unwrap_or(PatternID::ZERO);
        Scrubber { dfa, start, apikey }
    }

    /// `text` with the key's spans replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Spans start and end on character boundaries: the result is UTF-8 again.
            Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }),
        }
    }

    /// As [`Scrubber::scrub`], for bytes that may not be text.
    pub fn scrub_bytes<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        self.scrub_chunked(body, CHUNK, true)
    }

    /// As [`Scrubber::scrub_bytes`], taking the text `chunk` bytes at a time, the ends moved to a
    /// byte that begins no escape when `align` (the result depends on neither; tests check that).
    fn scrub_chunked<'a>(&self, body: &'a [u8], chunk: usize, align: bool) -> Cow<'a, [u8]> {
        let chunk = chunk.max(1);
        let mut pipeline = Pipeline::new(self);
        let mut start = 0;
        while start < body.len() {
            let end = if align {
                chunk_end(body, start, chunk)
            } else {
                start.saturating_add(chunk).min(body.len())
            };
            pipeline.chunk(start, &body[start..end]);
            start = end;
        }
        pipeline.finish();
        replace(body, &pipeline.merged(body.len()))
    }
}

/// Where a chunk from `start` ends: `chunk` bytes on, moved forward (by at most 4 KiB) to just
/// after a byte that leaves no escape begun in any view (whitespace, or ASCII punctuation other
/// than `\`, `%`, `&`, `+` and `#`), so that a clean chunk can be skipped by the views above.
fn chunk_end(body: &[u8], start: usize, chunk: usize) -> usize {
    let target = start.saturating_add(chunk).min(body.len());
    let limit = target.saturating_add(4096).min(body.len());
    let breaks = |b: u8| {
        b.is_ascii_whitespace()
            || (b.is_ascii_punctuation() && !matches!(b, b'\\' | b'%' | b'&' | b'+' | b'#'))
    };
    (target..=limit)
        .find(|&end| end > start && breaks(body[end - 1]))
        .unwrap_or(target)
}

/// The patterns of a key, lower-case: every piece of [`MIN_RUN`] characters (the whole key when
/// it is shorter), the same pieces in hex, and its base64 forms.
fn key_patterns(key: &[u8]) -> Vec<Vec<u8>> {
    let runs = |text: &[u8]| -> Vec<Vec<u8>> {
        let lower = text.to_ascii_lowercase();
        if lower.len() <= MIN_RUN {
            vec![lower]
        } else {
            lower.windows(MIN_RUN).map(<[u8]>::to_vec).collect()
        }
    };
    // The key in hex, unbroken (`xxd -p`, `hex::encode`, a hash-style dump): every piece of
    // MIN_RUN bytes is 2 × MIN_RUN hex digits starting on a byte. Taken of the key as written and
    // upper-cased (other bytes, other digits; the digits' own case is found because the views
    // are compared without case).
    let hex_runs = |text: &[u8]| -> Vec<Vec<u8>> {
        let hex: Vec<u8> = text
            .iter()
            .flat_map(|b| {
                let digit = |n: u8| b"0123456789abcdef"[usize::from(n & 0xf)];
                [digit(b >> 4), digit(*b)]
            })
            .collect();
        if hex.len() <= 2 * MIN_RUN {
            vec![hex]
        } else {
            hex.windows(2 * MIN_RUN)
                .step_by(2)
                .map(<[u8]>::to_vec)
                .collect()
        }
    };
    let mut forms = vec![key.to_vec()];
    // The key without its separators (a UUID's dashes): a server that echoes it "normalised"
    // shows runs of 8 that the dashed key never has (`9c1e7b4d`).
    let compact: Vec<u8> = key
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    if compact.len() != key.len() && compact.len() >= MIN_RUN {
        forms.push(compact);
    }
    let mut patterns = Vec::new();
    for form in &forms {
        patterns.extend(runs(form));
        patterns.extend(hex_runs(form));
        patterns.extend(hex_runs(&form.to_ascii_uppercase()));
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for shift in 0..3usize {
            // With `shift` bytes before it, the key's bits start at bit 8 × shift; the base64
            // characters that depend on the key's bits only are those whose 6 bits lie inside.
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(key);
            let encoded = engine.encode(&bytes);
            let first = (8 * shift).div_ceil(6);
            let last = (8 * (shift + key.len())) / 6;
            if let Some(core) = encoded.as_bytes().get(first..last) {
                if core.len() >= MIN_RUN {
                    patterns.push(core.to_ascii_lowercase());
                }
            }
        }
    }
    patterns
}

/// One character of a view: a byte, and the span of the original it came from.
#[derive(Debug, Clone, Copy)]
struct Unit {
    byte: u8,
    start: usize,
    end: usize,
}

impl Unit {
    fn with(self, byte: u8) -> Unit {
        Unit { byte, ..self }
    }

    fn spanning(byte: u8, first: &Unit, last: &Unit) -> Unit {
        Unit {
            byte,
            start: first.start,
            end: last.end,
        }
    }
}

/// What a view is made of after normalising: ASCII lower-cased, control and invisible
/// characters dropped, any other non-ASCII character one placeholder byte (no key has one).
const PLACEHOLDER: u8 = 0x80;

/// Turns a stream of bytes into a view's characters.
#[derive(Default)]
struct Normalizer {
    /// A UTF-8 sequence being assembled.
    pending: Vec<Unit>,
    need: usize,
}

impl Normalizer {
    /// The original's bytes from `offset` on.
    fn push_bytes(&mut self, offset: usize, bytes: &[u8], out: &mut Vec<Unit>) {
        out.reserve(bytes.len());
        for (i, &byte) in bytes.iter().enumerate() {
            let u = Unit {
                byte,
                start: offset + i,
                end: offset + i + 1,
            };
            if self.pending.is_empty() && (0x20..0x7F).contains(&byte) {
                out.push(u.with(byte.to_ascii_lowercase()));
            } else {
                self.push(u, out);
            }
        }
    }

    /// A decoder's output.
    fn push_units(&mut self, units: &[Unit], out: &mut Vec<Unit>) {
        out.reserve(units.len());
        for &u in units {
            if self.pending.is_empty() && (0x20..0x7F).contains(&u.byte) {
                out.push(u.with(u.byte.to_ascii_lowercase()));
            } else {
                self.push(u, out);
            }
        }
    }

    fn push(&mut self, u: Unit, out: &mut Vec<Unit>) {
        if !self.pending.is_empty() {
            if (0x80..0xC0).contains(&u.byte) {
                self.pending.push(u);
                if self.pending.len() == self.need {
                    self.complete(out);
                }
                return;
            }
            // A broken sequence: one placeholder for it, then this byte on its own.
            self.broken(out);
        }
        match u.byte {
            0x00..=0x1F | 0x7F => {}
            0x20..=0x7E => out.push(u.with(u.byte.to_ascii_lowercase())),
            0xC2..=0xDF => self.begin(u, 2),
            0xE0..=0xEF => self.begin(u, 3),
            0xF0..=0xF4 => self.begin(u, 4),
            _ => out.push(u.with(PLACEHOLDER)),
        }
    }

    fn begin(&mut self, u: Unit, need: usize) {
        self.pending.push(u);
        self.need = need;
    }

    fn complete(&mut self, out: &mut Vec<Unit>) {
        let bytes: Vec<u8> = self.pending.iter().map(|u| u.byte).collect();
        let visible = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.chars().next())
            .is_none_or(|c| !invisible(c));
        if visible {
            out.push(Unit::spanning(
                PLACEHOLDER,
                &self.pending[0],
                &self.pending[self.pending.len() - 1],
            ));
        }
        self.pending.clear();
    }

    fn broken(&mut self, out: &mut Vec<Unit>) {
        if let (Some(first), Some(last)) = (self.pending.first(), self.pending.last()) {
            out.push(Unit::spanning(PLACEHOLDER, first, last));
        }
        self.pending.clear();
    }

    fn finish(&mut self, out: &mut Vec<Unit>) {
        self.broken(out);
    }
}

/// Characters that show nothing: C1 controls, format and zero-width characters, the byte order
/// mark, variation selectors and tags. One of them inside the key must not hide it.
fn invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x80..=0x9F
            | 0xAD
            | 0x34F
            | 0x61C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// Where a decoder is in an escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    /// After `\`.
    Backslash,
    /// After `\u`: the hex digits so far.
    Unicode {
        value: u32,
        digits: u8,
    },
    /// After `%`.
    Percent {
        value: u8,
        digits: u8,
    },
    /// After `&`.
    Amp,
    /// After `&#` (`&#x` when `hex`).
    Numeric {
        hex: bool,
        value: u32,
        digits: u8,
    },
    /// After `&` and a name's first `len` characters.
    Name {
        len: usize,
    },
}

/// The longest entity name looked up.
const MAX_NAME: usize = 24;

/// Undoes one level of escapes (JSON, percent, form, HTML) in a view, keeping the spans.
#[derive(Clone)]
struct Decoder {
    mode: Mode,
    pending: Vec<Unit>,
    name: [u8; MAX_NAME],
    /// Whether anything was decoded (the output differs from the input) since last asked.
    decoded: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            mode: Mode::Plain,
            pending: Vec::new(),
            name: [0; MAX_NAME],
            decoded: false,
        }
    }
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

impl Decoder {
    /// Decodes `units` into `out` (and flushes what is pending when `last`); whether anything
    /// was decoded.
    fn run(&mut self, units: &[Unit], out: &mut Vec<Unit>, last: bool) -> bool {
        self.decoded = false;
        out.reserve(units.len());
        for &u in units {
            if self.mode == Mode::Plain && !matches!(u.byte, b'\\' | b'%' | b'&' | b'+') {
                out.push(u);
            } else {
                self.push(u, out);
            }
        }
        if last {
            self.finish(out);
        }
        self.decoded
    }

    /// As [`Decoder::run`] without output: whether anything would be decoded.
    fn scan(&mut self, units: &[Unit]) -> bool {
        self.decoded = false;
        let mut sink = Vec::new();
        for &u in units {
            if self.mode == Mode::Plain && !matches!(u.byte, b'\\' | b'%' | b'&' | b'+') {
                continue;
            }
            self.push(u, &mut sink);
            sink.clear();
            if self.decoded {
                return true;
            }
        }
        false
    }

    /// Nothing begun: the next character starts afresh.
    fn idle(&self) -> bool {
        self.mode == Mode::Plain
    }

    fn push(&mut self, u: Unit, out: &mut Vec<Unit>) {
        // At most twice: a byte that ends an escape unsuccessfully is looked at again as plain.
        loop {
            match self.step(u, out) {
                Step::Done => return,
                Step::Again => continue,
            }
        }
    }

    fn step(&mut self, u: Unit, out: &mut Vec<Unit>) -> Step {
        let b = u.byte;
        match self.mode {
            Mode::Plain => {
                match b {
                    b'\\' => self.open(u, Mode::Backslash),
                    b'%' => self.open(
                        u,
                        Mode::Percent {
                            value: 0,
                            digits: 0,
                        },
                    ),
                    b'&' => self.open(u, Mode::Amp),
                    b'+' => {
                        self.decoded = true;
                        out.push(u.with(b' '));
                    }
                    _ => out.push(u),
                }
                Step::Done
            }
            Mode::Backslash => match b {
                b'/' | b'\\' | b'"' | b'\'' => self.emit_byte(b, u, out),
                // \b \f \n \r \t: control characters, which no view keeps.
                b'b' | b'f' | b'n' | b'r' | b't' => {
                    self.decoded = true;
                    self.reset();
                    Step::Done
                }
                b'u' => self.more(
                    u,
                    Mode::Unicode {
                        value: 0,
                        digits: 0,
                    },
                ),
                _ => self.fail(out),
            },
            Mode::Unicode { value, digits } => match hex(b) {
                Some(h) if digits == 3 => self.emit_char(value * 16 + u32::from(h), u, out),
                Some(h) => self.more(
                    u,
                    Mode::Unicode {
                        value: value * 16 + u32::from(h),
                        digits: digits + 1,
                    },
                ),
                None => self.fail(out),
            },
            Mode::Percent { value, digits } => match hex(b) {
                Some(h) if digits == 1 => self.emit_byte(value * 16 + h, u, out),
                Some(h) => self.more(
                    u,
                    Mode::Percent {
                        value: h,
                        digits: 1,
                    },
                ),
                None => self.fail(out),
            },
            Mode::Amp => match b {
                b'#' => self.more(
                    u,
                    Mode::Numeric {
                        hex: false,
                        value: 0,
                        digits: 0,
                    },
                ),
                b'a'..=b'z' | b'0'..=b'9' => {
                    self.name[0] = b;
                    self.more(u, Mode::Name { len: 1 })
                }
                _ => self.fail(out),
            },
            Mode::Numeric { hex, value, digits } => {
                if digits == 0 && !hex && b == b'x' {
                    return self.more(
                        u,
                        Mode::Numeric {
                            hex: true,
                            value,
                            digits,
                        },
                    );
                }
                let digit = if hex {
                    self::hex(b).map(u32::from)
                } else {
                    char::from(b).to_digit(10)
                };
                match digit {
                    Some(d) if digits < 8 => self.more(
                        u,
                        Mode::Numeric {
                            hex,
                            value: value * if hex { 16 } else { 10 } + d,
                            digits: digits + 1,
                        },
                    ),
                    _ if digits > 0 && b == b';' => self.emit_char(value, u, out),
                    // `&#65` without its `;` is read as HTML does, and this byte looked at again.
                    _ if digits > 0 => {
                        let last = self.pending[self.pending.len() - 1];
                        self.emit_char(value, last, out);
                        Step::Again
                    }
                    _ => self.fail(out),
                }
            }
            Mode::Name { len } => match b {
                b'a'..=b'z' | b'0'..=b'9' if len < MAX_NAME => {
                    self.name[len] = b;
                    self.more(u, Mode::Name { len: len + 1 })
                }
                b';' => match entity(&self.name[..len]) {
                    Some(c) => self.emit_byte(c, u, out),
                    None => self.fail(out),
                },
                _ => match legacy_entity(&self.name[..len]) {
                    Some(c) => {
                        let last = self.pending[self.pending.len() - 1];
                        self.emit_byte(c, last, out);
                        Step::Again
                    }
                    None => self.fail(out),
                },
            },
        }
    }

    fn open(&mut self, u: Unit, mode: Mode) {
        self.pending.clear();
        self.pending.push(u);
        self.mode = mode;
    }

    fn more(&mut self, u: Unit, mode: Mode) -> Step {
        self.pending.push(u);
        self.mode = mode;
        Step::Done
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.mode = Mode::Plain;
    }

    /// The escape so far was none: its bytes pass as they are, and this byte is looked at again.
    fn fail(&mut self, out: &mut Vec<Unit>) -> Step {
        out.append(&mut self.pending);
        self.mode = Mode::Plain;
        Step::Again
    }

    /// The escape from the first pending byte to `last` decodes to `byte`.
    fn emit_byte(&mut self, byte: u8, last: Unit, out: &mut Vec<Unit>) -> Step {
        self.decoded = true;
        out.push(Unit::spanning(byte, &self.pending[0], &last));
        self.reset();
        Step::Done
    }

    /// The escape decodes to the character `code` (UTF-8 bytes, each spanning the escape).
    fn emit_char(&mut self, code: u32, last: Unit, out: &mut Vec<Unit>) -> Step {
        self.decoded = true;
        let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        for &byte in c.encode_utf8(&mut buf).as_bytes() {
            out.push(Unit::spanning(byte, &self.pending[0], &last));
        }
        self.reset();
        Step::Done
    }

    fn finish(&mut self, out: &mut Vec<Unit>) {
        match self.mode {
            Mode::Numeric { value, digits, .. } if digits > 0 => {
                let last = self.pending[self.pending.len() - 1];
                self.emit_char(value, last, out);
            }
            Mode::Name { len } => match legacy_entity(&self.name[..len]) {
                Some(c) => {
                    let last = self.pending[self.pending.len() - 1];
                    self.emit_byte(c, last, out);
                }
                None => {
                    self.fail(out);
                }
            },
            _ => {
                self.fail(out);
            }
        }
    }
}

enum Step {
    Done,
    Again,
}

/// HTML named references to ASCII characters (lower-case: views are), with their `;`.
fn entity(name: &[u8]) -> Option<u8> {
    Some(match name {
        b"amp" => b'&',
        b"lt" => b'<',
        b"gt" => b'>',
        b"quot" => b'"',
        b"apos" => b'\'',
        b"excl" => b'!',
        b"num" => b'#',
        b"dollar" => b'$',
        b"percnt" => b'%',
        b"lpar" => b'(',
        b"rpar" => b')',
        b"ast" | b"midast" => b'*',
        b"plus" => b'+',
        b"comma" => b',',
        b"period" => b'.',
        b"sol" => b'/',
        b"colon" => b':',
        b"semi" => b';',
        b"equals" => b'=',
        b"quest" => b'?',
        b"commat" => b'@',
        b"lsqb" | b"lbrack" => b'[',
        b"bsol" => b'\\',
        b"rsqb" | b"rbrack" => b']',
        b"hat" => b'^',
        b"lowbar" | b"underbar" => b'_',
        b"grave" | b"diacriticalgrave" => b'`',
        b"lcub" | b"lbrace" => b'{',
        b"verbar" | b"vert" | b"verticalline" => b'|',
        b"rcub" | b"rbrace" => b'}',
        b"newline" => b'\n',
        b"tab" => b'\t',
        _ => return None,
    })
}

/// The references browsers also read without their `;`.
fn legacy_entity(name: &[u8]) -> Option<u8> {
    Some(match name {
        b"amp" => b'&',
        b"lt" => b'<',
        b"gt" => b'>',
        b"quot" => b'"',
        _ => return None,
    })
}

/// Looks for the patterns in one view.
#[derive(Clone)]
struct Matcher {
    state: StateID,
    /// The spans of the last characters (a ring at least as long as the longest pattern, a
    /// power of two).
    ring: Vec<(usize, usize)>,
    seen: usize,
    /// The span of an `apikey=` value being read: `Some(None)` right after `apikey=`.
    value: Option<Option<(usize, usize)>>,
}

impl Matcher {
    fn new(scrubber: &Scrubber) -> Matcher {
        Matcher {
            state: scrubber.start,
            ring: vec![(0, 0); scrubber.dfa.max_pattern_len().max(1).next_power_of_two()],
            seen: 0,
            value: None,
        }
    }

    fn run(&mut self, units: &[Unit], scrubber: &Scrubber, spans: &mut Vec<(usize, usize)>) {
        let dfa = &scrubber.dfa;
        let mask = self.ring.len() - 1;
        for u in units {
            if let Some(value) = &mut self.value {
                if ends_value(u.byte) {
                    self.close_value(spans);
                } else {
                    *value = Some(value.map_or((u.start, u.end), |(start, _)| (start, u.end)));
                }
            }
            self.ring[self.seen & mask] = (u.start, u.end);
            self.seen += 1;
            self.state = dfa.next_state(Anchored::No, self.state, u.byte);
            if dfa.is_special(self.state) && dfa.is_match(self.state) {
                for i in 0..dfa.match_len(self.state) {
                    let pattern = dfa.match_pattern(self.state, i);
                    if pattern == scrubber.apikey {
                        self.value.get_or_insert(None);
                        continue;
                    }
                    let len = dfa.pattern_len(pattern);
                    let (start, _) = self.ring[(self.seen - len) & mask];
                    push_span(spans, start, u.end);
                }
            }
        }
    }

    fn close_value(&mut self, spans: &mut Vec<(usize, usize)>) {
        if let Some(Some((start, end))) = self.value.take() {
            push_span(spans, start, end);
        }
    }
}

/// Adds a span, merged with the last one when they touch (matches come nearly in order).
fn push_span(spans: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    if let Some(last) = spans.last_mut() {
        if start <= last.1 && end >= last.0 {
            *last = (last.0.min(start), last.1.max(end));
            return;
        }
    }
    spans.push((start, end));
}

/// The text is taken in chunks of this many bytes; every stage keeps its state between them.
const CHUNK: usize = 16 << 10;

/// The views of one text being scrubbed, each a normaliser, a matcher and (but the last) a
/// decoder into the next view.
///
/// Most chunks of most texts hold no escape: the decoder then passes view `k` through, and the
/// views above see the same characters. Those views are not searched again: they finish what
/// they had begun at the chunk's start, then take the matcher state of view `k`, which is the
/// same automaton over the same last characters.
struct Pipeline<'a> {
    scrubber: &'a Scrubber,
    normalizers: [Normalizer; VIEWS],
    decoders: [Decoder; VIEWS],
    matchers: [Matcher; VIEWS],
    /// Each view's characters in the current chunk, and the raw input of views above 0.
    units: [Vec<Unit>; VIEWS],
    raw: Vec<Unit>,
    /// Each view's spans, in the order found.
    spans: [Vec<(usize, usize)>; VIEWS],
    /// Chunks whose upper views took view 0's state instead of being searched (for tests).
    followed: usize,
}

impl<'a> Pipeline<'a> {
    fn new(scrubber: &'a Scrubber) -> Pipeline<'a> {
        Pipeline {
            scrubber,
            normalizers: Default::default(),
            decoders: Default::default(),
            matchers: std::array::from_fn(|_| Matcher::new(scrubber)),
            units: Default::default(),
            raw: Vec::new(),
            spans: Default::default(),
            followed: 0,
        }
    }

    /// One chunk of the original, starting at byte `offset`.
    fn chunk(&mut self, offset: usize, bytes: &[u8]) {
        let mut units = std::mem::take(&mut self.units[0]);
        units.clear();
        self.normalizers[0].push_bytes(offset, bytes, &mut units);
        self.units[0] = units;
        self.views_from(0, false);
    }

    /// Searches view `k`'s characters of this chunk and decodes them into the views above;
    /// `last` when the text ends with this chunk (pending escapes are flushed).
    fn views_from(&mut self, first: usize, last: bool) {
        let scrubber = self.scrubber;
        for k in first..VIEWS {
            self.matchers[k].run(&self.units[k], scrubber, &mut self.spans[k]);
            if k + 1 == VIEWS {
                break;
            }
            let mut raw = std::mem::take(&mut self.raw);
            raw.clear();
            if !last && self.decoders[k].idle() {
                // A first look without output: a chunk with nothing to decode is not copied.
                let mut probe = self.decoders[k].clone();
                if !probe.scan(&self.units[k]) && probe.idle() && self.in_step(k) {
                    self.decoders[k] = probe;
                    self.raw = raw;
                    self.follow(k);
                    return;
                }
            }
            self.decoders[k].run(&self.units[k], &mut raw, last);
            let mut next = std::mem::take(&mut self.units[k + 1]);
            next.clear();
            self.normalizers[k + 1].push_units(&raw, &mut next);
            if last {
                self.normalizers[k + 1].finish(&mut next);
            }
            self.units[k + 1] = next;
            self.raw = raw;
        }
    }

    /// Whether the views above `k` see exactly view `k`'s characters after a chunk that `k`'s
    /// decoder passed through: nothing pending anywhere above, no escape begun.
    fn in_step(&self, k: usize) -> bool {
        self.units[k].len() >= self.matchers[k].ring.len()
            && (k + 1..VIEWS).all(|j| {
                self.normalizers[j].pending.is_empty()
                    && (j + 1 == VIEWS || self.decoders[j].idle())
            })
    }

    /// The views above `k` after a chunk they see as view `k` does: each finishes the matches and
    /// values it had begun (its first characters of the chunk), then takes view `k`'s state.
    fn follow(&mut self, k: usize) {
        self.followed += 1;
        let scrubber = self.scrubber;
        let units = std::mem::take(&mut self.units[k]);
        let head = self.matchers[k].ring.len().min(units.len());
        for j in k + 1..VIEWS {
            self.matchers[j].run(&units[..head], scrubber, &mut self.spans[j]);
            if self.matchers[j].value.is_some() {
                // A value still open: this view reads the whole chunk itself.
                self.matchers[j].run(&units[head..], scrubber, &mut self.spans[j]);
            } else {
                self.matchers[j] = self.matchers[k].clone();
            }
        }
        self.units[k] = units;
    }

    /// The end of the text: what is pending in each view is flushed, open values closed.
    fn finish(&mut self) {
        let mut units = std::mem::take(&mut self.units[0]);
        units.clear();
        self.normalizers[0].finish(&mut units);
        self.units[0] = units;
        self.views_from(0, true);
        for (matcher, spans) in self.matchers.iter_mut().zip(&mut self.spans) {
            matcher.close_value(spans);
        }
    }

    /// Every view's spans in one sorted list, overlapping and touching spans merged.
    fn merged(mut self, len: usize) -> Vec<(usize, usize)> {
        for spans in &mut self.spans {
            // Sorted already but for a longer pattern ending after a shorter one.
            if !spans.is_sorted() {
                spans.sort_unstable();
            }
        }
        let [a, b, c] = self.spans;
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(a.len());
        let mut lists = [
            a.into_iter().peekable(),
            b.into_iter().peekable(),
            c.into_iter().peekable(),
        ];
        loop {
            let next = lists
                .iter_mut()
                .filter_map(|l| l.peek().copied().map(|span| (span, l)))
                .min_by_key(|(span, _)| *span);
            let Some(((start, end), list)) = next else {
                break;
            };
            list.next();
            if start >= end || end > len {
                continue;
            }
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

/// `body` with each of `spans` (sorted, apart) replaced by [`REDACTED`].
fn replace<'a>(body: &'a [u8], spans: &[(usize, usize)]) -> Cow<'a, [u8]> {
    if spans.is_empty() {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for &(start, end) in spans {
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key shaped like SE Ranking's (a UUID), with letters so case matters.
    const KEY: &str = "5ec7e7c0-1eak-4b2f-9c3e-d0n7l3akm3e0";

    /// The scrubber of [`KEY`], built once per test process (a build is a few milliseconds in a
    /// debug build; the properties scrub hundreds of texts).
    fn key_scrubber() -> &'static Scrubber {
        static SCRUBBER: std::sync::OnceLock<Scrubber> = std::sync::OnceLock::new();
        SCRUBBER.get_or_init(|| Scrubber::new(Some(KEY)))
    }

    fn scrubbed(text: &str) -> String {
        key_scrubber().scrub(text).into_owned()
    }

    #[track_caller]
    fn is(text: &str, expected: &str) {
        assert_eq!(scrubbed(text), expected, "text: {text:?}");
    }

    fn percent(text: &str, lower: bool) -> String {
        text.bytes()
            .map(|b| {
                if lower {
                    format!("%{b:02x}")
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn every_encoding_of_the_key_is_redacted_in_place() {
        let upper = KEY.to_uppercase();
        let json_u: String = KEY
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let html_dec: String = KEY.chars().map(|c| format!("&#{};", c as u32)).collect();
        let html_hex: String = KEY.chars().map(|c| format!("&#x{:X};", c as u32)).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
        let b64_shifted = base64::engine::general_purpose::URL_SAFE.encode(format!("x{KEY}"));
        let control = format!("{}\u{1}{}", &KEY[..10], &KEY[10..]);
        let zero_width = format!("{}\u{200B}{}", &KEY[..10], &KEY[10..]);
        let double = percent(&percent(KEY, false), false);
        for form in [
            KEY.to_string(),
            upper,
            json_u,
            percent(KEY, false),
            percent(KEY, true),
            html_dec,
            html_hex,
            control,
            zero_width,
            double,
        ] {
            is(&format!("before {form} after"), "before [redacted] after");
        }
        // base64: the characters that depend on the key alone go; the padding around stays.
        let out = scrubbed(&format!("b64 {b64} end"));
        assert!(
            out.starts_with("b64 [redacted]") && out.ends_with(" end"),
            "{out}"
        );
        assert!(!out.contains(&b64[4..40]), "{out}");
        let out = scrubbed(&format!("b64 {b64_shifted} end"));
        assert!(!out.contains(&b64_shifted[4..40]), "{out}");
    }

    #[test]
    fn the_key_without_its_dashes_is_redacted_whole() {
        // Invariant: no 8 characters of the key survive, also when a server drops its dashes
        // (before: `[redacted]1eak4b2f9c3e[redacted]`, 12 characters of it shown).
        let compact = KEY.replace('-', "");
        is(&format!("key {compact} end"), "key [redacted] end");
        is(
            &format!("key {} end", compact.to_uppercase()),
            "key [redacted] end",
        );
        // a middle run that spans two of the dashes: `9c3ed0n7`.
        is("m 9c3ed0n7 m", "m [redacted] m");
    }

    #[test]
    fn the_key_in_hex_is_redacted() {
        // Invariant: no 8 bytes of the key survive written as hex digits (before: the whole key
        // passed as `35656337…`). Hex worked out by hand from the ASCII codes: `5` 0x35, `e`
        // 0x65, `c` 0x63, `7` 0x37, `e` 0x65, `7` 0x37, `c` 0x63, `0` 0x30.
        let hex: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(hex.starts_with("3565633765376330"), "{hex}");
        is(&format!("dump {hex} end"), "dump [redacted] end");
        is(
            &format!("dump {} end", hex.to_uppercase()),
            "dump [redacted] end",
        );
        // 8 bytes of the key (16 digits) inside a longer dump: `5ec7e7c0`.
        is("x 3565633765376330 x", "x [redacted] x");
        is("x 00ff3565633765376330ff00 x", "x 00ff[redacted]ff00 x");
        // 7 bytes (14 digits) are not worth hiding, as in plain text.
        is("x 35656337653763 x", "x 35656337653763 x");
        // The key without its dashes, in hex: `1eak4b2f` (a run only the dashless key has) is
        // 0x31 0x65 0x61 0x6b 0x34 0x62 0x32 0x66.
        is("x 3165616b34623266 x", "x [redacted] x");
        // The upper-cased key, in hex: `5EC7E7C0` is 0x35 0x45 0x43 0x37 0x45 0x37 0x43 0x30.
        is("x 3545433745374330 x", "x [redacted] x");
    }

    #[test]
    fn a_key_with_reserved_characters_in_json_form_and_html() {
        // The guard tests' key: `+`, `/`, `=`, `&` and `~` all have escapes of their own.
        let key = "k3y+plus/x=y&z~";
        let scrubber = Scrubber::new(Some(key));
        for form in [
            key,
            r"k3y+plus\/x=y&z~",                         // JSON's escaped slash
            "k3y%2Bplus%2Fx%3Dy%26z~",                   // percent-encoded
            "k3y%2bplus%2fx%3dy%26z%7e",                 // lower-case hex
            "k3y%2Bplus%2Fx%3Dy%26z%7E",                 // form-encoded, as the guard sends it
            "k3y&plus;plus&sol;x&equals;y&amp;z~",       // HTML named entities
            r"k3y\u002bplus\u002fx\u003dy\u0026z\u007e", // JSON \u escapes
        ] {
            assert_eq!(
                scrubber.scrub(&format!("[{form}]")),
                "[[redacted]]",
                "{form}"
            );
        }
    }

    #[test]
    fn pieces_of_eight_or_more_characters_are_redacted() {
        // a 10-character prefix, a 10-character suffix, a 9-character middle.
        is(&format!("p {} s", &KEY[..10]), "p [redacted] s");
        is(&format!("p {} s", &KEY[KEY.len() - 10..]), "p [redacted] s");
        is(&format!("m {} m", &KEY[12..21]), "m [redacted] m");
        // 7 characters are not a piece of the key worth hiding (and are everywhere in text).
        is(
            &format!("short {} ok", &KEY[..7]),
            &format!("short {} ok", &KEY[..7]),
        );
    }

    #[test]
    fn apikey_values_are_redacted_in_any_case_and_encoding() {
        let none = Scrubber::new(None);
        let s = |t: &str| none.scrub(t).into_owned();
        assert_eq!(
            s("GET /v1/x?apikey=other-secret&target=a.com"),
            "GET /v1/x?apikey=[redacted]&target=a.com"
        );
        assert_eq!(s("url ?APIKEY=zz end"), "url ?APIKEY=[redacted] end");
        assert_eq!(s("?ApiKey%3Dzz&x=1"), "?ApiKey%3D[redacted]&x=1");
        assert_eq!(s("apikey="), "apikey=");
        assert_eq!(s("nothing secret"), "nothing secret");
        // a value ends at a quote or a backslash: a JSON string stays a JSON string.
        assert_eq!(
            s(r#"{"u":"x?apikey=abc\"d"}"#),
            r#"{"u":"x?apikey=[redacted]\"d"}"#
        );
    }

    #[test]
    fn json_stays_json_and_nothing_else_changes() {
        let body = format!(
            r#"{{"echo": "Token {}", "url": "\/v1\/x?apikey={}&t=a", "n": 1}}"#,
            KEY.replace('-', "\\u002d"),
            percent(KEY, true)
        );
        let out = scrubbed(&body);
        assert_eq!(
            out,
            r#"{"echo": "Token [redacted]", "url": "\/v1\/x?apikey=[redacted]&t=a", "n": 1}"#
        );
        serde_json::from_str::<serde_json::Value>(&out).expect("still JSON");
        // Text without the key is returned as it is, not copied.
        let clean = r#"{"rows": [{"url": "https:\/\/a.com\/?q=1&amp;r=%20"}]}"#;
        assert!(matches!(
            Scrubber::new(Some(KEY)).scrub(clean),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn non_utf8_and_multibyte_text_survive() {
        let scrubber = Scrubber::new(Some(KEY));
        let body = [
            b"\xff\xfe caf\xc3\xa9 ".as_slice(),
            KEY.as_bytes(),
            b" \xe2\x82",
        ]
        .concat();
        assert_eq!(
            scrubber.scrub_bytes(&body).as_ref(),
            [
                b"\xff\xfe caf\xc3\xa9 ".as_slice(),
                b"[redacted]",
                b" \xe2\x82"
            ]
            .concat()
        );
        // Latin-1 read of a UTF-8 byte order mark before the key.
        is(
            &format!("\u{ef}\u{bb}\u{bf}{KEY}!"),
            "\u{ef}\u{bb}\u{bf}[redacted]!",
        );
    }

    #[test]
    fn a_short_key_is_matched_whole() {
        let scrubber = Scrubber::new(Some("K1"));
        assert_eq!(
            scrubber.scrub("bad Token K1 here k1"),
            "bad Token [redacted] here [redacted]"
        );
    }

    #[test]
    fn escapes_that_are_not_escapes_pass() {
        for text in ["100% & 50%", "\\x \\u12 &#; &#x; &nosuch; &amp", "a+b"] {
            assert_eq!(Scrubber::new(Some(KEY)).scrub(text), text);
        }
    }

    /// A body of clean chunks with the key in `form` at `at`, among other escapes, ending 4 KiB
    /// after the form (enough for every chunk size the tests use to cut around it).
    fn long_body(form: &str, at: usize) -> Vec<u8> {
        let filler = r#"{"url": "https:\/\/a.example\/p?x=1&amp;y=%20", "n": 12345}, "#;
        let mut body = Vec::new();
        let mut placed = false;
        while !placed || body.len() < at + form.len() + 4096 {
            if body.len() >= at && !placed {
                body.extend_from_slice(form.as_bytes());
                placed = true;
            }
            body.extend_from_slice(filler.as_bytes());
            for _ in 0..40 {
                body.extend_from_slice(b"plain text without anything to decode, for a while. ");
            }
        }
        body
    }

    #[test]
    fn chunks_do_not_change_the_result() {
        // The invariant: scrubbing does not depend on where the chunks fall (views skipped on
        // clean chunks catch up exactly).
        let scrubber = Scrubber::new(Some(KEY));
        let pct: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
        let json: String = KEY
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let forms = [
            KEY.to_string(),
            pct,
            json,
            format!("apikey{}", "=v".repeat(3000)),
            format!("apikey%3D{}", "v".repeat(20_000)),
        ];
        for form in &forms {
            for at in [0, 16_370, 20_000] {
                let body = long_body(form, at);
                let whole = scrubber
                    .scrub_chunked(&body, body.len(), false)
                    .into_owned();
                assert!(whole.len() < body.len(), "nothing redacted at {at}");
                for chunk in [7, 1000, 16_384] {
                    for align in [false, true] {
                        assert!(
                            scrubber.scrub_chunked(&body, chunk, align).as_ref()
                                == whole.as_slice(),
                            "chunks of {chunk} (aligned: {align}), form at {at}: {form:.20}"
                        );
                    }
                }
            }
        }
        // And the views above did skip clean chunks (else this test would not test that).
        let body = long_body(KEY, 20_000);
        let mut pipeline = Pipeline::new(&scrubber);
        for (i, part) in body.chunks(1000).enumerate() {
            pipeline.chunk(i * 1000, part);
        }
        assert!(pipeline.followed > 10, "{}", pipeline.followed);
    }

    proptest::proptest! {
        /// Whatever surrounds it and however it is cased, the key never survives, and text
        /// around it is kept.
        #[test]
        fn the_key_never_survives(
            before in "[ -~]{0,40}",
            after in "[ -~]{0,40}",
            upper in proptest::bool::ANY,
        ) {
            let key = if upper { KEY.to_uppercase() } else { KEY.to_string() };
            let out = scrubbed(&format!("{before}{key}{after}"));
            let lower = out.to_lowercase();
            for piece in KEY.as_bytes().windows(MIN_RUN) {
                let piece = std::str::from_utf8(piece).unwrap();
                proptest::prop_assert!(!lower.contains(piece), "{out}");
            }
            proptest::prop_assert!(out.contains(REDACTED));
        }

        /// Text with no piece of the key and no `apikey=` is never changed.
        #[test]
        fn clean_text_is_untouched(text in "[a-z0-9 %&;#\\\\/+\"-]{0,200}") {
            proptest::prop_assume!(!text.contains("apikey"));
            static OTHER: std::sync::OnceLock<Scrubber> = std::sync::OnceLock::new();
            let scrubber = OTHER.get_or_init(|| Scrubber::new(Some("zzzzzzzzqqqqqqqq")));
            let out = scrubber.scrub(&text).into_owned();
            proptest::prop_assert_eq!(out, text);
        }
    }
}
