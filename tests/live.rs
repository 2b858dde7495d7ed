//! The live API: the simulator itself, `budget balance`, live `plan`/`check`, retries, failures,
//! and that the key never leaks.

use crate::support::simulator::{self, raw_get, CreditsRoute, Fault, Simulator, KEY};

#[test]
fn simulator_accepts_both_auth_methods_and_counts_them() {
    let sim = Simulator::start();
    let auth = format!("Token {KEY}");
    let (status, body) = raw_get(
        sim.addr(),
        "/v1/account/subscription",
        &[("Authorization", &auth)],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"expiraton_date\":\"2099-02-18 14:20:02\""),
        "{body}"
    );
    let (status, _) = raw_get(
        sim.addr(),
        &format!("/v1/account/subscription?apikey={KEY}"),
        &[],
    );
    assert_eq!(status, 200);
    let (status, body) = raw_get(sim.addr(), "/v1/account/subscription", &[]);
    assert_eq!(
        (status, body.as_str()),
        (400, "{\"error_description\":\"No token\"}")
    );
    let (status, body) = raw_get(sim.addr(), "/v1/account/subscription?apikey=wrong", &[]);
    assert_eq!(status, 400);
    assert!(body.contains("Authentication failed"), "{body}");
    assert_eq!(
        sim.read(|s| (s.requests, s.header_auth, s.query_auth)),
        (4, 1, 2)
    );
}

#[test]
fn simulator_rolling_window_rejects_beyond_n_per_second() {
    let sim = Simulator::start();
    sim.set(|s| s.rate_limit = Some(2));
    let path = format!("/v1/account/subscription?apikey={KEY}");
    // Three requests well within one second: the third is over a window of 2.
    let statuses: Vec<u16> = (0..3).map(|_| raw_get(sim.addr(), &path, &[]).0).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let (_, body) = raw_get(sim.addr(), &path, &[]);
    assert!(
        body.contains("\"code\":429") && body.contains("call-rate limit"),
        "{body}"
    );
}

#[test]
fn simulator_serves_queued_faults_then_recovers() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.fail_next(1, Fault::BadGatewayHtml);
        s.fail_next(1, Fault::InsufficientFunds { status: 402 });
        s.expiry_key = simulator::ExpiryKey::Documented;
    });
    let path = format!("/v1/account/subscription?apikey={KEY}");
    let (status, body) = raw_get(sim.addr(), &path, &[]);
    assert_eq!(status, 502);
    assert!(body.contains("<title>502 Bad Gateway</title>"));
    assert_eq!(raw_get(sim.addr(), &path, &[]).0, 402);
    let (status, body) = raw_get(sim.addr(), &path, &[]);
    assert_eq!(status, 200);
    assert!(body.contains("\"expiration_date\""), "{body}");
}

// ---------------------------------------------------------------------------------------------
// The client, through the binary.

use std::time::Duration;

use crate::support::{budget, Run, Scratch};

const AUTHS: [&str; 2] = ["header", "query"];

/// `budget ARGS --auth AUTH` against `url` with the simulator's key in the environment and a 1 ms
/// back-off base, so retries take milliseconds.
fn live_at(url: &str, auth: &str, args: &[&str]) -> Run {
    budget()
        .env("SERANKING_API_KEY", KEY)
        .env("SERANKING_API_URL", url)
        .env("BUDGET_RETRY_BASE_MS", "1")
        .env("NO_PROXY", "127.0.0.1")
        .args(args)
        .args(["--auth", auth])
        .output()
        .expect("run budget")
        .into()
}

fn live(sim: &Simulator, auth: &str, args: &[&str]) -> Run {
    live_at(sim.url(), auth, args)
}

/// The key appears nowhere in what the run printed.
#[track_caller]
fn no_leak(run: &Run) -> &Run {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(KEY), "{stream} shows the key:\n{text}");
        assert!(
            !text.contains(&KEY[..13]),
            "{stream} shows part of the key:\n{text}"
        );
    }
    run
}

/// Runs `budget balance` against a simulator prepared by `prepare`, in both auth modes; checks
/// exit 3, the phrase, the key's absence and how many requests arrived.
#[track_caller]
fn fails(prepare: impl Fn(&Simulator), args: &[&str], phrase: &str, requests: u64) {
    for auth in AUTHS {
        let sim = Simulator::start();
        prepare(&sim);
        let mut all = vec!["balance"];
        all.extend_from_slice(args);
        let run = live(&sim, auth, &all);
        no_leak(run.code(3).stderr_has(phrase));
        assert_eq!(
            sim.requests(),
            requests,
            "requests received ({auth} auth)\n{}",
            run.stderr
        );
    }
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now().naive_utc() + chrono::Duration::days(days) + chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[test]
fn balance_json_in_both_auth_modes() {
    for auth in AUTHS {
        let sim = Simulator::start();
        let expires = in_days(10);
        sim.set(|s| s.expiration_date = expires.clone());
        let run = live(&sim, auth, &["balance", "--format", "json"]);
        let json = no_leak(run.code(0)).json();
        // used = 5,000,000 − 4,975,033 = 24,967 = 0.49934% → 0.5; expiry is 10 days 1 hour away.
        // /v1/account/credits: both pools (the wallet empty), no start date.
        assert_eq!(
            json,
            serde_json::json!({
                "status": "active", "usable": true, "units_left": 4975033,
                "pools": {"subscription": 4975033, "wallet": 0}, "units_limit": 5000000,
                "units_used": 24967, "used_percent": 0.5, "start": null,
                "expires": expires.replace(' ', "T"), "days_left": 10, "access": "active_subscription"
            }),
            "{auth}"
        );
        let (header, query) = sim.read(|s| (s.header_auth, s.query_auth));
        assert_eq!(
            (header, query),
            if auth == "header" { (1, 0) } else { (0, 1) },
            "{auth}"
        );
    }
}

/// Without `/v1/account/credits`, the subscription's reply, in either spelling of its expiry.
#[test]
fn balance_table_with_the_documented_expiry_spelling() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.credits = CreditsRoute::NotFound;
        s.expiry_key = simulator::ExpiryKey::Documented;
        s.units_left = 750_000;
        s.units_limit = 1_000_000;
    });
    // used = 250,000 of 1,000,000 = 25.00%
    no_leak(
        live(&sim, "header", &["balance"])
            .code(0)
            .stdout_has("status:      active\n")
            .stdout_has("units_left:  750,000 (subscription; the API reports no wallet)\n")
            .stdout_has("used:        250,000 (25.00%)\n")
            .stdout_has("start:       2024-01-18 14:20:02\n")
            .stdout_has("expires:     2099-02-18 14:20:02 ("),
    );
}

#[test]
fn transient_failures_are_retried_until_success() {
    for fault in [
        Fault::TooManyRequests,
        Fault::Internal,
        Fault::Unavailable,
        Fault::BadGatewayHtml,
    ] {
        for auth in AUTHS {
            let sim = Simulator::start();
            sim.set(|s| s.fail_next(2, fault.clone()));
            no_leak(live(&sim, auth, &["balance", "--format", "json"]).code(0));
            // two failures, then the success
            assert_eq!(sim.requests(), 3, "{fault:?} {auth}");
        }
    }
}

/// `budget balance` with `Retry-After: SECONDS` on the first reply and `--timeout`.
fn balance_after_retry_after(seconds: u64, timeout: &str) -> (Run, u64) {
    let sim = Simulator::start();
    sim.set(|s| s.fail_next(1, Fault::TooManyRequestsRetryAfter { seconds }));
    let run = live(&sim, "header", &["balance", "--timeout", timeout]);
    (run, sim.requests())
}

/// The one Retry-After policy (docs/reference.md "Retries and limits"): the wait is the longer of the
/// back-off and Retry-After; a Retry-After the call's time cannot honour, or above the 10 s cap,
/// ends the call instead of asking again sooner than the server said.
#[test]
fn retry_after_is_honoured() {
    // Retry-After 1 s within a 20 s limit: waited, retried, answered.
    let (run, requests) = balance_after_retry_after(1, "20");
    no_leak(run.code(0).stdout_has("4,975,033"));
    assert_eq!(requests, 2);
    // Retry-After 2 s past a 1 s limit, and 3600 s past the 10 s cap: one attempt, no retry
    // (with the 1 ms back-off alone there would be 5).
    for (seconds, timeout) in [(2, "1"), (3600, "20")] {
        let (run, requests) = balance_after_retry_after(seconds, timeout);
        no_leak(run.code(3).stderr_has(
            "the API's rate limit was hit (HTTP 429: Too Many Requests: The call-rate limit has been \
             reached. Please reduce your request frequency), gave up after 1 attempt in",
        ));
        assert_eq!(requests, 1, "Retry-After {seconds} s, --timeout {timeout}");
    }
}

#[test]
fn persistent_503_gives_up_after_the_attempt_limit() {
    let unavailable = |sim: &Simulator| sim.set(|s| s.always = Some(Fault::Unavailable));
    fails(
        unavailable,
        &[],
        "the API is failing (HTTP 503: Service Unavailable), gave up after 5 attempts in ",
        5,
    );
    fails(
        unavailable,
        &["--retries", "2"],
        "gave up after 2 attempts",
        2,
    );
    fails(
        unavailable,
        &["--retries", "0"],
        "gave up after 1 attempt in",
        1,
    );
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::TooManyRequests)),
        &[],
        "the API's rate limit was hit (HTTP 429: Too Many Requests: The call-rate limit has been reached",
        5,
    );
}

#[test]
fn persistent_503_stops_at_the_time_limit() {
    // Each reply takes 200 ms: attempts end at about 0.2 s and 0.4 s, and the third is cut at the
    // 0.5 s limit ("time limit (3 attempts)"). On a loaded machine the client may instead see
    // that no third attempt fits ("gave up after 2 attempts"); either way it stops before the 5
    // attempts --retries allows.
    for auth in AUTHS {
        let sim = Simulator::start();
        sim.set(|s| {
            s.delay = Some(Duration::from_millis(200));
            s.always = Some(Fault::Unavailable);
        });
        let run = live(&sim, auth, &["balance", "--timeout", "0.5"]);
        no_leak(run.code(3));
        let requests = sim.requests();
        let expected = match requests {
            3 => "no answer from the API at http://127.0.0.1:",
            2 => "the API is failing (HTTP 503: Service Unavailable), gave up after 2 attempts",
            n => panic!(
                "{n} requests within a 0.5 s limit of 200 ms replies ({auth})\n{}",
                run.stderr
            ),
        };
        run.stderr_has(expected);
        if requests == 3 {
            run.stderr_has("within the 0.5 s time limit (3 attempts)");
        }
    }
}

#[test]
fn html_502_becomes_one_line() {
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::BadGatewayHtml)),
        &[],
        "the API is failing (HTTP 502: 502 Bad Gateway (an HTML page)), gave up after 5 attempts",
        5,
    );
    let sim = Simulator::start();
    sim.set(|s| s.always = Some(Fault::BadGatewayHtml));
    let run = live(&sim, "header", &["balance"]);
    assert!(!run.stderr.contains('<'), "raw HTML in:\n{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn insufficient_funds_is_never_retried() {
    for status in [400, 402, 403] {
        fails(
            |sim| sim.set(|s| s.always = Some(Fault::InsufficientFunds { status })),
            &[],
            &format!(
                "insufficient funds (HTTP {status}): Insufficient funds, API key is temporarily disabled. \
                 Please make a payment"
            ),
            1,
        );
    }
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::InsufficientFunds { status: 402 })),
        &[],
        "make a payment in SE Ranking, then try again (nothing was billed)",
        1,
    );
}

#[test]
fn authentication_failures_are_terminal() {
    for status in [400, 401, 403] {
        fails(
            |sim| {
                sim.set(|s| {
                    s.key = "another-key".into();
                    s.auth_failure_status = status;
                })
            },
            &[],
            &format!(
                "authentication failed (HTTP {status}): Authentication failed. Please make sure your API key is \
                 valid and active"
            ),
            1,
        );
    }
    fails(
        |sim| sim.set(|s| s.key = "another-key".into()),
        &[],
        "check that SERANKING_API_KEY holds a valid, active SE Ranking Data API key",
        1,
    );
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::NoToken)),
        &[],
        "the API received no key (HTTP 400: No token); if a proxy strips the Authorization header, try --auth query",
        1,
    );
}

#[test]
fn license_expired_and_inactive_subscriptions() {
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::LicenseExpired)),
        &[],
        "license expired (HTTP 403): License expired; renew the SE Ranking API subscription",
        1,
    );
    // The subscription's own status (an API without /v1/account/credits: 404, then the
    // subscription): shown on stdout, the reason on stderr, exit 3.
    for status in ["expired", "inactive", "disabled"] {
        fails(
            |sim| {
                sim.set(|s| {
                    s.credits = CreditsRoute::NotFound;
                    s.status = status.into();
                })
            },
            &[],
            &format!("the subscription is \"{status}\", not active; renew or reactivate it"),
            2,
        );
    }
}

#[test]
fn invalid_replies_are_not_retried() {
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::Malformed)),
        &[],
        "unexpected reply from the API (HTTP 200): the body is not valid JSON (EOF while parsing",
        1,
    );
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::Oversized)),
        &[],
        "unexpected reply from the API (HTTP 200): the body is larger than 1048576 bytes",
        1,
    );
}

#[test]
fn a_key_echoed_by_the_server_is_scrubbed() {
    // The reply quotes the request URI and the Authorization header, key and all.
    fails(
        |sim| sim.set(|s| s.always = Some(Fault::EchoKey)),
        &[],
        "the API rejected the request (HTTP 400): bad request /v1/account/credits",
        1,
    );
    let sim = Simulator::start();
    sim.set(|s| s.always = Some(Fault::EchoKey));
    live(&sim, "query", &["balance"])
        .code(3)
        .stderr_has("/v1/account/credits?apikey=[redacted]");
    let sim = Simulator::start();
    sim.set(|s| s.always = Some(Fault::EchoKey));
    live(&sim, "header", &["balance"])
        .code(3)
        .stderr_has("\"Token [redacted]\"");
}

#[test]
fn a_wrong_path_is_rejected_not_retried() {
    for auth in AUTHS {
        let sim = Simulator::start();
        let run = live_at(&format!("{}/prefix", sim.url()), auth, &["balance"]);
        no_leak(
            run.code(3)
                .stderr_has("the API rejected the request (HTTP 404): empty body"),
        );
        // /credits 404 (read as "no such endpoint"), then /subscription 404: neither retried.
        assert_eq!(sim.requests(), 2, "a 404 is not retried");
    }
}

#[test]
fn slow_reply_hits_the_timeout() {
    for auth in AUTHS {
        let sim = Simulator::start();
        sim.set(|s| s.delay = Some(Duration::from_secs(5)));
        let run = live(&sim, auth, &["balance", "--timeout", "0.5"]);
        no_leak(
            run.code(3)
                .stderr_has("no answer from the API at http://127.0.0.1:")
                .stderr_has(
                    "within the 0.5 s time limit (1 attempt); try again later or raise --timeout",
                ),
        );
        assert_eq!(sim.requests(), 1, "{auth}\n{}", run.stderr);
    }
}

#[test]
fn connection_refused_is_retried_then_reported() {
    for auth in AUTHS {
        let url = simulator::refused_url();
        let run = live_at(&url, auth, &["balance"]);
        no_leak(
            run.code(3)
                .stderr_has(&format!("cannot reach the API at {url}: "))
                .stderr_has("connection refused")
                .stderr_has("gave up after 5 attempts"),
        );
    }
}

#[test]
fn key_problems_exit_3_and_make_no_call() {
    let scratch = Scratch::new();
    let empty = scratch.file("empty.key", "  \n");
    let two_lines = scratch.file("two.key", &format!("{KEY}\n{KEY}\n"));
    let cases: [(Vec<&str>, Option<&str>, String); 5] = [
        (
            vec!["balance", "--api-key-file", &empty],
            Some(KEY),
            format!("the API key in the key file {empty} is empty"),
        ),
        (
            vec!["balance", "--api-key-file", &two_lines],
            None,
            format!("the API key in the key file {two_lines} contains spaces, line breaks"),
        ),
        (
            vec!["balance", "--api-key-file", "missing.key"],
            None,
            "cannot read the API key file missing.key: no such file".into(),
        ),
        (
            vec!["balance"],
            Some(" "),
            "the API key in SERANKING_API_KEY is empty".into(),
        ),
        (
            vec!["balance"],
            None,
            "no API key: set SERANKING_API_KEY or pass --api-key-file FILE".into(),
        ),
    ];
    for (args, env, phrase) in &cases {
        let sim = Simulator::start();
        let mut cmd = budget();
        cmd.env("SERANKING_API_URL", sim.url()).args(args);
        if let Some(value) = env {
            cmd.env("SERANKING_API_KEY", value);
        }
        let run: Run = cmd.output().expect("run budget").into();
        no_leak(run.code(3).stderr_has(phrase));
        assert_eq!(sim.requests(), 0, "{args:?}");
    }
}

#[test]
fn a_key_file_works_and_wins_over_the_environment() {
    let scratch = Scratch::new();
    // An editor's byte order mark and CRLF are not part of the key (docs/reference.md "The live API").
    for text in [format!("\n  {KEY}  \n"), format!("\u{FEFF}{KEY}\r\n")] {
        let file = scratch.file("api.key", &text);
        let sim = Simulator::start();
        let run: Run = budget()
            .env("SERANKING_API_KEY", "not-the-key")
            .env("SERANKING_API_URL", sim.url())
            .args(["balance", "--api-key-file", &file])
            .output()
            .expect("run budget")
            .into();
        no_leak(run.code(0).stdout_has("4,975,033"));
    }
}

/// The double-spend bug: a gate holding 26,000 of 30,000 units under a key file with a byte
/// order mark must be seen by a second gate given the same key in the environment. The
/// invariant: every copy of one key names one account in the reservation ledger.
#[test]
fn one_key_from_a_file_and_the_environment_is_one_account() {
    let s = Scratch::new();
    let key_file = s.file("api.key", &format!("\u{FEFF}{KEY}\r\n"));
    let (started, go) = (s.path().join("started"), s.path().join("go"));
    let first = budget()
        .args([
            "gate",
            DOCS,
            "--units-left",
            "30000",
            "--api-key-file",
            &key_file,
        ])
        .args(["--", "sh", "-c", crate::support::WAIT_FOR_GO, "sh"])
        .arg(&started)
        .arg(&go)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the first gate");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first gate never ran its job"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // 30,000 − 26,000 held = 4,000 usable, 26,000 planned: refused.
    let second: Run = budget()
        .env("SERANKING_API_KEY", KEY)
        .args(["gate", DOCS, "--units-left", "30000", "--", "true"])
        .output()
        .expect("run the second gate")
        .into();
    std::fs::write(&go, "").expect("write go");
    no_leak(
        second
            .code(1)
            .stderr_has("26,000 reserved by running jobs")
            .stderr_has("over budget; not running"),
    );
    Run::from(first.wait_with_output().expect("first gate")).code(0);
}

#[test]
fn bad_settings_exit_2() {
    let sim = Simulator::start();
    let cases: [(&[&str], &str); 4] = [
        (
            &["balance", "--api-url", "ftp://example.com"],
            "--api-url ftp://example.com is not a usable URL: only http and https",
        ),
        (
            &["balance", "--api-url", "http://x.test/?apikey=abc"],
            "--api-url http://x.test is not a usable URL: it carries a query",
        ),
        (
            &["balance", "--timeout", "0"],
            "--timeout: 0 is not a positive number of seconds",
        ),
        (
            &["balance", "--offline"],
            "budget balance reads the live API, which --offline forbids",
        ),
    ];
    for (args, phrase) in cases {
        no_leak(live(&sim, "header", args).code(2).stderr_has(phrase));
        // A bad setting is a bad setting even when the key is missing or empty too.
        for key in [None, Some("")] {
            let mut cmd = budget();
            cmd.args(args);
            if let Some(key) = key {
                cmd.env("SERANKING_API_KEY", key);
            }
            Run::from(cmd.output().expect("run budget"))
                .code(2)
                .stderr_has(phrase);
        }
    }
    let run: Run = budget()
        .env("SERANKING_API_KEY", KEY)
        .env("SERANKING_API_URL", sim.url())
        .env("BUDGET_RETRY_BASE_MS", "soon")
        .arg("balance")
        .output()
        .expect("run budget")
        .into();
    run.code(2)
        .stderr_has("BUDGET_RETRY_BASE_MS: \"soon\" is not a whole number of milliseconds");
    assert_eq!(sim.requests(), 0);
}

// ---------------------------------------------------------------------------------------------
// Live plan and check.

const DOCS: &str = "workflows/docs-example.yaml";

#[test]
fn live_plan_reads_the_balance() {
    for auth in AUTHS {
        let sim = Simulator::start();
        let json = no_leak(live(&sim, auth, &["plan", DOCS, "--format", "json"]).code(0)).json();
        assert_eq!(
            json["balance"],
            serde_json::json!({"source": "live", "status": "active", "units_left": 4975033,
                               "pools": {"subscription": 4975033, "wallet": 0},
                               "units_limit": 5000000, "reserve": 0, "reserved": 0, "usable": 4975033,
                               "expires": "2099-02-18T14:20:02"})
        );
        assert_eq!(json["verdict"], "fits");
        assert_eq!(sim.requests(), 1);
        no_leak(
            live(&sim, auth, &["check", DOCS])
                .code(0)
                .stdout_has("balance (live): 4,975,033 units left"),
        );
    }
}

#[test]
fn live_check_over_budget() {
    let sim = Simulator::start();
    sim.set(|s| s.units_left = 1000);
    // 26,000 units planned, 1,000 left: over by 25,000.
    let json = live(&sim, "header", &["check", DOCS, "--format", "json"])
        .code(1)
        .json();
    assert_eq!(
        (json["verdict"].as_str(), json["over_by"].as_u64()),
        (Some("over_budget"), Some(25000))
    );
}

#[test]
fn units_left_and_offline_make_no_call() {
    let sim = Simulator::start();
    let json = live(
        &sim,
        "header",
        &["plan", DOCS, "--units-left", "30000", "--format", "json"],
    )
    .code(0)
    .json();
    assert_eq!(
        (
            json["balance"]["source"].as_str(),
            json["balance"]["units_left"].as_u64()
        ),
        (Some("flag"), Some(30000))
    );
    let json = live(
        &sim,
        "header",
        &["plan", DOCS, "--offline", "--format", "json"],
    )
    .code(0)
    .json();
    assert!(json["balance"].is_null());
    live(&sim, "header", &["check", DOCS, "--offline"])
        .code(3)
        .stderr_has("balance unknown");
    live(&sim, "header", &["check", DOCS, "--units-left", "1000"]).code(1);
    assert_eq!(sim.requests(), 0);
}

#[test]
fn plan_and_check_fail_closed_when_the_balance_cannot_be_read() {
    for command in ["plan", "check"] {
        for auth in AUTHS {
            let sim = Simulator::start();
            sim.set(|s| s.always = Some(Fault::Unavailable));
            let run = live(&sim, auth, &[command, DOCS]);
            no_leak(
                run.code(3)
                    .stderr_has("the API is failing (HTTP 503: Service Unavailable)"),
            );
            assert!(run.stdout.is_empty(), "no plan printed:\n{}", run.stdout);
            // Expired, from /credits (its date has passed) and from /subscription (its status).
            let sim = Simulator::start();
            sim.set(|s| s.expiration_date = "2024-02-18 14:20:02".into());
            no_leak(live(&sim, auth, &[command, DOCS]).code(3).stderr_has(
                "the subscription is \"expired\", not active, and the wallet holds no credits",
            ));
            let sim = Simulator::start();
            sim.set(|s| {
                s.credits = CreditsRoute::NotFound;
                s.status = "expired".into();
            });
            no_leak(
                live(&sim, auth, &[command, DOCS])
                    .code(3)
                    .stderr_has("the subscription is \"expired\""),
            );
        }
        let scratch = Scratch::new();
        let empty = scratch.file("empty.key", "");
        let run: Run = budget()
            .args([command, DOCS, "--api-key-file", &empty])
            .output()
            .expect("run")
            .into();
        run.code(3).stderr_has("is empty");
    }
}

#[test]
fn bad_workflows_fail_before_any_call() {
    let sim = Simulator::start();
    live(&sim, "header", &["plan", "no-such-workflow.yaml"]).code(2);
    assert_eq!(sim.requests(), 0);
}

// ---------------------------------------------------------------------------------------------
// Both balance pools: the subscription's (expires at the period end) and the wallet's (never).

#[test]
fn plan_and_check_fit_on_subscription_and_wallet_together() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 10_000;
        s.wallet_left = 20_000;
    });
    // 26,000 planned: the subscription's 10,000 alone would not do; 10,000 + 20,000 = 30,000 do.
    let json = no_leak(live(&sim, "header", &["plan", DOCS, "--format", "json"]).code(0)).json();
    assert_eq!(
        json["balance"],
        serde_json::json!({"source": "live", "status": "active", "units_left": 30000,
                           "pools": {"subscription": 10000, "wallet": 20000},
                           "units_limit": 5000000, "reserve": 0, "reserved": 0, "usable": 30000,
                           "expires": "2099-02-18T14:20:02"})
    );
    assert_eq!(json["verdict"], "fits");
    no_leak(
        live(&sim, "header", &["check", DOCS])
            .code(0)
            .stdout_has(
                "balance (live): 30,000 units left (subscription 10,000 + wallet 20,000), 30,000 usable",
            )
            .stdout_has("fits: 26,000 of 30,000 usable units (4,000 to spare)"),
    );
    // Without the wallet: 26,000 − 10,000 = over by 16,000.
    sim.set(|s| s.wallet_left = 0);
    let json = live(&sim, "header", &["check", DOCS, "--format", "json"])
        .code(1)
        .json();
    assert_eq!(json["over_by"], 16000);
}

#[test]
fn balance_shows_both_pools_in_every_format() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 10_000;
        s.units_limit = 25_000;
        s.wallet_left = 20_000;
    });
    // 10,000 + 20,000 = 30,000; used = 25,000 − 10,000 = 15,000 = 60.00% of the subscription.
    no_leak(
        live(&sim, "header", &["balance"])
            .code(0)
            .stdout_has("status:      active\n")
            .stdout_has("access:      active_subscription\n")
            .stdout_has("units_left:  30,000 (subscription 10,000 + wallet 20,000)\n")
            .stdout_has("units_limit: 25,000\n")
            .stdout_has("used:        15,000 (60.00%)\n"),
    );
    let json = live(&sim, "header", &["balance", "--format", "json"])
        .code(0)
        .json();
    assert_eq!(
        (&json["units_left"], &json["pools"]),
        (
            &serde_json::json!(30000),
            &serde_json::json!({"subscription": 10000, "wallet": 20000})
        )
    );
    live(&sim, "header", &["balance", "--format", "markdown"])
        .code(0)
        .stdout_has("| units_left | 30,000 (subscription 10,000 + wallet 20,000) |");
    let csv = live(&sim, "header", &["balance", "--format", "csv"])
        .code(0)
        .stdout
        .clone();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("status,usable,units_left,subscription,wallet,units_limit,units_used,used_percent,start,expires,days_left,access")
    );
    assert!(
        lines.next().is_some_and(|row| row
            .starts_with("active,true,30000,10000,20000,25000,15000,60.0,,2099-02-18T14:20:02,")),
        "{csv}"
    );
}

/// An API without `/v1/account/credits` answers 404, or the vendor's 400 "The requested resource
/// could not be found.": the subscription is read instead, its pool alone.
#[test]
fn without_credits_the_subscription_is_read() {
    for route in [CreditsRoute::NotFound, CreditsRoute::NotFound400] {
        let sim = Simulator::start();
        sim.set(|s| {
            s.credits = route;
            s.wallet_left = 20_000;
        });
        let json = no_leak(live(&sim, "header", &["balance", "--format", "json"]).code(0)).json();
        assert_eq!(
            (&json["units_left"], &json["pools"]),
            (
                &serde_json::json!(4975033),
                &serde_json::json!({"subscription": 4975033, "wallet": null})
            ),
            "{route:?}"
        );
        assert_eq!(sim.requests(), 2, "{route:?}: /credits, then /subscription");
        no_leak(live(&sim, "header", &["check", DOCS]).code(0).stdout_has(
            "balance (live): 4,975,033 units left (subscription only: the API reports no wallet)",
        ));
    }
    // Any other 400 is not "no such endpoint": no fallback.
    let sim = Simulator::start();
    sim.set(|s| {
        s.always = Some(Fault::Raw {
            status: 400,
            body: r#"{"error_description": "Invalid request"}"#.into(),
        })
    });
    live(&sim, "header", &["balance"])
        .code(3)
        .stderr_has("the API rejected the request (HTTP 400): Invalid request");
    assert_eq!(sim.requests(), 1);
}

/// An expired subscription whose wallet has credits: the key still works, on the wallet alone,
/// and every report says so.
#[test]
fn an_expired_subscription_with_wallet_credits_is_usable() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.expiration_date = "2024-02-18 14:20:02".into();
        s.units_left = 500;
        s.wallet_left = 30_000;
    });
    // The 500 expired with the subscription: 0 + 30,000 = 30,000.
    no_leak(
        live(&sim, "header", &["balance"])
            .code(0)
            .stdout_has("status:      expired (the wallet's 30,000 credits keep the key working)\n")
            .stdout_has("access:      active_wallet\n")
            .stdout_has("units_left:  30,000 (subscription 0 + wallet 30,000)\n"),
    );
    no_leak(
        live(&sim, "header", &["check", DOCS])
            .code(0)
            .stdout_has("balance (live): 30,000 units left (subscription 0 + wallet 30,000; the subscription is expired, the wallet pays)")
            .stdout_has("fits: 26,000 of 30,000 usable units"),
    );
}

/// An account that cannot spend: `balance` shows its status (stdout) and the reason (stderr),
/// exit 3 (docs/finance.md "`budget balance`").
#[test]
fn balance_of_an_account_that_cannot_spend_shows_it_and_exits_3() {
    let sim = Simulator::start();
    sim.set(|s| s.expiration_date = "2024-02-18 14:20:02".into());
    no_leak(
        live(&sim, "header", &["balance"])
            .code(3)
            .stdout_has("status:      expired (and no wallet credits: nothing can be spent)\n")
            .stdout_has("units_left:  0 (subscription 0 + wallet 0)\n")
            .stderr_has("the subscription is \"expired\", not active, and the wallet holds no credits; renew the subscription or top up the wallet"),
    );
    let run = live(&sim, "header", &["balance", "--format", "json"]);
    let json = run.code(3).json();
    assert_eq!(
        (&json["status"], &json["usable"], &json["units_left"]),
        (
            &serde_json::json!("expired"),
            &serde_json::json!(false),
            &serde_json::json!(0)
        )
    );
}

/// `budget guard` without `--budget` holds both pools together.
#[test]
fn a_live_guard_budget_is_both_pools() {
    use std::io::BufRead;
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 1_000;
        s.wallet_left = 500;
    });
    let mut child = budget()
        .env("SERANKING_API_KEY", KEY)
        .env("BUDGET_RETRY_BASE_MS", "1")
        .args(["guard", "--listen", "127.0.0.1:0", "--api-url", sim.url()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start budget guard");
    let stderr = child.stderr.take().expect("stderr");
    let line = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("  budget "));
    let _ = child.kill();
    let _ = child.wait();
    // 1,000 + 500 = 1,500.
    let line = line.expect("the guard's budget line");
    assert!(
        line.starts_with(
            "  budget 1,500 units (live units_left 1,500 (subscription 1,000 + wallet 500) − 0 reserved by running jobs)"
        ),
        "{line}"
    );
}

/// `budget forecast` spends the subscription first (its credits expire at the period end) and
/// says what of it would expire unused.
#[test]
fn forecast_spends_the_subscription_first_and_reports_what_expires_unused() {
    let scratch = Scratch::new();
    let workflow = scratch.file(
        "daily.yaml",
        "name: Daily\nschedule: daily\nsteps:\n  - endpoint: backlinks/summary\n    targets: 5\n",
    );
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 20_000;
        s.wallet_left = 5_000;
    });
    let args = [
        "forecast",
        workflow.as_str(),
        "--now",
        "2026-11-26",
        "--period-end",
        "2026-12-26",
    ];
    // 5 targets × 100 = 500 units a run, daily from 26 Nov to 25 Dec = 30 runs = 15,000 units.
    // Subscription first: 15,000 of its 20,000, so 20,000 − 15,000 = 5,000 expire unused; the
    // wallet's 5,000 are not touched.
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = no_leak(live(&sim, "header", &json_args).code(0)).json();
    assert_eq!(
        json["pools"],
        serde_json::json!({"subscription": 20000, "wallet": 5000, "subscription_spent": 15000,
                           "subscription_expiring_unused": 5000, "wallet_spent": 0,
                           "wallet_from": null})
    );
    assert_eq!(
        json["balance"]["pools"],
        serde_json::json!({"subscription": 20000, "wallet": 5000})
    );
    no_leak(live(&sim, "header", &args).code(0).stdout_has(
        "subscription credits (spent first, they expire at the period end): 15,000 of 20,000 spent, \
         5,000 expire unused; the wallet's 5,000 (which never expire) are not needed",
    ));
}

/// Invariant: with a key set, `--offline` is why no balance is known, so the advice is about
/// `--offline`, never "set SERANKING_API_KEY" (it is set).
#[test]
fn offline_with_a_key_does_not_advise_setting_the_key() {
    let sim = Simulator::start();
    // 26,000 units planned (docs example), no balance read.
    let r = live(&sim, "header", &["plan", DOCS, "--offline"]);
    r.code(0)
        .stdout_has("balance unknown: 26,000 units planned; --offline reads no balance: pass --units-left N to compare");
    let r = live(&sim, "header", &["check", DOCS, "--offline"]);
    r.code(3).stderr_has(
        "balance unknown: --offline reads no balance; pass --units-left N, or drop --offline",
    );
    let r = live(
        &sim,
        "header",
        &[
            "forecast",
            DOCS,
            "--offline",
            "--period-end",
            "2026-12-26",
            "--now",
            "2026-11-26",
        ],
    );
    r.code(0)
        .stdout_has("--offline reads no balance: pass --units-left N to see when it runs out");
    let r = live(&sim, "header", &["forecast", DOCS, "--offline"]);
    r.code(2)
        .stderr_has("period end unknown: --offline reads no subscription; pass --period-end");
    for r in [
        live(&sim, "header", &["plan", DOCS, "--offline"]),
        live(&sim, "header", &["check", DOCS, "--offline"]),
    ] {
        assert!(
            !format!("{}{}", r.stdout, r.stderr).contains("set SERANKING_API_KEY"),
            "{}{}",
            r.stdout,
            r.stderr
        );
    }
    assert_eq!(sim.requests(), 0);
    // Without a key and without --offline, setting the key is the advice.
    crate::support::run(&["plan", DOCS])
        .code(0)
        .stdout_has("pass --units-left N or set SERANKING_API_KEY to compare");
}
