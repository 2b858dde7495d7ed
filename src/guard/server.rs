//! The guard's HTTP server: accepts connections and serves them with bounded resources, so that
//! no client, however slow or hostile, can hold the guard open or make it unreachable.
//!
//! - **Connections** are capped ([`Limits::max_connections`]). At the cap a new connection takes
//!   the place of the oldest one that has no call in progress (idle, or still sending its
//!   request); when every connection has a call in progress, the new one is answered 503 and
//!   closed. So half-open connections above the cap never stop a real call.
//! - **Time**: a connection must send a complete request head within
//!   [`Limits::header_timeout`] (idle keep-alive connections too) and its body within
//!   [`Limits::body_timeout`] (408), or it is closed (hyper's header-read timer, which
//!   `axum::serve` does not set).
//! - **Memory**: request heads up to [`Limits::max_head`], bodies up to [`Limits::max_body`]
//!   (413), and all bodies being held at once up to [`Limits::max_buffered`] (503): see
//!   `super::proxy`.
//! - **Stopping**: the listener closes, idle and half-sent connections are dropped at once,
//!   calls in flight finish within [`Limits::grace`]; what is left after it is abandoned (the
//!   caller reports it).
//!
//! Refusals here (over the cap, a head that never completes or is malformed) are counted in the
//! journal's summary lines, never one line each. This module prices nothing.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

use super::journal::Refusal;
use super::proxy::App;

/// Most connections open at once (`--max-connections`): below the common 1,024 open-file limit,
/// with room for the connections to the API and Redis.
pub const MAX_CONNECTIONS: usize = 512;
/// Time to send a request head; also how long an idle keep-alive connection stays open.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// Time to send a request body, from the end of its head.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body: a `keywords/export` of 10,000 keywords is about 400 KB of JSON.
pub const MAX_BODY: usize = 1 << 20;
/// Largest request head (request line and headers): about 1,400 `keywords[]` in a query; longer
/// lists go in a POST body.
pub const MAX_HEAD: usize = 64 << 10;
/// Request bodies held at once, across all clients.
pub const MAX_BUFFERED: usize = 64 << 20;
/// Time calls in flight get to finish once the guard is stopping (`--grace`).
pub const GRACE: Duration = Duration::from_secs(30);
/// Connections over the cap being answered 503 at once; beyond, they are closed unanswered.
const REFUSING: usize = 64;
/// Open files kept for everything but client connections: standard streams, the listener, the
/// journal, the ledger, Redis, the runtime's own descriptors, and connections being refused.
const FILES_RESERVED: u64 = 128;

/// Raises this process's open-file limit to its hard limit (as Go's runtime does) and returns
/// it; `None` when it is unlimited.
pub fn raise_open_files() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current
}

/// The connections a guard may keep open with `files` open files at most: what `asked`, but no
/// more than half of what the reserve leaves (the other half for connections to the API), so
/// that the guard never runs out of files and stops accepting.
pub fn connection_cap(asked: usize, files: Option<u64>) -> usize {
    match files {
        None => asked,
        Some(files) => {
            let room = files.saturating_sub(FILES_RESERVED) / 2;
            asked
                .min(usize::try_from(room).unwrap_or(usize::MAX))
                .max(1)
        }
    }
}

/// The bounds a guard serves within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_body: usize,
    pub max_head: usize,
    pub max_buffered: usize,
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            max_body: MAX_BODY,
            max_head: MAX_HEAD,
            max_buffered: MAX_BUFFERED,
            grace: GRACE,
        }
    }
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Calls still in flight when the grace period ran out (0 when all finished).
    pub abandoned: usize,
}

/// One open connection, as the cap sees it.
struct Conn {
    /// Calls in progress on it (a call from the end of its body to the end of its reply).
    busy: Arc<AtomicUsize>,
    /// Closes it at once (evicted, or the guard stops for good).
    close: Arc<Notify>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Conn>,
}

/// Open connections, shared by the accept loop and the connection tasks.
#[derive(Default, Clone)]
struct Connections(Arc<Mutex<Registry>>, Arc<Notify>);

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a connection under `cap`, closing the oldest connection without a call in
    /// progress when at the cap. `None`: every connection has a call in progress.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<AtomicUsize>, Arc<Notify>)> {
        let mut registry = self.lock();
        if registry.open.len() >= cap.max(1) {
            let idle = registry
                .open
                .iter()
                .find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            if let Some(evicted) = registry.open.remove(&idle) {
                evicted.close.notify_one();
            }
        }
        let id = registry.next;
        registry.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(Notify::new());
        registry.open.insert(
            id,
            Conn {
                busy: busy.clone(),
                close: close.clone(),
            },
        );
        Some((id, busy, close))
    }

    fn leave(&self, id: u64) {
        let empty = {
            let mut registry = self.lock();
            registry.open.remove(&id);
            registry.open.is_empty()
        };
        if empty {
            self.1.notify_waiters();
        }
    }

    fn count(&self) -> usize {
        self.lock().open.len()
    }

    /// Closes every connection at once.
    fn close_all(&self) {
        for conn in self.lock().open.values() {
            conn.close.notify_one();
        }
    }

    /// Completes when no connection is open.
    async fn none(&self) {
        loop {
            let notified = self.1.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Leaves the registry when the connection task ends, however it ends.
struct Leave(Connections, u64);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// A call in progress on a connection: from the end of its request body until its reply has
/// been written (the reply body is dropped).
pub(crate) struct Busy(Arc<AtomicUsize>);

impl Busy {
    pub(crate) fn enter(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A reply body that keeps its connection marked busy until it has been written.
pub(crate) struct Tracked {
    pub(crate) inner: Body,
    pub(crate) _busy: Option<Busy>,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `listener` with `app` until `shutdown` completes, then stops as the module says.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Served {
    let connections = Connections::default();
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let summaries = {
        let app = app.clone();
        tokio::spawn(async move {
            let every = super::journal::SUMMARY_EVERY;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                app.journal().summarise(every.as_secs());
                // Approvals past their 15 minutes are journaled as expired.
                app.sweep_approvals();
            }
        })
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors or a connection reset before it was accepted:
                    // the connection is lost; pause so as not to spin, then go on.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match connections.admit(limits.max_connections) {
                    Some((id, busy, close)) => {
                        let leave = Leave(connections.clone(), id);
                        tokio::spawn(connection(stream, app.clone(), limits, busy, close, leave));
                    }
                    None => {
                        app.events().refused(Refusal::TooManyConnections, None, None);
                        if let Ok(permit) = refusing.clone().try_acquire_owned() {
                            tokio::spawn(async move {
                                refuse_connection(stream).await;
                                drop(permit);
                            });
                        }
                    }
                }
            }
        }
    }
    // Stopping: no new connections; idle and half-sent ones close, bodies being read are
    // refused (503), calls in flight finish within the grace period.
    drop(listener);
    app.stop();
    let drained = async {
        app.in_flight.idle().await;
        connections.none().await;
    };
    let finished = tokio::time::timeout(limits.grace, drained).await.is_ok();
    let abandoned = if finished { 0 } else { app.in_flight.count() };
    connections.close_all();
    summaries.abort();
    app.journal()
        .summarise(super::journal::SUMMARY_EVERY.as_secs());
    Served { abandoned }
}

/// One connection: HTTP/1.1 with the header timer, until it ends, is evicted, or the guard
/// stops (then it finishes the call in progress, if any, and closes).
async fn connection(
    stream: TcpStream,
    app: Arc<App>,
    limits: Limits,
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
    _leave: Leave,
) {
    let _ = stream.set_nodelay(true);
    let served = Arc::new(AtomicUsize::new(0));
    let service = {
        let (app, busy, served) = (app.clone(), busy.clone(), served.clone());
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (app, busy, served) = (app.clone(), busy.clone(), served.clone());
            async move {
                served.fetch_add(1, Ordering::SeqCst);
                let response = app.handle(request.map(Body::new), &busy).await;
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head.max(8192));
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = app.stopping();
    let mut graceful = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    // A head that never completed on a connection that never made a request
                    // (an idle keep-alive connection timing out is not a refusal).
                    if e.is_timeout() && served.load(Ordering::SeqCst) == 0 {
                        app.events().refused(Refusal::Timeout, None, None);
                    } else if e.is_parse() || e.is_parse_too_large() {
                        app.events().refused(Refusal::Malformed, None, None);
                    }
                }
                break;
            }
            () = close.notified() => break,
            // `wait_for` sees a stop that came before this task first ran, too. Without a
            // call in progress the connection closes now (hyper's graceful shutdown would
            // wait for a half-sent head); with one, once its reply is written.
            _ = stopping.wait_for(|stopping| *stopping), if !graceful => {
                if busy.load(Ordering::SeqCst) == 0 {
                    break;
                }
                conn.as_mut().graceful_shutdown();
                graceful = true;
            }
        }
    }
}

/// Answers a connection over the cap with a 503 (bounded in time) and closes it.
async fn refuse_connection(mut stream: TcpStream) {
    let body = r#"{"error":{"code":503,"message":"Service Unavailable","description":"the guard has too many open connections; try again later"}}"#;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        // 1,024 files: (1,024 − 128) / 2 = 448 < 512 asked.
        assert_eq!(connection_cap(512, Some(1024)), 448);
        // 65,536 files: 32,704 of room; 512 asked.
        assert_eq!(connection_cap(512, Some(65_536)), 512);
        // Unlimited: as asked; never 0.
        assert_eq!(connection_cap(512, None), 512);
        assert_eq!(connection_cap(512, Some(100)), 1);
    }

    use crate::account::{ApiKey, AuthMethod, Backoff, KeyOrigin};
    use crate::guard::{Backend, Config, Guard, Journal, MemoryState, State};
    use tokio::io::AsyncReadExt;

    /// A guard on 127.0.0.1:0 with `limits`, its API at a port nothing listens on (these
    /// requests never get that far), serving until `stop` is sent.
    async fn guard(
        limits: Limits,
    ) -> (
        String,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Served>,
    ) {
        let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let api_url = format!("http://{}", unused.local_addr().expect("addr"));
        drop(unused);
        guard_for(limits, api_url).await
    }

    /// As [`guard`], its API at `api_url`.
    async fn guard_for(
        limits: Limits,
        api_url: String,
    ) -> (
        String,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Served>,
    ) {
        let config = Config {
            api_url,
            key: ApiKey::new("k3y", KeyOrigin::Env).expect("key"),
            auth: AuthMethod::Header,
            pricing: crate::pricing::Pricing::embedded().expect("pricing"),
            attempts: 1,
            timeout: Duration::from_millis(300),
            backoff: Backoff::default(),
            client_token: None,
            limits,
            on_overrun: None,
        };
        let state = Arc::new(State::new(
            Backend::Memory(MemoryState::new(1000)),
            10,
            Duration::from_secs(1),
            10,
        ));
        let guard = Guard::bind(
            "127.0.0.1:0".parse().expect("addr"),
            config,
            state,
            Arc::new(Journal::in_memory()),
        )
        .await
        .expect("bind");
        let addr = guard.local_addr().expect("addr").to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(guard.serve(async move {
            let _ = stopped.await;
        }));
        (addr, stop, served)
    }

    /// What the guard sends on a connection until it closes it (at most 10 s).
    async fn answer(stream: &mut TcpStream) -> String {
        let mut text = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut text)).await;
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Invariant: no connection is held longer than its limits allow: a head not sent within
    /// the header timeout is closed, a body not sent within the body timeout gets 408, a body
    /// above the limit 413, even without a Content-Length.
    #[tokio::test]
    async fn slow_and_large_requests_are_bounded() {
        let limits = Limits {
            header_timeout: Duration::from_millis(200),
            body_timeout: Duration::from_millis(200),
            max_body: 1000,
            ..Limits::default()
        };
        let (addr, stop, served) = guard(limits).await;
        let mut head = TcpStream::connect(&addr).await.expect("connect");
        head.write_all(b"GET /v1/backlinks/summary HTTP/1.1\r\n")
            .await
            .expect("send");
        let mut body = TcpStream::connect(&addr).await.expect("connect");
        body.write_all(
            b"POST /v1/backlinks/summary HTTP/1.1\r\nhost: g\r\ncontent-length: 50\r\n\r\n{",
        )
        .await
        .expect("send");
        let mut chunked = TcpStream::connect(&addr).await.expect("connect");
        let chunk = "x".repeat(600);
        chunked
            .write_all(
                format!("POST /v1/backlinks/summary HTTP/1.1\r\nhost: g\r\ntransfer-encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .expect("send");
        // The head timed out: closed without an answer (hyper sends none).
        assert!(!answer(&mut head).await.contains("200"));
        let text = answer(&mut body).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(
            text.contains("the request body did not arrive within"),
            "{text}"
        );
        let text = answer(&mut chunked).await;
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        let _ = stop.send(());
        assert_eq!(served.await.expect("served"), Served { abandoned: 0 });
    }

    /// Invariant: a stopping guard does not wait for connections that have no call: idle,
    /// half-sent heads and bodies being sent are dropped at once.
    #[tokio::test]
    async fn stopping_drops_connections_without_a_call() {
        let (addr, stop, served) = guard(Limits::default()).await;
        let mut head = TcpStream::connect(&addr).await.expect("connect");
        head.write_all(b"GET /v1/backlinks/summary HTTP/1.1\r\n")
            .await
            .expect("send");
        let mut body = TcpStream::connect(&addr).await.expect("connect");
        body.write_all(
            b"POST /v1/backlinks/summary HTTP/1.1\r\nhost: g\r\ncontent-length: 50\r\n\r\n{",
        )
        .await
        .expect("send");
        let _idle = TcpStream::connect(&addr).await.expect("connect");
        // Let the guard take them in (the body's request reaches the proxy), then stop.
        tokio::task::yield_now().await;
        let _ = stop.send(());
        // Default limits: 20 s header, 30 s body, 30 s grace; stopping must not wait for any.
        let served = tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("stopped within 5 s")
            .expect("served");
        assert_eq!(served, Served { abandoned: 0 });
        let text = answer(&mut body).await;
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 503"),
            "{text}"
        );
    }

    /// Invariant: at the cap, a connection whose call is in progress is never closed to make
    /// room; the newcomer gets a 503 and is counted, and the call goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_cap_with_every_connection_busy_is_a_503() {
        // An API that takes the call and never answers (the guard's timeout here is 300 ms).
        let api = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let api_url = format!("http://{}", api.local_addr().expect("addr"));
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let (addr, stop, served) = guard_for(limits, api_url).await;
        let mut busy = TcpStream::connect(&addr).await.expect("connect");
        busy.write_all(
            b"GET /v1/backlinks/export/status?task_id=1 HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n",
        )
            .await
            .expect("send");
        // The call is at the API: its connection has a call in progress.
        let (_upstream, _) = api.accept().await.expect("the call reaches the API");
        let mut over = TcpStream::connect(&addr).await.expect("connect");
        let text = answer(&mut over).await;
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(
            text.contains("the guard has too many open connections"),
            "{text}"
        );
        // The busy call ends with the API's silence (504 after the timeout), not a reset.
        let text = answer(&mut busy).await;
        assert!(text.starts_with("HTTP/1.1 504"), "{text}");
        let _ = stop.send(());
        assert_eq!(served.await.expect("served"), Served { abandoned: 0 });
    }

    #[tokio::test]
    async fn the_cap_closes_the_oldest_connection_without_a_call() {
        let connections = Connections::default();
        let (a, a_busy, _) = connections.admit(2).expect("first");
        let (_, _, b_close) = connections.admit(2).expect("second");
        // a has a call in progress; b is idle: the third takes b's place.
        let call_a = Busy::enter(&a_busy);
        let (c, c_busy, _) = connections.admit(2).expect("third");
        assert_eq!(
            connections.lock().open.keys().copied().collect::<Vec<_>>(),
            vec![a, c]
        );
        // b was told to close (a stored permit: its task sees it at once).
        assert!(
            tokio::time::timeout(Duration::from_secs(5), b_close.notified())
                .await
                .is_ok()
        );
        // Both remaining connections have a call in progress: a fourth is refused, until one
        // of the calls ends.
        let _call_c = Busy::enter(&c_busy);
        assert!(connections.admit(2).is_none());
        drop(call_a);
        assert!(connections.admit(2).is_some());
    }
}
