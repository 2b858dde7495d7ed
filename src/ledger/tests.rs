use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use super::*;

/// A gate's claim held by this process.
pub(super) fn claim(account: &str) -> Claim {
    Claim::new(account, HolderKind::Gate, vec!["w".into()], "true".into())
}

/// Admits whatever is reserved, holding `units`.
pub(super) fn take(units: u64) -> impl FnMut(u64) -> Option<u64> {
    move |_| Some(units)
}

/// A pid that certainly belonged to a process that is gone: a child we started and reaped.
pub(super) fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

/// A process that runs until killed (killed and reaped when dropped).
pub(super) struct Sleeper(std::process::Child);

impl Sleeper {
    pub(super) fn start() -> Sleeper {
        Sleeper(
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    pub(super) fn id(&self) -> ProcessId {
        ProcessId::of(self.0.id())
    }

    /// Kills and reaps it.
    pub(super) fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The live reservations of one account.
fn listed(ledger: &dyn Ledger, account: &str) -> Vec<Reservation> {
    let mut list = ledger.list().unwrap();
    list.retain(|r| r.account == account);
    list
}

// --- The same checks for every backend (the Redis ones run them in `redis::tests`). ---

/// Invariant: a pid that now names another process (same pid, other start time) does not keep
/// a dead holder's units reserved — the check that `kill(pid, 0)` alone failed.
pub(super) fn a_reused_pid_does_not_keep_a_reservation(ledger: &dyn Ledger) {
    let me = ProcessId::current();
    let mut reused = claim("reuse");
    reused.holder = ProcessId {
        pid: me.pid,
        start: Some(me.start.expect("Linux /proc") + 1),
    };
    ledger
        .reserve(&reused, &mut take(700))
        .unwrap()
        .expect("admitted");
    let mut live = claim("reuse");
    live.holder = me;
    let kept = ledger
        .reserve(&live, &mut take(5))
        .unwrap()
        .expect("admitted");
    // 700 (a live pid, but not the process that reserved) is dropped; our 5 stays.
    assert_eq!(ledger.reserved("reuse").unwrap(), 5);
    assert_eq!(listed(ledger, "reuse"), vec![kept]);
}

/// Invariant: a gate's reservation stays while its command runs, even once the gate is gone,
/// and goes when both are gone.
pub(super) fn a_running_child_keeps_the_reservation(ledger: &dyn Ledger) {
    let mut gone_gate = claim("child");
    gone_gate.holder = ProcessId::of(dead_pid());
    let mut held = ledger
        .reserve(&gone_gate, &mut take(26_000))
        .unwrap()
        .expect("admitted");
    let command = Sleeper::start();
    held.child = Some(command.id());
    ledger.update(&held).unwrap();
    assert_eq!(ledger.reserved("child").unwrap(), 26_000);
    assert_eq!(listed(ledger, "child")[0].child, Some(command.id()));
    command.stop();
    assert_eq!(ledger.reserved("child").unwrap(), 0);
}

/// Invariant: guards sharing one budget hold it once (the largest of their holds), beside
/// the other reservations, which add up.
pub(super) fn holders_of_one_shared_budget_count_once(ledger: &dyn Ledger) {
    let guard = |shares: Option<&str>| Claim {
        shares: shares.map(str::to_string),
        ..Claim::new(
            "shared",
            HolderKind::Guard,
            Vec::new(),
            "127.0.0.1:8787".into(),
        )
    };
    ledger
        .reserve(&guard(Some("pot")), &mut take(9_000))
        .unwrap();
    ledger
        .reserve(&guard(Some("pot")), &mut take(9_500))
        .unwrap();
    ledger.reserve(&guard(None), &mut take(100)).unwrap();
    ledger.reserve(&claim("shared"), &mut take(20)).unwrap();
    // max(9,000, 9,500) + 100 + 20 = 9,620.
    let mut seen = None;
    ledger
        .reserve(&claim("shared"), &mut |reserved| {
            seen = Some(reserved);
            None
        })
        .unwrap();
    assert_eq!(seen, Some(9_620));
    assert_eq!(ledger.reserved("shared").unwrap(), 9_620);
    let kinds: Vec<HolderKind> = listed(ledger, "shared").iter().map(|r| r.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == HolderKind::Guard).count(), 3);
}

/// Invariant: `update` changes what is held (a guard's hold shrinks as it spends).
pub(super) fn an_update_changes_the_units_held(ledger: &dyn Ledger) {
    let mut held = ledger
        .reserve(&claim("upd"), &mut take(30_000))
        .unwrap()
        .expect("admitted");
    held.units = 12_345;
    ledger.update(&held).unwrap();
    assert_eq!(ledger.reserved("upd").unwrap(), 12_345);
    assert_eq!(listed(ledger, "upd"), vec![held.clone()]);
    ledger.release(&held).unwrap();
    assert_eq!(ledger.reserved("upd").unwrap(), 0);
}

#[test]
fn file_backend_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    a_reused_pid_does_not_keep_a_reservation(&ledger);
    a_running_child_keeps_the_reservation(&ledger);
    holders_of_one_shared_budget_count_once(&ledger);
    an_update_changes_the_units_held(&ledger);
}

#[track_caller]
fn counts(units: &[(u64, Option<&str>)], expected: Option<u64>) {
    let list: Vec<Reservation> = units
        .iter()
        .map(|(u, shares)| Reservation {
            shares: shares.map(str::to_string),
            ..claim("a").reservation(*u)
        })
        .collect();
    assert_eq!(held(&list), expected, "{units:?}");
}

#[test]
fn held_units_by_hand() {
    counts(&[], Some(0));
    counts(&[(300, None), (200, None)], Some(500));
    // One shared budget held by three guards: counted once, at its largest (700).
    counts(
        &[(700, Some("x")), (650, Some("x")), (700, Some("x"))],
        Some(700),
    );
    // Two shared budgets and a gate: 700 + 40 + 5 = 745.
    counts(&[(700, Some("x")), (40, Some("y")), (5, None)], Some(745));
    counts(&[(u64::MAX, None), (1, None)], None);
    counts(&[(u64::MAX, None), (1, Some("x"))], None);
}

#[test]
fn a_reservation_from_another_boot_is_dropped_from_the_file() {
    // The file is this machine's: a holder recorded under another kernel boot is gone, even
    // when its pid (ours here) runs now.
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    let old = ledger
        .reserve(&claim("a"), &mut take(900))
        .unwrap()
        .expect("admitted");
    let before_reboot = Reservation {
        host: Some("another-boot/pid:[1]".into()),
        ..old
    };
    ledger.update(&before_reboot).unwrap();
    assert_eq!(ledger.reserved("a").unwrap(), 0);
}

#[test]
fn older_entries_without_kind_or_start_time_still_read() {
    // Written by a version before guards registered: a gate, checked by pid alone.
    let text = format!(
        r#"{{"version": 1, "accounts": {{"a": [{{"id": "x", "account": "a", "pid": {}, "units": 50,
        "workflows": ["w"], "command": "job", "started": "2026-01-01T00:00:00Z"}}]}}}}"#,
        std::process::id()
    );
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    std::fs::write(ledger.path(), text).unwrap();
    let list = ledger.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].kind, HolderKind::Gate);
    assert_eq!(list[0].pid_start, None);
    assert_eq!(ledger.reserved("a").unwrap(), 50);
}

#[track_caller]
fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A warning callback that keeps what it hears.
pub(super) fn heard() -> (Warn, Arc<Mutex<Vec<String>>>) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let keep = heard.clone();
    let warn: Warn = Arc::new(move |w: &str| keep.lock().unwrap().push(w.to_string()));
    (warn, heard)
}

#[test]
fn files_are_0600_in_a_0700_directory() {
    // Invariant: reservations name commands and accounts; no other user may read or change them.
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("state").join("budget");
    let ledger = FileLedger::new(dir.clone());
    let held = ledger
        .reserve(&claim("a"), &mut take(1))
        .unwrap()
        .expect("admitted");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("reservations.json")), 0o600);
    assert_eq!(mode(&dir.join("reservations.lock")), 0o600);
    ledger.release(&held).unwrap();
    assert_eq!(mode(&dir.join("reservations.json")), 0o600);
}

#[test]
fn an_older_lock_file_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("reservations.lock");
    std::fs::write(&lock, "").unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
    FileLedger::new(dir.path().to_path_buf())
        .reserve(&claim("a"), &mut take(1))
        .unwrap();
    assert_eq!(mode(&lock), 0o600);
}

#[test]
fn a_directory_others_can_write_is_warned_about_once() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("budget");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (warn, heard) = heard();
    let ledger = FileLedger::new(dir.clone()).with_warnings(warn);
    let held = ledger
        .reserve(&claim("a"), &mut take(1))
        .unwrap()
        .expect("admitted");
    ledger.release(&held).unwrap();
    let warnings = heard.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("other users can write to the state directory")
            && warnings[0].contains("(mode 777)")
            && warnings[0].contains(&format!("run `chmod 700 {}`", dir.display())),
        "{warnings:?}"
    );
    // The directory is left as it is (it may be shared on purpose); its files are still 0600.
    assert_eq!(mode(&dir), 0o777);
    assert_eq!(mode(&dir.join("reservations.json")), 0o600);
}

#[test]
fn a_directory_others_can_only_read_is_not_warned_about() {
    // They see the names of 0600 files, nothing more.
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("budget");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (warn, heard) = heard();
    FileLedger::new(dir.clone())
        .with_warnings(warn)
        .reserve(&claim("a"), &mut take(1))
        .unwrap();
    assert_eq!(heard.lock().unwrap().clone(), Vec::<String>::new());
    assert_eq!(mode(&dir.join("reservations.json")), 0o600);
}

#[test]
fn a_link_planted_as_the_temporary_file_is_not_followed() {
    // In a directory others can write, the temporary file's name could be a link to one of
    // the user's files: it is replaced, never written through.
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let temp = dir
        .path()
        .join(format!("reservations.json.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &temp).unwrap();
    FileLedger::new(dir.path().to_path_buf())
        .reserve(&claim("a"), &mut take(1))
        .unwrap()
        .expect("admitted");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!temp.exists());
}

#[test]
fn reservations_add_up_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().join("budget"));
    let mut seen = Vec::new();
    let first = ledger
        .reserve(&claim("a"), &mut |r| {
            seen.push(r);
            Some(300)
        })
        .unwrap()
        .expect("admitted");
    let second = ledger
        .reserve(&claim("a"), &mut |r| {
            seen.push(r);
            Some(200)
        })
        .unwrap()
        .expect("admitted");
    // Another account does not see account a's 300 + 200.
    ledger
        .reserve(&claim("b"), &mut |r| {
            seen.push(r);
            Some(7)
        })
        .unwrap()
        .expect("admitted");
    assert_eq!(seen, vec![0, 300, 0]);
    assert_eq!(ledger.reserved("a").unwrap(), 500);
    assert_eq!(ledger.list().unwrap().len(), 3);
    ledger.release(&first).unwrap();
    assert_eq!(ledger.reserved("a").unwrap(), 200);
    ledger.release(&first).unwrap(); // twice is fine
    ledger.release(&second).unwrap();
    assert_eq!(ledger.reserved("a").unwrap(), 0);
    assert_eq!(ledger.reserved("b").unwrap(), 7);
}

#[test]
fn refused_claims_are_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    assert_eq!(ledger.reserve(&claim("a"), &mut |_| None).unwrap(), None);
    assert_eq!(ledger.reserved("a").unwrap(), 0);
}

#[test]
fn reservations_of_gone_processes_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    let mut gone = claim("a");
    gone.holder = ProcessId::of(dead_pid());
    ledger
        .reserve(&gone, &mut take(1000))
        .unwrap()
        .expect("admitted");
    ledger
        .reserve(&claim("a"), &mut take(5))
        .unwrap()
        .expect("admitted");
    // Only our own 5 is live.
    assert_eq!(ledger.reserved("a").unwrap(), 5);
    let text = std::fs::read_to_string(ledger.path()).unwrap();
    assert!(
        !text.contains("1000"),
        "the dead entry was written back:\n{text}"
    );
}

#[test]
fn concurrent_claims_never_share_headroom() {
    // Capacity 1000, claims of 300: exactly 3 of 8 fit (900 ≤ 1000 < 1200).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let admitted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                s.spawn(move || {
                    let ledger = FileLedger::new(path);
                    ledger
                        .reserve(&claim("a"), &mut |reserved| {
                            (reserved + 300 <= 1000).then_some(300)
                        })
                        .unwrap()
                        .is_some()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(admitted, 3);
    assert_eq!(FileLedger::new(path).reserved("a").unwrap(), 900);
}

#[test]
fn a_damaged_ledger_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    std::fs::write(ledger.path(), "{not json").unwrap();
    let e = ledger.reserved("a").unwrap_err().to_string();
    assert!(e.contains("is damaged") && e.contains("delete it"), "{e}");
    std::fs::write(ledger.path(), r#"{"version": 2, "accounts": {}}"#).unwrap();
    let e = ledger.list().unwrap_err().to_string();
    assert!(e.contains("version 2 is not 1"), "{e}");
}

#[test]
fn reading_an_absent_ledger_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().join("budget"));
    assert_eq!(ledger.reserved("a").unwrap(), 0);
    assert_eq!(ledger.list().unwrap(), Vec::new());
    assert!(!dir.path().join("budget").exists());
}

#[test]
fn a_lock_held_too_long_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = FileLedger::new(dir.path().to_path_buf())
        .with_lock_wait(std::time::Duration::from_millis(50));
    let first = ledger
        .reserve(&claim("a"), &mut take(1))
        .expect("reserve")
        .expect("admitted");
    ledger.release(&first).expect("release");
    // Another process holds the lock (here: this test, through its own handle).
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.path().join("reservations.lock"))
        .expect("open lock");
    held.lock().expect("lock");
    let e = ledger.reserved("a").unwrap_err().to_string();
    assert!(e.contains("reservations.lock stayed locked for"), "{e}");
    assert!(e.contains("is a `budget` process stuck?"), "{e}");
    drop(held);
    assert_eq!(ledger.reserved("a").expect("free again"), 0);
}
