//! `budget guard` under faults and hostile clients, as an operator meets them: a restart after
//! `kill -9`, Redis losing its data, half-sent requests at SIGTERM, more half-open connections
//! than open files, a flood of unauthenticated calls (late Redis answers: in process,
//! tests/guard_router.rs). Each test states the invariant it keeps;
//! each failed on the guard before these were handled (docs/guard.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::guard::{
    count, eventually, get, journal_lines, ledger_lines, one, run_clients, send_and_hold, Call,
    GuardProc,
};
use crate::support::redis_server::RedisServer;
use crate::support::simulator::{Simulator, KEY};
use crate::support::{Run, Scratch};

/// Runs `budget guard ARGS` expecting it to exit (at most 15 s; killed and failed otherwise).
#[track_caller]
fn guard_exits(api_url: &str, args: &[&str]) -> Run {
    let mut cmd = GuardProc::command(api_url, args);
    cmd.env("SERANKING_API_KEY", KEY);
    let mut child = cmd.spawn().expect("start budget guard");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the guard started instead of refusing:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from(child.wait_with_output().expect("output"))
}

fn kill_9(guard: &mut GuardProc) {
    guard.child.kill().expect("kill -9");
    guard.child.wait().expect("reap");
}

fn stderr_of(guard: &GuardProc) -> String {
    guard.stderr.lock().unwrap().clone()
}

fn summaries(journal: &str) -> Vec<Value> {
    journal_lines(journal)
        .into_iter()
        .filter(|l| l["kind"] == "refused_summary")
        .collect()
}

fn n_calls(journal: &str) -> usize {
    ledger_lines(journal).len()
}

/// Invariant: upstream billed ≤ budget across `kill -9` and restarts with the same flags
/// (before, a restart granted the whole --budget again: 3,000 became 6,000). The journal is
/// the record: a call killed in flight counts in full; a torn last line is skipped.
#[test]
fn a_restart_continues_the_budget_and_never_regrants() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let args = ["--budget", "1000", "--journal", journal.as_str()];
    // --ledger, the old name of --journal: the restarts below (with --journal) continue its record.
    let mut guard = GuardProc::start(sim.url(), &["--budget", "1000", "--ledger", &journal]);
    assert!(
        stderr_of(&guard).contains("a restart with it continues the budget"),
        "{}",
        stderr_of(&guard)
    );
    // 5 summary calls of one target: 5 × 100 = 500 units.
    let clients = (0..5)
        .map(|i| vec![get(&format!("/v1/backlinks/summary?target=a{i}.com"))])
        .collect();
    assert_eq!(
        count(&run_clients(std::slice::from_ref(&guard.url), clients), 200),
        5
    );
    assert_eq!(sim.charged(), 500);
    // A sixth (100 units) is at the API when the guard is killed.
    sim.set(|s| s.delay = Some(Duration::from_millis(1500)));
    let _client = send_and_hold(&guard.url, "/v1/backlinks/summary?target=cut.com");
    eventually("the API has the sixth call", || sim.requests() == 6);
    kill_9(&mut guard);
    // ... and as if it died mid-write too: a torn last line.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .and_then(|mut f| f.write_all(br#"{"time":"2026-11-26T0"#))
        .expect("append a torn line");
    sim.set(|s| s.delay = None);
    // Restarted with the same flags: 1,000 − (500 charged + 100 held by the killed call) = 400.
    let guard = GuardProc::start(sim.url(), &args);
    let text = stderr_of(&guard);
    for phrase in [
        "budget 400 units (--budget 1,000 − 600 spent before this start)",
        "continuing its budget (since ",
        "600 units spent before this start, 100 of them held by 1 calls that never ended (counted in full)",
        "its last line was torn (a crash mid-write)",
    ] {
        assert!(text.contains(phrase), "{phrase:?} not in:\n{text}");
    }
    // A second guard on the same journal would spend the same budget again: refused, exit 2.
    guard_exits(sim.url(), &args)
        .code(2)
        .stderr_has("is in use by another guard")
        .stderr_has("give each guard its own --journal, or share one budget through --redis");
    let clients = (0..10)
        .map(|i| vec![get(&format!("/v1/backlinks/summary?target=b{i}.com"))])
        .collect();
    let answers = run_clients(std::slice::from_ref(&guard.url), clients);
    assert_eq!(count(&answers, 200), 4, "{answers:?}");
    assert_eq!(count(&answers, 402), 6, "{answers:?}");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    // Restarted again: nothing left (500 + 100 + 400 = 1,000 spent).
    let guard = GuardProc::start(sim.url(), &args);
    assert!(
        stderr_of(&guard)
            .contains("budget 0 units (--budget 1,000 − 1,000 spent before this start)"),
        "{}",
        stderr_of(&guard)
    );
    assert_eq!(
        one(&guard.url, get("/v1/backlinks/summary?target=c.com")).status,
        402
    );
    guard.stop();
    // Billed: 500 + 400, + 100 if the API billed the killed call = at most 1,000.
    assert!(sim.charged() <= 1000, "billed {} of 1,000", sim.charged());
    // A deliberate fresh start is one flag; the restart after it continues the new budget.
    let fresh = [&args[..], &["--new-budget"]].concat();
    let guard = GuardProc::start(sim.url(), &fresh);
    assert!(
        stderr_of(&guard).contains(
            "a fresh budget (--new-budget): the 1,000 units spent under the previous one (since "
        ),
        "{}",
        stderr_of(&guard)
    );
    assert_eq!(
        one(&guard.url, get("/v1/backlinks/summary?target=d.com")).status,
        200
    );
    guard.stop();
    let guard = GuardProc::start(sim.url(), &args);
    assert!(
        stderr_of(&guard)
            .contains("budget 900 units (--budget 1,000 − 100 spent before this start)"),
        "{}",
        stderr_of(&guard)
    );
    guard.stop();
}

/// A plain Redis command on a connection of the test's own; the first line of the answer.
fn redis_command(redis: &RedisServer, command: &str) -> String {
    let addr = redis.url().trim_start_matches("redis://").to_string();
    let mut stream = TcpStream::connect(addr).expect("connect to redis");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .expect("send");
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).expect("answer");
    String::from_utf8_lossy(&buf[..n]).trim().to_string()
}

/// Invariant: upstream billed ≤ budget when Redis loses its data (before, a guard restarted
/// after Redis came back empty printed "(new shared budget)" and the API billed 8,000 of a
/// 5,000 budget). The running guard fails closed; a restarted one refuses to create the
/// shared budget again from --budget when its journal shows it spent, or when it has no
/// journal; the live balance (which shows what was spent) may create it.
#[test]
fn redis_losing_its_data_never_regrants() {
    let redis = RedisServer::start();
    let url = redis.url();
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let args = ["--budget", "1000", "--redis", &url, "--journal", &journal];
    // A first start (a journal without history): it creates the shared budget.
    let mut guard = GuardProc::start(sim.url(), &args);
    assert!(
        stderr_of(&guard).contains("(new shared budget)"),
        "{}",
        stderr_of(&guard)
    );
    // 10 × 100 = 1,000: all of it; the 11th does not fit.
    let calls: Vec<Call> = (0..11)
        .map(|i| get(&format!("/v1/backlinks/summary?target=r{i}.com")))
        .collect();
    let answers = run_clients(std::slice::from_ref(&guard.url), vec![calls]);
    assert_eq!(count(&answers, 200), 10, "{answers:?}");
    assert_eq!(count(&answers, 402), 1, "{answers:?}");
    // Redis restarts empty.
    assert_eq!(redis_command(&redis, "FLUSHALL"), "+OK");
    // The running guard fails closed.
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=x.com"));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body.contains("is gone"), "{}", answer.body);
    kill_9(&mut guard);
    // Restarted with the same flags: refused, exit 3; nothing was created.
    let run = guard_exits(sim.url(), &args);
    run.code(3)
        .stderr_has("the shared budget budget:{")
        .stderr_has("is not in Redis (Redis lost its data, or the key was deleted)")
        .stderr_has("1000 units by this guard")
        .stderr_has("would grant spent units a second time");
    assert!(!run.stderr.contains("new shared budget"), "{}", run.stderr);
    // Without a journal it cannot tell a first start from a restart: refused too.
    guard_exits(sim.url(), &["--budget", "1000", "--redis", &url])
        .code(3)
        .stderr_has("without --journal this guard cannot tell a first start from a restart");
    assert_eq!(redis_command(&redis, "EXISTS budget:{x}:left"), ":0");
    // The live balance may create it: 1,000,000 − 1,000 billed = 999,000, less the 1,000 the
    // journal shows spent in the last minutes (the API's balance may not show them yet):
    // 998,000. (The balance read is not the guarded traffic: lift the simulator's window, which
    // the calls above filled a moment ago.)
    sim.set(|s| s.rate_limit = None);
    let live = GuardProc::start(sim.url(), &["--redis", &url, "--journal", &journal]);
    let text = stderr_of(&live);
    assert!(
        text.contains("budget 998,000 units (live units_left 999,000 − 0 reserved by running jobs − 1,000 spent by this guard in the last minutes, not in the balance yet)")
            && text.contains("(new shared budget)"),
        "{text}"
    );
    live.stop();
    assert_eq!(sim.charged(), 1000);
}

/// Writes `bytes` on a new connection to the guard and leaves it open.
fn half_sent(guard_url: &str, bytes: &str) -> TcpStream {
    let mut stream =
        TcpStream::connect(guard_url.trim_start_matches("http://")).expect("connect to the guard");
    stream.write_all(bytes.as_bytes()).expect("send");
    stream
}

/// Invariant: SIGTERM ends the guard within the grace period, whatever clients do (before, one
/// connection with half its headers, or a POST whose body never came, kept it alive for good).
/// Idle and half-sent connections are dropped at once; a call in flight gets `--grace`, then
/// is abandoned (and counts as spent).
#[test]
fn half_sent_requests_never_keep_a_stopping_guard_alive() {
    let sim = Simulator::start_data(1_000_000);
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--grace", "2"]);
    let _head = half_sent(
        &guard.url,
        "GET /v1/backlinks/summary?target=a.com HTTP/1.1\r\nHost: guard\r\n",
    );
    let _body = half_sent(
        &guard.url,
        "POST /v1/backlinks/summary HTTP/1.1\r\nHost: guard\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"target\": [",
    );
    let _idle = TcpStream::connect(guard.url.trim_start_matches("http://")).expect("connect");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    // A call at the API (which takes a minute) when SIGTERM comes: half a second of grace,
    // then the guard exits and says so.
    sim.set(|s| s.delay = Some(Duration::from_secs(60)));
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--grace", "0.5"]);
    let _client = send_and_hold(&guard.url, "/v1/backlinks/summary?target=slow.com");
    eventually("the API has the call", || sim.requests() == 1);
    guard.term();
    let stopped = guard.wait(Duration::from_secs(12));
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains(
            "stopped after the 0.5 s grace period (--grace): 1 calls in flight were abandoned"
        ),
        "{}",
        stopped.stderr
    );
}

/// Invariant: half-open connections, more of them than the guard has files for, never stop a
/// real call from being served (before, under a 1,024 open-file limit 1,100 of them made the
/// guard unreachable). The cap fits the open-file limit; at the cap a new connection takes the
/// place of the oldest one without a call in progress.
#[test]
fn half_open_connections_above_the_cap_never_stop_a_real_call() {
    let sim = Simulator::start_data(1_000_000);
    let mut cmd = GuardProc::command(sim.url(), &["--budget", "1000"]);
    cmd.env("SERANKING_API_KEY", KEY);
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let guard = GuardProc::spawn(cmd);
    // (256 − 128 kept for the rest) / 2 = 64.
    assert!(
        stderr_of(&guard).contains(
            "at most 64 client connections: the open-file limit is 256 (--max-connections 512 would exhaust it)"
        ),
        "{}",
        stderr_of(&guard)
    );
    let held: Vec<TcpStream> = (0..300)
        .map(|_| half_sent(&guard.url, "GET /v1/backlinks/summary HTTP/1.1\r\n"))
        .collect();
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=real.com"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    drop(held);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}

/// Invariant: refusals before pricing never fill the disk: one summary line per 10 s, whatever
/// their number (before, 8 clients without the token wrote 42,929 lines in 5 s, ~6 GB an hour).
/// Calls that were priced keep their line.
#[test]
fn a_flood_of_unauthenticated_calls_writes_a_bounded_journal() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let token = scratch.file("token", "s3cret\n");
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "1000",
            "--client-token-file",
            &token,
            "--journal",
            &journal,
        ],
    );
    let started = Instant::now();
    // 8 clients × 250 calls without the token.
    let clients = (0..8)
        .map(|_| {
            (0..250)
                .map(|_| get("/v1/backlinks/summary?target=a.com"))
                .collect()
        })
        .collect();
    let answers = run_clients(std::slice::from_ref(&guard.url), clients);
    assert_eq!(count(&answers, 401), 2000);
    // One priced call with the token (a line of its own), and a body above 1 MiB (413).
    let with_token = Call {
        headers: vec![("X-Budget-Token".into(), "s3cret".into())],
        ..get("/v1/backlinks/summary?target=b.com")
    };
    assert_eq!(one(&guard.url, with_token.clone()).status, 200);
    let huge = Call {
        post: Some(format!("{{\"target\": [\"{}\"]}}", "x".repeat(1 << 20))),
        ..with_token
    };
    assert_eq!(one(&guard.url, huge).status, 413);
    let stopped = guard.stop();
    let elapsed = started.elapsed();
    assert!(
        stopped.stdout.contains("(refused before pricing)"),
        "{}",
        stopped.stdout
    );
    // Lines: 1 budget line, 1 call line, and summaries: at most one per 10 s elapsed, plus the
    // one written on stopping.
    let most = 1 + (elapsed.as_secs() / 10) as usize;
    let summaries = summaries(&journal);
    assert!(
        (1..=most).contains(&summaries.len()),
        "{} summaries in {elapsed:?}",
        summaries.len()
    );
    let refused: u64 = summaries
        .iter()
        .map(|s| s["counts"]["unauthorized"].as_u64().unwrap_or(0))
        .sum();
    let too_large: u64 = summaries
        .iter()
        .map(|s| s["counts"]["too_large"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!((refused, too_large), (2000, 1));
    assert_eq!(n_calls(&journal), 1);
    // budget line, the priced call's hold and call lines, the summaries.
    assert_eq!(journal_lines(&journal).len(), 3 + summaries.len());
}
