//! The one transport for the SE Ranking API, used by the account reads (`client`) and by the
//! guard's forwarding: URL validation, authentication, the HTTP client, a body cap per use, and
//! the retry loop with its one classifier ([`classify`]) and one retry state ([`RetryState`]).
//!
//! Two uses differ only by [`Policy`]: a free read (the account's balance) may retry a call that
//! was sent but got no complete reply; a billable call (the guard's) may not, since the API may
//! have billed it. Everything else — what is retried, how long to wait, what "Insufficient funds"
//! means — is decided here, once. Every attempt may first pass a hook (the guard takes a slot in
//! its rate window there).
//!
//! It must never let the key out: the `Authorization` header is marked sensitive, reqwest errors
//! lose their URL, and every text it hands back has been through the [`Scrubber`]. It renders
//! nothing and decides nothing about budgets.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};

use super::envelope::{self, Class};
use super::retry::{self, Backoff, RetryState};
use super::{ApiKey, Scrubber};

/// Longest time to set up a connection (TCP + TLS); never longer than the call's own limit.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of an error reply is read for the vendor's text (which is at its start).
const MAX_ERROR_TEXT_BYTES: usize = 64 << 10;

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Token KEY` (the default).
    Header,
    /// `?apikey=KEY`.
    Query,
}

/// What one use of the transport may do.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Attempts per call, the first included (0 is read as 1).
    pub attempts: u32,
    /// Time for one call, from its first attempt: attempts and waits between them.
    pub timeout: Duration,
    /// Longest one attempt may take (within `timeout`), so a hung attempt leaves time to retry.
    pub attempt_timeout: Option<Duration>,
    pub backoff: Backoff,
    /// Replies larger than this are not read further (the reply is marked `too_large`).
    pub body_cap: usize,
    /// Whether a call that was sent but got no complete reply (timeout, connection lost) may be
    /// tried again: yes for a free read, never for a billable call (the API may have billed it).
    pub retry_lost: bool,
    pub user_agent: &'static str,
}

/// Why a transport could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// `--api-url` is not usable; `url` is as messages may show it.
    Url { url: String, reason: String },
    /// The key cannot be sent in a header.
    KeyNotSendable,
    /// The HTTP client could not be built (TLS setup).
    Client { reason: String },
}

/// The API's base URL, checked: http or https, a host, no query, no fragment, no credentials.
/// `url` in an error is the URL without credentials or query (or, when it cannot be parsed, the
/// text given, scrubbed): it never shows the key.
pub fn base_url(api_url: &str, scrubber: &Scrubber) -> Result<Url, SetupError> {
    let parsed = Url::parse(api_url.trim());
    let shown = match &parsed {
        Ok(url) => shown_url(url),
        Err(_) => scrubber.scrub(api_url.trim()).into_owned(),
    };
    let invalid = |reason: &str| SetupError::Url {
        url: shown.clone(),
        reason: reason.to_string(),
    };
    const GIVE: &str = "; give the base URL, e.g. https://api.seranking.com";
    let base = parsed.map_err(|e| invalid(&format!("{e}{GIVE}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(invalid(&format!("only http and https are supported{GIVE}")));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(invalid(
            "it carries credentials; the key goes in SERANKING_API_KEY or --api-key-file",
        ));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(invalid(
            "it carries a query or fragment; the key goes in SERANKING_API_KEY or --api-key-file",
        ));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(invalid(&format!("it has no host{GIVE}")));
    }
    Ok(base)
}

/// A URL for people: scheme, host, port and path; never a query, fragment or credentials.
pub fn shown_url(url: &Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path().trim_end_matches('/')
    )
}

/// One request to send: `path` under the base URL (`/v1/...`), the query as the client wrote
/// it (any parameter the API could read as the key is dropped), extra headers and a body.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: bytes::Bytes,
}

/// The API's reply to the last attempt of a call.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<HeaderValue>,
    /// `Retry-After` as sent.
    pub retry_after: Option<HeaderValue>,
    /// The body, at most the policy's `body_cap` bytes; not scrubbed (a success is the caller's).
    pub body: Vec<u8>,
    /// The body was longer than the cap and was not read further.
    pub too_large: bool,
    pub class: Class,
    /// For anything but a success: the vendor's text, one line, scrubbed, without its final full
    /// stop (messages go on after it with "; what to do").
    pub message: String,
}

impl Reply {
    /// `Retry-After` as a wait, when it can be read.
    pub fn retry_after_wait(&self) -> Option<Duration> {
        self.retry_after
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|t| retry::retry_after(t, chrono::Utc::now()))
    }
}

/// Why a call ended without a reply.
#[derive(Debug)]
pub enum Failure<E> {
    /// The per-attempt hook refused (the guard's rate window).
    Hook(E),
    /// The connection failed before the request was sent: nothing can have been billed.
    NotSent { reason: String },
    /// The request could not be made at all (nothing was sent); never retried.
    Unsendable { reason: String },
    /// Sent, but no complete reply: it may have been billed. `timed_out` when the time ran out.
    Lost { reason: String, timed_out: bool },
}

/// How a call went: its last reply (a success, a terminal refusal, or a retryable one when the
/// attempts or the time ran out) or why there is none.
#[derive(Debug)]
pub struct Exchange<E> {
    pub attempts: u32,
    /// Why each retried attempt was retried: the API's status, or `None` for a connection that
    /// failed before the request was sent.
    pub retried: Vec<Option<u16>>,
    /// From the call to its end, the hook's waits included.
    pub elapsed: Duration,
    pub result: Result<Reply, Failure<E>>,
}

/// The transport: one per run (account reads) or per guard.
pub struct Transport {
    http: reqwest::Client,
    base: Url,
    shown: String,
    key: ApiKey,
    auth: AuthMethod,
    authorization: HeaderValue,
    scrubber: Scrubber,
    policy: Policy,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.shown)
            .field("auth", &self.auth)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(
        api_url: &str,
        key: ApiKey,
        auth: AuthMethod,
        policy: Policy,
    ) -> Result<Transport, SetupError> {
        let scrubber = Scrubber::new(Some(key.expose()));
        let base = base_url(api_url, &scrubber)?;
        let shown = shown_url(&base);
        let mut authorization = HeaderValue::from_str(&format!("Token {}", key.expose()))
            .map_err(|_| SetupError::KeyNotSendable)?;
        authorization.set_sensitive(true);
        let http = http_client(policy.user_agent, policy.timeout)
            .build()
            .map_err(|e| SetupError::Client {
                reason: describe(e, &scrubber),
            })?;
        Ok(Transport {
            http,
            base,
            shown,
            key,
            auth,
            authorization,
            scrubber,
            policy,
        })
    }

    /// The base URL as messages show it (no credentials, no query).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The scrubber for this key: every text from the API passes through it before anyone sees it.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The URL of a request: `path` under the base path, the query without any key parameter,
    /// and the key when it goes in the query.
    pub fn url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        ));
        let kept = query.map(strip_key_params).unwrap_or_default();
        url.set_query((!kept.is_empty()).then_some(kept.as_str()));
        if self.auth == AuthMethod::Query {
            url.query_pairs_mut()
                .append_pair("apikey", self.key.expose());
        }
        url
    }

    /// Sends `request` without a per-attempt hook.
    pub async fn send_free(&self, request: &Request<'_>) -> Exchange<std::convert::Infallible> {
        self.send(request, || async { Ok::<(), _>(()) }).await
    }

    /// Sends `request`, retried by the module's rules; `before_attempt` runs before every
    /// attempt (the first included) and may end the call (what it returns otherwise is unused).
    pub async fn send<T, E, H, F>(
        &self,
        request: &Request<'_>,
        mut before_attempt: H,
    ) -> Exchange<E>
    where
        H: FnMut() -> F,
        F: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let url = self.url(request.path, request.query);
        let mut state: Option<RetryState> = None;
        let mut last: Option<Result<Reply, Failure<E>>> = None;
        let mut retried = Vec::new();
        let end = |state: &Option<RetryState>, retried: Vec<Option<u16>>, result| Exchange {
            attempts: state.as_ref().map_or(0, RetryState::attempts),
            retried,
            elapsed: started.elapsed(),
            result,
        };
        loop {
            if let Err(e) = before_attempt().await {
                return end(&state, retried, Err(Failure::Hook(e)));
            }
            let retry = state.get_or_insert_with(|| {
                RetryState::start(
                    self.policy.attempts,
                    self.policy.timeout,
                    self.policy.backoff,
                )
            });
            let remaining = retry.remaining();
            if remaining.is_zero() {
                // The hook took the rest of the time: end with the last reply in hand.
                if let Some(last) = last.take() {
                    return end(&state, retried, last);
                }
            }
            let limit = self
                .policy
                .attempt_timeout
                .map_or(remaining, |t| t.min(remaining));
            retry.attempt();
            let result = match tokio::time::timeout(limit, self.attempt(request, &url)).await {
                Err(_) => Err(Failure::Lost {
                    reason: "no reply in time".into(),
                    timed_out: true,
                }),
                Ok(Err(e)) => Err(self.failure(e)),
                Ok(Ok(reply)) => Ok(reply),
            };
            let (retryable, asked) = match &result {
                Ok(reply) => (reply.class == Class::Retry, reply.retry_after_wait()),
                Err(Failure::NotSent { .. }) => (true, None),
                Err(Failure::Lost { .. }) => (self.policy.retry_lost, None),
                Err(Failure::Unsendable { .. } | Failure::Hook(_)) => (false, None),
            };
            let wait = if retryable {
                retry.next_wait(asked)
            } else {
                None
            };
            let Some(wait) = wait else {
                return end(&state, retried, result);
            };
            retried.push(match &result {
                Ok(reply) => Some(reply.status),
                Err(_) => None,
            });
            last = Some(result);
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: the request, the status and headers, the body up to the cap.
    async fn attempt(&self, request: &Request<'_>, url: &Url) -> Result<Reply, reqwest::Error> {
        let mut builder = self.http.request(request.method.clone(), url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if self.auth == AuthMethod::Header {
            builder = builder.header(AUTHORIZATION, self.authorization.clone());
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        let mut response = builder.send().await?;
        let status = response.status().as_u16();
        let header = |name| response.headers().get(name).cloned();
        let content_type = header(CONTENT_TYPE);
        let retry_after = header(RETRY_AFTER);
        let cap = self.policy.body_cap;
        let mut body = Vec::new();
        let mut too_large = response.content_length().is_some_and(|n| n > cap as u64);
        while !too_large {
            let Some(chunk) = response.chunk().await? else {
                break;
            };
            if body.len() + chunk.len() > cap {
                too_large = true;
            } else {
                body.extend_from_slice(&chunk);
            }
        }
        let (class, message) = if (200..300).contains(&status) {
            (Class::Success, String::new())
        } else {
            // The vendor's text is near the start; a huge error page is not scrubbed whole for it.
            let head = &body[..body.len().min(MAX_ERROR_TEXT_BYTES)];
            let message = envelope::error_text(head, &self.scrubber)
                .trim_end_matches('.')
                .to_string();
            (envelope::classify(status, &message), message)
        };
        Ok(Reply {
            status,
            content_type,
            retry_after,
            body,
            too_large,
            class,
            message,
        })
    }

    /// What a reqwest error means for the call: a connection that failed before sending, a
    /// request that could not be made, or a call sent without a complete reply.
    fn failure<E>(&self, e: reqwest::Error) -> Failure<E> {
        let timed_out = e.is_timeout();
        if e.is_connect() {
            Failure::NotSent {
                reason: describe(e, &self.scrubber),
            }
        } else if e.is_builder() {
            Failure::Unsendable {
                reason: describe(e, &self.scrubber),
            }
        } else {
            Failure::Lost {
                reason: describe(e, &self.scrubber),
                timed_out,
            }
        }
    }
}

/// `query` without the parameters the API could read as the key (see [`reads_as_apikey`]); the
/// others are kept as written.
pub fn strip_key_params(query: &str) -> String {
    query
        .split('&')
        .filter(|segment| !segment.is_empty())
        // Some servers also split on `;` (`target=a;apikey=K`): a segment goes if any of its
        // `;` parts reads as the key, or if one is hidden in it for a server that decodes the
        // query before splitting it (`x=1%26apikey%3DK`).
        .filter(|segment| {
            !segment
                .split(';')
                .any(|part| reads_as_apikey(part.split('=').next().unwrap_or("")))
                && !hidden_names(&form_decode(segment))
                    .iter()
                    .any(|name| reads_as_apikey(name))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The names a server that decodes a whole query string before splitting it (once, or again as
/// [`read_name`] allows for) finds inside one decoded `name=value` part of it: what
/// follows each `&` or `;` in it, up to its `=` (`x=1&limit=9000` from `x=1%26limit%3D9000`,
/// `x&limit=9000` from `x%26limit=9000`). A name without an `=` after it is no parameter and is
/// left out.
pub fn hidden_names(part: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut text = part.to_string();
    for _ in 0..3 {
        for piece in text.split(['&', ';']).skip(1) {
            if let Some((name, _)) = piece.split_once('=') {
                if !found.iter().any(|f| f == name) {
                    found.push(name.to_string());
                }
            }
        }
        let decoded = form_decode(&text);
        if decoded == text {
            break;
        }
        text = decoded;
    }
    found
}

/// The one way this tool builds an HTTP client, for the API and for its own calls (the guard's
/// admin client, alert webhooks): redirects never followed (a redirect could carry the key to
/// another host), connecting bounded by [`CONNECT_TIMEOUT`] or `timeout` if shorter. Callers
/// add a whole-request timeout where they need one.
pub fn http_client(user_agent: &str, timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent.to_string())
}

/// Whether a server could read a query parameter written `raw` (before `=`) as `apikey`: its
/// [`read_name`] is `apikey`.
pub fn reads_as_apikey(raw: &str) -> bool {
    read_name(raw) == "apikey"
}

/// The name a lenient server may read a query parameter (or form field) written `raw` (before
/// `=`) as: decoded (`+` is a space, `%XX` a byte — and again, up to three times, for servers
/// that decode twice: `%2561pikey`), without leading spaces, `+` or control characters (PHP trims
/// them), cut at a NUL (C strings: `apikey%00x`) or a `[` (PHP arrays: `apikey[]`, `apikey[0]`),
/// without trailing spaces or control characters, in ASCII lower case.
///
/// One reading for every name the guard must not let slip past it under another spelling: the
/// key parameter (stripped, [`strip_key_params`]) and the parameters that change a call's price
/// (refused unless spelled exactly, `guard::price`).
pub fn read_name(raw: &str) -> String {
    let (base, _) = read_key(raw);
    base
}

/// `text` decoded once as a query string's parts are: `%XX` a byte (invalid UTF-8 replaced), `+`
/// a space; `&`, `;` and `=` are kept as they are.
pub fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('&', "%26")).as_bytes())
        .map(|(_, value)| value.into_owned())
        .next()
        .unwrap_or_default()
}

/// [`read_name`] of `raw`, and what follows its first `[` (decoded and trimmed the same way, not
/// cut or lowered): `settings%5Bmax_pages%5D` is `("settings", Some("max_pages]"))`.
pub fn read_key(raw: &str) -> (String, Option<String>) {
    let mut name = raw.to_string();
    for _ in 0..3 {
        // A name decoded to `limit=9000&x` is read up to its first `=` or `&`, as a server that
        // decodes the query string before splitting it reads it (`limit`).
        let decoded = form_decode(&name);
        let decoded = decoded.split(['&', '=']).next().unwrap_or("").to_string();
        if decoded == name {
            break;
        }
        name = decoded;
    }
    let name = name.trim_start_matches(|c: char| c.is_whitespace() || c.is_control() || c == '+');
    let name = name.split('\0').next().unwrap_or("");
    let (base, rest) = match name.split_once('[') {
        Some((base, rest)) => (base, Some(rest.to_string())),
        None => (name, None),
    };
    let base = base
        .trim_end_matches(|c: char| c.is_whitespace() || c.is_control())
        .to_ascii_lowercase();
    (base, rest)
}

/// A reqwest error's reason, without its URL (which may hold `apikey=`), scrubbed anyway; one
/// line, lower-case first letter.
pub fn describe(e: reqwest::Error, scrubber: &Scrubber) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(inner) = source {
        reason = match inner.downcast_ref::<std::io::Error>() {
            Some(io) => crate::io_reason(io),
            None => inner.to_string(),
        };
        source = inner.source();
    }
    if e.is_connect() && !reason.to_lowercase().contains("connect") {
        reason = format!("cannot connect ({reason})");
    }
    let reason = envelope::one_line(&scrubber.scrub(&reason));
    let mut chars = reason.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{KeyOrigin, Terminal};

    const SECRET: &str = "5ec7e7c0-1eak";

    fn policy() -> Policy {
        Policy {
            attempts: 5,
            timeout: Duration::from_secs(20),
            attempt_timeout: None,
            backoff: Backoff::default(),
            body_cap: 1 << 20,
            retry_lost: true,
            user_agent: "budget-test",
        }
    }

    fn transport(api_url: &str, auth: AuthMethod) -> Result<Transport, SetupError> {
        let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
        Transport::new(api_url, key, auth, policy())
    }

    #[track_caller]
    fn url_is(api_url: &str, auth: AuthMethod, path: &str, query: Option<&str>, expected: &str) {
        let t = transport(api_url, auth).unwrap();
        assert_eq!(t.url(path, query).as_str(), expected);
    }

    #[test]
    fn urls_join_and_carry_the_key_only_in_query_mode() {
        use AuthMethod::*;
        let sub = "https://api.seranking.com/v1/account/subscription";
        url_is(
            "https://api.seranking.com",
            Header,
            "v1/account/subscription",
            None,
            sub,
        );
        url_is(
            "https://api.seranking.com/",
            Header,
            "/v1/account/subscription",
            None,
            sub,
        );
        url_is(
            "http://127.0.0.1:8080/proxy/",
            Query,
            "v1/account/subscription",
            None,
            "http://127.0.0.1:8080/proxy/v1/account/subscription?apikey=5ec7e7c0-1eak",
        );
        // The client's own key parameter is dropped, the rest kept as written.
        url_is(
            "http://127.0.0.1:8080",
            Header,
            "/v1/backlinks/summary",
            Some("target=a.com&APIKEY=x&mode=host"),
            "http://127.0.0.1:8080/v1/backlinks/summary?target=a.com&mode=host",
        );
        // Every spelling a server might read as the key (brackets, a leading `+`, encoded
        // NULs and letters, `;` separators, repeats) is dropped; the invariant: no client-sent
        // key reaches the API.
        for query in [
            "apikey[]=x",
            "apikey%5B%5D=x",
            "apikey[0]=x",
            "apikey%00=x",
            "+apikey=x",
            "%20apikey=x",
            "%61pikey=x",
            "ApiKey=x&apikey=y&APIKEY=z",
            "apikey",
            "mode=host;apikey=x",
        ] {
            url_is(
                "http://127.0.0.1:8080",
                Header,
                "/v1/backlinks/summary",
                Some(&format!("target=a.com&{query}&limit=5")),
                "http://127.0.0.1:8080/v1/backlinks/summary?target=a.com&limit=5",
            );
        }
        // Names that only contain the word are kept.
        url_is(
            "http://127.0.0.1:8080",
            Header,
            "/v1/backlinks/summary",
            Some("apikeys=1&my_apikey=2"),
            "http://127.0.0.1:8080/v1/backlinks/summary?apikeys=1&my_apikey=2",
        );
        url_is(
            "http://127.0.0.1:8080",
            Query,
            "/v1/backlinks/summary",
            Some("apikey=x"),
            "http://127.0.0.1:8080/v1/backlinks/summary?apikey=5ec7e7c0-1eak",
        );
    }

    #[track_caller]
    fn bad_url(api_url: &str, shown: &str, phrase: &str) {
        match transport(api_url, AuthMethod::Header).unwrap_err() {
            SetupError::Url { url, reason } => {
                assert_eq!(url, shown);
                assert!(reason.contains(phrase), "{reason:?} lacks {phrase:?}");
                assert!(!url.contains(SECRET) && !reason.contains(SECRET));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unusable_urls_never_show_the_key() {
        bad_url(
            "api.seranking.com",
            "api.seranking.com",
            "relative URL without a base",
        );
        bad_url(
            "ftp://api.seranking.com",
            "ftp://api.seranking.com",
            "only http and https are supported",
        );
        bad_url(
            "https://api.seranking.com/?apikey=5ec7e7c0-1eak",
            "https://api.seranking.com",
            "it carries a query or fragment",
        );
        bad_url(
            "https://api.seranking.com/#5ec7e7c0-1eak",
            "https://api.seranking.com",
            "it carries a query or fragment",
        );
        bad_url(
            "https://me:5ec7e7c0-1eak@api.seranking.com",
            "https://api.seranking.com",
            "it carries credentials",
        );
    }

    #[test]
    fn every_spelling_a_server_may_read_as_apikey_is_dropped() {
        for name in [
            "apikey",
            "APIKEY",
            "ApiKey",
            "apikey[]",
            "apikey[0]",
            "apikey%5B%5D",
            "apikey%5b0%5d",
            "+apikey",
            "%20apikey",
            "++apikey",
            "%09apikey",
            "apikey%00",
            "apikey%00junk",
            "%61pikey",
            "%41PIKEY",
            "%2561pikey",
            "%252561pikey",
            "apikey%20",
            "api%6Bey",
        ] {
            assert!(reads_as_apikey(name), "{name}");
        }
        for name in [
            "api_key", "apikeys", "xapikey", "api key", "api.key", "target", "",
        ] {
            assert!(!reads_as_apikey(name), "{name}");
        }
        // Repeated, with or without a value; everything else kept as written.
        assert_eq!(
            strip_key_params(
                "target=a.com&apikey=1&APIKEY[]=2&+apikey&apikey%00=3&mode=host&target=b%2Ec"
            ),
            "target=a.com&mode=host&target=b%2Ec"
        );
    }

    #[test]
    fn the_header_is_sensitive_and_debug_hides_the_key() {
        let t = transport("https://api.seranking.com", AuthMethod::Header).unwrap();
        assert!(t.authorization.is_sensitive());
        assert!(!format!("{t:?}").contains(SECRET), "{t:?}");
    }

    #[test]
    fn shown_urls_have_no_credentials_or_query() {
        let shown = |u: &str| shown_url(&Url::parse(u).expect("url"));
        assert_eq!(
            shown("https://user:secret@api.example.com:8443/base/?apikey=K"),
            "https://api.example.com:8443/base"
        );
        assert_eq!(shown("http://127.0.0.1:1/"), "http://127.0.0.1:1");
    }

    /// What the test server does with one connection.
    #[derive(Clone)]
    enum Canned {
        /// Status, body and `Retry-After`.
        Reply(u16, &'static str, Option<&'static str>),
        /// Reads the request, then closes the connection without a word.
        HangUp,
    }

    /// A server on 127.0.0.1 answering each connection with the next canned reply (the last one
    /// repeats); returns its URL and the count of requests it read.
    async fn serve(
        canned: Vec<Canned>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let reply = canned[n.min(canned.len() - 1)].clone();
                if let Canned::Reply(status, body, retry_after) = reply {
                    let extra = retry_after
                        .map(|r| format!("Retry-After: {r}\r\n"))
                        .unwrap_or_default();
                    let text = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(text.as_bytes()).await;
                }
                drop(socket);
            }
        });
        (url, count)
    }

    fn quick(retry_lost: bool) -> Policy {
        Policy {
            attempts: 4,
            timeout: Duration::from_secs(10),
            attempt_timeout: None,
            backoff: Backoff {
                base: Duration::from_millis(1),
            },
            body_cap: 1 << 10,
            retry_lost,
            user_agent: "budget-test",
        }
    }

    fn get(path: &str) -> Request<'_> {
        Request {
            method: Method::GET,
            path,
            query: None,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        }
    }

    /// Sends one GET to a server serving `canned` with `policy`; the exchange and the requests
    /// the server read.
    fn exchange(
        canned: Vec<Canned>,
        policy: Policy,
    ) -> (Exchange<std::convert::Infallible>, usize) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (url, count) = serve(canned).await;
            let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
            let t = Transport::new(&url, key, AuthMethod::Header, policy).unwrap();
            let exchange = t.send_free(&get("/v1/x")).await;
            (exchange, count.load(std::sync::atomic::Ordering::SeqCst))
        })
    }

    const FUNDS: &str =
        r#"{"error_description": "Insufficient funds, API key is temporarily disabled."}"#;

    #[test]
    fn retryable_replies_are_retried_until_success() {
        let (e, requests) = exchange(
            vec![
                Canned::Reply(503, r#"{"message": "Service Unavailable"}"#, None),
                Canned::Reply(429, "{}", None),
                Canned::Reply(200, "{}", None),
            ],
            quick(false),
        );
        let reply = e.result.unwrap();
        assert_eq!(
            (reply.status, reply.class, e.attempts, requests),
            (200, Class::Success, 3, 3)
        );
    }

    #[test]
    fn insufficient_funds_is_terminal_even_in_a_503_for_both_uses() {
        // The invariant: one classifier for every path; the guard used to retry any 5xx.
        for retry_lost in [false, true] {
            let (e, requests) = exchange(vec![Canned::Reply(503, FUNDS, None)], quick(retry_lost));
            let reply = e.result.unwrap();
            assert_eq!(
                (reply.class, e.attempts, requests),
                (Class::Terminal(Terminal::InsufficientFunds), 1, 1)
            );
            assert_eq!(
                reply.message,
                "Insufficient funds, API key is temporarily disabled"
            );
        }
    }

    #[test]
    fn a_call_lost_after_sending_is_retried_only_when_free() {
        let canned = vec![Canned::HangUp, Canned::Reply(200, "{}", None)];
        // Billable: sent, no reply, maybe billed: never sent again.
        let (e, requests) = exchange(canned.clone(), quick(false));
        assert!(
            matches!(
                e.result,
                Err(Failure::Lost {
                    timed_out: false,
                    ..
                })
            ),
            "{:?}",
            e.result
        );
        assert_eq!((e.attempts, requests), (1, 1));
        // Free read: tried again, answered.
        let (e, requests) = exchange(canned, quick(true));
        assert_eq!(e.result.unwrap().status, 200);
        assert_eq!((e.attempts, requests), (2, 2));
    }

    #[test]
    fn a_connection_refused_before_sending_is_retried() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
        let t = Transport::new(&url, key, AuthMethod::Header, quick(false)).unwrap();
        let e = runtime.block_on(t.send_free(&get("/v1/x")));
        // 4 attempts, all refused: nothing was sent, so even a billable call is retried.
        assert_eq!(e.attempts, 4);
        match e.result {
            Err(Failure::NotSent { reason }) => {
                assert!(reason.contains("refused"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_beyond_the_cap_ends_the_call_with_the_reply() {
        let (e, requests) = exchange(
            vec![
                Canned::Reply(429, "{}", Some("3600")),
                Canned::Reply(200, "{}", None),
            ],
            quick(false),
        );
        let reply = e.result.unwrap();
        assert_eq!(
            (reply.status, reply.class, requests),
            (429, Class::Retry, 1)
        );
        assert_eq!(reply.retry_after_wait(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn bodies_above_the_cap_are_marked() {
        const BIG: &str = concat!(
            "[",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000,",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000,",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000,",
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000]"
        );
        let mut policy = quick(false);
        policy.body_cap = 100;
        let (e, _) = exchange(vec![Canned::Reply(200, BIG, None)], policy);
        let reply = e.result.unwrap();
        assert!(reply.too_large && reply.body.len() <= 100);
    }

    #[test]
    fn the_hook_runs_before_every_attempt_and_may_end_the_call() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (url, count) = serve(vec![Canned::Reply(503, "{}", None)]).await;
            let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
            let t = Transport::new(&url, key, AuthMethod::Header, quick(false)).unwrap();
            let hooks = std::cell::Cell::new(0);
            // Grants two slots, refuses the third.
            let e = t
                .send(&get("/v1/x"), || {
                    hooks.set(hooks.get() + 1);
                    let n = hooks.get();
                    async move {
                        if n <= 2 {
                            Ok(())
                        } else {
                            Err("window full")
                        }
                    }
                })
                .await;
            assert!(matches!(e.result, Err(Failure::Hook("window full"))));
            assert_eq!(e.attempts, 2);
            assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
        });
    }
}
