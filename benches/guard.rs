//! `cargo bench --bench guard`: the run-time guard against the simulator (a bench binary, not
//! criterion: what matters is a rate held over seconds and a latency distribution, not the
//! mean of a hot loop). About 20 seconds.
//!
//! 1. Throughput: 8 clients call as fast as they can through one guard (in-process, memory
//!    state) to the simulator, whose strict window answers 429 beyond 10 requests per second.
//!    Sustained rate = requests after the first window's burst / time from first to last reply.
//!    Goal: at least 9.5 requests/second with no 429. The margin the simulator saw: the
//!    shortest span of any 11 consecutive arrivals, minus one second (goal: at least the 25 ms
//!    `--rate-margin`, less the jitter of the simulator's own clock readings).
//! 2. Added latency: at about 9.5 calls per second (no call waits for the window), each call is
//!    made once directly to the simulator and once through the guard; the difference is what the
//!    guard adds (pricing, reservation, window, forwarding, ledger line). Goal: p50 under 1 ms,
//!    p99 under 5 ms.
//! 3. The same two measurements with the state in Redis, when `redis-server` is installed; the
//!    throughput through two guards sharing the window (where the margin once shrank to 1.1 ms).
//! 4. Memory under large bodies: 100 clients each send a 15 MB body to a `budget guard` process
//!    (half with a Content-Length, half chunked), then 100 send 1,000,000-byte bodies (under the
//!    limit) and hold back the last byte; its peak resident memory (VmHWM) before and after.
//!    Goal: bounded by the limits (docs/guard.md), not by what clients send.
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
        limits: budget::guard::Limits::default(),
        on_overrun: None,
    }
}

/// Starts a guard on 127.0.0.1:0; returns its base URL, its state and a stopper.
async fn start_guard(
    api_url: &str,
    backend: Backend,
    ledger: &std::path::Path,
) -> (String, Arc<State>, tokio::sync::oneshot::Sender<()>) {
    let state = Arc::new(State::new(backend, 10, Duration::from_secs(30), 1000));
    let (journal, _) = Journal::open(
        ledger,
        "bench",
        chrono::Utc::now(),
        Duration::from_secs(120),
        budget::guard::journal::Sharing::Alone,
    )
    .expect("journal");
    let journal = Arc::new(journal);
    let guard = Guard::bind(
        "127.0.0.1:0".parse().unwrap(),
        config(api_url),
        state.clone(),
        journal,
    )
    .await
    .expect("bind");
    let url = format!("http://{}", guard.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(guard.serve(async move {
        let _ = stopped.await;
    }));
    (url, state, stop)
}

async fn throughput(
    http: &reqwest::Client,
    guards: &[(String, Arc<State>)],
    sim: &Simulator,
    total: usize,
) {
    let before = sim.rate_limited();
    sim.set(|s| s.arrivals.clear());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (http, next) = (http.clone(), next.clone());
        let url = format!("{}{CALL}", guards[i % guards.len()].0);
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
    let margin = sim.read(|s| support::simulator::margin(&s.arrivals, 10));
    let missed: u64 = guards.iter().map(|(_, state)| state.missed_slots()).sum();
    println!(
        "  throughput through {} guard(s): {} calls ({ok} × 200) in {:.2} s; sustained {:.2} requests/second after the first burst; {} × 429 at the simulator; margin at the simulator {}; {missed} slots left unused",
        guards.len(),
        done.len(),
        (last - started).as_secs_f64(),
        sustained,
        sim.rate_limited() - before,
        margin.map_or("n/a".to_string(), |m| format!("{m:.1} ms")),
    );
}

/// Peak resident memory (VmHWM) of process `pid`, in MiB.
fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Large bodies against a `budget guard` process: its peak memory before and after.
///
/// - `clients` × 15 MB bodies, half with a Content-Length (refused at once), half chunked (read
///   up to the 1 MiB limit, then refused);
/// - `clients` × 1,000,000-byte bodies (under the limit) whose last byte is held back, so that
///   the guard holds them all at once: bounded by the 64 MiB it buffers across clients.
async fn large_bodies(sim: &Simulator, clients: usize) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_budget"))
        .args([
            "guard",
            "--listen",
            "127.0.0.1:0",
            "--budget",
            "1M",
            "--api-url",
            sim.url(),
        ])
        .env("SERANKING_API_KEY", KEY)
        .env("XDG_STATE_HOME", support::state_home())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start budget guard");
    let stderr = child.stderr.take().expect("stderr");
    // Read its stderr to the end (a closed pipe would stop the guard), handing the address over.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if let Some(addr) = line
                .strip_prefix("budget guard listening on http://")
                .and_then(|r| r.split_whitespace().next())
            {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the guard's address");
    let pid = child.id();
    let before = peak_mib(pid);
    let started = Instant::now();
    let statuses = send_bodies(&addr, clients, 15_000_000, false).await;
    let after_large = peak_mib(pid);
    println!(
        "  {clients} clients × 15 MB bodies (half chunked): answers {statuses:?} in {:.2} s; the guard's peak resident memory {before:.1} MiB before, {after_large:.1} MiB after",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let statuses = send_bodies(&addr, clients, 1_000_000, true).await;
    println!(
        "  {clients} clients × 1,000,000-byte bodies held open at once: answers {statuses:?} (0: held until the client left) in {:.2} s; peak {:.1} MiB",
        started.elapsed().as_secs_f64(),
        peak_mib(pid)
    );
    // SAFETY: signals only the child this bench started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();
}

/// `clients` POSTs of `len` bytes to `addr` (odd ones chunked); with `hold`, the last byte is
/// kept back until every client has sent the rest. The statuses answered, by count.
async fn send_bodies(
    addr: &str,
    clients: usize,
    len: usize,
    hold: bool,
) -> std::collections::BTreeMap<u16, usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let chunk = Arc::new(vec![b'x'; 64 << 10]);
    let sent_all = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (addr, chunk, sent_all) = (addr.to_string(), chunk.clone(), sent_all.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            let chunked = i % 2 == 1 && !hold;
            let head = if chunked {
                "POST /v1/backlinks/summary HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
            } else {
                format!("POST /v1/backlinks/summary HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n")
            };
            let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
            let until = if hold { len - 1 } else { len };
            let mut sent = 0;
            while ok && sent < until {
                let n = chunk.len().min(until - sent);
                let written = if chunked {
                    let mut framed = format!("{n:x}\r\n").into_bytes();
                    framed.extend_from_slice(&chunk[..n]);
                    framed.extend_from_slice(b"\r\n");
                    stream.write_all(&framed).await
                } else {
                    stream.write_all(&chunk[..n]).await
                };
                ok = written.is_ok(); // else the guard answered and closed
                sent += n;
            }
            let mut answer = vec![0u8; 64];
            let status = if hold {
                // Everyone has sent all but the last byte: the guard holds what it took.
                sent_all.wait().await;
                let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut answer));
                match read.await {
                    Ok(Ok(n)) => status_of(&answer[..n]),
                    _ => 0,
                }
            } else {
                let n = stream.read(&mut answer).await.unwrap_or(0);
                status_of(&answer[..n])
            };
            status
        }));
    }
    if hold {
        sent_all.wait().await;
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        *statuses.entry(t.await.expect("client")).or_default() += 1;
    }
    statuses
}

fn status_of(answer: &[u8]) -> u16 {
    std::str::from_utf8(answer)
        .ok()
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
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
        let (url, state, stop) = start_guard(
            sim.url(),
            Backend::Memory(MemoryState::new(u64::MAX / 4)),
            &dir.path().join("memory.jsonl"),
        )
        .await;
        throughput(&http, &[(url.clone(), state)], &sim, total).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        added_latency(&http, &url, &sim, calls).await;
        let _ = stop.send(());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        large_bodies(&sim, if quick { 6 } else { 100 }).await;

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
        let mut guards = Vec::new();
        let mut stops = Vec::new();
        for name in ["redis-a", "redis-b"] {
            let shared = RedisState::connect(&redis.url(), "bench", Duration::from_secs(120))
                .await
                .expect("redis");
            shared.join(1 << 50).await.expect("join");
            let (url, state, stop) = start_guard(
                sim.url(),
                Backend::Redis(Box::new(shared)),
                &dir.path().join(format!("{name}.jsonl")),
            )
            .await;
            guards.push((url, state));
            stops.push(stop);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        throughput(&http, &guards[..1], &sim, total).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        throughput(&http, &guards, &sim, total).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        added_latency(&http, &guards[0].0, &sim, calls).await;
        for stop in stops {
            let _ = stop.send(());
        }
    });
}
