//! The live dashboard's route (`GET /budget/` on the guard's listeners; docs/guard.md "The
//! dashboard"): who may see it and how a browser proves it, the page's security headers, and
//! what the page is rendered from. The page itself is `report`'s (the guard renders nothing):
//! `commands` hands a renderer in through [`super::Ops::dashboard`].
//!
//! **Signing in without a header.** A browser opening a link sends no `X-Budget-Token`. A guard
//! with a token therefore answers `/budget/` with a small form; the token typed (or pasted) into
//! it is POSTed to [`LOGIN_PATH`] — in a request body, never in a URL, so it stays out of the
//! browser's history, `Referer` headers and any proxy's access log — and, when it is one of the
//! listener's tokens, answered with a cookie and a redirect back to `/budget/`. The cookie is
//! not the token: it is HMAC-SHA-256(token, [`COOKIE_LABEL`]), `HttpOnly` (no script reads
//! it), `SameSite=Strict` (no other site's page sends it), `Path=/budget/` and without
//! `Max-Age` (gone when the browser closes). It opens only `GET /budget/` and `GET
//! /budget/status`: never an API call, never the admin endpoint, so a stolen cookie neither
//! spends units nor raises the budget, and rotating the token ends every cookie made from it.
//! Tools can keep sending the token in a header instead.
//!
//! The page is server-rendered (readable without script); a few lines of inline script, allowed
//! by a per-response nonce in the Content-Security-Policy (`default-src 'none'`, `connect-src
//! 'self'`), refresh its figures from `/budget/status` every [`Refresh`] (`--dashboard-refresh`,
//! 5 s unless told).

use sha2::{Digest, Sha256};

use super::status::Status;

/// The dashboard's path.
pub const DASHBOARD_PATH: &str = "/budget/";
/// Where the sign-in form posts the token.
pub const LOGIN_PATH: &str = "/budget/login";
/// The cookie's name.
pub const COOKIE: &str = "budget_guard_dashboard";
/// What the cookie's HMAC is of: a fixed label, so that the cookie is good for nothing else.
pub const COOKIE_LABEL: &[u8] = b"budget guard dashboard cookie v1";
/// How often the page's script refreshes the figures (`budget guard --dashboard-refresh
/// SECONDS`, docs/guard.md "The dashboard"): whole seconds from [`Refresh::MIN_SECONDS`] to
/// [`Refresh::MAX_SECONDS`], [`Refresh::DEFAULT_SECONDS`] unless told. Below a second every
/// open page would poll the status (and, in Redis mode, Redis) faster than a person reads it;
/// above an hour the page is a reload away anyway, and the bound keeps the script's
/// milliseconds far from the browsers' timer limit (2³¹ − 1 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    seconds: u32,
}

impl Refresh {
    /// The interval when `--dashboard-refresh` is not given.
    pub const DEFAULT_SECONDS: u32 = 5;
    /// The shortest interval taken.
    pub const MIN_SECONDS: u32 = 1;
    /// The longest interval taken (an hour).
    pub const MAX_SECONDS: u32 = 3600;

    /// `seconds` as an interval, or `None` outside [`Self::MIN_SECONDS`]..=[`Self::MAX_SECONDS`].
    pub fn from_seconds(seconds: u64) -> Option<Refresh> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| (Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(s))
            .map(|seconds| Refresh { seconds })
    }

    /// The interval in seconds.
    pub fn seconds(self) -> u32 {
        self.seconds
    }

    /// The interval in milliseconds (what the page's script waits).
    pub fn millis(self) -> u64 {
        u64::from(self.seconds) * 1000
    }
}

impl Default for Refresh {
    fn default() -> Refresh {
        Refresh {
            seconds: Self::DEFAULT_SECONDS,
        }
    }
}
/// Largest sign-in form read.
pub const MAX_FORM: usize = 4096;

/// What the renderer is asked to draw.
pub enum Page<'a> {
    /// The figures.
    Dashboard {
        status: &'a Status,
        /// The script's and the style's nonce.
        nonce: &'a str,
        /// Which listener: `true` for the operator's (metrics) listener.
        operator: bool,
        /// How often the page's script refreshes the figures (`--dashboard-refresh`).
        refresh: Refresh,
    },
    /// The sign-in form (`failed`: a wrong token was just sent).
    SignIn { nonce: &'a str, failed: bool },
}

/// The cookie value a token opens the dashboard with.
pub fn cookie_value(token: &str) -> String {
    hex(&super::admin::hmac_sha256(token.as_bytes(), COOKIE_LABEL))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh nonce for one response's Content-Security-Policy.
pub fn nonce() -> String {
    let mut h = Sha256::new();
    h.update(rand::random::<u128>().to_be_bytes());
    hex(&h.finalize()[..16])
}

/// The dashboard cookie a request carries, if any.
pub fn presented_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value.trim())
        })
}

/// The token in a sign-in form body (`token=…`, form-encoded).
pub fn form_token(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The page's security headers: its CSP with `nonce`, no caching, no sniffing, no referrer, no
/// framing.
pub fn headers(nonce: &str) -> Vec<(axum::http::HeaderName, String)> {
    use axum::http::header;
    vec![
        (
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
        ),
        (header::CONTENT_TYPE, "text/html; charset=utf-8".into()),
        (header::CACHE_CONTROL, "no-store".into()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        (header::REFERRER_POLICY, "no-referrer".into()),
        (header::X_FRAME_OPTIONS, "DENY".into()),
    ]
}

/// The `Set-Cookie` of a signed-in browser.
pub fn set_cookie(token: &str) -> String {
    format!(
        "{COOKIE}={}; Path={DASHBOARD_PATH}; HttpOnly; SameSite=Strict",
        cookie_value(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_not_the_token_and_is_read_back() {
        let value = cookie_value("tok-123");
        assert_eq!(value.len(), 64);
        assert!(!value.contains("tok-123"));
        assert_ne!(value, cookie_value("tok-124"));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("other=1; {COOKIE}={value}").parse().unwrap(),
        );
        assert_eq!(presented_cookie(&headers), Some(value.as_str()));
        assert_eq!(
            form_token(b"token=tok%2D123+&x=1").as_deref(),
            Some("tok-123")
        );
        assert_eq!(form_token(b"token="), None);
        assert!(set_cookie("t").contains("HttpOnly; SameSite=Strict"));
    }

    /// Invariant: the refresh interval is whole seconds from 1 to 3,600 (an hour), 5 unless
    /// told; anything else is no interval (the flag's check refuses it).
    #[test]
    fn the_refresh_interval_is_bounded() {
        #[track_caller]
        fn case(seconds: u64, millis: Option<u64>) {
            assert_eq!(Refresh::from_seconds(seconds).map(Refresh::millis), millis);
        }
        case(0, None);
        case(1, Some(1_000));
        case(5, Some(5_000));
        // 3,600 s × 1,000 = 3,600,000 ms.
        case(3600, Some(3_600_000));
        case(3601, None);
        // Past u32: still refused, not wrapped (2³² + 1 would wrap to 1).
        case(u64::from(u32::MAX) + 2, None);
        assert_eq!(Refresh::default().seconds(), 5);
    }
}
