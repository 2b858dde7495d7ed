//! A TCP proxy that delays what the server sends back, for tests of timing faults (a Redis on a
//! busy network): requests pass at once; each chunk of the server's answers is delivered after a
//! latency drawn between 0 and `jitter` (a fixed pseudo-random sequence, so runs repeat; chunks
//! keep their order, as on a wire). Runs on threads of its own; stops accepting when dropped
//! (open connections end with their peers).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on 127.0.0.1:0 and forwards to `target`, answers `0..=jitter` late.
    pub fn start(target: SocketAddr, jitter: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || pipe(client, server, None));
                std::thread::spawn(move || pipe(s2, c2, Some(jitter)));
            }
        });
        DelayProxy { addr, stop }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the stop.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` to `to`, each chunk after a latency up to `jitter` when given.
fn pipe(mut from: TcpStream, mut to: TcpStream, jitter: Option<Duration>) {
    let Some(jitter) = jitter else {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 << 10];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut last = Instant::now();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // xorshift64: the same latencies every run.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let latency = jitter.mul_f64((seed % 1001) as f64 / 1000.0);
        // In order: never before the chunk ahead of it.
        let due = (Instant::now() + latency).max(last);
        last = due;
        if tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
}
