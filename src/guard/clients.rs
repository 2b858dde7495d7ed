//! Per-client budgets (`--clients clients.yaml`): several teams or jobs behind one guard (one
//! SE Ranking key), each known by its own token, each with an optional budget of its own and an
//! optional share of the rate. A call is charged to its client and to the guard's total; a client
//! over its own budget is refused (402) while the others go on (docs/guard.md "Running the guard for others").
//!
//! ```yaml
//! clients:
//!   - name: seo-audit          # letters, digits, '-', '_', '.'; at most 64
//!     token_file: /etc/budget/seo-audit.token
//!     budget: 40%              # units (250k) or a percentage of the guard's budget; optional
//!     rate_share: 50%          # a percentage of --rps, or `rps: 4`; optional
//! ```
//!
//! Validation reports every problem of the file at once, each naming the file, the client and
//! the field. Tokens are read with the same bounds and normalisation as `--client-token-file`
//! and compared in constant time ([`super::same_secret`]), every client's token for every call,
//! so the time taken says nothing about which client is near a match. Two clients may not share
//! a token (a call must be charged to exactly one).
//!
//! This module reads the file it is given and decides who a caller is; it renders nothing.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use crate::count::UnitsOrPercent;
use crate::files::{self, FileKind};

/// One client, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    token: String,
    /// Its own budget as written.
    pub budget: Option<Share>,
    /// Its share of the rate as written.
    pub rate: Option<RateShare>,
}

/// A budget of units, or a percentage of the guard's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    Units(u64),
    Percent(Decimal),
}

impl Share {
    /// The units of a guard budget of `total` (a percentage rounds down: a client never gets
    /// more than its share).
    pub fn of(self, total: u64) -> u64 {
        match self {
            Share::Units(units) => units,
            Share::Percent(percent) => {
                let exact = Decimal::from(total) * percent / Decimal::ONE_HUNDRED;
                u64::try_from(exact.floor()).unwrap_or(total)
            }
        }
    }
}

/// A client's share of the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateShare {
    /// Requests per window.
    Rps(u32),
    /// A percentage of `--rps`.
    Percent(Decimal),
}

impl RateShare {
    /// Requests per window out of the guard's `rps` (a percentage rounds down, but never to 0).
    pub fn of(self, rps: u32) -> u32 {
        match self {
            RateShare::Rps(n) => n.min(rps),
            RateShare::Percent(percent) => {
                let exact = Decimal::from(rps) * percent / Decimal::ONE_HUNDRED;
                u32::try_from(exact.floor())
                    .unwrap_or(rps)
                    .clamp(1, rps.max(1))
            }
        }
    }
}

/// The clients of one guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clients {
    pub path: PathBuf,
    pub list: Vec<Client>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// The file cannot be read or is not YAML of the expected shape.
    #[error("{reason}")]
    File { reason: String },
    /// Problems with clients, one line each.
    #[error("{}", problems.join("\n"))]
    Invalid { problems: Vec<String> },
}

/// One entry of the file as written; its fields are checked one by one (every problem of the
/// file is reported at once, never only serde's first).
#[derive(Default)]
struct RawClient {
    name: Option<String>,
    token_file: Option<PathBuf>,
    budget: Option<serde_yaml::Value>,
    rate_share: Option<serde_yaml::Value>,
    rps: Option<serde_yaml::Value>,
}

/// The fields a client entry may have.
const CLIENT_FIELDS: &[&str] = &["name", "token_file", "budget", "rate_share", "rps"];

/// The file's entries, or why it is not a list of clients at all; problems with single
/// entries' shape (unknown fields, an entry that is not a mapping) go to `problems`.
fn entries(
    path: &Path,
    value: &serde_yaml::Value,
    problems: &mut Vec<String>,
) -> Result<Vec<Option<RawClient>>, ClientsError> {
    let shape = || {
        ClientsError::File {
        reason: format!(
            "the clients file {} is not a list of clients; write it as `clients:` followed by `- name: …` entries with token_file, and optionally budget and rate_share (or rps)",
            path.display()
        ),
    }
    };
    let root = value.as_mapping().ok_or_else(shape)?;
    for key in root.keys() {
        if key.as_str() != Some("clients") {
            problems.push(format!(
                "{}: unknown field {}; the file holds only `clients:`",
                path.display(),
                crate::yaml_inline(key)
            ));
        }
    }
    let list = match root.get("clients") {
        Some(serde_yaml::Value::Sequence(list)) => list,
        Some(serde_yaml::Value::Null) => return Ok(Vec::new()),
        _ => return Err(shape()),
    };
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let Some(entry) = entry.as_mapping() else {
                problems.push(format!(
                    "{}: client {}: is not a mapping; write `- name: …` with token_file",
                    path.display(),
                    i + 1
                ));
                return None;
            };
            let text = |field: &str| entry.get(field).and_then(plain);
            let mut raw = RawClient {
                name: text("name"),
                token_file: text("token_file").map(PathBuf::from),
                budget: entry.get("budget").cloned(),
                rate_share: entry.get("rate_share").cloned(),
                rps: entry.get("rps").cloned(),
            };
            if entry.get("name").is_some() && raw.name.is_none() {
                raw.name = Some(String::new());
            }
            for key in entry.keys() {
                if !key.as_str().is_some_and(|k| CLIENT_FIELDS.contains(&k)) {
                    problems.push(format!(
                        "{}: client {}: unknown field {}; a client has {}",
                        path.display(),
                        i + 1,
                        crate::yaml_inline(key),
                        CLIENT_FIELDS.join(", ")
                    ));
                }
            }
            Some(raw)
        })
        .collect())
}

/// Longest client name (it is a metrics label and part of Redis keys).
const MAX_NAME: usize = 64;

fn plain(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Clients {
    /// Reads and validates `path`; token files are relative to the clients file's directory.
    pub fn load(path: &Path) -> Result<Clients, ClientsError> {
        let bytes = files::read(path, FileKind::Clients).map_err(|e| ClientsError::File {
            reason: e.to_string(),
        })?;
        let value: serde_yaml::Value =
            serde_yaml::from_slice(&bytes).map_err(|e| ClientsError::File {
                reason: format!(
                    "the clients file {} is not YAML ({})",
                    path.display(),
                    e.to_string().lines().next().unwrap_or("")
                ),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let raw = entries(path, &value, &mut problems)?;
        let mut list: Vec<Client> = Vec::new();
        // Every readable token with the name it goes by, valid or not: two clients sharing a
        // token are reported with the rest, not once the rest is fixed.
        let mut tokens: Vec<(String, String)> = Vec::new();
        if raw.is_empty() {
            problems.push(format!(
                "{}: lists no clients; add at least one `- name: …` with its token_file",
                path.display()
            ));
        }
        for (i, c) in raw
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
        {
            let at = match &c.name {
                Some(name) => format!("{}: client {} ({name:?})", path.display(), i + 1),
                None => format!("{}: client {}", path.display(), i + 1),
            };
            let mut problem = |field: &str, reason: String| {
                problems.push(format!("{at}, {field}: {reason}"));
            };
            let name = match &c.name {
                None => {
                    problem("name", "missing; give each client a name".into());
                    None
                }
                Some(name)
                    if name.is_empty()
                        || name.len() > MAX_NAME
                        || !name
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) =>
                {
                    problem(
                        "name",
                        format!("use 1 to {MAX_NAME} letters, digits, '-', '_' or '.' (it names the client in metrics, the journal and Redis keys)"),
                    );
                    None
                }
                Some(name) if list.iter().any(|other| &other.name == name) => {
                    problem("name", "another client has this name".into());
                    None
                }
                Some(name) => Some(name.clone()),
            };
            let token = match &c.token_file {
                None => {
                    problem(
                        "token_file",
                        "missing; give the file holding the token this client sends".into(),
                    );
                    None
                }
                Some(file) => {
                    let file = base.join(file);
                    match super::client_token(&file) {
                        Ok(token) => {
                            let shown = c
                                .name
                                .clone()
                                .unwrap_or_else(|| format!("client {}", i + 1));
                            tokens.push((shown, token.clone()));
                            Some(token)
                        }
                        Err(super::GuardError::Setting { reason, .. }) => {
                            problem("token_file", reason);
                            None
                        }
                        Err(other) => {
                            problem("token_file", other.to_string());
                            None
                        }
                    }
                }
            };
            let budget = match &c.budget {
                None => None,
                Some(value) => match plain(value)
                    .map(|t| crate::count::units_or_percent(&t, Some(Decimal::ONE_HUNDRED)))
                {
                    Some(Ok(UnitsOrPercent::Units(units))) => Some(Share::Units(units)),
                    Some(Ok(UnitsOrPercent::Percent(p))) => Some(Share::Percent(p)),
                    Some(Err(reason)) => {
                        problem("budget", format!("{reason}; give units (250k) or a percentage of the guard's budget (40%)"));
                        None
                    }
                    None => {
                        problem(
                            "budget",
                            "give units (250k) or a percentage of the guard's budget (40%)".into(),
                        );
                        None
                    }
                },
            };
            let rate = match (&c.rate_share, &c.rps) {
                (Some(_), Some(_)) => {
                    problem(
                        "rate_share",
                        "give rate_share (a percentage of --rps) or rps, not both".into(),
                    );
                    None
                }
                (Some(value), None) => match plain(value)
                    .map(|t| crate::count::units_or_percent(&t, Some(Decimal::ONE_HUNDRED)))
                {
                    Some(Ok(UnitsOrPercent::Percent(p))) if p > Decimal::ZERO => {
                        Some(RateShare::Percent(p))
                    }
                    _ => {
                        problem(
                            "rate_share",
                            "give a percentage of --rps above 0, e.g. 50%".into(),
                        );
                        None
                    }
                },
                (None, Some(value)) => {
                    match plain(value).and_then(|t| t.trim().parse::<u32>().ok()) {
                        Some(n) if n > 0 => Some(RateShare::Rps(n)),
                        _ => {
                            problem(
                                "rps",
                                "give a whole number of requests per second, 1 or more".into(),
                            );
                            None
                        }
                    }
                }
                (None, None) => None,
            };
            if let (Some(name), Some(token)) = (name, token) {
                list.push(Client {
                    name,
                    token,
                    budget,
                    rate,
                });
            }
        }
        for (i, (a, a_token)) in tokens.iter().enumerate() {
            if let Some((b, _)) = tokens[i + 1..]
                .iter()
                .find(|(_, b_token)| super::same_secret(a_token, b_token))
            {
                problems.push(format!(
                    "{}: clients {a:?} and {b:?} have the same token; each client needs its own, so that a call is charged to one",
                    path.display(),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ClientsError::Invalid { problems });
        }
        Ok(Clients {
            path: path.to_path_buf(),
            list,
        })
    }

    /// The client whose token `presented` is, comparing with every client's (constant time).
    pub fn identify(&self, presented: Option<&str>) -> Option<&Client> {
        let presented = presented?;
        let mut found = None;
        for client in &self.list {
            if super::same_secret(presented, &client.token) && found.is_none() {
                found = Some(client);
            }
        }
        found
    }

    /// The client whose dashboard cookie `cookie` is (`super::dashboard`), comparing with
    /// every client's (constant time).
    pub fn identify_cookie(&self, cookie: &str) -> Option<&Client> {
        let mut found = None;
        for client in &self.list {
            let value = super::dashboard::cookie_value(&client.token);
            if super::same_secret(cookie, &value) && found.is_none() {
                found = Some(client);
            }
        }
        found
    }

    /// Whether `token` is one of the clients' tokens (the admin token must not be).
    pub fn has_token(&self, token: &str) -> bool {
        self.identify(Some(token)).is_some()
    }

    pub fn get(&self, name: &str) -> Option<&Client> {
        self.list.iter().find(|c| c.name == name)
    }

    /// The clients with budgets of their own, their figures out of the guard's `total`.
    pub fn budgets(&self, total: u64) -> Vec<(String, u64)> {
        self.list
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.budget?.of(total))))
            .collect()
    }

    /// The clients with a share of the rate, in requests per window out of `rps`.
    pub fn shares(&self, rps: u32) -> std::collections::HashMap<String, u32> {
        self.list
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.rate?.of(rps))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the docs (docs/examples/clients.yaml) loads as documented.
    #[test]
    fn the_documented_example_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/clients.yaml");
        let clients = Clients::load(&path).unwrap();
        // 40% of 1,000,000 = 400,000; ads-report 250k; ad-hoc has none.
        assert_eq!(
            clients.budgets(1_000_000),
            vec![
                ("seo-audit".to_string(), 400_000),
                ("ads-report".to_string(), 250_000)
            ]
        );
        // 50% of 10 = 5; ad-hoc 2.
        assert_eq!(clients.shares(10)["seo-audit"], 5);
        assert_eq!(clients.shares(10)["ad-hoc"], 2);
    }

    #[test]
    fn shares_by_hand() {
        // 40% of 1,000 = 400; 33.33% of 1,000 = 333.3 → 333 (down).
        assert_eq!(Share::Percent(Decimal::from(40)).of(1000), 400);
        assert_eq!(Share::Percent(Decimal::new(3333, 2)).of(1000), 333);
        assert_eq!(Share::Units(250).of(1000), 250);
        // 50% of 10 rps = 5; 5% of 10 = 0.5 → at least 1; 30 rps asked of 10 = 10.
        assert_eq!(RateShare::Percent(Decimal::from(50)).of(10), 5);
        assert_eq!(RateShare::Percent(Decimal::from(5)).of(10), 1);
        assert_eq!(RateShare::Rps(30).of(10), 10);
    }

    #[test]
    fn a_good_file_loads_and_identifies_clients() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.token"), "tok-a\n").unwrap();
        std::fs::write(dir.path().join("b.token"), "tok-b\n").unwrap();
        let path = dir.path().join("clients.yaml");
        std::fs::write(
            &path,
            "clients:\n  - name: seo\n    token_file: a.token\n    budget: 40%\n    rate_share: 50%\n  - name: ads\n    token_file: b.token\n    budget: 250\n    rps: 2\n",
        )
        .unwrap();
        let clients = Clients::load(&path).unwrap();
        assert_eq!(clients.identify(Some("tok-b")).unwrap().name, "ads");
        assert!(clients.identify(Some("tok-c")).is_none());
        assert!(clients.identify(None).is_none());
        // 40% of 1,000 = 400; ads 250 units.
        assert_eq!(
            clients.budgets(1000),
            vec![("seo".to_string(), 400), ("ads".to_string(), 250)]
        );
        assert_eq!(clients.shares(10)["seo"], 5);
        assert_eq!(clients.shares(10)["ads"], 2);
    }

    /// Every problem at once, each naming the file, the client and the field.
    #[test]
    fn every_problem_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.token"), "tok-a\n").unwrap();
        std::fs::write(dir.path().join("empty.token"), "\n").unwrap();
        let path = dir.path().join("clients.yaml");
        std::fs::write(
            &path,
            "clients:\n  - name: seo\n    token_file: a.token\n    budget: lots\n  - name: 'bad name'\n    token_file: a.token\n  - name: x\n    token_file: empty.token\n    rate_share: 0%\n  - name: y\n    token_file: missing.token\n    rps: 0\n  - token_file: a.token\n  - name: z\n    token_file: a.token\n",
        )
        .unwrap();
        let text = Clients::load(&path).unwrap_err().to_string();
        for phrase in [
            "client 1 (\"seo\"), budget: ",
            "client 2 (\"bad name\"), name: use 1 to 64 letters",
            "client 3 (\"x\"), token_file: the token file ",
            "client 3 (\"x\"), rate_share: give a percentage of --rps above 0",
            "client 4 (\"y\"), token_file: cannot read the token file",
            "client 4 (\"y\"), rps: give a whole number",
            "client 5, name: missing",
            // Shared tokens are found among every client with a readable token, valid or
            // not: a, then each next one with the same.
            "clients \"seo\" and \"bad name\" have the same token",
            "clients \"client 5\" and \"z\" have the same token",
        ] {
            assert!(text.contains(phrase), "{phrase:?} not in:\n{text}");
        }
        assert!(
            text.lines()
                .all(|l| l.starts_with(&path.display().to_string())),
            "{text}"
        );
        let e = Clients::load(&dir.path().join("nope.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read the clients file"), "{e}");
        // An unknown field is one problem among the others (before: serde's first error only).
        std::fs::write(&path, "clients:\n  - name: a\n    token: x\n").unwrap();
        let e = Clients::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("client 1: unknown field \"token\"; a client has name, token_file"),
            "{e}"
        );
        assert!(e.contains("client 1 (\"a\"), token_file: missing"), "{e}");
        // A bare list: the shape to write, never a Rust type name.
        std::fs::write(&path, "- name: a\n  token_file: a.token\n").unwrap();
        let e = Clients::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("is not a list of clients; write it as `clients:`"),
            "{e}"
        );
        assert!(!e.contains("RawFile") && !e.contains("struct"), "{e}");
    }
}
