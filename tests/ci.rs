//! CI outputs: GitHub annotations, the job summary, Markdown.

use crate::support::{budget, run, Run, Scratch};

const DOCS: &str = "workflows/docs-example.yaml"; // 26,000 units

fn in_actions(args: &[&str]) -> Run {
    budget()
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .output()
        .expect("run")
        .into()
}

#[test]
fn validation_errors_become_error_annotations_with_file_and_line() {
    let s = Scratch::new();
    // Line 3 holds the step: `  - endpoint: backlinks/sumary`.
    let wf = s.file(
        "bad.yaml",
        "name: Bad\nsteps:\n  - endpoint: backlinks/sumary\n    targets: 10\n",
    );
    let r = in_actions(&["plan", &wf]);
    r.code(2).stderr_has(&format!(
        "::error file={wf},line=3::step 1 (backlinks/sumary #1): field `endpoint`: unknown endpoint `backlinks/sumary`; did you mean `backlinks/summary`? [W031]"
    ));
    // Outside GitHub Actions: the plain error only.
    let plain = run(&["plan", &wf]);
    plain.code(2).stderr_has("unknown endpoint");
    assert!(!plain.stderr.contains("::error"));
}

#[test]
fn other_errors_become_one_annotation() {
    in_actions(&["check", DOCS])
        .code(3)
        .stderr_has("::error::balance unknown");
}

#[test]
fn an_over_budget_verdict_is_annotated_and_json_stays_clean() {
    let r = in_actions(&["check", DOCS, "--units-left", "20000", "--format", "json"]);
    r.code(1)
        .stderr_has("::error file=workflows/docs-example.yaml::over budget: 26,000 units planned, 20,000 usable (over by 6,000)");
    assert_eq!(r.json()["verdict"], "over_budget");
    // Fits: no annotation.
    let fits = in_actions(&["check", DOCS, "--units-left", "30000"]);
    fits.code(0);
    assert!(!fits.stderr.contains("::error"));
}

#[test]
fn annotation_properties_and_messages_are_escaped() {
    let s = Scratch::new();
    // A path with `,` and `:`; a message over several lines is kept on one. The annotation is
    // on the line of the field (`targets`, line 3), not of its step (line 2).
    let wf = s.file(
        "a,b:c.yaml",
        "steps:\n  - endpoint: backlinks/summary\n    targets: ten\n",
    );
    let escaped = wf.replace(',', "%2C").replace(':', "%3A");
    in_actions(&["plan", &wf])
        .code(2)
        .stderr_has(&format!("::error file={escaped},line=3::"))
        .stderr_has("[W046]");
}

#[test]
fn plan_and_check_append_the_markdown_summary() {
    let s = Scratch::new();
    let summary = s.file("summary.md", "earlier step\n");
    for _ in 0..2 {
        let r: Run = budget()
            .args(["check", DOCS, "--units-left", "30000"])
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .expect("run")
            .into();
        r.code(0);
    }
    let text = std::fs::read_to_string(&summary).expect("summary");
    assert!(text.starts_with("earlier step\n"), "{text}");
    assert_eq!(
        text.matches("### ✅ budget: fits: 26,000 of 30,000 usable units (4,000 to spare)")
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn an_unwritable_summary_is_a_warning() {
    budget()
        .args(["plan", DOCS])
        .env("GITHUB_STEP_SUMMARY", "/nonexistent/dir/summary.md")
        .output()
        .map(Run::from)
        .expect("run")
        .code(0)
        .stderr_has("warning: cannot append the summary to GITHUB_STEP_SUMMARY");
}

#[test]
fn markdown_is_a_pull_request_comment() {
    let r = run(&[
        "plan",
        DOCS,
        "--units-left",
        "20000",
        "--format",
        "markdown",
    ]);
    r.code(1)
        .stdout_has(
            "### ❌ budget: over budget: 26,000 units planned, 20,000 usable (over by 6,000)",
        )
        .stdout_has("Balance (`--units-left`): 20,000 units left · **20,000** usable")
        .stdout_has("#### Docs example (`workflows/docs-example.yaml`)")
        // records: 250 + 1 + 2 polls (each names at least one record) = 253.
        .stdout_has("|  | **total** |  | 6 | 253 | **26,000** |");
}

#[test]
fn markdown_of_several_workflows_has_a_summary_table() {
    let s = Scratch::new();
    // 3 targets × 100 units = 300 units, 1 request.
    let wf = s.file(
        "small.yaml",
        "name: Small\nsteps:\n  - endpoint: backlinks/summary\n    targets: 3\n",
    );
    // total: 26,000 + 300 = 26,300 units, 6 + 1 = 7 requests.
    run(&["plan", DOCS, &wf, "--format", "markdown"])
        .code(0)
        .stdout_has("| **total** |  | 7 | **26,300** | 26,300 |")
        .stdout_has("<details><summary>Small — 300 units</summary>");
}

#[test]
fn completions_for_each_shell() {
    for (shell, phrase) in [
        ("bash", "_budget()"),
        ("zsh", "#compdef budget"),
        ("fish", "complete -c budget"),
    ] {
        run(&["completions", shell])
            .code(0)
            .stdout_has(phrase)
            .stdout_has("reservations");
    }
    run(&["completions", "tcsh"])
        .code(2)
        .stderr_has("invalid value 'tcsh'");
}
