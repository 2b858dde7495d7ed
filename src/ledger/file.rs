//! The default ledger: one JSON file on this machine, changed only under an exclusive lock.
//!
//! Layout: `DIR/reservations.json` holds `{"version": 1, "accounts": {ACCOUNT: [reservation…]}}`;
//! `DIR/reservations.lock` is the lock file. A change is written to a temporary file and renamed
//! over the ledger, so a crash never leaves half a file behind.
//!
//! Every file is created 0600 (the temporary file exclusively, so a link planted under its
//! name is never followed) and the directory 0700. An existing directory that other users may
//! write to is reported once per ledger through its [`Warn`] callback: they could replace or
//! remove the reservations. One that they may only read is not: they see the names of 0600
//! files and nothing else.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{held, process, Claim, Ledger, LedgerError, Reservation, Warn};

/// Mode of every file the ledger creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the state directory when the ledger creates it.
pub const DIR_MODE: u32 = 0o700;

const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Reservations in a JSON file under `dir`.
pub struct FileLedger {
    dir: PathBuf,
    /// How long to wait for another process's lock before giving up.
    lock_wait: Duration,
    /// Told of a state directory that other users may write to.
    warn: Warn,
    /// Whether the directory was checked (once per ledger).
    checked: AtomicBool,
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
            warn: Arc::new(|_: &str| {}),
            checked: AtomicBool::new(false),
        }
    }

    /// The same ledger with another lock wait (tests).
    pub fn with_lock_wait(self, lock_wait: Duration) -> Self {
        FileLedger { lock_wait, ..self }
    }

    /// The same ledger, telling `warn` about an unsafe state directory.
    pub fn with_warnings(self, warn: Warn) -> Self {
        FileLedger { warn, ..self }
    }

    /// Warns (once) when other users may write to the directory.
    fn check_dir(&self) {
        if self.checked.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(warning) = dir_warning(&self.dir) {
            (self.warn)(&warning);
        }
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
        self.check_dir();
        let lock_path = self.dir.join("reservations.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&lock_path)
            .map_err(|e| self.io(&lock_path, &e))?;
        // A lock file made by an older version (0644) is made private too; it holds nothing.
        let _ = lock.set_permissions(std::fs::Permissions::from_mode(FILE_MODE));
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
        // This machine's ledger: a reservation from another kernel boot (or pid namespace)
        // cannot have a live holder here.
        let here = process::host();
        for list in contents.accounts.values_mut() {
            list.retain(|r| r.live_from(here.as_deref()) == Some(true));
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
        // Bounded like every file `budget` reads (docs/security.md): a regular file within its cap.
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
        let mut file = create_exclusive(&temp).map_err(|e| self.io(&temp, &e))?;
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
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates `path` 0600, failing rather than following anything already there; a leftover (a
/// temporary file of a crashed process with the same pid, or a planted link) is removed first.
fn create_exclusive(path: &Path) -> std::io::Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// What to tell the user about a state directory that other users may write to, if anything.
pub fn dir_warning(dir: &Path) -> Option<String> {
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o022 != 0).then(|| {
        format!(
            "warning: other users can write to the state directory {} (mode {mode:03o}): they could change or remove the reservations; run `chmod 700 {}`",
            dir.display(),
            dir.display()
        )
    })
}

fn sum(account: &str, list: Option<&Vec<Reservation>>) -> Result<u64, LedgerError> {
    held(list.into_iter().flatten()).ok_or_else(|| LedgerError::Overflow {
        account: account.to_string(),
    })
}

impl Ledger for FileLedger {
    fn reserve(
        &self,
        claim: &Claim,
        admit: &mut dyn FnMut(u64) -> Option<u64>,
    ) -> Result<Option<Reservation>, LedgerError> {
        self.locked(|contents| {
            let reserved = sum(&claim.account, contents.accounts.get(&claim.account))?;
            let Some(units) = admit(reserved) else {
                return Ok((None, false));
            };
            let reservation = claim.reservation(units);
            contents
                .accounts
                .entry(claim.account.clone())
                .or_default()
                .push(reservation.clone());
            Ok((Some(reservation), true))
        })
    }

    fn update(&self, reservation: &Reservation) -> Result<(), LedgerError> {
        self.locked(|contents| {
            let list = contents
                .accounts
                .entry(reservation.account.clone())
                .or_default();
            match list.iter_mut().find(|r| r.id == reservation.id) {
                Some(r) => *r = reservation.clone(),
                None => list.push(reservation.clone()),
            }
            Ok(((), true))
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
