//! Headless Chromium for tests that must see a page the way a person's browser does, driven
//! through the DevTools protocol ([`Chromium::devtools`]): the DOM it built
//! (`document.documentElement.outerHTML`), any expression's value, screenshots (decoded and
//! checked for content), the reader's colour scheme (`prefers-color-scheme`, emulated), and a
//! page that changes after it loads (the guard's dashboard refreshes itself). One launch serves
//! everything a test asks of one page: Chromium's start is most of a browser test's time.
//!
//! Reusable for any page `budget` serves or writes: a written file (`file://…`, [`file_url`]) or
//! a guard's `http://127.0.0.1:PORT/…` — only loopback: the flags below keep Chromium off every
//! other network.
//!
//! The protocol runs over `--remote-debugging-pipe`: no port, no WebSocket; messages are JSON
//! ended by a NUL byte on the browser's file descriptors 3 (commands in) and 4 (answers out).
//!
//! - **Which browser**: `$BUDGET_CHROMIUM` when set, else `chromium` (Debian's package; `.ci/run`
//!   installs it), else `chromium-browser`.
//! - **Missing browser**: the test fails, saying how to install it — a browser test that passes
//!   without a browser would prove nothing. `BUDGET_SKIP_BROWSER=1` skips them explicitly
//!   (for a developer machine without Chromium): [`Chromium::find`] then returns `None` and the
//!   test prints that it was skipped.
//! - **Bounded**: a session has a hard time limit ([`TIME_LIMIT`]) and each command waits at
//!   most [`COMMAND_LIMIT`] within it; past either, the whole process group Chromium started
//!   (zygote, renderers, GPU process) is killed and the test fails with the browser's stderr.
//!   A browser that exits early fails the test the same way. When the session ends (dropped,
//!   or the test failed) the group is killed too, so no helper outlives the test. Only the group
//!   this harness started is ever signalled.
//! - **Isolated**: a fresh `--user-data-dir`, `HOME` and XDG directories in a temporary
//!   directory per session; no first-run, sync, component updates or background networking
//!   (which this machine's closed network would refuse anyway), no GPU, no sandbox (tests run as
//!   root in CI, where Chromium's sandbox cannot start).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest one browser session may take before it is killed and the test fails.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);
/// The longest one DevTools command may take.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(20);
/// How often [`DevTools::wait_for`] evaluates its expression again.
const POLL: Duration = Duration::from_millis(50);

/// The flags known to work headless as root on a machine without a network.
const FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
];

/// A Chromium binary to run, and how long one session may take.
pub struct Chromium {
    binary: PathBuf,
    time_limit: Duration,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

impl Chromium {
    /// The browser, or — only with `BUDGET_SKIP_BROWSER=1` — `None`. Without a browser and
    /// without that variable the test fails with what to install.
    #[track_caller]
    pub fn find() -> Option<Chromium> {
        if std::env::var("BUDGET_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("BUDGET_SKIP_BROWSER=1: browser test skipped");
            return None;
        }
        let binary = match std::env::var_os("BUDGET_CHROMIUM") {
            Some(path) => Some(PathBuf::from(path)),
            None => on_path("chromium").or_else(|| on_path("chromium-browser")),
        };
        match binary {
            Some(binary) => Some(Chromium::at(binary, TIME_LIMIT)),
            None => panic!(
                "the browser tests need Chromium and none was found: install it \
                 (`apt-get install chromium`; .ci/run does) or point BUDGET_CHROMIUM at one; \
                 set BUDGET_SKIP_BROWSER=1 to skip these tests on purpose"
            ),
        }
    }

    /// A given binary with a given time limit (the harness's own tests use a stand-in).
    pub fn at(binary: PathBuf, time_limit: Duration) -> Chromium {
        Chromium { binary, time_limit }
    }
}

/// A decoded screenshot: RGBA pixels, row by row.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<[u8; 4]>,
}

impl Image {
    #[track_caller]
    pub fn decode(bytes: &[u8]) -> Image {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buffer = vec![0; reader.output_buffer_size().expect("PNG size")];
        let info = reader.next_frame(&mut buffer).expect("a PNG frame");
        let bytes = &buffer[..info.buffer_size()];
        let rgba = match info.color_type {
            png::ColorType::Rgba => bytes
                .chunks_exact(4)
                .map(|p| [p[0], p[1], p[2], p[3]])
                .collect(),
            png::ColorType::Rgb => bytes
                .chunks_exact(3)
                .map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            png::ColorType::GrayscaleAlpha => bytes
                .chunks_exact(2)
                .map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
            png::ColorType::Grayscale => bytes.iter().map(|g| [*g, *g, *g, 255]).collect(),
            png::ColorType::Indexed => panic!("an indexed PNG after EXPAND"),
        };
        Image {
            width: info.width,
            height: info.height,
            rgba,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        self.rgba[(y * self.width + x) as usize]
    }

    /// The number of distinct colours.
    pub fn colours(&self) -> usize {
        let mut seen: Vec<[u8; 4]> = self.rgba.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Pixels whose luminance (0–255, Rec. 709 weights) is below `level`.
    pub fn darker_than(&self, level: f64) -> usize {
        self.rgba.iter().filter(|p| luma(p) < level).count()
    }

    /// Pixels whose luminance is above `level`.
    pub fn lighter_than(&self, level: f64) -> usize {
        self.rgba.iter().filter(|p| luma(p) > level).count()
    }
}

fn luma(p: &[u8; 4]) -> f64 {
    0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])
}

/// `file://` URL of a local file.
pub fn file_url(path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).expect("an existing file");
    format!("file://{}", absolute.display())
}

/// A live browser driven through the DevTools protocol: one page, attached.
pub struct DevTools {
    binary: PathBuf,
    group: rustix::process::Pid,
    child: std::process::Child,
    /// Set once the group was killed and the browser reaped (nothing to signal again).
    ended: bool,
    commands: std::fs::File,
    answers: mpsc::Receiver<serde_json::Value>,
    session: String,
    next: u64,
    started: Instant,
    time_limit: Duration,
    /// The browser's stderr, for the message of a failed test.
    stderr: PathBuf,
    _home: tempfile::TempDir,
}

impl Chromium {
    /// Opens `url` in a browser driven through the DevTools protocol, in a viewport of exactly
    /// `width` × `height`. The page may still be loading: see [`DevTools::wait_loaded`].
    #[track_caller]
    pub fn devtools(&self, url: &str, width: u32, height: u32) -> DevTools {
        use std::os::fd::AsRawFd;
        let home = tempfile::tempdir().expect("temp dir for the browser profile");
        let profile = home.path().join("profile");
        let stderr = home.path().join("stderr.log");
        let stderr_file = std::fs::File::create(&stderr).expect("the browser's stderr file");
        // fd 3: the browser reads commands; fd 4: it writes answers.
        let (to_browser, browser_reads) = pipe();
        let (browser_writes, from_browser) = pipe();
        let (reads_fd, writes_fd) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
        let mut command = Command::new(&self.binary);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--remote-debugging-pipe")
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file)
            .process_group(0);
        // SAFETY: only dup2, which is async-signal-safe, between fork and exec; the new
        // descriptors 3 and 4 are not close-on-exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(reads_fd, 3) < 0 || libc::dup2(writes_fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}); install Chromium (`apt-get install chromium`) or set BUDGET_SKIP_BROWSER=1",
                self.binary.display()
            )
        });
        let started = Instant::now();
        // The browser's ends are its own now: the reader sees EOF when it exits.
        drop(browser_reads);
        drop(browser_writes);
        let group = rustix::process::Pid::from_child(&child);
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            let mut from_browser = from_browser;
            let mut pending = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                let n = match from_browser.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(value) = serde_json::from_slice(&message[..end]) {
                        if tx.send(value).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut tools = DevTools {
            binary: self.binary.clone(),
            group,
            child,
            ended: false,
            commands: to_browser,
            answers,
            session: String::new(),
            next: 0,
            started,
            time_limit: self.time_limit,
            stderr,
            _home: home,
        };
        let target = tools.call("Target.createTarget", serde_json::json!({ "url": url }));
        let Some(target_id) = target["targetId"].as_str().map(str::to_string) else {
            tools.fail(format!(
                "answered Target.createTarget without a target id: {target}"
            ));
        };
        let attached = tools.call(
            "Target.attachToTarget",
            serde_json::json!({ "targetId": target_id, "flatten": true }),
        );
        let Some(session) = attached["sessionId"].as_str().map(str::to_string) else {
            tools.fail(format!(
                "answered Target.attachToTarget without a session id: {attached}"
            ));
        };
        tools.session = session;
        // The viewport exactly `width` × `height` (the window's includes the browser's frame).
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false
            }),
        );
        tools
    }
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    let done = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(done, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[1]),
            std::fs::File::from_raw_fd(fds[0]),
        )
    }
}

impl DevTools {
    /// One command (of the page's session once attached); its `result`. Waits at most
    /// [`COMMAND_LIMIT`], and never past the session's time limit.
    #[track_caller]
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        match self.exchange(method, params) {
            Ok(result) => result,
            Err(answer) => self.fail(format!("refused {method}: {answer}")),
        }
    }

    /// [`Self::call`], with the browser's refusal (its answer with an `error`) as `Err`.
    #[track_caller]
    fn exchange(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        self.next += 1;
        let id = self.next;
        let mut message = serde_json::json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = serde_json::Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        if let Err(e) = self.commands.write_all(&bytes) {
            self.fail(format!("took no command ({method}: {e})"));
        }
        let asked = Instant::now();
        loop {
            let session_left = self.time_limit.saturating_sub(self.started.elapsed());
            let command_left = COMMAND_LIMIT.saturating_sub(asked.elapsed());
            match self.answers.recv_timeout(session_left.min(command_left)) {
                Ok(answer) if answer["id"] == id => {
                    return match answer.get("error") {
                        Some(_) => Err(answer),
                        None => Ok(answer["result"].clone()),
                    };
                }
                // Events, and answers to commands given up on.
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.fail(format!("exited before answering {method}"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if session_left <= command_left => {
                    self.fail(format!(
                        "did not finish within {} s and was killed (waiting for {method})",
                        self.time_limit.as_secs_f64()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.fail(format!(
                        "gave no answer to {method} within {} s and was killed",
                        COMMAND_LIMIT.as_secs()
                    ));
                }
            }
        }
    }

    /// Kills the browser's process group, reaps the browser, and fails the test with `what`
    /// happened and the browser's stderr.
    #[track_caller]
    fn fail(&mut self, what: String) -> ! {
        self.end();
        let stderr = std::fs::read(&self.stderr).unwrap_or_default();
        panic!(
            "{} {what}; its stderr:\n{}",
            self.binary.display(),
            String::from_utf8_lossy(&stderr)
        );
    }

    /// Kills the browser's process group (the browser's helpers share it: none may outlive the
    /// test) and reaps the browser. Once.
    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            let _ = rustix::process::kill_process_group(self.group, rustix::process::Signal::KILL);
            let _ = self.child.wait();
        }
    }

    /// A JavaScript expression's value in the page.
    #[track_caller]
    pub fn evaluate(&mut self, expression: &str) -> serde_json::Value {
        let result = self.call(
            "Runtime.evaluate",
            serde_json::json!({ "expression": expression, "returnByValue": true }),
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until `done` holds for its value (every [`POLL`], at most
    /// `within`); returns that value. While the page navigates (a form sent, a redirect) an
    /// evaluation may find no document to run in: that counts as not yet.
    #[track_caller]
    pub fn wait_for(
        &mut self,
        expression: &str,
        within: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let value = match self.exchange(
                "Runtime.evaluate",
                serde_json::json!({ "expression": expression, "returnByValue": true }),
            ) {
                Ok(result) => result["result"]["value"].clone(),
                Err(answer) => answer["error"].clone(),
            };
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{expression} never became what was awaited within {} s; last {value}",
                within.as_secs_f64()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the page given to [`Chromium::devtools`] has loaded (not the blank page a
    /// new target starts on).
    #[track_caller]
    pub fn wait_loaded(&mut self) {
        self.wait_for(
            "location.href !== 'about:blank' && document.readyState === 'complete'",
            COMMAND_LIMIT,
            |v| v == true,
        );
    }

    /// The DOM the browser built, serialised as HTML (what `--dump-dom` prints).
    #[track_caller]
    pub fn dom(&mut self) -> String {
        match self.evaluate("document.documentElement.outerHTML") {
            serde_json::Value::String(html) => html,
            other => panic!("the DOM is not a string: {other}"),
        }
    }

    /// Tells the page the reader's system asks for the `scheme` colours (`prefers-color-scheme:
    /// light` or `dark`, as a system theme or `--force-dark-mode` would), and checks that the page
    /// sees it.
    #[track_caller]
    pub fn prefer_color_scheme(&mut self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            serde_json::json!({
                "features": [{ "name": "prefers-color-scheme", "value": scheme }]
            }),
        );
        let query = format!("matchMedia('(prefers-color-scheme: {scheme})').matches");
        assert_eq!(self.evaluate(&query), true, "{query}");
    }

    /// A PNG screenshot of the page, as bytes.
    #[track_caller]
    pub fn screenshot_png(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            serde_json::json!({ "format": "png" }),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG")
    }

    /// A screenshot of the page, decoded.
    #[track_caller]
    pub fn screenshot(&mut self) -> Image {
        Image::decode(&self.screenshot_png())
    }
}

impl Drop for DevTools {
    fn drop(&mut self) {
        self.end();
    }
}
