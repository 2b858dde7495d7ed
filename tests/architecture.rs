//! The layers of ARCHITECTURE.md, checked on the source: a module may use only modules of lower
//! layers (and the pairs listed in `SIBLINGS`). The table below is the one ARCHITECTURE.md shows;
//! `the_document_shows_this_table` keeps the two equal, so the picture and the code can't drift.
//!
//! The check reads every `.rs` file under `src/`, skips comments, and collects each `crate::NAME`
//! path (in `use` lists too). It is a text scan, not a compiler pass: enough for `crate::` paths,
//! which is how this crate refers across modules (`super::` stays inside a module).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom to top. A module may depend on the rows above its own, never below.
const LAYERS: &[(&str, &[&str])] = &[
    ("quantities and files", &["count", "files", "lib"]),
    ("pricing", &["pricing"]),
    ("workflow", &["workflow", "schema"]),
    ("estimate", &["estimate"]),
    ("analysis", &["finance", "baseline", "reconcile"]),
    ("account and transport", &["account"]),
    ("reservations ledger", &["ledger"]),
    ("run time", &["gate", "guard", "calibrate"]),
    ("top-level error", &["error"]),
    ("report", &["report"]),
    ("interface", &["cli", "commands", "main"]),
];

/// Same-layer edges that are allowed (from, to).
const SIBLINGS: &[(&str, &str)] = &[
    // The crate root's helpers (`io_reason`, `yaml_message`) serve the modules beside them.
    ("count", "lib"),
    ("files", "lib"),
    // The workflow file's JSON Schema is checked against the parser's field lists.
    ("schema", "workflow"),
    ("commands", "cli"),
    // Calibration counts a reply's records with the guard's rule (one definition of a record).
    ("calibrate", "guard"),
];

/// Names re-exported at the crate root, and the module they come from.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Status", "error"),
    ("io_reason", "lib"),
    ("yaml_message", "lib"),
    ("yaml_inline", "lib"),
    ("run", "commands"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The top-level module a file of `src/` belongs to: `src/guard/proxy.rs` → `guard`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without comments, string literals and char literals (messages and doc
/// comments mention `crate::` paths that are not dependencies).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let skip = if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            rest.find("*/").map_or(rest.len(), |end| end + 2)
        } else if let Some(raw) = rest.strip_prefix("r#\"") {
            raw.find("\"#").map_or(rest.len(), |end| end + 5)
        } else if c == '"' {
            string_end(&rest[1..]).map_or(rest.len(), |end| end + 2)
        } else if c == '\'' {
            char_literal_len(rest).unwrap_or(1)
        } else {
            out.push(c);
            c.len_utf8()
        };
        if skip != c.len_utf8() || c == '"' || c == '\'' {
            out.push(' ');
        }
        rest = &rest[skip..];
    }
    out
}

/// Where a string literal's closing quote is, `rest` starting after its opening quote.
fn string_end(rest: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// The length of a char literal at the start of `rest` (`'x'`, `'\n'`, `'\''`), or `None` for a
/// lifetime.
fn char_literal_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    let (_, first) = chars.next()?;
    if first == '\\' {
        let close = rest[2..].find('\'')?;
        return Some(close + 3);
    }
    let (at, second) = chars.next()?;
    (second == '\'').then_some(at + 1)
}

/// The top-level items named after `crate::` in `code`: `crate::a::b` → `a`,
/// `crate::{a, b::c, D}` → `a`, `b`, `D`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        if preceded {
            continue;
        }
        if let Some(list) = rest.strip_prefix('{') {
            // The top level of a brace list.
            let mut depth = 0usize;
            let mut item = String::new();
            let mut collecting = true;
            for c in list.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        collecting = false;
                    }
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !item.is_empty() {
                            found.push(std::mem::take(&mut item));
                        }
                        collecting = true;
                    }
                    ':' => collecting = false,
                    c if (c.is_alphanumeric() || c == '_') && depth == 0 && collecting => {
                        item.push(c)
                    }
                    c if c.is_whitespace() && !item.is_empty() && depth == 0 => collecting = false,
                    _ => {}
                }
            }
            if !item.is_empty() {
                found.push(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// The module a `crate::NAME` refers to (root re-exports resolved).
fn target_module(name: &str) -> String {
    ROOT_ITEMS
        .iter()
        .find(|(item, _)| *item == name)
        .map_or(name, |(_, module)| module)
        .to_string()
}

/// Every upward or sideways edge in the files given, as `from -> to (file)`.
fn violations(files: &[(String, String, String)]) -> Vec<String> {
    let mut found = BTreeSet::new();
    for (module, file, text) in files {
        let Some(from) = layer_of(module) else {
            found.insert(format!(
                "{file}: module `{module}` is in no layer of the table"
            ));
            continue;
        };
        for name in crate_paths(&without_comments(text)) {
            let target = target_module(&name);
            if &target == module || SIBLINGS.contains(&(module.as_str(), target.as_str())) {
                continue;
            }
            match layer_of(&target) {
                None => {
                    found.insert(format!(
                        "{file}: `crate::{name}` names a module in no layer of the table"
                    ));
                }
                Some(to) if to >= from => {
                    found.insert(format!(
                        "{file}: {module} (layer {from}, {}) uses {target} (layer {to}, {})",
                        LAYERS[from].0, LAYERS[to].0
                    ));
                }
                Some(_) => {}
            }
        }
    }
    found.into_iter().collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .iter()
        .map(|path| {
            (
                module_of(&src, path),
                path.strip_prefix(&src)
                    .expect("under src")
                    .display()
                    .to_string(),
                std::fs::read_to_string(path).expect("read source"),
            )
        })
        .collect()
}

#[test]
fn layers_only_point_down() {
    let problems = violations(&sources());
    assert!(
        problems.is_empty(),
        "imports against the layers of ARCHITECTURE.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_back_edge_is_caught() {
    // The checker itself: a pricing file using report (layer 1 → 9), a grouped import of a
    // higher layer, a sibling edge, and things that are not edges (comments, strings, own module).
    let file = |module: &str, text: &str| (module.to_string(), format!("{module}.rs"), text.into());
    let problems = violations(&[
        file("pricing", "use crate::report::thousands;"),
        file("estimate", "use crate::{pricing::Pricing, ledger, Error};"),
        file("gate", "fn f() { crate::guard::x(); }"),
        file(
            "workflow",
            "// crate::report in a comment\nconst S: &str = \"crate::report\";\nuse crate::workflow::x;\nuse crate::pricing;",
        ),
    ]);
    assert_eq!(
        problems,
        vec![
            "estimate.rs: estimate (layer 3, estimate) uses error (layer 8, top-level error)",
            "estimate.rs: estimate (layer 3, estimate) uses ledger (layer 6, reservations ledger)",
            "gate.rs: gate (layer 7, run time) uses guard (layer 7, run time)",
            "pricing.rs: pricing (layer 1, pricing) uses report (layer 9, report)",
        ]
    );
}

#[test]
fn the_document_shows_this_table() {
    // ARCHITECTURE.md's layer table: rows `| N | name | modules |`, modules in backticks.
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
    let mut rows = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || cells[1].parse::<usize>().is_err() {
            continue;
        }
        let modules: Vec<String> = cells[3]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        rows.push((
            cells[1].parse::<usize>().expect("layer"),
            cells[2].to_string(),
            modules,
        ));
    }
    let expected: Vec<(usize, String, Vec<String>)> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, (name, modules))| {
            (
                i,
                name.to_string(),
                modules.iter().map(|m| m.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        rows, expected,
        "ARCHITECTURE.md's layer table differs from tests/architecture.rs"
    );
}
