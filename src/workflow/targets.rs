//! A step's `targets`: a count, an inline list, or `{file: path}` (a targets file, relative to
//! the workflow file). Repeated targets are counted (the job calls them) and warned about.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::check::Check;
use super::diagnostic::{Diagnostic, StepRef};
use super::fields::TARGETS_FIELDS;
use super::target_count::{count_list, count_targets, TargetCount};
use crate::files::FileKind;

impl Check<'_> {
    pub(super) fn targets(&mut self, value: Option<&Value>, s: Option<&StepRef>) -> Option<u64> {
        let count = match value {
            None => return Some(1),
            Some(value @ (Value::Number(_) | Value::String(_))) => {
                return match crate::count::from_yaml(value) {
                    Ok(0) => {
                        self.problem(s, "targets", Diagnostic::NoTargets);
                        None
                    }
                    Ok(n) => Some(n),
                    Err(reason) => {
                        self.problem(s, "targets", Diagnostic::BadTargetCount { reason });
                        None
                    }
                };
            }
            Some(Value::Sequence(list)) => {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                if names.len() != list.len() {
                    self.problem(s, "targets", Diagnostic::TargetNotText);
                    return None;
                }
                if names.is_empty() {
                    self.problem(s, "targets", Diagnostic::EmptyTargetList);
                    return None;
                }
                if let Some(blank) = names.iter().position(|n| n.trim().is_empty()) {
                    self.problem(s, "targets", Diagnostic::BlankTarget { number: blank + 1 });
                    return None;
                }
                let count = count_list(names.into_iter());
                self.duplicates(s, "the list", count);
                count
            }
            Some(Value::Mapping(m)) => self.targets_file(m, s)?,
            Some(other) => {
                self.problem(
                    s,
                    "targets",
                    Diagnostic::TargetsWrongType {
                        found: crate::yaml_inline(other),
                    },
                );
                return None;
            }
        };
        Some(count.targets)
    }

    fn targets_file(&mut self, m: &Mapping, s: Option<&StepRef>) -> Option<TargetCount> {
        self.unknown_fields(m, s, "targets.", TARGETS_FIELDS);
        let Some(file) = m.get("file").and_then(Value::as_str) else {
            self.problem(s, "targets.file", Diagnostic::TargetsFileMissing);
            return None;
        };
        let base = self.path.parent().unwrap_or(Path::new(""));
        let resolved = base.join(file);
        // Opened without blocking and checked to be a regular file: a FIFO or a device named
        // as a targets file is refused at once instead of hanging or reading forever.
        let reader = match crate::files::open(&resolved, FileKind::Targets) {
            Ok(reader) => reader,
            Err(error) => {
                self.problem(
                    s,
                    "targets.file",
                    Diagnostic::TargetsFileUnreadable { error },
                );
                return None;
            }
        };
        let count = match count_targets(reader) {
            Ok(count) => count,
            Err(error) => {
                let path = resolved.display().to_string();
                self.problem(
                    s,
                    "targets.file",
                    Diagnostic::BadTargetsFile { path, error },
                );
                return None;
            }
        };
        if count.targets == 0 {
            let path = resolved.display().to_string();
            self.problem(s, "targets.file", Diagnostic::TargetsFileEmpty { path });
            return None;
        }
        self.duplicates(s, &resolved.display().to_string(), count);
        Some(count)
    }

    fn duplicates(&mut self, s: Option<&StepRef>, origin: &str, count: TargetCount) {
        if count.duplicates > 0 {
            self.warn(
                s,
                "targets",
                Diagnostic::DuplicateTargets {
                    origin: origin.to_string(),
                    duplicates: count.duplicates,
                },
            );
        }
    }
}
