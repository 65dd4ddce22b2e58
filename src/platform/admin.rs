//! Admin operations on a vault room (spec 10.6), reachable only when
//! `YAOS_ENABLE_ADMIN_ROUTES` is set.

use std::rc::Rc;

use serde_json::json;
use worker::{Response, Result};

use super::room_host::RoomHost;

/// Removes the legacy key-value document keys once SQL holds the document.
pub async fn cleanup_kv(host: &Rc<RoomHost>) -> Result<Response> {
    host.ensure_loaded().await?;
    Ok(Response::from_json(&json!({"status": "failed", "keysDeleted": 0, "error": "not implemented"}))?)
}
