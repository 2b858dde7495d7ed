//! The reservation ledger (`budget::ledger::Ledger`): the file on this machine and Redis behave
//! alike. Each test of [`suite!`] runs once per backend; a [`Store`] opens as many handles on one
//! ledger as a test needs (several processes, or several machines, sharing it). After the suite:
//! what only Redis has (leases renewed by a thread, holders on other machines, connections).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use budget::ledger::{
    Claim, FileLedger, HolderKind, Ledger, ProcessId, RedisLedger, Reservation, Warn,
};

use crate::support::redis_server::RedisServer;

/// Where a ledger lives; each [`Store::open`] is another handle on it.
trait Store {
    fn open(&self) -> Box<dyn Ledger>;
}

struct FileStore(tempfile::TempDir);

impl Store for FileStore {
    fn open(&self) -> Box<dyn Ledger> {
        Box::new(FileLedger::new(self.0.path().join("budget")))
    }
}

fn file() -> FileStore {
    FileStore(tempfile::tempdir().expect("temp dir"))
}

struct RedisStore(RedisServer);

impl Store for RedisStore {
    fn open(&self) -> Box<dyn Ledger> {
        Box::new(RedisLedger::connect(&self.0.url()).expect("connect"))
    }
}

fn redis() -> RedisStore {
    RedisStore(RedisServer::start())
}

/// A gate's claim held by this process.
fn claim(account: &str) -> Claim {
    Claim::new(account, HolderKind::Gate, vec!["w".into()], "true".into())
}

/// Admits whatever is reserved, holding `units`.
fn take(units: u64) -> impl FnMut(u64) -> Option<u64> {
    move |_| Some(units)
}

/// Admits `units` while the reserved sum stays within `room`.
fn fits(units: u64, room: u64) -> impl FnMut(u64) -> Option<u64> {
    move |reserved| (reserved + units <= room).then_some(units)
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

/// A process that runs until killed (killed and reaped when dropped).
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    fn id(&self) -> ProcessId {
        ProcessId::of(self.0.id())
    }

    /// Kills and reaps it.
    fn stop(mut self) {
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
    let mut list = ledger.list().expect("list");
    list.retain(|r| r.account == account);
    list
}

/// Each test of the suite, once per backend: `suite!(name, store)` makes a module `name` whose
/// tests run on `store()`.
macro_rules! suite {
    ($backend:ident, $store:expr) => {
        mod $backend {
            use super::*;

            #[test]
            fn reservations_add_up_per_account_and_release() {
                super::reservations_add_up_per_account_and_release(&$store());
            }
            #[test]
            fn refused_claims_are_not_recorded() {
                super::refused_claims_are_not_recorded(&$store());
            }
            #[test]
            fn a_reused_pid_does_not_keep_a_reservation() {
                super::a_reused_pid_does_not_keep_a_reservation(&$store());
            }
            #[test]
            fn a_running_child_keeps_the_reservation() {
                super::a_running_child_keeps_the_reservation(&$store());
            }
            #[test]
            fn holders_of_one_shared_budget_count_once() {
                super::holders_of_one_shared_budget_count_once(&$store());
            }
            #[test]
            fn an_update_changes_the_units_held() {
                super::an_update_changes_the_units_held(&$store());
            }
            #[test]
            fn concurrent_claims_never_share_headroom() {
                super::concurrent_claims_never_share_headroom(&$store());
            }
        }
    };
}

suite!(file, file);
suite!(redis, redis);

fn reservations_add_up_per_account_and_release(store: &dyn Store) {
    let ledger = store.open();
    let mut seen = Vec::new();
    let mut reserve = |account: &str, units: u64| {
        ledger
            .reserve(&claim(account), &mut |reserved| {
                seen.push(reserved);
                Some(units)
            })
            .expect("reserve")
            .expect("admitted")
    };
    let first = reserve("a", 300);
    let second = reserve("a", 200);
    // Another account does not see account a's 300 + 200.
    reserve("b", 7);
    assert_eq!(seen, vec![0, 300, 0]);
    assert_eq!(ledger.reserved("a").expect("sum"), 500);
    assert_eq!(ledger.list().expect("list").len(), 3);
    // Oldest first.
    assert_eq!(
        listed(ledger.as_ref(), "a"),
        vec![first.clone(), second.clone()]
    );
    ledger.release(&first).expect("release");
    assert_eq!(ledger.reserved("a").expect("sum"), 200);
    ledger.release(&first).expect("releasing twice is fine");
    ledger.release(&second).expect("release");
    assert_eq!(ledger.reserved("a").expect("sum"), 0);
    assert_eq!(ledger.reserved("b").expect("sum"), 7);
    assert_eq!(ledger.reserved("nobody").expect("sum"), 0);
}

fn refused_claims_are_not_recorded(store: &dyn Store) {
    let ledger = store.open();
    // 1,000 units of room: 600 fit, then 300 (900), then 200 do not (1,100).
    ledger
        .reserve(&claim("a"), &mut fits(600, 1000))
        .expect("reserve")
        .expect("admitted");
    ledger
        .reserve(&claim("a"), &mut fits(300, 1000))
        .expect("reserve")
        .expect("admitted");
    assert_eq!(
        ledger
            .reserve(&claim("a"), &mut fits(200, 1000))
            .expect("reserve"),
        None
    );
    assert_eq!(
        ledger.reserve(&claim("a"), &mut |_| None).expect("reserve"),
        None
    );
    assert_eq!(ledger.reserved("a").expect("sum"), 900);
    assert_eq!(listed(ledger.as_ref(), "a").len(), 2);
}

/// Invariant: a pid that now names another process (same pid, other start time) does not keep
/// a dead holder's units reserved — the check that `kill(pid, 0)` alone failed.
fn a_reused_pid_does_not_keep_a_reservation(store: &dyn Store) {
    let ledger = store.open();
    let me = ProcessId::current();
    let mut reused = claim("reuse");
    reused.holder = ProcessId {
        pid: me.pid,
        start: Some(me.start.expect("Linux /proc") + 1),
    };
    ledger
        .reserve(&reused, &mut take(700))
        .expect("reserve")
        .expect("admitted");
    let mut live = claim("reuse");
    live.holder = me;
    let kept = ledger
        .reserve(&live, &mut take(5))
        .expect("reserve")
        .expect("admitted");
    // 700 (a live pid, but not the process that reserved) is dropped; our 5 stays.
    assert_eq!(ledger.reserved("reuse").expect("sum"), 5);
    assert_eq!(listed(ledger.as_ref(), "reuse"), vec![kept]);
}

/// Invariant: a gate's reservation stays while its command runs, even once the gate is gone,
/// and goes when both are gone.
fn a_running_child_keeps_the_reservation(store: &dyn Store) {
    let ledger = store.open();
    let mut gone_gate = claim("child");
    gone_gate.holder = ProcessId::of(dead_pid());
    let mut held = ledger
        .reserve(&gone_gate, &mut take(26_000))
        .expect("reserve")
        .expect("admitted");
    let command = Sleeper::start();
    held.child = Some(command.id());
    ledger.update(&held).expect("update");
    assert_eq!(ledger.reserved("child").expect("sum"), 26_000);
    assert_eq!(
        listed(ledger.as_ref(), "child")[0].child,
        Some(command.id())
    );
    command.stop();
    assert_eq!(ledger.reserved("child").expect("sum"), 0);
}

/// Invariant: guards sharing one budget hold it once (the largest of their holds), beside
/// the other reservations, which add up.
fn holders_of_one_shared_budget_count_once(store: &dyn Store) {
    let ledger = store.open();
    let guard = |shares: Option<&str>| Claim {
        shares: shares.map(str::to_string),
        ..Claim::new(
            "shared",
            HolderKind::Guard,
            Vec::new(),
            "127.0.0.1:8787".into(),
        )
    };
    for (claim, units) in [
        (guard(Some("pot")), 9_000),
        (guard(Some("pot")), 9_500),
        (guard(None), 100),
        (claim("shared"), 20),
    ] {
        ledger
            .reserve(&claim, &mut take(units))
            .expect("reserve")
            .expect("admitted");
    }
    // max(9,000, 9,500) + 100 + 20 = 9,620.
    let mut seen = None;
    ledger
        .reserve(&claim("shared"), &mut |reserved| {
            seen = Some(reserved);
            None
        })
        .expect("reserve");
    assert_eq!(seen, Some(9_620));
    assert_eq!(ledger.reserved("shared").expect("sum"), 9_620);
    let kinds: Vec<HolderKind> = listed(ledger.as_ref(), "shared")
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == HolderKind::Guard).count(), 3);
}

/// Invariant: `update` changes what is held (a guard's hold shrinks as it spends).
fn an_update_changes_the_units_held(store: &dyn Store) {
    let ledger = store.open();
    let mut held = ledger
        .reserve(&claim("upd"), &mut take(30_000))
        .expect("reserve")
        .expect("admitted");
    held.units = 12_345;
    ledger.update(&held).expect("update");
    assert_eq!(ledger.reserved("upd").expect("sum"), 12_345);
    assert_eq!(listed(ledger.as_ref(), "upd"), vec![held.clone()]);
    ledger.release(&held).expect("release");
    assert_eq!(ledger.reserved("upd").expect("sum"), 0);
}

/// Invariant: claims made at once through several handles (processes on this machine, or
/// machines sharing Redis) never share headroom. Room for 1,000, claims of 300: exactly 3 of
/// 16 fit (900 ≤ 1,000 < 1,200).
fn concurrent_claims_never_share_headroom(store: &dyn Store) {
    let handles: Vec<Arc<dyn Ledger>> = (0..2).map(|_| Arc::from(store.open())).collect();
    let admitted = std::thread::scope(|s| {
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let ledger = handles[i % 2].clone();
                s.spawn(move || {
                    ledger
                        .reserve(&claim("a"), &mut fits(300, 1000))
                        .expect("reserve")
                        .is_some()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .filter(|admitted| *admitted)
            .count()
    });
    assert_eq!(admitted, 3);
    assert_eq!(store.open().reserved("a").expect("sum"), 900);
}

// --- Redis only: leases, holders on other machines, connections. ---

/// A warning callback that keeps what it hears.
fn heard() -> (Warn, Arc<Mutex<Vec<String>>>) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let keep = heard.clone();
    let warn: Warn = Arc::new(move |w: &str| keep.lock().unwrap().push(w.to_string()));
    (warn, heard)
}

fn quiet() -> Warn {
    Arc::new(|_: &str| {})
}

/// Waits (at most 10 s) until `done` holds, polling.
#[track_caller]
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A plain connection to the test's Redis, for what the ledger's API does not show: the keys of
/// its module doc (`src/ledger/redis.rs`) and Redis's clock.
struct Peek(::redis::Connection);

impl Peek {
    fn new(server: &RedisServer) -> Peek {
        let client = ::redis::Client::open(server.url()).expect("client");
        Peek(client.get_connection().expect("connect"))
    }

    /// When the lease of reservation `id` of `account` ends (ms, Redis's clock).
    fn lease_end(&mut self, account: &str, id: &str) -> Option<u64> {
        ::redis::cmd("ZSCORE")
            .arg(format!("budget:{{{account}}}:reservation-leases"))
            .arg(id)
            .query::<Option<f64>>(&mut self.0)
            .expect("ZSCORE")
            .map(|ms| ms as u64)
    }

    /// Redis's clock (ms).
    fn now(&mut self) -> u64 {
        let (secs, micros): (u64, u64) = ::redis::cmd("TIME").query(&mut self.0).expect("TIME");
        secs * 1000 + micros / 1000
    }

    /// Waits until reservation `id`'s lease has been renewed `n` times (its end moved on `n`
    /// times), the renewals that a test waits for instead of sleeping through them.
    #[track_caller]
    fn renewed(&mut self, account: &str, id: &str, n: usize) {
        let mut ends = BTreeSet::new();
        if let Some(end) = self.lease_end(account, id) {
            ends.insert(end);
        }
        eventually(&format!("{n} renewals of {id}"), || {
            if let Some(end) = self.lease_end(account, id) {
                ends.insert(end);
            }
            ends.len() > n
        });
    }
}

/// Invariant: a holder on another machine cannot be checked by pid here; its lease alone
/// decides (a dead pid *here* means nothing about a process *there*).
#[test]
fn a_holder_on_another_machine_lives_by_its_lease() {
    let server = RedisServer::start();
    let ledger = RedisLedger::connect(&server.url()).expect("connect");
    let mut remote = claim("acct");
    remote.holder = ProcessId::of(dead_pid());
    let mut held = ledger
        .reserve(&remote, &mut take(400))
        .expect("reserve")
        .expect("admitted");
    held.host = Some("another-machine/pid:[1]".into());
    ledger.update(&held).expect("update");
    assert_eq!(ledger.reserved("acct").expect("sum"), 400);
    // The same entry written on this machine: its dead holder is dropped at once.
    held.host = budget::ledger::process::host();
    ledger.update(&held).expect("update");
    assert_eq!(ledger.reserved("acct").expect("sum"), 0);
}

/// Invariant: a renewal writes the reservation as last updated, never an older form (a guard's
/// hold would grow back to its first size).
#[test]
fn renewals_keep_the_updated_units() {
    let server = RedisServer::start();
    let ledger = RedisLedger::with_lease(&server.url(), Duration::from_millis(150), quiet())
        .expect("connect");
    let mut held = ledger
        .reserve(
            &Claim::new("acct", HolderKind::Guard, Vec::new(), "guard".into()),
            &mut take(30_000),
        )
        .expect("reserve")
        .expect("admitted");
    held.units = 1_000;
    ledger.update(&held).expect("update");
    // Two renewals later (every 50 ms), still the updated figure.
    Peek::new(&server).renewed("acct", &held.id, 2);
    assert_eq!(ledger.reserved("acct").expect("sum"), 1_000);
    assert_eq!(ledger.list().expect("list"), vec![held]);
}

/// Invariant: a reservation lives while its holder renews it, past its first lease; once the
/// holder is gone (dropped without release, as when a gate dies) it lapses.
#[test]
fn a_dead_holder_lease_runs_out() {
    let server = RedisServer::start();
    let mut peek = Peek::new(&server);
    {
        let ledger = RedisLedger::with_lease(&server.url(), Duration::from_millis(150), quiet())
            .expect("connect");
        let held = ledger
            .reserve(&claim("acct"), &mut take(500))
            .expect("reserve")
            .expect("admitted");
        // Past the end of its first lease (on Redis's clock), renewed: still held.
        let first_end = peek.lease_end("acct", &held.id).expect("a lease");
        eventually("the first lease is over", || peek.now() > first_end);
        assert_eq!(ledger.reserved("acct").expect("sum"), 500);
    } // dropped without release, as when the gate dies: renewals stop.
    let other = RedisLedger::connect(&server.url()).expect("connect");
    eventually("the lease runs out", || {
        other.reserved("acct").expect("sum") == 0
    });
    assert_eq!(other.list().expect("list"), vec![]);
}

#[test]
fn a_lapsed_reservation_is_held_again_with_a_warning() {
    let server = RedisServer::start();
    let (warn, heard) = heard();
    let ledger =
        RedisLedger::with_lease(&server.url(), Duration::from_millis(300), warn).expect("connect");
    let held = ledger
        .reserve(&claim("acct"), &mut take(500))
        .expect("reserve")
        .expect("admitted");
    // Another reservation of the same ledger, renewed on the same rhythm: the test's clock.
    let beat = ledger
        .reserve(&claim("beat"), &mut take(1))
        .expect("reserve")
        .expect("admitted");
    // the lease ran out while Redis was unreachable, and another gate dropped it (the keys of
    // src/ledger/redis.rs).
    let mut peek = Peek::new(&server);
    let _: () = ::redis::pipe()
        .hdel("budget:{acct}:reservations", &held.id)
        .hdel("budget:{acct}:reserved-units", &held.id)
        .zrem("budget:{acct}:reservation-leases", &held.id)
        .srem("budget:ledger:accounts", "acct")
        .query(&mut peek.0)
        .expect("drop it");
    let other = RedisLedger::connect(&server.url()).expect("connect");
    assert_eq!(other.reserved("acct").expect("sum"), 0);
    // the next renewal (every 100 ms) writes it again, listed as before, and says so.
    eventually("the reservation is held again", || {
        other.reserved("acct").expect("sum") == 500
    });
    let mut listed = other.list().expect("list");
    listed.retain(|r| r.account == "acct");
    assert_eq!(listed, vec![held.clone()]);
    // The renewal says so right after its write (it may not have yet when the write is seen).
    let said = || {
        heard.lock().unwrap().iter().any(|w| {
            w.contains("the reservation of 500 units had lapsed") && w.contains("it is held again")
        })
    };
    eventually("the renewal warns that the reservation had lapsed", said);
    // released: not written again by a renewal in progress (two renewals of the other
    // reservation later, still gone).
    ledger.release(&held).expect("release");
    peek.renewed("beat", &beat.id, 2);
    assert_eq!(other.reserved("acct").expect("sum"), 0);
}

#[test]
fn a_failed_renewal_warns() {
    let server = RedisServer::start();
    let (warn, heard) = heard();
    let ledger =
        RedisLedger::with_lease(&server.url(), Duration::from_millis(150), warn).expect("connect");
    ledger
        .reserve(&claim("acct"), &mut take(500))
        .expect("reserve");
    drop(server); // Redis goes away
    eventually("a warning", || !heard.lock().unwrap().is_empty());
    let warnings = heard.lock().unwrap().clone();
    assert!(
        warnings[0].contains("warning: cannot renew the reservation of 500 units")
            && warnings[0].contains("is unavailable"),
        "{warnings:?}"
    );
}

#[test]
fn redis_is_named_and_an_unreachable_one_is_a_clear_error() {
    let server = RedisServer::start();
    let ledger = RedisLedger::connect(&server.url()).expect("connect");
    assert_eq!(
        ledger.location(),
        format!("Redis at {}", server.url().trim_start_matches("redis://"))
    );
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("redis://{}", l.local_addr().expect("addr"))
    };
    let e = RedisLedger::connect(&url).err().expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("is unavailable: connection refused"),
        "{text}"
    );
    assert!(text.contains("check --redis / BUDGET_REDIS_URL"), "{text}");
}
