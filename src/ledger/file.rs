//! The default ledger: one JSON file on this machine, changed only under an exclusive lock.
//!
//! Layout: `DIR/reservations.json` holds `{"version": 1, "accounts": {ACCOUNT: [reservation…]}}`;
//! `DIR/reservations.lock` is the lock file. A change is written to a temporary file and renamed
//! over the ledger, so a crash never leaves half a file behind.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{process_alive, Claim, Ledger, LedgerError, Reservation};

const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Reservations in a JSON file under `dir`.
pub struct FileLedger {
    dir: PathBuf,
    /// How long to wait for another process's lock before giving up.
    lock_wait: Duration,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    version: u32,
    accounts: BTreeMap<String, Vec<Reservation>>,
}

impl FileLedger {
    pub fn new(dir: PathBuf) -> Self {
        FileLedger {
            dir,
            lock_wait: LOCK_WAIT,
        }
    }

    /// The same ledger with another lock wait (tests).
    pub fn with_lock_wait(self, lock_wait: Duration) -> Self {
        FileLedger { lock_wait, ..self }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("reservations.json")
    }

    fn io(&self, path: &Path, e: &std::io::Error) -> LedgerError {
        LedgerError::Io {
            path: path.to_path_buf(),
            reason: crate::io_reason(e),
        }
    }

    /// Runs `change` on the live contents under the exclusive lock; writes back when it says so.
    fn locked<T>(
        &self,
        change: impl FnOnce(&mut Contents) -> Result<(T, bool), LedgerError>,
    ) -> Result<T, LedgerError> {
        create_private_dir(&self.dir).map_err(|e| self.io(&self.dir, &e))?;
        let lock_path = self.dir.join("reservations.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io(&lock_path, &e))?;
        let started = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < self.lock_wait => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LedgerError::Locked {
                        path: lock_path,
                        seconds: self.lock_wait.as_secs(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(self.io(&lock_path, &e)),
            }
        }
        let mut contents = self.read()?;
        let before: usize = contents.accounts.values().map(Vec::len).sum();
        for list in contents.accounts.values_mut() {
            list.retain(|r| process_alive(r.pid));
        }
        contents.accounts.retain(|_, list| !list.is_empty());
        let cleaned = contents.accounts.values().map(Vec::len).sum::<usize>() != before;
        let (value, changed) = change(&mut contents)?;
        if changed || cleaned {
            self.write(&contents)?;
        }
        // The lock is released when `lock` is dropped (closing the file).
        drop(lock);
        Ok(value)
    }

    fn read(&self) -> Result<Contents, LedgerError> {
        let path = self.path();
        // Read under the lock, so no other `budget` removes it between the two calls.
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Contents {
                    version: 1,
                    ..Contents::default()
                })
            }
            Err(e) => return Err(self.io(&path, &e)),
            Ok(_) => {}
        }
        // Bounded like every file `budget` reads (README "Security"): a regular file within its cap.
        let text = crate::files::read(&path, crate::files::FileKind::Ledger).map_err(|e| {
            let reason = match e {
                crate::files::FileError::Io { reason, .. } => reason,
                crate::files::FileError::NotRegular { found, .. } => {
                    format!("it is {found}, not a regular file")
                }
                crate::files::FileError::TooLarge { kind, .. } => format!(
                    "it is larger than {} MiB; delete it when no `budget gate` is running",
                    kind.cap() >> 20
                ),
            };
            LedgerError::Io {
                path: path.clone(),
                reason,
            }
        })?;
        let contents: Contents =
            serde_json::from_slice(&text).map_err(|e| LedgerError::Damaged {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if contents.version != 1 {
            return Err(LedgerError::Damaged {
                path,
                reason: format!(
                    "version {} is not 1; was it written by a newer budget?",
                    contents.version
                ),
            });
        }
        Ok(contents)
    }

    fn write(&self, contents: &Contents) -> Result<(), LedgerError> {
        let path = self.path();
        let temp = self
            .dir
            .join(format!("reservations.json.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(contents).map_err(|e| LedgerError::Damaged {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut file = File::create(&temp).map_err(|e| self.io(&temp, &e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io(&temp, &e))?;
        std::fs::rename(&temp, &path).map_err(|e| self.io(&path, &e))
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn sum(account: &str, list: Option<&Vec<Reservation>>) -> Result<u64, LedgerError> {
    list.into_iter()
        .flatten()
        .try_fold(0u64, |sum, r| sum.checked_add(r.units))
        .ok_or_else(|| LedgerError::Overflow {
            account: account.to_string(),
        })
}

impl Ledger for FileLedger {
    fn reserve(
        &self,
        claim: &Claim,
        admit: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<Reservation>, LedgerError> {
        self.locked(|contents| {
            let reserved = sum(&claim.account, contents.accounts.get(&claim.account))?;
            if !admit(reserved) {
                return Ok((None, false));
            }
            let reservation = Reservation {
                id: super::reservation_id(claim.pid),
                account: claim.account.clone(),
                pid: claim.pid,
                units: claim.units,
                workflows: claim.workflows.clone(),
                command: claim.command.clone(),
                started: chrono::Utc::now(),
            };
            contents
                .accounts
                .entry(claim.account.clone())
                .or_default()
                .push(reservation.clone());
            Ok((Some(reservation), true))
        })
    }

    fn release(&self, reservation: &Reservation) -> Result<(), LedgerError> {
        self.locked(|contents| {
            let mut changed = false;
            if let Some(list) = contents.accounts.get_mut(&reservation.account) {
                let before = list.len();
                list.retain(|r| r.id != reservation.id);
                changed = list.len() != before;
            }
            contents.accounts.retain(|_, list| !list.is_empty());
            Ok(((), changed))
        })
    }

    fn reserved(&self, account: &str) -> Result<u64, LedgerError> {
        // No ledger yet: nothing is reserved, and a read creates nothing.
        if !self.path().exists() {
            return Ok(0);
        }
        self.locked(|contents| Ok((sum(account, contents.accounts.get(account))?, false)))
    }

    fn list(&self) -> Result<Vec<Reservation>, LedgerError> {
        if !self.path().exists() {
            return Ok(Vec::new());
        }
        self.locked(|contents| {
            let mut all: Vec<Reservation> = contents.accounts.values().flatten().cloned().collect();
            all.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
            Ok((all, false))
        })
    }

    fn location(&self) -> String {
        self.path().display().to_string()
    }
}
