//! `roomMeta` (spec 11.1): the vault's schema version cached in key-value
//! storage so the Worker can check schema admission without loading the doc.

use crate::diagnostics::timefmt::iso_from_ms;
use crate::store::kv::KvValue;

pub const ROOM_META_KEY: &str = "roomMeta";

/// `{schemaVersion: int ≥ 0 or null, updatedAt: ISO}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMeta {
    pub schema_version: Option<i64>,
    pub updated_at: String,
}

impl RoomMeta {
    /// Meta for the live schema version, stamped at `now_ms`.
    pub fn new(schema_version: Option<i64>, now_ms: u64) -> Self {
        RoomMeta { schema_version, updated_at: iso_from_ms(now_ms) }
    }

    /// Reads a stored value, rejecting anything the server could not have
    /// written (a bad version or an empty timestamp).
    pub fn from_kv(value: &KvValue) -> Option<Self> {
        let schema_version = match value.get("schemaVersion")? {
            KvValue::Null => None,
            KvValue::Number(n) if n.is_finite() && n.fract() == 0.0 && *n >= 0.0 => Some(*n as i64),
            _ => return None,
        };
        match value.get("updatedAt")? {
            KvValue::String(s) if !s.is_empty() => {
                Some(RoomMeta { schema_version, updated_at: s.clone() })
            }
            _ => None,
        }
    }

    pub fn to_kv(&self) -> KvValue {
        let version = self.schema_version.map_or(KvValue::Null, |v| KvValue::Number(v as f64));
        KvValue::Object(vec![
            ("schemaVersion".into(), version),
            ("updatedAt".into(), KvValue::String(self.updated_at.clone())),
        ])
    }

    /// The meta as the `/__yaos/meta` route returns it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "schemaVersion": self.schema_version, "updatedAt": self.updated_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(version: KvValue, updated_at: KvValue) -> KvValue {
        KvValue::Object(vec![("schemaVersion".into(), version), ("updatedAt".into(), updated_at)])
    }

    #[test]
    fn round_trips_through_kv() {
        for version in [Some(3), None] {
            let meta = RoomMeta::new(version, 1_779_963_072_345);
            assert_eq!(meta.updated_at, "2026-05-28T10:11:12.345Z");
            assert_eq!(RoomMeta::from_kv(&meta.to_kv()), Some(meta));
        }
    }

    #[test]
    fn rejects_invalid_values() {
        let ts = || KvValue::String("2026-05-28T10:11:12.345Z".into());
        assert_eq!(
            RoomMeta::from_kv(&stored(KvValue::Number(2.0), ts())).unwrap().schema_version,
            Some(2)
        );
        for bad in [
            KvValue::Number(-1.0),
            KvValue::Number(2.5),
            KvValue::Number(f64::INFINITY),
            KvValue::String("3".into()),
        ] {
            assert_eq!(RoomMeta::from_kv(&stored(bad, ts())), None);
        }
        assert_eq!(RoomMeta::from_kv(&stored(KvValue::Null, KvValue::String(String::new()))), None);
        assert_eq!(RoomMeta::from_kv(&KvValue::Null), None);
    }
}
