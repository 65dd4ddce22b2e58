//! Route classification (spec 4): method and pathname in, [`Route`] out.
//!
//! It runs before any authentication or Durable Object access, so scanner
//! traffic and wrong shapes cost nothing. Each vault shape the handlers serve
//! must be listed in `vault_action`; anything else is [`Route::NotFound`].

use super::js;
use super::vault_id::check_vault_id;

/// What a request is, with everything its handler needs from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `OPTIONS` under `/vault/` or `/api/`: 204 with CORS, nothing else.
    Preflight,
    Home,
    MobileSetup,
    /// `GET /status`: the operator's vault status page (static; no object).
    Status,
    Capabilities,
    Claim,
    UpdateMetadata,
    /// `/vault/sync/<id>` with any method; `vault_id` is percent-decoded.
    SyncSocket {
        vault_id: String,
    },
    /// A whitelisted `/vault/<id>/<resource>/…` shape; `vault_id` is decoded.
    Vault {
        vault_id: String,
        action: VaultAction,
    },
    /// 404 JSON `not found` with CORS; no config or vault DO is touched.
    NotFound,
    /// The vault id segment is not valid percent-encoding. The TypeScript
    /// `decodeURIComponent` threw here and the platform answered its generic
    /// 500, so the shell answers [`super::http::EdgeError::MalformedPath`]
    /// (500), without CORS and without touching any DO.
    MalformedPath,
    /// The decoded vault id breaks the rule of [`super::vault_id`]: 400
    /// `invalid vaultId`, before any config read or Durable Object.
    InvalidVaultId,
}

/// The whitelisted vault resource shapes (spec 4 table). Sub-segments are
/// passed on raw (not percent-decoded), as the TypeScript server did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultAction {
    /// `POST auth/ticket`
    IssueTicket,
    /// `GET debug/recent`
    DebugRecent,
    /// `GET devices` (the device ledger)
    Devices,
    /// `POST debug/compact`
    DebugCompact,
    /// `POST debug/cleanup-kv`
    DebugCleanupKv,
    /// `POST debug/repair-migration` (`{"confirm": true}` to run, else a dry run)
    DebugRepairMigration,
    /// `POST blobs/exists`
    BlobsExist,
    /// `GET blobs/<hash>` (the hash is validated by the handler, so `exists` lands here too)
    GetBlob { hash: String },
    /// `PUT blobs/<hash>`
    PutBlob { hash: String },
    /// `GET snapshots`
    ListSnapshots,
    /// `POST snapshots`
    CreateSnapshot,
    /// `POST snapshots/maybe`
    MaybeSnapshot,
    /// `POST snapshots/prune`
    PruneSnapshots,
    /// `GET snapshots/status`
    SnapshotStatus,
    /// `GET snapshots/<id>`; the handler 404s ids that are not snapshot ids
    /// (including `maybe` and `prune`) after auth, as the TypeScript server did.
    GetSnapshot { snapshot_id: String },
    /// `GET snapshots/<id>/files`: the snapshot's notes against the live vault.
    SnapshotFiles { snapshot_id: String },
    /// `GET snapshots/<id>/files/<path…>`: one note's text (raw segments).
    SnapshotFile { snapshot_id: String, path: Vec<String> },
    /// `POST snapshots/<id>/restore`
    RestoreSnapshot { snapshot_id: String },
}

impl VaultAction {
    /// The request-log bucket of this action's resource.
    fn log_bucket(&self) -> &'static str {
        use VaultAction::*;
        match self {
            IssueTicket => "vault_auth",
            DebugRecent | DebugCompact | DebugCleanupKv | DebugRepairMigration => "vault_debug",
            Devices => "vault_devices",
            BlobsExist | GetBlob { .. } | PutBlob { .. } => "vault_blobs",
            ListSnapshots
            | CreateSnapshot
            | MaybeSnapshot
            | PruneSnapshots
            | SnapshotStatus
            | GetSnapshot { .. }
            | SnapshotFiles { .. }
            | SnapshotFile { .. }
            | RestoreSnapshot { .. } => "vault_snapshots",
        }
    }
}

impl Route {
    /// The normalised path bucket for the one-line request log; never a vault
    /// id, token or query string.
    pub fn log_bucket(&self) -> &'static str {
        match self {
            Route::Preflight => "cors_preflight",
            Route::Home => "home",
            Route::MobileSetup => "mobile_setup",
            Route::Status => "status",
            Route::Capabilities => "api_capabilities",
            Route::Claim => "claim",
            Route::UpdateMetadata => "api_update_metadata",
            Route::SyncSocket { .. } => "vault_sync",
            Route::Vault { action, .. } => action.log_bucket(),
            Route::NotFound => "not_found",
            Route::MalformedPath => "malformed_path",
            Route::InvalidVaultId => "invalid_vault_id",
        }
    }
}

/// Classifies a request by its method (as the runtime normalised it, e.g.
/// `GET`) and `url.pathname`, following spec 4 step by step.
pub fn classify(method: &str, path: &str) -> Route {
    // 1. Preflight.
    if method == "OPTIONS" && (path.starts_with("/vault/") || path.starts_with("/api/")) {
        return Route::Preflight;
    }
    // 2. Exact matches.
    match (method, path) {
        ("GET", "/") => return Route::Home,
        ("GET", "/mobile-setup") => return Route::MobileSetup,
        ("GET", "/status") => return Route::Status,
        ("GET", "/api/capabilities") => return Route::Capabilities,
        ("POST", "/claim") => return Route::Claim,
        ("POST", "/api/update-metadata") => return Route::UpdateMetadata,
        _ => {}
    }
    // 3. The sync socket, `^/vault/sync/([^/]+)$`, before the generic parse.
    if let Some(segment) = path.strip_prefix("/vault/sync/") {
        if !segment.is_empty() && !segment.contains('/') {
            return match js::decode_uri_component(segment) {
                Some(vault_id) if check_vault_id(&vault_id).is_err() => Route::InvalidVaultId,
                Some(vault_id) => Route::SyncSocket { vault_id },
                None => Route::MalformedPath,
            };
        }
    }
    // 4. Vault resources, with runs of slashes collapsed.
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let ["vault", raw_id, rest @ ..] = segments.as_slice() else {
        return Route::NotFound;
    };
    // The TypeScript parse decoded the id before looking at the resource, so
    // a malformed id fails even on shapes that would otherwise be 404.
    let Some(vault_id) = js::decode_uri_component(raw_id) else {
        return Route::MalformedPath;
    };
    // 5. Everything else.
    match rest {
        [resource, sub @ ..] => match vault_action(method, resource, sub) {
            Some(_) if check_vault_id(&vault_id).is_err() => Route::InvalidVaultId,
            Some(action) => Route::Vault { vault_id, action },
            None => Route::NotFound,
        },
        [] => Route::NotFound,
    }
}

/// The spec 4 shape table. Segments are never empty (empty ones were dropped).
fn vault_action(method: &str, resource: &str, sub: &[&str]) -> Option<VaultAction> {
    use VaultAction::*;
    let action = match (resource, method, sub) {
        ("auth", "POST", ["ticket"]) => IssueTicket,
        ("debug", "GET", ["recent"]) => DebugRecent,
        ("devices", "GET", []) => Devices,
        ("debug", "POST", ["compact"]) => DebugCompact,
        ("debug", "POST", ["cleanup-kv"]) => DebugCleanupKv,
        ("debug", "POST", ["repair-migration"]) => DebugRepairMigration,
        ("blobs", "POST", ["exists"]) => BlobsExist,
        ("blobs", "GET", [hash]) => GetBlob { hash: (*hash).to_owned() },
        ("blobs", "PUT", [hash]) => PutBlob { hash: (*hash).to_owned() },
        ("snapshots", "GET", []) => ListSnapshots,
        ("snapshots", "POST", []) => CreateSnapshot,
        ("snapshots", "POST", ["maybe"]) => MaybeSnapshot,
        ("snapshots", "POST", ["prune"]) => PruneSnapshots,
        ("snapshots", "GET", ["status"]) => SnapshotStatus,
        ("snapshots", "GET", [id]) => GetSnapshot { snapshot_id: (*id).to_owned() },
        ("snapshots", "GET", [id, "files"]) => SnapshotFiles { snapshot_id: (*id).to_owned() },
        ("snapshots", "GET", [id, "files", path @ ..]) => SnapshotFile {
            snapshot_id: (*id).to_owned(),
            path: path.iter().map(|s| (*s).to_owned()).collect(),
        },
        ("snapshots", "POST", [id, "restore"]) => RestoreSnapshot { snapshot_id: (*id).to_owned() },
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(id: &str, action: VaultAction) -> Route {
        Route::Vault { vault_id: id.to_owned(), action }
    }

    fn socket(id: &str) -> Route {
        Route::SyncSocket { vault_id: id.to_owned() }
    }

    #[test]
    fn vault_ids_a_header_cannot_carry_or_too_long_are_refused_before_any_object() {
        let long = "a".repeat(super::super::vault_id::MAX_VAULT_ID_BYTES + 1);
        for id in ["a%0Db", "a%0Ab", "a%00b", "%C4%81", "%F0%9F%98%80", long.as_str()] {
            assert_eq!(
                classify("GET", &format!("/vault/sync/{id}")),
                Route::InvalidVaultId,
                "{id}"
            );
            assert_eq!(classify("GET", &format!("/vault/{id}/snapshots")), Route::InvalidVaultId);
            assert_eq!(
                classify("POST", &format!("/vault/{id}/auth/ticket")),
                Route::InvalidVaultId
            );
        }
        // Shapes that are 404 anyway stay 404.
        assert_eq!(classify("GET", "/vault/a%0Db/nothing"), Route::NotFound);
        assert_eq!(classify("GET", "/vault/sync/p%2Fsnapshots%2Fx"), socket("p/snapshots/x"));
        assert_eq!(
            classify("GET", "/vault/caf%C3%A9/snapshots"),
            vault("café", VaultAction::ListSnapshots)
        );
    }

    #[test]
    fn classification_table() {
        use VaultAction::*;
        let hash = "a".repeat(64);
        let cases: Vec<(&str, String, Route)> = vec![
            // 1. preflight
            ("OPTIONS", "/vault/foo/blobs/x".into(), Route::Preflight),
            ("OPTIONS", "/vault/anything/at/all".into(), Route::Preflight),
            ("OPTIONS", "/api/capabilities".into(), Route::Preflight),
            ("OPTIONS", "/api/".into(), Route::Preflight),
            ("OPTIONS", "/vault/sync/abc".into(), Route::Preflight),
            ("OPTIONS", "/".into(), Route::NotFound),
            ("OPTIONS", "/vault".into(), Route::NotFound),
            ("OPTIONS", "/claim".into(), Route::NotFound),
            // 2. exact matches
            ("GET", "/".into(), Route::Home),
            ("GET", "/mobile-setup".into(), Route::MobileSetup),
            ("GET", "/status".into(), Route::Status),
            ("POST", "/status".into(), Route::NotFound),
            ("GET", "/status/".into(), Route::NotFound),
            ("GET", "/api/capabilities".into(), Route::Capabilities),
            ("POST", "/claim".into(), Route::Claim),
            ("POST", "/api/update-metadata".into(), Route::UpdateMetadata),
            ("POST", "/".into(), Route::NotFound),
            ("HEAD", "/".into(), Route::NotFound),
            ("GET", "/claim".into(), Route::NotFound),
            ("GET", "/api/update-metadata".into(), Route::NotFound),
            ("POST", "/api/capabilities".into(), Route::NotFound),
            ("GET", "/mobile-setup/".into(), Route::NotFound),
            ("GET", "/api/not-real".into(), Route::NotFound),
            ("GET", "/wp-login.php".into(), Route::NotFound),
            ("GET", "/favicon.ico".into(), Route::NotFound),
            // 3. sync socket, any method, decoded id
            ("GET", "/vault/sync/abc".into(), socket("abc")),
            ("POST", "/vault/sync/abc".into(), socket("abc")),
            ("HEAD", "/vault/sync/abc".into(), socket("abc")),
            ("DELETE", "/vault/sync/abc".into(), socket("abc")),
            ("GET", "/vault/sync/a%20b%2Fc".into(), socket("a b/c")),
            ("GET", "/vault/sync/%C3%A9".into(), socket("é")),
            ("GET", "/vault/sync/".into(), Route::NotFound),
            ("GET", "/vault/sync/x/".into(), Route::NotFound),
            ("GET", "/vault/sync//x".into(), Route::NotFound),
            ("GET", "/vault/sync/%ZZ".into(), Route::MalformedPath),
            ("GET", "/vault/sync/%E0%A4".into(), Route::MalformedPath),
            // 4. vault resources
            ("POST", "/vault/foo/auth/ticket".into(), vault("foo", IssueTicket)),
            ("GET", "/vault/foo/debug/recent".into(), vault("foo", DebugRecent)),
            ("GET", "/vault/foo/devices".into(), vault("foo", Devices)),
            ("POST", "/vault/foo/debug/compact".into(), vault("foo", DebugCompact)),
            ("POST", "/vault/foo/debug/cleanup-kv".into(), vault("foo", DebugCleanupKv)),
            ("POST", "/vault/foo/blobs/exists".into(), vault("foo", BlobsExist)),
            (
                "GET",
                format!("/vault/foo/blobs/{hash}"),
                vault("foo", GetBlob { hash: hash.clone() }),
            ),
            (
                "PUT",
                format!("/vault/foo/blobs/{hash}"),
                vault("foo", PutBlob { hash: hash.clone() }),
            ),
            (
                "GET",
                "/vault/foo/blobs/exists".into(),
                vault("foo", GetBlob { hash: "exists".into() }),
            ),
            (
                "PUT",
                "/vault/foo/blobs/exists".into(),
                vault("foo", PutBlob { hash: "exists".into() }),
            ),
            ("GET", "/vault/foo/snapshots".into(), vault("foo", ListSnapshots)),
            ("POST", "/vault/foo/snapshots".into(), vault("foo", CreateSnapshot)),
            ("POST", "/vault/foo/snapshots/maybe".into(), vault("foo", MaybeSnapshot)),
            ("POST", "/vault/foo/snapshots/prune".into(), vault("foo", PruneSnapshots)),
            ("GET", "/vault/foo/snapshots/status".into(), vault("foo", SnapshotStatus)),
            (
                "GET",
                "/vault/foo/snapshots/lx2a-0123abcd".into(),
                vault("foo", GetSnapshot { snapshot_id: "lx2a-0123abcd".into() }),
            ),
            (
                "GET",
                "/vault/foo/snapshots/maybe".into(),
                vault("foo", GetSnapshot { snapshot_id: "maybe".into() }),
            ),
            // decoded id, raw sub-segments, collapsed slashes
            ("POST", "/vault/a%2Fb/auth/ticket".into(), vault("a/b", IssueTicket)),
            (
                "GET",
                "/vault/foo/blobs/a%20b".into(),
                vault("foo", GetBlob { hash: "a%20b".into() }),
            ),
            ("GET", "//vault//foo///debug//recent/".into(), vault("foo", DebugRecent)),
            ("GET", "/vault/sync/debug/recent".into(), vault("sync", DebugRecent)),
            ("POST", "/vault/%ZZ/auth/ticket".into(), Route::MalformedPath),
            ("GET", "/vault/%ZZ/admin".into(), Route::MalformedPath),
            ("GET", "/vault/%ZZ".into(), Route::MalformedPath),
            // 5. not found (spec 4 examples and friends)
            ("GET", "/vault/foo".into(), Route::NotFound),
            ("GET", "/vault/foo/".into(), Route::NotFound),
            ("GET", "/vault".into(), Route::NotFound),
            ("GET", "/vault/".into(), Route::NotFound),
            ("GET", "/vaults/foo/debug/recent".into(), Route::NotFound),
            ("GET", "/vault/foo/admin".into(), Route::NotFound),
            ("POST", "/vault/foo/debug/recent".into(), Route::NotFound),
            ("GET", "/vault/foo/debug/evil".into(), Route::NotFound),
            ("GET", "/vault/foo/debug/compact".into(), Route::NotFound),
            ("GET", "/vault/foo/auth/random".into(), Route::NotFound),
            ("GET", "/vault/foo/auth/ticket".into(), Route::NotFound),
            ("POST", "/vault/foo/auth/ticket/extra".into(), Route::NotFound),
            ("POST", "/vault/foo/auth".into(), Route::NotFound),
            ("POST", "/vault/foo/blobs/not-real".into(), Route::NotFound),
            ("DELETE", "/vault/foo/blobs/x".into(), Route::NotFound),
            ("HEAD", "/vault/foo/blobs/x".into(), Route::NotFound),
            ("GET", "/vault/foo/blobs".into(), Route::NotFound),
            ("GET", "/vault/foo/blobs/a/b".into(), Route::NotFound),
            ("PUT", "/vault/foo/snapshots".into(), Route::NotFound),
            ("HEAD", "/vault/foo/snapshots".into(), Route::NotFound),
            ("DELETE", "/vault/foo/snapshots".into(), Route::NotFound),
            ("POST", "/vault/foo/snapshots/status".into(), Route::NotFound),
            ("POST", "/vault/foo/snapshots/other".into(), Route::NotFound),
            ("GET", "/vault/foo/snapshots/a/b".into(), Route::NotFound),
            ("DELETE", "/vault/foo/debug/recent".into(), Route::NotFound),
        ];
        for (method, path, want) in cases {
            assert_eq!(classify(method, &path), want, "{method} {path}");
        }
    }

    #[test]
    fn log_buckets() {
        assert_eq!(classify("GET", "/vault/sync/x").log_bucket(), "vault_sync");
        assert_eq!(classify("GET", "/vault/x/snapshots").log_bucket(), "vault_snapshots");
        assert_eq!(classify("POST", "/vault/x/auth/ticket").log_bucket(), "vault_auth");
        assert_eq!(classify("GET", "/nope").log_bucket(), "not_found");
        assert_eq!(classify("OPTIONS", "/api/x").log_bucket(), "cors_preflight");
    }
}
