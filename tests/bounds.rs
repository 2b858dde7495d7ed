//! Hostile input, as a pull request can send it: files that are not what they claim (a device,
//! a FIFO, a directory, a huge file), YAML nested to exhaust the parser, targets files in other
//! encodings or with binary bytes, baselines that do not add up, names a megabyte long. Each
//! case ends at once with a message naming the file (and line) and exit code 2.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{budget, run, Run, Scratch};

const DOCS: &str = "workflows/docs-example.yaml"; // 26,000 units

/// Runs `budget ARGS`. A run still going after a minute is killed and fails the test: a read
/// that blocks (a FIFO opened without O_NONBLOCK) or never ends (`/dev/zero`) would otherwise
/// hang the suite. This is a guard against hangs, not a timing assertion.
#[track_caller]
fn run_bounded(args: &[&str]) -> Run {
    let mut cmd = budget();
    cmd.args(args);
    finish(cmd)
}

/// Runs `cmd` to its end, killing it (and failing) after a minute.
#[track_caller]
fn finish(mut cmd: Command) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn budget");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("output").into()
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// A sparse file of `len` zero bytes: large, but costs no disk.
fn sparse(path: &Path, len: u64) -> String {
    let file = std::fs::File::create(path).expect("create");
    file.set_len(len).expect("set_len");
    path.display().to_string()
}

/// A scratch directory holding a FIFO, a directory and a sparse file just over `cap` bytes.
struct Odd {
    s: Scratch,
    fifo: String,
    dir: String,
    huge: String,
}

impl Odd {
    fn new(cap: u64) -> Self {
        let s = Scratch::new();
        let fifo = s.path().join("fifo");
        mkfifo(&fifo);
        let dir = s.path().join("adir");
        std::fs::create_dir(&dir).expect("mkdir");
        let huge = sparse(&s.path().join("huge"), cap + 1);
        Odd {
            fifo: fifo.display().to_string(),
            dir: dir.display().to_string(),
            huge,
            s,
        }
    }
}

// ---- read bounds --------------------------------------------------------------------------

#[test]
fn workflow_paths_that_are_not_workflow_files_are_refused_at_once() {
    // Invariant: no workflow path can make `budget` hang or read without bound. The old code
    // read `/dev/zero` until memory ran out and read any size whole.
    let odd = Odd::new(4 << 20);
    run_bounded(&["plan", "/dev/zero"])
        .code(2)
        .stderr_has("the workflow file /dev/zero is a device, not a regular file; give the path of a file [W001]");
    run_bounded(&["plan", &odd.fifo])
        .code(2)
        .stderr_has("is a FIFO (named pipe), not a regular file");
    run_bounded(&["plan", &odd.dir])
        .code(2)
        .stderr_has("is a directory, not a regular file");
    // 4 MiB + 1 byte.
    run_bounded(&["plan", &odd.huge])
        .code(2)
        .stderr_has("is larger than the 4 MiB limit for such a file");
}

#[test]
fn targets_paths_that_are_not_lists_are_refused_at_once() {
    // Invariant: a targets file is opened without blocking (the old code hung forever in
    // open() on a FIFO) and must be a regular file of text.
    let odd = Odd::new(1 << 30);
    let step = |file: &str| {
        let wf = odd.s.file(
            "t.yaml",
            &format!("steps:\n  - endpoint: backlinks/summary\n    targets: {{file: {file:?}}}\n"),
        );
        run_bounded(&["plan", &wf])
    };
    step("/dev/zero").code(2).stderr_has(
        "field `targets.file`: the targets file /dev/zero is a device, not a regular file; give the path of a file [W052]",
    );
    step(&odd.fifo)
        .code(2)
        .stderr_has("is a FIFO (named pipe), not a regular file; give the path of a file [W052]");
    step(&odd.dir)
        .code(2)
        .stderr_has("is a directory, not a regular file; give the path of a file [W052]");
    // A 1 GiB file of zeros is refused on its first line, not read to the end.
    step(&odd.huge)
        .code(2)
        .stderr_has("line 1 holds a NUL byte")
        .stderr_has("[W055]");
}

#[test]
fn baseline_paths_that_are_not_saved_plans_are_refused_at_once() {
    let odd = Odd::new(32 << 20);
    for (path, phrase) in [
        (
            "/dev/zero",
            "the baseline file /dev/zero is a device, not a regular file",
        ),
        (
            odd.fifo.as_str(),
            "is a FIFO (named pipe), not a regular file",
        ),
        (odd.dir.as_str(), "is a directory, not a regular file"),
        // 32 MiB + 1 byte.
        (
            odd.huge.as_str(),
            "is larger than the 32 MiB limit for such a file",
        ),
    ] {
        run_bounded(&["plan", DOCS, "--compare-to", path])
            .code(2)
            .stderr_has(phrase)
            .stderr_has("save one with `budget plan WF... --format json > FILE`");
    }
}

// ---- YAML depth ---------------------------------------------------------------------------

#[test]
fn deep_yaml_is_refused_before_parsing() {
    // Invariant: nesting beyond 32 levels is refused by a linear scan before serde_yaml runs
    // (which took 48 s on a 200 KB `[[[[…]]]]` and then said "recursion limit exceeded").
    let s = Scratch::new();
    let cases = [
        (
            "flow-seq.yaml",
            format!("steps: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        (
            "flow-map.yaml",
            format!("name: {}x{}", "{a: ".repeat(50_000), "}".repeat(50_000)),
        ),
        ("block.yaml", format!("steps:\n{}x\n", "- ".repeat(100_000))),
        (
            "indented.yaml",
            (0..40)
                .map(|i| format!("{}a{i}:\n", " ".repeat(i)))
                .collect(),
        ),
    ];
    for (name, yaml) in cases {
        let wf = s.file(name, &yaml);
        run_bounded(&["plan", &wf])
            .code(2)
            .stderr_has("nested more than 32 levels deep; a workflow needs 4")
            .stderr_has("[W003]");
    }
    // The line where it went too deep: the 33rd level of the indented case is on line 33.
    let wf = s.path().join("indented.yaml").display().to_string();
    run(&["plan", &wf])
        .code(2)
        .stderr_has("indented.yaml:33: nested more than 32 levels deep");
}

#[test]
fn a_workflow_with_a_byte_order_mark_is_read() {
    // Invariant: a UTF-8 BOM (Windows editors) changes nothing; the old code said "more than one
    // document is not supported" whenever the first key was not a comment.
    let s = Scratch::new();
    let wf = s.path().join("bom.yaml");
    std::fs::write(
        &wf,
        b"\xEF\xBB\xBFname: BOM\nsteps:\n  - endpoint: backlinks/summary\n    targets: 250\n",
    )
    .expect("write");
    // 250 targets × 100 units = 25,000
    let json = run(&["plan", &wf.display().to_string(), "--format", "json"])
        .code(0)
        .json();
    assert_eq!(json["total"]["units"], 25_000);
    assert_eq!(json["workflows"][0]["name"], "BOM");
}

// ---- targets files ------------------------------------------------------------------------

/// Plans one backlinks/summary step over the targets file `bytes` (100 units per target).
fn plan_targets(bytes: &[u8]) -> (Scratch, Run) {
    let s = Scratch::new();
    std::fs::write(s.path().join("t.txt"), bytes).expect("write");
    let wf = s.file(
        "w.yaml",
        "steps:\n  - endpoint: backlinks/summary\n    targets: {file: t.txt}\n",
    );
    let r = run(&["plan", &wf, "--format", "json"]);
    (s, r)
}

#[test]
fn targets_files_count_the_same_whatever_the_line_endings() {
    // Invariant: 3 targets are 3 targets (300 units) with LF, CR LF, a lone CR or a mix; the old
    // code counted a CR-only file as 1 target.
    for text in [
        &b"a.com\nb.com\nc.com\n"[..],
        b"a.com\r\nb.com\r\nc.com\r\n",
        b"a.com\rb.com\rc.com",
        b"a.com\rb.com\r\nc.com\n",
    ] {
        let (_s, r) = plan_targets(text);
        assert_eq!(r.code(0).json()["total"]["units"], 300, "{text:?}");
    }
    // A line of exactly 4096 bytes followed by CR LF is accepted (2 targets, 200 units).
    let mut text = "y".repeat(4096).into_bytes();
    text.extend_from_slice(b"\r\na.com\r\n");
    let (_s, r) = plan_targets(&text);
    assert_eq!(r.code(0).json()["total"]["units"], 200);
}

#[test]
fn a_bom_does_not_hide_a_duplicate_of_the_first_line() {
    // a.com twice: 2 targets, and the repeat is warned about (the old code kept the BOM in the
    // first target, so it did not match the second).
    let (_s, r) = plan_targets(b"\xEF\xBB\xBFa.com\na.com\n");
    r.stderr_has("repeats 1 target; it is counted (and paid) as many times as listed [W054]");
    assert_eq!(r.code(0).json()["total"]["units"], 200);
}

#[test]
fn targets_files_that_are_not_utf8_text_are_refused_with_the_line() {
    // Each names the file and the line; the old code counted UTF-16 as N+1 targets and accepted
    // binary files.
    let cases: [(&[u8], &str); 6] = [
        // "a.com\r\nb.com\r\n" as PowerShell's `>` writes it.
        (
            b"\xFF\xFEa\0.\0c\0o\0m\0\r\0\n\0b\0.\0c\0o\0m\0\r\0\n\0",
            "t.txt: is UTF-16 text (what PowerShell's `>` writes); save it as UTF-8",
        ),
        (b"\xFF\xFE\0\0a\0\0\0", "t.txt: is UTF-32 text"),
        (b"a.com\nb\0.com\n", "t.txt: line 2 holds a NUL byte"),
        (
            b"\x7fELF\x02\x01",
            "t.txt: line 1 holds the control character U+007F",
        ),
        (
            b"a.com\nb.com\nc\x1b[2J.com\n",
            "t.txt: line 3 holds the control character U+001B",
        ),
        (b"a.com\ncaf\xe9.com\n", "t.txt: line 2 is not UTF-8 text"),
    ];
    for (bytes, phrase) in cases {
        let (_s, r) = plan_targets(bytes);
        r.code(2)
            .stderr_has("field `targets.file`: the targets file ")
            .stderr_has(phrase)
            .stderr_has("[W055]");
    }
    let long = format!("a.com\n{}\n", "x".repeat(4097));
    let (_s, r) = plan_targets(long.as_bytes());
    r.code(2)
        .stderr_has("t.txt: line 2 is longer than 4096 bytes");
}

#[test]
fn a_ledger_that_is_not_a_file_is_refused_at_once() {
    // Invariant: the reservation ledger is read like every other file: a FIFO in its place is
    // refused (exit 3: without the ledger the usable balance is unknown), not waited on.
    let state = Scratch::new();
    std::fs::create_dir(state.path().join("budget")).expect("mkdir");
    mkfifo(&state.path().join("budget").join("reservations.json"));
    let mut cmd = budget();
    cmd.arg("reservations").env("XDG_STATE_HOME", state.path());
    let r = finish(cmd);
    r.code(3)
        .stderr_has("cannot use the reservation ledger")
        .stderr_has("it is a FIFO (named pipe), not a regular file");
}

// ---- long names -----------------------------------------------------------------------------

#[test]
fn megabyte_names_get_no_suggestion_and_short_messages() {
    // Invariant: "did you mean" costs nothing for names longer than any it could match, and a
    // message quotes at most 80 characters of a value. The old code spent 12 s and 326 MB on a
    // 1 MB endpoint name, then printed it whole. (900 KiB each here: four fit in 4 MiB.)
    let s = Scratch::new();
    let long = "x".repeat(900 << 10);
    let wf = s.file(
        "long.yaml",
        // YAML keys are at most 1024 characters.
        &format!(
            "{}: 1\nsteps:\n  - endpoint: {long}\n    source: {long}\n    targets: \"{long}\"\n",
            &long[..1000]
        ),
    );
    let r = run_bounded(&["plan", &wf]);
    r.code(2)
        .stderr_has(&format!(
            "field `{}…`: unknown field; known fields: version",
            "x".repeat(80)
        ))
        .stderr_has(&format!(
            "unknown endpoint `{}…`; run `budget prices` for the catalogue",
            "x".repeat(80)
        ))
        .stderr_has(&format!("\"{}\"… is not a count", "x".repeat(40)));
    assert!(
        r.stderr.len() < 4_000,
        "{} bytes of messages",
        r.stderr.len()
    );
}

// ---- messages -------------------------------------------------------------------------------

/// `yaml` as bad.yaml: exit 2, each phrase on stderr.
#[track_caller]
fn refused(yaml: &str, phrases: &[&str]) {
    let s = Scratch::new();
    let wf = s.file("bad.yaml", yaml);
    let r = run(&["plan", &wf]);
    r.code(2);
    for phrase in phrases {
        r.stderr_has(phrase);
    }
}

#[test]
fn numbers_say_too_large_or_negative() {
    // The old code said "1e16 is not a whole number" and "-5 is not a whole number of units".
    refused(
        "budget: {max_units: 1e16}\nsteps: [{endpoint: backlinks/count}]",
        &[
            "bad.yaml:1: field `budget.max_units`: 1e16 is too large for a number with a decimal point or an exponent",
            "[W011]",
        ],
    );
    refused(
        "steps:\n  - endpoint: backlinks/count\n    targets: 1e30\n",
        &[
            "bad.yaml:3: step 1 (backlinks/count #1): field `targets`: 1e30 is too large",
            "[W046]",
        ],
    );
    refused(
        "budget:\n  reserve: -5\nsteps: [{endpoint: backlinks/count}]",
        &[
            "bad.yaml:2: field `budget.reserve`: -5 is negative",
            "[W023]",
        ],
    );
    refused(
        "budget: {reserve: \"-5%\"}\nsteps: [{endpoint: backlinks/count}]",
        &["field `budget.reserve`: \"-5%\" is negative"],
    );
}

#[test]
fn merge_keys_and_custom_tags_are_refused() {
    // Invariant: YAML features `budget` does not read are refused by name, never ignored. The old
    // code called `<<` an unknown field and dropped tags silently (`!foo` on a step or endpoint
    // planned as if it were not there).
    refused(
        "base: &b {batch: 5}\nsteps:\n  - endpoint: backlinks/summary\n    <<: *b\n",
        &["bad.yaml:4: step 1 (backlinks/summary #1): field `<<`: merge keys (`<<`) are not supported; write the fields out in each place [W007]"],
    );
    refused(
        "steps:\n  - !foo\n    endpoint: backlinks/summary\n",
        &[
            "bad.yaml:2: step 1 (backlinks/summary #1): the custom tag `!foo` is not supported",
            "[W006]",
        ],
    );
    refused(
        "steps:\n  - endpoint: !bar backlinks/summary\n",
        &["bad.yaml:2: step 1 (backlinks/summary #1): field `endpoint`: the custom tag `!bar` is not supported"],
    );
    refused(
        "--- !root\nsteps:\n  - endpoint: backlinks/summary\n",
        &["the custom tag `!root` is not supported"],
    );
}

#[test]
fn a_duplicate_key_names_its_own_line() {
    // serde_yaml places the error at the mapping (line 2); the second `batch` is on line 5.
    refused(
        "steps:\n  - endpoint: backlinks/summary\n    batch: 5\n    targets: 3\n    batch: 6\n",
        &["bad.yaml:5: invalid YAML: `batch` is set twice in one mapping; keep one [W005]"],
    );
}

#[test]
fn durations_have_no_float_noise() {
    // 1 request and 2 requests at 10/s: 0.1 s + 0.2 s = 0.3 s, which adding floats makes
    // 0.30000000000000004 (the old JSON). 1 request at 3/s is 0.333 s, to the millisecond.
    let s = Scratch::new();
    let a = s.file("a.yaml", "steps: [{endpoint: backlinks/count}]");
    let b = s.file(
        "b.yaml",
        "steps: [{endpoint: backlinks/count, targets: 2, batch: 1}]",
    );
    let r = run(&["plan", &a, &b, "--format", "json"]);
    let json = r.code(0).json();
    assert_eq!(json["total"]["requests"], 3);
    assert!(
        r.stdout.contains("\"duration_seconds\": 0.3\n"),
        "{}",
        r.stdout
    );
    let c = s.file(
        "c.yaml",
        "budget: {rps: 3}\nsteps: [{endpoint: backlinks/count}]",
    );
    let json = run(&["plan", &c, "--format", "json"]).code(0).json();
    assert_eq!(json["workflows"][0]["duration_seconds"], 0.333);
}
