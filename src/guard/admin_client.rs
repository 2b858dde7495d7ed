//! `budget guard-admin`'s side of the admin endpoint (`super::admin`): one request to a running
//! guard with the admin token, its answer typed. Loopback or not, the token goes in
//! `Authorization: Bearer`; redirects are not followed (a token is never sent anywhere else).
//!
//! This module renders nothing: the answers go to `report`.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::state::Raise;

/// How long one admin request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What to ask a guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCall {
    Raise { raise: Raise, operator: String },
    Approve { id: String, operator: String },
    Deny { id: String, operator: String },
    List,
}

/// A raise's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaiseAnswer {
    pub budget_before: u64,
    pub budget_units: u64,
    pub by: u64,
    pub remaining_units: Option<i64>,
    pub operator: String,
    pub journaled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// An approval as the guard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    pub id: String,
    pub state: String,
    pub units: u64,
    pub endpoint: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub reason: String,
    pub requested: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    pub expires_in_seconds: u64,
}

/// A guard's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AdminAnswer {
    Raised(RaiseAnswer),
    Decided {
        approval: ApprovalView,
    },
    Listed {
        approvals: Vec<ApprovalView>,
        pending: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("--admin-token-file: {reason}")]
    Token { reason: String },
    #[error("--guard {url} is not a guard's URL like http://127.0.0.1:8787: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot reach the guard at {url}: {reason}; is it running, and is --guard its --listen address?")]
    Unreachable { url: String, reason: String },
    /// The guard refused: `status` and its description.
    #[error("the guard at {url} refused ({status}): {description}")]
    Refused {
        url: String,
        status: u16,
        description: String,
    },
    #[error("the guard at {url} answered something that is not the admin endpoint's answer ({status}); is --guard a budget guard?")]
    Unreadable { url: String, status: u16 },
}

impl AdminError {
    /// Whether the guard itself could not do it (unreachable, or its own trouble: 5xx), rather
    /// than the request being wrong.
    pub fn is_runtime(&self) -> bool {
        match self {
            AdminError::Unreachable { .. } | AdminError::Unreadable { .. } => true,
            AdminError::Refused { status, .. } => *status >= 500,
            AdminError::Token { .. } | AdminError::Url { .. } => false,
        }
    }
}

/// The admin token in `path`: read and checked as a client token is.
pub fn token(path: &Path) -> Result<String, AdminError> {
    super::client_token(path).map_err(|e| AdminError::Token {
        reason: e
            .to_string()
            .trim_start_matches("--client-token-file: ")
            .replace("clients must send", "operators send")
            .replace("clients send", "operators send"),
    })
}

/// Sends `call` to the guard at `guard` with `token`.
pub async fn send(guard: &str, token: &str, call: &AdminCall) -> Result<AdminAnswer, AdminError> {
    let base = reqwest::Url::parse(guard.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| AdminError::Url {
            url: guard.to_string(),
            reason: "give http://HOST:PORT".into(),
        })?;
    let shown = super::shown_url(&base);
    let join = |path: &str| {
        base.join(path).map_err(|e| AdminError::Url {
            url: shown.clone(),
            reason: e.to_string(),
        })
    };
    let client = crate::account::transport::http_client(
        concat!("budget-guard-admin/", env!("CARGO_PKG_VERSION")),
        TIMEOUT,
    )
    .timeout(TIMEOUT)
    .build()
    .map_err(|e| AdminError::Unreachable {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    let request = match call {
        AdminCall::Raise { raise, operator } => {
            let body = match raise {
                Raise::By(by) => serde_json::json!({"by": by, "operator": operator}),
                Raise::To(to) => serde_json::json!({"to": to, "operator": operator}),
            };
            client.post(join("/budget/admin/raise")?).json(&body)
        }
        AdminCall::Approve { id, operator } | AdminCall::Deny { id, operator } => {
            let decision = if matches!(call, AdminCall::Approve { .. }) {
                "approve"
            } else {
                "deny"
            };
            let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            client
                .post(join(&format!("/budget/admin/approvals/{id}/{decision}"))?)
                .json(&serde_json::json!({"operator": operator}))
        }
        AdminCall::List => client.get(join("/budget/admin/approvals")?),
    };
    let response =
        request
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| AdminError::Unreachable {
                url: shown.clone(),
                reason: if e.is_timeout() {
                    format!("no answer within {} s", TIMEOUT.as_secs())
                } else if e.is_connect() {
                    "connection refused".into()
                } else {
                    "the connection failed".into()
                },
            })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let unreadable = || AdminError::Unreadable {
        url: shown.clone(),
        status,
    };
    if !(200..300).contains(&status) {
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| unreadable())?;
        let description = value["error"]["description"]
            .as_str()
            .ok_or_else(unreadable)?
            .to_string();
        return Err(AdminError::Refused {
            url: shown,
            status,
            description,
        });
    }
    let answer = match call {
        AdminCall::Raise { .. } => serde_json::from_slice(&body).map(AdminAnswer::Raised),
        AdminCall::Approve { .. } | AdminCall::Deny { .. } => {
            #[derive(Deserialize)]
            struct Decided {
                approval: ApprovalView,
            }
            serde_json::from_slice::<Decided>(&body).map(|d| AdminAnswer::Decided {
                approval: d.approval,
            })
        }
        AdminCall::List => {
            #[derive(Deserialize)]
            struct Listed {
                approvals: Vec<ApprovalView>,
                pending: u64,
            }
            serde_json::from_slice::<Listed>(&body).map(|l| AdminAnswer::Listed {
                approvals: l.approvals,
                pending: l.pending,
            })
        }
    };
    answer.map_err(|_| unreadable())
}
