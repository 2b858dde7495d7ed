//! `budget guard` end to end: the real binary between HTTP clients and the simulator (with its
//! data endpoints, unit accounting and strict 10-per-second window), and Redis for shared mode.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::redis_server::RedisServer;
use crate::support::simulator::{refused_url, Fault, Simulator, KEY};
use crate::support::{budget, Scratch};

/// A running guard; stopped with SIGTERM by [`GuardProc::stop`] (killed if dropped).
pub(crate) struct GuardProc {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) stderr: Arc<Mutex<String>>,
}

/// What a stopped guard printed.
pub(crate) struct Stopped {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl GuardProc {
    /// `budget guard --listen 127.0.0.1:0 ARGS` against `api_url` with the simulator's key.
    pub(crate) fn start(api_url: &str, args: &[&str]) -> GuardProc {
        Self::start_env(api_url, args, &[("SERANKING_API_KEY", KEY)])
    }

    pub(crate) fn start_env(api_url: &str, args: &[&str], env: &[(&str, &str)]) -> GuardProc {
        let mut cmd = Self::command(api_url, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    /// The command `start` runs, without the key.
    pub(crate) fn command(api_url: &str, args: &[&str]) -> std::process::Command {
        let mut cmd = budget();
        cmd.args(["guard", "--listen", "127.0.0.1:0", "--api-url", api_url])
            .args(args)
            .env("BUDGET_RETRY_BASE_MS", "5")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `budget guard …` as built by the caller (stdout and stderr piped); waits for the
    /// startup text (at most 15 s).
    pub(crate) fn spawn(mut cmd: std::process::Command) -> GuardProc {
        let mut child = cmd.spawn().expect("start budget guard");
        let stderr = child.stderr.take().expect("stderr");
        let collected = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let collected = collected.clone();
            std::thread::spawn(move || {
                // The URL is handed over once the whole startup text has been read.
                let mut url = None;
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    {
                        let mut c = collected.lock().unwrap();
                        c.push_str(&line);
                        c.push('\n');
                    }
                    if let Some(rest) = line.strip_prefix("budget guard listening on ") {
                        url = rest.split_whitespace().next().map(str::to_string);
                    }
                    if line.starts_with("  point jobs at") {
                        if let Some(url) = url.take() {
                            let _ = tx.send(url);
                        }
                    }
                }
            });
        }
        let url = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(50));
                panic!("guard did not start:\n{}", collected.lock().unwrap());
            }
        };
        GuardProc {
            child,
            url,
            stderr: collected,
        }
    }

    /// SIGTERM, then wait (at most 15 s) and collect the output.
    pub(crate) fn stop(self) -> Stopped {
        self.term();
        self.wait(Duration::from_secs(15))
    }

    pub(crate) fn term(&self) {
        // SAFETY: signals only the child this test started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Waits until `done(stderr so far)` holds (at most 15 s).
    #[track_caller]
    pub(crate) fn stderr_until(&self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(&self.stderr.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "the guard never said {what}:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (at most `within`) for the guard to exit and collects the output.
    #[track_caller]
    pub(crate) fn wait(mut self, within: Duration) -> Stopped {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("guard did not stop within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap().clone();
        Stopped {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

impl Drop for GuardProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client call: method, path and query, extra headers, JSON body (or any body with its
/// content type).
#[derive(Clone)]
pub(crate) struct Call {
    pub(crate) post: Option<String>,
    pub(crate) raw: Option<(String, Vec<u8>)>,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
}

pub(crate) fn get(path: &str) -> Call {
    Call {
        post: None,
        raw: None,
        path: path.into(),
        headers: Vec::new(),
    }
}

/// A POST of `body` bytes sent as `content_type`.
fn post_raw(path: &str, content_type: &str, body: &[u8]) -> Call {
    Call {
        raw: Some((content_type.to_string(), body.to_vec())),
        ..get(path)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) retry_after: Option<String>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Runs `clients` concurrent lists of calls against `bases[i % bases.len()]`.
pub(crate) fn run_clients(bases: &[String], clients: Vec<Vec<Call>>) -> Vec<Answer> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut tasks = Vec::new();
        for (i, calls) in clients.into_iter().enumerate() {
            let base = bases[i % bases.len()].clone();
            let http = http.clone();
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                for call in calls {
                    let url = format!("{base}{}", call.path);
                    let mut request = match (&call.post, &call.raw) {
                        (_, Some((content_type, bytes))) => http
                            .post(&url)
                            .header("content-type", content_type.as_str())
                            .body(bytes.clone()),
                        (Some(body), None) => http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.clone()),
                        (None, None) => http.get(&url),
                    };
                    for (k, v) in &call.headers {
                        request = request.header(k.as_str(), v.as_str());
                    }
                    let response = request.send().await.expect("guard answers");
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = response.text().await.expect("body");
                    answers.push(Answer {
                        status,
                        body,
                        retry_after,
                    });
                }
                answers
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        all
    })
}

pub(crate) fn one(base: &str, call: Call) -> Answer {
    run_clients(&[base.to_string()], vec![vec![call]]).remove(0)
}

/// Every line of a journal.
pub(crate) fn journal_lines(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
        .collect()
}

/// The call lines of a journal: those with an `endpoint` (the other kinds, `budget`, `hold`
/// and `refused_summary`, have a `kind` instead).
pub(crate) fn ledger_lines(path: &str) -> Vec<Value> {
    journal_lines(path)
        .into_iter()
        .filter(|l| l.get("endpoint").is_some())
        .collect()
}

pub(crate) fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

#[test]
fn concurrent_clients_get_no_429_and_never_overspend() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let ledger = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1500", "--ledger", &ledger]); // --ledger: the old name of --journal
                                                                                         // 8 clients × 3 summary calls of one target (100 units each) = 2,400 units asked of 1,500:
                                                                                         // 15 fit, 9 are refused.
    let clients = (0..8)
        .map(|i| {
            (0..3)
                .map(|j| get(&format!("/v1/backlinks/summary?target=site{i}-{j}.com")))
                .collect()
        })
        .collect();
    let answers = run_clients(std::slice::from_ref(&guard.url), clients);
    assert_eq!(count(&answers, 200), 15, "{answers:?}");
    assert_eq!(count(&answers, 402), 9, "{answers:?}");
    assert_eq!(sim.rate_limited(), 0, "the simulator answered 429");
    assert_eq!(sim.charged(), 1500);
    assert_eq!(sim.requests(), 15, "refused calls never reach the API");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    // summary: 24 calls, 15 charged, 9 over budget, 1,500 units; 0 left.
    let row = stopped
        .stdout
        .lines()
        .find(|l| l.contains("backlinks/summary"))
        .expect("summary row");
    for cell in ["24", "15", "9", "1,500"] {
        assert!(row.contains(cell), "{row}");
    }
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 0"),
        "{}",
        stopped.stdout
    );
    let lines = ledger_lines(&ledger);
    assert_eq!(lines.len(), 24);
    let charged: u64 = lines
        .iter()
        .map(|l| l["units_charged"].as_u64().unwrap())
        .sum();
    assert_eq!(charged, 1500);
    let first = &lines[0];
    for field in [
        "time",
        "method",
        "endpoint",
        "targets",
        "status",
        "units_reserved",
        "units_charged",
        "latency_ms",
    ] {
        assert!(
            first.get(field).is_some(),
            "ledger line lacks {field}: {first}"
        );
    }
}

#[test]
fn call_over_budget_gets_402_and_never_reaches_the_api() {
    let sim = Simulator::start_data(1_000_000);
    let guard = GuardProc::start(sim.url(), &["--budget", "250"]);
    // 3 targets × 100 = 300 units > 250.
    let answer = one(
        &guard.url,
        get("/v1/backlinks/summary?target=a.com&target=b.com&target=c.com"),
    );
    assert_eq!(answer.status, 402);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], 402);
    assert_eq!(error["message"], "Budget exceeded");
    assert!(
        error["description"]
            .as_str()
            .unwrap()
            .contains("needs 300 units, 250 left"),
        "{error}"
    );
    assert_eq!(sim.requests(), 0);
    // 2 targets by POST = 200 fits; then 1 target = 100 > 50 left.
    let post = Call {
        post: Some(r#"{"target": ["a.com", "b.com"], "mode": "host"}"#.into()),
        ..get("/v1/backlinks/summary")
    };
    assert_eq!(one(&guard.url, post).status, 200);
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 402);
    assert!(
        answer.body.contains("needs 100 units, 50 left"),
        "{}",
        answer.body
    );
    assert_eq!(sim.requests(), 1);
    assert_eq!(sim.charged(), 200);
    guard.stop();
}

#[test]
fn row_calls_are_charged_by_the_records_returned() {
    let sim = Simulator::start_data(1_000_000);
    sim.set(|s| s.data.rows_per_target = Some(40));
    let scratch = Scratch::new();
    let ledger = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--journal", &ledger]);
    // backlinks/all, limit 100: 100 units reserved; the target has 40 rows: 40 charged.
    let answer = one(&guard.url, get("/v1/backlinks/all?target=a.com&limit=100"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["backlinks"].as_array().unwrap().len(), 40);
    // domain/keywords is billed per request: 100 whatever the rows.
    assert_eq!(
        one(
            &guard.url,
            get("/v1/domain/keywords?target=a.com&source=us&limit=100")
        )
        .status,
        200
    );
    // export (1000) no longer fits: 1000 − 40 − 100 = 860 left.
    let answer = one(&guard.url, get("/v1/backlinks/export?target=a.com"));
    assert_eq!(answer.status, 402);
    assert!(
        answer.body.contains("needs 1,000 units, 860 left"),
        "{}",
        answer.body
    );
    // status polls cost 0 and are forwarded.
    assert_eq!(
        one(
            &guard.url,
            get("/v1/backlinks/export/status?task_id=1_878619")
        )
        .status,
        200
    );
    assert_eq!(sim.charged(), 140);
    let stopped = guard.stop();
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 860"),
        "{}",
        stopped.stdout
    );
    let lines = ledger_lines(&ledger);
    assert_eq!(lines[0]["endpoint"], "backlinks/all");
    assert_eq!(lines[0]["units_reserved"], 100);
    assert_eq!(lines[0]["units_charged"], 40);
    assert_eq!(lines[1]["units_charged"], 100);
    assert_eq!(lines[2]["status"], 402);
    assert_eq!(lines[2]["units_reserved"], 0);
}

/// A call with the guard's tag headers.
pub(crate) fn tagged(path: &str, tags: &[(&str, &str)]) -> Call {
    Call {
        headers: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..get(path)
    }
}

#[test]
fn tags_source_and_rows_reach_the_journal_and_never_the_api() {
    // The invariant: X-Budget-Workflow / X-Budget-Step are the guard's own headers; they are
    // written to the journal and never forwarded (the simulator counts any X-Budget-… it sees).
    let sim = Simulator::start_data(1_000_000);
    sim.set(|s| s.data.rows_per_target = Some(40));
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "100k", "--journal", &journal]);
    let calls = vec![
        tagged(
            "/v1/backlinks/summary?target=a.com",
            &[
                ("X-Budget-Workflow", "Audit"),
                ("X-Budget-Step", "Summaries"),
            ],
        ),
        tagged(
            "/v1/domain/keywords?target=a.com&source=US&limit=100&page=2",
            &[("X-Budget-Step", "2")],
        ),
        tagged(
            "/v1/backlinks/summary?target=a.com",
            &[("X-Budget-Step", &"s".repeat(201))],
        ),
        get("/v1/backlinks/all?target=a.com&limit=100"),
    ];
    let answers = run_clients(std::slice::from_ref(&guard.url), vec![calls]);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 400, 200], "{answers:?}");
    assert!(
        answers[2]
            .body
            .contains("the X-Budget-Step header is 201 bytes long, above the guard's limit of 200"),
        "{}",
        answers[2].body
    );
    assert_eq!(sim.requests(), 3, "the refused call was not forwarded");
    assert_eq!(
        sim.read(|s| s.budget_headers),
        0,
        "a tag header reached the API"
    );
    guard.stop();
    let lines = ledger_lines(&journal);
    // The refused call is counted, not journaled one by one (a refusal before pricing).
    assert_eq!(lines.len(), 3);
    let refused: Vec<Value> = journal_lines(&journal)
        .into_iter()
        .filter(|l| l["kind"] == "refused_summary")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["counts"], serde_json::json!({"malformed": 1}));
    assert_eq!(lines[0]["workflow"], "Audit");
    assert_eq!(lines[0]["step"], "Summaries");
    // A target endpoint has no rows; backlinks takes no source.
    assert!(lines[0].get("rows").is_none() && lines[0].get("source").is_none());
    // domain/keywords: source lowercased, 40 rows (the target has 40, limit 100), page 2 of the
    // target whose SHA-256 starts d6c1754dbbf0bc91 (`printf a.com | sha256sum`).
    assert_eq!(lines[1]["step"], "2");
    assert!(lines[1].get("workflow").is_none());
    assert_eq!(lines[1]["source"], "us");
    assert_eq!(lines[1]["rows"], 40);
    assert_eq!(lines[1]["target_hash"], "d6c1754dbbf0bc91");
    assert_eq!(lines[1]["continues"], true);
    // Untagged backlinks/all: 40 rows, charged 40; not paged, so no target digest.
    assert!(lines[2].get("step").is_none());
    assert_eq!(lines[2]["rows"], 40);
    assert_eq!(lines[2]["units_charged"], 40);
    assert!(lines[2].get("target_hash").is_none());
}

#[test]
fn upstream_faults_are_retried_and_failures_are_not_charged() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let ledger = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &["--budget", "100", "--journal", &ledger, "--retries", "4"],
    );
    sim.set(|s| {
        s.fail_next(1, Fault::Internal);
        s.fail_next(1, Fault::TooManyRequests);
        s.fail_next(1, Fault::BadGatewayHtml);
    });
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sim.requests(), 4, "three faults, then success");
    // Persistent 503 on a free status poll: 4 attempts, then the API's 503 is passed on and
    // its reservation released.
    sim.set(|s| s.always = Some(Fault::Unavailable));
    let answer = one(&guard.url, get("/v1/backlinks/export/status?task_id=1"));
    assert_eq!(answer.status, 503);
    assert_eq!(sim.requests(), 8);
    let lines = ledger_lines(&ledger);
    assert_eq!(lines[0]["attempts"], 4);
    assert_eq!(lines[0]["units_charged"], 100);
    assert_eq!(lines[1]["attempts"], 4);
    assert_eq!(lines[1]["outcome"], "released");
    guard.stop();
}

#[test]
fn unreachable_api_is_a_502_and_releases_the_units() {
    let guard = GuardProc::start(&refused_url(), &["--budget", "100", "--retries", "2"]);
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 502);
    assert!(
        answer.body.contains("could not reach the API"),
        "{}",
        answer.body
    );
    let stopped = guard.stop();
    // nothing was billed: the 100 units are still there.
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 100"),
        "{}",
        stopped.stdout
    );
}

#[test]
fn unknown_endpoints_and_foreign_paths_are_refused() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let ledger = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--journal", &ledger]);
    let answer = one(&guard.url, get("/v1/backlinks/sumary?target=a.com"));
    // 501 and the guard's own wording: never the API's 400, which reads as bad parameters.
    assert_eq!(answer.status, 501);
    assert_eq!(
        answer.json()["error"]["message"],
        "Not priced by budget guard"
    );
    assert_eq!(answer.json()["error"]["source"], "budget-guard");
    for phrase in [
        "backlinks/sumary is not in the guard's pricing catalogue (a typo of backlinks/summary?)",
        "retrying will not help",
        "--pricing-overlay FILE",
    ] {
        assert!(answer.body.contains(phrase), "{phrase}: {}", answer.body);
    }
    let foreign = one(&guard.url, get("/admin"));
    assert_eq!(foreign.status, 404);
    assert!(
        foreign
            .body
            .contains("/admin is not an SE Ranking Data API path; paths start with /v1/"),
        "{}",
        foreign.body
    );
    assert_eq!(sim.requests(), 0);
    let stopped = guard.stop();
    // Refused before pricing: counted, not a line each (see the flood test); the summary
    // shows them in one row.
    assert!(ledger_lines(&ledger).is_empty());
    let summaries: Vec<Value> = journal_lines(&ledger)
        .into_iter()
        .filter(|l| l["kind"] == "refused_summary")
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(
        summaries[0]["counts"],
        serde_json::json!({"not_api": 1, "unknown_endpoint": 1})
    );
    let row = stopped
        .stdout
        .lines()
        .find(|l| l.contains("(refused before pricing)"))
        .expect("a row for refusals");
    assert!(row.contains(" 2 "), "{row}");
}

#[test]
fn a_full_window_queues_then_answers_503() {
    let sim = Simulator::start_data(1_000_000);
    let guard = GuardProc::start(
        sim.url(),
        &["--budget", "1000", "--rps", "1", "--max-wait", "0.2"],
    );
    // 1 request per second: of 3 simultaneous calls one goes now; the others would wait about
    // a second, longer than --max-wait 0.2 s.
    let clients = (0..3)
        .map(|_| vec![get("/v1/backlinks/export/status?task_id=1")])
        .collect();
    let answers = run_clients(std::slice::from_ref(&guard.url), clients);
    assert_eq!(count(&answers, 200), 1, "{answers:?}");
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(refused.len(), 2, "{answers:?}");
    assert!(
        refused[0]
            .body
            .contains("for a free slot in the 1 requests/second window"),
        "{}",
        refused[0].body
    );
    guard.stop();
}

#[test]
fn two_guards_sharing_redis_keep_budget_and_rate_together() {
    let redis = RedisServer::start();
    let sim = Simulator::start_data(1_000_000);
    let args = ["--budget", "1200", "--redis", &redis.url()];
    // The first creates the shared budget (by hand: --new-budget), the second joins it.
    let first = GuardProc::start(sim.url(), &[&args[..], &["--new-budget"]].concat());
    let second = GuardProc::start(sim.url(), &args);
    let stderr = second.stderr.lock().unwrap().clone();
    assert!(stderr.contains("joined the shared budget"), "{stderr}");
    // 8 clients (4 per guard) × 3 calls of 100 units = 2,400 asked of 1,200: 12 fit.
    let clients = (0..8)
        .map(|i| {
            (0..3)
                .map(|j| get(&format!("/v1/backlinks/summary?target=s{i}-{j}.com")))
                .collect()
        })
        .collect();
    let answers = run_clients(&[first.url.clone(), second.url.clone()], clients);
    assert_eq!(count(&answers, 200), 12, "{answers:?}");
    assert_eq!(count(&answers, 402), 12, "{answers:?}");
    assert_eq!(sim.rate_limited(), 0, "the simulator answered 429");
    assert!(sim.charged() <= 1200);
    assert_eq!(sim.charged(), 1200);
    first.stop();
    second.stop();
}

#[test]
fn redis_mode_shares_the_rate_window() {
    let redis = RedisServer::start();
    let sim = Simulator::start_data(1_000_000);
    let args = ["--budget", "0", "--redis", &redis.url()];
    let first = GuardProc::start(sim.url(), &[&args[..], &["--new-budget"]].concat());
    let second = GuardProc::start(sim.url(), &args);
    // 30 free status polls through two guards: the simulator's 10-per-second window must
    // never be exceeded (about 3 s).
    let clients = (0..6)
        .map(|_| {
            (0..5)
                .map(|_| get("/v1/backlinks/export/status?task_id=1"))
                .collect()
        })
        .collect();
    let answers = run_clients(&[first.url.clone(), second.url.clone()], clients);
    assert_eq!(count(&answers, 200), 30, "{answers:?}");
    assert_eq!(sim.rate_limited(), 0);
    first.stop();
    second.stop();
}

#[test]
fn client_token_is_required_when_set() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let token = scratch.file("token", "s3cret-token\n");
    let guard = GuardProc::start(
        sim.url(),
        &["--budget", "1000", "--client-token-file", &token],
    );
    let call = get("/v1/backlinks/export/status?task_id=1");
    let answer = one(&guard.url, call.clone());
    assert_eq!(answer.status, 401);
    assert!(answer.body.contains("X-Budget-Token"), "{}", answer.body);
    let wrong = Call {
        headers: vec![("X-Budget-Token".into(), "s3cret-tokeN".into())],
        ..call.clone()
    };
    assert_eq!(one(&guard.url, wrong).status, 401);
    assert_eq!(sim.requests(), 0);
    let header = Call {
        headers: vec![("X-Budget-Token".into(), "s3cret-token".into())],
        ..call.clone()
    };
    assert_eq!(one(&guard.url, header).status, 200);
    let bearer = Call {
        headers: vec![("Authorization".into(), "Bearer s3cret-token".into())],
        ..call
    };
    assert_eq!(one(&guard.url, bearer).status, 200);
    guard.stop();
}

#[test]
fn bad_settings_are_refused_with_exit_codes() {
    let scratch = Scratch::new();
    let empty = scratch.file("empty", "\n");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = budget();
        cmd.arg("guard").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        crate::support::Run::from(cmd.output().expect("run"))
    };
    let key = [("SERANKING_API_KEY", KEY)];
    run(&["--listen", "0.0.0.0:8787", "--budget", "5"], &key)
        .code(2)
        .stderr_has("--listen: 0.0.0.0:8787 is reachable from other machines")
        .stderr_has("pass --client-token-file FILE");
    run(&["--listen", "localhost", "--budget", "5"], &key)
        .code(2)
        .stderr_has("is not an address and port like 127.0.0.1:8787");
    run(&["--budget", "5", "--client-token-file", &empty], &key)
        .code(2)
        .stderr_has("--client-token-file:")
        .stderr_has("is empty");
    run(&["--budget", "5", "--rps", "0"], &key)
        .code(2)
        .stderr_has("--rps: 0 requests per second");
    run(&["--budget", "5", "--reserve", "10%"], &key)
        .code(2)
        .stderr_has("cannot be used with");
    run(&["--budget", "5", "--offline"], &key)
        .code(2)
        .stderr_has("which --offline forbids");
    run(&["--budget", "5"], &[])
        .code(3)
        .stderr_has("no API key: set SERANKING_API_KEY");
    let nowhere = refused_url().replace("http://", "redis://");
    run(
        &[
            "--budget",
            "5",
            "--listen",
            "127.0.0.1:0",
            "--redis",
            &nowhere,
        ],
        &key,
    )
    .code(3)
    .stderr_has("(Redis at ")
    .stderr_has("is unavailable: connection refused");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    run(&["--budget", "5", "--listen", &taken_addr], &key)
        .code(5)
        .stderr_has(&format!("cannot listen on {taken_addr}"))
        .stderr_has("pick another --listen address or port");
    drop(taken);
    run(&["--budget", "5", "--max-wait=-1"], &key)
        .code(2)
        .stderr_has("--max-wait: -1 is not a number of seconds");
    run(&["--budget", "5", "--timeout", "0"], &key)
        .code(2)
        .stderr_has("--timeout: 0 is not a positive number of seconds");
    // Every problem at once, one line each.
    let r = run(
        &[
            "--budget",
            "5",
            "--grace=-1",
            "--max-connections",
            "0",
            "--rate-margin",
            "5000",
        ],
        &key,
    );
    r.code(2)
        .stderr_has("--grace: -1 is not a number of seconds")
        .stderr_has("--max-connections: 0 connections would serve nothing")
        .stderr_has("--rate-margin: 5000 ms is more than the 1000 ms");
    run(
        &[
            "--budget",
            "5",
            "--listen",
            "127.0.0.1:0",
            "--journal",
            "/dev/null",
        ],
        &key,
    )
    .code(2)
    .stderr_has("cannot open the guard journal /dev/null: it is not a regular file");
    let with_key = format!("http://user:{KEY}@127.0.0.1:1");
    let r = run(&["--budget", "5", "--api-url", &with_key], &key);
    r.code(2)
        .stderr_has("--api-url http://127.0.0.1:1 is not a usable URL: it carries credentials");
    assert!(!r.stderr.contains(KEY), "{}", r.stderr);
    let dir = scratch.path().display().to_string();
    run(
        &[
            "--budget",
            "5",
            "--listen",
            "127.0.0.1:0",
            "--journal",
            &dir,
        ],
        &key,
    )
    .code(2)
    .stderr_has("cannot open the guard journal");
}

#[test]
fn live_budget_is_units_left_minus_the_reserve() {
    let sim = Simulator::start_data(1000);
    let guard = GuardProc::start(sim.url(), &["--reserve", "10%"]);
    // 1,000 left − 10% (100) = 900.
    let stderr = guard.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains(
            "budget 900 units (live units_left 1,000 − reserve 10% − 0 reserved by running jobs)"
        ),
        "{stderr}"
    );
    let answer = one(&guard.url, get("/v1/backlinks/export?target=a.com"));
    assert_eq!(answer.status, 402);
    assert!(
        answer.body.contains("needs 1,000 units, 900 left"),
        "{}",
        answer.body
    );
    guard.stop();
    // a balance that cannot be read: exit 3.
    let out = budget()
        .args([
            "guard",
            "--listen",
            "127.0.0.1:0",
            "--api-url",
            &refused_url(),
        ])
        .env("SERANKING_API_KEY", KEY)
        .env("BUDGET_RETRY_BASE_MS", "1")
        .output()
        .expect("run");
    let run = crate::support::Run::from(out);
    run.code(3).stderr_has("cannot reach the API");
    assert!(!run.stderr.contains(KEY));
}

/// Every output of the guard, in both auth modes and every failure it passes on or makes up.
#[test]
fn the_key_never_leaks() {
    for auth in ["header", "query"] {
        let sim = Simulator::start_data(1_000_000);
        let scratch = Scratch::new();
        let ledger = scratch.path().join("calls.jsonl").display().to_string();
        let guard = GuardProc::start(
            sim.url(),
            &["--budget", "150", "--journal", &ledger, "--auth", auth],
        );
        sim.set(|s| s.fail_next(1, Fault::EchoKey));
        let with_client_key = Call {
            headers: vec![("Authorization".into(), "Token client-sent-key".into())],
            // Every spelling a server might read as `apikey` (brackets, a leading `+`, an
            // encoded NUL, case) is stripped before the call is forwarded.
            ..get("/v1/backlinks/summary?target=a.com&apikey=client-sent-key&apikey[]=client-sent-key&apikey%00=client-sent-key&+apikey=client-sent-key&APIKEY=client-sent-key")
        };
        let answers = run_clients(
            std::slice::from_ref(&guard.url),
            vec![vec![
                // 1: the API echoes the request, key included (a careless proxy).
                get("/v1/backlinks/summary?target=a.com"),
                // 2: a client sending its own key: stripped, the guard's is used.
                with_client_key,
                // 3: over budget, 4: unknown endpoint.
                get("/v1/backlinks/summary?target=a.com"),
                get("/v1/nope?apikey=x"),
            ]],
        );
        assert_eq!(answers[0].status, 400, "{auth}");
        assert!(
            answers[0].body.contains("[redacted]"),
            "{}",
            answers[0].body
        );
        assert_eq!(answers[1].status, 200, "{auth}: {}", answers[1].body);
        assert_eq!(answers[2].status, 402, "{auth}");
        assert_eq!(answers[3].status, 501, "{auth}");
        let log = sim.read(|s| s.log.clone());
        assert!(
            log.iter().all(|l| !l.contains("client-sent-key")),
            "{log:?}"
        );
        let stopped = guard.stop();
        let ledger_text = std::fs::read_to_string(&ledger).expect("ledger");
        for (name, text) in [
            ("stdout", &stopped.stdout),
            ("stderr", &stopped.stderr),
            ("ledger", &ledger_text),
        ] {
            assert!(
                !text.contains(KEY),
                "{auth}: the key is in the guard's {name}:\n{text}"
            );
        }
        for a in &answers {
            assert!(
                !a.body.contains(KEY),
                "{auth}: the key is in a reply: {}",
                a.body
            );
        }
    }
    // Unreachable API, both modes.
    for auth in ["header", "query"] {
        let guard = GuardProc::start(&refused_url(), &["--budget", "100", "--auth", auth]);
        let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
        assert_eq!(answer.status, 502);
        assert!(!answer.body.contains(KEY), "{}", answer.body);
        let stopped = guard.stop();
        assert!(!stopped.stderr.contains(KEY) && !stopped.stdout.contains(KEY));
    }
}

/// The simulator's data endpoints bill as the pricing file says (figures by hand).
#[test]
fn simulator_bills_data_endpoints_by_the_table() {
    use crate::support::simulator::raw_get;
    let sim = Simulator::start_data(10_000);
    let token = format!("Token {KEY}");
    let auth = [("Authorization", token.as_str())];
    #[track_caller]
    fn bills(
        sim: &Simulator,
        path: &str,
        units: u64,
        records_field: Option<(&str, usize)>,
    ) -> Value {
        let token = format!("Token {KEY}");
        let auth = [("Authorization", token.as_str())];
        let before = sim.charged();
        let (status, body) = raw_get(sim.addr(), path, &auth);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(sim.charged() - before, units, "units billed for {path}");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        if let Some((field, n)) = records_field {
            let list = if field.is_empty() {
                &json
            } else {
                &json[field]
            };
            assert_eq!(list.as_array().map(Vec::len), Some(n), "{path}: {body}");
        }
        std::thread::sleep(Duration::from_millis(120)); // stay under 10 per second
        json
    }
    // summary: 3 targets × 100 = 300.
    bills(
        &sim,
        "/v1/backlinks/summary?target=a&target=b&target=c",
        300,
        Some(("summary", 3)),
    );
    // count: 1 target × 100.
    bills(&sim, "/v1/backlinks/count?target=a", 100, None);
    // all: default limit 100 rows × 1.
    bills(
        &sim,
        "/v1/backlinks/all?target=a",
        100,
        Some(("backlinks", 100)),
    );
    // raw: 500 rows asked × 1, with a cursor for the next page.
    let raw = bills(
        &sim,
        "/v1/backlinks/raw?target=a&limit=500",
        500,
        Some(("backlinks", 500)),
    );
    assert!(raw["next"].is_string());
    // export: 1000 per target; status: 0.
    let export = bills(&sim, "/v1/backlinks/export?target=a", 1000, None);
    assert_eq!(export["task_id"], "1_878619");
    bills(
        &sim,
        "/v1/backlinks/export/status?task_id=1_878619",
        0,
        None,
    );
    // domain endpoints: 100 per request whatever the rows.
    bills(
        &sim,
        "/v1/domain/overview?target=a&source=us",
        100,
        Some(("", 1)),
    );
    bills(
        &sim,
        "/v1/domain/keywords?target=a&source=us&limit=250",
        100,
        Some(("", 250)),
    );
    // keywords/export: 100 per request, one row per keyword.
    bills(
        &sim,
        "/v1/keywords/export?source=us&keywords[]=x&keywords[]=y&keywords[]=z",
        100,
        Some(("", 3)),
    );
    // 10,000 − 300 − 100 − 100 − 500 − 1000 − 0 − 100 − 100 − 100 = 7,700 left.
    assert_eq!(sim.read(|s| s.units_left), 7_700);
    // Not enough left for 8 exports (8,000): insufficient funds, nothing billed.
    let eight = (0..8)
        .map(|i| format!("target=t{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, body) = raw_get(sim.addr(), &format!("/v1/backlinks/export?{eight}"), &auth);
    assert_eq!(status, 400);
    assert!(body.contains("Insufficient funds"), "{body}");
    sim.set(|s| s.data.insufficient_status = 402);
    let (status, _) = raw_get(sim.addr(), &format!("/v1/backlinks/export?{eight}"), &auth);
    assert_eq!(status, 402);
    assert_eq!(sim.read(|s| s.units_left), 7_700);
    std::thread::sleep(Duration::from_millis(1100));
    // The strict window: 10 go through within a second, the 11th is a 429.
    let statuses: Vec<u16> = (0..11)
        .map(|_| raw_get(sim.addr(), "/v1/backlinks/export/status?task_id=1", &auth).0)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses[10], 429);
    assert_eq!(sim.rate_limited(), 1);
}

/// The vendor's own "Insufficient funds" passes through the guard, and its reservation is
/// released (the vendor bills nothing).
#[test]
fn vendor_insufficient_funds_passes_through() {
    let sim = Simulator::start_data(50);
    let guard = GuardProc::start(sim.url(), &["--budget", "1000"]);
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("Insufficient funds"),
        "{}",
        answer.body
    );
    let stopped = guard.stop();
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 1,000"),
        "{}",
        stopped.stdout
    );
}

/// `budget gate --redis`: two gates on two "machines" (separate state directories, so no shared
/// file ledger) with room for one plan: exactly one runs its command, and `budget reservations`
/// with BUDGET_REDIS_URL lists the held reservation.
#[test]
fn gates_on_two_machines_share_reservations_through_redis() {
    let redis = RedisServer::start();
    let s = Scratch::new();
    let go = s.path().join("go");
    let script = crate::support::WAIT_FOR_GO;
    // docs-example: 26,000 units; 30,000 left: room for one.
    let mut gates: Vec<(Child, std::path::PathBuf)> = ["a", "b"]
        .iter()
        .map(|name| {
            let started = s.path().join(format!("started-{name}"));
            let child = budget()
                .env("XDG_STATE_HOME", s.path().join(format!("machine-{name}")))
                .args([
                    "gate",
                    "workflows/docs-example.yaml",
                    "--units-left",
                    "30000",
                ])
                .args(["--redis", &redis.url(), "--", "sh", "-c", script, "sh"])
                .arg(&started)
                .arg(&go)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn gate");
            (child, started)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        if let Some(i) = gates
            .iter_mut()
            .position(|(c, _)| c.try_wait().expect("try_wait").is_some())
        {
            break gates.remove(i);
        }
        assert!(Instant::now() < deadline, "neither gate refused");
        std::thread::sleep(Duration::from_millis(10));
    };
    crate::support::Run::from(refused.0.wait_with_output().expect("wait"))
        .code(1)
        .stderr_has("26,000 reserved by running jobs");
    assert!(!refused.1.exists(), "the refused gate ran its command");
    let (admitted, started) = gates.remove(0);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the admitted gate never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let listed = crate::support::Run::from(
        budget()
            .env("BUDGET_REDIS_URL", redis.url())
            .args(["reservations", "--format", "json"])
            .output()
            .expect("run"),
    );
    listed.code(0).stdout_has("\"units\": 26000");
    // plan/check on a third machine see the Redis reservation through --redis too:
    // 30,000 left − 26,000 reserved = 4,000 usable, so the docs example no longer fits.
    let checked = crate::support::Run::from(
        budget()
            .env("XDG_STATE_HOME", s.path().join("machine-c"))
            .args([
                "check",
                "workflows/docs-example.yaml",
                "--units-left",
                "30000",
            ])
            .args(["--redis", &redis.url(), "--format", "json"])
            .output()
            .expect("run"),
    );
    let json = checked.code(1).json();
    assert_eq!(json["balance"]["reserved"], 26000);
    assert_eq!(json["balance"]["usable"], 4000);
    std::fs::write(&go, "").expect("write go");
    crate::support::Run::from(admitted.wait_with_output().expect("wait")).code(0);
    // released: nothing left.
    let listed = crate::support::Run::from(
        budget()
            .env("BUDGET_REDIS_URL", redis.url())
            .args(["reservations", "--format", "json"])
            .output()
            .expect("run"),
    );
    listed.code(0);
    assert!(!listed.stdout.contains("26000"), "{}", listed.stdout);
}

/// Sends `GET path` to the guard on a raw connection and leaves it open (the caller hangs up by
/// dropping it).
pub(crate) fn send_and_hold(guard_url: &str, path: &str) -> std::net::TcpStream {
    use std::io::Write;
    let addr = guard_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the guard");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    stream
}

/// Waits (at most 15 s) until `done` holds.
#[track_caller]
pub(crate) fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A client that hangs up while its call is at the API: the call is still settled and
/// recorded (the API bills it whether or not anyone reads the reply), in both modes.
#[test]
fn a_client_that_hangs_up_mid_call_is_still_charged_and_recorded() {
    for shared in [false, true] {
        let redis = shared.then(RedisServer::start);
        let sim = Simulator::start_data(1_000_000);
        sim.set(|s| {
            s.data.rows_per_target = Some(40);
            s.delay = Some(Duration::from_millis(500));
        });
        let scratch = Scratch::new();
        let ledger = scratch.path().join("calls.jsonl").display().to_string();
        let mut args = vec!["--budget", "250", "--journal", ledger.as_str()];
        let url = redis.as_ref().map(RedisServer::url);
        if let Some(url) = &url {
            args.extend(["--redis", url.as_str()]);
        }
        let guard = GuardProc::start(sim.url(), &args);
        // two backlinks/all calls of limit 100 (100 units reserved each); both clients hang up
        // once the API has their calls, before it answers.
        let clients: Vec<_> = (0..2)
            .map(|i| {
                send_and_hold(
                    &guard.url,
                    &format!("/v1/backlinks/all?target=t{i}.com&limit=100"),
                )
            })
            .collect();
        eventually("the API has both calls", || sim.requests() == 2);
        drop(clients);
        // each call returns 40 rows: 40 charged, not 100 held forever; 250 − 2 × 40 = 170 left.
        eventually("two call lines", || {
            std::fs::read_to_string(&ledger)
                .is_ok_and(|t| t.lines().filter(|l| l.contains("\"endpoint\"")).count() == 2)
        });
        for line in ledger_lines(&ledger) {
            assert_eq!(line["status"], 200, "{line}");
            assert_eq!(line["outcome"], "charged", "{line}");
            assert_eq!(line["units_reserved"], 100, "{line}");
            assert_eq!(line["units_charged"], 40, "{line}");
        }
        sim.set(|s| s.delay = None);
        let stopped = guard.stop();
        assert!(
            stopped
                .stdout
                .contains("units left in the guard's budget: 170"),
            "shared: {shared}\n{}",
            stopped.stdout
        );
        assert_eq!(sim.charged(), 80);
    }
}

/// The API's Retry-After is honoured: never retried sooner, and a wait past the call's
/// --timeout ends the call with the API's 429 (and its Retry-After).
#[test]
fn retry_after_is_honoured() {
    let sim = Simulator::start_data(1_000_000);
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--timeout", "0.5"]);
    // Retry-After 2 s > --timeout 0.5 s: one attempt, the 429 passed on.
    sim.set(|s| s.fail_next(1, Fault::TooManyRequestsRetryAfter { seconds: 2 }));
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("2"));
    assert_eq!(sim.requests(), 1, "retried before the Retry-After");
    guard.stop();
    // Retry-After 1 s within the default --timeout (20 s): waited, retried, answered.
    let guard = GuardProc::start(sim.url(), &["--budget", "1000"]);
    sim.set(|s| s.fail_next(1, Fault::TooManyRequestsRetryAfter { seconds: 1 }));
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sim.requests(), 3);
    guard.stop();
}

/// The first signal waits for calls in flight; a second stops at once, with the summary.
#[test]
fn a_second_signal_stops_at_once() {
    let sim = Simulator::start_data(1_000_000);
    // the API takes 60 s to answer: longer than this test waits.
    sim.set(|s| s.delay = Some(Duration::from_secs(60)));
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--timeout", "120"]);
    let _client = send_and_hold(&guard.url, "/v1/backlinks/summary?target=a.com");
    eventually("the API has the call", || sim.requests() == 1);
    guard.term();
    guard.stderr_until("it is stopping", |e| {
        e.contains("budget guard stopping: waiting for 1 calls in flight")
    });
    guard.term();
    let stopped = guard.wait(Duration::from_secs(10));
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(
        stopped.stdout.contains("Spend by endpoint")
            && stopped
                .stdout
                .contains("units left in the guard's budget: 900"),
        "{}",
        stopped.stdout
    );
    assert!(
        stopped
            .stderr
            .contains("stopped at once on a second signal: 1 calls in flight were abandoned"),
        "{}",
        stopped.stderr
    );
}

/// Without --budget, units reserved by running gates of the same account are left out.
#[test]
fn live_budget_leaves_out_gate_reservations() {
    let sim = Simulator::start_data(30_000);
    let s = Scratch::new();
    let go = s.path().join("go");
    let started = s.path().join("started");
    let script = crate::support::WAIT_FOR_GO;
    // docs-example: 26,000 units reserved by a gate of the same key (same account).
    let gate = budget()
        .env("SERANKING_API_KEY", KEY)
        .args([
            "gate",
            "workflows/docs-example.yaml",
            "--units-left",
            "30000",
        ])
        .args(["--", "sh", "-c", script, "sh"])
        .arg(&started)
        .arg(&go)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gate");
    eventually("the gate runs its job", || started.exists());
    let guard = GuardProc::start(sim.url(), &[]);
    // 30,000 live − 26,000 reserved = 4,000.
    let stderr = guard.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains(
            "budget 4,000 units (live units_left 30,000 − 26,000 reserved by running jobs)"
        ),
        "{stderr}"
    );
    let answer = one(
        &guard.url,
        get(
            "/v1/backlinks/export?target=a.com&target=b.com&target=c.com&target=d.com&target=e.com",
        ),
    );
    assert_eq!(answer.status, 402);
    assert!(
        answer.body.contains("needs 5,000 units, 4,000 left"),
        "{}",
        answer.body
    );
    guard.stop();
    std::fs::write(&go, "").expect("write go");
    crate::support::Run::from(gate.wait_with_output().expect("wait")).code(0);
}

/// Success replies are scrubbed too, of the key as sent and in its encoded forms (with
/// `--auth query` the key travels form-encoded, and an echo shows it so).
#[test]
fn the_key_is_scrubbed_from_success_replies_in_every_encoding() {
    let key = "k3y+plus/x=y&z~";
    // by hand: percent-encoded k3y%2Bplus%2Fx%3Dy%26z~ (~ is unreserved), form-encoded
    // k3y%2Bplus%2Fx%3Dy%26z%7E (as the guard sends it with --auth query).
    let forms = [key, "k3y%2Bplus%2Fx%3Dy%26z~", "k3y%2Bplus%2Fx%3Dy%26z%7E"];
    for auth in ["header", "query"] {
        let sim = Simulator::start_data(1_000_000);
        sim.set(|s| {
            s.key = key.to_string();
            s.fail_next(1, Fault::EchoKeyOk);
        });
        let guard = GuardProc::start_env(
            sim.url(),
            &["--budget", "1000", "--auth", auth],
            &[("SERANKING_API_KEY", key)],
        );
        let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
        assert_eq!(answer.status, 200, "{auth}: {}", answer.body);
        assert!(
            answer.body.contains("[redacted]"),
            "{auth}: {}",
            answer.body
        );
        for form in forms {
            assert!(
                !answer.body.contains(form),
                "{auth}: {form} in {}",
                answer.body
            );
        }
        guard.stop();
    }
}

/// A JSON body of `n` targets for backlinks/summary.
fn targets_json(n: usize) -> String {
    let targets: Vec<String> = (0..n).map(|i| format!("\"t{i}.com\"")).collect();
    format!("{{\"target\":[{}]}}", targets.join(","))
}

/// The calls of the issue's "Why" list that the guard used to misprice: each is refused with a
/// 422 in the vendor's envelope saying what to change, and none reaches the API.
fn unpriceable_calls() -> Vec<(Call, &'static str)> {
    let bom = [b"\xEF\xBB\xBF".as_slice(), targets_json(100).as_bytes()].concat();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(targets_json(100).encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let deep = format!(
        "{{\"target\":{}\"x.com\"{}}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    vec![
        (
            get("/v1/backlinks/all?target=a.com&limit=5000.0"),
            "`limit` is \"5000.0\", not a whole number written with the digits 0-9",
        ),
        (
            get("/v1/backlinks/all?target=a.com&limit=5e3"),
            "`limit` is \"5e3\", not a whole number",
        ),
        (
            get("/v1/backlinks/all?target=a.com&limit=5_000"),
            "`limit` is \"5_000\", not a whole number",
        ),
        // ５０００ in full-width digits, percent-encoded as a client sends it.
        (
            get("/v1/backlinks/all?target=a.com&limit=%EF%BC%95%EF%BC%90%EF%BC%90%EF%BC%90"),
            "not a whole number written with the digits 0-9",
        ),
        (
            get("/v1/backlinks/all?target=a.com&limit=5000&limit=1"),
            "`limit` is given twice with different values (5000 and 1)",
        ),
        (
            post_raw(
                "/v1/backlinks/summary?target=a.com",
                "application/json",
                &bom,
            ),
            "UTF-8 byte order mark",
        ),
        (
            post_raw(
                "/v1/backlinks/summary?target=a.com",
                "application/json",
                &utf16,
            ),
            "UTF-16 or UTF-32",
        ),
        (
            post_raw(
                "/v1/backlinks/summary?target=a.com",
                "application/json",
                deep.as_bytes(),
            ),
            "nested deeper than the guard reads",
        ),
        (
            post_raw(
                "/v1/backlinks/summary?target=a.com",
                "application/x-www-form-urlencoded",
                b"target=b.com&target=c.com",
            ),
            "form-encoded",
        ),
        (
            Call {
                post: Some(r#"{"target":["b.com","c.com"]}"#.into()),
                ..get("/v1/backlinks/summary?target=a.com")
            },
            "targets are given both in the query and in the body",
        ),
    ]
}

#[test]
fn calls_the_guard_cannot_price_exactly_are_refused() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1M", "--journal", &journal]);
    let cases = unpriceable_calls();
    let count = cases.len();
    for (call, phrase) in cases {
        let path = call.path.clone();
        let answer = one(&guard.url, call);
        // 422, not the API's 400: the guard's refusal, marked as such.
        assert_eq!(answer.status, 422, "{path}: {}", answer.body);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], 422);
        assert_eq!(error["source"], "budget-guard");
        assert_eq!(error["message"], "Cannot price this call", "{path}");
        let text = error["description"].as_str().unwrap_or_default();
        assert!(text.contains(phrase), "{path}: {text:?} lacks {phrase:?}");
        assert!(
            text.contains("cannot be priced exactly, so it was not sent to the API"),
            "{text}"
        );
    }
    assert_eq!(sim.requests(), 0, "nothing refused reaches the API");
    let stopped = guard.stop();
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 1,000,000"),
        "{}",
        stopped.stdout
    );
    let lines = ledger_lines(&journal);
    assert_eq!(lines.len(), count);
    for line in &lines {
        assert_eq!(line["outcome"], "rejected", "{line}");
        assert_eq!(line["units_charged"], 0, "{line}");
        // named as the catalogue names them, so refused calls group with the rest.
        let endpoint = line["endpoint"].as_str().unwrap();
        assert!(
            endpoint == "backlinks/all" || endpoint == "backlinks/summary",
            "{line}"
        );
    }
}

/// An overrun (a reply holding more records than the call was priced at) is charged in full,
/// journaled, warned about, and takes the budget below zero so later calls are refused.
fn an_overrun_is_charged(extra: &[&str]) {
    let sim = Simulator::start_data(1_000_000);
    // The API returns 5,000 rows whatever the limit (as it did for `limit=5000&limit=1`).
    sim.set(|s| s.data.rows_override = Some(5_000));
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let mut args = vec!["--budget", "1000", "--journal", &journal];
    args.extend_from_slice(extra);
    let guard = GuardProc::start(sim.url(), &args);
    // priced at 100 rows × 1 unit; billed 5,000: 1,000 − 5,000 = −4,000 left.
    let answer = one(&guard.url, get("/v1/backlinks/all?target=a.com&limit=100"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json()["backlinks"].as_array().map(Vec::len),
        Some(5_000)
    );
    guard.stderr_until("the overrun warning", |e| {
        e.contains("warning: a backlinks/all call")
    });
    let later = one(&guard.url, get("/v1/backlinks/summary?target=b.com"));
    assert_eq!(later.status, 402);
    assert!(
        later
            .body
            .contains("needs 100 units, and the guard's budget is overdrawn by 4,000 units"),
        "{}",
        later.body
    );
    assert_eq!(sim.charged(), 5_000);
    let stopped = guard.stop();
    assert!(
        stopped.stderr.contains(
            "warning: a backlinks/all call was priced at 100 units but its reply shows 5,000 billed; the 4,900 units over were charged to the guard's budget"
        ),
        "{}",
        stopped.stderr
    );
    assert!(
        stopped.stdout.contains(
            "units left in the guard's budget: -4,000 (overdrawn: calls were billed more than they were priced at)"
        ),
        "{}",
        stopped.stdout
    );
    assert!(
        stopped
            .stdout
            .contains("4,900 units were charged beyond the calls' prices"),
        "{}",
        stopped.stdout
    );
    let lines = ledger_lines(&journal);
    assert_eq!(lines[0]["units_reserved"], 100);
    assert_eq!(lines[0]["units_charged"], 5_000);
    assert_eq!(lines[0]["overrun"], 4_900);
    assert_eq!(lines[1]["outcome"], "over_budget");
    assert_eq!(lines[1]["overrun"], 0);
}

#[test]
fn an_overrun_is_charged_in_memory() {
    an_overrun_is_charged(&[]);
}

#[test]
fn an_overrun_is_charged_in_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    an_overrun_is_charged(&["--redis", &url]);
}

/// The issue's scenario: a 1,000-unit budget and seven calls that used to be priced below their
/// bill (55,000 billed upstream while the guard said "399 left"). Now the seven are refused; a
/// call whose reply runs past its price is charged what it billed; the calls after it are
/// refused; the API's bill never exceeds what the guard recorded.
#[test]
fn the_seven_calls_of_the_issue_cannot_overspend() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--journal", &journal]);
    let seven: Vec<Call> = unpriceable_calls()
        .into_iter()
        .map(|(call, _)| call)
        .take(7)
        .collect();
    let answers = run_clients(std::slice::from_ref(&guard.url), vec![seven]);
    assert!(answers.iter().all(|a| a.status == 422), "{answers:?}");
    assert_eq!(sim.charged(), 0);
    // A call the guard reads, whose reply holds 5,000 rows for a limit of 100.
    sim.set(|s| s.data.rows_override = Some(5_000));
    let answer = one(&guard.url, get("/v1/backlinks/all?target=a.com&limit=100"));
    assert_eq!(answer.status, 200);
    // Later calls: the budget is spent (overdrawn by 4,000), every one is refused.
    let later = run_clients(
        std::slice::from_ref(&guard.url),
        vec![vec![
            get("/v1/backlinks/summary?target=a.com"),
            get("/v1/backlinks/all?target=a.com&limit=1"),
            get("/v1/backlinks/export?target=a.com"),
        ]],
    );
    assert!(later.iter().all(|a| a.status == 402), "{later:?}");
    let stopped = guard.stop();
    let recorded: u64 = ledger_lines(&journal)
        .iter()
        .map(|l| l["units_charged"].as_u64().unwrap())
        .sum();
    // billed 5,000 upstream; recorded 5,000.
    assert_eq!(sim.charged(), 5_000);
    assert!(
        sim.charged() <= recorded,
        "billed {} > recorded {recorded}",
        sim.charged()
    );
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: -4,000"),
        "{}",
        stopped.stdout
    );
}

/// What SE Ranking's MCP server sends for keywords/export (tests/data/mcp-corpus.json): a
/// multipart form with one `keywords[]` field per keyword and `source` in the query.
#[test]
fn multipart_keywords_are_counted() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--journal", &journal]);
    let body = "------formdata-undici-0\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nseo tools\r\n\
                ------formdata-undici-0\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nrank tracker\r\n\
                ------formdata-undici-0\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nbacklink checker\r\n\
                ------formdata-undici-0\r\nContent-Disposition: form-data; name=\"sort\"\r\n\r\ncpc\r\n\
                ------formdata-undici-0--\r\n";
    let answer = one(
        &guard.url,
        post_raw(
            "/v1/keywords/export?source=uk",
            "multipart/form-data; boundary=----formdata-undici-0",
            body.as_bytes(),
        ),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json().as_array().map(Vec::len), Some(3));
    guard.stop();
    let lines = ledger_lines(&journal);
    // one request of 3 keywords: 100 units, billed and charged.
    assert_eq!(lines[0]["targets"], 3);
    assert_eq!(lines[0]["units_charged"], 100);
    assert_eq!(sim.charged(), 100);
}

/// Endpoints added from the facts file, priced as documented; an unknown price is refused as
/// unknown (never as an unknown endpoint) until an overlay sets it.
#[test]
fn new_catalogue_entries_through_the_guard() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1M", "--journal", &journal]);
    let calls = vec![
        // SERP task for 3 keywords: 3 × 10 = 30; its poll is free.
        Call {
            post: Some(r#"{"search_engine":"google","device":"desktop","language_code":"en","location_id":2840,"query":["a","b","c"]}"#.into()),
            ..get("/v1/serp/classic/tasks")
        },
        get("/v1/serp/classic/tasks?task_id=987654321"),
        // page authority history, Jan..Oct 2026 by month: 10 periods × 1 = 10.
        get("/v1/backlinks/authority/page/history?target=https%3A%2F%2Fa.com%2Fp&date_from=2026-01-01&date_to=2026-10-31&granularity=by_month"),
        // new/lost counts for October: 31 day rows × 100 = 3,100.
        get("/v1/backlinks/history/count?target=a.com&mode=host&date_from=2026-10-01&date_to=2026-10-31&output=json"),
        // domain overview takes no source: 100 per request.
        get("/v1/domain/overview/worldwide?domain=a.com&currency=USD"),
        // a standard audit of 5,000 pages: 2 × 5,000 = 10,000.
        Call {
            post: Some(r#"{"domain":"a.com","settings":{"max_pages":5000}}"#.into()),
            ..get("/v1/site-audit/audits/standard")
        },
    ];
    let answers = run_clients(std::slice::from_ref(&guard.url), vec![calls]);
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    // 30 + 0 + 10 + 3,100 + 100 + 10,000 = 13,240.
    assert_eq!(sim.charged(), 13_240);
    let unknown = one(&guard.url, get("/v1/domain/pages?target=a.com&source=us"));
    assert_eq!(unknown.status, 501);
    assert_eq!(
        unknown.json()["error"]["message"],
        "Not priced by budget guard"
    );
    assert!(
        unknown
            .body
            .contains("the price of domain/pages is unknown (no source publishes it)"),
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.contains("--pricing-overlay FILE"),
        "{}",
        unknown.body
    );
    assert!(
        !unknown
            .body
            .contains("not in the guard's pricing catalogue"),
        "{}",
        unknown.body
    );
    assert_eq!(sim.requests(), 6);
    guard.stop();
    let charged: Vec<u64> = ledger_lines(&journal)
        .iter()
        .map(|l| l["units_charged"].as_u64().unwrap())
        .collect();
    assert_eq!(charged, vec![30, 0, 10, 3_100, 100, 10_000, 0]);

    // With an overlay that sets the price, the same call is forwarded and charged.
    let overlay = scratch.file(
        "pages.yaml",
        "endpoints:\n  domain/pages: {units: 100, evidence: docs, ref: \"our contract\"}\n",
    );
    let guard = GuardProc::start(
        sim.url(),
        &["--budget", "1000", "--pricing-overlay", &overlay],
    );
    let answer = one(&guard.url, get("/v1/domain/pages?target=a.com&source=us"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stopped = guard.stop();
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 900"),
        "{}",
        stopped.stdout
    );
}

/// A billable call sent without a complete reply is never sent again and is charged its worst
/// case (the API may have billed it). The invariant: the guard's transport never retries what
/// may already have been billed.
#[test]
fn a_call_without_a_reply_is_charged_its_worst_case_and_not_retried() {
    let sim = Simulator::start_data(1_000_000);
    sim.set(|s| s.delay = Some(Duration::from_secs(5)));
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "1000",
            "--timeout",
            "0.5",
            "--journal",
            &journal,
        ],
    );
    let answer = one(&guard.url, get("/v1/backlinks/summary?target=a.com"));
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("charged its worst case and not retried"),
        "{}",
        answer.body
    );
    assert_eq!(sim.requests(), 1, "a lost billable call is not sent again");
    let stopped = guard.stop();
    // summary: 1 target × 100 units = 100 charged; 1,000 − 100 = 900 left.
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 900"),
        "{}",
        stopped.stdout
    );
    let lines = ledger_lines(&journal);
    assert_eq!(lines[0]["units_charged"], 100);
    assert_eq!(lines[0]["attempts"], 1);
}

const DOCS: &str = "workflows/docs-example.yaml"; // 26,000 units (see tests/plan.rs)

/// `budget ARGS` with the simulator's key (the guard's account) and, when given, `--redis`.
fn with_key(args: &[&str], redis: Option<&str>) -> crate::support::Run {
    let mut cmd = budget();
    cmd.env("SERANKING_API_KEY", KEY).args(args);
    if let Some(url) = redis {
        cmd.env("BUDGET_REDIS_URL", url);
    }
    crate::support::Run::from(cmd.output().expect("run budget"))
}

fn listed(redis: Option<&str>) -> Vec<Value> {
    let json = with_key(&["reservations", "--format", "json"], redis)
        .code(0)
        .json();
    json["reservations"].as_array().cloned().unwrap_or_default()
}

/// Invariant: a guard holding the live balance is seen by gates (before, a gate ran a
/// 26,000-unit job beside a guard started on the same 30,000 units), by name; its hold goes
/// when it stops.
#[test]
fn a_gate_sees_the_guards_hold_until_the_guard_stops() {
    let sim = Simulator::start_data(30_000);
    // Live budget: 30,000 − 0 held by others = 30,000, all of it held for the guard.
    let guard = GuardProc::start(sim.url(), &[]);
    guard.stderr_until("where it holds its budget", |e| {
        e.contains("holding its unspent budget in the reservation ledger (")
            && e.contains("budget/reservations.json): gates, plans and other guards of this account leave it out")
    });
    let list = listed(None);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["holder"], "guard");
    assert_eq!(list[0]["pid"], guard.child.id());
    assert_eq!(list[0]["units"], 30000);
    assert_eq!(list[0]["command"], format!("budget guard on {}", guard.url));
    let gate = ["gate", DOCS, "--units-left", "30000", "--", "true"];
    // 30,000 − 30,000 held = 0 usable: the 26,000-unit job does not run.
    with_key(&gate, None)
        .code(1)
        .stderr_has("30,000 reserved by running jobs, 0 usable")
        .stderr_has(&format!(
            "held by running jobs of this account: guard {} (budget guard on {}): 30,000 units",
            guard.child.id(),
            guard.url
        ));
    let table = with_key(&["reservations"], None);
    table.code(0).stdout_has("guard").stdout_has("30,000");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert_eq!(listed(None), Vec::<Value>::new());
    with_key(&gate, None).code(0);
}

/// Invariant: a guard that is killed (no chance to release) holds nothing once it is gone:
/// file ledger by the pid check; Redis by the pid check of a reader on the same machine (the
/// lease, 30 s, elsewhere). Guards sharing one Redis budget hold it once.
#[test]
fn a_killed_guards_hold_is_dropped_and_a_shared_budget_counts_once() {
    let sim = Simulator::start_data(30_000);
    let gate = ["gate", DOCS, "--units-left", "30000", "--", "true"];
    // File ledger: --budget 20,000 is held too; 30,000 − 20,000 = 10,000 < 26,000.
    let mut guard = GuardProc::start(sim.url(), &["--budget", "20000"]);
    with_key(&gate, None)
        .code(1)
        .stderr_has("20,000 reserved by running jobs, 10,000 usable");
    guard.child.kill().expect("kill -9 the guard");
    guard.child.wait().expect("reap");
    with_key(&gate, None).code(0);
    // Redis: two guards on one shared budget of 20,000.
    let redis = RedisServer::start();
    let url = redis.url();
    let args = ["--budget", "20000", "--redis", &url];
    let mut first = GuardProc::start(sim.url(), &[&args[..], &["--new-budget"]].concat());
    let mut second = GuardProc::start(sim.url(), &args);
    let list = listed(Some(&url));
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|r| r["holder"] == "guard"), "{list:?}");
    // Held once: 50,000 − 20,000 = 30,000 usable (twice would leave 10,000).
    let check = with_key(
        &["check", DOCS, "--units-left", "50000", "--format", "json"],
        Some(&url),
    );
    let json = check.code(0).json();
    assert_eq!(json["balance"]["reserved"], 20000);
    for guard in [&mut first, &mut second] {
        guard.child.kill().expect("kill -9");
        guard.child.wait().expect("reap");
    }
    assert_eq!(listed(Some(&url)), Vec::<Value>::new());
    with_key(&gate, Some(&url)).code(0);
}

/// A hold that cannot be released is said so; the guard still exits 0 (it served), and the
/// ledger drops the hold once the process is gone.
#[test]
fn a_hold_that_cannot_be_released_is_a_warning() {
    let sim = Simulator::start_data(30_000);
    let guard = GuardProc::start(sim.url(), &["--budget", "1000"]);
    // The ledger becomes unusable under the running guard: its file is now a directory.
    let ledger = crate::support::state_home().join("budget/reservations.json");
    // The guard rewrites the file every few seconds (temp file + rename), so it may come back
    // between the two steps; once a directory stands there, a rename cannot replace it.
    let mut replaced = false;
    for _ in 0..100 {
        match std::fs::remove_file(&ledger) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove the ledger: {e}"),
        }
        match std::fs::create_dir(&ledger) {
            Ok(()) => {
                replaced = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("a directory in its place: {e}"),
        }
    }
    assert!(replaced, "the guard kept re-creating its ledger file");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains(
            "warning: cannot release the guard's hold: cannot use the reservation ledger"
        ) && stopped
            .stderr
            .contains("it is dropped once this process has ended"),
        "{}",
        stopped.stderr
    );
}
