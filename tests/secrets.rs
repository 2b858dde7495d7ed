//! The key never leaves `budget`, in any form a server, a proxy or a shell may give it: for each
//! encoding below, the real binary's whole output is searched — `balance`'s stdout and stderr,
//! the guard's replies (2xx included), stdout, stderr and journal (call tags included), the gate's
//! stdout, stderr,
//! `reservations.json` and `budget reservations` (docs/security.md).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::support::simulator::{raw_get, Fault, Simulator, KEY};
use crate::support::{budget, state_home, Run, Scratch, WAIT_FOR_GO};

/// A key with characters that have escapes of their own (`/` in JSON, `/` and `+` in forms).
const SLASH_KEY: &str = "5ec7e7c0/1eak/4b2f+9c3e";

/// One way the key may come back: the text, the key it encodes, and whether `budget` reads that
/// key from a file starting with a byte order mark.
struct Form {
    name: &'static str,
    key: &'static str,
    text: String,
    bom_file: bool,
}

fn each_char(key: &str, f: impl Fn(char) -> String) -> String {
    key.chars().map(f).collect()
}

fn forms() -> Vec<Form> {
    let form = |name, key, text: String| Form {
        name,
        key,
        text,
        bom_file: false,
    };
    let n = KEY.len();
    vec![
        form("raw", KEY, KEY.to_string()),
        form("upper-case", KEY, KEY.to_uppercase()),
        form("JSON \\/", SLASH_KEY, SLASH_KEY.replace('/', "\\/")),
        form(
            "JSON \\u00XX",
            KEY,
            each_char(KEY, |c| format!("\\u{:04x}", c as u32)),
        ),
        form(
            "percent, upper-case hex",
            KEY,
            each_char(KEY, |c| format!("%{:02X}", c as u32)),
        ),
        form(
            "percent, lower-case hex",
            KEY,
            each_char(KEY, |c| format!("%{:02x}", c as u32)),
        ),
        form(
            "form-encoded",
            SLASH_KEY,
            form_urlencoded::byte_serialize(SLASH_KEY.as_bytes()).collect(),
        ),
        form(
            "HTML entities",
            KEY,
            each_char(KEY, |c| format!("&#{};", c as u32)),
        ),
        form(
            "base64",
            KEY,
            base64::engine::general_purpose::STANDARD.encode(KEY),
        ),
        form(
            "hex",
            KEY,
            KEY.bytes().map(|b| format!("{b:02X}")).collect(),
        ),
        form("without its dashes", KEY, KEY.replace('-', "")),
        form("10-character prefix", KEY, KEY[..10].to_string()),
        form("10-character suffix", KEY, KEY[n - 10..].to_string()),
        form(
            "a control character inside",
            KEY,
            format!("{}\u{1}{}", &KEY[..10], &KEY[10..]),
        ),
        Form {
            name: "Latin-1 reading of a BOM'd key",
            key: KEY,
            text: format!("\u{ef}\u{bb}\u{bf}{KEY}"),
            bom_file: true,
        },
    ]
}

/// What of the key `text` shows, if anything: the form itself, or any run of 8 characters of
/// the key (any case). Written without the scrubber, so it can judge it.
fn leak(text: &str, form: &Form) -> Option<String> {
    if text.contains(&form.text) {
        return Some(format!("the {} form itself", form.name));
    }
    let lower = text.to_lowercase();
    let key = form.key.to_lowercase();
    // Runs of the key as written and of the key without its separators (`-`).
    let compact: String = key.chars().filter(char::is_ascii_alphanumeric).collect();
    [key, compact]
        .iter()
        .flat_map(|k| k.as_bytes().windows(8))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .find(|piece| lower.contains(piece.as_str()))
        .map(|piece| format!("the piece {piece:?} of the key"))
}

#[track_caller]
fn no_leak(form: &Form, outputs: &[(&str, &str)]) {
    for (what, text) in outputs {
        if let Some(found) = leak(text, form) {
            panic!("{}: {what} shows {found}:\n{text}", form.name);
        }
    }
}

/// `budget COMMAND…` with the form's key: from a file with a byte order mark, or from the
/// environment.
fn with_key(form: &Form, scratch: &Scratch, command: &[&str]) -> std::process::Command {
    let mut cmd = budget();
    cmd.args(command);
    if form.bom_file {
        let file = scratch.file("api.key", &format!("\u{FEFF}{}\r\n", form.key));
        cmd.args(["--api-key-file", &file]);
    } else {
        cmd.env("SERANKING_API_KEY", form.key);
    }
    cmd
}

/// A JSON error body quoting the form (inside a string, escapes as the form has them).
fn echo(form: &Form) -> String {
    format!(
        r#"{{"error_description": "bad request with key {}"}}"#,
        form.text
    )
}

#[test]
fn balance_never_shows_the_key_in_any_encoding() {
    for form in forms() {
        let scratch = Scratch::new();
        let sim = Simulator::start();
        sim.set(|s| {
            s.key = form.key.to_string();
            s.always = Some(Fault::Raw {
                status: 400,
                body: echo(&form),
            });
        });
        for format in ["table", "json"] {
            let run: Run = with_key(&form, &scratch, &["balance"])
                .env("SERANKING_API_URL", sim.url())
                .args(["--format", format])
                .output()
                .expect("run budget")
                .into();
            run.code(3)
                .stderr_has("bad request with key ")
                .stderr_has("[redacted]");
            no_leak(&form, &[("stdout", &run.stdout), ("stderr", &run.stderr)]);
        }
    }
}

/// A running `budget guard` (killed when dropped).
struct Guard {
    child: Child,
    addr: SocketAddr,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// Reads stderr into `stderr`; ends when the pipe closes.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Guard {
    /// `cmd` is `budget guard` with its key.
    fn start(mut cmd: std::process::Command, api_url: &str, journal: &Path) -> Guard {
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--budget", "1000000"])
            // Not tests of the rate window (the simulator's is lifted too): no call waits.
            .args(["--rps", "100000"])
            .args(["--api-url", api_url, "--journal"])
            .arg(journal)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start budget guard");
        let stderr = child.stderr.take().expect("stderr");
        let collected = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let into = collected.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("budget guard listening on http://") {
                    let _ = tx.send(rest.split_whitespace().next().map(str::to_string));
                }
                let mut all = into.lock().expect("stderr");
                all.push_str(&line);
                all.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Some(addr)) => addr.parse().expect("host:port"),
            _ => {
                let _ = child.kill();
                panic!(
                    "the guard did not start: {}",
                    collected.lock().expect("stderr")
                );
            }
        };
        Guard {
            child,
            addr,
            stderr: collected,
            reader: Some(reader),
        }
    }

    /// SIGTERM, then stdout (the summary) and stderr.
    fn stop(mut self) -> (String, String) {
        // SAFETY: signals only the child this test started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "the guard did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).expect("stdout");
        }
        // All it wrote on stderr: the reader thread ends with the pipe.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr.lock().expect("stderr").clone();
        (stdout, stderr)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a URL path (every byte but letters and digits).
fn path_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn the_guard_never_shows_the_key_in_any_encoding() {
    for key in [KEY, SLASH_KEY] {
        let forms: Vec<Form> = forms().into_iter().filter(|f| f.key == key).collect();
        let scratch = Scratch::new();
        let journal = scratch.path().join("calls.jsonl");
        let sim = Simulator::start_data(1_000_000);
        sim.set(|s| {
            s.key = key.to_string();
            s.rate_limit = None;
        });
        // KEY comes from a key file with a byte order mark, SLASH_KEY from the environment.
        let bom = forms.iter().find(|f| f.bom_file).unwrap_or(&forms[0]);
        let guard = Guard::start(with_key(bom, &scratch, &["guard"]), sim.url(), &journal);
        let mut replies = Vec::new();
        for form in &forms {
            // The API echoes the key in a success and in a refusal; a client sends it in a path.
            for status in [200, 400] {
                sim.set(|s| {
                    s.fail_next(
                        1,
                        Fault::Raw {
                            status,
                            body: echo(form),
                        },
                    )
                });
                let (got, body) = raw_get(guard.addr, "/v1/backlinks/summary?target=a.com", &[]);
                assert_eq!(got, status, "{}: {body}", form.name);
                assert!(body.contains("[redacted]"), "{}: {body}", form.name);
                if status == 200 && !form.text.contains('\u{1}') {
                    serde_json::from_str::<serde_json::Value>(&body)
                        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {body}", form.name));
                }
                replies.push(body);
            }
            let path = format!("/v1/backlinks/{}", path_encoded(&form.text));
            replies.push(raw_get(guard.addr, &path, &[]).1);
            // … and in the call tags the guard journals (what a header can carry).
            if form.text.bytes().all(|b| b.is_ascii_graphic()) {
                let tagged = [
                    ("X-Budget-Workflow", "w"),
                    ("X-Budget-Step", form.text.as_str()),
                ];
                replies.push(raw_get(guard.addr, "/v1/backlinks/summary?target=a.com", &tagged).1);
            }
        }
        let (stdout, stderr) = guard.stop();
        let journal = std::fs::read_to_string(&journal).expect("journal");
        for form in &forms {
            let mut outputs = vec![
                ("stdout", stdout.as_str()),
                ("stderr", stderr.as_str()),
                ("journal", journal.as_str()),
            ];
            outputs.extend(replies.iter().map(|r| ("a reply", r.as_str())));
            no_leak(form, &outputs);
        }
    }
}

#[test]
fn the_gate_never_records_the_key_in_any_encoding() {
    let ledger = state_home().join("budget").join("reservations.json");
    for form in forms() {
        let scratch = Scratch::new();
        let (started, go) = (scratch.path().join("started"), scratch.path().join("go"));
        let gate = with_key(&form, &scratch, &["gate"])
            .args(["workflows/docs-example.yaml", "--units-left", "1M"])
            .args(["--", "sh", "-c", WAIT_FOR_GO, "sh"])
            .arg(&started)
            .arg(&go)
            .arg(&form.text)
            .arg(format!(
                "https://api.seranking.com/v1/x?apikey={}",
                form.text
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gate");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !started.exists() {
            assert!(
                Instant::now() < deadline,
                "{}: the gate never ran",
                form.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let recorded = std::fs::read_to_string(&ledger).expect("reservations.json");
        let listed: Run = budget()
            .args(["reservations", "--format", "json"])
            .output()
            .expect("budget reservations")
            .into();
        std::fs::write(&go, "").expect("write go");
        let done = Run::from(gate.wait_with_output().expect("gate"));
        done.code(0);
        assert!(recorded.contains("[redacted]"), "{}: {recorded}", form.name);
        no_leak(
            &form,
            &[
                ("reservations.json", &recorded),
                ("budget reservations", &listed.stdout),
                ("the gate's stdout", &done.stdout),
                ("the gate's stderr", &done.stderr),
            ],
        );
    }
}

/// `text` percent-decoded (`+` as a space) until it no longer changes, lower-cased.
fn fully_decoded(text: &str) -> String {
    let mut text = text.to_string();
    for _ in 0..5 {
        let next: String = form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| format!("{k}={v}&"))
            .collect();
        if next == text {
            break;
        }
        text = next;
    }
    text.to_lowercase()
}

/// Every spelling of the key parameter a server might read as `apikey` is dropped before the
/// call is forwarded: the API receives only the guard's key (in the header, or its own `apikey`
/// in query mode), and the other parameters as sent.
#[test]
fn the_guard_forwards_no_spelling_of_a_client_key_parameter() {
    let spellings = [
        "apikey=c1",
        "APIKEY=c1",
        "ApiKey=c1",
        "apikey[]=c1",
        "apikey[0]=c1",
        "apikey%5B%5D=c1",
        "+apikey=c1",
        "%20apikey=c1",
        "apikey%00=c1",
        "apikey%00x=c1",
        "%61pikey=c1",
        "%2561pikey=c1",
        "apikey=c1&apikey=c2",
        "apikey",
        // Hidden for a server that decodes the query before splitting it.
        "x=1%26apikey%3Dc1",
        "x%26apikey=c1",
        "apikey%3Dc1%26x=1",
        "x=1%253Bapikey%253Dc1",
    ];
    for auth in ["header", "query"] {
        let scratch = Scratch::new();
        let sim = Simulator::start_data(1_000_000);
        // Not a test of the rate window: a 429 and its retry would add a request to the log.
        sim.set(|s| s.rate_limit = None);
        let mut cmd = budget();
        cmd.env("SERANKING_API_KEY", KEY)
            .args(["guard", "--auth", auth]);
        let guard = Guard::start(cmd, sim.url(), &scratch.path().join("calls.jsonl"));
        for spelling in spellings {
            let path = format!("/v1/backlinks/summary?target=a.com&{spelling}&mode=host");
            let (status, body) = raw_get(guard.addr, &path, &[]);
            assert_eq!(status, 200, "{auth} {spelling}: {body}");
        }
        guard.stop();
        let log = sim.read(|s| s.log.clone());
        assert_eq!(log.len(), spellings.len(), "{log:#?}");
        for (uri, spelling) in log.iter().zip(spellings) {
            let query = uri.split_once('?').map_or("", |(_, q)| q);
            assert!(
                query.starts_with("target=a.com&mode=host"),
                "{spelling}: {uri}"
            );
            let decoded = fully_decoded(query);
            let expected = if auth == "header" { 0 } else { 1 };
            assert_eq!(
                decoded.matches("apikey").count(),
                expected,
                "{auth} {spelling}: {uri}"
            );
            if auth == "query" {
                assert!(
                    query.ends_with(&format!("&apikey={KEY}")),
                    "{spelling}: {uri}"
                );
            }
        }
    }
}
