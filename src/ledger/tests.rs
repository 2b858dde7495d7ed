use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use super::*;

// The behaviour every backend shares is tested on each, in tests/conformance/ledger.rs; here
// what only the file has (this machine's boots, permissions, its lock, old entries).

/// A gate's claim held by this process.
fn claim(account: &str) -> Claim {
    Claim::new(account, HolderKind::Gate, vec!["w".into()], "true".into())
}

/// Admits whatever is reserved, holding `units`.
fn take(units: u64) -> impl FnMut(u64) -> Option<u64> {
    move |_| Some(units)
}

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
fn heard() -> (Warn, Arc<Mutex<Vec<String>>>) {
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
