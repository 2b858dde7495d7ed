//! Pages in a real browser. The HTML report: headless Chromium builds the page, and the tables
//! and the chart it built carry the figures of `plan`, `forecast` and `overage --all-tiers` JSON;
//! its screenshots show a page (not a blank one) in the light theme and, when the reader's system
//! asks for it, the dark one. The guard's dashboard: signed in through its form, it refreshes its
//! figures without a reload. The harness: tests/support/browser.rs (`BUDGET_SKIP_BROWSER=1`
//! skips these on a machine without Chromium; otherwise a missing browser fails them). Each test
//! launches Chromium once: its start is most of a browser test's time.

use crate::report::{bundled_json, report, same_forecast, same_plan, BUNDLED, PERIOD};
use crate::support::browser::{file_url, Chromium, Image};
use std::time::Duration;

use crate::support::{html, Scratch};

/// The report of the bundled workflows over docs/finance.md's period, written to `scratch`.
fn bundled_page(scratch: &Scratch) -> (String, String) {
    let mut args: Vec<&str> = BUNDLED.to_vec();
    args.extend(PERIOD);
    let (run, page) = report(scratch, &args);
    run.code(1);
    (file_url(&scratch.path().join("report.html")), page)
}

/// Pixels of exactly `rgb`.
fn count(image: &Image, rgb: [u8; 3]) -> usize {
    image
        .rgba
        .iter()
        .filter(|p| p[..3] == rgb && p[3] == 255)
        .count()
}

/// Invariants, in one browser session on the written report: (1) what Chromium built holds the
/// JSON's figures — every table cell for cell as written, the chart an image with its title, no
/// script; (2) the light theme is a white page with text and the red verdict box; (3) when the
/// reader's system asks for dark (`prefers-color-scheme: dark`, what the report's CSS keys on)
/// the page is dark with light text and the dark verdict box.
#[test]
fn chromium_builds_the_report_with_the_json_figures_in_both_themes() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let scratch = Scratch::new();
    let (url, written) = bundled_page(&scratch);
    let mut page = chromium.devtools(&url, 1200, 1400);
    page.wait_loaded();
    let dom = page.dom();
    // What the browser built is what was written: every table, cell for cell...
    assert_eq!(html::tables(&dom), html::tables(&written));
    // ...and its figures are the JSON's.
    let (plan, forecast, tiers) = bundled_json();
    same_plan(&dom, &plan);
    same_forecast(&dom, &forecast, Some(&tiers));
    // The chart is in the DOM as an image with its title; no script ran or was there to run.
    assert!(html::texts(&dom, "title")
        .iter()
        .any(|t| t.starts_with("Burn-up chart: projected units against the units left")));
    assert!(html::tags(&dom, "script").is_empty());

    // Light theme: a white page with the red verdict box (#ffebe9 behind it) and dark text.
    page.prefer_color_scheme("light");
    let shot = page.screenshot();
    assert_eq!((shot.width, shot.height), (1200, 1400));
    assert_eq!(
        shot.pixel(0, 0),
        [255, 255, 255, 255],
        "the page background"
    );
    assert!(
        shot.colours() > 50,
        "{} colours: a blank page?",
        shot.colours()
    );
    assert!(
        shot.darker_than(100.0) > 5_000,
        "{} dark pixels: no text?",
        shot.darker_than(100.0)
    );
    // The verdict box is about 1,080 × 100 px.
    assert!(count(&shot, [0xff, 0xeb, 0xe9]) > 20_000, "no verdict box");

    // The dark theme follows the reader's system: #0d1117 behind light text, the verdict box
    // #3c1618.
    page.prefer_color_scheme("dark");
    let shot = page.screenshot();
    assert_eq!((shot.width, shot.height), (1200, 1400));
    assert_eq!(
        shot.pixel(0, 0),
        [0x0d, 0x11, 0x17, 255],
        "the dark background"
    );
    assert!(
        shot.lighter_than(180.0) > 5_000,
        "{} light pixels: no text?",
        shot.lighter_than(180.0)
    );
    assert!(
        count(&shot, [0x3c, 0x16, 0x18]) > 20_000,
        "no dark verdict box"
    );
}

/// Invariant: in a real browser the dashboard signs in through its form (the cookie it sets is
/// sent back on the redirect and on the script's refreshes), shows the guard's remaining budget
/// server-rendered, and — with no reload — shows it change once calls have passed: the page's
/// own script refreshed it from `/budget/status`, at the interval `--dashboard-refresh` gave it
/// (1 s here, which the footer states; the default 5 s would make this test wait that long).
/// Driven over the DevTools protocol, since the page changes after it loads.
/// `BUDGET_DASHBOARD_PNG=FILE` keeps the screenshot (docs/dashboard.png is made so).
#[test]
fn the_dashboard_shows_the_remaining_budget_change_without_a_reload() {
    use crate::guard::{get, run_clients, Call, GuardProc};
    use crate::support::simulator::Simulator;
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let sim = Simulator::start_data(1_000_000);
    let scratch = Scratch::new();
    let token = scratch.file("client.token", "dash-token-7\n");
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(
        sim.url(),
        &[
            "--budget",
            "1000",
            "--soft-budget",
            "250",
            "--journal",
            &journal,
            "--client-token-file",
            &token,
            "--admin-token-file",
            &scratch.file("admin.token", "dash-admin-7\n"),
            "--dashboard-refresh",
            "1",
        ],
    );
    let mut page = chromium.devtools(&format!("{}/budget/", guard.url), 1200, 1500);
    // The sign-in form first (the guard has a token); the browser submits it.
    page.wait_for(
        "document.readyState === 'complete' && !!document.getElementById('token')",
        Duration::from_secs(20),
        |v| v == true,
    );
    page.evaluate(
        "document.getElementById('token').value = 'dash-token-7'; document.forms[0].submit(); true",
    );
    let remaining = "(document.getElementById('remaining-units') || {}).textContent || ''";
    // 1,000 of 1,000: server-rendered, behind the cookie.
    page.wait_for(remaining, Duration::from_secs(20), |v| v == "1,000");
    assert_eq!(
        page.evaluate("document.getElementById('updated').dataset.refreshes"),
        "0"
    );
    // The page states the interval it was given.
    assert_eq!(
        page.evaluate("document.getElementById('refresh-seconds').textContent"),
        "1"
    );
    // Calls pass meanwhile: 2 summaries of 100 (200 spent), and a third past the soft limit of
    // 250 that waits for approval (300 > 250).
    let call = |n: usize| Call {
        headers: vec![("X-Budget-Token".into(), "dash-token-7".into())],
        ..get(&format!("/v1/backlinks/summary?target=site{n}.com"))
    };
    let answers = run_clients(
        std::slice::from_ref(&guard.url),
        vec![vec![call(1), call(2), call(3)]],
    );
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![200, 200, 402]);
    // The page's script refreshes within 1 s: 1,000 − 200 = 800, without a reload.
    page.wait_for(remaining, Duration::from_secs(15), |v| v == "800");
    let refreshes = page.evaluate("document.getElementById('updated').dataset.refreshes");
    assert_ne!(refreshes, "0", "the figure changed without the script?");
    assert_eq!(
        page.evaluate("document.getElementById('spent-units').textContent"),
        "200"
    );
    // The refusal and the pending approval are listed.
    let refusals = page.evaluate("document.getElementById('refusals').textContent");
    assert!(
        refusals.as_str().unwrap().contains("GET backlinks/summary"),
        "{refusals}"
    );
    let approvals = page.evaluate("document.getElementById('approvals').textContent");
    assert!(
        approvals.as_str().unwrap().contains("pending"),
        "{approvals}"
    );
    // The cookie is HttpOnly: the page's script cannot read it.
    assert_eq!(page.evaluate("document.cookie"), "");

    let png = page.screenshot_png();
    if let Some(path) = std::env::var_os("BUDGET_DASHBOARD_PNG") {
        std::fs::write(path, &png).expect("write the screenshot");
    }
    let shot = Image::decode(&png);
    assert_eq!((shot.width, shot.height), (1200, 1500));
    assert_eq!(
        shot.pixel(0, 0),
        [255, 255, 255, 255],
        "the page background"
    );
    assert!(
        shot.colours() > 20,
        "{} colours: a blank page?",
        shot.colours()
    );
    assert!(
        shot.darker_than(100.0) > 3_000,
        "{} dark pixels: no text?",
        shot.darker_than(100.0)
    );
    drop(page);
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}

/// The harness itself, with stand-ins for the browser (no Chromium needed).
mod harness {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::support::browser::{Chromium, TIME_LIMIT};

    /// Invariant: a browser that hangs fails its test within the time limit, and nothing it
    /// started outlives the test. A stand-in "browser" starts a child and hangs: it never
    /// answers the DevTools session's first command (the child holds the answers' pipe open
    /// too, so the session sees no end of it either).
    #[test]
    fn a_hanging_browser_is_killed_with_its_children_and_fails_the_test() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = dir.path().join("hang.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsleep 300 &\necho $$ $! > {}\nwait\n",
                pids.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let chromium = Chromium::at(script, Duration::from_secs(1));
        let failed =
            std::panic::catch_unwind(|| chromium.devtools("file:///nowhere.html", 100, 100))
                .map(drop)
                .expect_err("a hanging browser must fail the test");
        let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("did not finish within 1 s and was killed"),
            "{message}"
        );
        // Both the "browser" and its child are gone (or zombies awaiting their reaper). A
        // killed process dies a moment after the signal, so each is given a few seconds (a
        // `sleep 300` that survived would still run then).
        let written = std::fs::read_to_string(&pids).unwrap();
        for pid in written.split_whitespace() {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .next();
                if matches!(state, None | Some("Z" | "X")) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "process {pid} still runs: {stat}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    #[test]
    fn a_browser_that_cannot_start_says_what_to_install() {
        let chromium = Chromium::at(PathBuf::from("/nonexistent/chromium"), TIME_LIMIT);
        let failed =
            std::panic::catch_unwind(|| chromium.devtools("file:///nowhere.html", 100, 100))
                .map(drop)
                .expect_err("no browser must fail the test");
        let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("apt-get install chromium"), "{message}");
        assert!(message.contains("BUDGET_SKIP_BROWSER=1"), "{message}");
    }
}
