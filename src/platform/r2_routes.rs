//! The Worker's attachment and snapshot routes (spec 7.3, 7.4): input rules
//! from `edge::blobs` / `edge::snapshots`, snapshot rules from
//! `snapshot::vault`, and here only the I/O. Bodies stream between the
//! request, R2 and the response without being copied into wasm memory.
//! Snapshot creation and pruning run in the vault's object (they need its
//! document, or its trace store); listing and downloads run here.

use futures::stream::{self, StreamExt};
use js_sys::{Array, Uint8Array};
use serde_json::json;
use wasm_bindgen::JsCast;
use worker::*;

use crate::edge::blobs::{self, DeclaredLength, DEFAULT_BLOB_CONTENT_TYPE, HEAD_CONCURRENCY};
use crate::edge::body::MAX_BLOBS_EXIST_BODY_BYTES;
use crate::edge::http::{parse_json_body, EdgeError, Reply};
use crate::edge::snapshots::list_limit;
use crate::hex::sha256_from_hex;
use crate::snapshot::vault::{VaultSnapshots, PAYLOAD_CONTENT_TYPE};

use super::auth_gate::header;
use super::body::read_body;
use super::r2::{bucket, join_parts, put_js, R2Bucket};

/// A reply, or a reply whose body is a stream the shell attaches.
pub struct Answer {
    pub reply: Reply,
    pub stream: Option<web_sys::ReadableStream>,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer { reply, stream: None }
    }
}

fn blob_bucket(env: &Env) -> std::result::Result<R2Bucket, Reply> {
    bucket(env).ok_or_else(|| EdgeError::AttachmentsUnavailable.reply())
}

fn snapshot_bucket(env: &Env) -> std::result::Result<R2Bucket, Reply> {
    bucket(env).ok_or_else(|| EdgeError::SnapshotsUnavailable.reply())
}

/// `POST /blobs/exists`: `{present}` in input order, HEADs 4 at a time.
pub async fn blobs_exist(req: Request, env: &Env, vault_id: &str) -> Result<Answer> {
    let bucket = match blob_bucket(env) {
        Ok(b) => b,
        Err(reply) => return Ok(reply.into()),
    };
    let body = read_body(&req, MAX_BLOBS_EXIST_BODY_BYTES).await?;
    let hashes =
        match body.and_then(|b| parse_json_body(&b)).and_then(|b| blobs::exists_request(&b)) {
            Ok(hashes) => hashes,
            Err(e) => return Ok(e.reply().into()),
        };
    let found: Vec<Result<Option<String>>> = stream::iter(hashes)
        .map(|hash| {
            let bucket = &bucket;
            async move {
                let head = bucket.0.head(blobs::blob_key(vault_id, &hash)).await?;
                Ok(head.map(|_| hash))
            }
        })
        .buffered(HEAD_CONCURRENCY)
        .collect()
        .await;
    let mut present = Vec::new();
    for item in found {
        if let Some(hash) = item? {
            present.push(hash);
        }
    }
    Ok(Reply::json(200, json!({ "present": present })).into())
}

/// `PUT /blobs/<hash>`: 204 once R2 holds the body. R2 checks the SHA-256
/// itself (the `sha256` put option), so the body streams from the request
/// into the bucket and a mismatch is R2's refusal.
pub async fn put_blob(req: Request, env: &Env, vault_id: &str, hash: &str) -> Result<Answer> {
    let bucket = match blob_bucket(env) {
        Ok(b) => b,
        Err(reply) => return Ok(reply.into()),
    };
    let declared = match blobs::check_upload(hash, header(&req, "Content-Length").as_deref()) {
        Ok(declared) => declared,
        Err(e) => return Ok(e.reply().into()),
    };
    let Some(digest) = sha256_from_hex(hash) else {
        return Ok(EdgeError::InvalidHash.reply().into());
    };
    let content_type =
        header(&req, "Content-Type").unwrap_or_else(|| DEFAULT_BLOB_CONTENT_TYPE.into());
    let body = req.inner().body();
    let value: wasm_bindgen::JsValue = match (declared, body) {
        (DeclaredLength::Known(0), _) | (_, None) => {
            return Ok(EdgeError::MissingBody.reply().into())
        }
        // The platform enforces the declared length on the stream.
        (DeclaredLength::Known(_), Some(stream)) => stream.into(),
        (DeclaredLength::Unknown, Some(stream)) => match read_bounded(stream).await? {
            Ok(bytes) => bytes.into(),
            Err(e) => return Ok(e.reply().into()),
        },
    };
    match put_js(&bucket.0, &blobs::blob_key(vault_id, hash), &value, &content_type, Some(&digest))
        .await
    {
        Ok(()) => Ok(Reply::empty(204).into()),
        Err(e) if is_digest_mismatch(&e.to_string()) => Ok(EdgeError::HashMismatch.reply().into()),
        Err(e) => Err(e),
    }
}

/// R2's refusal of a put whose content does not match its `sha256`.
fn is_digest_mismatch(message: &str) -> bool {
    message.contains("did not match") || message.contains("10037") || message.contains("BadDigest")
}

/// A body of unknown length, read chunk by chunk in JavaScript (nothing
/// copied into wasm) and refused once it passes the upload cap.
async fn read_bounded(
    stream: web_sys::ReadableStream,
) -> Result<std::result::Result<Uint8Array, EdgeError>> {
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let parts = Array::new();
    let mut total = 0u64;
    loop {
        let step = wasm_bindgen_futures::JsFuture::from(reader.read()).await?;
        if js_sys::Reflect::get(&step, &"done".into())?.is_truthy() {
            break;
        }
        let chunk: Uint8Array = js_sys::Reflect::get(&step, &"value".into())?.unchecked_into();
        total += u64::from(chunk.length());
        if let Err(e) = blobs::check_body_length(total) {
            let _ = reader.cancel();
            return Ok(Err(e));
        }
        parts.push(&chunk);
    }
    if total == 0 {
        return Ok(Err(EdgeError::MissingBody));
    }
    Ok(Ok(join_parts(&parts, total)))
}

/// `GET /blobs/<hash>`: the stored body streamed through, with its type.
pub async fn get_blob(env: &Env, vault_id: &str, hash: &str) -> Result<Answer> {
    let bucket = match blob_bucket(env) {
        Ok(b) => b,
        Err(reply) => return Ok(reply.into()),
    };
    if let Err(e) = blobs::check_hash(hash) {
        return Ok(e.reply().into());
    }
    let Some(object) = bucket.0.get(blobs::blob_key(vault_id, hash)).execute().await? else {
        return Ok(EdgeError::NotFound.reply().into());
    };
    let content_type =
        object.http_metadata().content_type.unwrap_or_else(|| DEFAULT_BLOB_CONTENT_TYPE.into());
    stream_answer(&object, Reply::streamed(200, content_type))
}

/// The object's body as the answer's stream.
fn stream_answer(object: &Object, reply: Reply) -> Result<Answer> {
    let stream = match object.body().map(|b| b.response_body()).transpose()? {
        Some(ResponseBody::Stream(stream)) => Some(stream),
        _ => None,
    };
    Ok(Answer { reply, stream })
}

/// `GET /snapshots?limit=N[&format=v2]`.
pub async fn list_snapshots(req: &Request, env: &Env, vault_id: &str) -> Result<Answer> {
    let bucket = match snapshot_bucket(env) {
        Ok(b) => b,
        Err(reply) => return Ok(reply.into()),
    };
    let url = req.url()?;
    let query =
        |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let limit = list_limit(query("limit").as_deref());
    let v2 = query("format").as_deref() == Some("v2");
    let listing = VaultSnapshots::new(&bucket, vault_id)
        .list(Some(limit))
        .await
        .map_err(|e| Error::RustError(e.to_string()))?;
    Ok(Reply::json(200, listing.to_json(v2)).into())
}

/// `GET /snapshots/status`.
pub async fn snapshot_status(env: &Env, vault_id: &str) -> Result<Answer> {
    let bucket = match snapshot_bucket(env) {
        Ok(b) => b,
        Err(reply) => return Ok(reply.into()),
    };
    let status = VaultSnapshots::new(&bucket, vault_id)
        .status()
        .await
        .map_err(|e| Error::RustError(e.to_string()))?;
    Ok(Reply::json(200, status).into())
}

/// `GET /snapshots/<id>`: the gzip payload streamed through, with the
/// index's day in `X-YAOS-Snapshot-Day`. An ID that does not parse is not
/// found without touching the bucket.
pub async fn get_snapshot(env: &Env, vault_id: &str, snapshot_id: &str) -> Result<Answer> {
    let bucket = match snapshot_bucket(env) {
        Ok(b) => b,
        Err(reply) => return Ok(reply.into()),
    };
    let snapshots = VaultSnapshots::new(&bucket, vault_id);
    let Some(keys) = snapshots.keys_of(snapshot_id) else {
        return Ok(EdgeError::NotFound.reply().into());
    };
    let (index, payload) =
        futures::join!(bucket.0.get(&keys.index).execute(), bucket.0.get(&keys.payload).execute());
    let (Some(index), Some(payload)) = (index?, payload?) else {
        return Ok(EdgeError::NotFound.reply().into());
    };
    let index_text = match index.body() {
        Some(body) => body.text().await?,
        None => String::new(),
    };
    let day = crate::snapshot::index::SnapshotIndex::parse(&index_text)
        .and_then(|i| i.day().map(str::to_owned))
        .unwrap_or(keys.day);
    let reply = Reply::streamed(200, PAYLOAD_CONTENT_TYPE).with_header("X-YAOS-Snapshot-Day", day);
    stream_answer(&payload, reply)
}
