//! Reading the guard's call journal (`budget guard --journal FILE`): one JSON object per line, as
//! docs/guard.md "Reading the journal" describes. The journal is streamed (it may hold millions of calls)
//! with a cap per line, and handed to the caller call by call.
//!
//! Lines that are not calls (a `kind` and no `endpoint`: the guard's `budget`, `hold` and
//! `refused_summary` lines) are skipped. In a call, only `endpoint`, `units_charged` and
//! `outcome` are required; the other fields are read when
//! present (`overrun`, which later guards add, counts 0 when absent) and unknown ones are ignored,
//! so journals of older and newer guards both read. A last line without its newline that does
//! not parse is the trace of a guard stopped mid-write: it is skipped with a warning. Any other
//! line that is not a journal line is an error naming the file and line.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ReconcileError;
use crate::files::{self, FileKind};

/// The longest journal line read (a guard writes well under 1 KiB per call).
pub const MAX_LINE_BYTES: usize = 64 << 10;
/// Bad lines listed in an error; the rest are counted.
const LISTED_PROBLEMS: usize = 10;

/// One call, as reconciling reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Call {
    pub endpoint: String,
    pub units_charged: u64,
    pub outcome: String,
    /// Units charged above the call's hold (0 when the journal does not say).
    #[serde(default)]
    pub overrun: Option<u64>,
    #[serde(default)]
    pub targets: Option<u64>,
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub rows: Option<u64>,
    #[serde(default)]
    pub target_hash: Option<String>,
    #[serde(default)]
    pub continues: bool,
}

impl Call {
    /// Answered 2xx by the API (a billed request).
    pub fn is_charged(&self) -> bool {
        self.outcome == "charged"
    }
}

/// Something worth telling about a journal that does not stop the reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalWarning {
    #[error("{}:{line}: the last line is incomplete (the guard stopped while writing it?); it was skipped", path.display())]
    IncompleteLastLine { path: PathBuf, line: u64 },
    #[error("{} has the same content as {}: its calls are counted twice", path.display(), earlier.display())]
    SameContent { path: PathBuf, earlier: PathBuf },
}

/// What reading one journal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRead {
    pub path: PathBuf,
    /// Calls handed over.
    pub calls: u64,
    /// The first 16 hex digits of the SHA-256 of the bytes read (to know a journal again).
    pub digest: String,
    pub warnings: Vec<JournalWarning>,
}

/// Streams the journal at `path`, handing each call to `each` with its line number. `each` may
/// stop the reading with an error (e.g. an overflow), which is returned as is.
pub fn read(
    path: &Path,
    mut each: impl FnMut(&Call, u64) -> Result<(), ReconcileError>,
) -> Result<JournalRead, ReconcileError> {
    let file = files::open(path, FileKind::Journal)?;
    let io = |e: std::io::Error| {
        ReconcileError::from(files::FileError::Io {
            kind: FileKind::Journal,
            path: path.to_path_buf(),
            reason: crate::io_reason(&e),
        })
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut hasher = Sha256::new();
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut total = 0u64;
    let mut calls = 0u64;
    let mut problems = Vec::new();
    let mut more = 0u64;
    let mut warnings = Vec::new();
    loop {
        buf.clear();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX) + 1;
        let n = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        line += 1;
        total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if total > FileKind::Journal.cap() {
            return Err(files::FileError::TooLarge {
                kind: FileKind::Journal,
                path: path.to_path_buf(),
            }
            .into());
        }
        hasher.update(&buf);
        let complete = buf.last() == Some(&b'\n');
        if !complete && buf.len() > MAX_LINE_BYTES {
            return Err(ReconcileError::JournalLine {
                path: path.to_path_buf(),
                line,
                reason: format!(
                    "the line is longer than {} KiB; is this the journal a guard wrote with --journal?",
                    MAX_LINE_BYTES >> 10
                ),
            });
        }
        let text = if line == 1 {
            files::strip_bom(&buf)
        } else {
            &buf[..]
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = match text.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => serde_json::from_slice::<Call>(text).map_err(|e| reason(&e)),
            _ => Err("not a guard journal line (each line is one JSON object)".to_string()),
        };
        match parsed {
            Ok(call) => {
                calls += 1;
                each(&call, line)?;
            }
            Err(_) if other_kind(text) => {}
            // Without its newline, the line is the last one: a guard stopped mid-write.
            Err(_) if !complete => warnings.push(JournalWarning::IncompleteLastLine {
                path: path.to_path_buf(),
                line,
            }),
            Err(e) if problems.len() < LISTED_PROBLEMS => {
                problems.push(format!("{}:{line}: {e}", path.display()));
            }
            Err(_) => more += 1,
        }
    }
    if !problems.is_empty() {
        return Err(ReconcileError::JournalLines {
            path: path.to_path_buf(),
            problems,
            more,
        });
    }
    Ok(JournalRead {
        path: path.to_path_buf(),
        calls,
        digest: hex16(&hasher.finalize()),
        warnings,
    })
}

/// Whether a line is one of the guard's lines that are not calls (`budget`, `hold`,
/// `refused_summary`, and kinds later guards add): a `kind` and no `endpoint`. Skipped.
fn other_kind(text: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        kind: Option<serde::de::IgnoredAny>,
        endpoint: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Kind>(text).is_ok_and(|k| k.kind.is_some() && k.endpoint.is_none())
}

/// serde_json's reason without its position (the line is named already).
fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    if e.is_syntax() || e.is_eof() {
        format!("not JSON ({text})")
    } else {
        format!("not a guard journal line ({text})")
    }
}

/// The first 8 bytes of a digest in hex.
pub(crate) fn hex16(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8]) -> (Result<JournalRead, ReconcileError>, Vec<(Call, u64)>) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        std::fs::write(&path, text).expect("write");
        let mut calls = Vec::new();
        let read = read(&path, |call, line| {
            calls.push((call.clone(), line));
            Ok(())
        });
        (read, calls)
    }

    const LINE: &str = r#"{"time":"t","method":"GET","endpoint":"backlinks/all","targets":1,"status":200,"units_reserved":100,"units_charged":40,"latency_ms":1.0,"attempts":1,"outcome":"charged","workflow":"Audit","step":"2","rows":40,"future":{"x":1}}"#;

    #[test]
    fn lines_are_read_with_their_optional_fields() {
        let text = format!("\u{feff}{LINE}\n\n{{\"endpoint\":\"backlinks/summary\",\"units_charged\":0,\"outcome\":\"over_budget\",\"overrun\":5}}\n");
        let (read, calls) = read_all(text.as_bytes());
        let read = read.expect("read");
        assert_eq!(read.calls, 2);
        assert!(read.warnings.is_empty());
        assert_eq!(read.digest.len(), 16);
        let (first, line) = &calls[0];
        assert_eq!(*line, 1);
        assert_eq!(first.endpoint, "backlinks/all");
        assert_eq!(
            (first.units_charged, first.rows, first.overrun),
            (40, Some(40), None)
        );
        assert_eq!(first.workflow.as_deref(), Some("Audit"));
        assert!(first.is_charged());
        // The blank line 2 is skipped; line 3 is the second call.
        assert_eq!(calls[1].1, 3);
        assert_eq!(calls[1].0.overrun, Some(5));
        assert!(!calls[1].0.is_charged());
    }

    /// The guard's lines that are not calls (a `kind`, no `endpoint`) are skipped, not errors;
    /// a line with neither is still an error.
    #[test]
    fn lines_of_other_kinds_are_not_calls() {
        let text = format!(
            "{}\n{}\n{LINE}\n{}\n",
            r#"{"time":"t","kind":"budget","epoch":"e1","account":"a","budget":1000,"source":"flag","state":"memory","spent":0}"#,
            r#"{"time":"t","kind":"hold","epoch":"e1","hold":"s-1","units":100}"#,
            r#"{"time":"t","kind":"refused_summary","seconds":10,"counts":{"unauthorized":5}}"#
        );
        let (read, calls) = read_all(text.as_bytes());
        assert_eq!(read.expect("read").calls, 1);
        assert_eq!(calls[0].1, 3);
        let (read, _) = read_all(format!("{LINE}\n{{\"time\":\"t\"}}\n").as_bytes());
        assert!(read.is_err());
    }

    #[test]
    fn an_incomplete_last_line_is_a_warning() {
        let text = format!("{LINE}\n{{\"endpoint\":\"backlinks/all\",\"units_");
        let (read, calls) = read_all(text.as_bytes());
        let read = read.expect("read");
        assert_eq!(calls.len(), 1);
        let warning = read.warnings[0].to_string();
        assert!(
            warning.ends_with("calls.jsonl:2: the last line is incomplete (the guard stopped while writing it?); it was skipped"),
            "{warning}"
        );
    }

    #[test]
    fn bad_lines_are_errors_naming_file_and_line() {
        let mut text = format!("{LINE}\nnot json\n{{\"endpoint\":\"a\"}}\n{{\"endpoint\":\n");
        for _ in 0..12 {
            text.push_str("[]\n");
        }
        let e = read_all(text.as_bytes()).0.unwrap_err().to_string();
        for phrase in [
            "calls.jsonl:2: not a guard journal line (each line is one JSON object)",
            "calls.jsonl:3: not a guard journal line (missing field `units_charged`)",
            "calls.jsonl:4: not JSON (EOF while parsing a value)",
            "calls.jsonl:5: not a guard journal line (each line is one JSON object)",
            // 15 bad lines: 10 listed, 5 counted.
            "and 5 more",
        ] {
            assert!(e.contains(phrase), "{e} lacks {phrase:?}");
        }
    }

    #[test]
    fn a_line_beyond_the_cap_stops_the_reading() {
        let text = format!("{LINE}\n{}\n", "x".repeat(MAX_LINE_BYTES + 1));
        let e = read_all(text.as_bytes()).0.unwrap_err().to_string();
        assert!(
            e.contains("calls.jsonl:2: the line is longer than 64 KiB"),
            "{e}"
        );
    }

    #[test]
    fn the_digest_names_the_content() {
        // JSON that is not a call is an error; a blank line is no call at all.
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("j");
        std::fs::write(&path, "{}\n").expect("write");
        let e = read(&path, |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("missing field `endpoint`"), "{e}");
        std::fs::write(&path, "\n").expect("write");
        // `printf '\n' | sha256sum` = 01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b
        let read = read(&path, |_, _| Ok(())).expect("read");
        assert_eq!(read.digest, "01ba4719c80b6fe9");
        assert_eq!(read.calls, 0);
    }
}
