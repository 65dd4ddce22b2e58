//! The device ledger's table (`room::device_ledger`): one row a device, its
//! record as JSON. Separate from the document's tables; the document never
//! depends on it, so a failure here is logged by the caller and costs only
//! the ledger.

use super::sql::{SqlError, SqlExec, SqlParam, SqlValue};

const CREATE: &str =
    "CREATE TABLE IF NOT EXISTS device_ledger (device TEXT PRIMARY KEY, record TEXT NOT NULL)";

/// Creates the table if needed and reads every row (device, record JSON).
pub fn load(sql: &impl SqlExec) -> Result<Vec<(String, String)>, SqlError> {
    sql.execute(CREATE, &[])?;
    let mut rows = Vec::new();
    sql.query("SELECT device, record FROM device_ledger", &[], &mut |row| {
        if let [SqlValue::Text(device), SqlValue::Text(record)] = row.as_slice() {
            rows.push((device.clone(), record.clone()));
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Writes each device's record (`Some`, as JSON) or deletes its row (`None`).
pub fn write(sql: &impl SqlExec, writes: &[(String, Option<String>)]) -> Result<(), SqlError> {
    for (device, record) in writes {
        match record {
            Some(json) => sql.execute(
                "INSERT OR REPLACE INTO device_ledger (device, record) VALUES (?, ?)",
                &[SqlParam::Text(device), SqlParam::Text(json)],
            )?,
            None => sql
                .execute("DELETE FROM device_ledger WHERE device = ?", &[SqlParam::Text(device)])?,
        }
    }
    Ok(())
}
