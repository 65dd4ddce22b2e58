//! The R2 binding (`YAOS_BUCKET`) adapted to the core [`Bucket`] seam, and
//! the stream-through helpers the blob and snapshot downloads use.
//!
//! A snapshot payload is collected as JavaScript `Uint8Array` pieces (each
//! piece copied out of wasm once, as the gzip encoder produces it) and joined
//! in JavaScript for the put, so the payload never sits in wasm memory.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use worker::{Bucket as R2, Env, HttpMetadata, Range};

use crate::bucket::{too_large, Bucket, BucketError, ListPage, PayloadSink};

/// The largest offset a range read may name (JavaScript's safe integers).
const MAX_SAFE_RANGE: u64 = (1 << 53) - 1;

/// The binding's name in `wrangler.toml`.
pub const BUCKET_BINDING: &str = "YAOS_BUCKET";

/// The bucket, when the deployment binds one.
pub fn bucket(env: &Env) -> Option<R2Bucket> {
    env.bucket(BUCKET_BINDING).ok().map(R2Bucket)
}

/// Whether attachments and snapshots are offered: exactly when a bucket is bound.
pub fn r2_bound(env: &Env) -> bool {
    bucket(env).is_some()
}

pub struct R2Bucket(pub R2);

fn err(e: impl std::fmt::Display) -> BucketError {
    BucketError(e.to_string())
}

fn metadata(content_type: &str) -> HttpMetadata {
    HttpMetadata { content_type: Some(content_type.to_owned()), ..HttpMetadata::default() }
}

/// Pieces of a payload, held in JavaScript memory.
pub struct JsPayload {
    parts: Array,
    len: u64,
}

impl PayloadSink for JsPayload {
    fn write(&mut self, piece: &[u8]) {
        self.parts.push(&Uint8Array::from(piece));
        self.len += piece.len() as u64;
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// `Uint8Array` pieces of `total` bytes joined into one JavaScript buffer.
pub fn join_parts(parts: &Array, total: u64) -> Uint8Array {
    let out = Uint8Array::new_with_length(total as u32);
    let mut offset = 0u32;
    for part in parts.iter() {
        let part: Uint8Array = part.unchecked_into();
        out.set(&part, offset);
        offset += part.length();
    }
    out
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `R2Bucket.put` with a JavaScript value, which workers-rs wraps only
    /// from wasm bytes.
    type RawBucket;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put_value(
        this: &RawBucket,
        key: &str,
        value: &JsValue,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// Puts a JavaScript value (a buffer, a request body stream) under `key`,
/// with `sha256` as R2's integrity check when given.
pub async fn put_js(
    bucket: &R2,
    key: &str,
    value: &JsValue,
    content_type: &str,
    sha256: Option<&[u8; 32]>,
) -> worker::Result<()> {
    let options = js_sys::Object::new();
    let http = js_sys::Object::new();
    js_sys::Reflect::set(&http, &"contentType".into(), &content_type.into())?;
    js_sys::Reflect::set(&options, &"httpMetadata".into(), &http)?;
    if let Some(digest) = sha256 {
        js_sys::Reflect::set(&options, &"sha256".into(), &Uint8Array::from(&digest[..]).buffer())?;
    }
    let raw: &RawBucket = bucket.as_ref().unchecked_ref();
    let promise = raw.put_value(key, value, &options)?;
    wasm_bindgen_futures::JsFuture::from(promise).await?;
    Ok(())
}

impl R2Bucket {
    /// The bytes of `range` of an object, or `None` when it does not exist.
    async fn bytes_in(&self, key: &str, range: Range) -> Result<Option<Vec<u8>>, BucketError> {
        let request = self.0.get(key).range(range).execute();
        let Some(object) = request.await.map_err(err)? else { return Ok(None) };
        match object.body() {
            Some(body) => Ok(Some(body.bytes().await.map_err(err)?)),
            None => Ok(None),
        }
    }
}

impl Bucket for R2Bucket {
    type Payload = JsPayload;

    async fn head(&self, key: &str) -> Result<Option<u64>, BucketError> {
        Ok(self.0.head(key).await.map_err(err)?.map(|o| o.size()))
    }

    async fn get_text(&self, key: &str) -> Result<Option<String>, BucketError> {
        let Some(object) = self.0.get(key).execute().await.map_err(err)? else { return Ok(None) };
        match object.body() {
            Some(body) => Ok(Some(body.text().await.map_err(err)?)),
            None => Ok(None),
        }
    }

    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>, BucketError> {
        // worker's range asserts JavaScript-safe integers: checked here.
        if offset.checked_add(length).is_none_or(|end| end > MAX_SAFE_RANGE) {
            return Err(err(format!("range {offset}+{length} of {key} is out of bounds")));
        }
        let range = Range::OffsetWithLength { offset, length };
        self.bytes_in(key, range).await
    }

    async fn get_bytes(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, BucketError> {
        match self.0.head(key).await.map_err(err)? {
            None => return Ok(None),
            Some(o) if o.size() > max => return Err(too_large(key, o.size(), max)),
            Some(_) => {}
        }
        // Read only up to `max`, should the object have grown since the head.
        self.bytes_in(key, Range::Prefix { length: max }).await
    }

    async fn put_json(&self, key: &str, json: String) -> Result<(), BucketError> {
        self.0
            .put(key, json)
            .http_metadata(metadata("application/json"))
            .execute()
            .await
            .map_err(err)?;
        Ok(())
    }

    fn payload(&self) -> JsPayload {
        JsPayload { parts: Array::new(), len: 0 }
    }

    async fn put_payload(
        &self,
        key: &str,
        payload: JsPayload,
        content_type: &str,
    ) -> Result<(), BucketError> {
        let joined = join_parts(&payload.parts, payload.len);
        drop(payload);
        put_js(&self.0, key, &joined, content_type, None).await.map_err(err)
    }

    async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ListPage, BucketError> {
        let mut request = self.0.list().prefix(prefix).limit(limit);
        if let Some(cursor) = cursor {
            request = request.cursor(cursor);
        }
        let page = request.execute().await.map_err(err)?;
        let keys = page.objects().iter().map(|o| o.key()).collect();
        let cursor = if page.truncated() { page.cursor() } else { None };
        Ok(ListPage { keys, cursor })
    }

    async fn delete(&self, keys: Vec<String>) -> Result<(), BucketError> {
        self.0.delete_multiple(keys).await.map_err(err)
    }
}
