//! Test support: running the `budget` binary and writing scratch files.

#![allow(dead_code)]

pub mod browser;
pub mod calls;
pub mod data;
pub mod delay_proxy;
pub mod html;
pub mod redis_server;
pub mod routed;
pub mod simulator;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where `workflows/` and `pricing/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `budget` command with a clean environment: no API key, no API URL, no CI variables.
pub fn budget() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_budget"));
    cmd.current_dir(root());
    for var in [
        "SERANKING_API_KEY",
        "SERANKING_API_URL",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "BUDGET_REDIS_URL",
        "BUDGET_RETRY_BASE_MS",
        "BUDGET_ALERT_WEBHOOK",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_STATE_HOME", state_home());
    cmd
}

thread_local! {
    /// Each test runs on its own thread: a state directory (reservation ledger) per test, shared by
    /// the processes that test starts, removed when the test ends.
    static STATE_HOME: tempfile::TempDir = tempfile::tempdir().expect("state temp dir");
}

/// This test's `XDG_STATE_HOME`.
pub fn state_home() -> PathBuf {
    STATE_HOME.with(|dir| dir.path().to_path_buf())
}

/// A `sh -c` script for a gated command: creates `$1`, then waits until `$2` exists — at most
/// about a minute, so a test that fails before writing `$2` leaves no process behind.
pub const WAIT_FOR_GO: &str =
    r#"touch "$1"; n=0; while [ ! -e "$2" ] && [ "$n" -lt 6000 ]; do sleep 0.01; n=$((n+1)); done"#;

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, phrase: &str) -> &Self {
        assert!(
            self.stdout.contains(phrase),
            "stdout lacks {phrase:?}:\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, phrase: &str) -> &Self {
        assert!(
            self.stderr.contains(phrase),
            "stderr lacks {phrase:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `budget ARGS` to completion.
pub fn run(args: &[&str]) -> Run {
    budget().args(args).output().expect("run budget").into()
}

/// A scratch directory with files in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `text` to `name` and returns its path as a string.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write scratch file");
        path.display().to_string()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
