//! The vault object's HTTP surface (spec 9.1): the socket upgrade and the
//! internal `/__yaos/*` routes the Worker calls, including the debug JSON.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::*;

use crate::diagnostics::trace_store::{recent_traces, DEBUG_TRACE_LIMIT};
use crate::edge::admission::{self, Rejection};
use crate::edge::compression::{deflate_answer, window_bits_setting, WINDOW_BITS_VAR};
use crate::edge::http::{parse_json_body, Reply};
use crate::internal_routes::{
    InternalRoute, RoomRoute, ADMIN_ROUTES_VAR, CLIENT_SCHEMA_HEADER, ROOM_HEADER,
};
use crate::room::debug_report::debug_report;
use crate::room::room_meta::{RoomMeta, ROOM_META_KEY};
use crate::room::vault_room::{device_name, valid_connection_id};
use crate::store::kv::KvStore;

use super::admin;
use super::reply::{reject_socket, to_response};
use super::room_host::{Attachment, RoomHost};
use super::room_snapshot_notes;
use super::room_snapshots;
use super::runtime::{env_string, random_bytes, wasm_memory_bytes};
use crate::hex::lower_hex;

fn json_reply(status: u16, value: Value) -> Result<Response> {
    to_response(Reply::json(status, value))
}

/// Admin routes exist only when the operator turned them on with an explicit
/// true value (`internal_routes::admin_routes_enabled`).
fn admin_enabled(env: &Env) -> bool {
    crate::internal_routes::admin_routes_enabled(env_string(env, ADMIN_ROUTES_VAR).as_deref())
}

/// The vault id in a socket path `/vault/sync/<encoded id>`.
fn room_name_from_path(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/vault/sync/")?;
    crate::edge::js::decode_uri_component(encoded)
}

/// Serves one request; a failure (typically a document that does not load)
/// becomes a 500 JSON error naming it, never a silent success.
pub async fn fetch(host: &Rc<RoomHost>, req: Request) -> Result<Response> {
    match route(host, req).await {
        Ok(res) => Ok(res),
        Err(e) => {
            console_error!("room request failed: {e}");
            json_reply(500, json!({"error": e.to_string()}))
        }
    }
}

async fn route(host: &Rc<RoomHost>, mut req: Request) -> Result<Response> {
    let path = req.path();
    let name = req.headers().get(ROOM_HEADER)?.or_else(|| room_name_from_path(&path));
    host.learn_room_id(name).await;

    let is_upgrade =
        req.headers().get("Upgrade")?.is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(route) = RoomRoute::parse(req.method().as_ref(), &path) else {
        if let Some(rejection) = room_schema_rejection(host, &req).await? {
            return reject_socket(&rejection, is_upgrade);
        }
        return if is_upgrade {
            accept_socket(host, &req).await
        } else {
            Response::error("Not implemented", 404)
        };
    };
    // Gated before any load, so a disabled route never wakes storage.
    if route.is_admin() && !admin_enabled(&host.env) {
        return json_reply(404, json!({"error": "not found"}));
    }
    match route {
        RoomRoute::Meta => meta(host).await,
        RoomRoute::Debug => json_reply(200, debug_json(host).await),
        RoomRoute::Devices => json_reply(200, host.with_room(|room| room.devices_report()).await?),
        RoomRoute::Document => {
            let bytes = host.with_room(|room| room.full_update()).await?;
            to_response(Reply::bytes(200, "application/octet-stream", bytes))
        }
        RoomRoute::Trace => {
            let body = req.bytes().await?;
            let parsed = parse_json_body(&body).map_err(|e| e.to_string());
            let Ok(Value::Object(mut body)) = parsed else {
                return json_reply(400, json!({"error": "invalid json"}));
            };
            let Some(Value::String(event)) = body.remove("event") else {
                return json_reply(400, json!({"error": "missing event"}));
            };
            host.trace(&event, body.remove("data").unwrap_or(Value::Null)).await;
            json_reply(200, json!({"ok": true}))
        }
        RoomRoute::Compact => json_reply(200, admin::compact(host).await?),
        RoomRoute::CleanupKv => json_reply(200, admin::cleanup_kv(host).await?),
        RoomRoute::RepairMigration => {
            json_reply(200, admin::repair_migration(host, &req.bytes().await?).await?)
        }
        RoomRoute::Snapshot => {
            to_response(room_snapshots::manual(host, &req.bytes().await?).await?)
        }
        RoomRoute::SnapshotMaybe => {
            json_reply(200, room_snapshots::maybe(host, &req.bytes().await?).await?)
        }
        RoomRoute::SnapshotPrune => {
            json_reply(200, room_snapshots::prune(host, &req.bytes().await?).await?)
        }
        RoomRoute::SnapshotFiles => {
            to_response(room_snapshot_notes::files(host, &req.bytes().await?).await?)
        }
        RoomRoute::SnapshotFile => {
            to_response(room_snapshot_notes::file(host, &req.bytes().await?).await?)
        }
        RoomRoute::SnapshotRestore => {
            to_response(room_snapshot_notes::restore(host, &req.bytes().await?).await?)
        }
    }
}

/// Spec 5.6 step 3, here rather than in the Worker: a client whose admitted
/// schema is older than the loaded document's `sys.schemaVersion` is refused.
/// Only requests the Worker forwarded from the socket route carry the client
/// schema; anything else, or a value that is not a number, is not checked.
async fn room_schema_rejection(host: &Rc<RoomHost>, req: &Request) -> Result<Option<Rejection>> {
    let client = req.headers().get(CLIENT_SCHEMA_HEADER)?.and_then(|v| v.parse::<i64>().ok());
    let Some(client) = client else { return Ok(None) };
    let room = host.with_room(|room| room.schema_version()).await?;
    if admission::implausible_room_schema(room) {
        console_warn!("room schema {room:?} is implausibly high; ignored for admission");
    }
    Ok(admission::check_room_schema(client, room).err())
}

async fn accept_socket(host: &Rc<RoomHost>, req: &Request) -> Result<Response> {
    let url = req.url()?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v);
    let id = param("_pk")
        .map(|v| v.into_owned())
        .filter(|v| valid_connection_id(v))
        .unwrap_or_else(|| lower_hex(&random_bytes::<8>()));
    let device = param("device").and_then(|v| device_name(&v));
    let open = host.state.get_websockets().len();
    if let Err(over) = host.with_room(|room| room.admit_socket(open)).await? {
        // Refused before the 101: a socket accepted and closed at once would
        // reset the provider's backoff and bring it back within 100 ms.
        console_warn!("refused a socket: {over}");
        return to_response(admission::room_full_reply(&over));
    }
    let pair = WebSocketPair::new()?;
    host.state.accept_web_socket(&pair.server);
    host.forget_sockets();
    let socket = lower_hex(&random_bytes::<8>());
    pair.server.serialize_attachment(&Attachment {
        id,
        socket,
        device,
        ..Attachment::default()
    })?;
    host.greet(&pair.server);
    let mut response = Response::from_websocket(pair.client)?;
    if let Some(answer) = compression_answer(&host.env, req)? {
        response.headers_mut().set(EXTENSIONS_HEADER, &answer)?;
    }
    Ok(response)
}

const EXTENSIONS_HEADER: &str = "Sec-WebSocket-Extensions";

/// The 101's `Sec-WebSocket-Extensions` when the operator capped the
/// compression window; `None` leaves the answer to the runtime.
fn compression_answer(env: &Env, req: &Request) -> Result<Option<String>> {
    let max_bits = match window_bits_setting(env_string(env, WINDOW_BITS_VAR).as_deref()) {
        Ok(Some(bits)) => bits,
        Ok(None) => return Ok(None),
        Err(warning) => {
            console_warn!("{warning}");
            return Ok(None);
        }
    };
    Ok(deflate_answer(req.headers().get(EXTENSIONS_HEADER)?.as_deref(), max_bits))
}

/// `{roomId, meta}` without loading the document (spec 9.1).
async fn meta(host: &Rc<RoomHost>) -> Result<Response> {
    if host.room_meta.borrow().is_none() {
        if let Ok(Some(stored)) = host.kv().get(ROOM_META_KEY).await {
            *host.room_meta.borrow_mut() = RoomMeta::from_kv(&stored);
        }
    }
    // A loaded document's live schema wins; cached in memory only.
    host.refresh_room_meta();
    let meta = host.room_meta.borrow().as_ref().map(RoomMeta::to_json).unwrap_or(Value::Null);
    json_reply(200, json!({"roomId": host.room_id(), "meta": meta}))
}

/// The debug JSON of spec 9.2, plus `wasmMemoryBytes`. Never loads the doc.
pub async fn debug_json(host: &Rc<RoomHost>) -> Value {
    let recent = recent_traces(&host.kv(), DEBUG_TRACE_LIMIT).await.unwrap_or_default();
    let parts = host.live.borrow().as_ref().map(|room| room.debug_parts());
    let sockets = host.state.get_websockets().len();
    debug_report(&host.room_id(), recent, parts, Some(wasm_memory_bytes()), sockets)
}
