//! Running the gated command: inherited stdio, signals passed on, its exit status passed back.
//!
//! `budget gate` stays in front of its command so that it can release the reservation when the
//! command ends. While it waits, SIGINT, SIGTERM and SIGHUP sent to the gate (by a CI runner
//! cancelling the job, or `kill`) are forwarded to the command, which decides how to stop; the gate
//! then reports the command's status. A signal typed at the terminal (Ctrl-C) already reaches the
//! whole foreground process group, command included, so it is not sent a second time.
//!
//! The command never outlives the gate: it is started with the parent-death signal set to
//! SIGKILL (Linux `PR_SET_PDEATHSIG`), so a gate that is `kill -9`ed takes its command with it
//! and no job runs on units that are no longer reserved (the ledger also keeps the reservation
//! while the command runs, should it survive: see `crate::ledger`). The signal is sent when the
//! *thread* that started the command ends; [`run`] is called on the main thread, which lives as
//! long as the gate. It reaches the command itself, not processes the command starts in turn
//! (a script's background jobs): a command that starts workers should stop them when it stops.
//! Not on a set-user-ID program either, whose exec clears the signal.
//!
//! Libraries, not hand-written system calls: `signal-hook` catches the signals (its handler only
//! records the signal and its origin; forwarding runs in an ordinary thread, where locking is
//! allowed), and `rustix` sends signals, waits and sets the parent-death signal with safe
//! wrappers (it was already built, for clap). What is still `unsafe` is
//! `CommandExt::pre_exec`: its closure runs between fork and exec, where only
//! async-signal-safe calls are allowed; ours makes two system calls (`prctl`, `getppid`) and
//! allocates nothing.
//!
//! This module does not plan, price or touch the ledger; it only runs a process (Unix only).

mod decide;

pub use decide::{decide, Decision};

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;

use crate::ledger::ProcessId;

/// Signals forwarded to the command.
const FORWARDED: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];

/// What the forwarding thread needs, under one lock: the command, while it may be signalled,
/// and a signal that arrived before it started.
struct Forwarding {
    /// Set once the command started; cleared once it has exited, *before* it is reaped, so
    /// the pid cannot be reused while it may still be signalled.
    child: Option<Pid>,
    pending: Option<i32>,
}

static FORWARDING: Mutex<Forwarding> = Mutex::new(Forwarding {
    child: None,
    pending: None,
});

fn forwarding() -> MutexGuard<'static, Forwarding> {
    // Nothing in the critical sections can panic half-way; a poisoned lock holds valid state.
    FORWARDING.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot run {program}: {reason}")]
    Spawn {
        program: String,
        reason: String,
        /// 127 when the program was not found, 126 when it could not be executed (as shells do).
        code: u8,
    },
    #[error("cannot wait for {program}: {reason}")]
    Wait { program: String, reason: String },
    #[error("cannot install the signal handlers: {reason}")]
    Signals { reason: String },
}

/// Sends `signal` to `pid`; a command that has just exited is not an error.
fn send(pid: Pid, signal: i32) {
    if let Some(signal) = Signal::from_named_raw(signal) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Installs the forwarding: from now on these signals no longer stop the gate itself.
pub fn catch_signals() -> Result<(), GateError> {
    let failed = |e: std::io::Error| GateError::Signals {
        reason: crate::io_reason(&e),
    };
    let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(failed)?;
    std::thread::Builder::new()
        .name("gate-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                // The terminal driver's signals come from the kernel; `kill` is a process's.
                let from_terminal = origin.cause == Cause::Kernel;
                let mut state = forwarding();
                match state.child {
                    Some(pid) if !from_terminal => send(pid, origin.signal),
                    Some(_) => {}
                    None => state.pending = Some(origin.signal),
                }
            }
        })
        .map_err(failed)?;
    Ok(())
}

/// A signal that arrived after [`catch_signals`] and before the command started.
pub fn pending_signal() -> Option<i32> {
    forwarding().pending
}

/// In the child, between fork and exec: be killed when the gate dies. Should the gate have
/// died already (between the fork and this call), no signal would ever come: the child's
/// parent is then another process, and it does not run the command. Async-signal-safe: two
/// system calls, no allocation.
#[cfg(target_os = "linux")]
fn die_with(parent: Option<Pid>) -> std::io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    if rustix::process::getppid() != parent {
        return Err(rustix::io::Errno::SRCH.into());
    }
    Ok(())
}

/// The exit code for a status: the command's own code, or 128 + the signal that killed it.
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

/// Runs `command` (program and arguments) with inherited stdin, stdout and stderr, forwarding
/// signals, and returns its exit code. `started` is told the command's process as soon as it
/// runs (for the ledger). Call [`catch_signals`] first, on the main thread (see the module doc).
pub fn run(command: &[OsString], started: &mut dyn FnMut(ProcessId)) -> Result<u8, GateError> {
    let Some((program, args)) = command.split_first() else {
        return Err(GateError::Spawn {
            program: String::new(),
            reason: "no command given after `--`".into(),
            code: 2,
        });
    };
    let name = program.to_string_lossy().into_owned();
    let mut command = Command::new(program);
    command.args(args);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let gate = Pid::from_raw(i32::try_from(std::process::id()).unwrap_or(0));
        // SAFETY: `die_with` is async-signal-safe (see its doc), as `pre_exec` requires.
        unsafe {
            command.pre_exec(move || die_with(gate));
        }
    }
    let mut child = command.spawn().map_err(|e| GateError::Spawn {
        program: name.clone(),
        reason: crate::io_reason(&e),
        code: if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    })?;
    let pid = Pid::from_child(&child);
    {
        let mut state = forwarding();
        state.child = Some(pid);
        if let Some(signal) = state.pending {
            send(pid, signal);
        }
    }
    started(ProcessId::of(child.id()));
    // Wait without reaping, so the pid cannot be reused while the forwarding thread may still
    // signal it; it is cleared under the lock before `child.wait()` reaps.
    // Exited, or an error that `child.wait()` reports below; interrupted: wait again.
    while let Err(rustix::io::Errno::INTR) = rustix::process::waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    ) {}
    forwarding().child = None;
    let status = child.wait().map_err(|e| GateError::Wait {
        program: name,
        reason: crate::io_reason(&e),
    })?;
    Ok(exit_code(status))
}

/// The command as a person reads it, for the ledger: arguments with spaces are quoted.
pub fn display_command(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
