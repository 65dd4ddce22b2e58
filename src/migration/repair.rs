//! The repair of a vault stuck read-only by a failed resume check: SQL holds
//! data without a migration marker and that data does not contain the legacy
//! key-value data (spec 10.2). Every activation then serves the legacy data
//! read-only again, for ever. The usual cause: a migration interrupted, the
//! old server rolled back to and written to, then the upgrade again.
//!
//! The repair merges the two copies (a CRDT merge: nothing of either is
//! lost), writes the merge as SQL's snapshot in one transaction (clearing the
//! journal), reads it back, checks it holds both, and writes the marker. The
//! legacy keys are never touched; `cleanup-kv` removes them later, as after
//! any migration. [`plan`] says what [`repair`] would do and changes nothing.

use serde::Serialize;
use yrs::{StateVector, Transact};

use super::fingerprint::same_document;
use super::source::{apply, build_source, read_sql, state_vector, Source};
use super::{LoadError, MARKER_KEY};
use crate::diagnostics::timefmt::iso_from_ms;
use crate::doc_model::summary::DocumentSummary;
use crate::encode;
use crate::encode::covers;
use crate::store::kv::KvStore;
use crate::store::legacy_kv;
use crate::store::legacy_kv::LegacyKvError;
use crate::store::sql::SqlExec;
use crate::store::sql_store::SqlDocStore;
use crate::store::DocStore;

/// Why a repair could not be planned or run. Nothing was changed, except in
/// the one case named (a snapshot that did not read back, marker unwritten).
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("SQL: {0}")]
    Sql(String),
    #[error(transparent)]
    Legacy(#[from] LegacyKvError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// What a repair would do, or why there is nothing to repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairPlan {
    /// The vault is in the stuck state and the repair would run.
    pub applicable: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
    pub sql_active_paths: u64,
    pub legacy_active_paths: u64,
    pub merged_active_paths: u64,
    pub merged_bytes: usize,
    /// What the repair does, in order.
    pub steps: Vec<&'static str>,
}

const STEPS: [&str; 4] = [
    "merge the SQL document and the legacy key-value document (nothing of either is dropped)",
    "write the merge as the SQL snapshot and clear the journal, in one transaction",
    "read it back and check it holds both copies",
    "write the migration marker; the legacy keys stay until cleanup-kv",
];

/// The two copies and their merge, if the vault is stuck.
struct Stuck {
    merged: Source,
    sql_paths: u64,
    legacy_paths: u64,
}

fn not_applicable(reason: &str) -> RepairPlan {
    RepairPlan {
        applicable: false,
        reason: Some(reason.to_owned()),
        sql_active_paths: 0,
        legacy_active_paths: 0,
        merged_active_paths: 0,
        merged_bytes: 0,
        steps: Vec::new(),
    }
}

async fn stuck<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
) -> Result<Result<Stuck, RepairPlan>, RepairError> {
    let Some(sql) = read_sql(store).map_err(RepairError::Sql)? else {
        return Ok(Err(not_applicable("SQL holds no data: the next load migrates normally")));
    };
    let marked = store
        .read_migration_meta()
        .map_err(|e| RepairError::Sql(e.to_string()))?
        .iter()
        .any(|(key, value)| key == MARKER_KEY && value == "true");
    if marked {
        return Ok(Err(not_applicable("the migration is complete: nothing to repair")));
    }
    let legacy = legacy_kv::read_legacy_kv(kv).await?;
    let Some(merged) = build_source(legacy)? else {
        return Ok(Err(not_applicable("no legacy data: the vault is served from SQL")));
    };
    if covers(&state_vector(&sql.doc), &state_vector(&merged.doc)) {
        return Ok(Err(not_applicable(
            "SQL contains the legacy data: the next load completes the migration",
        )));
    }
    let legacy_paths = merged.info.active_path_count;
    let sql_paths = DocumentSummary::of(&sql.doc).active_path_count;
    let sql_state = encode::state_as_update_v1(&sql.doc.transact(), &StateVector::default(), 0);
    drop(sql);
    apply(&merged.doc, &sql_state).map_err(|e| RepairError::Sql(e.0))?;
    Ok(Ok(Stuck { merged, sql_paths, legacy_paths }))
}

/// What [`repair`] would do. Reads only.
pub async fn plan<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
) -> Result<RepairPlan, RepairError> {
    let stuck = match stuck(store, kv).await? {
        Ok(stuck) => stuck,
        Err(plan) => return Ok(plan),
    };
    let merged_bytes =
        encode::state_as_update_v1(&stuck.merged.doc.transact(), &StateVector::default(), 0).len();
    Ok(RepairPlan {
        applicable: true,
        reason: None,
        sql_active_paths: stuck.sql_paths,
        legacy_active_paths: stuck.legacy_paths,
        merged_active_paths: DocumentSummary::of(&stuck.merged.doc).active_path_count,
        merged_bytes,
        steps: STEPS.to_vec(),
    })
}

/// Runs the repair (module docs). Returns the plan it carried out, or the
/// one saying why it did not run. `now_ms` dates the marker.
pub async fn repair<E: SqlExec, K: KvStore>(
    store: &SqlDocStore<E>,
    kv: &K,
    now_ms: u64,
) -> Result<RepairPlan, RepairError> {
    let stuck = match stuck(store, kv).await? {
        Ok(stuck) => stuck,
        Err(plan) => return Ok(plan),
    };
    let doc = &stuck.merged.doc;
    let merged_active_paths = DocumentSummary::of(doc).active_path_count;
    let merged_bytes = store
        .rewrite_checkpoint_streamed(&mut |sink| {
            encode::write_state_as_update_v1(&doc.transact(), &StateVector::default(), sink)
        })
        .map_err(|e| RepairError::Sql(e.to_string()))?;
    let back = read_sql(store).map_err(RepairError::Sql)?;
    // The whole document, content included, as the migration's own
    // verification compares it: a state vector alone would pass a snapshot
    // whose bytes read back changed.
    if !back.as_ref().is_some_and(|sql| same_document(doc, &sql.doc)) {
        // The marker stays unwritten: the next load resumes and checks again.
        return Err(RepairError::Sql("the repaired snapshot does not read back".into()));
    }
    let info = stuck.merged.info;
    let rows = [
        (MARKER_KEY, "true".to_owned()),
        ("migrated_at", iso_from_ms(now_ms)),
        ("source_format", if info.had_legacy_key { "legacy+kv" } else { "kv" }.to_owned()),
        ("source_entries", info.stats.entry_count.to_string()),
        ("source_bytes", info.stats.total_bytes.to_string()),
        ("snapshot_bytes", merged_bytes.to_string()),
        ("active_path_count", merged_active_paths.to_string()),
        ("repaired_at", iso_from_ms(now_ms)),
    ];
    let pairs: Vec<(&str, &str)> = rows.iter().map(|(k, v)| (*k, v.as_str())).collect();
    store.write_migration_meta(&pairs).map_err(|e| RepairError::Sql(e.to_string()))?;
    Ok(RepairPlan {
        applicable: true,
        reason: None,
        sql_active_paths: stuck.sql_paths,
        legacy_active_paths: stuck.legacy_paths,
        merged_active_paths,
        merged_bytes,
        steps: STEPS.to_vec(),
    })
}
