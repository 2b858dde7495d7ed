//! `budget gate`: run only what fits, pass the command's status on, hold a reservation meanwhile.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{budget, run, state_home, Run, Scratch};

const DOCS: &str = "workflows/docs-example.yaml"; // 26,000 units (see tests/plan.rs)
const WAIT: Duration = Duration::from_secs(20);

/// A shell command that creates `started`, then waits until `go` exists.
fn waiting(started: &Path, go: &Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        crate::support::WAIT_FOR_GO.into(),
        "sh".into(),
        started.display().to_string(),
        go.display().to_string(),
    ]
}

fn spawn(args: &[String]) -> Child {
    budget()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn budget")
}

#[track_caller]
fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < WAIT, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[track_caller]
fn finish(child: Child) -> Run {
    child.wait_with_output().expect("wait for budget").into()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn reservations() -> serde_json::Value {
    run(&["reservations", "--format", "json"]).code(0).json()
}

#[test]
fn runs_the_command_when_it_fits_and_passes_its_exit_code_on() {
    let r = run(&[
        "gate",
        DOCS,
        "--units-left",
        "30000",
        "--",
        "sh",
        "-c",
        "echo from-cmd; exit 3",
    ]);
    r.code(3)
        .stdout_has("from-cmd")
        .stderr_has("budget gate: running sh -c");
    // The gate's own report is on stderr: stdout is the command's alone.
    assert_eq!(r.stdout, "from-cmd\n");
    // The reservation ended with the command.
    assert_eq!(reservations()["reservations"], serde_json::json!([]));
}

#[test]
fn refuses_over_budget_without_running_the_command() {
    let s = Scratch::new();
    let marker = s.path().join("ran");
    // 26,000 planned, 20,000 usable: over by 6,000.
    run(&[
        "gate",
        DOCS,
        "--units-left",
        "20000",
        "--",
        "touch",
        &marker.display().to_string(),
    ])
    .code(1)
    .stderr_has("over budget: 26,000 units planned, 20,000 usable (over by 6,000)")
    .stderr_has("not running touch");
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn exit_codes_for_bad_input_and_unknown_balance() {
    run(&["gate", DOCS, "--", "true"])
        .code(3)
        .stderr_has("balance unknown");
    run(&["gate", "missing.yaml", "--units-left", "1M", "--", "true"])
        .code(2)
        .stderr_has("cannot read the workflow file missing.yaml: no such file [W001]");
    run(&["gate", DOCS, "--units-left", "1M"])
        .code(2)
        .stderr_has("<CMD>");
    run(&[
        "gate",
        DOCS,
        "--units-left",
        "1M",
        "--reserve",
        "lots",
        "--",
        "true",
    ])
    .code(2)
    .stderr_has("--reserve:");
}

#[test]
fn a_command_that_cannot_start_exits_127_and_releases() {
    run(&["gate", DOCS, "--units-left", "1M", "--", "/nonexistent/job"])
        .code(127)
        .stderr_has("cannot run /nonexistent/job: no such file");
    assert_eq!(reservations()["reservations"], serde_json::json!([]));
}

#[test]
fn a_command_killed_by_a_signal_exits_128_plus_the_signal() {
    // SIGKILL is 9: 128 + 9 = 137.
    run(&[
        "gate",
        DOCS,
        "--units-left",
        "1M",
        "--",
        "sh",
        "-c",
        "kill -KILL $$",
    ])
    .code(137);
}

#[test]
fn sigterm_is_forwarded_and_the_reservation_released() {
    let s = Scratch::new();
    let (ready, got) = (s.path().join("ready"), s.path().join("got-term"));
    // Waits for SIGTERM, at most about a minute (no process is left behind if the test fails).
    let script = r#"trap 'touch "$2"; exit 7' TERM; touch "$1"; n=0; while [ "$n" -lt 6000 ]; do sleep 0.01; n=$((n+1)); done"#;
    let mut list = args(&[
        "gate",
        DOCS,
        "--units-left",
        "1M",
        "--",
        "sh",
        "-c",
        script,
        "sh",
    ]);
    list.push(ready.display().to_string());
    list.push(got.display().to_string());
    let child = spawn(&list);
    wait_for_file(&ready);
    assert_eq!(reservations()["reservations"][0]["units"], 26000);
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: signals the gate we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    finish(child).code(7);
    assert!(got.exists(), "the command did not receive SIGTERM");
    assert_eq!(reservations()["reservations"], serde_json::json!([]));
}

#[test]
fn two_gates_started_together_never_share_headroom() {
    // 30,000 units left: room for one 26,000-unit plan, not two (52,000).
    let s = Scratch::new();
    let go = s.path().join("go");
    let gates: Vec<(Child, std::path::PathBuf)> = ["a", "b"]
        .iter()
        .map(|name| {
            let started = s.path().join(format!("started-{name}"));
            let mut list = args(&["gate", DOCS, "--units-left", "30000", "--"]);
            list.extend(waiting(&started, &go));
            (spawn(&list), started)
        })
        .collect();
    // The refused gate exits by itself; the admitted one waits for `go`.
    let start = Instant::now();
    let mut gates = gates;
    let refused = loop {
        if let Some(i) = gates
            .iter_mut()
            .position(|(c, _)| c.try_wait().expect("try_wait").is_some())
        {
            break gates.remove(i);
        }
        assert!(
            start.elapsed() < WAIT,
            "neither gate refused: both run the command"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    finish(refused.0)
        .code(1)
        .stderr_has("30,000 units left, 26,000 reserved by running jobs, 4,000 usable");
    assert!(!refused.1.exists(), "the refused gate ran its command");
    let (admitted, started) = gates.remove(0);
    wait_for_file(&started);
    std::fs::write(&go, "").expect("write go");
    finish(admitted).code(0);
}

#[test]
fn plan_and_check_subtract_running_reservations_of_the_same_account() {
    let s = Scratch::new();
    let (started, go) = (s.path().join("started"), s.path().join("go"));
    let mut list = args(&["gate", DOCS, "--units-left", "1M", "--"]);
    list.extend(waiting(&started, &go));
    let gate = budget()
        .args(&list)
        .env("SERANKING_API_KEY", "key-one-SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_file(&started);
    let plan = |key: Option<&str>| {
        let mut cmd = budget();
        cmd.args(["plan", DOCS, "--units-left", "100000", "--format", "json"]);
        if let Some(key) = key {
            cmd.env("SERANKING_API_KEY", key);
        }
        Run::from(cmd.output().expect("run plan"))
    };
    // Same key: 100,000 − 26,000 reserved = 74,000 usable.
    let same = plan(Some("key-one-SECRET"));
    let json = same.code(0).json();
    assert_eq!(json["balance"]["reserved"], 26000);
    assert_eq!(json["balance"]["usable"], 74000);
    // Another key, or none ("offline"), is another account.
    assert_eq!(
        plan(Some("key-two")).code(0).json()["balance"]["reserved"],
        0
    );
    assert_eq!(plan(None).code(0).json()["balance"]["reserved"], 0);
    // forecast too: 100,000 − 26,000 reserved = 74,000 spendable.
    let mut forecast = budget();
    forecast
        .args([
            "forecast",
            DOCS,
            "--units-left",
            "100000",
            "--period-end",
            "2026-12-26",
        ])
        .args(["--now", "2026-11-26", "--format", "json"])
        .env("SERANKING_API_KEY", "key-one-SECRET");
    let json = Run::from(forecast.output().expect("run forecast"))
        .code(0)
        .json();
    assert_eq!(json["balance"]["reserved"], 26000);
    assert_eq!(json["balance"]["spendable"], 74000);
    // The table says so; check fails when the rest no longer fits (26,000 > 30,000 − 26,000).
    let mut check = budget();
    check
        .args(["check", DOCS, "--units-left", "30000"])
        .env("SERANKING_API_KEY", "key-one-SECRET");
    Run::from(check.output().expect("run check"))
        .code(1)
        .stdout_has("26,000 reserved by running jobs")
        .stdout_has("over budget");
    // The key is in neither the ledger nor the listing; its hash names the account.
    let listing = run(&["reservations"]);
    listing.code(0).stdout_has("26,000");
    assert!(!listing.stdout.contains("SECRET"));
    let ledger =
        std::fs::read_to_string(state_home().join("budget/reservations.json")).expect("ledger");
    assert!(
        !ledger.contains("SECRET"),
        "the key is in the ledger:\n{ledger}"
    );
    std::fs::write(&go, "").expect("write go");
    let done = finish(gate);
    done.code(0);
    assert!(!done.stderr.contains("SECRET"));
}

#[test]
fn the_key_is_blanked_out_of_the_recorded_command() {
    let r = budget()
        .args([
            "gate",
            DOCS,
            "--units-left",
            "1M",
            "--",
            "sh",
            "-c",
            "budget_probe=$0; echo ok",
            "key-SECRET-9",
        ])
        .env("SERANKING_API_KEY", "key-SECRET-9")
        .output()
        .expect("run");
    let r = Run::from(r);
    r.code(0).stderr_has("[redacted]");
    assert!(!r.stderr.contains("SECRET"), "{}", r.stderr);
}

#[test]
fn reservations_of_gone_processes_do_not_count() {
    // A ledger left by a gate that was killed: pid of a process that has ended.
    let mut gone = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = gone.id();
    gone.wait().expect("wait");
    let dir = state_home().join("budget");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let ledger = format!(
        r#"{{"version": 1, "accounts": {{"offline": [{{"id": "x", "account": "offline", "pid": {pid}, "units": 500000,
        "workflows": ["w"], "command": "job", "started": "2026-01-01T00:00:00Z"}}]}}}}"#
    );
    std::fs::write(dir.join("reservations.json"), ledger).expect("write ledger");
    let json = run(&["plan", DOCS, "--units-left", "100000", "--format", "json"])
        .code(0)
        .json();
    assert_eq!(json["balance"]["reserved"], 0);
    run(&["reservations"]).code(0).stdout_has("no reservations");
}

#[test]
fn a_damaged_ledger_fails_closed_with_exit_3() {
    let dir = state_home().join("budget");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("reservations.json"), "{oops").expect("write");
    run(&["plan", DOCS, "--units-left", "100000"])
        .code(3)
        .stderr_has("is damaged")
        .stderr_has("delete it when no `budget gate` is running");
    run(&["gate", DOCS, "--units-left", "100000", "--", "true"])
        .code(3)
        .stderr_has("is damaged");
    // Without a balance, plan does not need the ledger.
    run(&["plan", DOCS]).code(0);
}

const OVERAGE: &str = "name: Overage\naccount: {tier: 1M, overage: plan}\nsteps:\n  - endpoint: backlinks/summary\n    targets: 250\n";

#[test]
fn max_overage_usd_lets_a_small_overage_run() {
    // 250 × 100 = 25,000 units; 5,000 left: 20,000 beyond. 1M tier, monthly plan rate $99.99 per
    // 1M: 0.02 × 99.99 = 1.9998 → $2.00.
    let s = Scratch::new();
    let wf = s.file("overage.yaml", OVERAGE);
    run(&["gate", &wf, "--units-left", "5000", "--max-overage-usd", "2", "--", "true"])
        .code(0)
        .stderr_has("the 20,000 units beyond usable cost $2.00 at the 1M monthly plan rate, within --max-overage-usd $2");
    run(&[
        "gate",
        &wf,
        "--units-left",
        "5000",
        "--max-overage-usd",
        "1.99",
        "--",
        "true",
    ])
    .code(1)
    .stderr_has("would cost $2.00, above --max-overage-usd $1.99");
    run(&["gate", &wf, "--units-left", "5000", "--", "true"])
        .code(1)
        .stderr_has("--max-overage-usd 2.00 lets it run");
}

#[test]
fn max_overage_usd_errors() {
    run(&[
        "gate",
        DOCS,
        "--units-left",
        "5000",
        "--max-overage-usd",
        "5",
        "--",
        "true",
    ])
    .code(2)
    .stderr_has("--max-overage-usd needs an overage tier");
    // an account whose overage is off (the default) cannot buy anything out.
    let s = Scratch::new();
    let off = s.file(
        "off.yaml",
        "account: {tier: 1M}\nsteps: [{endpoint: backlinks/summary, targets: 250}]",
    );
    run(&[
        "gate",
        &off,
        "--units-left",
        "5000",
        "--max-overage-usd",
        "5",
        "--",
        "true",
    ])
    .code(2)
    .stderr_has("--max-overage-usd needs an account with overage on")
    .stderr_has("add `overage: plan` (or `addon`)");
    run(&[
        "gate",
        DOCS,
        "--units-left",
        "5000",
        "--max-overage-usd",
        "cheap",
        "--",
        "true",
    ])
    .code(2)
    .stderr_has("--max-overage-usd: \"cheap\" is not a number of dollars");
}

#[test]
fn a_workflow_above_its_max_units_is_never_bought_out() {
    let s = Scratch::new();
    let wf = s.file(
        "capped.yaml",
        &format!("budget: {{max_units: 1000}}\n{OVERAGE}"),
    );
    run(&[
        "gate",
        &wf,
        "--units-left",
        "1M",
        "--max-overage-usd",
        "1000",
        "--",
        "true",
    ])
    .code(1)
    .stderr_has("above its budget.max_units of 1,000");
}

#[test]
fn a_command_that_is_not_executable_exits_126() {
    let s = Scratch::new();
    let script = s.file("job.sh", "echo never\n"); // written without the execute bit
    run(&["gate", DOCS, "--units-left", "1M", "--", &script])
        .code(126)
        .stderr_has(&format!("cannot run {script}: permission denied"));
}

#[test]
fn the_key_never_appears_in_any_failure() {
    let s = Scratch::new();
    let bad = s.file("bad.yaml", "steps:\n  - endpoint: nope\n");
    let key_file = s.file("key", "SECRET-key-file-7\n");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["gate", DOCS, "--units-left", "100", "--", "true"], 1),
        (vec!["gate", DOCS, "--offline", "--", "true"], 3),
        (vec!["gate", &bad, "--units-left", "1M", "--", "true"], 2),
        (
            vec!["gate", DOCS, "--units-left", "1M", "--", "/nonexistent/job"],
            127,
        ),
        (
            vec!["check", DOCS, "--units-left", "100", "--format", "json"],
            1,
        ),
        (vec!["reservations", "--format", "json"], 0),
    ];
    for (args, code) in &cases {
        // `reservations` reads no key: it takes no --api-key-file.
        let files: &[bool] = match args[0] {
            "reservations" => &[false],
            _ => &[false, true],
        };
        for &with_file in files {
            let mut cmd = budget();
            cmd.arg(args[0]);
            // Right after the command: after a gate's `--` it would belong to the gated command.
            if with_file {
                cmd.args(["--api-key-file", &key_file]);
            } else {
                cmd.env("SERANKING_API_KEY", "SECRET-env-key-7");
            }
            // Never the internet: a closed local port should anything try the API.
            cmd.args(&args[1..])
                .env("GITHUB_ACTIONS", "true")
                .env("SERANKING_API_URL", "http://127.0.0.1:9");
            let r = Run::from(cmd.output().expect("run"));
            r.code(*code);
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(!all.contains("SECRET"), "{args:?} leaked the key:\n{all}");
        }
    }
}

#[test]
fn the_gate_reads_the_live_balance_and_keys_reservations_by_account() {
    use crate::support::simulator::{Simulator, KEY};
    let sim = Simulator::start();
    sim.set(|s| s.units_left = 30_000);
    let s = Scratch::new();
    let (started, go) = (s.path().join("started"), s.path().join("go"));
    let live = |extra: &[String]| {
        let mut cmd = budget();
        cmd.env("SERANKING_API_URL", sim.url())
            .env("SERANKING_API_KEY", KEY)
            .args(["gate", DOCS, "--"])
            .args(extra);
        cmd
    };
    // 30,000 live units left: the first gate (26,000) runs and waits …
    let first = live(&waiting(&started, &go))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_file(&started);
    // … so a second one on the same key is refused: 30,000 − 26,000 = 4,000 usable.
    let second = Run::from(live(&args(&["true"])).output().expect("run"));
    second.code(1).stderr_has(
        "balance (live): 30,000 units left (subscription 30,000 + wallet 0), 26,000 reserved by running jobs, 4,000 usable",
    );
    assert!(!second.stderr.contains(KEY));
    // The account is the key's hash, never the key.
    let listing = run(&["reservations", "--format", "json"]).code(0).json();
    let account = listing["reservations"][0]["account"]
        .as_str()
        .expect("account")
        .to_string();
    assert_eq!(account.len(), 16);
    assert!(!listing.to_string().contains(KEY));
    std::fs::write(&go, "").expect("write go");
    finish(first).code(0);
}

#[test]
fn an_unusable_ledger_location_is_exit_3() {
    // Neither XDG_STATE_HOME nor HOME: nowhere to keep reservations.
    let r = Run::from(
        budget()
            .env_remove("XDG_STATE_HOME")
            .env_remove("HOME")
            .args(["plan", DOCS, "--units-left", "30000"])
            .output()
            .expect("run"),
    );
    r.code(3)
        .stderr_has("no place for the reservation ledger: set XDG_STATE_HOME or HOME");
    // A state directory that is a file cannot hold a gate's reservation (reading finds none
    // there, so plan and check go on).
    let s = Scratch::new();
    let file = s.file("not-a-dir", "x");
    let gate = |args: &[&str]| {
        Run::from(
            budget()
                .env("XDG_STATE_HOME", &file)
                .args(args)
                .output()
                .expect("run"),
        )
    };
    gate(&["gate", DOCS, "--units-left", "30000", "--", "true"])
        .code(3)
        .stderr_has("cannot use the reservation ledger");
    gate(&["check", DOCS, "--units-left", "30000"]).code(0);
}

/// Whether the process `pid` has ended: no `/proc` entry, or a zombie nobody reaped yet.
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[track_caller]
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Invariant: a gate's command never runs on units that are no longer reserved. Before, a
/// `kill -9`ed gate left its command running while the next read dropped its reservation, and
/// a second 26,000-unit gate was admitted beside it.
#[test]
fn a_killed_gate_takes_its_command_with_it() {
    let s = Scratch::new();
    let pid_file = s.path().join("command.pid");
    // The command writes its pid, then sleeps (a minute at most, should the test fail).
    let mut list = args(&["gate", DOCS, "--units-left", "30000", "--"]);
    list.extend(args(&[
        "sh",
        "-c",
        r#"echo $$ > "$1"; exec sleep 60"#,
        "sh",
    ]));
    list.push(pid_file.display().to_string());
    let mut gate = spawn(&list);
    wait_until("the command wrote its pid", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let command: u32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    // The reservation records the gate and, once started, its command.
    wait_until("the command's pid is in the reservation", || {
        reservations()["reservations"][0]["command_pid"] == command
    });
    let listed = &reservations()["reservations"][0];
    assert_eq!(listed["holder"], "gate");
    assert_eq!(listed["pid"], gate.id());
    // While it runs, a second gate needing the same headroom is refused, and told who holds it.
    run(&["gate", DOCS, "--units-left", "30000", "--", "true"])
        .code(1)
        .stderr_has("26,000 reserved by running jobs, 4,000 usable")
        .stderr_has(&format!(
            "held by running jobs of this account: gate {} (sh -c",
            gate.id()
        ))
        .stderr_has("26,000 units (see `budget reservations`)");
    gate.kill().expect("kill -9 the gate");
    gate.wait().expect("reap the gate");
    // Its command dies with it (the parent-death signal), long before the minute is up.
    wait_until("the command ended with its gate", || ended(command));
    // Then, and only then, the headroom is free again.
    run(&["gate", DOCS, "--units-left", "30000", "--", "true"]).code(0);
    assert_eq!(reservations()["reservations"], serde_json::json!([]));
}

#[track_caller]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Invariant: reservations name commands and accounts; no other user may read or change them.
#[test]
fn state_files_are_private_and_an_open_directory_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let gate = |home: &Path| {
        Run::from(
            budget()
                .env("XDG_STATE_HOME", home)
                .args(["gate", DOCS, "--units-left", "30000", "--", "true"])
                .output()
                .expect("run"),
        )
    };
    // A state directory the gate creates: 0700, its files 0600.
    let fresh = s.path().join("fresh");
    let done = gate(&fresh);
    done.code(0);
    assert!(!done.stderr.contains("warning"), "{}", done.stderr);
    let dir = fresh.join("budget");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("reservations.json")), 0o600);
    assert_eq!(mode(&dir.join("reservations.lock")), 0o600);
    // One made by someone else, writable by all: the gate runs, says so and how to fix it.
    let open = s.path().join("open");
    let dir = open.join("budget");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    gate(&open)
        .code(0)
        .stderr_has(&format!(
            "warning: other users can write to the state directory {} (mode 777)",
            dir.display()
        ))
        .stderr_has(&format!("run `chmod 700 {}`", dir.display()));
    assert_eq!(mode(&dir.join("reservations.json")), 0o600);
    assert_eq!(mode(&dir.join("reservations.lock")), 0o600);
}
