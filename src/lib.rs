//! `budget`: forecast and guard API-unit spending on the SE Ranking Data API.
//!
//! Data flows one way: files → validated model (`pricing`, `workflow`) → `forecast` → verdict →
//! `report`. Only `report` writes output; only `account` talks to the network.

pub mod account;
pub mod baseline;
pub mod calibrate;
pub mod cli;
pub mod commands;
pub mod count;
pub mod error;
pub mod estimate;
pub mod files;
pub mod finance;
pub mod gate;
pub mod guard;
pub mod ledger;
pub mod pricing;
pub mod reconcile;
pub mod report;
pub mod schema;
pub mod workflow;

pub use error::{Error, Status};

/// Runs one command line to completion.
pub fn run(cli: cli::Cli) -> Result<Status, Error> {
    commands::run(cli)
}

/// The human part of an I/O error (without the "(os error 2)" suffix).
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// A serde_yaml error's message without its location suffix (reported separately).
pub(crate) fn yaml_message(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    // serde_yaml's words for an integer beyond 64 bits.
    const MARK: &str = "invalid type: integer `";
    match text.find(MARK) {
        Some(at) if text.contains("` as u128") || text.contains("` as i128") => {
            let number = text[at + MARK.len()..]
                .split('`')
                .next()
                .unwrap_or_default();
            let why = if number.starts_with('-') {
                "is negative and too large for a count".to_string()
            } else {
                format!("is too large for a count (the maximum is {})", u64::MAX)
            };
            format!("{}{number} {why}", &text[..at])
        }
        _ => text,
    }
}

/// A YAML value in one short line, for messages.
pub(crate) fn yaml_inline(value: &serde_yaml::Value) -> String {
    use serde_yaml::Value;
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}
