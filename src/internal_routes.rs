//! The internal contracts between the Worker and its Durable Objects: every
//! `https://internal/__yaos/*` route of the vault object (spec 9.1) and of
//! the config object (spec 6.6), each with its method and path in one place,
//! used by the caller to build the request and by the object to dispatch it.

/// A route of the vault's object (`VaultSyncServer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRoute {
    /// `{roomId, meta}` without loading the document.
    Meta,
    /// The full update (`application/octet-stream`).
    Document,
    /// The debug JSON of spec 9.2; never loads the document.
    Debug,
    /// Records a trace event `{event, data?}`.
    Trace,
    /// Emergency compaction (admin-gated).
    Compact,
    /// Removal of migrated legacy key-value data (admin-gated).
    CleanupKv,
    /// Repair of a vault stuck read-only by a failed resume (admin-gated).
    RepairMigration,
    /// A manual, pinned snapshot `{device?}`.
    Snapshot,
    /// The daily snapshot unless unchanged `{device?}`.
    SnapshotMaybe,
    /// Snapshot retention `{pruneLegacy}`.
    SnapshotPrune,
    /// The device ledger (`room::device_ledger`); loads the document.
    Devices,
    /// A snapshot's notes against the live vault `{snapshotId}`.
    SnapshotFiles,
    /// One note's text in a snapshot `{snapshotId, path}`.
    SnapshotFile,
    /// Notes restored from a snapshot `{snapshotId, paths, dryRun, device?}`.
    SnapshotRestore,
}

/// What every internal route is: a method and a path, requested under
/// [`INTERNAL_ORIGIN`]; the rest is derived from [`InternalRoute::endpoint`].
pub trait InternalRoute: Copy + PartialEq + 'static {
    /// Every route of the object.
    const ALL: &'static [Self];

    /// `(method, path)`.
    fn endpoint(self) -> (&'static str, &'static str);

    fn method(self) -> &'static str {
        self.endpoint().0
    }

    fn path(self) -> &'static str {
        self.endpoint().1
    }

    /// The URL the caller requests.
    fn url(self) -> String {
        format!("{INTERNAL_ORIGIN}{}", self.path())
    }

    /// The route a request names; `None` for anything else.
    fn parse(method: &str, path: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.endpoint() == (method, path))
    }
}

impl InternalRoute for RoomRoute {
    const ALL: &'static [RoomRoute] = &[
        RoomRoute::Meta,
        RoomRoute::Document,
        RoomRoute::Debug,
        RoomRoute::Trace,
        RoomRoute::Compact,
        RoomRoute::CleanupKv,
        RoomRoute::RepairMigration,
        RoomRoute::Snapshot,
        RoomRoute::SnapshotMaybe,
        RoomRoute::SnapshotPrune,
        RoomRoute::Devices,
        RoomRoute::SnapshotFiles,
        RoomRoute::SnapshotFile,
        RoomRoute::SnapshotRestore,
    ];

    fn endpoint(self) -> (&'static str, &'static str) {
        use RoomRoute::*;
        match self {
            Meta => ("GET", "/__yaos/meta"),
            Document => ("GET", "/__yaos/document"),
            Debug => ("GET", "/__yaos/debug"),
            Trace => ("POST", "/__yaos/trace"),
            Compact => ("POST", "/__yaos/compact"),
            CleanupKv => ("POST", "/__yaos/cleanup-kv"),
            RepairMigration => ("POST", "/__yaos/repair-migration"),
            Snapshot => ("POST", "/__yaos/snapshot"),
            SnapshotMaybe => ("POST", "/__yaos/snapshot-maybe"),
            SnapshotPrune => ("POST", "/__yaos/snapshot-prune"),
            Devices => ("GET", "/__yaos/devices"),
            SnapshotFiles => ("POST", "/__yaos/snapshot-files"),
            SnapshotFile => ("POST", "/__yaos/snapshot-file"),
            SnapshotRestore => ("POST", "/__yaos/snapshot-restore"),
        }
    }
}

impl RoomRoute {
    /// Routes that exist only when `YAOS_ENABLE_ADMIN_ROUTES` is set.
    pub fn is_admin(self) -> bool {
        matches!(self, RoomRoute::Compact | RoomRoute::CleanupKv | RoomRoute::RepairMigration)
    }
}

/// The variable that turns the admin routes on.
pub const ADMIN_ROUTES_VAR: &str = "YAOS_ENABLE_ADMIN_ROUTES";

/// The values of [`ADMIN_ROUTES_VAR`] that turn the admin routes on, compared
/// trimmed and case-insensitively. Anything else (unset, empty, `0`, `false`,
/// `no`, a typo) leaves them off: the TypeScript server took any non-empty
/// value, so `"0"` or `"false"` turned on routes that can delete data.
pub const ADMIN_ROUTES_ON_VALUES: [&str; 4] = ["1", "true", "yes", "on"];

/// Whether the admin routes are on for this value of [`ADMIN_ROUTES_VAR`].
pub fn admin_routes_enabled(value: Option<&str>) -> bool {
    let Some(value) = value else { return false };
    let value = value.trim();
    ADMIN_ROUTES_ON_VALUES.iter().any(|on| value.eq_ignore_ascii_case(on))
}

/// A route of the config object (`ServerConfig`, named `global-config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigRoute {
    /// The stored config.
    Config,
    /// The one-time claim `{tokenHash}`.
    Claim,
    /// The update metadata write.
    UpdateMetadata,
}

impl InternalRoute for ConfigRoute {
    const ALL: &'static [ConfigRoute] =
        &[ConfigRoute::Config, ConfigRoute::Claim, ConfigRoute::UpdateMetadata];

    fn endpoint(self) -> (&'static str, &'static str) {
        match self {
            ConfigRoute::Config => ("GET", "/__yaos/config"),
            ConfigRoute::Claim => ("POST", "/__yaos/claim"),
            ConfigRoute::UpdateMetadata => ("POST", "/__yaos/update-metadata"),
        }
    }
}

/// The internal origin these routes are requested under.
pub const INTERNAL_ORIGIN: &str = "https://internal";

/// The header that names the room on internal requests.
pub const ROOM_HEADER: &str = "x-partykit-room";

/// The header on a forwarded sync-socket request that carries the client
/// schema the Worker admitted (spec 5.6 step 2), for the object's room-schema
/// check (step 3). The Worker drops any value a client sent.
pub const CLIENT_SCHEMA_HEADER: &str = "x-yaos-client-schema";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_parses_back_from_its_endpoint() {
        for &route in RoomRoute::ALL {
            assert_eq!(RoomRoute::parse(route.method(), route.path()), Some(route));
        }
        for &route in ConfigRoute::ALL {
            assert_eq!(ConfigRoute::parse(route.method(), route.path()), Some(route));
        }
        assert_eq!(RoomRoute::Meta.url(), "https://internal/__yaos/meta");
        assert_eq!(RoomRoute::parse("POST", "/__yaos/meta"), None, "wrong method");
        assert_eq!(RoomRoute::parse("GET", "/__yaos/snapshot"), None);
        assert_eq!(RoomRoute::parse("GET", "/vault/sync/x"), None);
        assert_eq!(ConfigRoute::parse("GET", "/__yaos/claim"), None);
        let admin: Vec<_> = RoomRoute::ALL.iter().copied().filter(|r| r.is_admin()).collect();
        assert_eq!(admin, [RoomRoute::Compact, RoomRoute::CleanupKv, RoomRoute::RepairMigration]);
    }

    #[test]
    fn admin_routes_are_on_only_for_an_explicit_true_value() {
        for on in ["1", "true", "TRUE", " True ", "yes", "on", "\ttrue\n"] {
            assert!(admin_routes_enabled(Some(on)), "{on:?} turns them on");
        }
        for off in ["0", "false", "FALSE", "no", "off", "", " ", "2", "truee", "enabled"] {
            assert!(!admin_routes_enabled(Some(off)), "{off:?} leaves them off");
        }
        assert!(!admin_routes_enabled(None));
    }
}
