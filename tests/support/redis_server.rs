//! A private `redis-server` for one test: started on a free 127.0.0.1 port in a temporary
//! directory, persistence off, killed when dropped, so `cargo test` needs only `redis-server`
//! installed. Every test of a Redis backend is an integration test (tests/conformance/,
//! tests/guard_router.rs, tests/guard.rs), through the crate's public API: the library's unit
//! tests need no Redis. One start takes about 20 ms.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers (at most 10 s), making sure the one answering is ours.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir for redis-server");
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
                l.local_addr().expect("local address").port()
            };
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start redis-server ({e}); install it: apt-get install redis-server"
                    )
                });
            let mut server = RedisServer {
                child,
                port,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                // The server that answers must be this one: another test's may have taken the
                // port between our probe and our start (ours then fails to bind, and a PING alone
                // would hand this test the other test's data — it did, with 16 test threads).
                match server_pid(port) {
                    Some(pid) if pid == server.child.id() => return server,
                    Some(_) => break,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server did not answer PING on 127.0.0.1");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// The process id of the redis-server answering on `port` (`INFO server`), once one answers.
fn server_pid(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    // A bulk reply: `$LEN\r\n` then LEN bytes of `field:value` lines.
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(11).any(|w| w == b"process_id:") || !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || reply.len() > 64 * 1024 {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    let line = text.lines().find_map(|l| l.strip_prefix("process_id:"))?;
    line.trim().parse().ok()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
