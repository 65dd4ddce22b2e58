//! The stateless Worker: classifies the route before anything else, so junk
//! requests never reach a Durable Object, then authenticates and dispatches.

use crate::edge::admission::{self, SocketRequest};
use crate::edge::auth::{legacy_ws_token_disabled, Denial, SocketAuth, SocketCredentials};
use crate::edge::body::{MAX_ADMIN_BODY_BYTES, MAX_RESTORE_BODY_BYTES, MAX_SNAPSHOT_BODY_BYTES};
use crate::edge::capabilities::Capabilities;
use crate::edge::http::{EdgeError, Reply};
use crate::edge::router::{classify, Route, VaultAction};
use crate::edge::snapshot_notes::{check_snapshot_id, note_path_of, notes_body};
use crate::edge::snapshots::prune_request;
use crate::edge::ticket::ttl_from_env;
use crate::internal_routes::{InternalRoute, RoomRoute, CLIENT_SCHEMA_HEADER, ROOM_HEADER};
use crate::snapshot::browse::{parse_restore_request, RestoreOrder};
use crate::snapshot::vault::unavailable_json;
use js_sys::Uint8Array;
use worker::*;

use super::auth_gate::{auth_state, bearer_rejection, count_failure, header, throttled};
use super::body::read_body;
use super::config_cache::stored_config;
use super::public_routes;
use super::r2::r2_bound;
use super::r2_routes::{self, Answer};
use super::reply::{reject_socket, to_response, to_streaming_response};
use super::runtime::{env_string, now_ms, random_bytes};

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    let url = req.url()?;
    let route = classify(req.method().as_ref(), url.path());
    match route {
        Route::NotFound => to_response(Reply::not_found()),
        Route::MalformedPath => to_response(EdgeError::MalformedPath.reply()),
        Route::InvalidVaultId => to_response(EdgeError::InvalidVaultId.reply().with_cors()),
        Route::Preflight => to_response(Reply::preflight()),
        Route::Capabilities => to_response(capabilities(&req, &env).await?),
        Route::SyncSocket { vault_id } => sync_socket(req, &env, &vault_id).await,
        Route::Vault { vault_id, action } => {
            let Answer { reply, stream } = vault_route(req, &env, &vault_id, action).await?;
            match stream {
                Some(stream) => to_streaming_response(reply.with_cors(), stream),
                None => to_response(reply.with_cors()),
            }
        }
        Route::Home => to_response(public_routes::home(&req, &env).await?),
        Route::MobileSetup => to_response(public_routes::mobile_setup(&req)?),
        Route::Status => to_response(crate::edge::pages::status_page()),
        Route::Claim => to_response(public_routes::claim(req, &env).await?),
        Route::UpdateMetadata => {
            to_response(public_routes::update_metadata(req, &env).await?.with_cors())
        }
    }
}

async fn capabilities(req: &Request, env: &Env) -> Result<Reply> {
    let state = auth_state(env).await?;
    // The private fields would tell a right token from a wrong one: a wrong
    // one counts as a failure, and a throttled client sees the public ones.
    let authorization = header(req, "Authorization");
    let authorized =
        throttled(req).is_none() && state.authorize_http(authorization.as_deref()).is_ok();
    if !authorized && authorization.is_some_and(|a| !a.trim().is_empty()) {
        count_failure(req);
    }
    // The update fields are private: only a valid token sees them. A failed
    // config read hides them rather than failing the request.
    let private = if authorized { stored_config(env).await.ok() } else { None };
    let caps = Capabilities::new(state.mode(), r2_bound(env), private.as_ref());
    Ok(Reply::json(200, caps.to_json()).with_cors())
}

/// The vault's Durable Object, addressed by the decoded vault id.
fn vault_stub(env: &Env, vault_id: &str) -> Result<Stub> {
    env.durable_object("YAOS_SYNC")?.get_by_name(vault_id)
}

/// A request to one of the vault object's internal routes, naming the room
/// so the object knows its vault id without parsing it from a path.
async fn room_fetch(
    env: &Env,
    vault_id: &str,
    route: RoomRoute,
    body: Option<Vec<u8>>,
) -> Result<Response> {
    let headers = Headers::new();
    headers.set(ROOM_HEADER, vault_id)?;
    let method = Method::from(route.method().to_owned());
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = body {
        init.with_body(Some(Uint8Array::from(&body[..]).into()));
    }
    let req = Request::new_with_init(&route.url(), &init)?;
    vault_stub(env, vault_id)?.fetch_with_request(req).await
}

/// Relays a room answer for `route`.
async fn room_relay(
    env: &Env,
    vault_id: &str,
    route: RoomRoute,
    body: Option<Vec<u8>>,
) -> Result<Reply> {
    relay(room_fetch(env, vault_id, route, body).await?).await
}

/// Copies a room answer into a core reply (status, content type, body,
/// `Retry-After`).
async fn relay(mut res: Response) -> Result<Reply> {
    let status = res.status_code();
    let content_type =
        res.headers().get("Content-Type")?.unwrap_or_else(|| "application/json".into());
    let retry_after = res.headers().get("Retry-After")?;
    let bytes = res.bytes().await?;
    let reply = Reply::bytes(status, content_type, bytes);
    // A refusal's wait (the room's 429) goes through to the client.
    Ok(match retry_after {
        Some(secs) => reply.with_header("Retry-After", secs),
        None => reply,
    })
}

async fn vault_route(
    req: Request,
    env: &Env,
    vault_id: &str,
    action: VaultAction,
) -> Result<Answer> {
    let state = auth_state(env).await?;
    if let Some(rejection) = bearer_rejection(&state, &req, "vault route") {
        return Ok(rejection.into());
    }
    let reply = match action {
        VaultAction::IssueTicket => {
            let ttl = ttl_from_env(env_string(env, "YAOS_TICKET_TTL_MS").as_deref());
            match state.issue_ticket(vault_id, now_ms(), ttl, &random_bytes::<16>()) {
                Ok(ticket) => Ok(Reply::json(200, ticket.to_json())),
                Err(e) => Ok(e.reply()),
            }
        }
        VaultAction::DebugRecent => room_relay(env, vault_id, RoomRoute::Debug, None).await,
        VaultAction::Devices => room_relay(env, vault_id, RoomRoute::Devices, None).await,
        VaultAction::DebugCompact => room_relay(env, vault_id, RoomRoute::Compact, None).await,
        VaultAction::DebugCleanupKv => room_relay(env, vault_id, RoomRoute::CleanupKv, None).await,
        VaultAction::DebugRepairMigration => match read_body(&req, MAX_ADMIN_BODY_BYTES).await? {
            Ok(body) => room_relay(env, vault_id, RoomRoute::RepairMigration, Some(body)).await,
            Err(e) => Ok(e.reply()),
        },
        VaultAction::BlobsExist => return r2_routes::blobs_exist(req, env, vault_id).await,
        VaultAction::PutBlob { hash } => {
            return r2_routes::put_blob(req, env, vault_id, &hash).await
        }
        VaultAction::GetBlob { hash } => return r2_routes::get_blob(env, vault_id, &hash).await,
        VaultAction::ListSnapshots => return r2_routes::list_snapshots(&req, env, vault_id).await,
        VaultAction::SnapshotStatus => return r2_routes::snapshot_status(env, vault_id).await,
        VaultAction::GetSnapshot { snapshot_id } => {
            return r2_routes::get_snapshot(env, vault_id, &snapshot_id).await
        }
        VaultAction::SnapshotFiles { .. }
        | VaultAction::SnapshotFile { .. }
        | VaultAction::RestoreSnapshot { .. } => snapshot_notes(&req, env, vault_id, action).await,
        // Creating a snapshot needs the live document: the vault's object
        // does it. Without a bucket a manual snapshot is answered here.
        VaultAction::CreateSnapshot if !r2_bound(env) => Ok(Reply::json(200, unavailable_json())),
        VaultAction::CreateSnapshot => match read_body(&req, MAX_SNAPSHOT_BODY_BYTES).await? {
            Ok(body) => room_relay(env, vault_id, RoomRoute::Snapshot, Some(body)).await,
            Err(e) => Ok(e.reply()),
        },
        VaultAction::MaybeSnapshot => match read_body(&req, MAX_SNAPSHOT_BODY_BYTES).await? {
            Ok(body) => room_relay(env, vault_id, RoomRoute::SnapshotMaybe, Some(body)).await,
            Err(e) => Ok(e.reply()),
        },
        VaultAction::PruneSnapshots if !r2_bound(env) => {
            Ok(EdgeError::SnapshotsUnavailable.reply())
        }
        VaultAction::PruneSnapshots => match read_body(&req, MAX_SNAPSHOT_BODY_BYTES)
            .await?
            .and_then(|body| prune_request(&body))
        {
            Err(e) => Ok(e.reply()),
            Ok(prune_legacy) => {
                let body =
                    serde_json::json!({ "pruneLegacy": prune_legacy }).to_string().into_bytes();
                room_relay(env, vault_id, RoomRoute::SnapshotPrune, Some(body)).await
            }
        },
    };
    reply.map(Answer::from)
}

/// The snapshot note routes: the snapshot ID, the note path and the
/// restore body are checked here, so a request that cannot be served
/// never wakes the vault's object; the object reads the snapshot.
async fn snapshot_notes(
    req: &Request,
    env: &Env,
    vault_id: &str,
    action: VaultAction,
) -> Result<Reply> {
    if !r2_bound(env) {
        return Ok(EdgeError::SnapshotsUnavailable.reply());
    }
    let (route, body) = match action {
        VaultAction::SnapshotFiles { snapshot_id } => {
            if let Err(reply) = check_snapshot_id(&snapshot_id) {
                return Ok(reply);
            }
            (RoomRoute::SnapshotFiles, notes_body(&snapshot_id, None))
        }
        VaultAction::SnapshotFile { snapshot_id, path } => {
            let path = check_snapshot_id(&snapshot_id).and_then(|()| note_path_of(&path));
            match path {
                Ok(path) => (RoomRoute::SnapshotFile, notes_body(&snapshot_id, Some(&path))),
                Err(reply) => return Ok(reply),
            }
        }
        VaultAction::RestoreSnapshot { snapshot_id } => {
            if let Err(reply) = check_snapshot_id(&snapshot_id) {
                return Ok(reply);
            }
            let body = match read_body(req, MAX_RESTORE_BODY_BYTES).await? {
                Ok(body) => body,
                Err(e) => return Ok(e.reply()),
            };
            let request = match parse_restore_request(&body) {
                Ok(request) => request,
                Err(e) => return Ok(e.reply()),
            };
            let order = RestoreOrder { snapshot_id, request };
            let body = serde_json::to_vec(&order).map_err(|e| Error::RustError(e.to_string()))?;
            (RoomRoute::SnapshotRestore, body)
        }
        _ => return Ok(Reply::error(404, "not found")),
    };
    room_relay(env, vault_id, route, Some(body)).await
}

/// The socket route (spec 5.6): auth and the client schema here; the room's
/// object checks the room schema against the admitted client schema (so a
/// connect costs one request to it, and no document ever comes to the
/// Worker) and then accepts the socket.
async fn sync_socket(req: Request, env: &Env, vault_id: &str) -> Result<Response> {
    let url = req.url()?;
    let query =
        |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (ticket, token) = (query("ticket"), query("token"));
    let (schema_version, schema) = (query("schemaVersion"), query("schema"));
    let authorization = header(&req, "Authorization");
    let is_websocket = admission::is_websocket_upgrade(header(&req, "Upgrade").as_deref());

    if let Some(reply) = throttled(&req) {
        return to_response(reply);
    }
    let state = auth_state(env).await?;
    let request = SocketRequest {
        credentials: SocketCredentials {
            ticket: ticket.as_deref(),
            authorization: authorization.as_deref(),
            token: token.as_deref(),
        },
        schema_version: schema_version.as_deref(),
        schema: schema.as_deref(),
    };
    let legacy_disabled =
        legacy_ws_token_disabled(env_string(env, "YAOS_DISABLE_LEGACY_WS_TOKEN").as_deref());
    let admitted = admission::admit(&state, &request, legacy_disabled, vault_id, now_ms());
    let admitted = match admitted {
        Ok(a) => a,
        Err(rejection) => {
            // A wrong token counts; a refused ticket (often just expired) does not.
            let token_presented = ticket.is_none() && (token.is_some() || authorization.is_some());
            if token_presented
                && matches!(rejection, admission::Rejection::Denied(Denial::Unauthorized))
            {
                count_failure(&req);
            }
            return reject_socket(&rejection, is_websocket);
        }
    };
    match admitted.auth {
        SocketAuth::LegacyToken => {
            console_warn!("sync socket admitted with a long-lived token; tickets are preferred");
        }
        // Only in the minutes after an upgrade from the TypeScript server.
        SocketAuth::TypeScriptTicket => {
            console_log!("sync socket admitted with a ticket the TypeScript server issued");
        }
        SocketAuth::Ticket => {}
    }
    // The room is named by the decoded vault id alone, and the client schema
    // is the one admitted here: a client's own values of either header are
    // dropped, never forwarded.
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !name.eq_ignore_ascii_case(ROOM_HEADER)
            && !name.eq_ignore_ascii_case(CLIENT_SCHEMA_HEADER)
        {
            headers.append(&name, &value)?;
        }
    }
    headers.set(ROOM_HEADER, vault_id)?;
    headers.set(CLIENT_SCHEMA_HEADER, &admitted.client_schema_version.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    let forwarded = Request::new_with_init(url.as_str(), &init)?;
    vault_stub(env, vault_id)?.fetch_with_request(forwarded).await
}
