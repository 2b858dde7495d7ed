//! The guard's hold in the reservation ledger, so that gates, `plan`/`check` and other guards
//! on the same account leave the guard's budget out of the live balance (see `crate::ledger`).
//!
//! The hold is taken when the guard starts, in the ledger's critical section: a guard on the
//! live balance gets `units_left − reserve − what others hold`, so a gate starting at the same
//! moment cannot take the same units. It then follows the guard's *unspent* budget
//! ([`State::unspent`]): the live balance drops as the guard's calls are billed, so holding the
//! whole budget would count spent units twice. It is written again every [`REFRESH`]; the
//! unspent part grows only when an operator raises the budget (`budget guard-admin raise`), so
//! between two writes the ledger holds too much — or, for at most one [`REFRESH`] after a
//! raise, the raised units too little. A guard that stops releases it; a guard that is killed leaves it to the ledger's
//! liveness checks (file: pid and start time at the next read; Redis: the lease, 30 s, or
//! the pid check of a reader on the same machine).
//!
//! Guards that share one budget through Redis each hold it under the same
//! [`crate::ledger::Reservation::shares`] key, so that it counts once.
//!
//! This module prints nothing: trouble goes to the caller's warning callback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ledger::{Claim, Ledger, LedgerError, Reservation, Warn};

use super::State;

/// How often the hold follows the unspent budget.
pub const REFRESH: Duration = Duration::from_secs(5);

/// A guard's reservation, held until [`LedgerHold::release`] (or the process ends).
pub struct LedgerHold {
    ledger: Arc<dyn Ledger>,
    /// `None` once released. Locked across each ledger write, so that no update can write the
    /// hold back after its release.
    reservation: Mutex<Option<Reservation>>,
    /// The task started by [`LedgerHold::follow`], stopped on release.
    following: Mutex<Option<tokio::task::AbortHandle>>,
}

/// Releases the hold when dropped, so that an error on the way out releases it too.
pub struct Releasing(pub Arc<LedgerHold>);

impl Drop for Releasing {
    fn drop(&mut self) {
        let _ = self.0.release();
    }
}

impl LedgerHold {
    /// Takes the hold: `budget` is told what the account's other holders hold and returns the
    /// guard's budget, which is held. Returns the hold and what the others held.
    pub fn take(
        ledger: Box<dyn Ledger>,
        claim: &Claim,
        mut budget: impl FnMut(u64) -> u64,
    ) -> Result<(LedgerHold, u64), LedgerError> {
        let mut others = 0;
        let reservation = ledger.reserve(claim, &mut |reserved| {
            others = reserved;
            Some(budget(reserved))
        })?;
        // `reserve` records every claim its callback admits, and ours admits all.
        let Some(reservation) = reservation else {
            return Err(LedgerError::Io {
                path: ledger.location().into(),
                reason: "the guard's hold was not recorded".into(),
            });
        };
        Ok((
            LedgerHold {
                ledger: Arc::from(ledger),
                reservation: Mutex::new(Some(reservation)),
                following: Mutex::new(None),
            },
            others,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Reservation>> {
        self.reservation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The units held now (0 once released).
    pub fn units(&self) -> u64 {
        self.lock().as_ref().map_or(0, |r| r.units)
    }

    /// Where the ledger is, for people.
    pub fn location(&self) -> String {
        self.ledger.location()
    }

    /// Writes the hold again with `units`, and `command` / `shares` when given (blocking).
    fn write(
        &self,
        units: u64,
        command: Option<&str>,
        shares: Option<&str>,
    ) -> Result<(), LedgerError> {
        let mut held = self.lock();
        let Some(mut next) = held.clone() else {
            return Ok(()); // released
        };
        let changed = next.units != units
            || command.is_some_and(|c| c != next.command)
            || shares.is_some_and(|s| next.shares.as_deref() != Some(s));
        if !changed {
            return Ok(());
        }
        next.units = units;
        if let Some(command) = command {
            next.command = command.to_string();
        }
        if let Some(shares) = shares {
            next.shares = Some(shares.to_string());
        }
        self.ledger.update(&next)?;
        *held = Some(next);
        Ok(())
    }

    /// Follows `state`'s unspent budget until the hold is released: at once (recording where
    /// the guard listens, `command`, and the shared budget it holds, `shares`), before this
    /// returns — so that a gate or `budget reservations` run once the guard says it is ready
    /// sees it by name —, then every `every` ([`REFRESH`]) in a task of its own. Failures go to
    /// `warn`; the previous, larger, hold stays meanwhile.
    pub async fn follow(
        self: &Arc<Self>,
        state: Arc<State>,
        every: Duration,
        command: String,
        shares: Option<String>,
        warn: Warn,
    ) {
        self.update(&state, Some(command), shares.clone(), &warn)
            .await;
        let hold = self.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                hold.update(&state, None, shares.clone(), &warn).await;
            }
        });
        *self.following.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
    }

    /// Writes the hold once from `state`'s unspent budget.
    async fn update(
        self: &Arc<Self>,
        state: &State,
        command: Option<String>,
        shares: Option<String>,
        warn: &Warn,
    ) {
        let unspent = match state.unspent().await {
            Ok(unspent) => unspent,
            Err(e) => {
                warn(&format!("warning: cannot update the guard's hold in the reservation ledger: {e}; it stays at {} units", self.units()));
                return;
            }
        };
        let writer = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            writer.write(unspent, command.as_deref(), shares.as_deref())
        })
        .await;
        if let Ok(Err(e)) = written {
            warn(&format!(
                "warning: cannot update the guard's hold: {e}; it stays at {} units",
                self.units()
            ));
        }
    }

    /// Removes the hold (blocking); later updates write nothing.
    pub fn release(&self) -> Result<(), LedgerError> {
        if let Some(task) = self
            .following
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
        let mut held = self.lock();
        match held.take() {
            Some(reservation) => self.ledger.release(&reservation),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{Backend, MemoryState};
    use crate::ledger::{FileLedger, HolderKind};

    fn quiet() -> Warn {
        Arc::new(|_: &str| {})
    }

    /// Waits (at most 10 s) until the account's reserved units are `units`.
    async fn reserved_becomes(ledger: &FileLedger, units: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ledger.reserved("acct").expect("read") != units {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the hold never became {units}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Invariant: the hold is what the guard has not been charged (calls in flight count as
    /// unspent), so the live balance and the hold never both count a spent unit.
    #[tokio::test]
    async fn the_hold_follows_the_unspent_budget_and_goes_on_release() {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = FileLedger::new(dir.path().to_path_buf());
        let claim = Claim::new("acct", HolderKind::Guard, Vec::new(), "guard".into());
        // A gate holds 4,000 of the live 30,000: the guard's budget is the other 26,000.
        ledger
            .reserve(
                &Claim::new("acct", HolderKind::Gate, vec!["w".into()], "job".into()),
                &mut |_| Some(4_000),
            )
            .expect("reserve")
            .expect("admitted");
        let (hold, others) = LedgerHold::take(
            Box::new(FileLedger::new(dir.path().to_path_buf())),
            &claim,
            |reserved| 30_000u64.saturating_sub(reserved),
        )
        .expect("take");
        assert_eq!((hold.units(), others), (26_000, 4_000));
        let state = Arc::new(State::new(
            Backend::Memory(MemoryState::new(26_000)),
            10,
            Duration::from_secs(1),
            10,
        ));
        let hold = Releasing(Arc::new(hold));
        hold.0
            .follow(
                state.clone(),
                Duration::from_millis(10),
                "budget guard on http://127.0.0.1:1".into(),
                None,
                quiet(),
            )
            .await;
        // A call holds 5,000 in flight: still unspent, the hold stays 26,000 (+ 4,000 gate).
        let call = state.try_reserve(5_000).await.expect("fits");
        reserved_becomes(&ledger, 30_000).await;
        // Charged 1,200 of it: 26,000 − 1,200 = 24,800 held, + 4,000 = 28,800.
        state.settle(&call, 1_200).await.expect("settle");
        reserved_becomes(&ledger, 28_800).await;
        let listed = ledger.list().expect("list");
        let guard = listed
            .iter()
            .find(|r| r.kind == HolderKind::Guard)
            .expect("listed");
        assert_eq!(guard.command, "budget guard on http://127.0.0.1:1");
        hold.0.release().expect("release");
        assert_eq!(ledger.reserved("acct").expect("read"), 4_000);
        assert_eq!(hold.0.units(), 0);
    }

    #[tokio::test]
    async fn a_failed_update_is_a_warning_and_the_hold_stays() {
        let dir = tempfile::tempdir().expect("dir");
        let claim = Claim::new("acct", HolderKind::Guard, Vec::new(), "guard".into());
        let (hold, _) = LedgerHold::take(
            Box::new(FileLedger::new(dir.path().to_path_buf())),
            &claim,
            |_| 700,
        )
        .expect("take");
        // The ledger becomes unusable: its file is now a directory.
        let file = dir.path().join("reservations.json");
        std::fs::remove_file(&file).expect("remove");
        std::fs::create_dir(&file).expect("mkdir");
        let heard = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let keep = heard.clone();
        let warn: Warn = Arc::new(move |w: &str| keep.lock().expect("lock").push(w.into()));
        let state = Arc::new(State::new(
            Backend::Memory(MemoryState::new(600)),
            10,
            Duration::from_secs(1),
            10,
        ));
        let hold = Releasing(Arc::new(hold));
        hold.0
            .follow(state, Duration::from_millis(10), "g".into(), None, warn)
            .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while heard.lock().expect("lock").is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "no warning");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let warning = heard.lock().expect("lock")[0].clone();
        assert!(
            warning.contains(
                "warning: cannot update the guard's hold: cannot use the reservation ledger"
            ) && warning.contains("it stays at 700 units"),
            "{warning}"
        );
        assert_eq!(hold.0.units(), 700);
    }

    #[tokio::test]
    async fn dropping_it_releases_it() {
        let dir = tempfile::tempdir().expect("dir");
        let claim = Claim::new("acct", HolderKind::Guard, Vec::new(), "guard".into());
        let (hold, _) = LedgerHold::take(
            Box::new(FileLedger::new(dir.path().to_path_buf())),
            &claim,
            |_| 700,
        )
        .expect("take");
        let ledger = FileLedger::new(dir.path().to_path_buf());
        assert_eq!(ledger.reserved("acct").expect("read"), 700);
        drop(Releasing(Arc::new(hold)));
        assert_eq!(ledger.reserved("acct").expect("read"), 0);
    }
}
