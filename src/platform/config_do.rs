//! `ServerConfig`: the single Durable Object (name `global-config`) holding
//! the claim and the update metadata, under the same key-value keys the
//! TypeScript server used, so a deployment over it keeps its claim.

use super::kv::DoKv;
use crate::store::kv::{KvStore, KvValue};
use worker::*;

pub const CONFIG_OBJECT_NAME: &str = "global-config";

#[durable_object]
pub struct ServerConfig {
    state: State,
}

/// Reads a stored string; empty or non-string values read back as null.
fn string_of(value: Option<KvValue>) -> Option<String> {
    match value {
        Some(KvValue::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

impl ServerConfig {
    async fn read_config(&self) -> Result<serde_json::Value> {
        let kv = DoKv::new(self.state.storage());
        let kv_err = |e: crate::store::kv::KvError| Error::RustError(e.to_string());
        let claimed_flag = matches!(kv.get("claimed").await.map_err(kv_err)?, Some(KvValue::Bool(true)));
        let token_hash = string_of(kv.get("tokenHash").await.map_err(kv_err)?);
        let update_provider = string_of(kv.get("updateProvider").await.map_err(kv_err)?);
        let update_repo_url = string_of(kv.get("updateRepoUrl").await.map_err(kv_err)?);
        let update_repo_branch = string_of(kv.get("updateRepoBranch").await.map_err(kv_err)?);
        Ok(serde_json::json!({
            "claimed": claimed_flag && token_hash.is_some(),
            "tokenHash": token_hash,
            "updateProvider": update_provider,
            "updateRepoUrl": update_repo_url,
            "updateRepoBranch": update_repo_branch,
        }))
    }
}

impl DurableObject for ServerConfig {
    fn new(state: State, _env: Env) -> Self {
        ServerConfig { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Get, "/__yaos/config") => Response::from_json(&self.read_config().await?),
            _ => Ok(Response::from_json(&serde_json::json!({"error": "not found"}))?.with_status(404)),
        }
    }
}
