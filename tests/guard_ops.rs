//! Running the guard in production (docs/guard.md): metrics,
//! the status endpoint, threshold alerts, shadow mode and per-client budgets, end to end
//! against the simulator (and Redis for shared mode). Figures are checked against the journal
//! the same guard wrote: the two must never disagree.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::guard::{get, journal_lines, ledger_lines, one, run_clients, Call, GuardProc};
use crate::support::redis_server::RedisServer;
use crate::support::simulator::{Fault, Simulator, KEY};
use crate::support::{run, Scratch};

/// The metrics listener's base URL, from the startup text.
fn metrics_url(guard: &GuardProc) -> String {
    let stderr = guard.stderr.lock().unwrap().clone();
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("  metrics on "))
        .unwrap_or_else(|| panic!("no metrics line:\n{stderr}"));
    line.split("/metrics").next().unwrap().to_string()
}

/// `GET url` with extra headers: status and body (at most 10 s).
fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    })
}

/// The value of one sample line of an exposition (`None` when absent).
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

/// Sum of `units_charged` of a journal's call lines for `endpoint`.
fn charged_in(lines: &[Value], endpoint: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l["endpoint"] == endpoint)
        .map(|l| l["units_charged"].as_u64().unwrap())
        .sum()
}

fn summary(n: usize) -> Call {
    get(&format!("/v1/backlinks/summary?target=site{n}.com"))
}

fn with_token(call: Call, token: &str) -> Call {
    Call {
        headers: vec![("X-Budget-Token".into(), token.into())],
        ..call
    }
}

/// Invariant: `/metrics` counts what the journal records (the same events feed both), and
/// `/budget/status` shows the budget the journal's lines add up to.
#[test]
fn metrics_and_status_match_the_journal() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "250",
            "--journal",
            &journal,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    // Two summaries of 100 fit (200), a third does not (100 > 50 left); an unknown path is
    // refused before pricing. The first call meets one 429 and is retried.
    sim.set(|s| s.faults.push_back(Fault::TooManyRequests));
    let answers = run_clients(
        std::slice::from_ref(&guard.url),
        vec![vec![
            summary(1),
            summary(2),
            summary(3),
            get("/v1/no/such/thing"),
        ]],
    );
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![200, 200, 402, 501], "{answers:?}");
    let base = metrics_url(&guard);
    let (code, health) = fetch(&format!("{base}/healthz"), &[]);
    assert_eq!((code, health.as_str()), (200, r#"{"status":"ok"}"#));
    let (code, metrics) = fetch(&format!("{base}/metrics"), &[]);
    assert_eq!(code, 200);
    let (code, status) = fetch(&format!("{base}/budget/status"), &[]);
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&status).unwrap();
    // The same status on the API listener (no token set: anyone local may read it).
    let (code, api_status) = fetch(&format!("{}/budget/status", guard.url), &[]);
    assert_eq!(code, 200);
    let api_status: Value = serde_json::from_str(&api_status).unwrap();
    assert_eq!(api_status["budget"], status["budget"]);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);

    let lines = ledger_lines(&journal);
    let calls = |outcome: &str| lines.iter().filter(|l| l["outcome"] == outcome).count() as f64;
    // By hand: 100 + 100 charged; 2 charged calls, 1 over budget.
    assert_eq!(charged_in(&lines, "backlinks/summary"), 200);
    assert_eq!(
        sample(
            &metrics,
            r#"budget_guard_units_charged_total{endpoint="backlinks/summary"}"#
        ),
        Some(200.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"budget_guard_calls_total{endpoint="backlinks/summary",outcome="forwarded"}"#
        ),
        Some(calls("charged"))
    );
    assert_eq!(
        sample(
            &metrics,
            r#"budget_guard_calls_total{endpoint="backlinks/summary",outcome="over_budget"}"#
        ),
        Some(calls("over_budget"))
    );
    // The unknown path: one refusal before pricing in the journal's summary line, one call of
    // the `other` endpoint in the metrics (never its path).
    let refused: u64 = journal_lines(&journal)
        .iter()
        .filter(|l| l["kind"] == "refused_summary")
        .map(|l| l["counts"]["unknown_endpoint"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(refused, 1);
    assert_eq!(
        sample(
            &metrics,
            r#"budget_guard_calls_total{endpoint="other",outcome="bad_request"}"#
        ),
        Some(1.0)
    );
    assert!(!metrics.contains("no/such"), "{metrics}");
    // 250 budget, 200 spent, 50 left, nothing in flight; 4 requests reached the proxy.
    assert_eq!(sample(&metrics, "budget_guard_budget_units"), Some(250.0));
    assert_eq!(sample(&metrics, "budget_guard_units_spent"), Some(200.0));
    assert_eq!(sample(&metrics, "budget_guard_units_remaining"), Some(50.0));
    assert_eq!(
        sample(&metrics, "budget_guard_request_duration_seconds_count"),
        Some(4.0)
    );
    assert!(metrics.contains("# TYPE budget_guard_request_duration_seconds histogram"));
    assert_eq!(
        sample(
            &metrics,
            r#"budget_guard_upstream_retries_total{status="429"}"#
        ),
        Some(1.0)
    );
    let attempts: u64 = lines.iter().map(|l| l["attempts"].as_u64().unwrap()).sum();
    // 2 + 1 retry for the charged calls; the refused one made none.
    assert_eq!(attempts, 3);
    // The status: the journal's 200 charged, of 250; 50 left.
    assert_eq!(status["version"], 1);
    assert_eq!(status["mode"], "enforce");
    assert_eq!(status["budget"]["source"], "flag");
    assert_eq!(status["budget"]["budget_units"], 250);
    assert_eq!(status["budget"]["spent_units"], 200);
    assert_eq!(status["budget"]["remaining_units"], 50);
    assert_eq!(status["budget"]["reserved_units"], 0);
    assert_eq!(status["calls"]["units_charged"], 200);
    assert_eq!(status["calls"]["over_budget"], 1);
    assert_eq!(
        status["calls"]["by_outcome"],
        serde_json::json!({"bad_request": 1, "forwarded": 2, "over_budget": 1})
    );
    assert_eq!(
        status["calls"]["refused_by_reason"],
        serde_json::json!({"unknown_endpoint": 1})
    );
    assert_eq!(status["rate"]["requests_per_second"], 10);
    assert_eq!(status["rate"]["window_ms"], 1025);
    let epoch = journal_lines(&journal)[0]["epoch"].clone();
    assert_eq!(status["epoch"], epoch);
}

/// Invariant: a guard with a client token answers its status only to a caller with the
/// token; the metrics listener's token protects /metrics and /budget/status, not /healthz.
#[test]
fn the_status_and_metrics_are_token_protected() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let token = scratch.file("token", "client-tok\n");
    let scrape = scratch.file("scrape", "scrape-tok\n");
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "250",
            "--client-token-file",
            &token,
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-token-file",
            &scrape,
        ],
    );
    let status = format!("{}/budget/status", guard.url);
    assert_eq!(fetch(&status, &[]).0, 401);
    assert_eq!(fetch(&status, &[("X-Budget-Token", "client-tok")]).0, 200);
    let base = metrics_url(&guard);
    let (code, body) = fetch(&format!("{base}/metrics"), &[]);
    assert_eq!(code, 401);
    assert!(body.contains("Authorization: Bearer TOKEN"), "{body}");
    assert_eq!(
        fetch(
            &format!("{base}/metrics"),
            &[("Authorization", "Bearer client-tok")]
        )
        .0,
        401
    );
    assert_eq!(
        fetch(
            &format!("{base}/metrics"),
            &[("Authorization", "Bearer scrape-tok")]
        )
        .0,
        200
    );
    assert_eq!(fetch(&format!("{base}/budget/status"), &[]).0, 401);
    assert_eq!(fetch(&format!("{base}/healthz"), &[]).0, 200);
    guard.stop();
}

/// A local webhook receiver: records each POST's path and body, answers 500 to the first
/// `fail_first` requests and 200 after.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, done) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut served = 0;
            while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                record
                    .lock()
                    .unwrap()
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                served += 1;
                let status = if served <= fail_first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { url, got, stop }
    }

    /// Waits (at most 30 s) until `n` requests have arrived; returns them.
    #[track_caller]
    fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The alerts received with a 200 (the last of each run of retries), by threshold.
    fn thresholds(got: &[(String, String)]) -> Vec<u64> {
        let mut seen: Vec<u64> = got
            .iter()
            .map(|(_, body)| {
                serde_json::from_str::<Value>(body).unwrap()["threshold_percent"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        seen.dedup();
        seen
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Invariant: each threshold is sent once per budget, also across a restart (the journal
/// records the claim); a failed webhook is retried; the webhook's secret path and the key are
/// never shown.
#[test]
fn thresholds_fire_once_across_a_restart() {
    let sim = Simulator::start_data(1_000_000);
    // The first POST fails (500): the guard retries it.
    let receiver = Receiver::start(1);
    let hook = format!("{}/services/T0/B0/hook-secret", receiver.url);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let args = [
        "--budget",
        "1000",
        "--journal",
        &journal,
        "--alert-webhook",
        &hook,
        "--alert-at",
        "50%,80%",
    ];
    let guard = GuardProc::start(sim.url(), &args);
    let stderr = guard.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains(&format!(
            "alerts at 50%, 80% of the budget, once each: webhook {}/…",
            receiver.url
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hook-secret"), "{stderr}");
    // 5 × 100 = 500 of 1,000: 50%.
    run_clients(
        std::slice::from_ref(&guard.url),
        vec![(0..5).map(summary).collect()],
    );
    // The failed attempt and its retry.
    let got = receiver.wait_for(2);
    assert!(got
        .iter()
        .all(|(path, _)| path == "/services/T0/B0/hook-secret"));
    let alert: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(alert["threshold_percent"], 50);
    assert_eq!(alert["budget_units"], 1000);
    assert_eq!(alert["spent_units"], 500);
    assert_eq!(alert["remaining_units"], 500);
    assert_eq!(alert["account"].as_str().unwrap().len(), 16);
    assert!(
        alert["text"].as_str().unwrap().starts_with(
            "budget guard: 50% of the budget is spent — 500 of 1,000 units; 500 units left"
        ),
        "{alert}"
    );
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    // Restart on the same journal: 50% is on record, not sent again.
    let guard = GuardProc::start(sim.url(), &args);
    let stderr = guard.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains("(50% sent for this budget already)"),
        "{stderr}"
    );
    // 3 × 100 more: 800 of 1,000, 80%.
    run_clients(
        std::slice::from_ref(&guard.url),
        vec![(5..8).map(summary).collect()],
    );
    // A re-sent 50% would come before the 80% (one queue, ascending): three requests in all.
    let got = receiver.wait_for(3);
    assert_eq!(Receiver::thresholds(&got), vec![50, 80]);
    let alert: Value = serde_json::from_str(&got[2].1).unwrap();
    assert_eq!(alert["spent_units"], 800);
    guard.stop();
    for (_, body) in receiver.got.lock().unwrap().iter() {
        assert!(!body.contains(KEY), "{body}");
    }
    // The journal holds one alert line per threshold.
    let alerts: Vec<u64> = journal_lines(&journal)
        .iter()
        .filter(|l| l["kind"] == "alert")
        .map(|l| l["threshold_percent"].as_u64().unwrap())
        .collect();
    assert_eq!(alerts, vec![50, 80]);
}

/// Invariant: a guard stopped right after the call that crossed a threshold still sends its
/// alert before it exits (a last check, then the queue is delivered).
#[test]
fn an_alert_the_last_call_crossed_goes_out_before_the_guard_exits() {
    let sim = Simulator::start_data(1_000_000);
    let receiver = Receiver::start(0);
    let hook = format!("{}/hook", receiver.url);
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "200",
            "--alert-webhook",
            &hook,
            "--alert-at",
            "50%",
        ],
    );
    // 100 of 200: 50%; then stop at once.
    assert_eq!(one(&guard.url, summary(1)).status, 200);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(Receiver::thresholds(&got), vec![50], "{}", stopped.stderr);
}

/// Invariant: of two guards sharing a budget in Redis, exactly one sends each threshold (an
/// atomic claim), and only that one journals it.
#[test]
fn two_guards_on_one_redis_send_each_threshold_once() {
    let redis = RedisServer::start();
    let sim = Simulator::start_data(1_000_000);
    let receiver = Receiver::start(0);
    let hook = format!("{}/hook", receiver.url);
    let scratch = Scratch::new();
    let journals = [
        scratch.path().join("a.jsonl").display().to_string(),
        scratch.path().join("b.jsonl").display().to_string(),
    ];
    let args = |journal: &str| {
        vec![
            "--budget".to_string(),
            "1000".into(),
            "--redis".into(),
            redis.url(),
            "--journal".into(),
            journal.to_string(),
            "--alert-webhook".into(),
            hook.clone(),
            "--alert-at".into(),
            "50%,80%".into(),
        ]
    };
    let first_args = args(&journals[0]);
    let first = GuardProc::start(
        sim.url(),
        &first_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let second_args = args(&journals[1]);
    let second = GuardProc::start(
        sim.url(),
        &second_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    // 10 calls of 100 through both guards: 1,000 of 1,000.
    run_clients(
        &[first.url.clone(), second.url.clone()],
        (0..10).map(|i| vec![summary(i)]).collect(),
    );
    let got = receiver.wait_for(2);
    // Each from whichever guard claimed it: in either order.
    let mut thresholds = Receiver::thresholds(&got);
    thresholds.sort();
    assert_eq!(thresholds, vec![50, 80]);
    // Both guards know both thresholds fired (the status), each claimed by one of them.
    // The first created the shared budget from --budget, the second joined it.
    for (guard, source) in [(&first, "flag"), (&second, "shared")] {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, status) = fetch(&format!("{}/budget/status", guard.url), &[]);
            let status: Value = serde_json::from_str(&status).unwrap();
            if status["alerts"]["fired_percent"] == serde_json::json!([50, 80]) {
                assert_eq!(status["budget"]["spent_units"], 1000);
                assert_eq!(status["budget"]["source"], source);
                break;
            }
            assert!(Instant::now() < deadline, "{status}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    first.stop();
    second.stop();
    let mut claimed: Vec<u64> = journals
        .iter()
        .flat_map(|j| journal_lines(j))
        .filter(|l| l["kind"] == "alert")
        .map(|l| l["threshold_percent"].as_u64().unwrap())
        .collect();
    claimed.sort();
    assert_eq!(claimed, vec![50, 80]);
    assert_eq!(receiver.got.lock().unwrap().len(), 2);
}

/// Invariant: shadow mode forwards the call enforcement refuses, charges it, and says so in
/// the journal (`would_refuse`), the metrics and the summary.
#[test]
fn shadow_mode_forwards_what_enforce_refuses() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    // Enforced: 3 × 100 against 250: the third is refused.
    let enforce = GuardProc::start(sim.url(), &["--budget", "250"]);
    let answers = run_clients(
        std::slice::from_ref(&enforce.url),
        vec![(0..3).map(summary).collect()],
    );
    assert_eq!(answers[2].status, 402);
    enforce.stop();
    assert_eq!(sim.charged(), 200);
    // Shadow: the same three are forwarded; the third carries would_refuse.
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let shadow = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "250",
            "--shadow",
            "--journal",
            &journal,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let stderr = shadow.stderr.lock().unwrap().clone();
    assert!(stderr.contains("shadow mode (--shadow)"), "{stderr}");
    let answers = run_clients(
        std::slice::from_ref(&shadow.url),
        vec![(0..3).map(summary).collect()],
    );
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    // 200 before + 3 × 100 now.
    assert_eq!(sim.charged(), 500);
    let (_, metrics) = fetch(&format!("{}/metrics", metrics_url(&shadow)), &[]);
    let (_, status) = fetch(&format!("{}/budget/status", shadow.url), &[]);
    let status: Value = serde_json::from_str(&status).unwrap();
    let stopped = shadow.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let lines = ledger_lines(&journal);
    let flags: Vec<bool> = lines
        .iter()
        .map(|l| l.get("would_refuse").is_some_and(|v| v == true))
        .collect();
    assert_eq!(flags, vec![false, false, true]);
    assert!(lines.iter().all(|l| l["outcome"] == "charged"));
    assert_eq!(
        sample(
            &metrics,
            r#"budget_guard_would_refuse_total{endpoint="backlinks/summary"}"#
        ),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, "budget_guard_shadow_mode"), Some(1.0));
    // 250 − 300 = −50: the shadow budget went below zero.
    assert_eq!(status["mode"], "shadow");
    assert_eq!(status["budget"]["remaining_units"], -50);
    assert_eq!(status["calls"]["would_refuse"], 1);
    assert!(
        stopped.stdout.contains(
            "shadow mode: 1 calls would have been refused for the budget (priced at 100 units)"
        ),
        "{}",
        stopped.stdout
    );
}

/// Two clients: `seo` (token seo-tok, 200 units of its own), `ads` (80% of the guard's).
fn clients_file(scratch: &Scratch) -> String {
    scratch.file("seo.token", "seo-tok\n");
    scratch.file("ads.token", "ads-tok\n");
    scratch.file(
        "clients.yaml",
        "clients:\n  - name: seo\n    token_file: seo.token\n    budget: 200\n  - name: ads\n    token_file: ads.token\n    budget: 80%\n    rate_share: 50%\n",
    )
}

/// Invariant: a client over its own budget is refused (402 naming its budget) while the other
/// goes on; the guard's total still holds for both.
#[test]
fn two_clients_are_refused_independently_while_the_total_holds() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let clients = clients_file(&scratch);
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "500",
            "--journal",
            &journal,
            "--clients",
            &clients,
        ],
    );
    let stderr = guard.stderr.lock().unwrap().clone();
    // ads: 80% of 500 = 400; half of 10 requests/second.
    assert!(
        stderr.contains("clients (each sends its own token): seo (200 units); ads (400 units, 5 requests/second)"),
        "{stderr}"
    );
    // No token, or one no client has: 401.
    assert_eq!(one(&guard.url, summary(0)).status, 401);
    assert_eq!(one(&guard.url, with_token(summary(0), "other")).status, 401);
    // seo: 100 + 100 of its 200; the third is refused by its own budget.
    let seo: Vec<u16> = (1..4)
        .map(|i| one(&guard.url, with_token(summary(i), "seo-tok")).status)
        .collect();
    assert_eq!(seo, vec![200, 200, 402]);
    let refusal = one(&guard.url, with_token(summary(9), "seo-tok"));
    assert!(
        refusal
            .body
            .contains("needs 100 units, 0 left of client seo's budget of 200 units"),
        "{}",
        refusal.body
    );
    // ads goes on: the guard has 500 − 200 = 300 left, ads 400 of its own: three fit, then
    // the total (0 left) refuses it although its own budget has 100.
    let ads: Vec<u16> = (10..14)
        .map(|i| one(&guard.url, with_token(summary(i), "ads-tok")).status)
        .collect();
    assert_eq!(ads, vec![200, 200, 200, 402]);
    let refusal = one(&guard.url, with_token(summary(20), "ads-tok"));
    assert!(
        refusal.body.contains("0 left of the guard's budget"),
        "{}",
        refusal.body
    );
    assert_eq!(sim.charged(), 500);
    // ads sees its own figures only.
    let (_, status) = fetch(
        &format!("{}/budget/status", guard.url),
        &[("X-Budget-Token", "ads-tok")],
    );
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["clients"].as_array().unwrap().len(), 1);
    // ads: 400 − 300 = 100 left, 300 spent.
    assert_eq!(status["clients"][0]["name"], "ads");
    assert_eq!(status["clients"][0]["remaining_units"], 100);
    assert_eq!(status["clients"][0]["spent_units"], 300);
    assert_eq!(status["budget"]["remaining_units"], 0);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    // The journal names each call's client; the summary has a row per client.
    let lines = ledger_lines(&journal);
    let seo_charged: u64 = lines
        .iter()
        .filter(|l| l["client"] == "seo")
        .map(|l| l["units_charged"].as_u64().unwrap())
        .sum();
    assert_eq!(seo_charged, 200);
    assert_eq!(lines.iter().filter(|l| l["client"] == "ads").count(), 5);
    assert!(
        stopped.stdout.contains("Spend by client"),
        "{}",
        stopped.stdout
    );
    let row = stopped
        .stdout
        .lines()
        .find(|l| l.contains(" seo "))
        .expect("seo row");
    // seo: 4 calls, 2 charged, 2 over budget, 200 units.
    for cell in ["4", "2", "200"] {
        assert!(row.contains(cell), "{row}");
    }
    // A restart continues the clients' budgets from the journal: seo has 0 left.
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "500",
            "--journal",
            &journal,
            "--clients",
            &clients,
        ],
    );
    assert_eq!(
        one(&guard.url, with_token(summary(30), "seo-tok")).status,
        402
    );
    guard.stop();
}

/// Invariant: in Redis mode a client's budget is shared by every guard, as the total is.
#[test]
fn client_budgets_are_shared_through_redis() {
    let redis = RedisServer::start();
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let clients = clients_file(&scratch);
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let args = [
        "--budget",
        "1000",
        "--redis",
        &redis.url(),
        "--journal",
        &journal,
        "--clients",
        &clients,
    ];
    let first = GuardProc::start(sim.url(), &args);
    let second = GuardProc::start(sim.url(), &args);
    // seo's 200: one call on each guard, then the third (on either) is refused.
    assert_eq!(
        one(&first.url, with_token(summary(1), "seo-tok")).status,
        200
    );
    assert_eq!(
        one(&second.url, with_token(summary(2), "seo-tok")).status,
        200
    );
    let refusal = one(&first.url, with_token(summary(3), "seo-tok"));
    assert_eq!(refusal.status, 402);
    assert!(
        refusal.body.contains("client seo's budget of 200 units"),
        "{}",
        refusal.body
    );
    // ads (80% of 1,000 = 800) is unaffected.
    assert_eq!(
        one(&second.url, with_token(summary(4), "ads-tok")).status,
        200
    );
    let (_, status) = fetch(
        &format!("{}/budget/status", first.url),
        &[("X-Budget-Token", "ads-tok")],
    );
    let status: Value = serde_json::from_str(&status).unwrap();
    // 1,000 − 300 = 700 left of the shared budget; ads 800 − 100 = 700.
    assert_eq!(status["budget"]["remaining_units"], 700);
    assert_eq!(status["clients"][0]["remaining_units"], 700);
    first.stop();
    second.stop();
}

/// Invariant: a client's share of the rate holds its own calls back, not the other clients'.
#[test]
fn a_clients_share_of_the_rate_is_its_own() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    scratch.file("seo.token", "seo-tok\n");
    scratch.file("ads.token", "ads-tok\n");
    let clients = scratch.file(
        "clients.yaml",
        "clients:\n  - name: seo\n    token_file: seo.token\n    rps: 1\n  - name: ads\n    token_file: ads.token\n",
    );
    // seo may start 1 call per window; a call that cannot within 0.2 s gets a 503.
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "1000",
            "--clients",
            &clients,
            "--max-wait",
            "0.2",
        ],
    );
    let poll = get("/v1/backlinks/export/status?task_id=1");
    assert_eq!(
        one(&guard.url, with_token(poll.clone(), "seo-tok")).status,
        200
    );
    let second = one(&guard.url, with_token(poll.clone(), "seo-tok"));
    assert_eq!(second.status, 503, "{}", second.body);
    assert!(
        second.body.contains(
            "client seo's share of the rate (1 requests/second) had no free slot in time"
        ),
        "{}",
        second.body
    );
    // ads has no share of its own: only the guard's 10 per second hold it.
    for _ in 0..3 {
        assert_eq!(
            one(&guard.url, with_token(poll.clone(), "ads-tok")).status,
            200
        );
    }
    guard.stop();
}

/// Invariant: the alert command runs without a shell, in an environment holding the alert's
/// fields and not the guard's key.
#[test]
fn the_alert_command_gets_the_fields_and_never_the_key() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let (command, out) = recording_command(&scratch);
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "200",
            "--alert-command",
            &command,
            "--alert-at",
            "50%",
        ],
    );
    // 100 of 200: 50%.
    assert_eq!(one(&guard.url, summary(1)).status, 200);
    let file = out.join("alert-50");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(Instant::now() < deadline, "the command never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let env = std::fs::read_to_string(&file).unwrap();
    for line in [
        "BUDGET_ALERT_THRESHOLD_PERCENT=50",
        "BUDGET_ALERT_BUDGET_UNITS=200",
        "BUDGET_ALERT_SPENT_UNITS=100",
        "BUDGET_ALERT_REMAINING_UNITS=100",
        "BUDGET_ALERT_TEXT=budget guard: 50% of the budget is spent — 100 of 200 units; 100 units left",
    ] {
        assert!(env.lines().any(|l| l.starts_with(line)), "{line} not in:\n{env}");
    }
    assert!(!env.contains(KEY), "{env}");
    assert!(!env.contains("SERANKING_API_KEY"), "{env}");
    guard.stop();
}

/// An alert command that records its environment in `OUT/alert-PERCENT` (written whole, then
/// moved in place), and `OUT`.
fn recording_command(scratch: &Scratch) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let script = scratch.file(
        "record.sh",
        "#!/bin/sh\nenv > \"$1/tmp\" && mv \"$1/tmp\" \"$1/alert-$BUDGET_ALERT_THRESHOLD_PERCENT\"\n",
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = scratch.path().join("out");
    std::fs::create_dir(&out).unwrap();
    (format!("{script} {}", out.display()), out)
}

/// Invariant: each alert destination has its own line: a webhook that never answers (each
/// attempt waits 10 s, four attempts) does not hold back the command (before: the command ran
/// some 43 s late, and the next thresholds' not at all before the guard stopped).
#[test]
fn a_hanging_webhook_never_holds_back_the_command() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    // Accepts connections (the kernel's backlog) and never answers them.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let webhook = format!("http://{}/hook", silent.local_addr().expect("addr"));
    let (command, out) = recording_command(&scratch);
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "200",
            "--alert-webhook",
            &webhook,
            "--alert-command",
            &command,
            "--alert-at",
            "50%,100%",
        ],
    );
    // 100 of 200: 50%; 200 of 200: 100%.
    assert_eq!(one(&guard.url, summary(1)).status, 200);
    assert_eq!(one(&guard.url, summary(1)).status, 200);
    // Well inside one webhook attempt's 10 s.
    let deadline = Instant::now() + Duration::from_secs(8);
    for percent in [50, 100] {
        let file = out.join(format!("alert-{percent}"));
        while !file.exists() {
            assert!(
                Instant::now() < deadline,
                "the {percent}% command waited for the webhook"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Killed, not stopped: a stopping guard would wait up to 15 s for the webhook.
    drop(guard);
}

/// Every new flag's problems: exit 2 with the flag and what to do.
#[test]
fn bad_operations_flags_exit_2() {
    let scratch = Scratch::new();
    let clients = scratch.file(
        "clients.yaml",
        "clients:\n  - name: 'no spaces'\n    token_file: none.token\n    budget: lots\n",
    );
    // Every problem of a clients file at once: an unknown field, a bad name and a token two
    // clients share (before: only the name; the shared token once the name was fixed).
    scratch.file("ta.tok", "tok-aaaaaaaaaaaaaaaa\n");
    scratch.file("dup.tok", "tok-aaaaaaaaaaaaaaaa\n");
    let shared = scratch.file(
        "shared.yaml",
        "clients:\n  - name: a\n    token_file: ta.tok\n  - name: 'a b'\n    token_file: dup.tok\n    colour: red\n",
    );
    let bare = scratch.file("bare.yaml", "- name: a\n  token_file: ta.tok\n");
    for (args, phrases) in [
        (
            vec!["--clients", &shared],
            vec![
                "client 2: unknown field \"colour\"; a client has name, token_file",
                "client 2 (\"a b\"), name: use 1 to 64 letters",
                "clients \"a\" and \"a b\" have the same token",
            ],
        ),
        (
            vec!["--clients", &bare],
            vec!["is not a list of clients; write it as `clients:`"],
        ),
        // Several flags to fix: an `error:` line each (before: one line joined by a literal `\n`).
        (
            vec!["--max-wait=-1", "--grace=-3"],
            vec!["error: --max-wait: -1 is not a number of seconds\nerror: --grace: -3 is not a number of seconds\n"],
        ),
        (
            vec!["--metrics-listen", "0.0.0.0:9187"],
            vec![
                "--metrics-listen: 0.0.0.0:9187 is reachable from other machines",
                "--metrics-token-file",
            ],
        ),
        (
            vec!["--alert-at", "80%"],
            vec!["--alert-at: alerts need somewhere to go"],
        ),
        (
            vec![
                "--alert-webhook",
                "hooks.example/x",
                "--alert-at",
                "50%,150%",
            ],
            vec![
                "--alert-webhook: give an http:// or https:// URL",
                "--alert-at: \"150%\" is not a whole percentage",
            ],
        ),
        (
            vec!["--clients", &clients],
            vec![
                "client 1 (\"no spaces\"), name: use 1 to 64 letters",
                "client 1 (\"no spaces\"), token_file: cannot read the token file",
                "client 1 (\"no spaces\"), budget: ",
            ],
        ),
    ] {
        let mut all = vec!["guard", "--budget", "10"];
        all.extend(args.iter().copied());
        let r = run(&all);
        r.code(2);
        for phrase in phrases {
            r.stderr_has(phrase);
        }
    }
}

/// The metrics listener's router in process (`budget::guard::Guard::monitor`), for what a
/// process cannot easily show: Redis lost under a running guard.
mod in_process {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use crate::support::redis_server::RedisServer;
    use budget::account::{ApiKey, AuthMethod, Backoff, KeyOrigin};
    use budget::guard::redis::RedisState;
    use budget::guard::{Backend, Config, Guard, Journal, Ops, State};

    async fn get(router: &axum::Router, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("served");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Invariant: the health check and the metrics say when the budget's state cannot be read
    /// (Redis gone): /healthz 503 with the reason, /metrics still served with state_up 0.
    #[tokio::test]
    async fn a_lost_state_shows_in_health_and_metrics() {
        let server = RedisServer::start();
        let redis = RedisState::connect(&server.url(), "acctm", Duration::from_secs(60))
            .await
            .expect("connect");
        redis.join(1000).await.expect("join");
        let state = std::sync::Arc::new(State::new(
            Backend::Redis(Box::new(redis)),
            10,
            Duration::from_secs(1),
            10,
        ));
        let config = Config {
            api_url: "http://127.0.0.1:9".into(),
            key: ApiKey::new("k3y", KeyOrigin::Env).expect("key"),
            auth: AuthMethod::Header,
            pricing: budget::pricing::Pricing::embedded().expect("pricing"),
            attempts: 1,
            timeout: Duration::from_secs(1),
            backoff: Backoff::default(),
            client_token: None,
            limits: budget::guard::Limits::default(),
            on_overrun: None,
        };
        let guard = Guard::bind_with(
            "127.0.0.1:0".parse().expect("addr"),
            config,
            state,
            std::sync::Arc::new(Journal::in_memory()),
            Ops::default(),
        )
        .await
        .expect("bind");
        let router = guard.monitor().with_token(Some("scrape".into())).router();
        assert_eq!(
            get(&router, "/healthz", None).await,
            (200, r#"{"status":"ok"}"#.to_string())
        );
        let (status, metrics) = get(&router, "/metrics", Some("scrape")).await;
        assert_eq!(status, 200);
        assert!(metrics.contains("\nbudget_guard_state_up 1\n"), "{metrics}");
        assert!(
            metrics.contains("\nbudget_guard_budget_units 1000\n"),
            "{metrics}"
        );
        assert_eq!(get(&router, "/metrics", Some("wrong")).await.0, 401);
        drop(server);
        let (status, health) = get(&router, "/healthz", None).await;
        assert_eq!(status, 503);
        assert!(
            health.contains("the shared state in Redis is unavailable"),
            "{health}"
        );
        let (status, metrics) = get(&router, "/metrics", Some("scrape")).await;
        assert_eq!(status, 200);
        assert!(metrics.contains("\nbudget_guard_state_up 0\n"), "{metrics}");
        // The gauges keep their last values.
        assert!(
            metrics.contains("\nbudget_guard_budget_units 1000\n"),
            "{metrics}"
        );
        let (status, body) = get(&router, "/budget/status", Some("scrape")).await;
        assert_eq!(status, 503, "{body}");
    }
}
