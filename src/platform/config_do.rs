//! `ServerConfig`: the single Durable Object (name `global-config`) holding
//! the claim and the update metadata, under the same key-value keys the
//! TypeScript server used (spec 6.6), so a deployment over it keeps its claim.

use serde_json::json;
use worker::*;

use super::kv::DoKv;
use super::reply::to_response;
use crate::edge::auth::StoredConfig;
use crate::edge::config_rules::{claim_token_hash, decide_claim, ClaimDecision, UpdateMetadata};
use crate::edge::http::{parse_json_body, EdgeError, Reply};
use crate::internal_routes::{ConfigRoute, InternalRoute};
use crate::store::kv::{KvStore, KvValue};

pub const CONFIG_OBJECT_NAME: &str = "global-config";

#[durable_object]
pub struct ServerConfig {
    state: State,
}

/// A stored string; anything else reads back as null.
fn string_of(value: Option<KvValue>) -> Option<String> {
    match value {
        Some(KvValue::String(s)) => Some(s),
        _ => None,
    }
}

fn kv_error(e: crate::store::kv::KvError) -> Error {
    Error::RustError(e.to_string())
}

impl ServerConfig {
    async fn read_config(&self) -> Result<StoredConfig> {
        let kv = DoKv::new(self.state.storage());
        let claimed =
            matches!(kv.get("claimed").await.map_err(kv_error)?, Some(KvValue::Bool(true)));
        Ok(StoredConfig {
            claimed,
            token_hash: string_of(kv.get("tokenHash").await.map_err(kv_error)?),
            update_provider: string_of(kv.get("updateProvider").await.map_err(kv_error)?),
            update_repo_url: string_of(kv.get("updateRepoUrl").await.map_err(kv_error)?),
            update_repo_branch: string_of(kv.get("updateRepoBranch").await.map_err(kv_error)?),
        }
        .normalized())
    }

    /// Stores the claim unless one is already there. The check and the write
    /// share one storage transaction, so two racing claims cannot both win.
    async fn claim(&self, body: &[u8]) -> Result<Reply> {
        let parsed = match parse_json_body(body) {
            Ok(v) => v,
            Err(e) => return Ok(e.reply()),
        };
        let token_hash = match claim_token_hash(&parsed) {
            Ok(h) => h,
            Err(e) => return Ok(e.reply()),
        };
        let decision = std::rc::Rc::new(std::cell::Cell::new(ClaimDecision::Taken));
        let decided = decision.clone();
        self.state
            .storage()
            .transaction(move |txn| {
                let decided = decided.clone();
                let token_hash = token_hash.clone();
                async move {
                    // get_multiple leaves absent keys out and fails only when
                    // storage does: a failed read fails the claim (closed).
                    let held = txn.get_multiple(vec!["claimed", "tokenHash"]).await?;
                    let claimed = held.get(&"claimed".into()).as_bool() == Some(true);
                    let stored = held.get(&"tokenHash".into()).as_string();
                    let decision = decide_claim(claimed, stored.as_deref(), &token_hash);
                    if decision == ClaimDecision::Store {
                        txn.put("claimed", true).await?;
                        txn.put("tokenHash", token_hash).await?;
                    }
                    decided.set(decision);
                    Ok(())
                }
            })
            .await?;
        Ok(match decision.get() {
            ClaimDecision::Store | ClaimDecision::AlreadyYours => {
                Reply::json(200, json!({"ok": true}))
            }
            ClaimDecision::Taken => EdgeError::AlreadyClaimed.reply(),
        })
    }

    /// Writes the given update fields (never clears one) in one put.
    async fn update_metadata(&self, body: &[u8]) -> Result<Reply> {
        let parsed = match parse_json_body(body) {
            Ok(v) => v,
            Err(e) => return Ok(e.reply()),
        };
        let update = match UpdateMetadata::from_json(&parsed) {
            Ok(u) => u,
            Err(e) => return Ok(e.reply()),
        };
        let entries = js_sys::Object::new();
        let fields = [
            ("updateProvider", update.provider),
            ("updateRepoUrl", update.repo_url),
            ("updateRepoBranch", update.repo_branch),
        ];
        let mut any = false;
        for (key, value) in fields {
            if let Some(value) = value {
                js_sys::Reflect::set(&entries, &key.into(), &value.into())?;
                any = true;
            }
        }
        if any {
            // put(entries) writes every key atomically.
            self.state.storage().put_multiple_raw(entries).await?;
        }
        Ok(Reply::json(200, json!({"ok": true})))
    }
}

impl DurableObject for ServerConfig {
    fn new(state: State, _env: Env) -> Self {
        console_error_panic_hook::set_once();
        ServerConfig { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let reply = match ConfigRoute::parse(req.method().as_ref(), &path) {
            Some(ConfigRoute::Config) => {
                Reply::json(200, serde_json::to_value(self.read_config().await?)?)
            }
            Some(ConfigRoute::Claim) => self.claim(&req.bytes().await?).await?,
            Some(ConfigRoute::UpdateMetadata) => self.update_metadata(&req.bytes().await?).await?,
            None => EdgeError::NotFound.reply(),
        };
        to_response(reply)
    }
}
