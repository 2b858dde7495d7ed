//! Every documented example runs (CONTRIBUTING.md "Documented examples"): the `budget` commands
//! in the `sh` and `console` blocks of README.md, CONTRIBUTING.md and docs/*.md are run against
//! the real binary, and where the document shows their output it must be what they print. A doc
//! that names a command, flag or file that no longer exists, or shows output the binary no longer
//! prints, fails here. Also: the README stays short and says how to install, and every relative
//! link between the documents points at a file and heading that exist.
//!
//! The rules (what runs, how a block is skipped, how output is compared) are written down in
//! CONTRIBUTING.md; this file is their one implementation.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use crate::guard::GuardProc;
use crate::support::redis_server::RedisServer;
use crate::support::simulator::{Simulator, KEY};
use crate::support::{budget, root};

/// The longest one documented command may take before it is killed and the test fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// The documents whose examples are run, in a stable order.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    let mut all = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    all.extend(docs);
    all
}

/// What the HTML comment just before a block says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Directive {
    /// `<!-- docs-test: skip REASON -->`.
    Skip(String),
    /// `<!-- docs-test: live -->`: the commands read the API (the simulator).
    Live,
    /// `<!-- docs-test: exit N -->`: the block shows a refusal; every command must exit N.
    Exit(i32),
}

/// One fenced code block.
#[derive(Debug)]
struct Block {
    lang: String,
    text: String,
    /// 1-based line of the opening fence.
    line: usize,
    directive: Option<Directive>,
    /// The `text` (or unlabelled) block that follows this one with nothing but blank lines
    /// between: the output the document shows.
    output: Option<String>,
}

/// The fenced blocks of a Markdown document (pulldown-cmark finds them, in lists too).
fn blocks(source: &str) -> Vec<Block> {
    let mut found: Vec<(String, String, usize, usize)> = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (event, range) in Parser::new(source).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let lang = info.split_whitespace().next().unwrap_or("").to_string();
                open = Some((lang, String::new(), range.start));
            }
            Event::Text(text) => {
                if let Some((_, body, _)) = open.as_mut() {
                    body.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, body, start)) = open.take() {
                    found.push((lang, body, start, range.end));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (i, (lang, text, start, end)) in found.iter().enumerate() {
        let before = source[..*start].trim_end();
        let directive = before
            .strip_suffix("-->")
            .and_then(|b| b.rfind("<!--").map(|at| b[at + 4..].trim()))
            .and_then(|c| c.strip_prefix("docs-test:"))
            .map(|c| {
                let c = c.trim();
                if let Some(reason) = c.strip_prefix("skip") {
                    Directive::Skip(reason.trim().to_string())
                } else if c == "live" {
                    Directive::Live
                } else if let Some(code) = c.strip_prefix("exit ") {
                    Directive::Exit(code.trim().parse().expect("docs-test: exit N"))
                } else {
                    panic!("unknown docs-test directive `{c}`")
                }
            });
        let output = found
            .get(i + 1)
            .and_then(|(next_lang, next, next_start, _)| {
                let between = &source[*end..*next_start];
                ((next_lang == "text" || next_lang.is_empty()) && between.trim().is_empty())
                    .then(|| next.clone())
            });
        out.push(Block {
            lang: lang.clone(),
            text: text.clone(),
            line: source[..*start].matches('\n').count() + 1,
            directive,
            output,
        });
    }
    out
}

/// A word of a command line, or an operator the test acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Text {
        text: String,
        /// Holds a `$` expansion the test does not perform.
        expands: bool,
        /// Holds an unquoted `*`: a file-name pattern.
        glob: bool,
    },
    Pipe,
    Redirect,
    Background,
}

/// Splits a line as a POSIX shell would for the simple commands the documents hold: quotes,
/// backslashes, `# comments`, and the operators `|`, `>` and a final `&`.
fn words(line: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        match first {
            '#' => break,
            '|' => {
                chars.next();
                out.push(Word::Pipe);
                continue;
            }
            '>' => {
                chars.next();
                out.push(Word::Redirect);
                continue;
            }
            '&' => {
                chars.next();
                out.push(Word::Background);
                continue;
            }
            _ => {}
        }
        let (mut text, mut expands, mut glob) = (String::new(), false, false);
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || matches!(c, '|' | '>' | '&') {
                break;
            }
            chars.next();
            match c {
                '\'' => {
                    for q in chars.by_ref() {
                        if q == '\'' {
                            break;
                        }
                        text.push(q);
                    }
                }
                '"' => {
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => break,
                            '\\' => {
                                if let Some(n) = chars.next() {
                                    text.push(n);
                                }
                            }
                            '$' => {
                                expands = true;
                                text.push(q);
                            }
                            _ => text.push(q),
                        }
                    }
                }
                '\\' => {
                    if let Some(n) = chars.next() {
                        text.push(n);
                    }
                }
                '$' => {
                    expands = true;
                    text.push(c);
                }
                '*' => {
                    glob = true;
                    text.push(c);
                }
                '~' if text.is_empty() => {
                    expands = true;
                    text.push(c);
                }
                _ => text.push(c),
            }
        }
        out.push(Word::Text {
            text,
            expands,
            glob,
        });
    }
    out
}

/// `dir/pre*post` against the files of `cwd/dir`, sorted as a shell sorts them.
fn expand(pattern: &str, cwd: &Path) -> Vec<String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let (pre, post) = name.split_once('*').expect("a pattern with *");
    let mut hits: Vec<String> = std::fs::read_dir(cwd.join(dir))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len()
                })
                .map(|n| {
                    if dir.is_empty() {
                        n
                    } else {
                        format!("{dir}/{n}")
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    hits.sort();
    hits
}

/// One command line of a block, as the test runs it.
#[derive(Debug)]
enum Step {
    /// `budget ARGS [> FILE]`; `file` is `None` without a redirection, `Some(None)` for a
    /// redirection to a place outside the scratch directory (discarded).
    Budget {
        args: Vec<String>,
        env: Vec<(String, String)>,
        file: Option<Option<String>>,
        background: bool,
    },
    Export(Vec<(String, String)>),
    /// `openssl rand -hex N > FILE`: a token file, written by the test itself.
    Token {
        file: String,
        bytes: usize,
    },
    EchoStatus,
    KillBackground,
    NotRun(String),
}

/// What a logical line (continuations joined) asks for.
fn step(line: &str, cwd: &Path) -> Result<Step, String> {
    let all = words(line);
    if all.is_empty() {
        return Ok(Step::NotRun(String::new()));
    }
    // The part before a pipe: the documents pipe budget's output into other tools (jq).
    let mut parts = all.split(|w| *w == Word::Pipe);
    let mut command: Vec<Word> = parts.next().unwrap_or(&[]).to_vec();
    let background = command.last() == Some(&Word::Background);
    if background {
        command.pop();
    }
    let mut file = None;
    if let Some(at) = command.iter().position(|w| *w == Word::Redirect) {
        let target = command.get(at + 1).cloned();
        command.truncate(at);
        file = Some(match target {
            Some(Word::Text { text, expands, .. })
                if !expands && !text.starts_with('/') && !text.contains("..") =>
            {
                Some(text)
            }
            _ => None,
        });
    }
    let mut texts = Vec::new();
    for w in command {
        match w {
            Word::Text {
                text,
                expands,
                glob,
            } => texts.push((text, expands, glob)),
            other => {
                return Err(format!(
                    "`{other:?}` where the test expects a simple command"
                ))
            }
        }
    }
    let mut env = Vec::new();
    while let Some((first, _, _)) = texts.first() {
        match first.split_once('=') {
            Some((name, value))
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
            {
                env.push((name.to_string(), value.to_string()));
                texts.remove(0);
            }
            _ => break,
        }
    }
    let plain: Vec<&str> = texts.iter().map(|(t, _, _)| t.as_str()).collect();
    let args: &[(String, bool, bool)] = match plain.as_slice() {
        ["export", ..] => {
            let set = texts[1..]
                .iter()
                .filter_map(|(t, _, _)| t.split_once('='))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            return Ok(Step::Export(set));
        }
        ["echo", "$?"] => return Ok(Step::EchoStatus),
        ["openssl", "rand", "-hex", n] => {
            return match (&file, n.parse()) {
                (Some(Some(target)), Ok(bytes)) => Ok(Step::Token {
                    file: target.clone(),
                    bytes,
                }),
                _ => Ok(Step::NotRun(line.trim().to_string())),
            };
        }
        ["kill", "%1"] => return Ok(Step::KillBackground),
        ["budget", ..] => &texts[1..],
        ["cargo", "run", "--release", "--", ..] => &texts[4..],
        _ => return Ok(Step::NotRun(line.trim().to_string())),
    };
    let mut expanded = Vec::new();
    for (text, expands, glob) in args {
        if *expands {
            return Err(format!("`{text}`: the test does not expand variables in budget's arguments; skip the block or write the value"));
        }
        if *glob {
            let hits = expand(text, cwd);
            if hits.is_empty() {
                return Err(format!("`{text}` matches no file"));
            }
            expanded.extend(hits);
        } else {
            expanded.push(text.clone());
        }
    }
    Ok(Step::Budget {
        args: expanded,
        env,
        file,
        background,
    })
}

/// The logical lines of an `sh` block (a trailing `\` continues a line).
fn sh_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The commands of a `console` transcript, each with the output shown after it (`None` when
/// the next line is another command).
fn console_lines(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut continuing = false;
    for line in text.lines() {
        if continuing {
            let (command, _) = out.last_mut().expect("a command");
            continuing = line.ends_with('\\');
            command.push(' ');
            command.push_str(line.strip_suffix('\\').unwrap_or(line));
        } else if let Some(command) = line.strip_prefix("$ ") {
            continuing = command.ends_with('\\');
            out.push((
                command.strip_suffix('\\').unwrap_or(command).to_string(),
                Vec::new(),
            ));
        } else if let Some((_, shown)) = out.last_mut() {
            shown.push(line.to_string());
        }
    }
    out.into_iter()
        .map(|(c, shown)| (c, (!shown.is_empty()).then(|| shown.join("\n"))))
        .collect()
}

/// `shown` (the document) against `printed` (the binary): line by line, trailing spaces and
/// trailing blank lines ignored; a last shown line `...` stands for more lines.
fn same_output(shown: &str, printed: &str) -> bool {
    let tidy = |s: &str| -> Vec<String> {
        let mut lines: Vec<String> = s.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    };
    let (mut shown, printed) = (tidy(shown), tidy(printed));
    if shown.last().is_some_and(|l| l == "...") {
        shown.pop();
        return printed.len() >= shown.len() && printed[..shown.len()] == shown[..];
    }
    shown == printed
}

/// Where a document's commands run: a scratch directory with copies of the files examples
/// name, its own reservation ledger, the environment a block builds with `export`, and the
/// simulator for commands that read the API.
struct Bench {
    dir: tempfile::TempDir,
    sim: Simulator,
    /// A private `redis-server`, started for the first command that names a Redis URL.
    redis: std::cell::OnceCell<RedisServer>,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("scratch");
        for sub in ["workflows", "pricing", "schema", "docs/examples"] {
            copy_tree(&root().join(sub), &dir.path().join(sub));
        }
        std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
        Bench {
            dir,
            sim: Simulator::start(),
            redis: std::cell::OnceCell::new(),
        }
    }

    fn cwd(&self) -> &Path {
        self.dir.path()
    }

    /// The guard's startup text as the documents show it: the port the document asked for (or
    /// the default 8787) instead of the free one, `https://api.seranking.com` instead of the
    /// simulator, and the ledger in its default place instead of the scratch directory's.
    fn as_documented(&self, text: &str, url: &str, args: &[String]) -> String {
        let port = args
            .iter()
            .position(|a| a == "--listen")
            .and_then(|at| args.get(at + 1))
            .and_then(|listen| listen.rsplit_once(':'))
            .map_or("8787", |(_, port)| port);
        let state = self.cwd().join("state/budget/reservations.json");
        text.replace(url, &format!("http://127.0.0.1:{port}"))
            .replace(self.sim.url(), "https://api.seranking.com")
            .replace(
                &state.display().to_string(),
                "~/.local/state/budget/reservations.json",
            )
    }

    /// The private Redis's URL.
    fn redis_url(&self) -> String {
        self.redis.get_or_init(RedisServer::start).url()
    }

    /// The command; a Redis URL the document names (`--redis URL`, `BUDGET_REDIS_URL`) is
    /// replaced by the private server's, so no example reaches a host of the document's.
    fn command(&self, args: &[String], env: &[(String, String)], live: bool) -> Command {
        let mut args = args.to_vec();
        if let Some(at) = args.iter().position(|a| a == "--redis") {
            if at + 1 < args.len() {
                args[at + 1] = self.redis_url();
            }
        }
        let mut cmd = budget();
        cmd.current_dir(self.cwd())
            .env("XDG_STATE_HOME", self.cwd().join("state"))
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .args(&args);
        for (k, v) in env {
            if k == "BUDGET_REDIS_URL" {
                cmd.env(k, self.redis_url());
            } else {
                cmd.env(k, v);
            }
        }
        if live {
            cmd.env("SERANKING_API_URL", self.sim.url())
                .env("SERANKING_API_KEY", KEY)
                .env("BUDGET_RETRY_BASE_MS", "1");
        }
        cmd
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `cmd` with stdout and stderr on one pipe (as a terminal interleaves them), or stdout to
/// `file`; kills it after [`COMMAND_LIMIT`]. Returns the exit code (`None`: killed) and output.
fn run_bounded(mut cmd: Command, file: Option<&Path>) -> (Option<i32>, String) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    match file {
        Some(path) => cmd.stdout(std::fs::File::create(path).expect("redirect target")),
        None => cmd.stdout(writer.try_clone().expect("pipe")),
    };
    cmd.stderr(writer);
    let mut child = cmd.spawn().expect("start budget");
    // The pipe's write ends live only in the child now, so reading ends when it exits.
    drop(cmd);
    let (tx, rx) = mpsc::channel::<()>();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(COMMAND_LIMIT) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: signals only the child this test started.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    });
    let mut out = String::new();
    let _ = reader.read_to_string(&mut out);
    let status = child.wait().expect("wait");
    let _ = tx.send(());
    watchdog.join().expect("watchdog");
    (status.code(), out)
}

/// `--listen` and `--metrics-listen` on free loopback ports, so the documented ports never
/// collide with anything on the test machine.
fn free_ports(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut listen = false;
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        out.push(a.clone());
        if a == "--listen" || a == "--metrics-listen" {
            listen |= a == "--listen";
            iter.next();
            out.push("127.0.0.1:0".into());
        }
    }
    if !listen {
        out.insert(1, "--listen".into());
        out.insert(2, "127.0.0.1:0".into());
    }
    out
}

/// What one document's examples did.
#[derive(Default)]
struct Outcome {
    ran: usize,
    failures: Vec<String>,
    skipped: Vec<String>,
    not_run: BTreeSet<String>,
}

fn run_document(path: &Path, outcome: &mut Outcome) {
    let source = std::fs::read_to_string(path).expect("document");
    let name = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let bench = Bench::new();
    for block in blocks(&source) {
        if block.lang != "sh" && block.lang != "console" {
            continue;
        }
        let at = format!("{name}:{}", block.line);
        let expected_exit = match block.directive {
            Some(Directive::Exit(code)) => Some(code),
            _ => None,
        };
        let live = match &block.directive {
            Some(Directive::Skip(reason)) => {
                if reason.is_empty() {
                    outcome
                        .failures
                        .push(format!("{at}: a docs-test skip needs a reason"));
                }
                outcome.skipped.push(format!("{at}: {reason}"));
                continue;
            }
            Some(Directive::Live) => true,
            Some(Directive::Exit(_)) | None => false,
        };
        // (line, output shown for it alone)
        let lines: Vec<(String, Option<String>)> = if block.lang == "sh" {
            sh_lines(&block.text)
                .into_iter()
                .map(|l| (l, None))
                .collect()
        } else {
            console_lines(&block.text)
        };
        let mut env: Vec<(String, String)> = Vec::new();
        let mut printed = String::new();
        let mut last: Option<i32> = None;
        let mut guard: Option<GuardProc> = None;
        for (line, shown) in lines {
            let before = printed.len();
            match step(&line, bench.cwd()) {
                Err(why) => outcome.failures.push(format!("{at}: `{line}`: {why}")),
                Ok(Step::NotRun(what)) => {
                    if !what.is_empty() && !what.starts_with('#') {
                        outcome.not_run.insert(what);
                    }
                }
                Ok(Step::Export(set)) => env.extend(set),
                Ok(Step::Token { file, bytes }) => {
                    // A token as `openssl rand -hex` writes it: 2 hex digits a byte, a newline.
                    let hex: String = (0..bytes)
                        .map(|_| format!("{:02x}", rand::random::<u8>()))
                        .collect();
                    std::fs::write(bench.cwd().join(file), format!("{hex}\n")).expect("token file");
                }
                Ok(Step::EchoStatus) => {
                    printed.push_str(&format!("{}\n", last.unwrap_or(0)));
                }
                Ok(Step::KillBackground) => {
                    if let Some(g) = guard.take() {
                        let stopped = g.stop();
                        last = Some(stopped.code);
                    }
                }
                Ok(Step::Budget {
                    args,
                    env: own,
                    file,
                    background,
                }) => {
                    outcome.ran += 1;
                    let mut all_env = env.clone();
                    all_env.extend(own);
                    // `budget guard-admin` talks to the guard the block started (on its free
                    // port), as the document's default address stands for.
                    if let (Some(g), Some("guard-admin")) =
                        (&guard, args.first().map(String::as_str))
                    {
                        all_env.push(("BUDGET_GUARD_URL".into(), g.url.clone()));
                    }
                    if args.first().map(String::as_str) == Some("guard") {
                        // The guard runs until stopped: started on free ports against the
                        // simulator, waited for, and stopped with SIGTERM — now, or at `kill
                        // %1` / the block's end when the document runs it in the background.
                        if let Some(g) = guard.take() {
                            let _ = g.stop();
                        }
                        let mut cmd = bench.command(&free_ports(&args), &all_env, true);
                        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                        let started = GuardProc::spawn(cmd);
                        let text = started.stderr.lock().expect("stderr").clone();
                        printed.push_str(&bench.as_documented(&text, &started.url, &args));
                        if background {
                            guard = Some(started);
                        } else {
                            let stopped = started.stop();
                            if stopped.code != 0 {
                                outcome.failures.push(format!(
                                    "{at}: `{line}`: the guard exited {} when stopped:\n{}",
                                    stopped.code, stopped.stderr
                                ));
                            }
                            last = Some(stopped.code);
                        }
                        continue;
                    }
                    let target = file.clone().map(|f| match f {
                        Some(f) => bench.cwd().join(f),
                        None => bench.cwd().join("discarded"),
                    });
                    let cmd = bench.command(&args, &all_env, live);
                    let (code, out) = run_bounded(cmd, target.as_deref());
                    match (code, expected_exit) {
                        (None, _) => outcome.failures.push(format!(
                            "{at}: `{line}` did not end within {COMMAND_LIMIT:?}"
                        )),
                        (Some(code), Some(expected)) if code != expected => {
                            outcome.failures.push(format!(
                                "{at}: `{line}` exited {code}, not {expected} as the block says:\n{out}"
                            ))
                        }
                        (Some(2), None) => outcome
                            .failures
                            .push(format!("{at}: `{line}` exited 2 (bad input):\n{out}")),
                        (Some(_), _) => {}
                    }
                    last = code;
                    printed.push_str(&out);
                }
            }
            if let Some(shown) = shown {
                let own = &printed[before..];
                if !same_output(&shown, own) {
                    outcome.failures.push(format!(
                        "{at}: `{line}` printed\n{own}\nwhere the document shows\n{shown}"
                    ));
                }
            }
        }
        if let Some(g) = guard.take() {
            let stopped = g.stop();
            if stopped.code != 0 {
                outcome.failures.push(format!(
                    "{at}: the guard exited {} when stopped:\n{}",
                    stopped.code, stopped.stderr
                ));
            }
        }
        if let Some(shown) = &block.output {
            if !same_output(shown, &printed) {
                outcome.failures.push(format!(
                    "{at}: the block printed\n{printed}\nwhere the document shows\n{shown}"
                ));
            }
        }
    }
    // A file an example writes into docs/ (the burn-up chart the finance page shows) must be
    // the one the repository ships: "regenerate it the same way" stays true.
    for entry in std::fs::read_dir(bench.cwd().join("docs")).expect("scratch docs/") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let file = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let shipped = root().join("docs").join(&file);
            if std::fs::read(&path).ok() != std::fs::read(&shipped).ok() {
                outcome.failures.push(format!(
                    "{name}: an example writes docs/{file}, which differs from the repository's: regenerate it with that command"
                ));
            }
        }
    }
}

#[test]
fn every_documented_command_runs_and_prints_what_the_documents_show() {
    let mut outcome = Outcome::default();
    for doc in documents() {
        run_document(&doc, &mut outcome);
    }
    // What was not run, and why, is part of the test's report (`cargo test -- --nocapture`).
    println!("{} documented commands ran", outcome.ran);
    for skip in &outcome.skipped {
        println!("skipped {skip}");
    }
    for line in &outcome.not_run {
        println!("not a budget command, not run: {line}");
    }
    assert!(
        outcome.failures.is_empty(),
        "{} documented examples fail:\n\n{}",
        outcome.failures.len(),
        outcome.failures.join("\n\n")
    );
    // The documents hold dozens of examples: a parser that finds none must not pass.
    assert!(outcome.ran >= 40, "only {} commands ran", outcome.ran);
}

/// A `yaml` block whose first line is `# docs/examples/NAME` shows that file: the rest of the
/// block is the file without its leading comment lines, so the page and the file the examples
/// run cannot drift apart.
#[test]
fn shown_example_files_are_the_files() {
    let mut shown = 0;
    let mut differ = Vec::new();
    for doc in documents() {
        let source = std::fs::read_to_string(&doc).expect("document");
        for block in blocks(&source) {
            let Some((first, rest)) = block.text.split_once('\n') else {
                continue;
            };
            let Some(path) = first.strip_prefix("# docs/examples/") else {
                continue;
            };
            if block.lang != "yaml" {
                continue;
            }
            shown += 1;
            let file = std::fs::read_to_string(root().join("docs/examples").join(path.trim()))
                .unwrap_or_else(|e| panic!("{}:{}: {path}: {e}", doc.display(), block.line));
            let body: String = file
                .lines()
                .skip_while(|l| l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            if body != rest {
                differ.push(format!(
                    "{}:{}: docs/examples/{path} is\n{body}\nbut the page shows\n{rest}",
                    doc.display(),
                    block.line
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(shown >= 3, "only {shown} example files shown");
}

#[test]
fn the_readme_is_short_and_says_how_to_install() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; the limit is 200"
    );
    for needed in [
        "## Install",
        "cargo install --locked --path .",
        "cargo install --locked --git",
        "## Quick start",
        "## Pick your path",
    ] {
        assert!(readme.contains(needed), "README.md lacks `{needed}`");
    }
    // The MSRV the README states is Cargo.toml's.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("rust-version");
    assert!(
        readme.contains(&format!("Rust **{msrv} or later**")),
        "README.md does not state rust-version {msrv}"
    );
}

/// docs/reference.md has the one exit-code table, and it is `error::exit`'s: a row per code the
/// binary uses, and no other (plus `other`, the gated command's own code).
#[test]
fn the_reference_exit_codes_are_the_binarys() {
    let error = std::fs::read_to_string(root().join("src/error.rs")).expect("src/error.rs");
    let module = error
        .split("pub mod exit {")
        .nth(1)
        .and_then(|m| m.split("\n}").next())
        .expect("error::exit");
    let codes: BTreeSet<String> = module
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split("= ").nth(1))
        .map(|n| n.trim_end_matches(';').to_string())
        .collect();
    assert_eq!(codes.len(), 6, "{codes:?}");
    let reference = std::fs::read_to_string(root().join("docs/reference.md")).expect("reference");
    let table = reference
        .split("## Exit codes")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("the exit codes section");
    let rows: BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|c| *c != "code" && !c.starts_with('-'))
        .map(str::to_string)
        .collect();
    let mut expected = codes.clone();
    expected.insert("other".into());
    assert_eq!(
        rows, expected,
        "docs/reference.md's exit codes against error::exit"
    );
    // One table: no other page has a table keyed by exit code (a row `| 0 | …`).
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("document");
        let tables = text.lines().filter(|l| l.starts_with("| 0 |")).count();
        let own = if doc.ends_with("docs/reference.md") {
            1
        } else {
            0
        };
        assert_eq!(tables, own, "{} has an exit-code table", doc.display());
    }
}

/// Every environment variable the binary reads is in docs/reference.md: those named to clap
/// (`env = "…"`), read with `std::env::var`/`var_os`, through the ledger's `from("…")`, or kept
/// in an `ENV_…` constant.
#[test]
fn every_environment_variable_is_in_the_reference() {
    let reference = std::fs::read_to_string(root().join("docs/reference.md")).expect("reference");
    let mut names = BTreeSet::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            for line in text.lines() {
                let line = line.trim();
                let quoted = ["env = \"", "var(\"", "var_os(\"", "from(\""]
                    .iter()
                    .find_map(|p| line.split(p).nth(1))
                    .or_else(|| {
                        line.starts_with("pub const ENV_")
                            .then(|| line.split("= \"").nth(1))
                            .flatten()
                    });
                if let Some(name) = quoted.and_then(|q| q.split('"').next()) {
                    if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    {
                        names.insert(name.to_string());
                    }
                }
            }
        }
    }
    assert!(names.len() >= 8, "{names:?}");
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !reference.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/reference.md: {missing:?} (found {names:?})"
    );
}

/// GitHub's heading anchors: lowercase, punctuation dropped but `-` and `_`, spaces to `-`,
/// repeats numbered.
fn anchors(source: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(source) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = heading.take().unwrap_or_default();
                let slug: String = text
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let n = seen.entry(slug.clone()).or_insert(0);
                out.insert(if *n == 0 {
                    slug.clone()
                } else {
                    format!("{slug}-{n}")
                });
                *n += 1;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_link_between_the_documents_points_at_a_file_and_heading_that_exist() {
    let mut docs = documents();
    docs.extend([root().join("ARCHITECTURE.md"), root().join("CHANGELOG.md")]);
    let mut broken = Vec::new();
    for doc in &docs {
        let source = std::fs::read_to_string(doc).expect("document");
        for event in Parser::new(&source) {
            let dest = match event {
                Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                    dest_url.to_string()
                }
                _ => continue,
            };
            if dest.contains("://") || dest.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = dest.split_once('#').unwrap_or((&dest, ""));
            let target = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().expect("dir").join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {dest}: no such file", doc.display()));
                continue;
            }
            if !fragment.is_empty() && target.extension().is_some_and(|x| x == "md") {
                let text = std::fs::read_to_string(&target).expect("target");
                if !anchors(&text).contains(fragment) {
                    broken.push(format!("{}: {dest}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_test_reads_commands_as_a_shell_would() {
    let cwd = root();
    // Quotes, comments, a redirection and a pipe.
    let Ok(Step::Budget { args, file, .. }) = step(
        r#"budget gate wf.yaml -- echo "a b" 'c d' > out.txt | jq .   # note"#,
        &cwd,
    ) else {
        panic!("a budget command")
    };
    assert_eq!(args, ["gate", "wf.yaml", "--", "echo", "a b", "c d"]);
    assert_eq!(file, Some(Some("out.txt".to_string())));
    // A redirection outside the scratch directory is discarded, never written.
    let Ok(Step::Budget { file, .. }) = step("budget completions bash > /etc/x", &cwd) else {
        panic!("a budget command")
    };
    assert_eq!(file, Some(None));
    // Globs expand to the sorted file names; variables are refused.
    let Ok(Step::Budget { args, .. }) = step("budget plan workflows/d*-example.yaml", &cwd) else {
        panic!("a budget command")
    };
    assert_eq!(args, ["plan", "workflows/docs-example.yaml"]);
    assert!(step(r#"budget gate --api-key-file "$KEY" wf"#, &cwd).is_err());
    assert!(matches!(
        step("cargo run --release -- plan x.yaml", &cwd),
        Ok(Step::Budget { .. })
    ));
    assert!(matches!(
        step("curl -s http://x", &cwd),
        Ok(Step::NotRun(_))
    ));
    // Output comparison: trailing spaces and `...`.
    assert!(same_output("a  \nb\n", "a\nb"));
    assert!(same_output("a\n...", "a\nb\nc"));
    assert!(!same_output("a\nc", "a\nb"));
}
