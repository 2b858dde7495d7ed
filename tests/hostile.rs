//! Names a pull request controls, through the real binary under GitHub Actions: they must not
//! raise workflow commands, forge Markdown, reach the terminal as control characters or start
//! a CSV formula (docs/security.md "Names in the output").

use crate::support::{budget, Run, Scratch};

/// `budget ARGS` as GitHub Actions runs it, with a job summary file.
fn in_actions(s: &Scratch, args: &[&str]) -> (Run, String) {
    let summary = s.path().join("summary.md");
    let run: Run = budget()
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("run")
        .into();
    let summary = std::fs::read_to_string(&summary).unwrap_or_default();
    (run, summary)
}

/// Invariant: the only workflow commands in any output are the tool's own `::error` lines;
/// no legacy `##[` command and no control character but the line end anywhere.
#[track_caller]
fn no_forged_commands(text: &str) {
    for line in text.lines() {
        let start = line.trim_start();
        assert!(
            !start.starts_with("::") || start.starts_with("::error"),
            "a forged workflow command: {line:?}\n{text}"
        );
        assert!(!line.contains("##["), "a legacy workflow command: {line:?}");
        assert!(
            !line.chars().any(|c| c.is_control()),
            "a control character: {line:?}"
        );
    }
}

/// A workflow whose names carry the issue's attacks; 3 targets × 100 units = 300 units.
const HOSTILE: &str = r#"name: "Audit\n::warning::X"
steps:
  - name: "\e[2J\e[31mred ##[warning]legacy"
    endpoint: backlinks/summary
    targets: 2
  - name: "=HYPERLINK(\"http://e\",\"x\")"
    endpoint: backlinks/summary
    targets: 1
"#;

#[test]
fn a_hostile_workflow_name_forges_nothing_in_any_format() {
    let s = Scratch::new();
    let wf = s.file("hostile.yaml", HOSTILE);
    for format in ["table", "markdown", "csv", "json"] {
        let (r, summary) = in_actions(
            &s,
            &["plan", &wf, "--units-left", "1000", "--format", format],
        );
        r.code(0);
        no_forged_commands(&r.stdout);
        no_forged_commands(&r.stderr);
        no_forged_commands(&summary);
    }
    // The name is shown, escaped: one line, visibly.
    let (r, _) = in_actions(&s, &["plan", &wf, "--units-left", "1000"]);
    r.stdout_has("Audit\\n::warning::X (")
        .stdout_has("\\u{1b}[2J\\u{1b}[31mred #\\u{23}[warning]legacy");
    // JSON keeps the exact name.
    let (r, _) = in_actions(
        &s,
        &["plan", &wf, "--units-left", "1000", "--format", "json"],
    );
    assert_eq!(r.json()["workflows"][0]["name"], "Audit\n::warning::X");
    assert_eq!(
        r.json()["workflows"][0]["steps"][0]["name"],
        "\u{1b}[2J\u{1b}[31mred ##[warning]legacy"
    );
}

#[test]
fn csv_text_cells_cannot_start_a_formula_but_numbers_stay_numbers() {
    let s = Scratch::new();
    let wf = s.file("hostile.yaml", HOSTILE);
    let (r, _) = in_actions(&s, &["plan", &wf, "--format", "csv"]);
    // Step 2: 1 target × 100 units = 100 units, 1 request.
    r.code(0).stdout_has(
        ",2,\"'=HYPERLINK(\"\"http://e\"\",\"\"x\"\")\",backlinks/summary,record,100,1,1,1,1,1,100,100\n",
    );
}

#[test]
fn a_name_cannot_forge_a_fits_heading_or_hide_the_table() {
    let s = Scratch::new();
    // 300 units against 200 usable: over budget. The name tries to add a "fits" heading and
    // to hide everything after it in an HTML comment.
    let wf = s.file(
        "forge.yaml",
        "name: \"x\\n\\n### ✅ budget: fits\\n\\n<!--\"\nsteps:\n  - endpoint: backlinks/summary\n    targets: 3\n",
    );
    let (r, summary) = in_actions(
        &s,
        &["check", &wf, "--units-left", "200", "--format", "markdown"],
    );
    r.code(1);
    for text in [&r.stdout, &summary] {
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(headings.len(), 2, "{text}");
        assert_eq!(
            headings[0],
            "### ❌ budget: over budget: 300 units planned, 200 usable (over by 100)"
        );
        // The name is the workflow's heading, its markup escaped (renders as typed).
        assert!(
            headings[1].starts_with("#### x\\\\n\\\\n\\#\\#\\# ✅ budget: fits\\\\n\\\\n\\<!-- (`"),
            "{text}"
        );
        // No HTML comment opens: the only `<!--` is the escaped one.
        assert!(!text.replace("\\<!--", "").contains("<!--"), "{text}");
    }
}

#[test]
fn errors_and_warnings_quote_names_on_one_line() {
    let s = Scratch::new();
    // An unknown endpoint in a step whose name tries a workflow command: one ::error line with
    // the name escaped, and the plain error likewise.
    let bad = s.file(
        "bad.yaml",
        "steps:\n  - name: \"x\\n::warning::pwned\"\n    endpoint: backlinks/sumary\n",
    );
    let (r, _) = in_actions(&s, &["plan", &bad]);
    r.code(2)
        .stderr_has("::error file=")
        .stderr_has("step 1 (x\\n::warning::pwned): field `endpoint`: unknown endpoint")
        .stderr_has("  - ");
    no_forged_commands(&r.stderr);
    // A warning (duplicate targets) naming such a step.
    let dup = s.file(
        "dup.yaml",
        "steps:\n  - name: \"y\\n::warning::pwned\"\n    endpoint: backlinks/summary\n    targets: [a.com, a.com]\n",
    );
    let (r, _) = in_actions(&s, &["plan", &dup]);
    r.code(0)
        .stderr_has("warning: ")
        .stderr_has("step 1 (y\\n::warning::pwned): field `targets`");
    no_forged_commands(&r.stderr);
}
