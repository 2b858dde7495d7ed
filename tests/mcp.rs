//! `budget guard` in front of real clients: every request SE Ranking's official MCP server sends
//! (tests/data/mcp-corpus.json, docs/mcp-corpus.md) replayed through the real binary against the
//! simulator, which bills from its own reading of the pricing file; XML replies; the replies an
//! agent gets when the guard refuses a call; methods; the MCP server's token header.

use std::time::Duration;

use serde_json::Value;

use crate::guard::{ledger_lines, GuardProc};
use crate::support::simulator::{Simulator, KEY};
use crate::support::Scratch;

/// One HTTP request as a client sends it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query, as sent (`/v1/backlinks/all?target=a.com`).
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn error(&self) -> Value {
        let v: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body));
        v["error"].clone()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn request(method: &str, target: &str) -> Request {
    Request {
        method: method.into(),
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// Sends `requests` one after the other; `after` runs after each reply (the simulator's bill is
/// read between calls).
fn send_each(base: &str, requests: &[Request], mut after: impl FnMut(&Reply)) -> Vec<Reply> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut replies = Vec::new();
        for r in requests {
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).expect("method");
            let mut builder = http
                .request(method, format!("{base}{}", r.target))
                .body(r.body.clone());
            for (k, v) in &r.headers {
                builder = builder.header(k.as_str(), v.as_str());
            }
            let response = builder.send().await.expect("the guard answers");
            let reply = Reply {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                body: response.text().await.expect("body"),
            };
            after(&reply);
            replies.push(reply);
        }
        replies
    })
}

fn send(base: &str, r: Request) -> Reply {
    send_each(base, &[r], |_| {}).remove(0)
}

/// The boundary undici (the MCP server's `fetch`) writes, one per request.
const BOUNDARY: &str = "----formdata-undici-0123456789";

/// A corpus entry as the MCP server sends it: its method, exact query string, `Authorization:
/// Token` with the server's `DATA_API_TOKEN` (a dummy: the guard adds the real key), and its JSON
/// or multipart body.
fn from_corpus(entry: &Value) -> Request {
    let path = entry["path"].as_str().unwrap();
    let target = match entry["raw_query"].as_str() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut headers = vec![(
        "Authorization".to_string(),
        "Token dummy-mcp-token".to_string(),
    )];
    let body = match &entry["body"] {
        Value::Null => Vec::new(),
        Value::Object(o) if o.contains_key("multipart") => {
            headers.push((
                "Content-Type".into(),
                format!("multipart/form-data; boundary={BOUNDARY}"),
            ));
            let mut body = String::new();
            for field in o["multipart"].as_array().unwrap() {
                body.push_str(&format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                    field[0].as_str().unwrap(),
                    field[1].as_str().unwrap()
                ));
            }
            body.push_str(&format!("--{BOUNDARY}--\r\n"));
            body.into_bytes()
        }
        json => {
            headers.push(("Content-Type".into(), "application/json".into()));
            serde_json::to_vec(json).unwrap()
        }
    };
    Request {
        method: entry["method"].as_str().unwrap().into(),
        target,
        headers,
        body,
    }
}

fn corpus() -> Value {
    let text = std::fs::read_to_string(crate::support::root().join("tests/data/mcp-corpus.json"))
        .expect("tests/data/mcp-corpus.json");
    serde_json::from_str(&text).expect("corpus JSON")
}

/// The compatibility test (issue #17): every request of the official MCP server goes through the
/// guard to the simulator. It fails when a request is refused for any reason but its budget or
/// an unknown price, or when the guard charges a call less than the simulator billed it.
#[test]
fn the_mcp_corpus_replays_through_the_guard() {
    let sim = Simulator::start_data(100_000_000);
    // Targets hold at most 1,000 rows: a reply of 100,000 rows (20 MB of JSON, built, scrubbed
    // and counted in debug builds) proves nothing 1,000 do not; the price is checked against
    // the simulator's worst case below.
    sim.set(|s| {
        s.rate_limit = Some(50);
        s.data.rows_per_target = Some(1000);
    });
    let scratch = Scratch::new();
    let journal = scratch.path().join("mcp.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &["--budget", "10M", "--rps", "50", "--journal", &journal],
    );
    let corpus = corpus();
    let entries = corpus["requests"].as_array().unwrap();
    let requests: Vec<Request> = entries.iter().map(from_corpus).collect();
    let mut billed = Vec::new();
    let mut last = (0, 0, 0);
    let replies = send_each(&guard.url, &requests, |_| {
        let now = sim.read(|s| (s.data.charged, s.requests, s.data.billed.len()));
        // The call's worst case, when the simulator billed it.
        let worst = (now.2 > last.2).then(|| sim.read(|s| s.data.billed[now.2 - 1].worst));
        billed.push((now.0 - last.0, now.1 - last.1, worst));
        last = now;
    });
    guard.stop();
    let lines = ledger_lines(&journal);
    assert_eq!(lines.len(), entries.len(), "one journal line per request");
    let mut problems = Vec::new();
    let (mut forwarded, mut unknown_price) = (0, Vec::new());
    let (mut charged_total, mut billed_total) = (0, 0);
    for (((entry, reply), line), (bill, sent, worst)) in
        entries.iter().zip(&replies).zip(&lines).zip(&billed)
    {
        let case = entry["case"].as_str().unwrap();
        let charged = line["units_charged"].as_u64().unwrap();
        match reply.status {
            200 => {
                forwarded += 1;
                charged_total += charged;
                billed_total += bill;
                if charged < *bill {
                    problems.push(format!(
                        "{case}: charged {charged} units, billed {bill} upstream"
                    ));
                }
                // The guard's price is the simulator's worst case: never above, never below.
                let reserved = line["units_reserved"].as_u64().unwrap();
                if Some(reserved) != *worst {
                    problems.push(format!(
                        "{case}: priced at {reserved} units, the simulator's worst case is {worst:?}"
                    ));
                }
                // Charged what was billed where the reply's records are counted; elsewhere
                // (XML, pages crawled later, per target or request) the price.
                let due = if line["counted"] == true {
                    *bill
                } else {
                    reserved
                };
                if charged != due {
                    problems.push(format!(
                        "{case}: charged {charged} units, {due} due (billed {bill}): {line}"
                    ));
                }
                if line["outcome"] != "charged" || *sent != 1 {
                    problems.push(format!("{case}: {line}"));
                }
            }
            402 => {}
            501 if reply.error()["description"]
                .as_str()
                .is_some_and(|d| d.contains("is unknown (no source publishes it)")) =>
            {
                assert_eq!(*sent, 0, "{case}: refused but sent");
                unknown_price.push(line["endpoint"].as_str().unwrap().to_string());
            }
            status => problems.push(format!("{case}: {status} {}", reply.body)),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // 88 forwarded; the 8 refused are the 7 AI search calls and the domain authority history,
    // whose prices nobody publishes.
    assert_eq!(forwarded, 88);
    unknown_price.sort();
    unknown_price.dedup();
    assert_eq!(
        unknown_price,
        [
            "ai-search/discover-brand",
            "ai-search/overview/aggregated/time-series",
            "ai-search/overview/by-engine/time-series",
            "ai-search/overview/leaderboard",
            "ai-search/prompts-by-brand",
            "ai-search/prompts-by-target",
            "backlinks/authority/domain/history",
        ]
    );
    // Never less than the API billed (call by call above: exactly the bill, or the price of a
    // reply whose rows cannot be counted).
    assert!(
        charged_total >= billed_total,
        "charged {charged_total}, billed {billed_total}"
    );
    // The dummy DATA_API_TOKEN never reached the API: the simulator answers a wrong key with
    // 400, and every forwarded call carried the real key in the header.
    assert_eq!(sim.read(|s| s.header_auth), 88);
    // keywords/export journals its multipart keywords; free management calls say they are assumed.
    for (entry, line) in entries.iter().zip(&lines) {
        let case = entry["case"].as_str().unwrap();
        if entry["path"] == "/v1/keywords/export" {
            let keywords = entry["body"]["multipart"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f[0] == "keywords[]")
                .count();
            assert_eq!(line["targets"], keywords, "{case}");
            assert_eq!(line["units_charged"], 100, "{case}");
        }
        if entry["path"] == "/v1/site-audit/audits" {
            assert_eq!(line["evidence"], "assumed", "{case}: {line}");
            assert_eq!(line["units_charged"], 0, "{case}");
        }
    }
}

/// The guard does not count rows in XML replies (the vendor documents no XML layout; a wrong
/// guess would undercharge), so an `output=xml` call is charged its worst case and its journal
/// line says `counted: false`; the same call in JSON is charged the rows it returned.
#[test]
fn xml_replies_are_charged_their_worst_case_and_say_so() {
    let sim = Simulator::start_data(1_000_000);
    sim.set(|s| s.data.rows_per_target = Some(7));
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--journal", &journal]);
    let xml = send(
        &guard.url,
        request("GET", "/v1/backlinks/all?target=a.com&limit=50&output=xml"),
    );
    assert_eq!(xml.status, 200, "{}", xml.body);
    assert_eq!(xml.header("content-type"), Some("application/xml"));
    assert_eq!(xml.body.matches("<item>").count(), 7, "{}", xml.body);
    // 50 rows asked, 7 returned and billed; the guard cannot count them: charged 50.
    assert_eq!(xml.header("x-budget-units-charged"), Some("50"));
    assert_eq!(sim.charged(), 7);
    let json = send(
        &guard.url,
        request("GET", "/v1/backlinks/all?target=a.com&limit=50&output=json"),
    );
    assert_eq!(json.header("x-budget-units-charged"), Some("7"));
    let stopped = guard.stop();
    let lines = ledger_lines(&journal);
    assert_eq!(lines[0]["units_charged"], 50);
    assert_eq!(lines[0]["counted"], false);
    assert!(lines[0].get("rows").is_none(), "{}", lines[0]);
    assert_eq!(lines[1]["units_charged"], 7);
    assert_eq!(lines[1]["counted"], true);
    assert_eq!(lines[1]["rows"], 7);
    // 1,000 − 50 − 7 = 943.
    assert!(
        stopped
            .stdout
            .contains("units left in the guard's budget: 943"),
        "{}",
        stopped.stdout
    );
}

#[track_caller]
fn says(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(text.contains(phrase), "lacks {phrase:?}:\n{text}");
    }
}

/// A 402 tells an agent that the budget does not refill, what still fits of the endpoint at hand
/// (targets, limit or date range, priced as the guard will price it) and who can raise the
/// budget; at 0 left only free calls pass.
#[test]
fn the_402_says_what_still_fits() {
    let sim = Simulator::start_data(1_000_000);
    let guard = GuardProc::start(sim.url(), &["--budget", "250"]);
    // 3 targets × 100 = 300 > 250; 2 targets × 100 = 200 fit.
    let reply = send(
        &guard.url,
        request(
            "GET",
            "/v1/backlinks/summary?target=a.com&target=b.com&target=c.com&mode=host&output=json",
        ),
    );
    assert_eq!(reply.status, 402);
    let error = reply.error();
    assert_eq!(error["message"], "Budget exceeded");
    assert_eq!(error["source"], "budget-guard");
    let text = error["description"].as_str().unwrap();
    says(
        text,
        &[
            "this backlinks/summary call needs 300 units, 250 left of the guard's budget; it was not sent to the API",
            "does not refill",
            "the same call will be refused again",
            "calls of at most 250 units still fit, e.g. this call with at most 2 targets (200 units)",
            "only the guard's operator can raise its budget",
        ],
    );
    // limit 5,000 × 1 > 250: limit 250 fits.
    let reply = send(
        &guard.url,
        request("GET", "/v1/backlinks/all?target=a.com&limit=5000"),
    );
    says(
        reply.error()["description"].as_str().unwrap(),
        &["this call with limit at most 250 (250 units)"],
    );
    // A SERP task of 30 keywords × 10 = 300: 25 keywords (250) fit.
    let queries: Vec<String> = (0..30).map(|i| format!("\"k{i}\"")).collect();
    let mut task = request("POST", "/v1/serp/classic/tasks");
    task.headers = vec![("Content-Type".into(), "application/json".into())];
    task.body = format!(
        "{{\"search_engine\":\"google\",\"query\":[{}]}}",
        queries.join(",")
    )
    .into_bytes();
    says(
        send(&guard.url, task).error()["description"]
            .as_str()
            .unwrap(),
        &["this call with at most 25 targets (250 units)"],
    );
    // Spend it all: 2 × 100 + 50 rows = 250.
    assert_eq!(
        send(
            &guard.url,
            request("GET", "/v1/backlinks/summary?target=a.com&target=b.com")
        )
        .status,
        200
    );
    assert_eq!(
        send(
            &guard.url,
            request("GET", "/v1/backlinks/all?target=a.com&limit=50")
        )
        .status,
        200
    );
    let reply = send(
        &guard.url,
        request("GET", "/v1/domain/overview/db?source=us&domain=a.com"),
    );
    assert_eq!(reply.status, 402);
    says(
        reply.error()["description"].as_str().unwrap(),
        &[
            "needs 100 units, 0 left",
            "only free calls (0 units, e.g. task status polls) still fit",
        ],
    );
    // And they do.
    assert_eq!(
        send(
            &guard.url,
            request("GET", "/v1/serp/classic/tasks?task_id=987654321")
        )
        .status,
        200
    );
    guard.stop();
}

/// Unpriceable calls get the guard's own statuses, never the API's 400: 501 for an unknown path
/// or price, 405 (with `Allow`) for a method the path does not take; PATCH and DELETE, which the
/// catalogue lists for site-audit/audits, are forwarded and priced 0 (assumed).
#[test]
fn statuses_an_agent_cannot_mistake_for_the_api_s() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "1000", "--journal", &journal]);
    let put = send(
        &guard.url,
        request("PUT", "/v1/site-audit/audits?audit_id=1"),
    );
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, PATCH, DELETE"));
    assert_eq!(put.error()["source"], "budget-guard");
    says(
        put.error()["description"].as_str().unwrap(),
        &["site-audit/audits takes GET, PATCH, DELETE; the guard does not forward PUT calls to it"],
    );
    let post = send(
        &guard.url,
        request("POST", "/v1/serp/classic/tasks/html?task_id=1"),
    );
    assert_eq!((post.status, post.header("allow")), (405, Some("GET")));
    let unknown = send(
        &guard.url,
        request("GET", "/v1/ai-search/discover-brand?target=a.com&source=us"),
    );
    assert_eq!(unknown.status, 501);
    assert_eq!(unknown.error()["message"], "Not priced by budget guard");
    says(
        unknown.error()["description"].as_str().unwrap(),
        &[
            "the price of ai-search/discover-brand is unknown",
            "retrying will not help",
            "--pricing-overlay FILE",
        ],
    );
    let typo = send(
        &guard.url,
        request("GET", "/v1/domain/overveiw/db?domain=a.com"),
    );
    assert_eq!(typo.status, 501);
    says(
        typo.error()["description"].as_str().unwrap(),
        &["domain/overveiw/db is not in the guard's pricing catalogue"],
    );
    assert_eq!(sim.requests(), 0, "nothing refused reaches the API");
    let mut patch = request("PATCH", "/v1/site-audit/audits?audit_id=412345");
    patch.headers = vec![("Content-Type".into(), "application/json".into())];
    patch.body = br#"{"title":"Renamed"}"#.to_vec();
    assert_eq!(send(&guard.url, patch).status, 200);
    let delete = send(
        &guard.url,
        request("DELETE", "/v1/site-audit/audits?audit_id=412345"),
    );
    assert_eq!(delete.status, 200, "{}", delete.body);
    assert_eq!(delete.header("x-budget-units-charged"), Some("0"));
    // The HTML dump is a ZIP archive: passed on as sent.
    let html = send(
        &guard.url,
        request("GET", "/v1/serp/classic/tasks/html?task_id=1"),
    );
    assert_eq!(html.header("content-type"), Some("application/zip"));
    assert!(html.body.starts_with("PK\u{3}\u{4}"), "{:?}", html.body);
    guard.stop();
    let lines = ledger_lines(&journal);
    let outcomes: Vec<(&str, &str, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["method"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
                l["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("PUT", "rejected", 405),
            ("POST", "rejected", 405),
            ("GET", "rejected", 501),
            ("PATCH", "charged", 200),
            ("DELETE", "charged", 200),
            ("GET", "charged", 200),
        ]
    );
    assert_eq!(lines[4]["evidence"], "assumed");
    // The typo is no path of the catalogue: counted, its path never written.
    let summaries: Vec<serde_json::Value> = crate::guard::journal_lines(&journal)
        .into_iter()
        .filter(|l| l["kind"] == "refused_summary")
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(
        summaries[0]["counts"],
        serde_json::json!({"unknown_endpoint": 1})
    );
}

/// SE Ranking's MCP server sends its `DATA_API_TOKEN` as `Authorization: Token …` and cannot send
/// `X-Budget-Token`; a guard with a client token takes it in that header too, and neither that
/// token nor a dummy one ever reaches the API (the guard sends its own key).
#[test]
fn the_mcp_server_s_token_header_is_a_client_token() {
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let token = scratch.file("token", "agent-7f3a\n");
    let guard = GuardProc::start(
        sim.url(),
        &["--budget", "1000", "--client-token-file", &token],
    );
    let with = |value: &str| Request {
        headers: vec![("Authorization".into(), value.into())],
        ..request(
            "GET",
            "/v1/backlinks/summary?target=a.com&mode=host&output=json",
        )
    };
    let wrong = send(&guard.url, with("Token dummy-mcp-token"));
    assert_eq!(wrong.status, 401);
    says(
        wrong.error()["description"].as_str().unwrap(),
        &["X-Budget-Token", "Token TOKEN"],
    );
    assert_eq!(send(&guard.url, with(&format!("Token {KEY}"))).status, 401);
    assert_eq!(sim.requests(), 0);
    assert_eq!(send(&guard.url, with("Token agent-7f3a")).status, 200);
    // The API saw the real key, in the header, and nothing of the client's.
    assert_eq!(sim.read(|s| (s.requests, s.header_auth)), (1, 1));
    assert!(
        sim.read(|s| s.log.iter().all(|l| !l.contains("agent-7f3a"))),
        "the client token reached the API"
    );
    guard.stop();
}

/// `methods` in a pricing overlay: a method the API does not have is refused (exit 2) naming the
/// overlay, the entry and the field; a valid list changes what the guard forwards.
#[test]
fn methods_in_an_overlay() {
    let scratch = Scratch::new();
    let bad = scratch.file(
        "bad.yaml",
        "endpoints:\n  site-audit/audits: {methods: [GET, FETCH]}\n",
    );
    crate::support::run(&["prices", "--pricing-overlay", &bad])
        .code(2)
        .stderr_has("bad.yaml")
        .stderr_has("endpoint `site-audit/audits` (from overlay")
        .stderr_has("field `methods`: \"FETCH\" is not an HTTP method");
    let only_get = scratch.file(
        "get.yaml",
        "endpoints:\n  site-audit/audits: {methods: [GET]}\n",
    );
    let json = crate::support::run(&["prices", "--pricing-overlay", &only_get, "--format", "json"])
        .code(0)
        .json();
    let entry = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "site-audit/audits")
        .cloned()
        .unwrap();
    assert_eq!(entry["methods"], serde_json::json!(["GET"]));
}
