//! `KvStore` over the Durable Object key-value API, with structured-clone
//! values converted to and from [`KvValue`] (bytes from any ArrayBuffer view).

use crate::store::kv::{KvError, KvStore, KvValue};
use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Storage;

use super::runtime::now_ms;
use crate::store::usage::Meter;

pub struct DoKv {
    storage: Storage,
    /// Where the rows each call reads and writes are counted, if anywhere
    /// (key-value storage of a SQLite-backed object is billed in rows).
    meter: Option<Meter>,
}

impl DoKv {
    pub fn new(storage: Storage) -> Self {
        DoKv { storage, meter: None }
    }

    /// [`DoKv::new`] counting into `meter`: a row read per key read or
    /// listed, a row written per key put or deleted.
    pub fn metered(storage: Storage, meter: Meter) -> Self {
        DoKv { storage, meter: Some(meter) }
    }

    fn count(&self, read: usize, written: usize) {
        if let Some(meter) = &self.meter {
            meter.borrow_mut().record_rows(now_ms(), read as u64, written as u64);
        }
    }
}

fn err(e: JsValue) -> KvError {
    KvError(e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// Converts a structured-clone value to a [`KvValue`].
pub fn from_js(value: &JsValue) -> KvValue {
    if value.is_null() || value.is_undefined() {
        return KvValue::Null;
    }
    if let Some(b) = value.as_bool() {
        return KvValue::Bool(b);
    }
    if let Some(n) = value.as_f64() {
        return KvValue::Number(n);
    }
    if let Some(s) = value.as_string() {
        return KvValue::String(s);
    }
    if let Some(buf) = value.dyn_ref::<ArrayBuffer>() {
        return KvValue::Bytes(Uint8Array::new(buf).to_vec());
    }
    if ArrayBuffer::is_view(value) {
        // Any typed array or DataView: read exactly its window of the buffer.
        let buffer = Reflect::get(value, &"buffer".into()).unwrap_or(JsValue::UNDEFINED);
        let offset = Reflect::get(value, &"byteOffset".into()).ok().and_then(|v| v.as_f64());
        let length = Reflect::get(value, &"byteLength".into()).ok().and_then(|v| v.as_f64());
        if let (Some(buf), Some(offset), Some(length)) =
            (buffer.dyn_ref::<ArrayBuffer>(), offset, length)
        {
            return KvValue::Bytes(
                Uint8Array::new_with_byte_offset_and_length(buf, offset as u32, length as u32)
                    .to_vec(),
            );
        }
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        return KvValue::Array(array.iter().map(|v| from_js(&v)).collect());
    }
    if let Some(object) = value.dyn_ref::<Object>() {
        let entries = Object::entries(object)
            .iter()
            .filter_map(|pair| {
                let pair: Array = pair.unchecked_into();
                Some((pair.get(0).as_string()?, from_js(&pair.get(1))))
            })
            .collect();
        return KvValue::Object(entries);
    }
    KvValue::Null
}

/// Converts a [`KvValue`] to a structured-cloneable JavaScript value.
pub fn to_js(value: &KvValue) -> JsValue {
    match value {
        KvValue::Null => JsValue::NULL,
        KvValue::Bool(b) => JsValue::from_bool(*b),
        KvValue::Number(n) => JsValue::from_f64(*n),
        KvValue::String(s) => JsValue::from_str(s),
        KvValue::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        KvValue::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        KvValue::Object(entries) => {
            let object = Object::new();
            for (k, v) in entries {
                let _ = Reflect::set(&object, &JsValue::from_str(k), &to_js(v));
            }
            object.into()
        }
    }
}

impl KvStore for DoKv {
    async fn get(&self, key: &str) -> Result<Option<KvValue>, KvError> {
        let promise = self.storage.as_raw().get(key).map_err(err)?;
        let value = JsFuture::from(promise).await.map_err(err)?;
        self.count(1, 0);
        Ok(if value.is_undefined() { None } else { Some(from_js(&value)) })
    }

    async fn put(&self, key: &str, value: KvValue) -> Result<(), KvError> {
        let promise = self.storage.as_raw().put(key, to_js(&value)).map_err(err)?;
        JsFuture::from(promise).await.map_err(err)?;
        self.count(0, 1);
        Ok(())
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        for batch in keys.chunks(Self::BATCH_LIMIT) {
            let keys: Vec<JsValue> = batch.iter().map(|k| JsValue::from_str(k)).collect();
            let promise = self.storage.as_raw().delete_multiple(keys).map_err(err)?;
            JsFuture::from(promise).await.map_err(err)?;
            self.count(0, batch.len());
        }
        Ok(())
    }

    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, KvValue)>, KvError> {
        let options = Object::new();
        let _ = Reflect::set(&options, &"prefix".into(), &JsValue::from_str(prefix));
        let promise = self.storage.as_raw().list_with_options(options).map_err(err)?;
        let map: js_sys::Map = JsFuture::from(promise).await.map_err(err)?.unchecked_into();
        let mut out = Vec::with_capacity(map.size() as usize);
        map.for_each(&mut |value, key| {
            if let Some(key) = key.as_string() {
                out.push((key, from_js(&value)));
            }
        });
        self.count(out.len(), 0);
        Ok(out)
    }
}
