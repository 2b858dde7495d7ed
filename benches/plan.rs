//! `cargo bench --bench plan`: the engine on large inputs, in-process and as a whole
//! `budget plan` process, beside `wc -l` on the same targets files; and hostile inputs, which
//! must be refused fast (docs/performance.md and docs/security.md).
//!
//! Fixtures are generated into a temporary directory: a 10,000-step workflow, workflows with one
//! step whose targets file has 1,000,000 or 10,000,000 lines (27 and 280 MB), and the hostile
//! files. Peak memory is not measured here: run the release binary under `/usr/bin/time -f %M`
//! (docs/performance.md).
// Test and benchmark code may panic on a broken fixture and print what it measured; the
// library's lints (Cargo.toml) are for code that runs in users' hands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use budget::estimate;
use budget::pricing::Pricing;
use budget::workflow;
use criterion::{criterion_group, criterion_main, Criterion};

const ENDPOINTS: [&str; 5] = [
    "backlinks/summary",
    "backlinks/all",
    "backlinks/raw",
    "domain/keywords",
    "keywords/export",
];

struct Fixtures {
    many_steps: PathBuf,
    million: PathBuf,
    million_txt: PathBuf,
    ten_million: PathBuf,
    ten_million_txt: PathBuf,
}

/// A targets file of `lines` distinct hosts, and a workflow planning it.
fn targets_fixture(dir: &Path, name: &str, lines: usize) -> (PathBuf, PathBuf) {
    let txt = dir.join(format!("{name}.txt"));
    let mut targets = String::with_capacity(lines * 27);
    for i in 0..lines {
        writeln!(targets, "client-{i:08}.example.com").unwrap();
    }
    std::fs::write(&txt, targets).unwrap();
    let wf = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &wf,
        format!("name: {name}\nsteps:\n  - endpoint: backlinks/summary\n    targets: {{file: {name}.txt}}\n"),
    )
    .unwrap();
    (wf, txt)
}

fn write_fixtures(dir: &Path) -> Fixtures {
    let mut many = String::from("name: Ten thousand steps\nsource: us\nsteps:\n");
    for i in 0..10_000 {
        let endpoint = ENDPOINTS[i % ENDPOINTS.len()];
        let extra = match endpoint {
            "backlinks/all" => "\n    rows: 2000\n    expected_rows: 500",
            "backlinks/raw" => "\n    rows: 250k\n    limit: 50k",
            "domain/keywords" => "\n    rows: 3000\n    sources: [us, de, fr]",
            _ => "",
        };
        writeln!(
            many,
            "  - name: Step {i}\n    endpoint: {endpoint}\n    targets: {}{extra}",
            1 + i % 300
        )
        .unwrap();
    }
    let many_steps = dir.join("ten-thousand-steps.yaml");
    std::fs::write(&many_steps, many).unwrap();
    let (million, million_txt) = targets_fixture(dir, "million", 1_000_000);
    let (ten_million, ten_million_txt) = targets_fixture(dir, "ten-million", 10_000_000);
    Fixtures {
        many_steps,
        million,
        million_txt,
        ten_million,
        ten_million_txt,
    }
}

/// Hostile inputs: each must be refused (exit 2) in well under a second.
fn hostile_fixtures(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let huge = dir.join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    vec![
        ("workflow /dev/zero", PathBuf::from("/dev/zero")),
        ("workflow FIFO", fifo.clone()),
        ("workflow of 1 GiB", huge),
        (
            "targets file FIFO",
            write(
                "fifo-targets.yaml",
                format!(
                    "steps: [{{endpoint: backlinks/summary, targets: {{file: {:?}}}}}]",
                    fifo.display().to_string()
                ),
            ),
        ),
        (
            "200 KB [[[[…]]]]",
            write(
                "deep-seq.yaml",
                format!("steps: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
            ),
        ),
        (
            "250 KB {a: {a: …}}",
            write(
                "deep-map.yaml",
                format!("name: {}x{}", "{a: ".repeat(50_000), "}".repeat(50_000)),
            ),
        ),
        (
            "4 MiB of [] at depth 32",
            write(
                "wide.yaml",
                format!(
                    "steps:\n{}",
                    format!("- {}{}\n", "[".repeat(30), "]".repeat(30)).repeat((4 << 20) / 64 - 1)
                ),
            ),
        ),
        (
            "1 MB endpoint name",
            write(
                "long-name.yaml",
                format!("steps: [{{endpoint: {}}}]", "x".repeat(1 << 20)),
            ),
        ),
    ]
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let f = write_fixtures(dir.path());
    let pricing = Pricing::embedded().unwrap();

    let mut group = c.benchmark_group("in-process");
    group.sample_size(20);
    for (name, path) in [
        ("10k steps", &f.many_steps),
        ("1M-line targets file", &f.million),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let loaded = workflow::load(path, &pricing).unwrap();
                estimate::workflow(&loaded.workflow, pricing.requests_per_second).unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("whole process: budget plan");
    group.sample_size(10);
    for (name, path) in [
        ("10k steps", &f.many_steps),
        ("1M-line targets file", &f.million),
        ("10M-line targets file", &f.ten_million),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let status = Command::new(env!("CARGO_BIN_EXE_budget"))
                    .args(["plan", "--offline", "--format", "json"])
                    .arg(path)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert_eq!(status.code(), Some(0));
            })
        });
    }
    group.finish();

    // The yardstick of docs/performance.md: planning a targets file within 8× `wc -l` on it.
    let mut group = c.benchmark_group("reference: wc -l");
    group.sample_size(10);
    for (name, path) in [
        ("1M-line targets file", &f.million_txt),
        ("10M-line targets file", &f.ten_million_txt),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let status = Command::new("wc")
                    .arg("-l")
                    .arg(path)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
            })
        });
    }
    group.finish();

    let hostile = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("hostile input, refused: budget plan");
    group.sample_size(10);
    for (name, path) in hostile_fixtures(hostile.path()) {
        group.bench_function(name, |b| {
            b.iter(|| {
                let status = Command::new(env!("CARGO_BIN_EXE_budget"))
                    .args(["plan", "--offline"])
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert_eq!(status.code(), Some(2), "{name}");
            })
        });
    }
    group.finish();
}

criterion_group!(plan, benches);
criterion_main!(plan);
