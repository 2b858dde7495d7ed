//! Calls priced by hand, and every call the guard must refuse rather than misprice.

use super::*;

fn pricing() -> &'static Pricing {
    Pricing::embedded_once()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 10).expect("date")
}

/// A request: method, path, query, content type, body.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
}

fn get<'a>(path: &'a str, query: &'a str) -> Req<'a> {
    Req {
        method: "GET",
        path,
        query,
        content_type: None,
        body: b"",
    }
}

fn post<'a>(path: &'a str, query: &'a str, json: &'a str) -> Req<'a> {
    Req {
        method: "POST",
        path,
        query,
        content_type: Some("application/json"),
        body: json.as_bytes(),
    }
}

fn priced(req: &Req) -> Result<Priced, PriceError> {
    price(
        pricing(),
        &Call {
            method: req.method,
            path: req.path,
            query: req.query,
            content_type: req.content_type,
            body: req.body,
            today: today(),
        },
    )
}

#[track_caller]
fn costs(req: Req, endpoint: &str, targets: u64, units: u64) {
    let p = priced(&req).unwrap_or_else(|e| panic!("{}?{}: {e}", req.path, req.query));
    assert_eq!(p.endpoint, endpoint, "{}?{}", req.path, req.query);
    assert_eq!(p.targets, targets, "targets of {}?{}", req.path, req.query);
    assert_eq!(p.units, units, "units of {}?{}", req.path, req.query);
}

#[track_caller]
fn refused(req: Req, phrase: &str) {
    match priced(&req) {
        Err(e @ PriceError::Unreadable { .. }) => {
            let text = e.to_string();
            assert!(text.contains(phrase), "{text:?} lacks {phrase:?}");
            assert!(
                text.contains("cannot be priced exactly, so it was not sent to the API"),
                "{text}"
            );
        }
        other => panic!(
            "{}?{}: expected a refusal, got {other:?}",
            req.path, req.query
        ),
    }
}

#[test]
fn target_calls_priced_by_hand() {
    // summary: 100 units per target record.
    costs(
        get("/v1/backlinks/summary", "target=a.com"),
        "backlinks/summary",
        1,
        100,
    );
    costs(
        get(
            "/v1/backlinks/summary",
            "target=a.com&target=b.com&target=c.com&mode=host&output=json",
        ),
        "backlinks/summary",
        3,
        300,
    );
    costs(
        get("/v1/backlinks/summary", "target[]=a.com&target[]=b.com"),
        "backlinks/summary",
        2,
        200,
    );
    // POST body with a target array: 4 targets × 100.
    costs(
        post(
            "/v1/backlinks/summary",
            "output=json",
            r#"{"target":["a","b","c","d"],"mode":"host"}"#,
        ),
        "backlinks/summary",
        4,
        400,
    );
    costs(
        post("/v1/backlinks/count", "", r#"{"target":"a.com"}"#),
        "backlinks/count",
        1,
        100,
    );
    // authority: the measured 15 per target, not the table's 1: 2 × 15.
    costs(
        get("/v1/backlinks/authority", "target=a&target=b"),
        "backlinks/authority",
        2,
        30,
    );
    // export: 1000 per target; status polls: 0, no target.
    costs(
        get("/v1/backlinks/export", "target=a.com&mode=host"),
        "backlinks/export",
        1,
        1000,
    );
    costs(
        get("/v1/backlinks/export/status", "task_id=1_878619"),
        "backlinks/export/status",
        1,
        0,
    );
    costs(
        get("/v1/account/subscription", ""),
        "account/subscription",
        1,
        0,
    );
    // two targets on a one-target endpoint are priced for both (never below the bill).
    costs(
        get("/v1/backlinks/export", "target=a&target=b"),
        "backlinks/export",
        2,
        2000,
    );
}

#[test]
fn row_calls_priced_by_hand() {
    // all: rows × 1 unit, default limit 100, or the limit asked.
    costs(
        get("/v1/backlinks/all", "target=a.com"),
        "backlinks/all",
        1,
        100,
    );
    costs(
        get("/v1/backlinks/all", "target=a.com&limit=2500"),
        "backlinks/all",
        1,
        2500,
    );
    costs(
        post("/v1/backlinks/all", "", r#"{"target":"a.com","limit":40}"#),
        "backlinks/all",
        1,
        40,
    );
    costs(
        post(
            "/v1/backlinks/all",
            "",
            r#"{"target":"a.com","limit":"40"}"#,
        ),
        "backlinks/all",
        1,
        40,
    );
    // a limit above limit.max is priced as asked: 20,000 rows.
    costs(
        get("/v1/backlinks/all", "target=a&limit=20000"),
        "backlinks/all",
        1,
        20_000,
    );
    // the same limit twice is one limit.
    costs(
        get("/v1/backlinks/all", "target=a&limit=100&limit=100"),
        "backlinks/all",
        1,
        100,
    );
    // raw: default limit 10000 rows × 1 unit.
    costs(
        get("/v1/backlinks/raw", "target=a.com"),
        "backlinks/raw",
        1,
        10_000,
    );
    // per request: 100 whatever the rows.
    costs(
        get(
            "/v1/domain/keywords",
            "source=us&domain=a.com&limit=1000&page=2",
        ),
        "domain/keywords",
        1,
        100,
    );
    // similar keywords: 10 per keyword returned, default limit 100 = 1,000.
    costs(
        get("/v1/keywords/similar", "source=us&keyword=seo+tools"),
        "keywords/similar",
        1,
        1000,
    );
    // site audit: 2 per page; settings.max_pages 5,000 = 10,000; without it the default 1,000.
    costs(
        post(
            "/v1/site-audit/audits/standard",
            "",
            r#"{"domain":"example.com","settings":{"max_pages":5000,"max_depth":10}}"#,
        ),
        "site-audit/audits/standard",
        1,
        10_000,
    );
    costs(
        post(
            "/v1/site-audit/audits/standard",
            "",
            r#"{"domain":"example.com"}"#,
        ),
        "site-audit/audits/standard",
        1,
        2_000,
    );
    costs(
        post(
            "/v1/site-audit/audits/advanced",
            "",
            r#"{"domain":"x","settings":{"max_pages":1000}}"#,
        ),
        "site-audit/audits/advanced",
        1,
        20_000,
    );
}

#[test]
fn keyword_and_serp_calls_priced_by_hand() {
    // keywords/export: one request for 3 keywords = 100 units.
    costs(
        get(
            "/v1/keywords/export",
            "source=us&keywords[]=a&keywords[]=b&keywords[]=c",
        ),
        "keywords/export",
        3,
        100,
    );
    costs(
        post(
            "/v1/keywords/export",
            "source=us",
            r#"{"keywords":["a","b"]}"#,
        ),
        "keywords/export",
        2,
        100,
    );
    // multipart, as SE Ranking's MCP server sends it: 3 keywords[] fields.
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nseo tools\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nrank tracker\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nbacklink checker\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"sort\"\r\n\r\ncpc\r\n--XyZ--\r\n";
    costs(
        Req {
            method: "POST",
            path: "/v1/keywords/export",
            query: "source=uk",
            content_type: Some("multipart/form-data; boundary=XyZ"),
            body: body.as_bytes(),
        },
        "keywords/export",
        3,
        100,
    );
    // SERP tasks: 10 per keyword in `query`: 3 × 10; polling them is free.
    costs(
        post(
            "/v1/serp/classic/tasks",
            "",
            r#"{"search_engine":"google","location_id":2840,"query":["a","b","c"]}"#,
        ),
        "serp/classic/tasks",
        3,
        30,
    );
    costs(
        get("/v1/serp/classic/tasks", "task_id=987654321"),
        "GET serp/classic/tasks",
        1,
        0,
    );
    costs(
        get("/v1/serp/classic/tasks/results_advanced", "task_id=9"),
        "serp/classic/tasks/results_advanced",
        1,
        10,
    );
    // an empty multipart body (a recheck) names nothing.
    let empty = Req {
        method: "POST",
        path: "/v1/keywords/export",
        query: "source=us",
        content_type: Some("multipart/form-data; boundary=b0"),
        body: b"--b0--\r\n",
    };
    costs(empty, "keywords/export", 1, 100);
}

#[test]
fn date_ranges_priced_by_hand() {
    // page authority history, 1 per period; no dates: the assumed 365 days, by day.
    costs(
        get(
            "/v1/backlinks/authority/page/history",
            "target=https://a.com/p&granularity=by_day",
        ),
        "backlinks/authority/page/history",
        1,
        365,
    );
    // 365 days by month touch at most 13 months.
    costs(
        get(
            "/v1/backlinks/authority/page/history",
            "target=x&granularity=by_month",
        ),
        "backlinks/authority/page/history",
        1,
        13,
    );
    // Jan..Oct 2026 by month: 10 periods.
    costs(
        get(
            "/v1/backlinks/authority/page/history",
            "target=x&date_from=2026-01-01&date_to=2026-10-31&granularity=by_month",
        ),
        "backlinks/authority/page/history",
        1,
        10,
    );
    // history counts: a row per day × 100. No dates: yesterday..today = 2 × 100.
    costs(
        get("/v1/backlinks/history/count", "target=a&mode=host"),
        "backlinks/history/count",
        1,
        200,
    );
    // October: 31 days × 100 = 3,100; granularity is not read (always by day).
    costs(
        get(
            "/v1/backlinks/history/count",
            "target=a&date_from=2026-10-01&date_to=2026-10-31&granularity=by_month",
        ),
        "backlinks/history/count",
        1,
        3_100,
    );
    // from 1 Oct to today (10 Oct): 10 days × 100.
    costs(
        get(
            "/v1/backlinks/refdomains/history/count",
            "target=a&date_from=2026-10-01",
        ),
        "backlinks/refdomains/history/count",
        1,
        1_000,
    );
    // to 10 Oct without a start: the 2 default days, 9..10 Oct.
    costs(
        get(
            "/v1/backlinks/history/cumulative",
            "target=a&date_to=2026-10-10",
        ),
        "backlinks/history/cumulative",
        1,
        200,
    );
}

/// The issue's list: every way a count was read below the bill is refused now.
#[test]
fn counts_that_are_not_plain_digits_are_refused() {
    for limit in [
        "5000.0",
        "5e3",
        "5_000",
        "５０００",
        "-1",
        "",
        "+5000",
        "5000 ",
        "0x10",
        "1,000",
    ] {
        let query = format!("target=a&limit={limit}");
        refused(
            get("/v1/backlinks/all", &query),
            "not a whole number written with the digits 0-9",
        );
    }
    refused(
        get("/v1/backlinks/all", "target=a&limit=0"),
        "`limit` is 0; ask for 1 or more",
    );
    refused(
        get(
            "/v1/backlinks/all",
            "target=a&limit=99999999999999999999999",
        ),
        "not a whole number",
    );
    refused(
        post("/v1/backlinks/all", "", r#"{"target":"a","limit":5000.0}"#),
        "\"5000.0\"",
    );
    refused(
        post("/v1/backlinks/all", "", r#"{"target":"a","limit":-5}"#),
        "not a whole number",
    );
    refused(
        post("/v1/backlinks/all", "", r#"{"target":"a","limit":[5000]}"#),
        "not a whole number",
    );
    refused(
        post(
            "/v1/site-audit/audits/standard",
            "",
            r#"{"domain":"a","settings":{"max_pages":"1e5"}}"#,
        ),
        "`settings.max_pages` is \"1e5\"",
    );
}

#[test]
fn price_parameters_given_twice_are_refused() {
    refused(
        get("/v1/backlinks/all", "target=a&limit=5000&limit=1"),
        "`limit` is given twice with different values (5000 and 1)",
    );
    refused(
        post(
            "/v1/backlinks/all",
            "limit=100",
            r#"{"target":"a","limit":200}"#,
        ),
        "`limit` is given twice with different values (100 and 200)",
    );
    refused(
        get(
            "/v1/backlinks/history/count",
            "target=a&date_from=2026-10-01&date_from=2026-01-01",
        ),
        "`date_from` is given twice",
    );
    refused(
        get(
            "/v1/backlinks/authority/page/history",
            "target=a&granularity=by_day&granularity=by_month",
        ),
        "`granularity` is given twice",
    );
    refused(
        post(
            "/v1/backlinks/all",
            "",
            r#"{"target":"a","limit":1,"limit":5000}"#,
        ),
        "the JSON body names `limit` twice",
    );
}

#[test]
fn unreadable_bodies_are_refused() {
    let bom = [b"\xEF\xBB\xBF".as_slice(), br#"{"target":["a","b"]}"#].concat();
    refused(
        Req {
            method: "POST",
            path: "/v1/backlinks/summary",
            query: "target=a",
            content_type: Some("application/json"),
            body: &bom,
        },
        "UTF-8 byte order mark",
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(r#"{"target":["a","b"]}"#.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    refused(
        Req {
            method: "POST",
            path: "/v1/backlinks/summary",
            query: "",
            content_type: Some("application/json"),
            body: &utf16,
        },
        "UTF-16 or UTF-32",
    );
    // UTF-16 without its byte order mark still holds NUL bytes.
    let bare: Vec<u8> = r#"{"target":"a"}"#.encode_utf16().flat_map(u16::to_be_bytes).collect();
    refused(
        Req {
            method: "POST",
            path: "/v1/backlinks/summary",
            query: "",
            content_type: None,
            body: &bare,
        },
        "UTF-16 or UTF-32",
    );
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep = format!(r#"{{"target":{deep}}}"#);
    refused(
        post("/v1/backlinks/summary", "", &deep),
        "nested deeper than the guard reads",
    );
    refused(
        Req {
            method: "POST",
            path: "/v1/backlinks/summary",
            query: "target=a",
            content_type: Some("application/x-www-form-urlencoded"),
            body: b"target=b&target=c",
        },
        "form-encoded",
    );
    refused(
        post("/v1/backlinks/summary", "", "{\"target\": [\"a\","),
        "not readable JSON",
    );
    refused(
        post("/v1/backlinks/summary", "", "target=a"),
        "not readable JSON",
    );
    refused(
        post("/v1/backlinks/summary", "", r#"["a","b"]"#),
        "not an object",
    );
    refused(
        post(
            "/v1/backlinks/summary",
            "target=a",
            r#"{"target":["b","c"]}"#,
        ),
        "targets are given both in the query and in the body",
    );
    refused(
        post("/v1/backlinks/summary", "", r#"{"target":{"a":1}}"#),
        "`target` in the body is an object",
    );
    refused(
        Req {
            method: "POST",
            path: "/v1/keywords/export",
            query: "",
            content_type: Some("multipart/form-data"),
            body: b"--x\r\n",
        },
        "no boundary",
    );
    refused(
        Req {
            method: "POST",
            path: "/v1/keywords/export",
            query: "",
            content_type: Some("multipart/form-data; boundary=x"),
            body: b"--x\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\nnever ends",
        },
        "a part never ends",
    );
    // a body of white space names nothing: the query decides.
    costs(
        post("/v1/backlinks/summary", "target=a", "  \r\n"),
        "backlinks/summary",
        1,
        100,
    );
}

#[test]
fn bad_ranges_are_refused() {
    refused(
        get(
            "/v1/backlinks/history/count",
            "target=a&date_from=2026-13-01&date_to=2026-12-01",
        ),
        "`date_from` is \"2026-13-01\", not a date",
    );
    refused(
        get(
            "/v1/backlinks/history/count",
            "target=a&date_from=2026-10-31&date_to=2026-10-01",
        ),
        "ends (2026-10-01) before it starts (2026-10-31)",
    );
    refused(
        get(
            "/v1/backlinks/authority/page/history",
            "target=a&granularity=yearly",
        ),
        "`granularity` is \"yearly\"; send by_day, by_week or by_month",
    );
}

#[test]
fn unknown_prices_paths_and_endpoints() {
    let e = priced(&get("/v1/domain/pages", "target=a&source=us")).unwrap_err();
    assert!(matches!(e, PriceError::PriceUnknown { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("the price of domain/pages is unknown"),
        "{text}"
    );
    assert!(text.contains("--pricing-overlay FILE"), "{text}");
    assert!(text.contains("retrying will not help"), "{text}");
    assert!(
        !text.contains("not in the guard's pricing catalogue"),
        "{text}"
    );
    let e = priced(&get("/v1/backlinks/sumary", "")).unwrap_err();
    assert!(
        e.to_string().contains(
            "backlinks/sumary is not in the guard's pricing catalogue (a typo of backlinks/summary?)"
        ),
        "{e}"
    );
    let e = priced(&get("/v2/backlinks/summary", "")).unwrap_err();
    assert!(e.to_string().contains("paths start with /v1/"), "{e}");
    let e = priced(&get("/v1/", "")).unwrap_err();
    assert!(matches!(e, PriceError::NotApi { .. }), "{e}");
}

#[test]
fn overflow_is_an_error() {
    // 2 targets × 18446744073709551615 rows does not fit.
    let e = priced(&get(
        "/v1/backlinks/all",
        "target=a&target=b&limit=18446744073709551615",
    ))
    .unwrap_err();
    assert!(matches!(e, PriceError::Overflow { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("the price of this backlinks/all call overflows the largest count"),
        "{e}"
    );
}

#[test]
fn rows_and_row_price() {
    let p = priced(&get("/v1/backlinks/all", "target=a&limit=7")).expect("priced");
    assert_eq!(p.shape.rows, Some(7));
    assert_eq!(p.units_per_row, Some(1));
    let p = priced(&get("/v1/backlinks/history/count", "target=a")).expect("priced");
    assert_eq!(
        p.units_per_row,
        Some(100),
        "day rows are counted in replies"
    );
    // per request and per target: settled at the price, never by rows.
    let p = priced(&get("/v1/domain/keywords", "target=a")).expect("priced");
    assert_eq!(p.units_per_row, None);
    let p = priced(&get("/v1/backlinks/summary", "target=a")).expect("priced");
    assert_eq!(p.units_per_row, None);
    // a site audit's pages are crawled later, not returned: charged the price.
    let p = priced(&post(
        "/v1/site-audit/audits/standard",
        "",
        r#"{"domain":"a"}"#,
    ))
    .expect("priced");
    assert_eq!((p.units, p.units_per_row), (2_000, None));
}

#[track_caller]
fn counted(body: &str, expected: Option<u64>) {
    assert_eq!(records_in_reply(body.as_bytes()), expected, "{body}");
}

#[test]
fn records_counted_from_replies() {
    counted(r#"[{"a":1},{"a":2}]"#, Some(2));
    counted(r#"{"backlinks":[1,2,3],"next":"x"}"#, Some(3));
    counted(r#"{"backlinks":[]}"#, Some(0));
    counted(r#"{"a":[1],"b":[2]}"#, None);
    counted(r#"{"total":5}"#, None);
    counted("not json", None);
}

/// An entry's `methods` decide which calls it prices: a method-named entry wins for its method, a
/// path's own entry prices the methods it lists, and a method no entry of a known path lists is
/// refused naming the methods it takes (never as an unknown endpoint).
#[test]
fn methods_choose_the_entry() {
    let req = |method: &'static str, path: &'static str, query: &'static str| Req {
        method,
        path,
        query,
        content_type: None,
        body: b"",
    };
    // PATCH and DELETE of site-audit/audits: 0 units, assumed.
    for method in ["GET", "PATCH", "DELETE"] {
        let p = priced(&req(method, "/v1/site-audit/audits", "audit_id=1")).expect(method);
        assert_eq!(
            (p.endpoint.as_str(), p.units, p.evidence),
            ("site-audit/audits", 0, Evidence::Assumed),
            "{method}"
        );
    }
    // GET serp/classic/tasks is its own entry (0, docs); POST creates tasks (10 per keyword).
    let p = priced(&req("GET", "/v1/serp/classic/tasks", "task_id=1")).unwrap();
    assert_eq!(
        (p.endpoint.as_str(), p.units),
        ("GET serp/classic/tasks", 0)
    );
    let p = priced(&post(
        "/v1/serp/classic/tasks",
        "",
        r#"{"query":["a","b"]}"#,
    ))
    .unwrap();
    // 2 keywords × 10 = 20.
    assert_eq!((p.endpoint.as_str(), p.units), ("serp/classic/tasks", 20));
    #[track_caller]
    fn not_allowed(req: Req, endpoint: &str, allowed: &[&str]) {
        match priced(&req) {
            Err(PriceError::MethodNotAllowed {
                endpoint: e,
                allowed: a,
                ..
            }) => {
                assert_eq!((e.as_str(), a.as_slice()), (endpoint, allowed));
            }
            other => panic!("{} {}: {other:?}", req.method, req.path),
        }
    }
    not_allowed(
        req("PUT", "/v1/site-audit/audits", "audit_id=1"),
        "site-audit/audits",
        &["GET", "PATCH", "DELETE"],
    );
    not_allowed(
        req("POST", "/v1/site-audit/audits/report", "audit_id=1"),
        "site-audit/audits/report",
        &["GET"],
    );
    // GET of a task-creating path: the path takes POST, and GET through its own entry.
    not_allowed(
        req("DELETE", "/v1/serp/classic/tasks/", "task_id=1"),
        "serp/classic/tasks",
        &["GET", "POST"],
    );
    not_allowed(
        req("GET", "/v1/site-audit/audits/standard", ""),
        "site-audit/audits/standard",
        &["POST"],
    );
    not_allowed(
        req("HEAD", "/v1/backlinks/summary", "target=a"),
        "backlinks/summary",
        &["GET", "POST"],
    );
    // An unknown path stays unknown whatever the method.
    assert!(matches!(
        priced(&req("PATCH", "/v1/backlinks/nothing", "")),
        Err(PriceError::UnknownEndpoint { .. })
    ));
}

/// A site audit's `settings.max_pages` is read from a JSON body, and in its bracket form from a
/// query or form, so no spelling the API may read escapes the price; without it the documented
/// default of 1,000 pages is priced.
#[test]
fn audit_pages_in_every_spelling() {
    let path = "/v1/site-audit/audits/advanced";
    // 20 per page: 1,000 pages by default = 20,000; 5 pages = 100.
    costs(
        post(path, "", r#"{"domain":"a"}"#),
        "site-audit/audits/advanced",
        1,
        20_000,
    );
    costs(
        post(path, "", r#"{"domain":"a","settings":{"max_pages":5}}"#),
        "site-audit/audits/advanced",
        1,
        100,
    );
    // Decoded bracket key in the query (the proxy decodes before pricing): 300,000 pages.
    costs(
        post(path, "domain=a&settings[max_pages]=300000", ""),
        "site-audit/audits/advanced",
        1,
        6_000_000,
    );
    refused(
        post(
            path,
            "settings[max_pages]=300000",
            r#"{"domain":"a","settings":{"max_pages":5}}"#,
        ),
        "`settings.max_pages` is given twice with different values",
    );
    let form = b"--b\r\nContent-Disposition: form-data; name=\"settings[max_pages]\"\r\n\r\n7\r\n--b--\r\n";
    let p = priced(&Req {
        method: "POST",
        path,
        query: "",
        content_type: Some("multipart/form-data; boundary=b"),
        body: form,
    })
    .unwrap();
    // 7 pages × 20 = 140.
    assert_eq!(p.units, 140);
    // A recheck (an empty multipart body, as the MCP server sends it) is priced at the largest
    // audit: 300,000 pages × 2 = 600,000 and × 20 = 6,000,000.
    for (path, units) in [
        ("/v1/site-audit/audits/recheck/standard", 600_000),
        ("/v1/site-audit/audits/recheck/advanced", 6_000_000),
    ] {
        let p = priced(&Req {
            method: "POST",
            path,
            query: "audit_id=412345",
            content_type: Some("multipart/form-data; boundary=----formdata-undici-0"),
            body: b"------formdata-undici-0--\r\n",
        })
        .unwrap();
        assert_eq!((p.units, p.evidence), (units, Evidence::Docs), "{path}");
    }
}

#[track_caller]
fn fit(req: Req, left: u64, expected: Fit) {
    let p = priced(&req).unwrap();
    let pricing = pricing();
    let endpoint = pricing.endpoint(&p.endpoint).unwrap();
    assert_eq!(
        largest_fit(endpoint, &p, left),
        expected,
        "{}?{}",
        req.path,
        req.query
    );
}

/// What still fits a budget, for the endpoint of a call that does not: worked out by hand.
#[test]
fn largest_fits() {
    // 3 targets × 100 = 300 > 250: 2 targets (200) fit.
    fit(
        get("/v1/backlinks/summary", "target=a&target=b&target=c"),
        250,
        Fit::Targets {
            targets: 2,
            units: 200,
        },
    );
    // one target of 100 > 99: nothing.
    fit(
        get("/v1/backlinks/summary", "target=a"),
        99,
        Fit::Nothing { smallest: 100 },
    );
    // 3 keywords × 10 = 30 > 25: 2 keywords (20).
    fit(
        post("/v1/serp/classic/tasks", "", r#"{"query":["a","b","c"]}"#),
        25,
        Fit::Targets {
            targets: 2,
            units: 20,
        },
    );
    // limit 5,000 × 1 > 1,234: limit 1,234.
    fit(
        get("/v1/backlinks/all", "target=a&limit=5000"),
        1_234,
        Fit::Rows {
            param: "limit".into(),
            rows: 1_234,
            units: 1_234,
        },
    );
    // keywords/similar: 10 per row; limit 100 = 1,000 > 555: 55 rows (550).
    fit(
        get("/v1/keywords/similar", "keyword=seo&source=us&limit=100"),
        555,
        Fit::Rows {
            param: "limit".into(),
            rows: 55,
            units: 550,
        },
    );
    // a standard audit of 1,000 pages (default) × 2 = 2,000 > 1,999: 999 pages (1,998).
    fit(
        post("/v1/site-audit/audits/standard", "", r#"{"domain":"a"}"#),
        1_999,
        Fit::Rows {
            param: "settings.max_pages".into(),
            rows: 999,
            units: 1_998,
        },
    );
    // October by day: 31 days × 100 = 3,100 > 250: 2 days (200).
    fit(
        get(
            "/v1/backlinks/history/count",
            "target=a&date_from=2026-10-01&date_to=2026-10-31",
        ),
        250,
        Fit::Periods {
            periods: 2,
            granularity: Granularity::ByDay,
            units: 200,
        },
    );
    // by month Jan..Oct: 10 months × 1 = 10 > 3: 3 months.
    fit(
        get(
            "/v1/backlinks/authority/page/history",
            "target=a&date_from=2026-01-01&date_to=2026-10-31&granularity=by_month",
        ),
        3,
        Fit::Periods {
            periods: 3,
            granularity: Granularity::ByMonth,
            units: 3,
        },
    );
    // 5 targets of backlinks/export (1,000 each, one per request) > 4,500: one target fits, the
    // most the endpoint takes.
    fit(
        get(
            "/v1/backlinks/export",
            "target=a&target=b&target=c&target=d&target=e",
        ),
        4_500,
        Fit::Targets {
            targets: 1,
            units: 1_000,
        },
    );
    // limit 50,000 of backlinks/all (max 10,000) > 20,000: limit 10,000.
    fit(
        get("/v1/backlinks/all", "target=a&limit=50000"),
        20_000,
        Fit::Rows {
            param: "limit".into(),
            rows: 10_000,
            units: 10_000,
        },
    );
    // per request: nothing smaller exists.
    fit(
        get("/v1/domain/keywords", "domain=a&source=us"),
        99,
        Fit::Nothing { smallest: 100 },
    );
}

/// Every request SE Ranking's official MCP server sends (tests/data/mcp-corpus.json) is read
/// exactly: priced, or refused only because its price is unknown, never as an unknown endpoint,
/// a wrong method or unreadable. keywords/export counts its multipart `keywords[]` fields.
#[test]
fn the_mcp_corpus_is_read_exactly() {
    let corpus: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/mcp-corpus.json")).unwrap();
    let mut priced_count = 0;
    let mut unknown = Vec::new();
    for r in corpus["requests"].as_array().unwrap() {
        // The query string exactly as the MCP server sends it.
        let query = r["raw_query"].as_str().unwrap_or("");
        let (content_type, body) = match &r["body"] {
            Value::Null => (None, Vec::new()),
            Value::Object(o) if o.contains_key("multipart") => {
                let mut body = String::new();
                for field in o["multipart"].as_array().unwrap() {
                    body.push_str(&format!(
                        "--b\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                        field[0].as_str().unwrap(),
                        field[1].as_str().unwrap()
                    ));
                }
                body.push_str("--b--\r\n");
                (Some("multipart/form-data; boundary=b"), body.into_bytes())
            }
            json => (Some("application/json"), serde_json::to_vec(json).unwrap()),
        };
        let call = Call {
            method: r["method"].as_str().unwrap(),
            path: r["path"].as_str().unwrap(),
            query,
            content_type,
            body: &body,
            today: today(),
        };
        match price(pricing(), &call) {
            Ok(p) => {
                priced_count += 1;
                if p.endpoint == "keywords/export" {
                    let keywords = r["body"]["multipart"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|f| f[0] == "keywords[]")
                        .count() as u64;
                    assert_eq!(p.targets, keywords, "{}", r["case"]);
                }
            }
            Err(PriceError::PriceUnknown { endpoint }) => unknown.push(endpoint),
            Err(e) => panic!("{}: {e}", r["case"]),
        }
    }
    // 88 of the 96 are priced; the 8 refused are the 7 AI search calls and the domain authority
    // history, whose prices nobody publishes.
    assert_eq!(priced_count, 88);
    unknown.sort();
    unknown.dedup();
    assert_eq!(
        unknown,
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
    // The server's unregistered tools are in the catalogue too, at unknown prices.
    for r in corpus["unregistered"].as_array().unwrap() {
        let query = r["raw_query"].as_str().unwrap_or("");
        let call = Call {
            method: r["method"].as_str().unwrap(),
            path: r["path"].as_str().unwrap(),
            query,
            content_type: None,
            body: b"",
            today: today(),
        };
        assert!(
            matches!(
                price(pricing(), &call),
                Err(PriceError::PriceUnknown { .. })
            ),
            "{}",
            r["case"]
        );
    }
}

/// A multipart POST of `fields` (each a part's whole Content-Disposition value and its content).
fn multipart_body(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = String::new();
    for (disposition, value) in fields {
        body.push_str(&format!(
            "--b\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str("--b--\r\n");
    body.into_bytes()
}

fn form<'a>(path: &'a str, query: &'a str, body: &'a [u8]) -> Req<'a> {
    Req {
        method: "POST",
        path,
        query,
        content_type: Some("multipart/form-data; boundary=b"),
        body,
    }
}

/// Invariant: a parameter that changes the price reaches the API only under a spelling the
/// pricer reads. Every spelling the red-team found forwarded unpriced (a server reading names
/// the way `transport::read_name` says may read each as the price parameter: PHP arrays,
/// leading `+`/spaces, NULs, case, double encoding, `;` separators, multipart parts naming their
/// field twice) is refused, naming the parameter as sent and the spelling to use.
#[test]
fn other_spellings_of_a_price_parameter_are_refused() {
    let summary = "/v1/backlinks/summary";
    let all = "/v1/backlinks/all";
    let audit = "/v1/site-audit/audits/standard";
    let targets = "write it as `target=` or `target[]=`";
    let limit = "write it as `limit=`";
    let pages = "write it as `settings[max_pages]=`";
    #[rustfmt::skip]
    let query_cases: [(&str, &str, &str, &str); 27] = [
        // (path, query, the name as the message quotes it, how to write it)
        (summary, "mode=host&target[1]=a&target[2]=b&target[3]=c&target[4]=d&target[5]=e", "\"target[1]\"", targets),
        (summary, "target[x]=a&target[y]=b", "\"target[x]\"", targets),
        (summary, "target[0]=a", "\"target[0]\"", targets),
        (summary, "%20target=a&%20target=b", "\"%20target\"", targets),
        (summary, "+target=a&+target=b", "\"+target\"", targets),
        (summary, "target%00=a&target%00=b", "\"target%00\"", targets),
        (summary, "%2574arget=a&%2574arget=b", "\"%2574arget\"", targets),
        (summary, "target%5B1%5D=a&target%5B2%5D=b", "\"target%5B1%5D\"", targets),
        (summary, "Target=a&TARGET=b", "\"Target\"", targets),
        (summary, "target=a&target%20=b", "\"target%20\"", targets),
        (all, "target=a&LIMIT=10000&output=xml", "\"LIMIT\"", limit),
        (all, "target=a&+limit=10000", "\"+limit\"", limit),
        (all, "target=a&%20limit=10000", "\"%20limit\"", limit),
        (all, "target=a&limit%00=10000", "\"limit%00\"", limit),
        (all, "target=a&%256Cimit=10000", "\"%256Cimit\"", limit),
        (all, "target=a&Limit=10000", "\"Limit\"", limit),
        (all, "target=a&limit%20=10000", "\"limit%20\"", limit),
        (all, "target=a&limit%09=10000", "\"limit%09\"", limit),
        (all, "target=a&limit[]=10000", "\"limit[]\"", limit),
        (all, "target=a&limit[0]=10000", "\"limit[0]\"", limit),
        // Given also in its own spelling: the other one is refused all the same.
        (all, "target=a&limit=100&LIMIT=10000", "\"LIMIT\"", limit),
        (audit, "+settings[max_pages]=300000", "\"+settings[max_pages]\"", pages),
        (audit, "settings[MAX_PAGES]=300000", "\"settings[MAX_PAGES]\"", pages),
        (audit, "settings[%20max_pages]=300000", "\"settings[%20max_pages]\"", pages),
        (audit, "Settings[max_pages]=300000", "\"Settings[max_pages]\"", pages),
        (audit, "settings[max%255Fpages]=300000", "\"settings[max%255Fpages]\"", pages),
        (audit, "settings=300000", "\"settings\"", pages),
    ];
    for (path, query, sent, write) in query_cases {
        let method = if path == audit { "POST" } else { "GET" };
        let req = || Req {
            method,
            path,
            query,
            content_type: None,
            body: b"",
        };
        refused(
            req(),
            &format!("the query parameter {sent} may be read by the API as `"),
        );
        refused(req(), write);
    }
    // A date parameter of a period call, read the PHP way (`.` and spaces become `_`).
    refused(
        get(
            "/v1/backlinks/authority/page/history",
            "target=x&date.from=2020-01-01",
        ),
        "\"date.from\" may be read by the API as `date_from`",
    );
    refused(
        get(
            "/v1/backlinks/authority/page/history",
            "target=x&Granularity=by_day",
        ),
        "write it as `granularity=`",
    );
    // A name that decodes to `limit=10000&x` is read as `limit` (a server decoding the query
    // before splitting it): refused as another spelling of it.
    refused(
        get(all, "target=a&limit%3D10000%26x=1"),
        "the query parameter \"limit%3D10000%26x\" may be read by the API as `limit`",
    );
    // A raw `;`: servers splitting on it read `target=b` and `limit=10000`.
    for (path, query) in [
        (summary, "mode=host;target=a;target=b"),
        (all, "target=a&x=1;limit=10000"),
    ] {
        refused(get(path, query), "the query string holds a `;`");
    }
    // Hidden in another parameter's value: a server that decodes the whole query string before
    // splitting it reads `x=1%26limit%3D10000` as `x=1` and `limit=10000` (once or twice encoded,
    // after `&` or `;`, the hidden name in any spelling the API may read as the parameter).
    for (path, query, sent, hidden, param) in [
        (
            all,
            "target=a&x=1%26limit%3D10000",
            "\"x\"",
            "\"limit\"",
            "limit",
        ),
        (
            all,
            "target=a&x=1%2526limit%253D10000",
            "\"x\"",
            "\"limit\"",
            "limit",
        ),
        (
            all,
            "target=a&x=1%3Blimit%3D10000",
            "\"x\"",
            "\"limit\"",
            "limit",
        ),
        (
            all,
            "target=a&x=1%26LIMIT%3D10000",
            "\"x\"",
            "\"LIMIT\"",
            "limit",
        ),
        (
            all,
            "target=a%26limit%3D10000",
            "\"target\"",
            "\"limit\"",
            "limit",
        ),
        (
            summary,
            "target=a&x=%26target%3Db",
            "\"x\"",
            "\"target\"",
            "target",
        ),
        (
            summary,
            "target=a&x=%26target%5B%5D%3Db",
            "\"x\"",
            "\"target[]\"",
            "target",
        ),
        // In the name as sent: `x%26limit=10000` is `x` and `limit=10000` once decoded.
        (
            all,
            "target=a&x%26limit=10000",
            "\"x%26limit\"",
            "\"limit\"",
            "limit",
        ),
        (
            all,
            "target=a&x%26limit%3D10000",
            "\"x%26limit%3D10000\"",
            "\"limit\"",
            "limit",
        ),
    ] {
        refused(
            get(path, query),
            &format!("the query parameter {sent} holds an encoded `&` or `;` followed by {hidden}, which a server that decodes the query string before splitting it reads as `{param}`"),
        );
    }
    // A value with an encoded `&` and no price parameter after it is priced as usual: a target
    // URL with a query of its own (1 target, 100 units: backlinks/summary is 100 per target).
    for query in [
        "target=https%3A%2F%2Fa.com%2F%3Fa%3D1%26b%3D2",
        "target=a%26limit",
        "target=a&x=%26limits%3D9",
    ] {
        let priced = priced(&get(summary, query)).expect(query);
        assert_eq!((priced.targets, priced.units), (1, 100), "{query}");
    }
    // JSON keys a server reading keys without regard to case (or spaces) takes for the field.
    refused(
        post(summary, "", r#"{"Target":["a","b","c"]}"#),
        "the JSON key \"Target\" may be read by the API as `target`",
    );
    refused(
        post(audit, "", r#"{"domain":"a","settings":{"MAX_PAGES":300000}}"#),
        "the JSON key \"MAX_PAGES\" may be read by the API as `settings.max_pages`, which changes this call's price, but the guard reads only its exact spelling; write it as `settings.max_pages`",
    );
    refused(
        post(audit, "", r#"{"domain":"a","settings[max_pages]":300000}"#),
        "the JSON key \"settings[max_pages]\" may be read by the API as `settings.max_pages`",
    );
    // Multipart fields: read with the same reading; a part must name its field once.
    let export = "/v1/keywords/export";
    for (fields, phrase) in [
        (
            vec![("form-data; name=\"keywords[1]\"", "a"), ("form-data; name=\"keywords[2]\"", "b")],
            "the form field \"keywords[1]\" may be read by the API as `keywords`, which changes this call's price, but the guard reads only its exact spelling; write it as `keywords[]=` or `keywords=`",
        ),
        (
            vec![("form-data; name=\" keywords[]\"", "a")],
            "the form field \" keywords[]\" may be read by the API as `keywords`",
        ),
        (
            vec![("form-data; name=\"x\"; name=\"keywords[]\"", "a")],
            "a multipart part names its field twice (\"form-data; name=\\\"x\\\"; name=\\\"keywords[]\\\"\")",
        ),
        (
            vec![("form-data; NAME=\"x\"; name=\"keywords[]\"", "a")],
            "a multipart part names its field twice",
        ),
        (
            vec![("form-data; name=\"x\"; name*=UTF-8''keywords%5B%5D", "a")],
            "a multipart part names its field with name*",
        ),
    ] {
        let body = multipart_body(&fields);
        refused(form(export, "source=us", &body), phrase);
    }
    let body = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Disposition: form-data; name=\"keywords[]\"\r\n\r\na\r\n--b--\r\n";
    refused(
        form(export, "source=us", body),
        "a multipart part names its field in two Content-Disposition headers",
    );
}

/// The spellings the guard reads are priced as before, and names that only look alike are
/// not refused: the check refuses what the API may read as a price parameter, nothing else.
#[test]
fn the_spellings_the_guard_reads_are_priced_exactly() {
    let summary = "/v1/backlinks/summary";
    // 100 a target: `target` and `target[]` both count, as written or percent-encoded once
    // (the API decodes once, as the guard does): 3 targets = 300.
    for query in [
        "target=a&target=b&target=c",
        "target[]=a&target[]=b&target[]=c",
        "target=a&target[]=b&target%5B%5D=c",
        "%74arget=a&target=b&target=c&mode=host&output=json",
    ] {
        costs(get(summary, query), "backlinks/summary", 3, 300);
    }
    // Names that are not a price parameter pass whatever their spelling: 1 target, 100.
    for query in [
        "target=a&MODE=host&target_url=x&targets=y&x[target]=z",
        "target=a&filter[0][param]=x&%2Boutput=json&Order_By=x",
    ] {
        costs(get(summary, query), "backlinks/summary", 1, 100);
    }
    // backlinks/all: 1 unit a row; limit=10000 → 10,000; `%6Cimit` decodes once to `limit`.
    costs(
        get("/v1/backlinks/all", "target=a&limit=10000&output=xml"),
        "backlinks/all",
        1,
        10_000,
    );
    costs(
        get("/v1/backlinks/all", "target=a&%6Cimit=10000"),
        "backlinks/all",
        1,
        10_000,
    );
    // A site audit's other settings pass in the query: 300 pages × 2 = 600.
    let audit = "/v1/site-audit/audits/standard";
    for query in [
        "domain=a&settings[max_pages]=300&settings[max_depth]=10",
        "domain=a&settings%5Bmax_pages%5D=300&settings[check_robots]=1",
        "domain=a&settings.max_pages=300",
    ] {
        costs(post(audit, query, ""), "site-audit/audits/standard", 1, 600);
    }
    // In JSON, as SE Ranking's MCP server sends it: 5,000 pages × 2 = 10,000.
    costs(
        post(
            audit,
            "",
            r#"{"domain":"a","title":"T","settings":{"check_robots":1,"max_pages":5000,"max_depth":10}}"#,
        ),
        "site-audit/audits/standard",
        1,
        10_000,
    );
    // A `;` percent-encoded in a value is no separator: 1 target.
    costs(
        get(summary, "target=a%3Bb&mode=host"),
        "backlinks/summary",
        1,
        100,
    );
    // Multipart, as the MCP server sends it: 2 keywords × 100... keywords/export is 100 a
    // request, whatever the keywords: 100.
    let body = multipart_body(&[
        ("form-data; name=\"keywords[]\"", "a"),
        ("form-data; name=\"keywords[]\"", "b"),
        ("form-data; name=\"sort\"; filename=\"x\"", "cpc"),
    ]);
    costs(
        form("/v1/keywords/export", "source=us", &body),
        "keywords/export",
        2,
        100,
    );
}

/// A variant of a price parameter's name: each letter in either case, maybe percent-encoded
/// once, twice or thrice, behind a prefix and before a suffix a lenient server may drop.
fn any_spelling(name: &'static str) -> impl Strategy<Value = String> {
    let letters = name.len();
    (
        prop::collection::vec((any::<bool>(), 0u8..4), letters),
        prop::sample::select(vec!["", "+", "%20", "%2B", "%09", "%00", "%2520", "%0A"]),
        prop::sample::select(vec![
            "",
            "[]",
            "[0]",
            "%00",
            "%00x",
            "%20",
            "%5B%5D",
            "%255B1%255D",
            "%09",
            ".x",
        ]),
    )
        .prop_map(move |(letters, prefix, suffix)| {
            let mut text = prefix.to_string();
            for ((upper, times), c) in letters.into_iter().zip(name.chars()) {
                let c = if upper { c.to_ascii_uppercase() } else { c };
                let mut part = c.to_string();
                for _ in 0..times {
                    part = part.bytes().map(|b| format!("%{b:02X}")).collect();
                }
                text.push_str(&part);
            }
            text.push_str(suffix);
            text
        })
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Invariant: whatever the spelling of `limit`, the call is priced as if it were written
    /// `limit` (target=a, 10,000 rows × 1 unit = 10,000) or refused; never the default 100.
    #[test]
    fn any_spelling_of_limit_is_priced_exactly_or_refused(name in any_spelling("limit")) {
        let query = format!("target=a&{name}=10000");
        match priced(&get("/v1/backlinks/all", &query)) {
            Ok(p) => prop_assert_eq!(p.units, 10_000, "{}", query),
            Err(PriceError::Unreadable { .. }) => {}
            Err(e) => prop_assert!(false, "{query}: {e}"),
        }
    }

    /// Invariant: 3 targets in any spelling are priced as 3 (300 units) or refused.
    #[test]
    fn any_spelling_of_target_is_priced_exactly_or_refused(name in any_spelling("target")) {
        let query = format!("{name}=a&{name}=b&{name}=c");
        match priced(&get("/v1/backlinks/summary", &query)) {
            Ok(p) => prop_assert_eq!(p.units, 300, "{}", query),
            Err(PriceError::Unreadable { .. }) => {}
            Err(e) => prop_assert!(false, "{query}: {e}"),
        }
    }

    /// Invariant: 300,000 pages in any spelling of `settings` are priced as such (× 2 =
    /// 600,000) or refused; never the default 1,000 pages.
    #[test]
    fn any_spelling_of_settings_is_priced_exactly_or_refused(
        name in any_spelling("settings"),
        field in any_spelling("max_pages"),
    ) {
        let query = format!("domain=a&{name}[{field}]=300000");
        match priced(&post("/v1/site-audit/audits/standard", &query, "")) {
            Ok(p) => prop_assert_eq!(p.units, 600_000, "{}", query),
            Err(PriceError::Unreadable { .. }) => {}
            Err(e) => prop_assert!(false, "{query}: {e}"),
        }
    }
}
