//! The key-value seam: the Durable Object key-value API as the core sees it.
//!
//! Values written by the JavaScript server are structured clones; [`KvValue`]
//! models the subset that server wrote (plain objects, arrays, primitives and
//! bytes from Uint8Array, ArrayBuffer or other views). Calls are async because
//! the platform's key-value API is.

/// A structured-clone value as read from (or written to) key-value storage.
#[derive(Debug, Clone, PartialEq)]
pub enum KvValue {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// Bytes from a Uint8Array, an ArrayBuffer or another ArrayBuffer view.
    Bytes(Vec<u8>),
    Array(Vec<KvValue>),
    /// A plain object, keys in insertion order.
    Object(Vec<(String, KvValue)>),
}

impl KvValue {
    /// Looks up a key of an object value.
    pub fn get(&self, key: &str) -> Option<&KvValue> {
        match self {
            KvValue::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts JSON into a key-value value (objects keep their key order).
    pub fn from_json(value: &serde_json::Value) -> KvValue {
        use serde_json::Value;
        match value {
            Value::Null => KvValue::Null,
            Value::Bool(b) => KvValue::Bool(*b),
            Value::Number(n) => KvValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => KvValue::String(s.clone()),
            Value::Array(items) => KvValue::Array(items.iter().map(KvValue::from_json).collect()),
            Value::Object(map) => KvValue::Object(
                map.iter().map(|(k, v)| (k.clone(), KvValue::from_json(v))).collect(),
            ),
        }
    }

    /// Converts to JSON; bytes become an array of numbers, non-finite numbers null.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            KvValue::Null => Value::Null,
            KvValue::Bool(b) => Value::Bool(*b),
            KvValue::Number(n) => {
                if crate::safe_int::is_safe_integer(*n) {
                    Value::from(*n as i64)
                } else {
                    serde_json::Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null)
                }
            }
            KvValue::String(s) => Value::String(s.clone()),
            KvValue::Bytes(b) => Value::Array(b.iter().map(|x| Value::from(*x)).collect()),
            KvValue::Array(items) => Value::Array(items.iter().map(KvValue::to_json).collect()),
            KvValue::Object(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// Errors from the key-value API.
#[derive(Debug, thiserror::Error)]
#[error("key-value storage failed: {0}")]
pub struct KvError(pub String);

/// The key-value operations the core uses. Implemented over
/// `state.storage()` in `platform` and in memory for tests.
#[allow(async_fn_in_trait)] // single-threaded runtime: no Send bound wanted
pub trait KvStore {
    async fn get(&self, key: &str) -> Result<Option<KvValue>, KvError>;
    async fn put(&self, key: &str, value: KvValue) -> Result<(), KvError>;
    /// Most keys one batch call may name (the platform's limit); callers
    /// that batch work themselves use it, and `delete_many` honours it.
    const BATCH_LIMIT: usize = 128;

    /// Deletes the keys, in calls of at most [`KvStore::BATCH_LIMIT`].
    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;
    /// Keys starting with `prefix`, in ascending order, with their values.
    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, KvValue)>, KvError>;
}

/// An in-memory [`KvStore`] for native tests and benches.
#[derive(Debug, Default)]
pub struct MemoryKv {
    pub entries: std::cell::RefCell<std::collections::BTreeMap<String, KvValue>>,
}

impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<KvValue>, KvError> {
        Ok(self.entries.borrow().get(key).cloned())
    }
    async fn put(&self, key: &str, value: KvValue) -> Result<(), KvError> {
        self.entries.borrow_mut().insert(key.to_owned(), value);
        Ok(())
    }
    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        let mut entries = self.entries.borrow_mut();
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }
    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, KvValue)>, KvError> {
        Ok(self
            .entries
            .borrow()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
