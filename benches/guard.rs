//! `cargo bench --bench guard`: the run-time guard against the simulator (a bench binary, not
//! criterion: what matters is a rate held over seconds and a latency distribution, not the
//! mean of a hot loop). About 20 seconds.
//!
//! 1. Throughput: 8 clients call as fast as they can through one guard (in-process, memory
//!    state) to the simulator, whose strict window answers 429 beyond 10 requests per second.
//!    Sustained rate = requests after the first window's burst / time from first to last reply.
//!    Goal: at least 9.5 requests/second with no 429.
//! 2. Added latency: at about 9.5 calls per second (no call waits for the window), each call is
//!    made once directly to the simulator and once through the guard; the difference is what the
//!    guard adds (pricing, reservation, window, forwarding, ledger line). Goal: p50 under 1 ms,
//!    p99 under 5 ms.
//! 3. The same two measurements with the state in Redis, when `redis-server` is installed.
// Test and benchmark code may panic on a broken fixture and print what it measured; the
// library's lints (Cargo.toml) are for code that runs in users' hands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use budget::account::{ApiKey, AuthMethod, Backoff, KeyOrigin};
use budget::guard::redis::RedisState;
use budget::guard::{Backend, Config, Guard, Journal, MemoryState, State};
use budget::pricing::Pricing;
use support::redis_server::RedisServer;
use support::simulator::{Simulator, KEY};

const CALL: &str = "/v1/backlinks/summary?target=example.com";

fn config(api_url: &str) -> Config {
    Config {
        api_url: api_url.to_string(),
        key: ApiKey::new(KEY, KeyOrigin::Env).expect("key"),
        auth: AuthMethod::Header,
        pricing: Pricing::embedded().expect("pricing"),
        attempts: 5,
        timeout: Duration::from_secs(20),
        backoff: Backoff {
            base: Duration::from_millis(100),
        },
        client_token: None,
        on_overrun: None,
    }
}

/// Starts a guard on 127.0.0.1:0; returns its base URL and a stopper.
async fn start_guard(
    api_url: &str,
    backend: Backend,
    ledger: &std::path::Path,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let state = Arc::new(State::new(backend, 10, Duration::from_secs(30), 1000));
    let journal = Arc::new(Journal::open(Some(ledger)).expect("ledger"));
    let guard = Guard::bind(
        "127.0.0.1:0".parse().unwrap(),
        config(api_url),
        state,
        journal,
    )
    .await
    .expect("bind");
    let url = format!("http://{}", guard.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(guard.serve(async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

async fn throughput(http: &reqwest::Client, guard: &str, sim: &Simulator, total: usize) {
    let before = sim.rate_limited();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, next) = (http.clone(), format!("{guard}{CALL}"), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < total {
                let response = http.get(&url).send().await.expect("guard answers");
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                done.push((Instant::now(), status));
            }
            done
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.extend(t.await.expect("client"));
    }
    done.sort();
    let ok = done.iter().filter(|(_, s)| *s == 200).count();
    let first = done.first().map(|d| d.0).unwrap_or(started);
    let last = done.last().map(|d| d.0).unwrap_or(started);
    let sustained = (done.len() - 10) as f64 / (last - first).as_secs_f64();
    println!(
        "  throughput: {} calls ({ok} × 200) in {:.2} s; sustained {:.2} requests/second after the first burst; {} × 429 at the simulator",
        done.len(),
        (last - started).as_secs_f64(),
        sustained,
        sim.rate_limited() - before
    );
}

/// One GET, timed to the end of its body; `direct` adds the key (the guard adds its own).
async fn timed(http: &reqwest::Client, url: &str, direct: bool) -> Duration {
    let t = Instant::now();
    let mut request = http.get(url);
    if direct {
        request = request.header("Authorization", format!("Token {KEY}"));
    }
    let response = request.send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    let _ = response.bytes().await;
    t.elapsed()
}

async fn added_latency(http: &reqwest::Client, guard: &str, sim: &Simulator, calls: usize) {
    // Direct calls share the simulator with guarded ones: lift its window for this phase
    // (the guard still holds its own 10 per second; calls are paced below it).
    sim.set(|s| s.rate_limit = None);
    let direct_url = format!("{}{CALL}", sim.url());
    let guarded_url = format!("{guard}{CALL}");
    let period = Duration::from_millis(105);
    let mut added = Vec::with_capacity(calls);
    let mut through = Vec::with_capacity(calls);
    let mut next = Instant::now();
    for i in 0..calls {
        // Alternate which goes first: the first call after an idle pause wakes threads up.
        let (direct, guarded) = if i % 2 == 0 {
            let d = timed(http, &direct_url, true).await;
            (d, timed(http, &guarded_url, false).await)
        } else {
            let g = timed(http, &guarded_url, false).await;
            (timed(http, &direct_url, true).await, g)
        };
        through.push(guarded);
        added.push(guarded.as_secs_f64() - direct.as_secs_f64());
        next += period;
        tokio::time::sleep_until(next.into()).await;
    }
    sim.set(|s| s.rate_limit = Some(10));
    added.sort_by(f64::total_cmp);
    through.sort();
    let pct = |v: &[f64], p: f64| {
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1] * 1000.0
    };
    println!(
        "  added latency over {calls} calls at 9.5/s: p50 {:.3} ms, p99 {:.3} ms (through the guard: p50 {:.3} ms, p99 {:.3} ms)",
        pct(&added, 0.50),
        pct(&added, 0.99),
        through[calls / 2].as_secs_f64() * 1000.0,
        through[((calls * 99).div_ceil(100)).clamp(1, calls) - 1].as_secs_f64() * 1000.0,
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (total, calls) = if quick { (12, 4) } else { (50, 40) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let sim = Simulator::start_data(u64::MAX / 4);
        println!("guard, state in this process:");
        let (url, stop) = start_guard(
            sim.url(),
            Backend::Memory(MemoryState::new(u64::MAX / 4)),
            &dir.path().join("memory.jsonl"),
        )
        .await;
        throughput(&http, &url, &sim, total).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        added_latency(&http, &url, &sim, calls).await;
        let _ = stop.send(());

        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("guard, state in Redis: skipped (redis-server is not installed)");
            return;
        }
        let redis = RedisServer::start();
        println!("guard, state in Redis ({}):", redis.url());
        let shared = RedisState::connect(&redis.url(), "bench", Duration::from_secs(120))
            .await
            .expect("redis");
        shared.join(1 << 50).await.expect("join");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (url, stop) = start_guard(
            sim.url(),
            Backend::Redis(Box::new(shared)),
            &dir.path().join("redis.jsonl"),
        )
        .await;
        throughput(&http, &url, &sim, total).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        added_latency(&http, &url, &sim, calls).await;
        let _ = stop.send(());
    });
}
