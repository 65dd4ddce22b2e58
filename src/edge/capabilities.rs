//! `GET /api/capabilities` (spec 6.3): what this server supports, and the one
//! place its version constants live.
//!
//! The current plugin stops syncing below `maxSchemaVersion` 3 (spec 0), so
//! this server reports 3/3 where the reference branch reported 2/2.

use serde::Serialize;
use serde_json::Value;

use super::auth::{AuthMode, StoredConfig};

pub const SERVER_VERSION: &str = "0.3.0";
pub const MIN_PLUGIN_VERSION: Option<&str> = None;
pub const RECOMMENDED_PLUGIN_VERSION: Option<&str> = Some("1.5.0");
pub const MIN_SCHEMA_VERSION: Option<u32> = Some(3);
pub const MAX_SCHEMA_VERSION: Option<u32> = Some(3);
pub const MIGRATION_REQUIRED: bool = false;
/// The blob upload cap (10 MiB), also quoted in the 413 error text.
pub const MAX_BLOB_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// The capabilities JSON; field order is the key order of spec 6.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub claimed: bool,
    pub auth_mode: &'static str,
    pub attachments: bool,
    pub snapshots: bool,
    pub max_blob_upload_bytes: u64,
    pub socket_ticket_auth: bool,
    pub server_version: &'static str,
    pub min_plugin_version: Option<&'static str>,
    pub recommended_plugin_version: Option<&'static str>,
    pub min_schema_version: Option<u32>,
    pub max_schema_version: Option<u32>,
    pub migration_required: bool,
    pub update_provider: Option<String>,
    pub update_repo_url: Option<String>,
    pub update_repo_branch: Option<String>,
}

impl Capabilities {
    /// `r2_bound` is whether `YAOS_BUCKET` exists. `private` is the stored
    /// config whose update fields may be shown: pass it only when the server is
    /// claimed and the request's Bearer token is valid (or after a claim or a
    /// metadata write); `None`, or a config that failed to load, gives nulls.
    pub fn new(mode: AuthMode, r2_bound: bool, private: Option<&StoredConfig>) -> Self {
        Self {
            claimed: mode.is_claimed(),
            auth_mode: mode.as_str(),
            attachments: r2_bound,
            snapshots: r2_bound,
            max_blob_upload_bytes: MAX_BLOB_UPLOAD_BYTES,
            socket_ticket_auth: true,
            server_version: SERVER_VERSION,
            min_plugin_version: MIN_PLUGIN_VERSION,
            recommended_plugin_version: RECOMMENDED_PLUGIN_VERSION,
            min_schema_version: MIN_SCHEMA_VERSION,
            max_schema_version: MAX_SCHEMA_VERSION,
            migration_required: MIGRATION_REQUIRED,
            update_provider: private.and_then(|c| c.update_provider.clone()),
            update_repo_url: private.and_then(|c| c.update_repo_url.clone()),
            update_repo_branch: private.and_then(|c| c.update_repo_branch.clone()),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("capabilities serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StoredConfig {
        StoredConfig {
            claimed: true,
            token_hash: Some("ab".into()),
            update_provider: Some("github".into()),
            update_repo_url: Some("https://github.com/o/r".into()),
            update_repo_branch: None,
        }
    }

    #[test]
    fn public_view_exact_json() {
        let json = Capabilities::new(AuthMode::Env, true, None).to_json().to_string();
        assert_eq!(
            json,
            concat!(
                r#"{"claimed":true,"authMode":"env","attachments":true,"snapshots":true,"#,
                r#""maxBlobUploadBytes":10485760,"socketTicketAuth":true,"serverVersion":"0.3.0","#,
                r#""minPluginVersion":null,"recommendedPluginVersion":"1.5.0","minSchemaVersion":3,"#,
                r#""maxSchemaVersion":3,"migrationRequired":false,"updateProvider":null,"#,
                r#""updateRepoUrl":null,"updateRepoBranch":null}"#
            )
        );
    }

    #[test]
    fn modes_buckets_and_private_fields() {
        let cases = [
            (AuthMode::Unclaimed, false, None, false, "unclaimed", None),
            (AuthMode::Claim, false, None, true, "claim", None),
            (AuthMode::Claim, true, Some(config()), true, "claim", Some("github")),
            (AuthMode::Env, true, Some(StoredConfig::default()), true, "env", None),
        ];
        for (mode, r2, private, claimed, name, provider) in cases {
            let caps = Capabilities::new(mode, r2, private.as_ref());
            assert_eq!(caps.claimed, claimed);
            assert_eq!(caps.auth_mode, name);
            assert_eq!((caps.attachments, caps.snapshots), (r2, r2));
            assert_eq!(caps.update_provider.as_deref(), provider);
            assert!(caps.socket_ticket_auth);
        }
        let shown = Capabilities::new(AuthMode::Claim, true, Some(&config()));
        assert_eq!(shown.update_repo_url.as_deref(), Some("https://github.com/o/r"));
        assert_eq!(shown.update_repo_branch, None);
    }
}
