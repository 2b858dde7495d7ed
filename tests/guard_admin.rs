//! Raising a running guard's budget and approving single calls (docs/guard.md "Raise and
//! approve"), end to end: a guard process against the simulator, `budget guard-admin` as the
//! operator runs it, the journal as the record and a restart as the proof that it is one.

use serde_json::Value;

use crate::guard::{get, journal_lines, one, Answer, Call, GuardProc};
use crate::support::simulator::{Simulator, KEY};
use crate::support::{run, Run, Scratch};

const CLIENT_TOKEN: &str = "client-token-4f1c";
const ADMIN_TOKEN: &str = "admin-token-9b2e";

/// One backlinks/summary call of one target: 100 units (the catalogue's price for a target).
fn summary(n: usize) -> Call {
    Call {
        headers: vec![("X-Budget-Token".into(), CLIENT_TOKEN.into())],
        ..get(&format!("/v1/backlinks/summary?target=site{n}.com"))
    }
}

/// The token files, written once per test.
struct Tokens {
    scratch: Scratch,
    client: String,
    admin: String,
}

impl Tokens {
    fn new() -> Tokens {
        let scratch = Scratch::new();
        let client = scratch.file("client.token", &format!("{CLIENT_TOKEN}\n"));
        let admin = scratch.file("admin.token", &format!("{ADMIN_TOKEN}\n"));
        Tokens {
            scratch,
            client,
            admin,
        }
    }

    fn journal(&self) -> String {
        self.scratch
            .path()
            .join("calls.jsonl")
            .display()
            .to_string()
    }
}

/// `budget guard-admin --guard URL --admin-token-file FILE ARGS`.
fn admin(guard: &str, token_file: &str, args: &[&str]) -> Run {
    let mut all = vec![
        "guard-admin",
        "--guard",
        guard,
        "--admin-token-file",
        token_file,
    ];
    all.extend(args);
    run(&all)
}

fn body(answer: &Answer) -> Value {
    serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("{e}: {}", answer.body))
}

/// The guard's status on its API listener, with the client token.
fn status(guard: &GuardProc) -> Value {
    body(&one(
        &guard.url,
        Call {
            headers: vec![("X-Budget-Token".into(), CLIENT_TOKEN.into())],
            ..get("/budget/status")
        },
    ))
}

/// Invariant: a raise through the admin endpoint lets a job the budget refused go on without a
/// restart, is journaled with who raised it and by how much, and a restart keeps it (the
/// journal's `raise` line is replayed: the budget is `--budget` plus the raises).
#[test]
fn a_raise_lets_a_refused_job_continue_and_survives_a_restart() {
    let sim = Simulator::start_data(1_000_000);
    let tokens = Tokens::new();
    let journal = tokens.journal();
    let args = [
        "--budget",
        "250",
        "--journal",
        &journal,
        "--client-token-file",
        &tokens.client,
        "--admin-token-file",
        &tokens.admin,
    ];
    let guard = GuardProc::start(sim.url(), &args);
    guard.stderr_until("the admin endpoint", |s| s.contains("admin endpoint on"));
    // 100 + 100 fit the 250; the third 100 does not (50 left).
    assert_eq!(one(&guard.url, summary(1)).status, 200);
    assert_eq!(one(&guard.url, summary(2)).status, 200);
    let refused = one(&guard.url, summary(3));
    assert_eq!(refused.status, 402, "{}", refused.body);
    assert!(
        refused.body.contains("budget guard-admin raise"),
        "{}",
        refused.body
    );

    let raised = admin(
        &guard.url,
        &tokens.admin,
        &["raise", "--by", "100", "--as", "alice"],
    );
    raised.code(0);
    // 250 + 100 = 350; 350 − 200 spent = 150 left.
    raised.stdout_has(
        "raised the guard's budget by 100 units: 250 → 350 units, 150 left (by alice; journaled: a restart keeps it)",
    );
    // The same job's call goes on, no restart: 150 − 100 = 50 left.
    assert_eq!(one(&guard.url, summary(3)).status, 200);
    let s = status(&guard);
    assert_eq!(s["budget"]["budget_units"], 350);
    assert_eq!(s["budget"]["remaining_units"], 50);
    // --to below the budget is refused (409): exit 2, nothing changes.
    admin(&guard.url, &tokens.admin, &["raise", "--to", "300"])
        .code(2)
        .stderr_has("the budget is 350 units already; a raise to 300 would lower it");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);

    let lines = journal_lines(&journal);
    let raises: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "raise").collect();
    assert_eq!(raises.len(), 1, "{lines:?}");
    assert_eq!(raises[0]["by"], 100);
    assert_eq!(raises[0]["budget_before"], 250);
    assert_eq!(raises[0]["budget_units"], 350);
    assert_eq!(raises[0]["operator"], "alice");
    assert!(!std::fs::read_to_string(&journal)
        .unwrap()
        .contains(ADMIN_TOKEN));

    // Restarted with the same flags: the raised budget stays raised — 350, 300 spent, 50 left
    // (without the raise line: 250 − 300, nothing left).
    let guard = GuardProc::start(sim.url(), &args);
    guard.stderr_until("the journal line", |s| {
        s.contains("100 units raised by operators (budget guard-admin raise) kept")
    });
    let s = status(&guard);
    assert_eq!(s["budget"]["budget_units"], 350);
    assert_eq!(s["budget"]["spent_units"], 300);
    assert_eq!(s["budget"]["remaining_units"], 50);
    // And it holds: the next 100 does not fit the 50.
    assert_eq!(one(&guard.url, summary(4)).status, 402);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}

/// Invariant: a call that needs an approval is refused (402, `approval_needed`, one id however
/// often it is retried) until an operator approves that id; then exactly that call passes,
/// once, and the soft limit rises by its units only — the next call needs an approval again.
/// A denial refuses the call; every step is journaled.
#[test]
fn an_approved_call_passes_once_and_only_its_units_are_granted() {
    let sim = Simulator::start_data(1_000_000);
    let tokens = Tokens::new();
    let journal = tokens.journal();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "10000",
            "--soft-budget",
            "250",
            "--journal",
            &journal,
            "--client-token-file",
            &tokens.client,
            "--admin-token-file",
            &tokens.admin,
        ],
    );
    assert_eq!(one(&guard.url, summary(1)).status, 200);
    assert_eq!(one(&guard.url, summary(2)).status, 200);
    // 200 used + 100 = 300 > the soft 250: approval needed.
    let asked = one(&guard.url, summary(3));
    assert_eq!(asked.status, 402, "{}", asked.body);
    let error = &body(&asked)["error"];
    assert_eq!(error["approval_needed"], true);
    assert_eq!(error["units"], 100);
    assert_eq!(error["source"], "budget-guard");
    let id = error["approval_id"].as_str().unwrap().to_string();
    assert!(
        error["description"]
            .as_str()
            .unwrap()
            .contains(&format!("budget guard-admin approve {id}")),
        "{error}"
    );
    // Retried before the decision: the same id, still refused.
    let again = one(&guard.url, summary(3));
    assert_eq!(again.status, 402);
    assert_eq!(body(&again)["error"]["approval_id"], id.as_str());

    let listed = admin(&guard.url, &tokens.admin, &["approvals"]);
    listed.code(0).stdout_has(&id).stdout_has("pending");
    let listed = admin(
        &guard.url,
        &tokens.admin,
        &["approvals", "--format", "json"],
    )
    .json();
    assert_eq!(listed["pending"], 1);
    assert_eq!(listed["approvals"][0]["id"], id.as_str());
    assert_eq!(listed["approvals"][0]["reason"], "soft_budget");
    assert_eq!(listed["approvals"][0]["units"], 100);
    admin(&guard.url, &tokens.admin, &["approve", &id, "--as", "bob"])
        .code(0)
        .stdout_has(&format!(
            "approved {id}: one GET backlinks/summary call of 100 units may pass"
        ));
    // Approving twice is a conflict (exit 2).
    admin(&guard.url, &tokens.admin, &["approve", &id])
        .code(2)
        .stderr_has(&format!("approval {id} was approved already"));
    // Another call is not granted by it.
    let other = one(&guard.url, summary(4));
    assert_eq!(other.status, 402);
    let other_id = body(&other)["error"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(other_id, id);
    // The approved call passes, once.
    let passed = one(&guard.url, summary(3));
    assert_eq!(passed.status, 200, "{}", passed.body);
    // Now 300 used, the soft limit 250 + 100 approved = 350: the same call again (another
    // 100, 400 > 350) needs a new approval — only that call's units were granted.
    let once_more = one(&guard.url, summary(3));
    assert_eq!(once_more.status, 402);
    let new_id = body(&once_more)["error"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, id);
    let s = status(&guard);
    assert_eq!(s["approvals"]["approved_units"], 100);
    assert_eq!(s["approvals"]["soft_budget_units"], 250);
    assert_eq!(s["budget"]["spent_units"], 300);
    // A denial: the call is refused as denied.
    admin(
        &guard.url,
        &tokens.admin,
        &["deny", &other_id, "--as", "bob"],
    )
    .code(0)
    .stdout_has(&format!("denied {other_id}"));
    let denied = one(&guard.url, summary(4));
    assert_eq!(denied.status, 402);
    assert_eq!(body(&denied)["error"]["approval_needed"], false);
    assert!(denied.body.contains("denied this"), "{}", denied.body);
    // An unknown id: 404, exit 2.
    admin(&guard.url, &tokens.admin, &["approve", "nope-1"])
        .code(2)
        .stderr_has("no approval nope-1 is pending on this guard");
    // The issue's spelling, `raise --approve ID`, is the same grant.
    admin(
        &guard.url,
        &tokens.admin,
        &["raise", "--approve", &new_id, "--as", "carol"],
    )
    .code(0)
    .stdout_has(&format!("approved {new_id}"));
    assert_eq!(one(&guard.url, summary(3)).status, 200);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);

    let lines = journal_lines(&journal);
    let events: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["kind"] == "approval")
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_string(),
                l["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("requested".to_string(), id.clone()),
            ("approved".to_string(), id.clone()),
            ("requested".to_string(), other_id.clone()),
            ("requested".to_string(), new_id.clone()),
            ("denied".to_string(), other_id.clone()),
            ("approved".to_string(), new_id.clone()),
        ]
    );
    let approved = lines
        .iter()
        .find(|l| l["kind"] == "approval" && l["event"] == "approved")
        .unwrap();
    assert_eq!(approved["operator"], "bob");
    assert_eq!(approved["reason"], "soft_budget");
    // The call that passed carries its approval; 100 + 100 + 100 charged, then the call
    // approved by `raise --approve`: 400.
    let passed_line = lines
        .iter()
        .find(|l| l["endpoint"].is_string() && l["approval"] == id.as_str() && l["status"] == 200)
        .expect("the approved call's line");
    assert_eq!(passed_line["units_charged"], 100);
    let charged: u64 = lines
        .iter()
        .filter_map(|l| l["units_charged"].as_u64())
        .sum();
    assert_eq!(charged, 400);
}

/// Invariant: the admin endpoint opens only with the admin token (none, a wrong one or a
/// client's: 401), and a guard refuses to start with an admin token that is a client's, the
/// metrics listener's or the API key (exit 2).
#[test]
fn the_admin_token_is_required_and_is_no_one_elses() {
    let sim = Simulator::start_data(1_000_000);
    let tokens = Tokens::new();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "250",
            "--client-token-file",
            &tokens.client,
            "--admin-token-file",
            &tokens.admin,
        ],
    );
    let raise = |headers: Vec<(String, String)>| {
        one(
            &guard.url,
            Call {
                post: Some(r#"{"by": 1000, "operator": "mallory"}"#.into()),
                headers,
                ..get("/budget/admin/raise")
            },
        )
    };
    let bearer = |t: &str| vec![("Authorization".to_string(), format!("Bearer {t}"))];
    for headers in [
        Vec::new(),
        bearer("wrong"),
        bearer(CLIENT_TOKEN),
        vec![("X-Budget-Token".to_string(), ADMIN_TOKEN.to_string())],
    ] {
        let answer = raise(headers.clone());
        assert_eq!(answer.status, 401, "{headers:?}: {}", answer.body);
        assert!(
            answer.body.contains("needs the guard's admin token"),
            "{}",
            answer.body
        );
    }
    let wrong = tokens.scratch.file("wrong.token", "not-the-admin-token\n");
    admin(&guard.url, &wrong, &["raise", "--by", "1000"])
        .code(2)
        .stderr_has("refused (401)");
    admin(&guard.url, &tokens.client, &["approvals"])
        .code(2)
        .stderr_has("refused (401)");
    // Nothing was raised.
    assert_eq!(status(&guard)["budget"]["budget_units"], 250);
    // Without a token file at all.
    run(&["guard-admin", "--guard", &guard.url, "approvals"])
        .code(2)
        .stderr_has("pass --admin-token-file FILE");
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);

    // A guard without --admin-token-file has no admin endpoint (404, exit 2).
    let plain = GuardProc::start(sim.url(), &["--budget", "250"]);
    admin(&plain.url, &tokens.admin, &["raise", "--by", "10"])
        .code(2)
        .stderr_has("this guard has no admin endpoint");
    drop(plain.stop());
    // No guard there: exit 5.
    admin("http://127.0.0.1:9", &tokens.admin, &["approvals"])
        .code(5)
        .stderr_has("cannot reach the guard at http://127.0.0.1:9");

    // The admin token may not be a client's, the metrics token, or the API key: exit 2.
    let same = tokens
        .scratch
        .file("same.token", &format!("{CLIENT_TOKEN}\n"));
    let key = tokens.scratch.file("key.token", &format!("{KEY}\n"));
    let starts = |extra: &[&str]| {
        let mut args = vec![
            "guard",
            "--listen",
            "127.0.0.1:0",
            "--api-url",
            sim.url(),
            "--budget",
            "250",
        ];
        args.extend(extra);
        crate::support::budget()
            .args(&args)
            .env("SERANKING_API_KEY", KEY)
            .output()
            .map(Run::from)
            .expect("run")
    };
    starts(&[
        "--client-token-file",
        &tokens.client,
        "--admin-token-file",
        &same,
    ])
    .code(2)
    .stderr_has("--admin-token-file: holds a client's token");
    starts(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-token-file",
        &same,
        "--admin-token-file",
        &same,
    ])
    .code(2)
    .stderr_has("--admin-token-file: holds the metrics listener's token");
    starts(&["--admin-token-file", &key])
        .code(2)
        .stderr_has("--admin-token-file: holds the API key");
    starts(&["--approval-above", "1000"])
        .code(2)
        .stderr_has("--approval-above: calls that need an approval could never get one");
}

/// `GET url` with `headers` (at most 10 s, no redirects followed): status, `Set-Cookie`, body.
fn fetch(url: &str, headers: &[(&str, &str)], form: Option<&str>) -> (u16, Option<String>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        let mut request = match form {
            Some(body) => client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_string()),
            None => client.get(url),
        };
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("answers");
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        (status, cookie, response.text().await.expect("body"))
    })
}

/// Invariant: the metrics listener serves the operator's dashboard (every client) behind the
/// metrics token — by header, or through its sign-in form and cookie — and that cookie does not
/// open `/metrics` (scrapers send the token).
#[test]
fn the_operators_dashboard_is_on_the_metrics_listener() {
    let sim = Simulator::start_data(1_000_000);
    let tokens = Tokens::new();
    let metrics_token = tokens.scratch.file("metrics.token", "metrics-tok-3\n");
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "500",
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-token-file",
            &metrics_token,
        ],
    );
    let stderr = guard.stderr.lock().unwrap().clone();
    let base = stderr
        .lines()
        .find_map(|l| l.strip_prefix("  metrics on "))
        .and_then(|l| l.split("/metrics").next())
        .unwrap_or_else(|| panic!("no metrics line:\n{stderr}"))
        .to_string();
    assert!(
        stderr.contains(&format!("  dashboard: {}/budget/\n", guard.url)),
        "{stderr}"
    );
    let dashboard = format!("{base}/budget/");
    let (status, _, body) = fetch(&dashboard, &[], None);
    assert_eq!(status, 401);
    assert!(body.contains("action=\"/budget/login\""), "{body}");
    let (status, _, body) = fetch(
        &dashboard,
        &[("authorization", "Bearer metrics-tok-3")],
        None,
    );
    assert_eq!(status, 200);
    assert!(
        body.contains("Budget guard: every client (operator's view)"),
        "{body}"
    );
    assert!(
        body.contains(r#"<dd id="remaining-units">500</dd>"#),
        "{body}"
    );
    let (status, cookie, _) = fetch(
        &format!("{base}/budget/login"),
        &[],
        Some("token=metrics-tok-3"),
    );
    assert_eq!(status, 303);
    let cookie = cookie.expect("a cookie");
    let cookie = cookie.split(';').next().unwrap();
    assert_eq!(fetch(&dashboard, &[("cookie", cookie)], None).0, 200);
    assert_eq!(
        fetch(
            &format!("{base}/budget/status"),
            &[("cookie", cookie)],
            None
        )
        .0,
        200
    );
    assert_eq!(
        fetch(&format!("{base}/metrics"), &[("cookie", cookie)], None).0,
        401
    );
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}
