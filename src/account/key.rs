//! The API key: where it comes from, and a type that cannot print it.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::AccountError;

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

/// The account name of runs without a key.
pub const OFFLINE: &str = "offline";

/// The account a key spends from, without the key: the first 16 hex digits of its SHA-256, or
/// [`OFFLINE`] when there is no key. Surrounding whitespace (a key file's newline) is ignored.
pub fn account_id(api_key: Option<&str>) -> String {
    match api_key.map(str::trim).filter(|k| !k.is_empty()) {
        None => OFFLINE.to_string(),
        Some(key) => {
            let digest = Sha256::digest(key.as_bytes());
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// An API key. `Debug` and `Display` never show it; only the client reads it.
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
    /// neither is set. An empty (after trimming) or unsendable key is an error naming its origin.
    pub fn from_env_or_file(file: Option<&Path>) -> Result<Option<ApiKey>, AccountError> {
        Self::load(file, std::env::var_os(ENV_KEY))
    }

    /// As [`ApiKey::from_env_or_file`], with the environment value passed in (for tests).
    pub fn load(
        file: Option<&Path>,
        env: Option<OsString>,
    ) -> Result<Option<ApiKey>, AccountError> {
        if let Some(path) = file {
            let bytes = std::fs::read(path).map_err(|e| AccountError::KeyFile {
                path: path.to_path_buf(),
                reason: crate::io_reason(&e),
            })?;
            let origin = KeyOrigin::File {
                path: path.to_path_buf(),
            };
            let text = String::from_utf8(bytes).map_err(|_| AccountError::KeyInvalid {
                origin: origin.clone(),
            })?;
            return Self::new(&text, origin).map(Some);
        }
        match env {
            None => Ok(None),
            Some(value) => {
                let text = value.into_string().map_err(|_| AccountError::KeyInvalid {
                    origin: KeyOrigin::Env,
                })?;
                Self::new(&text, KeyOrigin::Env).map(Some)
            }
        }
    }

    /// A key from text (trimmed). Inner whitespace or control characters cannot be sent in a
    /// header or a query, so they are an error rather than a confusing authentication failure.
    pub fn new(text: &str, origin: KeyOrigin) -> Result<ApiKey, AccountError> {
        let secret = text.trim();
        if secret.is_empty() {
            return Err(AccountError::EmptyKey { origin });
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AccountError::KeyInvalid { origin });
        }
        Ok(ApiKey {
            secret: secret.to_string(),
            origin,
        })
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
        assert_eq!(account_id(key), expected, "key {:?}", key.map(|_| "…"));
    }

    #[test]
    fn account_ids_by_hand() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2 example)
        id_is(Some("abc"), "ba7816bf8f01cfea");
        id_is(Some("  abc\n"), "ba7816bf8f01cfea");
        id_is(None, "offline");
        id_is(Some(""), "offline");
        id_is(Some(" \n"), "offline");
    }

    const SECRET: &str = "5ec7e7c0-1eak-4b2f";

    #[test]
    fn file_wins_over_env_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("  {SECRET}\n")).unwrap();
        let key = ApiKey::load(Some(&path), Some("from-env".into()))
            .unwrap()
            .unwrap();
        assert_eq!(key.expose(), SECRET);
        assert_eq!(key.origin(), &KeyOrigin::File { path: path.clone() });
        let key = ApiKey::load(None, Some(format!("{SECRET}\r\n").into()))
            .unwrap()
            .unwrap();
        assert_eq!((key.expose(), key.origin()), (SECRET, &KeyOrigin::Env));
        assert!(ApiKey::load(None, None).unwrap().is_none());
    }

    #[track_caller]
    fn refused(file_text: Option<&str>, env: Option<&str>, phrase: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        if let Some(text) = file_text {
            std::fs::write(&path, text).unwrap();
        }
        let file = env.is_none().then_some(path.as_path());
        let message = ApiKey::load(file, env.map(Into::into))
            .unwrap_err()
            .to_string();
        assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
        assert!(!message.contains(SECRET), "{message:?} shows the key");
    }

    #[test]
    fn bad_keys_name_their_origin() {
        refused(Some(" \n\t"), None, "the API key in the key file ");
        refused(Some(""), None, "key.txt is empty");
        refused(
            None,
            Some("   "),
            "the API key in SERANKING_API_KEY is empty",
        );
        refused(
            Some(&format!("{SECRET}\n{SECRET}")),
            None,
            "key.txt contains spaces, line breaks",
        );
        refused(
            None,
            Some(&format!("{SECRET} {SECRET}")),
            "SERANKING_API_KEY contains spaces",
        );
        refused(None, None, "cannot read the API key file");
        refused(None, None, "key.txt: no such file");
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
