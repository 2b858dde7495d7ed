//! The API key: where it comes from, the one normaliser every copy of it goes through, and a
//! type that cannot print it.
//!
//! The same key may come from `SERANKING_API_KEY` or from a file an editor saved with a byte
//! order mark and a CRLF. Both copies must be the same key — for the API, for the scrubber, and
//! for [`account_id`], which names the account in the reservation ledger (two ids for one key
//! would let two gates spend the same units). So both go through [`normalise`], and nothing
//! else reads the raw text.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::AccountError;
use crate::files::{self, FileKind};

/// The environment variable holding the key.
pub const ENV_KEY: &str = "SERANKING_API_KEY";

/// Where a key was read from, for messages (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Env,
    File { path: PathBuf },
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env => write!(f, "{ENV_KEY}"),
            Self::File { path } => write!(f, "the key file {}", path.display()),
        }
    }
}

/// What is wrong with a secret (a key, a token) read from a file or a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretProblem {
    Empty,
    /// Spaces, tabs or line breaks between its characters (two lines, two keys …).
    Whitespace,
    /// Control characters (NUL, escape, …).
    Control,
    /// Characters outside ASCII (curly quotes, a non-breaking space, …).
    NonAscii,
    /// UTF-16 (what Windows PowerShell's `>` writes).
    Utf16,
    /// Not text at all.
    NotUtf8,
}

impl SecretProblem {
    /// The problem as the end of a sentence naming the source: "… {what}".
    pub fn what(self) -> &'static str {
        match self {
            Self::Empty => "is empty",
            Self::Whitespace => "contains spaces, line breaks or tabs",
            Self::Control => "contains control characters",
            Self::NonAscii => {
                "contains characters outside ASCII (such as curly quotes or a non-breaking space)"
            }
            Self::Utf16 => "is UTF-16 text; save it as UTF-8",
            Self::NotUtf8 => "is not UTF-8 text",
        }
    }
}

/// The one normaliser for secrets: a UTF-8 byte order mark and surrounding whitespace are
/// dropped; what is left must be non-empty printable ASCII with no inner whitespace (a header or
/// a query parameter can carry nothing else, and an SE Ranking key is a UUID).
pub fn normalise(bytes: &[u8]) -> Result<String, SecretProblem> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(SecretProblem::Utf16);
    }
    let text = std::str::from_utf8(files::strip_bom(bytes)).map_err(|_| SecretProblem::NotUtf8)?;
    let edge = |c: char| c.is_whitespace() || c == '\u{FEFF}';
    let secret = text.trim_matches(edge);
    if secret.is_empty() {
        Err(SecretProblem::Empty)
    } else if secret.chars().any(char::is_whitespace) {
        Err(SecretProblem::Whitespace)
    } else if secret.chars().any(char::is_control) {
        Err(SecretProblem::Control)
    } else if !secret.is_ascii() {
        Err(SecretProblem::NonAscii)
    } else {
        Ok(secret.to_string())
    }
}

/// The account name of runs without a key.
pub const OFFLINE: &str = "offline";

/// The account a key spends from, without the key: the first 16 hex digits of the SHA-256 of
/// the normalised key, or [`OFFLINE`] when there is no key. Every copy of one key (variable or
/// file, with or without a byte order mark) names the same account.
pub fn account_id(key: Option<&ApiKey>) -> String {
    match key {
        None => OFFLINE.to_string(),
        Some(key) => {
            let digest = Sha256::digest(key.secret.as_bytes());
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// An API key, normalised. `Debug` and `Display` never show it; only the transport, the
/// scrubber and [`account_id`] read it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    secret: String,
    origin: KeyOrigin,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(<redacted>, from {})", self.origin)
    }
}

impl ApiKey {
    /// The key from `--api-key-file FILE` when given, else from `SERANKING_API_KEY`; `None` when
    /// neither is set. An unusable key is an error naming its origin (never the key).
    pub fn from_env_or_file(file: Option<&Path>) -> Result<Option<ApiKey>, AccountError> {
        Self::load(file, std::env::var_os(ENV_KEY))
    }

    /// As [`ApiKey::from_env_or_file`], with the environment value passed in (for tests). The
    /// file is read bounded (4 KiB, regular files only, never blocking on a FIFO).
    pub fn load(
        file: Option<&Path>,
        env: Option<OsString>,
    ) -> Result<Option<ApiKey>, AccountError> {
        if let Some(path) = file {
            let bytes = files::read(path, FileKind::KeyFile)
                .map_err(|source| AccountError::KeyFile { source })?;
            let origin = KeyOrigin::File {
                path: path.to_path_buf(),
            };
            return Self::from_bytes(&bytes, origin).map(Some);
        }
        match env {
            None => Ok(None),
            Some(value) => {
                use std::os::unix::ffi::OsStringExt;
                Self::from_bytes(&value.into_vec(), KeyOrigin::Env).map(Some)
            }
        }
    }

    /// A key from text, normalised.
    pub fn new(text: &str, origin: KeyOrigin) -> Result<ApiKey, AccountError> {
        Self::from_bytes(text.as_bytes(), origin)
    }

    fn from_bytes(bytes: &[u8], origin: KeyOrigin) -> Result<ApiKey, AccountError> {
        match normalise(bytes) {
            Ok(secret) => Ok(ApiKey { secret, origin }),
            Err(SecretProblem::Empty) => Err(AccountError::EmptyKey { origin }),
            Err(problem) => Err(AccountError::KeyInvalid {
                origin,
                problem: problem.what(),
            }),
        }
    }

    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// The key itself: only for building a request and for scrubbing messages.
    pub(crate) fn expose(&self) -> &str {
        &self.secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn id_is(key: Option<&str>, expected: &str) {
        let key = key.map(|k| ApiKey::new(k, KeyOrigin::Env).unwrap());
        assert_eq!(account_id(key.as_ref()), expected);
    }

    #[test]
    fn account_ids_by_hand() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2 example)
        id_is(Some("abc"), "ba7816bf8f01cfea");
        id_is(Some("  abc\n"), "ba7816bf8f01cfea");
        id_is(Some("\u{FEFF}abc\r\n"), "ba7816bf8f01cfea");
        id_is(None, "offline");
    }

    const SECRET: &str = "5ec7e7c0-1eak-4b2f";

    #[track_caller]
    fn normalised(bytes: &[u8], expected: Result<&str, SecretProblem>) {
        assert_eq!(
            normalise(bytes).as_deref().map_err(|p| *p),
            expected,
            "{bytes:?}"
        );
    }

    #[test]
    fn the_normaliser_strips_a_bom_and_edges_and_refuses_the_rest() {
        use SecretProblem::*;
        normalised(b"abc", Ok("abc"));
        normalised(b"\xEF\xBB\xBFabc\r\n", Ok("abc"));
        normalised(b"  \t abc \n", Ok("abc"));
        // A BOM after leading whitespace, and a non-breaking space at the edge, go too.
        normalised(b" \xEF\xBB\xBFabc\xC2\xA0", Ok("abc"));
        normalised(b"", Err(Empty));
        normalised(b"\xEF\xBB\xBF \n", Err(Empty));
        normalised(b"ab c", Err(Whitespace));
        normalised(b"abc\ndef", Err(Whitespace));
        normalised(b"ab\x00c", Err(Control));
        normalised(b"ab\x1bc", Err(Control));
        normalised(b"ab\xE2\x80\x8Bc", Err(NonAscii)); // a zero-width space
        normalised("\u{201C}abc\u{201D}".as_bytes(), Err(NonAscii)); // curly quotes
        normalised(b"\xFF\xFEa\x00b\x00", Err(Utf16));
        normalised(b"ab\xFFc", Err(NotUtf8));
    }

    #[test]
    fn file_and_env_copies_of_one_key_are_one_key() {
        // The double-spend bug: a key file with a BOM and CRLF named another account than the
        // same key in the environment. Both must normalise to one key and one account id.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("\u{FEFF}{SECRET}\r\n")).unwrap();
        let from_file = ApiKey::load(Some(&path), None).unwrap().unwrap();
        let from_env = ApiKey::load(None, Some(format!("  {SECRET}\n").into()))
            .unwrap()
            .unwrap();
        assert_eq!(from_file.expose(), SECRET);
        assert_eq!(from_env.expose(), SECRET);
        assert_eq!(account_id(Some(&from_file)), account_id(Some(&from_env)));
    }

    #[test]
    fn file_wins_over_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("  {SECRET}\n")).unwrap();
        let key = ApiKey::load(Some(&path), Some("from-env".into()))
            .unwrap()
            .unwrap();
        assert_eq!(key.expose(), SECRET);
        assert_eq!(key.origin(), &KeyOrigin::File { path: path.clone() });
        assert!(ApiKey::load(None, None).unwrap().is_none());
    }

    #[track_caller]
    fn refused(file_bytes: Option<&[u8]>, env: Option<&[u8]>, phrase: &str) {
        use std::os::unix::ffi::OsStringExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        if let Some(bytes) = file_bytes {
            std::fs::write(&path, bytes).unwrap();
        }
        let file = env.is_none().then_some(path.as_path());
        let message = ApiKey::load(file, env.map(|e| OsString::from_vec(e.to_vec())))
            .unwrap_err()
            .to_string();
        assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
        assert!(!message.contains(SECRET), "{message:?} shows the key");
    }

    #[test]
    fn bad_keys_name_their_origin_never_the_key() {
        let two = format!("{SECRET}\n{SECRET}");
        let spaced = format!("{SECRET} {SECRET}");
        let nul = format!("{SECRET}\0");
        let curly = format!("\u{201C}{SECRET}\u{201D}");
        refused(Some(b" \n\t"), None, "the API key in the key file ");
        refused(Some(b""), None, "key.txt is empty");
        refused(
            None,
            Some(b"   "),
            "the API key in SERANKING_API_KEY is empty",
        );
        refused(
            Some(two.as_bytes()),
            None,
            "key.txt contains spaces, line breaks",
        );
        refused(
            None,
            Some(spaced.as_bytes()),
            "SERANKING_API_KEY contains spaces",
        );
        refused(
            None,
            Some(nul.as_bytes()),
            "SERANKING_API_KEY contains control characters",
        );
        refused(
            Some(curly.as_bytes()),
            None,
            "key.txt contains characters outside ASCII",
        );
        refused(
            None,
            Some(b"\xFFkey"),
            "SERANKING_API_KEY is not UTF-8 text",
        );
        refused(
            Some(b"\xFF\xFEk\x00"),
            None,
            "key.txt is UTF-16 text; save it as UTF-8",
        );
        refused(None, None, "cannot read the API key file");
        refused(None, None, "key.txt: no such file");
    }

    #[test]
    fn the_key_file_is_read_bounded() {
        let dir = tempfile::tempdir().unwrap();
        refused_path(dir.path(), "is a directory, not a regular file");
        refused_path(Path::new("/dev/zero"), "is a device, not a regular file");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'k'; 5000]).unwrap();
        refused_path(&big, "is larger than the 4 KiB limit");
    }

    #[track_caller]
    fn refused_path(path: &Path, phrase: &str) {
        let message = ApiKey::load(Some(path), None).unwrap_err().to_string();
        assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new(SECRET, KeyOrigin::Env).unwrap();
        assert_eq!(
            format!("{key:?}"),
            "ApiKey(<redacted>, from SERANKING_API_KEY)"
        );
    }
}
