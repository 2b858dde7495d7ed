//! A client's call to the guard and the guard's answer, shared by the process-level tests
//! (tests/guard.rs sends them over HTTP) and the in-process ones (`routed`).

use serde_json::Value;

/// One client call: method, path and query, extra headers, JSON body (or any body with its
/// content type).
#[derive(Clone)]
pub struct Call {
    pub post: Option<String>,
    pub raw: Option<(String, Vec<u8>)>,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

pub fn get(path: &str) -> Call {
    Call {
        post: None,
        raw: None,
        path: path.into(),
        headers: Vec::new(),
    }
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A call with the guard's tag headers.
pub fn tagged(path: &str, tags: &[(&str, &str)]) -> Call {
    Call {
        headers: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..get(path)
    }
}
