//! `--help`: each command lists only the flags it takes, shared ones under "Global options",
//! with an example and its exit codes; flags a command does not take are refused (exit 2).

use crate::support::run;

const COMMANDS: [&str; 13] = [
    "plan",
    "check",
    "gate",
    "balance",
    "prices",
    "overage",
    "forecast",
    "report",
    "guard",
    "guard-admin",
    "reservations",
    "schema",
    "completions",
];

#[test]
fn every_command_has_examples_and_exit_codes() {
    for command in COMMANDS {
        let r = run(&[command, "--help"]);
        r.code(0)
            .stdout_has("Examples:\n  budget ")
            .stdout_has("Exit codes:\n  ")
            .stdout_has("Global options:\n  -q, --quiet");
        // The command's own options come first, the shared ones after their heading.
        let global = r.stdout.find("Global options:").expect("heading");
        let own = r.stdout.find("Options:").expect("options");
        assert!(own < global, "{command}:\n{}", r.stdout);
    }
    run(&["--help"])
        .code(0)
        .stdout_has("Exit codes: 0 fits · 1 over budget · 2 bad input");
}

#[test]
fn the_api_url_shows_its_default_not_an_empty_variable() {
    run(&["plan", "--help"])
        .code(0)
        .stdout_has("[env: SERANKING_API_URL]")
        .stdout_has("[default: https://api.seranking.com]");
    assert!(!run(&["plan", "--help"])
        .stdout
        .contains("SERANKING_API_URL=]"));
}

#[test]
fn commands_list_only_the_flags_they_take() {
    // (command, flags it must list, flags it must not)
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "schema",
            &[],
            &["--retries", "--format", "--pricing", "--api-url", "--redis"],
        ),
        ("completions", &[], &["--format", "--retries", "--pricing"]),
        (
            "prices",
            &["--format", "--pricing"],
            &["--retries", "--api-url", "--redis"],
        ),
        (
            "balance",
            &["--format", "--api-url", "--retries"],
            &["--pricing", "--redis"],
        ),
        (
            "reservations",
            &["--format", "--redis"],
            &["--pricing", "--api-url"],
        ),
        (
            "report",
            &[
                "--output",
                "--units-left",
                "--pricing",
                "--api-url",
                "--redis",
            ],
            &["--format", "--compare-to"],
        ),
    ];
    for (command, listed, absent) in cases {
        let r = run(&[command, "--help"]);
        r.code(0);
        for flag in listed {
            r.stdout_has(&format!("{flag} "));
        }
        for flag in absent {
            assert!(
                !r.stdout.contains(flag),
                "{command} lists {flag}:\n{}",
                r.stdout
            );
        }
    }
}

/// A flag that means nothing to a command is refused, not ignored (exit 2).
#[test]
fn meaningless_flags_are_refused() {
    for (args, flag) in [
        (&["schema", "--format", "json"][..], "--format"),
        (&["completions", "bash", "--format", "json"], "--format"),
        (&["prices", "--retries", "3"], "--retries"),
        (
            &["overage", "--tier", "1M", "--usage", "2M", "--offline"],
            "--offline",
        ),
        (&["reservations", "--pricing", "x.yaml"], "--pricing"),
    ] {
        run(args)
            .code(2)
            .stderr_has(&format!("unexpected argument '{flag}'"));
    }
}

/// `--quiet` is the one flag taken anywhere on the line.
#[test]
fn quiet_goes_anywhere() {
    run(&["-q", "prices", "--format", "csv"])
        .code(0)
        .stdout_has("endpoint,methods,per,units");
}
