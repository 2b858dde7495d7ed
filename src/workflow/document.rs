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
use super::outline::{self, Outline, Refused};

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
    let outline = outline::scan(text).map_err(|refused| match refused {
        Refused::TooDeep { line } => problem(
            path,
            Some(line),
            None,
            Diagnostic::TooDeep {
                max: outline::MAX_DEPTH,
            },
        ),
        Refused::TooMany { line } => problem(
            path,
            Some(line),
            None,
            Diagnostic::TooManyCollections {
                max: outline::MAX_COLLECTIONS,
            },
        ),
    })?;
    let root: Value = serde_yaml::from_str(text).map_err(|e| syntax(&e, path, &outline))?;
    let mut root = root;
    let mut tags = Vec::new();
    untag(&mut root, &mut Vec::new(), &mut tags);
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

/// A step of the path to the node being untagged, borrowed from the document.
enum Step<'v> {
    Key(&'v Value),
    Index(usize),
}

/// The path as owned segments, for a tag's report.
fn owned(at: &[Step<'_>]) -> Vec<Segment> {
    at.iter()
        .map(|s| match s {
            Step::Key(key) => Segment::Key(
                key.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| crate::yaml_inline(key)),
            ),
            Step::Index(i) => Segment::Index(*i),
        })
        .collect()
}

/// Takes every tag off `value`, in place (the tree is not rebuilt: a 10,000-step workflow
/// would pay for it); each custom tag is noted with where it was.
fn untag<'v>(value: &'v mut Value, at: &mut Vec<Step<'v>>, tags: &mut Vec<(Vec<Segment>, String)>) {
    while let Value::Tagged(_) = value {
        if let Value::Tagged(tagged) = std::mem::take(value) {
            tags.push((owned(at), tagged.tag.to_string()));
            *value = tagged.value;
        }
    }
    match value {
        Value::Sequence(list) => {
            for (i, item) in list.iter_mut().enumerate() {
                at.push(Step::Index(i));
                untag(item, at, tags);
                at.pop();
            }
        }
        Value::Mapping(map) => {
            if map.keys().any(|k| matches!(k, Value::Tagged(_))) {
                // Rare: a tagged key. The mapping is rebuilt with its keys untagged.
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(mut key, item)| {
                        while let Value::Tagged(tagged) = key {
                            tags.push((owned(at), tagged.tag.to_string()));
                            key = tagged.value;
                        }
                        (key, item)
                    })
                    .collect();
            }
            for (key, item) in map.iter_mut() {
                at.push(Step::Key(key));
                untag(item, at, tags);
                at.pop();
            }
        }
        _ => {}
    }
}
