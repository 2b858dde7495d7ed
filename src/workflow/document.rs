//! From a workflow file's bytes to the YAML value the checks read, and the outline that places
//! each field on its line.
//!
//! In order: a UTF-8 byte order mark is dropped (editors on Windows write one); the text must be
//! UTF-8; the outline scan refuses nesting deeper than `outline::MAX_DEPTH` before serde_yaml
//! runs (deep flow nesting takes serde_yaml quadratic time); serde_yaml parses; custom tags
//! (`!foo`) are taken off the values and reported, so a tag is refused rather than silently
//! ignored. Merge keys (`<<`) are reported by the field checks (serde_yaml keeps them as keys).

use std::path::Path;

use serde_yaml::Value;

use super::diagnostic::{Diagnostic, Problem, WorkflowError};
use super::outline::{self, Outline};

/// A parsed workflow document.
pub(super) struct Document {
    pub root: Value,
    pub outline: Outline,
    /// Custom tags found, each with the keys (and list positions) leading to it.
    pub tags: Vec<(Vec<Segment>, String)>,
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

/// A problem with the document as a whole, at `line` (and `column`) when known.
fn problem(
    path: &Path,
    line: Option<usize>,
    column: Option<usize>,
    d: Diagnostic,
) -> WorkflowError {
    WorkflowError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Problem {
            path: path.to_path_buf(),
            step: None,
            field: String::new(),
            line,
            column,
            diagnostic: d,
        }],
    }
}

/// The file's bytes as text: without a UTF-8 byte order mark, and UTF-8 or a problem naming
/// the first line that is not.
pub(super) fn text(bytes: Vec<u8>, path: &Path) -> Result<String, WorkflowError> {
    let mut bytes = bytes;
    if bytes.starts_with(crate::files::UTF8_BOM) {
        bytes.drain(..crate::files::UTF8_BOM.len());
    }
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..bad].iter().filter(|&&b| b == b'\n').count();
        problem(path, Some(line), None, Diagnostic::NotUtf8 { line })
    })
}

/// Parses workflow text (a leading byte order mark is ignored).
pub(super) fn parse(text: &str, path: &Path) -> Result<Document, WorkflowError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let outline = outline::scan(text).map_err(|deep| {
        problem(
            path,
            Some(deep.line),
            None,
            Diagnostic::TooDeep {
                max: outline::MAX_DEPTH,
            },
        )
    })?;
    let root: Value = serde_yaml::from_str(text).map_err(|e| syntax(&e, path, &outline))?;
    let mut tags = Vec::new();
    let root = untag(root, &mut Vec::new(), &mut tags);
    Ok(Document {
        root,
        outline,
        tags,
    })
}

/// serde_yaml's error as a problem; a duplicate key is placed on its second occurrence.
fn syntax(e: &serde_yaml::Error, path: &Path, outline: &Outline) -> WorkflowError {
    let location = e.location();
    let (line, column) = (
        location.as_ref().map(|l| l.line()),
        location.as_ref().map(|l| l.column()),
    );
    let message = crate::yaml_message(e);
    // serde_yaml: `steps[0]: duplicate entry with key "batch"`.
    const MARK: &str = "duplicate entry with key \"";
    if let Some(at) = message.find(MARK) {
        let key = message[at + MARK.len()..]
            .strip_suffix('"')
            .unwrap_or(&message[at + MARK.len()..])
            .to_string();
        let line = outline.duplicate(&key).or(line);
        let column = if line == location.as_ref().map(|l| l.line()) {
            column
        } else {
            None
        };
        return problem(path, line, column, Diagnostic::DuplicateKey { key });
    }
    problem(path, line, column, Diagnostic::Syntax { message })
}

/// `value` with every tag taken off; each custom tag is noted with where it was.
fn untag(value: Value, at: &mut Vec<Segment>, tags: &mut Vec<(Vec<Segment>, String)>) -> Value {
    match value {
        Value::Tagged(tagged) => {
            tags.push((at.clone(), tagged.tag.to_string()));
            untag(tagged.value, at, tags)
        }
        Value::Sequence(list) => Value::Sequence(
            list.into_iter()
                .enumerate()
                .map(|(i, item)| {
                    at.push(Segment::Index(i));
                    let item = untag(item, at, tags);
                    at.pop();
                    item
                })
                .collect(),
        ),
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(key, item)| {
                    let key = untag(key, at, tags);
                    at.push(Segment::Key(
                        key.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| crate::yaml_inline(&key)),
                    ));
                    let item = untag(item, at, tags);
                    at.pop();
                    (key, item)
                })
                .collect(),
        ),
        other => other,
    }
}
