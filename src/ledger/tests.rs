use super::*;

fn claim(account: &str, units: u64) -> Claim {
    Claim {
        account: account.into(),
        pid: std::process::id(),
        units,
        workflows: vec!["w".into()],
        command: "true".into(),
    }
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

#[test]
fn reservations_add_up_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().join("budget"));
    let mut seen = Vec::new();
    let first = ledger
        .reserve(&claim("a", 300), &mut |r| {
            seen.push(r);
            true
        })
        .unwrap()
        .expect("admitted");
    let second = ledger
        .reserve(&claim("a", 200), &mut |r| {
            seen.push(r);
            true
        })
        .unwrap()
        .expect("admitted");
    // Another account does not see account a's 300 + 200.
    ledger
        .reserve(&claim("b", 7), &mut |r| {
            seen.push(r);
            true
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
    assert_eq!(
        ledger.reserve(&claim("a", 10), &mut |_| false).unwrap(),
        None
    );
    assert_eq!(ledger.reserved("a").unwrap(), 0);
}

#[test]
fn reservations_of_gone_processes_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::new(dir.path().to_path_buf());
    let mut gone = claim("a", 1000);
    gone.pid = dead_pid();
    ledger
        .reserve(&gone, &mut |_| true)
        .unwrap()
        .expect("admitted");
    ledger
        .reserve(&claim("a", 5), &mut |_| true)
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
                        .reserve(&claim("a", 300), &mut |reserved| reserved + 300 <= 1000)
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
fn liveness() {
    assert!(process_alive(std::process::id()));
    assert!(!process_alive(dead_pid()));
    assert!(!process_alive(0));
    assert!(!process_alive(u32::MAX));
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
        .reserve(&claim("a", 1), &mut |_| true)
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
