//! Running the gated command: inherited stdio, signals passed on, its exit status passed back.
//!
//! `budget gate` stays in front of its command so that it can release the reservation when the
//! command ends. While it waits, SIGINT, SIGTERM and SIGHUP sent to the gate (by a CI runner
//! cancelling the job, or `kill`) are forwarded to the command, which decides how to stop; the gate
//! then reports the command's status. A signal typed at the terminal (Ctrl-C) already reaches the
//! whole foreground process group, command included, so it is not sent a second time.
//!
//! This module does not plan, price or touch the ledger; it only runs a process (Unix only).

mod decide;

pub use decide::{decide, Decision};

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

/// Signals forwarded to the command.
const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The running command's pid (0: none yet, or already gone).
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the command started.
static PENDING: AtomicI32 = AtomicI32::new(0);

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

extern "C" fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
    let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        if !from_terminal {
            // SAFETY: kill is async-signal-safe; the pid is our unreaped child.
            unsafe { libc::kill(child, signal) };
        }
    } else {
        PENDING.store(signal, Ordering::SeqCst);
    }
}

/// Installs the forwarding handlers. From now on these signals no longer stop the gate itself.
pub fn catch_signals() -> Result<(), GateError> {
    for signal in FORWARDED {
        // SAFETY: a zeroed sigaction is valid; the handler only uses async-signal-safe calls.
        let result = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if result != 0 {
            return Err(GateError::Signals {
                reason: std::io::Error::last_os_error().to_string(),
            });
        }
    }
    Ok(())
}

/// A signal that arrived after [`catch_signals`] and before the command started.
pub fn pending_signal() -> Option<i32> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
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
/// signals, and returns its exit code. Call [`catch_signals`] first.
pub fn run(command: &[OsString]) -> Result<u8, GateError> {
    let Some((program, args)) = command.split_first() else {
        return Err(GateError::Spawn {
            program: String::new(),
            reason: "no command given after `--`".into(),
            code: 2,
        });
    };
    let name = program.to_string_lossy().into_owned();
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| GateError::Spawn {
            program: name.clone(),
            reason: crate::io_reason(&e),
            code: if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            },
        })?;
    let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
    CHILD.store(pid, Ordering::SeqCst);
    if let Some(signal) = pending_signal() {
        // SAFETY: our own, unreaped child.
        unsafe { libc::kill(pid, signal) };
    }
    // Wait without reaping, so the pid cannot be reused while the handler may still signal it.
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child; WNOWAIT leaves it to `child.wait()` below.
        let result = unsafe {
            libc::waitid(
                libc::P_PID,
                pid.unsigned_abs(),
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if result == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            break; // child.wait() reports the real problem, if any
        }
    }
    CHILD.store(0, Ordering::SeqCst);
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
