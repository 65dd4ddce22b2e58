//! The Worker's public routes (spec 6): the setup pages, the one-time claim
//! and the update-metadata write. Pages, claim and their JSON come from the
//! core; this module does the I/O with the `ServerConfig` object.

use serde_json::Value;
use worker::*;

use crate::edge::auth::{AuthMode, AuthState, StoredConfig};
use crate::edge::body::{MAX_CLAIM_BODY_BYTES, MAX_UPDATE_METADATA_BODY_BYTES};
use crate::edge::capabilities::Capabilities;
use crate::edge::config_rules::{claim_refused_unread, claim_step, ClaimRequest, ClaimStep};
use crate::edge::http::{parse_json_body, EdgeError, Reply};
use crate::edge::pages;
use crate::internal_routes::{ConfigRoute, InternalRoute};

use super::auth_gate::{auth_state, bearer_rejection, count_failure, throttled};
use super::body::read_body;
use super::config_cache::{config_fetch, invalidate, stored_config};
use super::r2::r2_bound;

fn origin(req: &Request) -> Result<String> {
    Ok(req.url()?.origin().ascii_serialization())
}

pub async fn home(req: &Request, env: &Env) -> Result<Reply> {
    let state = auth_state(env).await?;
    Ok(match state.mode() {
        AuthMode::Unclaimed => pages::claim_page(&origin(req)?),
        mode => {
            pages::running_page(mode, r2_bound(env), state.weak_token_page_warning().as_deref())
        }
    })
}

pub fn mobile_setup(req: &Request) -> Result<Reply> {
    Ok(pages::mobile_setup_page(&origin(req)?))
}

/// POSTs JSON to the config object.
async fn config_post(env: &Env, route: ConfigRoute, body: &Value) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::from(route.method().to_owned()))
        .with_body(Some(body.to_string().into()));
    let req = Request::new_with_init(&route.url(), &init)?;
    config_fetch(env, req).await
}

/// The stored config read fresh after a write; `None` if the read fails, which
/// only hides the private fields.
async fn fresh_config(env: &Env) -> Option<StoredConfig> {
    invalidate();
    stored_config(env).await.ok()
}

/// `POST /claim` (spec 6.4; no CORS). Only the token's hash is stored.
/// An env-token server answers before reading any of the body; otherwise at
/// most [`MAX_CLAIM_BODY_BYTES`] of it is read.
pub async fn claim(req: Request, env: &Env) -> Result<Reply> {
    let state = auth_state(env).await?;
    if let Some(refusal) = claim_refused_unread(&state) {
        return Ok(refusal.reply());
    }
    // On a claimed server, a repeated claim succeeds only with the winning
    // token: a guess, throttled and counted like a wrong Bearer token.
    let claimed = matches!(state, AuthState::Claim { .. });
    if claimed {
        if let Some(reply) = throttled(&req) {
            return Ok(reply);
        }
    }
    let body = read_body(&req, MAX_CLAIM_BODY_BYTES)
        .await?
        .and_then(|b| parse_json_body(&b))
        .and_then(|b| ClaimRequest::from_json(&b));
    let presented = body.is_ok();
    let claim = match claim_step(&state, body) {
        ClaimStep::Refuse(e) => {
            if claimed && presented {
                count_failure(&req);
            }
            return Ok(e.reply());
        }
        ClaimStep::Repeat(claim) => claim,
        ClaimStep::Store(claim) => {
            let body = serde_json::json!({"tokenHash": claim.token_hash()});
            let res = config_post(env, ConfigRoute::Claim, &body).await?;
            match res.status_code() {
                200..=299 => claim,
                403 => return Ok(EdgeError::AlreadyClaimed.reply()),
                status => {
                    return Ok(EdgeError::Internal(format!("claim failed ({status})")).reply())
                }
            }
        }
    };
    let config = fresh_config(env).await;
    let caps = Capabilities::new(AuthMode::Claim, r2_bound(env), config.as_ref());
    let host = origin(&req)?;
    let mut body = claim.success_json(&host, caps.to_json());
    // Our own extension: the setup QR as SVG, so the page needs no QR script.
    if let (Some(vault_id), Value::Object(map)) = (claim.vault_id.as_deref(), &mut body) {
        let link = pages::mobile_setup_link(&host, &claim.token, vault_id);
        map.insert("setupQrSvg".into(), pages::setup_qr_svg(&link).into());
    }
    Ok(Reply::json(200, body))
}

/// `POST /api/update-metadata` (spec 6.5; CORS added by the caller).
pub async fn update_metadata(req: Request, env: &Env) -> Result<Reply> {
    let state = auth_state(env).await?;
    if let Some(rejection) = bearer_rejection(&state, &req, "update-metadata") {
        return Ok(rejection);
    }
    let body = read_body(&req, MAX_UPDATE_METADATA_BODY_BYTES).await?;
    let body = match body.and_then(|b| parse_json_body(&b)) {
        Ok(body) => body,
        Err(e) => return Ok(e.reply()),
    };
    let mut res = config_post(env, ConfigRoute::UpdateMetadata, &body).await?;
    if !(200..300).contains(&res.status_code()) {
        let status = res.status_code();
        let text = res.text().await.unwrap_or_default();
        return Ok(EdgeError::update_metadata_failed(status, &text).reply());
    }
    let config = fresh_config(env).await;
    let caps = Capabilities::new(state.mode(), r2_bound(env), config.as_ref());
    Ok(Reply::json(200, serde_json::json!({"ok": true, "capabilities": caps.to_json()})))
}
