//! Which process holds a reservation, told apart from a later process that got the same pid.
//!
//! A pid alone is not an identity: once a holder has died the kernel hands its number to the next
//! process, and a ledger that checks only `kill(pid, 0)` would keep a dead gate's units reserved
//! for as long as some unrelated process has that number. So a holder is recorded as its pid
//! *and* its start time (field 22 of `/proc/PID/stat`, clock ticks since boot, which never
//! changes for a process and differs between two processes that share a pid), plus the identity
//! of the machine's running kernel and pid namespace ([`host`]) so that a reservation written on
//! another machine, in another container or before a reboot is never checked against this
//! machine's processes.
//!
//! Without `/proc` (not Linux) the start time is unknown and liveness falls back to the pid.
//! This module only reads `/proc` and sends signal 0; it never stops anything.

use serde::{Deserialize, Serialize};

/// A process: its pid and, where known, its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22); `None` when unknown
    /// (not Linux, or written by an older version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// A zombie (`Z`) or dead (`X`) process runs no code and spends nothing.
    ended: bool,
    start: u64,
}

/// Parses the fields of `/proc/PID/stat` that matter: the state (field 3) and the start time
/// (field 22). The command name (field 2) is in parentheses and may itself contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is fields[0], so field 22 (starttime) is fields[19].
    let state = fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some(Stat {
        ended: matches!(*state, "Z" | "X" | "x"),
        start,
    })
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Whether this machine has a readable `/proc` (checked on our own entry).
fn have_proc() -> bool {
    stat(std::process::id()).is_some()
}

impl ProcessId {
    /// The process `pid` as it is now (its start time read from `/proc` when there is one).
    pub fn of(pid: u32) -> ProcessId {
        ProcessId {
            pid,
            start: stat(pid).map(|s| s.start),
        }
    }

    /// This process.
    pub fn current() -> ProcessId {
        ProcessId::of(std::process::id())
    }

    /// Whether this very process still runs: the pid exists and is not a zombie, and, when the
    /// start time was recorded, the process with that pid started at that time (else the pid
    /// was reused by a newer process).
    pub fn alive(&self) -> bool {
        let Some(pid) = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // Signal 0 delivers nothing; EPERM means the process exists but is another user's.
        match rustix::process::test_kill_process(pid) {
            Ok(()) | Err(rustix::io::Errno::PERM) => {}
            Err(_) => return false,
        }
        match stat(self.pid) {
            Some(now) => !now.ended && self.start.is_none_or(|start| start == now.start),
            // The process exists but /proc cannot tell: believe the pid unless /proc works for
            // us (then the process ended between the two looks).
            None => !have_proc(),
        }
    }
}

/// This machine's running kernel and pid namespace (`/proc/sys/kernel/random/boot_id` and the
/// inode of `/proc/self/ns/pid`): two processes see the same value only when their pids name
/// the same processes. `None` without `/proc`.
pub fn host() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that certainly belonged to a process that is gone: a child we started and reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    }

    #[track_caller]
    fn parses(text: &str, expected: Option<(bool, u64)>) {
        assert_eq!(
            parse_stat(text).map(|s| (s.ended, s.start)),
            expected,
            "{text}"
        );
    }

    #[test]
    fn stat_lines_by_hand() {
        // Field 22 is the 20th field after the name: the numbers 4..=21 are fields 4 to 21.
        let tail = "4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 987654 23 24";
        parses(&format!("42 (sleep) S {tail}"), Some((false, 987_654)));
        // A name with spaces and parentheses does not shift the fields.
        parses(&format!("42 (a (b) c) R {tail}"), Some((false, 987_654)));
        parses(&format!("42 (job) Z {tail}"), Some((true, 987_654)));
        parses(&format!("42 (job) X {tail}"), Some((true, 987_654)));
        parses("42 (job) S 4 5", None);
        parses("garbage", None);
    }

    #[test]
    fn liveness_by_pid_and_start_time() {
        let me = ProcessId::current();
        assert!(me.alive());
        assert!(me.start.is_some(), "this test runs on Linux with /proc");
        // The same pid with another start time is a different (newer) process: dead.
        let reused = ProcessId {
            start: me.start.map(|s| s + 1),
            ..me
        };
        assert!(!reused.alive());
        // No start time recorded (an older ledger): the pid alone decides.
        assert!(ProcessId {
            pid: me.pid,
            start: None
        }
        .alive());
        assert!(!ProcessId::of(dead_pid()).alive());
        assert!(!ProcessId {
            pid: 0,
            start: None
        }
        .alive());
        assert!(!ProcessId {
            pid: u32::MAX,
            start: None
        }
        .alive());
    }

    #[test]
    fn a_zombie_is_not_alive() {
        // A child that has exited but is not reaped yet is a zombie: it spends nothing.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let id = ProcessId::of(child.id());
        // Wait without reaping (WNOWAIT) until it has exited.
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::waitid(
            rustix::process::WaitId::Pid(pid),
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT,
        )
        .expect("waitid");
        assert!(!id.alive());
        child.wait().expect("reap");
    }

    #[test]
    fn the_host_names_boot_and_pid_namespace() {
        let host = host().expect("Linux with /proc");
        assert!(host.contains("/pid:["), "{host}");
        assert_eq!(Some(host), super::host());
    }
}
