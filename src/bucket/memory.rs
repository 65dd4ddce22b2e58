//! An in-memory [`Bucket`] for native tests and examples: a sorted map with
//! R2's list semantics (ascending keys, pages, cursors) and switches that
//! make operations fail on demand.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::{too_large, Bucket, BucketError, ListPage, PayloadSink};

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug, Default)]
pub struct MemoryBucket {
    objects: RefCell<BTreeMap<String, StoredObject>>,
    /// Every write and delete, in order, as `"put <key>"` / `"delete <key>"`.
    pub writes: RefCell<Vec<String>>,
    /// When set, every `delete` fails.
    pub fail_deletes: Cell<bool>,
    /// When set, every `put_payload` fails.
    pub fail_payload_puts: Cell<bool>,
    /// How many `get_text` calls were made (for tests bounding the reads).
    pub gets: Cell<usize>,
}

impl MemoryBucket {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an object directly (for seeding test state).
    pub fn insert(&self, key: &str, body: impl Into<Vec<u8>>, content_type: &str) {
        let object = StoredObject { body: body.into(), content_type: content_type.to_owned() };
        self.objects.borrow_mut().insert(key.to_owned(), object);
    }

    pub fn object(&self, key: &str) -> Option<StoredObject> {
        self.objects.borrow().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.borrow().keys().cloned().collect()
    }

    pub fn remove(&self, key: &str) {
        self.objects.borrow_mut().remove(key);
    }
}

impl PayloadSink for Vec<u8> {
    fn write(&mut self, piece: &[u8]) {
        self.extend_from_slice(piece);
    }

    fn len(&self) -> u64 {
        Vec::len(self) as u64
    }
}

impl Bucket for MemoryBucket {
    type Payload = Vec<u8>;

    async fn head(&self, key: &str) -> Result<Option<u64>, BucketError> {
        Ok(self.objects.borrow().get(key).map(|o| o.body.len() as u64))
    }

    async fn get_text(&self, key: &str) -> Result<Option<String>, BucketError> {
        self.gets.set(self.gets.get() + 1);
        Ok(self.objects.borrow().get(key).map(|o| String::from_utf8_lossy(&o.body).into_owned()))
    }

    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>, BucketError> {
        self.gets.set(self.gets.get() + 1);
        Ok(self.objects.borrow().get(key).map(|o| {
            let start = (offset as usize).min(o.body.len());
            let end = start.saturating_add(length as usize).min(o.body.len());
            o.body[start..end].to_vec()
        }))
    }

    async fn get_bytes(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, BucketError> {
        self.gets.set(self.gets.get() + 1);
        match self.objects.borrow().get(key) {
            Some(o) if o.body.len() as u64 > max => Err(too_large(key, o.body.len() as u64, max)),
            Some(o) => Ok(Some(o.body.clone())),
            None => Ok(None),
        }
    }

    async fn put_json(&self, key: &str, json: String) -> Result<(), BucketError> {
        self.writes.borrow_mut().push(format!("put {key}"));
        self.insert(key, json, "application/json");
        Ok(())
    }

    fn payload(&self) -> Vec<u8> {
        Vec::new()
    }

    async fn put_payload(
        &self,
        key: &str,
        payload: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BucketError> {
        if self.fail_payload_puts.get() {
            return Err(BucketError("payload put refused".into()));
        }
        self.writes.borrow_mut().push(format!("put {key}"));
        self.insert(key, payload, content_type);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ListPage, BucketError> {
        let objects = self.objects.borrow();
        let mut keys = objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter(|k| cursor.as_ref().is_none_or(|after| *k > after))
            .take(limit as usize + 1)
            .cloned()
            .collect::<Vec<_>>();
        let cursor = (keys.len() > limit as usize).then(|| {
            keys.truncate(limit as usize);
            keys.last().cloned().unwrap_or_default()
        });
        Ok(ListPage { keys, cursor })
    }

    async fn delete(&self, keys: Vec<String>) -> Result<(), BucketError> {
        if self.fail_deletes.get() {
            return Err(BucketError("delete refused".into()));
        }
        let mut objects = self.objects.borrow_mut();
        for key in keys {
            self.writes.borrow_mut().push(format!("delete {key}"));
            objects.remove(&key);
        }
        Ok(())
    }
}
