//! The guard's budget and rate state (`budget::guard::State`): in memory (one guard) and in
//! Redis (guards sharing one key) keep the same figures. Each test of [`suite!`] runs once per
//! backend; a [`Backend`] builds a fresh state (in Redis: an account of its own). After the
//! suite: what only Redis has (several guards on one budget, hold expiry, connections), and
//! the memory and Redis states fed the same operations (the equivalence property).
//!
//! Tests of the window whose subject is not its length keep a window of [`SHORT`] instead of
//! the binary's 1,025 ms (`State::with_window`): the same arithmetic, a fifth of the wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::FromRedisValue;
use budget::guard::redis::{Joined, RedisState};
use budget::guard::state::{Ask, ClientBudget, Granted, Raise, Raised, RateError, StateError};
use budget::guard::{MemoryState, State};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::redis_server::RedisServer;

/// The window of the window tests.
const SHORT: Duration = Duration::from_millis(200);

/// Builds states of one backend.
trait Backend {
    /// A fresh state of `budget` units and `rps` requests per window, callers waiting up to
    /// `max_wait` in a line of at most `max_queue`.
    async fn state(&self, budget: u64, rps: u32, max_wait: Duration, max_queue: usize) -> State;

    async fn plain(&self, budget: u64) -> State {
        self.state(budget, 10, Duration::from_secs(5), 1000).await
    }

    /// A fresh state of `budget` units, nothing spent, with `clients`' own budgets.
    async fn with_clients(&self, budget: u64, clients: &[ClientBudget]) -> State;
}

struct Memory;

impl Backend for Memory {
    async fn state(&self, budget: u64, rps: u32, max_wait: Duration, max_queue: usize) -> State {
        State::new(
            budget::guard::Backend::Memory(MemoryState::new(budget)),
            rps,
            max_wait,
            max_queue,
        )
    }

    async fn with_clients(&self, budget: u64, clients: &[ClientBudget]) -> State {
        State::new(
            budget::guard::Backend::Memory(MemoryState::continuing(budget, 0, clients)),
            10,
            Duration::from_secs(5),
            1000,
        )
    }
}

/// A private Redis; each state is an account of its own on it.
struct Redis {
    server: RedisServer,
    accounts: AtomicU64,
}

impl Redis {
    fn new() -> Redis {
        Redis {
            server: RedisServer::start(),
            accounts: AtomicU64::new(0),
        }
    }

    /// A state on `account`'s shared budget (joined: created by the first).
    async fn shared(&self, account: &str, budget: u64, rps: u32, max_wait: Duration) -> State {
        let redis = RedisState::connect(&self.server.url(), account, Duration::from_secs(60))
            .await
            .expect("connect");
        redis.join(budget).await.expect("join");
        State::new(
            budget::guard::Backend::Redis(Box::new(redis)),
            rps,
            max_wait,
            1000,
        )
    }
}

impl Backend for Redis {
    async fn state(&self, budget: u64, rps: u32, max_wait: Duration, max_queue: usize) -> State {
        let n = self.accounts.fetch_add(1, Ordering::Relaxed);
        let redis = RedisState::connect(
            &self.server.url(),
            &format!("suite{n}"),
            Duration::from_secs(60),
        )
        .await
        .expect("connect");
        redis.join(budget).await.expect("join");
        State::new(
            budget::guard::Backend::Redis(Box::new(redis)),
            rps,
            max_wait,
            max_queue,
        )
    }

    async fn with_clients(&self, budget: u64, clients: &[ClientBudget]) -> State {
        let n = self.accounts.fetch_add(1, Ordering::Relaxed);
        let redis = RedisState::connect(
            &self.server.url(),
            &format!("suite{n}"),
            Duration::from_secs(60),
        )
        .await
        .expect("connect");
        redis.join(budget).await.expect("join");
        redis.join_clients(clients, false).await.expect("clients");
        State::new(
            budget::guard::Backend::Redis(Box::new(redis)),
            10,
            Duration::from_secs(5),
            1000,
        )
    }
}

/// Each test of the suite, once per backend: `suite!(name, backend)` makes a module `name` whose
/// tests run on `backend()`.
macro_rules! suite {
    ($name:ident, $backend:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn reserve_settle_release_by_hand() {
                super::reserve_settle_release_by_hand(&$backend()).await;
            }
            #[tokio::test]
            async fn an_overrun_is_charged_and_may_overdraw() {
                super::an_overrun_is_charged_and_may_overdraw(&$backend()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_reservations_never_exceed_the_budget() {
                super::concurrent_reservations_never_exceed_the_budget(&$backend()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_callers_keep_the_window() {
                super::concurrent_callers_keep_the_window(&$backend()).await;
            }
            #[tokio::test]
            async fn waiting_is_bounded() {
                super::waiting_is_bounded(&$backend()).await;
            }
            #[tokio::test]
            async fn queue_is_bounded() {
                super::queue_is_bounded(&$backend()).await;
            }
            #[tokio::test]
            async fn clients_and_shadow() {
                super::clients_and_shadow(&$backend()).await;
            }
            #[tokio::test]
            async fn a_raise_adds_to_the_figure_and_what_is_left() {
                super::a_raise_adds_to_the_figure_and_what_is_left(&$backend()).await;
            }
            #[tokio::test]
            async fn the_soft_limit_rises_by_approved_calls_only() {
                super::the_soft_limit_rises_by_approved_calls_only(&$backend()).await;
            }
        }
    };
}

suite!(memory, || Memory);
suite!(redis, Redis::new);

/// Invariant: a raise adds to the budget's figure and to what is left alike (what was spent
/// stays spent); `--to` below the figure changes nothing.
async fn a_raise_adds_to_the_figure_and_what_is_left(backend: &impl Backend) {
    let state = backend.plain(500).await;
    let hold = state.try_reserve(400).await.expect("400 of 500");
    state.settle(&hold, 400).await.expect("settle");
    assert_eq!(
        state.try_reserve(200).await,
        Err(StateError::Exceeded {
            needed: 200,
            left: 100
        })
    );
    // +300: 800, 400 spent, 400 left.
    assert_eq!(
        state.raise(Raise::By(300)).await,
        Ok(Raised {
            before: 500,
            after: 800
        })
    );
    let f = state.figures().await.expect("figures");
    assert_eq!((f.total, f.left, f.spent()), (800, 400, 400));
    // To 1,000: +200, 600 left.
    assert_eq!(
        state.raise(Raise::To(1000)).await,
        Ok(Raised {
            before: 800,
            after: 1000
        })
    );
    assert_eq!(
        state.raise(Raise::To(900)).await,
        Err(StateError::NotARaise {
            total: 1000,
            to: 900
        })
    );
    assert_eq!(state.left().await, Ok(600));
    assert!(state.try_reserve(200).await.is_ok());
}

/// Invariant: with a soft limit, a call past it is refused unless approved; an approved call
/// raises the allowance by what it is charged (never more than it held), and a released one
/// gives it back.
async fn the_soft_limit_rises_by_approved_calls_only(backend: &impl Backend) {
    let state = backend.plain(10_000).await;
    let ask = |units, approved| Ask {
        soft: Some(250),
        approved,
        ..Ask::units(units)
    };
    let first = state.reserve(ask(200, false)).await.expect("200 of 250");
    state.settle(&first.hold, 200).await.expect("settle");
    // 200 used + 100 = 300 > 250.
    assert_eq!(
        state.reserve(ask(100, false)).await,
        Err(StateError::SoftLimit {
            needed: 100,
            used: 200,
            limit: 250
        })
    );
    // Approved: it passes; charged 60 of its 100, the allowance is 60.
    let approved = state.reserve(ask(100, true)).await.expect("approved");
    assert_eq!(state.approved().await, Ok(100));
    state.settle(&approved.hold, 60).await.expect("settle");
    assert_eq!(state.approved().await, Ok(60));
    // 260 used, limit 250 + 60 = 310: 50 fits (310), 51 would not.
    let small = state.reserve(ask(50, false)).await.expect("50 fits");
    assert!(matches!(
        state.reserve(ask(1, false)).await,
        Err(StateError::SoftLimit { .. })
    ));
    state.release(&small.hold).await.expect("release");
    // An approved call released (the API failed): its allowance goes back to 60.
    let failed = state.reserve(ask(500, true)).await.expect("approved");
    assert_eq!(state.approved().await, Ok(560));
    state.release(&failed.hold).await.expect("release");
    assert_eq!(state.approved().await, Ok(60));
}

async fn reserve_settle_release_by_hand(backend: &impl Backend) {
    let state = backend.plain(1000).await;
    let a = state.try_reserve(600).await.expect("600 of 1000");
    // Unspent (the guard's hold in the ledger): 400 left + 600 in flight = 1,000.
    assert_eq!(state.unspent().await, Ok(1000));
    // 400 left: 500 does not fit.
    assert_eq!(
        state.try_reserve(500).await,
        Err(StateError::Exceeded {
            needed: 500,
            left: 400
        })
    );
    // the 600 call returned 250 records: 350 come back, 750 left.
    state.settle(&a, 250).await.expect("settle");
    assert_eq!(state.left().await, Ok(750));
    // 1,000 − 250 charged = 750 unspent; reserving more does not change it.
    assert_eq!(state.unspent().await, Ok(750));
    let b = state.try_reserve(750).await.expect("all of it");
    assert_eq!(state.left().await, Ok(0));
    assert_eq!(state.unspent().await, Ok(750));
    state.release(&b).await.expect("release");
    assert_eq!(state.left().await, Ok(750));
    // settling twice gives nothing back twice.
    state.release(&b).await.expect("release again");
    assert_eq!(state.left().await, Ok(750));
}

/// Clients' budgets and shadow mode: a budget of 500 with client `seo` at 200 of its own (and
/// `ads` without one), nothing spent.
async fn clients_and_shadow(backend: &impl Backend) {
    let seo_budget = ClientBudget {
        name: "seo".into(),
        budget: 200,
        spent: 0,
    };
    let state = backend.with_clients(500, &[seo_budget]).await;
    let ask = |units, client, shadow| Ask {
        client,
        shadow,
        ..Ask::units(units)
    };
    // seo: 150 of its 200; the next 100 does not fit its 50 left, though the total's 350 would.
    let first = state
        .reserve(ask(150, Some("seo"), false))
        .await
        .expect("fits");
    assert_eq!(first.hold.client.as_deref(), Some("seo"));
    assert_eq!(
        state.reserve(ask(100, Some("seo"), false)).await,
        Err(StateError::ClientExceeded {
            client: "seo".into(),
            needed: 100,
            left: 50,
            budget: 200
        })
    );
    // ads has no budget of its own: only the total's 350 holds it.
    let ads = state
        .reserve(ask(300, Some("ads"), false))
        .await
        .expect("fits");
    assert_eq!(ads.hold.client, None);
    assert_eq!(
        state.reserve(ask(100, Some("ads"), false)).await,
        Err(StateError::Exceeded {
            needed: 100,
            left: 50
        })
    );
    // seo's 150 billed 120: 30 back to both (total 500 − 120 − 300 = 80; seo 200 − 120 = 80).
    state.settle(&first.hold, 120).await.expect("settle");
    assert_eq!(state.left().await, Ok(80));
    // Shadow: 100 for seo fits neither its own 80 nor the total's 80 (the total is checked
    // first): held all the same, with the refusal enforcement would have made.
    let shadow = state
        .reserve(ask(100, Some("seo"), true))
        .await
        .expect("shadow never refuses");
    assert_eq!(
        shadow.would_refuse,
        Some(StateError::Exceeded {
            needed: 100,
            left: 80
        })
    );
    // 80 − 100 = −20 left; seo 80 − 100 = −20.
    assert_eq!(state.left().await, Ok(-20));
    let clients = state.client_figures().await.expect("figures");
    let seo = clients.iter().find(|(n, _)| n == "seo").expect("seo").1;
    assert_eq!((seo.total, seo.left, seo.reserved), (200, -20, 100));
    // Figures: 500 total, −20 left, 300 + 100 in flight; spent 500 + 20 − 400 = 120.
    let f = state.figures().await.expect("figures");
    assert_eq!(
        (f.total, f.left, f.reserved, f.spent()),
        (500, -20, 400, 120)
    );
    // A shadow call that fits is no would-be refusal.
    state.release(&shadow.hold).await.expect("release");
    state.release(&ads.hold).await.expect("release");
    let fits = state
        .reserve(ask(10, Some("seo"), true))
        .await
        .expect("fits");
    assert_eq!(fits.would_refuse, None);
}

/// Invariant: a call billed beyond its hold is charged in full; later calls see it.
async fn an_overrun_is_charged_and_may_overdraw(backend: &impl Backend) {
    let state = backend.plain(1000).await;
    let a = state.try_reserve(100).await.expect("100 of 1000");
    // the reply held 5,000 records: 1000 − 5000 = −4,000 left.
    state.settle(&a, 5000).await.expect("settle");
    assert_eq!(state.left().await, Ok(-4000));
    assert_eq!(
        state.try_reserve(1).await,
        Err(StateError::Exceeded {
            needed: 1,
            left: -4000
        })
    );
    // overdrawn, the budget refuses even a free call (0 units > −4,000 left is false), and
    // nothing is unspent.
    assert!(state.try_reserve(0).await.is_err());
    assert_eq!(state.unspent().await, Ok(0));
}

async fn concurrent_reservations_never_exceed_the_budget(backend: &impl Backend) {
    // 64 tasks each try 10 calls of 7 units against 1000: at most 142 calls fit (994 units).
    let state = Arc::new(backend.plain(1000).await);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = 0u64;
            for _ in 0..10 {
                if let Ok(hold) = state.try_reserve(7).await {
                    state.settle(&hold, 7).await.expect("settle");
                    got += 7;
                }
            }
            got
        }));
    }
    let mut spent = 0;
    for t in tasks {
        spent += t.await.expect("task");
    }
    assert_eq!(spent, 994);
    assert_eq!(state.left().await, Ok(6));
}

/// No `limit` + 1 grants fall within one `window`.
#[track_caller]
fn assert_window(sorted: &[Granted], limit: usize, window: Duration) {
    for pair in sorted.windows(limit + 1) {
        let span = pair[limit].0 - pair[0].0;
        assert!(span >= window, "{} grants within {span:?}", limit + 1);
    }
}

async fn concurrent_callers_keep_the_window(backend: &impl Backend) {
    // 30 callers, 20 per window: the first 20 start at once, the next 10 a window later
    // (checked on the times the state granted, on its clock, not on when the tasks resumed).
    let state = Arc::new(
        backend
            .state(0, 20, Duration::from_secs(5), 1000)
            .await
            .with_window(SHORT),
    );
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let state = state.clone();
        tasks.push(tokio::spawn(
            async move { state.slot().await.expect("slot") },
        ));
    }
    let mut granted = Vec::new();
    for t in tasks {
        granted.push(t.await.expect("task"));
    }
    granted.sort();
    assert_window(&granted, 20, SHORT);
}

async fn waiting_is_bounded(backend: &impl Backend) {
    // A wait of 700 ms at 1 request/second: the second slot needs the window's 1,025 ms, so it
    // times out. The first is granted at once — unless its grant came too late to be used (a
    // loaded machine's slow Redis round trip or a descheduled thread: the grant is counted as
    // missed, and the next slot is a window away), when the first itself times out. Either way the slot that cannot be had within the
    // wait is this error, and no second slot is ever granted within the window.
    let state = backend.state(0, 1, Duration::from_millis(700), 1000).await;
    let e = match state.slot().await {
        Ok(_) => state
            .slot()
            .await
            .expect_err("a second slot within the 1 s window"),
        Err(e) => {
            // Only that way: a first slot refused without a missed grant is a bug.
            assert_eq!(
                state.missed_slots(),
                1,
                "the first slot of a fresh window: {e}"
            );
            e
        }
    };
    assert!(matches!(e, RateError::Timeout { rps: 1, .. }), "{e}");
    assert!(
        e.to_string()
            .contains("for a free slot in the 1 requests/second window"),
        "{e}"
    );
}

async fn queue_is_bounded(backend: &impl Backend) {
    let state = Arc::new(backend.state(0, 1, Duration::from_secs(2), 1).await);
    state.slot().await.expect("first slot");
    let waiting = {
        let state = state.clone();
        tokio::spawn(async move { state.slot().await })
    };
    // On this single-threaded runtime the waiter runs when this task yields, and takes its
    // place in the line before its first await.
    tokio::task::yield_now().await;
    let e = state.slot().await.unwrap_err();
    assert!(e.to_string().contains("1 calls are already waiting"), "{e}");
    waiting.abort();
}

// --- Redis only: several guards on one budget, holds that time out, connections. ---

#[tokio::test]
async fn a_second_guard_joins_the_budget() {
    let server = RedisServer::start();
    let first = RedisState::connect(&server.url(), "acct2", Duration::from_secs(60))
        .await
        .expect("connect");
    assert_eq!(first.join(500).await, Ok(Joined::Created { left: 500 }));
    let second = RedisState::connect(&server.url(), "acct2", Duration::from_secs(60))
        .await
        .expect("connect");
    // a different --budget does not reset the shared one.
    assert_eq!(second.join(9999).await, Ok(Joined::Existing { left: 500 }));
}

#[tokio::test]
async fn a_raise_is_shared_once_by_every_guard() {
    // Invariant: one raise through one guard raises the shared budget once for all.
    let redis = Redis::new();
    let long = Duration::from_secs(5);
    let first = redis.shared("acct9", 1000, 10, long).await;
    let second = redis.shared("acct9", 1000, 10, long).await;
    assert_eq!(
        first.raise(Raise::By(500)).await,
        Ok(Raised {
            before: 1000,
            after: 1500
        })
    );
    let f = second.figures().await.expect("figures");
    assert_eq!((f.total, f.left), (1500, 1500));
}

#[tokio::test]
async fn an_overrun_is_shared() {
    // Invariant: every guard sharing the budget sees a guard's overdraft.
    let redis = Redis::new();
    let long = Duration::from_secs(5);
    let first = redis.shared("acct7", 1000, 10, long).await;
    let second = redis.shared("acct7", 1000, 10, long).await;
    let hold = first.try_reserve(100).await.expect("100 of 1000");
    // 5,000 records billed: 1000 − 5000 = −4,000.
    first.settle(&hold, 5000).await.expect("settle");
    assert_eq!(second.left().await, Ok(-4000));
    assert_eq!(
        second.try_reserve(1).await,
        Err(StateError::Exceeded {
            needed: 1,
            left: -4000
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guards_never_exceed_budget_or_rate() {
    let redis = Redis::new();
    // Two guards, 16 tasks each trying 3 calls of 7 units against 200 units: 28 calls fit
    // (196 units; 200 / 7 = 28 rem 4) of the 96 tried.
    let long = Duration::from_secs(5);
    let guards = [
        Arc::new(
            redis
                .shared("acct4", 200, 20, long)
                .await
                .with_window(SHORT),
        ),
        Arc::new(
            redis
                .shared("acct4", 200, 20, long)
                .await
                .with_window(SHORT),
        ),
    ];
    let mut tasks = Vec::new();
    for i in 0..32 {
        let state = guards[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut spent = 0u64;
            let mut starts = Vec::new();
            for _ in 0..3 {
                starts.push(state.slot().await.expect("slot"));
                if let Ok(hold) = state.try_reserve(7).await {
                    state.settle(&hold, 7).await.expect("settle");
                    spent += 7;
                }
            }
            (spent, starts)
        }));
    }
    let mut spent = 0;
    let mut starts = Vec::new();
    for t in tasks {
        let (s, mut st) = t.await.expect("task");
        spent += s;
        starts.append(&mut st);
    }
    assert_eq!(spent, 196);
    assert_eq!(guards[0].left().await, Ok(4));
    // 96 grants at 20 per window: never 21 within one window (on Redis's clock, which the
    // window is kept on).
    starts.sort();
    assert_window(&starts, 20, SHORT);
}

/// A plain command on a connection of the test's own.
async fn command<T: FromRedisValue>(server: &RedisServer, args: &[&str]) -> T {
    let client = ::redis::Client::open(server.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut cmd = ::redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await.expect("command")
}

#[tokio::test]
async fn holds_never_settled_count_as_spent() {
    let server = RedisServer::start();
    let redis = RedisState::connect(&server.url(), "acct3", Duration::from_millis(50))
        .await
        .expect("connect");
    redis.join(100).await.expect("join");
    // 60 held by a call whose guard died (or could not settle): 40 left.
    let lost = redis.try_reserve(60).await.expect("hold 60");
    // Its expiry (the keys of src/guard/redis.rs), then Redis's clock past it.
    let expires: f64 = command(
        &server,
        &["ZSCORE", "budget:{acct3}:hold-expiry", lost.id.as_str()],
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (secs, micros): (u64, u64) = command(&server, &["TIME"]).await;
        if (secs * 1000 + micros / 1000) as f64 > expires {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Redis's clock stood");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // past its 50 ms the hold is dropped on the next reservation, but its 60 units do not
    // come back (the API may have billed the call): 50 does not fit in 40.
    assert_eq!(
        redis.try_reserve(50).await,
        Err(StateError::Exceeded {
            needed: 50,
            left: 40
        })
    );
    // a late settle of the dropped hold changes nothing (neither back nor charged twice).
    redis.settle(&lost, 10).await.expect("late settle");
    assert_eq!(redis.left().await, Ok(40));
}

#[tokio::test]
async fn settling_survives_a_dropped_connection() {
    let server = RedisServer::start();
    let redis = RedisState::connect(&server.url(), "acct5", Duration::from_secs(60))
        .await
        .expect("connect");
    redis.join(1000).await.expect("join");
    let hold = redis.try_reserve(300).await.expect("hold 300");
    // Redis drops every client connection (a restart, a failover, a proxy timeout).
    let killed: i64 = command(&server, &["CLIENT", "KILL", "TYPE", "normal"]).await;
    assert!(killed >= 1, "the guard's connection was killed");
    // the first try fails on the dead connection; the next, on a new one, settles:
    // 300 held, 120 charged → 1000 − 120 = 880 left.
    redis.settle(&hold, 120).await.expect("settled on retry");
    assert_eq!(redis.left().await, Ok(880));
}

#[tokio::test]
async fn the_shared_budget_never_expires() {
    let server = RedisServer::start();
    let redis = RedisState::connect(&server.url(), "acct6", Duration::from_secs(60))
        .await
        .expect("connect");
    // a budget key left with an expiry (an older version set one): joining removes it.
    let _: () = command(&server, &["SET", redis.left_key(), "700", "PX", "5000"]).await;
    assert_eq!(redis.join(9999).await, Ok(Joined::Existing { left: 700 }));
    let hold = redis.try_reserve(100).await.expect("hold");
    let ttl: i64 = command(&server, &["PTTL", "budget:{acct6}:holds"]).await;
    assert!(ttl > 0, "the transient keys still expire: {ttl}");
    redis.settle(&hold, 100).await.expect("settle");
    // PTTL -1: the key exists and has no expiry.
    let ttl: i64 = command(&server, &["PTTL", redis.left_key()]).await;
    assert_eq!(ttl, -1);
}

#[tokio::test]
async fn unreachable_redis_is_a_clear_error() {
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("redis://{}", l.local_addr().expect("addr"))
    };
    let e = RedisState::connect(&url, "x", Duration::from_secs(1))
        .await
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("the shared state in Redis is unavailable"),
        "{text}"
    );
    assert!(text.contains("check --redis / BUDGET_REDIS_URL"), "{text}");
    let e = RedisState::connect("http://nope", "x", Duration::from_secs(1))
        .await
        .err()
        .expect("bad url");
    assert!(e.to_string().contains("the Redis URL is not valid"), "{e}");
}

// --- Equivalence: the same operations on both backends keep the same figures. ---

/// An operation on the budget; holds are named by their place among the holds taken so far.
#[derive(Debug, Clone)]
enum Op {
    Reserve(u64),
    /// Settles a hold with `charged` units billed (above its units: an overrun). A hold may be
    /// settled twice: the second gives nothing back.
    Settle {
        hold: usize,
        charged: u64,
    },
    Release {
        hold: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..600).prop_map(Op::Reserve),
        2 => (any::<usize>(), 0u64..1200).prop_map(|(hold, charged)| Op::Settle { hold, charged }),
        1 => any::<usize>().prop_map(|hold| Op::Release { hold }),
    ]
}

/// Invariant: the memory and Redis states, fed the same reserve/settle/release operations,
/// answer each the same way (a hold, or "needs N, L left") and keep the same units left and
/// unspent after each (bounded: 48 sequences of up to 24 operations, one private Redis).
#[test]
fn memory_and_redis_keep_the_same_figures() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let redis = Redis::new();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let sequences = (0u64..3000, prop::collection::vec(op(), 1..24));
    let result = runner.run(&sequences, |(budget, ops)| {
        runtime.block_on(async {
            let memory = Memory.plain(budget).await;
            let shared = redis.plain(budget).await;
            let mut holds = Vec::new();
            for op in &ops {
                match *op {
                    Op::Reserve(units) => {
                        let (a, b) = (
                            memory.try_reserve(units).await,
                            shared.try_reserve(units).await,
                        );
                        match (a, b) {
                            (Ok(a), Ok(b)) => {
                                prop_assert_eq!(a.units, b.units);
                                holds.push((a, b));
                            }
                            (a, b) => prop_assert_eq!(a.err(), b.err(), "{:?}", op),
                        }
                    }
                    Op::Settle { hold, charged } if !holds.is_empty() => {
                        let (a, b) = &holds[hold % holds.len()];
                        memory.settle(a, charged).await.expect("settle in memory");
                        shared.settle(b, charged).await.expect("settle in Redis");
                    }
                    Op::Release { hold } if !holds.is_empty() => {
                        let (a, b) = &holds[hold % holds.len()];
                        memory.release(a).await.expect("release in memory");
                        shared.release(b).await.expect("release in Redis");
                    }
                    _ => {}
                }
                prop_assert_eq!(memory.left().await, shared.left().await, "after {:?}", op);
                prop_assert_eq!(
                    memory.unspent().await,
                    shared.unspent().await,
                    "after {:?}",
                    op
                );
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
