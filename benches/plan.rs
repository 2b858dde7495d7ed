//! `cargo bench`: the engine on large inputs, in-process and as a whole `budget plan` process.
//!
//! Fixtures are generated into a temporary directory: a 10,000-step workflow and a workflow with
//! one step whose targets file has 1,000,000 lines.
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

fn write_fixtures(dir: &Path) -> (PathBuf, PathBuf) {
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
    let many_path = dir.join("ten-thousand-steps.yaml");
    std::fs::write(&many_path, many).unwrap();

    let mut targets = String::with_capacity(24_000_000);
    for i in 0..1_000_000 {
        writeln!(targets, "client-{i:07}.example.com").unwrap();
    }
    std::fs::write(dir.join("million.txt"), targets).unwrap();
    let million_path = dir.join("million-targets.yaml");
    std::fs::write(
        &million_path,
        "name: One million targets\nsteps:\n  - endpoint: backlinks/summary\n    targets: {file: million.txt}\n",
    )
    .unwrap();
    (many_path, million_path)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (many, million) = write_fixtures(dir.path());
    let pricing = Pricing::embedded().unwrap();

    let mut group = c.benchmark_group("in-process");
    group.sample_size(20);
    for (name, path) in [("10k steps", &many), ("1M-line targets file", &million)] {
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
    for (name, path) in [("10k steps", &many), ("1M-line targets file", &million)] {
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
}

criterion_group!(plan, benches);
criterion_main!(plan);
