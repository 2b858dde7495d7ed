//! The GitHub Action (action.yml): its shell logic, scripts/budget-action.sh, run with a fake
//! GitHub environment — a stub of the comment API on 127.0.0.1, a fake event, `GITHUB_OUTPUT`
//! and `GITHUB_STEP_SUMMARY` files — and the real `budget` binary first on PATH.
//!
//! `budget` and `curl` are reached through logging shims (they record their arguments, then exec
//! the real program), so the tests can prove that neither the API key nor the GitHub token is
//! ever an argument of a process. Everything the script prints is read the way the runner reads
//! it ([`workflow_commands`]), so the tests can prove that hostile text issues no workflow command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::support::{root, state_home, Run, Scratch};

const MARKER: &str = "<!-- budget-check -->";
const TOKEN: &str = "ghs_T0kenThatMustNeverShow42";
const KEY: &str = "k3y-that-must-never-show-0b5e";
const REPO: &str = "octo/budget-demo";
const PR: u64 = 7;
const DOCS: &str = "workflows/docs-example.yaml"; // 26,000 units (README)

// ------------------------------------------------------------------------------------------------
// A stub of the GitHub REST comment API: list, create, update.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    /// Path and query, e.g. `/repos/octo/budget-demo/issues/7/comments?per_page=100&page=1`.
    target: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Default)]
struct GitHubState {
    /// (id, body), in creation order.
    comments: Vec<(u64, String)>,
    next_id: u64,
    requests: Vec<Recorded>,
    /// Answer every write with this status (a fork's read-only token gets 403).
    refuse_writes: Option<u16>,
}

struct GitHub {
    url: String,
    state: Arc<Mutex<GitHubState>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHub {
    /// Starts the stub with `others` comments already on the pull request (ids 1 to others).
    fn start(others: u64) -> GitHub {
        let mut initial = GitHubState {
            next_id: others + 1,
            ..GitHubState::default()
        };
        for id in 1..=others {
            let body = match id {
                // Quotes the marker, but does not start with it: not the action's comment.
                3 => format!("> {MARKER}\n> an earlier report, quoted"),
                _ => format!("review comment {id}"),
            };
            initial.comments.push((id, body));
        }
        let state = Arc::new(Mutex::new(initial));
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { handle(&shared, &method, &uri, &headers, &body) }
            },
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        listener.set_nonblocking(true).expect("non-blocking");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("stub runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    result = axum::serve(listener, app) => result.expect("stub server"),
                    _ = stop => {}
                }
            });
        });
        GitHub {
            url: format!("http://{addr}"),
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("state").requests.clone()
    }

    fn comments(&self) -> Vec<(u64, String)> {
        self.state.lock().expect("state").comments.clone()
    }

    fn refuse_writes(&self, status: u16) {
        self.state.lock().expect("state").refuse_writes = Some(status);
    }

    /// The comments that start with the marker.
    fn ours(&self) -> Vec<(u64, String)> {
        self.comments()
            .into_iter()
            .filter(|(_, body)| body.starts_with(MARKER))
            .collect()
    }
}

impl Drop for GitHub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(
    state: &Mutex<GitHubState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let mut s = state.lock().expect("state");
    s.requests.push(Recorded {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(body).into_owned(),
    });
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            "{\"message\":\"Bad credentials\"}",
        )
            .into_response();
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let json_body = || serde_json::from_slice::<Value>(body).ok();
    let (owner, repo) = REPO.split_once('/').expect("owner/repo");
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["repos", o, r, "issues", n, "comments"])
            if *o == owner && *r == repo && *n == PR.to_string() =>
        {
            let per_page: usize = query
                .get("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30);
            let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let list: Vec<Value> = s
                .comments
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|(id, body)| json!({"id": id, "user": {"login": "someone", "id": 1}, "body": body}))
                .collect();
            (StatusCode::OK, axum::Json(Value::Array(list))).into_response()
        }
        ("POST", ["repos", o, r, "issues", n, "comments"])
            if *o == owner && *r == repo && *n == PR.to_string() =>
        {
            if let Some(status) = s.refuse_writes {
                return refused(status);
            }
            let Some(text) = json_body().and_then(|v| v["body"].as_str().map(str::to_string))
            else {
                return (StatusCode::UNPROCESSABLE_ENTITY, "no body").into_response();
            };
            let id = s.next_id;
            s.next_id += 1;
            s.comments.push((id, text.clone()));
            (
                StatusCode::CREATED,
                axum::Json(json!({"id": id, "body": text})),
            )
                .into_response()
        }
        ("PATCH", ["repos", o, r, "issues", "comments", id]) if *o == owner && *r == repo => {
            if let Some(status) = s.refuse_writes {
                return refused(status);
            }
            let Some(text) = json_body().and_then(|v| v["body"].as_str().map(str::to_string))
            else {
                return (StatusCode::UNPROCESSABLE_ENTITY, "no body").into_response();
            };
            let id: u64 = id.parse().unwrap_or(0);
            match s.comments.iter_mut().find(|(known, _)| *known == id) {
                Some(comment) => {
                    comment.1 = text.clone();
                    (StatusCode::OK, axum::Json(json!({"id": id, "body": text}))).into_response()
                }
                None => (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response(),
    }
}

fn refused(status: u16) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
        "{\"message\":\"Resource not accessible by integration\"}",
    )
        .into_response()
}

// ------------------------------------------------------------------------------------------------
// A fake runner: the files and variables GitHub gives a step.

struct Runner {
    scratch: Scratch,
    github: GitHub,
}

/// What a step left behind.
struct Step {
    run: Run,
    outputs: String,
    summary: String,
    /// One line per `budget` or `curl` the script started: the program, then its arguments.
    argv: String,
}

impl Runner {
    fn new(others: u64) -> Runner {
        let scratch = Scratch::new();
        let bin = scratch.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        shim(&bin, "budget", Path::new(env!("CARGO_BIN_EXE_budget")));
        shim(&bin, "curl", &which("curl"));
        // The interpreter itself, not a version manager's launcher in front of it (pyenv's
        // shim takes 90 ms a start; the script starts python3 several times a step).
        std::os::unix::fs::symlink(python(), bin.join("python3")).expect("link python3");
        // A hostile title: the script never reads it, and nothing of it may run.
        let title = "Fix `touch pwned-tick` $(touch pwned-subst)\n::warning::pwned-title";
        scratch.file(
            "event.json",
            &json!({"action": "synchronize", "number": PR,
                    "pull_request": {"number": PR, "title": title}})
            .to_string(),
        );
        scratch.file("push-event.json", r#"{"ref": "refs/heads/main"}"#);
        std::fs::create_dir_all(scratch.path().join("temp")).expect("temp");
        Runner {
            scratch,
            github: GitHub::start(others),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// A workspace with the docs example in `workflows/`, for steps that run commands in it.
    fn workspace(&self) -> PathBuf {
        let dir = self.path("workspace");
        std::fs::create_dir_all(dir.join("workflows")).expect("workspace");
        std::fs::copy(root().join(DOCS), dir.join(DOCS)).expect("copy the docs example");
        dir
    }

    /// Runs `budget-action.sh run` in `cwd` with `inputs` (name → value, as in action.yml).
    fn step(&self, cwd: &Path, inputs: &[(&str, &str)]) -> Step {
        self.step_with(cwd, "run", inputs, &[])
    }

    fn step_with(
        &self,
        cwd: &Path,
        subcommand: &str,
        inputs: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Step {
        for file in ["output", "summary", "argv.log"] {
            std::fs::write(self.path(file), "").expect("reset");
        }
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("scripts/budget-action.sh"))
            .arg(subcommand)
            .current_dir(cwd)
            .env_clear();
        for var in ["HOME", "PYENV_ROOT", "PYENV_VERSION", "LANG", "LC_ALL"] {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .env("ARGV_LOG", self.path("argv.log"))
            .env("XDG_STATE_HOME", state_home())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", &self.github.url)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", self.path("event.json"))
            .env("GITHUB_OUTPUT", self.path("output"))
            .env("GITHUB_STEP_SUMMARY", self.path("summary"))
            .env("RUNNER_TEMP", self.path("temp"))
            .env("INPUT_GITHUB_TOKEN", TOKEN)
            .env("INPUT_COMMENT", "true");
        for (name, value) in inputs {
            cmd.env(
                format!("INPUT_{}", name.to_uppercase().replace('-', "_")),
                value,
            );
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        let run: Run = cmd.output().expect("run the action script").into();
        let read = |name: &str| std::fs::read_to_string(self.path(name)).expect("read");
        Step {
            run,
            outputs: read("output"),
            summary: read("summary"),
            argv: read("argv.log"),
        }
    }
}

/// An executable `name` in `dir` that logs its arguments to `$ARGV_LOG`, then runs `real`.
fn shim(dir: &Path, name: &str, real: &Path) {
    let real = real.display().to_string();
    assert!(!real.contains('\''), "a path with a quote: {real}");
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> \"$ARGV_LOG\"\nexec '{real}' \"$@\"\n"),
    )
    .expect("write shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The python3 the script would run, resolved once per test process.
fn python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new(which("python3"))
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("run python3");
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(path.is_file(), "python3 names no interpreter: {path:?}");
        path
    })
}

fn which(program: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// The workflow commands the runner would act on in `text`: lines (split at LF, CR or CRLF, as
/// the runner reads them) that start with `::` once leading blanks are trimmed, outside the
/// blocks that `::stop-commands::TOKEN` opens and `::TOKEN::` closes.
fn workflow_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut stopped: Option<String> = None;
    for line in text.split(['\n', '\r']) {
        let line = line.trim_start();
        if let Some(token) = &stopped {
            if line == format!("::{token}::") {
                stopped = None;
            }
            continue;
        }
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            stopped = Some(token.to_string());
        }
        if line.starts_with("::") {
            commands.push(line.to_string());
        }
    }
    assert!(stopped.is_none(), "commands were never resumed:\n{text}");
    commands
}

/// Every workflow command in both streams is one the script or budget may issue: a mask of the
/// key or token, a stop-commands block, the script's own warnings and errors, budget's error
/// annotations; and none is a line that hostile text began (`::warning::pwned…` and the like).
#[track_caller]
fn only_safe_commands(step: &Step) -> Vec<String> {
    let mut all = workflow_commands(&step.run.stdout);
    all.extend(workflow_commands(&step.run.stderr));
    for command in &all {
        let allowed = command == &format!("::add-mask::{KEY}")
            || command == &format!("::add-mask::{TOKEN}")
            || command.starts_with("::stop-commands::")
            || command.starts_with("::warning::budget action: ")
            || command.starts_with("::error::budget action: ")
            || command.starts_with("::error file=")
            || (command.starts_with("::error::") && !command.starts_with("::error::pwned"));
        assert!(allowed, "unexpected workflow command {command:?}");
    }
    all
}

fn comment_requests(github: &GitHub) -> Vec<Recorded> {
    github
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect()
}

// ------------------------------------------------------------------------------------------------

/// Invariant: one pull request carries one budget comment, whatever the number of pushes. The
/// first run creates it; the next finds it by the marker (here on the second page, behind 100
/// other comments and one that merely quotes the marker) and updates it in place.
#[test]
fn the_comment_is_created_once_then_updated_in_place() {
    let runner = Runner::new(100);
    // docs example: 250 × 100 + 1 × 1,000 + 2 × 0 = 26,000 units; 30,000 left → 4,000 to spare.
    let first = runner.step(&root(), &[("workflows", DOCS), ("units-left", "30000")]);
    first.run.code(0);
    assert_eq!(first.outputs, "verdict=fits\nunits=26000\nexit-code=0\n");
    let heading = "### ✅ budget: fits: 26,000 of 30,000 usable units (4,000 to spare)";
    assert_eq!(
        first.summary.matches(heading).count(),
        1,
        "{}",
        first.summary
    );
    let ours = runner.github.ours();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let (id, body) = &ours[0];
    assert_eq!(*id, 101, "a new comment after the 100 others");
    assert!(body.starts_with(&format!("{MARKER}\n{heading}")), "{body}");
    assert!(
        body.contains("<sub>budget check · exit 0 · [workflow run](https://github.com/octo/budget-demo/actions/runs/4242)</sub>"),
        "{body}"
    );
    let writes = comment_requests(&runner.github);
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].target.as_str()),
        ("POST", "/repos/octo/budget-demo/issues/7/comments")
    );
    first
        .run
        .stdout_has("budget-action: commented on pull request #7");

    // Over budget now: 26,000 planned, 20,000 left → over by 6,000; the step fails with exit 1.
    let second = runner.step(&root(), &[("workflows", DOCS), ("units-left", "20000")]);
    second.run.code(1);
    assert_eq!(
        second.outputs,
        "verdict=over_budget\nunits=26000\nexit-code=1\n"
    );
    let ours = runner.github.ours();
    assert_eq!(ours.len(), 1, "still one comment: {ours:?}");
    assert_eq!(ours[0].0, 101, "the same comment");
    assert!(ours[0].1.contains(
        "### ❌ budget: over budget: 26,000 units planned, 20,000 usable (over by 6,000)"
    ));
    assert!(ours[0].1.contains("budget check · exit 1"));
    assert!(!ours[0].1.contains("✅"), "the old report is replaced");
    let writes = comment_requests(&runner.github);
    assert_eq!(writes.len(), 2);
    assert_eq!(
        (writes[1].method.as_str(), writes[1].target.as_str()),
        ("PATCH", "/repos/octo/budget-demo/issues/comments/101")
    );
    // Page 1 held 100 comments, so page 2 was read too, on both runs.
    let pages: Vec<String> = runner
        .github
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.target)
        .collect();
    let list = "/repos/octo/budget-demo/issues/7/comments?per_page=100&page=";
    assert_eq!(
        pages,
        [1, 2, 1, 2].map(|page| format!("{list}{page}")).to_vec()
    );
    second
        .run
        .stdout_has("budget-action: updated the budget comment on pull request #7 (comment 101)");
    // The summary of the step is budget's report, over budget, with its annotation in the log.
    assert!(
        second.summary.contains("### ❌ budget: over budget"),
        "{}",
        second.summary
    );
    let commands = only_safe_commands(&second);
    assert!(
        commands.contains(&"::error file=workflows/docs-example.yaml::over budget: 26,000 units planned, 20,000 usable (over by 6,000)".to_string()),
        "{commands:?}"
    );
    for request in runner.github.requests() {
        assert_eq!(
            request.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
}

/// Invariant: text from workflow files, file names and the event is data. It runs no shell and
/// issues no workflow command, in the log, the summary, the outputs or the comment.
#[test]
fn hostile_names_run_nothing_and_issue_no_workflow_command() {
    let runner = Runner::new(0);
    let work = runner.path("hostile");
    std::fs::create_dir_all(work.join("workflows")).expect("mkdir");
    // budget prints names as they are written (a raw line break included), so the script must
    // keep its output away from the runner's command parser.
    let evil = "name: \"Evil\\n::warning::pwned-name $(touch pwned-subst) `touch pwned-tick`\"\n\
                steps:\n\
                \x20 - name: \"dup\\n::error::x\\r::add-mask::pwned-cr\\n::set-env name=X::pwned-env\"\n\
                \x20   endpoint: backlinks/summary\n\
                \x20   targets: [a.com, a.com]\n";
    std::fs::write(work.join("workflows/evil $(touch pwned-file).yaml"), evil).expect("write");
    // The input names the file as it is, spaces and `$(…)` included: a path, not words or code.
    let step = runner.step(
        &work,
        &[
            ("workflows", "workflows/evil $(touch pwned-file).yaml"),
            ("units-left", "1000"),
        ],
    );
    // 2 targets (a duplicate counts) × 100 units = 200 of 1,000: fits.
    step.run.code(0);
    assert_eq!(step.outputs, "verdict=fits\nunits=200\nexit-code=0\n");
    only_safe_commands(&step);
    // The duplicate warning, with the raw name, reached the log, inertly.
    step.run.stdout_has("::add-mask::pwned-cr");
    let leftovers: Vec<String> = std::fs::read_dir(&work)
        .expect("read")
        .chain(std::fs::read_dir(root()).expect("read root"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("pwned"))
        .collect();
    assert!(leftovers.is_empty(), "a hostile name ran: {leftovers:?}");
    // The comment carries the name as text.
    let ours = runner.github.ours();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].1.contains("pwned-name"), "{}", ours[0].1);

    // A workflow with errors: budget exits 2 and writes no report; the summary and the comment
    // get its messages as an indented code block, and the annotations stay budget's own.
    std::fs::write(
        work.join("workflows/evil $(touch pwned-file).yaml"),
        evil.replace("backlinks/summary", "backlinks/sumary"),
    )
    .expect("write");
    let bad = runner.step(
        &work,
        &[("workflows", "workflows/*.yaml"), ("units-left", "1000")],
    );
    bad.run.code(2);
    assert_eq!(bad.outputs, "verdict=unknown\nunits=\nexit-code=2\n");
    let commands = only_safe_commands(&bad);
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("::error file=workflows/evil $(touch pwned-file).yaml,line=")),
        "{commands:?}"
    );
    let note = "### ⚠️ budget check did not run (exit 2: bad input: a workflow, the pricing file, a flag or the baseline file)\n\n    error: ";
    assert!(bad.summary.starts_with(note), "{}", bad.summary);
    assert!(
        bad.summary
            .contains("\n      - workflows/evil $(touch pwned-file).yaml:4: step 1 (dup"),
        "{}",
        bad.summary
    );
    assert_note_is_a_code_block(&bad.summary);
    let ours = runner.github.ours();
    assert_eq!(ours.len(), 1, "updated, not added");
    assert!(ours[0].1.contains(note), "{}", ours[0].1);
    assert!(ours[0].1.contains("budget check · exit 2"));
}

/// Every line of a failure note after its heading is indented (a code block no line can end).
#[track_caller]
fn assert_note_is_a_code_block(summary: &str) {
    let mut lines = summary.lines();
    assert!(lines
        .next()
        .unwrap_or_default()
        .starts_with("### ⚠️ budget "));
    for line in lines.filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with("    "),
            "a line of the note is not indented: {line:?}"
        );
    }
}

/// Invariant: the script keeps budget's output inert whatever budget prints. budget neutralises
/// names itself (report::safe); this stand-in prints raw hostile lines as an older or broken
/// budget could, to show the script's own defence: only a whole annotation line without a
/// carriage return reaches the runner's command parser.
#[test]
fn even_raw_hostile_output_from_budget_stays_inert() {
    let runner = Runner::new(0);
    let fake = |code: u8, summary: &str| {
        let script = format!(
            "#!/bin/sh\n\
             printf '%s\\n' \"budget $*\" >> \"$ARGV_LOG\"\n\
             printf '{summary}' >> \"$GITHUB_STEP_SUMMARY\"\n\
             printf 'warning: x\\n::add-mask::pwned-stderr\\n::error::ok\\r::add-mask::pwned-cr\\n::error file=a.yaml,line=1::an annotation\\n' >&2\n\
             printf '{{\\n  \"total\": {{\\n    \"units\": 5\\n  }},\\n  \"verdict\": \"fits\"\\n}}\\n'\n\
             exit {code}\n"
        );
        let path = runner.path("bin/budget");
        std::fs::write(&path, script).expect("fake budget");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    fake(0, "### report\\n::warning::pwned-summary\\n");
    let step = runner.step(&root(), &[("workflows", DOCS)]);
    step.run.code(0);
    let commands = only_safe_commands(&step);
    assert_eq!(
        commands
            .iter()
            .filter(|c| !c.starts_with("::stop-commands::") && !c.starts_with("::add-mask::"))
            .collect::<Vec<_>>(),
        ["::error file=a.yaml,line=1::an annotation"],
        "only the whole annotation line is let through"
    );
    assert_eq!(step.outputs, "verdict=fits\nunits=5\nexit-code=0\n");
    assert!(
        step.run.stdout.contains("::warning::pwned-summary"),
        "shown, inertly"
    );

    // No report: the messages become the note, each line indented.
    fake(2, "");
    let failed = runner.step(&root(), &[("workflows", DOCS)]);
    failed.run.code(2);
    only_safe_commands(&failed);
    assert!(
        failed.summary.contains("\n    ::add-mask::pwned-stderr\n"),
        "{}",
        failed.summary
    );
    assert_note_is_a_code_block(&failed.summary);
}

/// Invariant: the API key reaches budget only in SERANKING_API_KEY and the GitHub token reaches
/// curl only on its standard input: neither is an argument of any process, nor printed anywhere
/// but in the `::add-mask::` line the runner consumes.
#[test]
fn the_key_and_the_token_never_show() {
    let runner = Runner::new(0);
    let step = runner.step(
        &root(),
        &[
            ("workflows", DOCS),
            ("units-left", "30000"),
            ("api-key", KEY),
        ],
    );
    step.run.code(0);
    for secret in [KEY, TOKEN] {
        let lines: Vec<&str> = step
            .run
            .stdout
            .lines()
            .filter(|line| line.contains(secret))
            .collect();
        assert_eq!(lines, [format!("::add-mask::{secret}")], "{secret}");
        assert!(!step.run.stderr.contains(secret));
        assert!(
            !step.argv.contains(secret),
            "{secret} in an argument:\n{}",
            step.argv
        );
        assert!(!step.summary.contains(secret));
        assert!(!step.outputs.contains(secret));
        for request in runner.github.requests() {
            assert!(!request.body.contains(secret) && !request.target.contains(secret));
        }
    }
    // Both programs ran (the shims saw them), so the absence above means something.
    assert!(
        step.argv.lines().any(|l| l.starts_with("budget check ")),
        "{}",
        step.argv
    );
    assert!(
        step.argv.lines().any(|l| l.starts_with("curl ")),
        "{}",
        step.argv
    );
    assert!(step.argv.contains("--units-left=30000"), "{}", step.argv);
}

#[test]
fn the_gate_runs_the_command_and_passes_its_exit_code_on() {
    let runner = Runner::new(0);
    let work = runner.workspace();
    let command = "echo ran >> gate-ran.txt; exit 7";
    // 26,000 of 30,000 fits: the command runs and its code 7 is the step's.
    let ran = runner.step(
        &work,
        &[
            ("workflows", DOCS),
            ("units-left", "30000"),
            ("command", command),
        ],
    );
    ran.run.code(7);
    assert_eq!(ran.outputs, "verdict=fits\nunits=26000\nexit-code=7\n");
    assert_eq!(
        std::fs::read_to_string(work.join("gate-ran.txt")).expect("ran"),
        "ran\n"
    );
    // The gate wrote the summary itself, once.
    let heading = "### ✅ budget: fits: 26,000 of 30,000 usable units (4,000 to spare)";
    assert_eq!(ran.summary.matches(heading).count(), 1, "{}", ran.summary);
    let ours = runner.github.ours();
    assert!(ours[0].1.contains("budget gate · exit 7"), "{}", ours[0].1);
    assert!(ran.argv.lines().any(|l| l.starts_with("budget gate workflows/docs-example.yaml --units-left=30000 --quiet --format json -- bash -eo pipefail -c echo ran")), "{}", ran.argv);
    ran.run
        .stdout_has("::error::budget action: budget gate exited with 7");

    // 26,000 of 20,000: the gate refuses, the command does not run, the step fails with 1.
    let refused = runner.step(
        &work,
        &[
            ("workflows", DOCS),
            ("units-left", "20000"),
            ("command", command),
        ],
    );
    refused.run.code(1);
    assert_eq!(
        refused.outputs,
        "verdict=over_budget\nunits=26000\nexit-code=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("gate-ran.txt")).expect("ran"),
        "ran\n"
    );
    refused
        .run
        .stderr_has("budget gate: over budget; not running bash -eo pipefail -c");
    let ours = runner.github.ours();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].1.contains("budget gate · exit 1"));
    only_safe_commands(&refused);
}

/// `base-checkout`: the base branch's workflows, planned offline from inside its checkout, are
/// the baseline of `--compare-to` and `--max-increase`.
#[test]
fn a_checkout_of_the_base_branch_is_the_baseline() {
    let runner = Runner::new(0);
    let work = runner.workspace();
    let base = work.join("base/workflows");
    std::fs::create_dir_all(&base).expect("base");
    let docs = std::fs::read_to_string(root().join(DOCS)).expect("docs example");
    assert!(docs.contains("    targets: 250\n"));
    // The base branch summarised 150 domains: 150 × 100 + 1 × 1,000 + 2 × 0 = 16,000 units.
    std::fs::write(
        base.join("docs-example.yaml"),
        docs.replace("    targets: 250\n", "    targets: 150\n"),
    )
    .expect("write");
    let inputs = [
        ("workflows", DOCS),
        ("units-left", "30000"),
        ("base-checkout", "base"),
        ("max-increase", "20%"),
    ];
    // 26,000 − 16,000 = +10,000 units, 10,000 / 16,000 = +62.5%: above 20%, exit 1.
    let grew = runner.step(&work, &inputs);
    grew.run.code(1);
    assert!(
        grew.outputs.ends_with("units=26000\nexit-code=1\n"),
        "{}",
        grew.outputs
    );
    assert!(
        grew.argv
            .contains("budget plan workflows/docs-example.yaml --offline --quiet --format json"),
        "{}",
        grew.argv
    );
    let ours = runner.github.ours();
    assert!(
        ours[0].1.contains(
            "**this change adds 10,000 units (+62.5%) compared with base/.budget-base-plan.json**"
        ),
        "{}",
        ours[0].1
    );
    assert!(ours[0]
        .1
        .contains("| Docs example | 16,000 | 26,000 | +10,000 | +62.5% |"));

    // A base branch without such workflows (they are new): no comparison, no increase to check.
    std::fs::remove_file(base.join("docs-example.yaml")).expect("remove");
    let new = runner.step(&work, &inputs);
    new.run.code(0).stdout_has(
        "budget-action: the base branch has no workflow file matching the workflows input: no comparison",
    );
    assert!(!new.argv.contains("--max-increase"), "{}", new.argv);

    // A base branch whose workflows do not plan: a warning, and the head is still checked.
    std::fs::write(base.join("docs-example.yaml"), "steps: []\n").expect("write");
    let broken = runner.step(&work, &inputs);
    broken.run.code(0).stdout_has(
        "::warning::budget action: the base branch's workflows did not plan (exit 2), so there is no comparison and max-increase is not checked",
    );
    only_safe_commands(&broken);

    // compare-to and base-checkout together: which one is meant?
    let both = runner.step(
        &work,
        &[
            ("workflows", DOCS),
            ("base-checkout", "base"),
            ("compare-to", "x.json"),
        ],
    );
    both.run
        .code(2)
        .stdout_has("::error::budget action: give compare-to or base-checkout, not both");
}

/// GitHub refuses a comment body over 65,536 characters: a long report is cut, at a line, with
/// a note, and keeps its footer; the job summary has all of it.
#[test]
fn a_long_report_is_cut_to_fit_a_comment() {
    let runner = Runner::new(0);
    let work = runner.path("long");
    std::fs::create_dir_all(work.join("workflows")).expect("mkdir");
    let mut text = String::from("name: Long\nsteps:\n");
    for n in 1..=1500 {
        text.push_str(&format!(
            "  - name: step {n} of a workflow long enough to need more than one comment\n    endpoint: backlinks/summary\n    targets: 1\n"
        ));
    }
    std::fs::write(work.join("workflows/long.yaml"), text).expect("write");
    // 1,500 steps × 1 target × 100 units = 150,000 units, of 200,000.
    let step = runner.step(
        &work,
        &[
            ("workflows", "workflows/long.yaml"),
            ("units-left", "200000"),
        ],
    );
    step.run.code(0);
    assert!(step.outputs.contains("units=150000\n"), "{}", step.outputs);
    let last = "step 1500 of a workflow";
    assert!(
        step.summary.len() > 70_000,
        "the report is long: {}",
        step.summary.len()
    );
    assert!(step.summary.contains(last));
    let ours = runner.github.ours();
    let body = &ours[0].1;
    assert!(
        body.chars().count() <= 65_536,
        "{} characters",
        body.chars().count()
    );
    assert!(!body.contains(last));
    assert!(body.contains("\n… cut to fit a comment: the job summary has the whole report.\n"));
    assert!(body.ends_with("<sub>budget check · exit 0 · [workflow run](https://github.com/octo/budget-demo/actions/runs/4242)</sub>\n"));
}

#[test]
fn no_comment_outside_a_pull_request_or_when_turned_off() {
    let runner = Runner::new(0);
    let push = runner.step_with(
        &root(),
        "run",
        &[("workflows", DOCS), ("units-left", "30000")],
        &[(
            "GITHUB_EVENT_PATH",
            &runner.path("push-event.json").display().to_string(),
        )],
    );
    push.run
        .code(0)
        .stdout_has("budget-action: not a pull-request event: no comment");
    assert!(push.summary.contains("### ✅ budget: fits"));
    let off = runner.step(
        &root(),
        &[
            ("workflows", DOCS),
            ("units-left", "30000"),
            ("comment", "false"),
        ],
    );
    off.run.code(0);
    assert!(
        runner.github.requests().is_empty(),
        "{:?}",
        runner.github.requests()
    );
    assert!(!off.argv.contains("curl"), "{}", off.argv);
}

#[test]
fn a_refused_comment_is_a_warning_and_the_verdict_stands() {
    let runner = Runner::new(0);
    runner.github.refuse_writes(403);
    let step = runner.step(&root(), &[("workflows", DOCS), ("units-left", "30000")]);
    step.run.code(0).stdout_has(
        "::warning::budget action: cannot comment on pull request #7 (HTTP 403); the job needs permissions: pull-requests: write",
    );
    assert_eq!(step.outputs, "verdict=fits\nunits=26000\nexit-code=0\n");
}

#[test]
fn bad_inputs_are_exit_2_with_the_reason() {
    let runner = Runner::new(0);
    // (inputs, what the error says)
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("workflows", "nothing/*.yaml")],
            "::error::budget action: no workflow file matches `nothing/*.yaml`",
        ),
        (
            &[("workflows", "  \n ")],
            "::error::budget action: the workflows input is empty",
        ),
        (
            &[("workflows", DOCS), ("comment", "yes")],
            "::error::budget action: the comment input must be true or false",
        ),
        (
            // A value is always `--flag=value`, so budget itself refuses it (exit 2).
            &[("workflows", DOCS), ("reserve", "10%; touch pwned-input")],
            "verdict=unknown",
        ),
    ];
    for (inputs, phrase) in cases {
        let step = runner.step(&root(), inputs);
        step.run.code(2);
        assert!(
            step.run.stdout.contains(phrase) || step.outputs.contains(phrase),
            "{inputs:?}: {phrase}\n{}\n{}",
            step.run.stdout,
            step.outputs
        );
    }
    assert!(!root().join("pwned-input").exists());
    // A glob matching one file twice plans it once: 26,000 units, not 52,000.
    let twice = runner.step(
        &root(),
        &[
            (
                "workflows",
                "workflows/docs-example.yaml\nworkflows/docs-*.yaml",
            ),
            ("units-left", "30000"),
        ],
    );
    twice.run.code(0);
    assert!(twice.outputs.contains("units=26000\n"), "{}", twice.outputs);
}

#[test]
fn the_cache_key_names_the_version_the_lock_file_and_the_runner() {
    use sha2::{Digest, Sha256};
    let runner = Runner::new(0);
    let action = root().display().to_string();
    let env = [
        ("GITHUB_ACTION_PATH", action.as_str()),
        ("RUNNER_OS", "Linux"),
        ("RUNNER_ARCH", "X64"),
    ];
    let mut path_env = env.to_vec();
    let github_path = runner.path("github-path").display().to_string();
    path_env.push(("GITHUB_PATH", &github_path));
    std::fs::write(&github_path, "").expect("github path");
    let step = runner.step_with(&root(), "key", &[], &path_env);
    step.run.code(0);
    let lock = std::fs::read(root().join("Cargo.lock")).expect("Cargo.lock");
    let lock_hash: String = Sha256::digest(&lock)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let prefix = format!(
        "key=budget-{}-Linux-X64-{}-",
        env!("CARGO_PKG_VERSION"),
        &lock_hash[..16]
    );
    let key_line = step
        .outputs
        .lines()
        .find(|l| l.starts_with("key="))
        .expect("a key output");
    assert!(key_line.starts_with(&prefix), "{key_line} vs {prefix}");
    let tree = &key_line[prefix.len()..];
    assert!(
        tree.len() == 16 && tree.chars().all(|c| c.is_ascii_hexdigit()),
        "{key_line}"
    );
    let key = &key_line["key=".len()..];
    let root_dir = format!("{}/budget-action/{key}", runner.path("temp").display());
    assert!(
        step.outputs.contains(&format!("root={root_dir}\n")),
        "{}",
        step.outputs
    );
    assert!(step.outputs.contains("install=true\n"));
    assert_eq!(
        std::fs::read_to_string(&github_path).expect("read"),
        format!("{root_dir}/bin\n")
    );
    // Same inputs, same key.
    let again = runner.step_with(&root(), "key", &[], &env);
    assert!(again.outputs.contains(key_line));

    // Another version than the checkout's: refused, with what to do.
    let other = runner.step_with(&root(), "key", &[("version", "9.9.9")], &env);
    other.run.code(2).stdout_has(&format!(
        "::error::budget action: version 9.9.9 was asked for, but this checkout of the action builds budget {}",
        env!("CARGO_PKG_VERSION")
    ));
    // `installed`: no install, the budget on PATH (the shim) is used.
    let installed = runner.step_with(&root(), "key", &[("version", "installed")], &env);
    installed.run.code(0);
    assert!(
        installed.outputs.contains("install=false\n"),
        "{}",
        installed.outputs
    );
}

#[test]
fn install_builds_the_checkout_with_cargo_unless_it_is_there() {
    let runner = Runner::new(0);
    // A fake cargo that only records how it was called.
    let fake = runner.path("fake-cargo");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").expect("fake cargo");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    shim(&runner.path("bin"), "cargo", &fake);
    let action = root().display().to_string();
    let install_root = runner.path("tool/budget");
    let install_root_text = install_root.display().to_string();
    let env = [
        ("GITHUB_ACTION_PATH", action.as_str()),
        ("BUDGET_ROOT", install_root_text.as_str()),
    ];
    let built = runner.step_with(&root(), "install", &[], &env);
    built.run.code(0);
    assert_eq!(
        built.argv,
        format!("cargo install --locked --path {action} --root {install_root_text}\n")
    );
    // Already there (a restored cache, a persistent runner): cargo is not run.
    std::fs::create_dir_all(install_root.join("bin")).expect("bin");
    shim(
        &install_root.join("bin"),
        "budget",
        Path::new(env!("CARGO_BIN_EXE_budget")),
    );
    let cached = runner.step_with(&root(), "install", &[], &env);
    cached
        .run
        .code(0)
        .stdout_has("budget is already installed in");
    assert_eq!(cached.argv, "");
}

/// action.yml hands every input to the script through the environment and pastes no expression
/// into a script (an `${{ … }}` inside `run:` is how workflow injection happens).
#[test]
fn the_action_passes_inputs_only_through_the_environment() {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let action: serde_yaml::Value = serde_yaml::from_str(&text).expect("action.yml is YAML");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    let mut mapped: Vec<String> = Vec::new();
    for step in steps {
        if let Some(run) = step["run"].as_str() {
            assert!(!run.contains("${{"), "an expression in a script: {run}");
            assert!(
                run.contains("$GITHUB_ACTION_PATH/scripts/budget-action.sh"),
                "{run}"
            );
            assert_eq!(step["shell"].as_str(), Some("bash"));
        }
        if let Some(env) = step["env"].as_mapping() {
            for (name, value) in env {
                let (name, value) = (name.as_str().expect("name"), value.as_str().expect("value"));
                if let Some(input) = value
                    .strip_prefix("${{ inputs.")
                    .and_then(|v| v.strip_suffix(" }}"))
                {
                    assert_eq!(
                        name,
                        format!("INPUT_{}", input.to_uppercase().replace('-', "_"))
                    );
                    mapped.push(input.to_string());
                }
            }
        }
    }
    let mut inputs: Vec<String> = action["inputs"]
        .as_mapping()
        .expect("inputs")
        .keys()
        .map(|k| k.as_str().expect("input name").to_string())
        .collect();
    inputs.sort();
    mapped.sort();
    assert_eq!(inputs, mapped, "every input reaches the script, once");
    for (output, step) in [("verdict", "run"), ("units", "run"), ("exit-code", "run")] {
        assert_eq!(
            action["outputs"][output]["value"].as_str(),
            Some(&*format!("${{{{ steps.{step}.outputs.{output} }}}}"))
        );
    }
    assert!(text.contains("uses: actions/cache@v4"));
    // The script reads each of them.
    let script = std::fs::read_to_string(root().join("scripts/budget-action.sh")).expect("script");
    for input in &inputs {
        let var = format!("INPUT_{}", input.to_uppercase().replace('-', "_"));
        assert!(script.contains(&var), "the script never reads {var}");
    }
}
