//! `budget guard` as a process: what needs the real binary — its flags and exit codes, its
//! startup text, signals, the reservation ledger it holds its budget in while it runs (seen by
//! gates and `budget reservations`), and a kill. The guard's handling of calls (pricing,
//! refusals, charging, journal lines) is tested in this process, on its `Router`:
//! tests/guard_router.rs. The helpers here (a guard process, HTTP clients, journal readers)
//! serve the other process-level modules too.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::redis_server::RedisServer;
use crate::support::simulator::{refused_url, Simulator, KEY};
use crate::support::{budget, Scratch};

/// A running guard; stopped with SIGTERM by [`GuardProc::stop`] (killed if dropped).
pub(crate) struct GuardProc {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) stderr: Arc<Mutex<String>>,
    /// Reads stderr into `stderr`; ends when the pipe closes (the guard exited).
    reader: Option<std::thread::JoinHandle<()>>,
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
        let reader = {
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
            })
        };
        let url = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // All it wrote: the reader ends with the pipe.
                let _ = reader.join();
                panic!("guard did not start:\n{}", collected.lock().unwrap());
            }
        };
        GuardProc {
            child,
            url,
            stderr: collected,
            reader: Some(reader),
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
        // All it wrote on stderr: the reader ends with the pipe.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
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

pub(crate) use crate::support::calls::{get, tagged, Answer, Call};

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
    // The dashboard's refresh: whole seconds from 1 to 3,600 (docs/guard.md "The dashboard").
    run(&["--budget", "5", "--dashboard-refresh", "0"], &key)
        .code(2)
        .stderr_has("--dashboard-refresh: 0 s is not between 1 and 3600 seconds");
    run(&["--budget", "5", "--dashboard-refresh", "3601"], &key)
        .code(2)
        .stderr_has("--dashboard-refresh: 3601 s is not between 1 and 3600 seconds");
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
    // The metrics listener too: the guard's own work failed, exit 5 (before: 2).
    run(
        &[
            "--budget",
            "5",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            &taken_addr,
        ],
        &key,
    )
    .code(5)
    .stderr_has(&format!("cannot listen on {taken_addr}"))
    .stderr_has("pick another --metrics-listen address or port");
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
    // The second finds the shared budget the first created and joins it (never a second one).
    let stderr = second.stderr.lock().unwrap().clone();
    assert!(stderr.contains("joined the shared budget"), "{stderr}");
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

/// Invariant: a guard joining a shared budget in Redis never ignores its own `--budget` (or
/// `--reserve`) in silence. Before, the joined figure was labelled "(--budget)" and a different `--budget` was
/// dropped without a word; now the startup names the shared budget and warns that the flag did
/// not apply. The same figure draws no warning.
#[test]
fn a_guard_joining_a_shared_budget_warns_that_its_own_budget_does_not_apply() {
    let sim = Simulator::start_data(30_000);
    let redis = RedisServer::start();
    let url = redis.url();
    let first = GuardProc::start(
        sim.url(),
        &["--budget", "20000", "--redis", &url, "--new-budget"],
    );
    let same = GuardProc::start(sim.url(), &["--budget", "20000", "--redis", &url]);
    let text = same.stderr.lock().unwrap().clone();
    assert!(text.contains("(the shared budget in Redis)"), "{text}");
    assert!(!text.contains("warning: --budget"), "{text}");
    let other = GuardProc::start(sim.url(), &["--budget", "5000", "--redis", &url]);
    let text = other.stderr.lock().unwrap().clone();
    // The shared budget holds: 20,000, as the first guard set it.
    assert!(
        text.contains("budget 20,000 units (the shared budget in Redis)"),
        "{text}"
    );
    assert!(!text.contains("(--budget)"), "{text}");
    assert!(
        text.contains("warning: --budget 5,000 is not this guard's budget: it joined the shared budget of 20,000 units another guard set in Redis"),
        "{text}"
    );
    // --reserve is a rule for a live budget, which a joining guard does not read either.
    let reserve = GuardProc::start(sim.url(), &["--reserve", "10%", "--redis", &url]);
    let text = reserve.stderr.lock().unwrap().clone();
    assert!(
        text.contains(
            "warning: --reserve 10% does not apply: it joined the shared budget of 20,000 units"
        ),
        "{text}"
    );
    for guard in [first, same, other, reserve] {
        let stopped = guard.stop();
        assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    }
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
