//! A runtime-independent HTTP reply and the edge's typed errors (spec 3).
//!
//! Handlers in the core build a [`Reply`]; the platform shell turns it into a
//! `worker::Response` without deciding anything. Every failure the core can
//! answer with is an [`EdgeError`], and [`EdgeError::status`] is the one place
//! that maps failures to HTTP statuses.

use serde_json::{json, Value};
use thiserror::Error;

use super::capabilities::MAX_BLOB_UPLOAD_BYTES;

/// The four CORS headers of spec 3, exactly; no `Max-Age`, no credentials.
pub const CORS_HEADERS: [(&str, &str); 4] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS"),
    ("Access-Control-Expose-Headers", "X-YAOS-Snapshot-Day"),
];

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// A reply body. JSON stays a [`Value`] so tests can inspect it; the shell
/// serializes it with [`Reply::body_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
    Html(String),
    Bytes(Vec<u8>),
}

/// Status, headers in the order they were set, and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Reply {
    /// A bodyless reply with no headers (the preflight's 204, a blob PUT's 204).
    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Body::Empty }
    }

    /// JSON with the contract's `Content-Type` and `Cache-Control: no-store`.
    pub fn json(status: u16, value: Value) -> Self {
        Self::empty(status)
            .with_header("Content-Type", JSON_CONTENT_TYPE)
            .with_header("Cache-Control", "no-store")
            .with_body(Body::Json(value))
    }

    /// The `{"error": message}` shape every JSON failure uses.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::json(status, json!({ "error": message.into() }))
    }

    /// An HTML page (`text/html; charset=utf-8`, `no-store`).
    pub fn html(status: u16, page: String) -> Self {
        Self::empty(status)
            .with_header("Content-Type", HTML_CONTENT_TYPE)
            .with_header("Cache-Control", "no-store")
            .with_body(Body::Html(page))
    }

    /// Raw bytes (blob and snapshot downloads), also `no-store`.
    pub fn bytes(status: u16, content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self::empty(status)
            .with_header("Content-Type", content_type)
            .with_header("Cache-Control", "no-store")
            .with_body(Body::Bytes(bytes))
    }

    /// The head of a download whose body the shell streams through (a blob
    /// or a snapshot payload straight from R2): content type and `no-store`.
    pub fn streamed(status: u16, content_type: impl Into<String>) -> Self {
        Self::empty(status)
            .with_header("Content-Type", content_type)
            .with_header("Cache-Control", "no-store")
    }

    /// The CORS preflight: 204, empty, CORS headers (spec 4 step 1).
    pub fn preflight() -> Self {
        Self::empty(204).with_cors()
    }

    /// The classifier's 404: JSON error `not found` with CORS (spec 4 step 5).
    pub fn not_found() -> Self {
        EdgeError::NotFound.reply().with_cors()
    }

    fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Sets a header, replacing any earlier value of the same name (like
    /// `Headers.set`), so decorating twice never duplicates a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name, value)),
        }
        self
    }

    /// Adds exactly the four CORS headers of spec 3.
    pub fn with_cors(self) -> Self {
        CORS_HEADERS.iter().fold(self, |reply, (name, value)| reply.with_header(name, *value))
    }

    /// A header's value, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as bytes on the wire (JSON serialized compactly, as
    /// `JSON.stringify` does).
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Empty => Vec::new(),
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Html(page) => page.clone().into_bytes(),
            Body::Bytes(bytes) => bytes.clone(),
        }
    }
}

/// Parses a request body the way `Request.json()` does: a leading UTF-8 BOM is
/// dropped and invalid UTF-8 becomes U+FFFD before `JSON.parse`.
pub fn parse_json_body(body: &[u8]) -> Result<Value, EdgeError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = String::from_utf8_lossy(body);
    serde_json::from_str(&text).map_err(|_| EdgeError::InvalidJson)
}

/// Every failure the edge answers with. The `Display` text is the JSON
/// `error` value, byte for byte as the TypeScript server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EdgeError {
    #[error("not found")]
    NotFound,
    #[error("unauthorized")]
    Unauthorized,
    #[error("unclaimed")]
    Unclaimed,
    /// Env mode with an empty token; unreachable through [`super::auth`]'s
    /// constructors but kept because the protocol names it.
    #[error("server_misconfigured")]
    ServerMisconfigured,
    /// A non-WebSocket request on the sync path that failed the schema check.
    #[error("update_required")]
    UpdateRequired,
    #[error("already_claimed")]
    AlreadyClaimed,
    #[error("invalid json")]
    InvalidJson,
    #[error("invalid token")]
    InvalidToken,
    #[error("invalid vaultId")]
    InvalidVaultId,
    /// The config DO's `POST /__yaos/claim` without a usable `tokenHash`.
    #[error("missing tokenHash")]
    MissingTokenHash,
    #[error("invalid updateProvider")]
    InvalidUpdateProvider,
    #[error("invalid updateRepoUrl")]
    InvalidUpdateRepoUrl,
    #[error("invalid updateRepoBranch")]
    InvalidUpdateRepoBranch,
    /// The Worker's wrapper around a failed config DO write; build it with
    /// [`EdgeError::update_metadata_failed`].
    #[error("{0}")]
    UpdateMetadataWriteFailed(String),
    #[error("attachments_unavailable")]
    AttachmentsUnavailable,
    #[error("snapshots_unavailable")]
    SnapshotsUnavailable,
    #[error("invalid hash: must be 64 hex chars (SHA-256)")]
    InvalidHash,
    #[error("invalid Content-Length")]
    InvalidContentLength,
    #[error("contentLength exceeds max upload size ({} bytes)", MAX_BLOB_UPLOAD_BYTES)]
    UploadTooLarge,
    #[error("missing request body")]
    MissingBody,
    /// A JSON route's body past its limit (`super::body`), declared or read.
    #[error("request body too large (limit {0} bytes)")]
    BodyTooLarge(u64),
    #[error("hash mismatch")]
    HashMismatch,
    #[error("missing hashes array")]
    MissingHashesArray,
    #[error("pruneLegacy requires confirmLegacyPrune: 'DELETE_LEGACY_SNAPSHOTS'")]
    LegacyPruneUnconfirmed,
    /// Too many failed authentications from this client (`edge::auth_throttle`);
    /// the shell adds `Retry-After`.
    #[error("too_many_attempts")]
    TooManyAttempts,
    /// Malformed percent-encoding in the path. The TypeScript server threw
    /// here and the platform answered a generic 500 (spec 3), so this stays 500.
    #[error("malformed percent-encoding in path")]
    MalformedPath,
    /// Anything else worth a 500 whose message is the JSON error (spec 5.5).
    #[error("{0}")]
    Internal(String),
}

impl EdgeError {
    /// `update metadata write failed (<status>)[: <body>]`, as the Worker
    /// phrased a config DO failure (spec 6.5).
    pub fn update_metadata_failed(status: u16, body: &str) -> Self {
        let mut message = format!("update metadata write failed ({status})");
        if !body.is_empty() {
            message.push_str(": ");
            message.push_str(body);
        }
        Self::UpdateMetadataWriteFailed(message)
    }

    /// The HTTP status for this failure: the single status mapping.
    pub fn status(&self) -> u16 {
        use EdgeError::*;
        match self {
            NotFound => 404,
            Unauthorized => 401,
            AlreadyClaimed => 403,
            UpdateRequired => 426,
            UploadTooLarge | BodyTooLarge(_) => 413,
            TooManyAttempts => 429,
            Unclaimed | ServerMisconfigured | AttachmentsUnavailable | SnapshotsUnavailable => 503,
            InvalidJson
            | InvalidToken
            | InvalidVaultId
            | MissingTokenHash
            | InvalidUpdateProvider
            | InvalidUpdateRepoUrl
            | InvalidUpdateRepoBranch
            | InvalidHash
            | InvalidContentLength
            | MissingBody
            | HashMismatch
            | MissingHashesArray
            | LegacyPruneUnconfirmed => 400,
            // The Worker looked for the DO's status inside its own message.
            UpdateMetadataWriteFailed(message) if message.contains("(403)") => 403,
            UpdateMetadataWriteFailed(message) if message.contains("(400)") => 400,
            UpdateMetadataWriteFailed(_) | MalformedPath | Internal(_) => 500,
        }
    }

    /// The JSON error reply, without CORS (the caller knows whether the route
    /// gets CORS).
    pub fn reply(&self) -> Reply {
        Reply::error(self.status(), self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reply_headers_and_body() {
        let reply = Reply::json(200, json!({"a": 1, "b": "x"}));
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.headers,
            vec![
                ("Content-Type", "application/json; charset=utf-8".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
            ]
        );
        assert_eq!(reply.body_bytes(), br#"{"a":1,"b":"x"}"#);
    }

    #[test]
    fn html_and_bytes_replies() {
        let page = Reply::html(200, "<p>hi</p>".to_owned());
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(page.header("Cache-Control"), Some("no-store"));
        let blob = Reply::bytes(200, "image/png", vec![1, 2]);
        assert_eq!(blob.header("Content-Type"), Some("image/png"));
        assert_eq!(blob.header("Cache-Control"), Some("no-store"));
        assert_eq!(blob.body_bytes(), vec![1, 2]);
    }

    #[test]
    fn cors_adds_exactly_four_headers_once() {
        let reply = Reply::error(401, "unauthorized").with_cors().with_cors();
        assert_eq!(reply.headers.len(), 6);
        for (name, value) in CORS_HEADERS {
            assert_eq!(reply.header(name), Some(value));
        }
        assert_eq!(reply.header("Access-Control-Max-Age"), None);
    }

    #[test]
    fn preflight_and_not_found() {
        let pre = Reply::preflight();
        assert_eq!((pre.status, pre.headers.len(), pre.body_bytes().len()), (204, 4, 0));
        let nf = Reply::not_found();
        assert_eq!(nf.status, 404);
        assert_eq!(nf.body, Body::Json(json!({"error": "not found"})));
        assert_eq!(nf.header("Access-Control-Allow-Origin"), Some("*"));
    }

    #[test]
    fn error_mapping_table() {
        let cases = [
            (EdgeError::NotFound, 404, "not found"),
            (EdgeError::Unauthorized, 401, "unauthorized"),
            (EdgeError::Unclaimed, 503, "unclaimed"),
            (EdgeError::ServerMisconfigured, 503, "server_misconfigured"),
            (EdgeError::UpdateRequired, 426, "update_required"),
            (EdgeError::AlreadyClaimed, 403, "already_claimed"),
            (EdgeError::InvalidJson, 400, "invalid json"),
            (EdgeError::InvalidToken, 400, "invalid token"),
            (EdgeError::InvalidVaultId, 400, "invalid vaultId"),
            (EdgeError::TooManyAttempts, 429, "too_many_attempts"),
            (EdgeError::InvalidUpdateRepoUrl, 400, "invalid updateRepoUrl"),
            (EdgeError::AttachmentsUnavailable, 503, "attachments_unavailable"),
            (
                EdgeError::UploadTooLarge,
                413,
                "contentLength exceeds max upload size (10485760 bytes)",
            ),
            (EdgeError::InvalidHash, 400, "invalid hash: must be 64 hex chars (SHA-256)"),
            (EdgeError::MalformedPath, 500, "malformed percent-encoding in path"),
            (EdgeError::Internal("boom".into()), 500, "boom"),
            (EdgeError::update_metadata_failed(403, ""), 403, "update metadata write failed (403)"),
            (
                EdgeError::update_metadata_failed(400, r#"{"error":"invalid updateProvider"}"#),
                400,
                r#"update metadata write failed (400): {"error":"invalid updateProvider"}"#,
            ),
            (
                EdgeError::update_metadata_failed(502, "bad"),
                500,
                "update metadata write failed (502): bad",
            ),
        ];
        for (error, status, message) in cases {
            let reply = error.reply();
            assert_eq!(reply.status, status, "{error:?}");
            assert_eq!(reply.body, Body::Json(json!({ "error": message })), "{error:?}");
        }
    }

    #[test]
    fn json_body_parsing_like_request_json() {
        assert_eq!(parse_json_body(b"{\"a\":1}"), Ok(json!({"a": 1})));
        assert_eq!(parse_json_body(b"\xEF\xBB\xBF[1]"), Ok(json!([1])));
        assert_eq!(parse_json_body(b"null"), Ok(Value::Null));
        for bad in [&b""[..], b"{", b"nope", b"{\"a\":1} x"] {
            assert_eq!(parse_json_body(bad), Err(EdgeError::InvalidJson));
        }
    }
}
