//! Reads a request body in pieces against its limit (`edge::body`): the
//! declared `Content-Length` is checked first, then each piece of the
//! request's stream is measured in JavaScript and copied into wasm memory
//! only if the body stays within the limit. A refused body is cancelled, not
//! drained, so no more of it is read.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use worker::{Request, Result};

use crate::edge::body::BoundedBody;
use crate::edge::http::EdgeError;

/// The body, or the core's refusal (`413`) once it would pass `max_bytes`.
pub async fn read_body(
    req: &Request,
    max_bytes: u64,
) -> Result<std::result::Result<Vec<u8>, EdgeError>> {
    let declared = req.headers().get("Content-Length").ok().flatten();
    let mut body = match BoundedBody::start(max_bytes, declared.as_deref()) {
        Ok(body) => body,
        Err(e) => return Ok(Err(e)),
    };
    let Some(stream) = req.inner().body() else { return Ok(Ok(body.into_bytes())) };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    // Bounded: every piece adds a byte or counts as empty, and the core
    // refuses past the limit or too many empty pieces.
    loop {
        let step = wasm_bindgen_futures::JsFuture::from(reader.read()).await?;
        if js_sys::Reflect::get(&step, &"done".into())?.is_truthy() {
            break;
        }
        let piece: Uint8Array = js_sys::Reflect::get(&step, &"value".into())?.unchecked_into();
        let len = piece.length() as usize;
        if let Err(e) = body.push_with(len, |slot| piece.copy_to(slot)) {
            reader.release_lock();
            return Ok(Err(e));
        }
    }
    Ok(Ok(body.into_bytes()))
}
