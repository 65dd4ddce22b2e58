//! Turns the core's [`Reply`] into a `worker::Response`, deciding nothing.

use crate::edge::http::{Body, Reply};
use worker::{Headers, Response, ResponseBody, ResponseBuilder, Result};

fn builder(reply: &Reply) -> Result<ResponseBuilder> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    Ok(ResponseBuilder::new().with_status(reply.status).with_headers(headers))
}

/// The reply's head with `stream` as its body (a download passed through).
pub fn to_streaming_response(reply: Reply, stream: web_sys::ReadableStream) -> Result<Response> {
    Ok(builder(&reply)?.body(ResponseBody::Stream(stream)))
}

pub fn to_response(reply: Reply) -> Result<Response> {
    let builder = builder(&reply)?;
    Ok(match reply.body {
        Body::Empty => builder.empty(),
        Body::Json(value) => builder.fixed(serde_json::to_vec(&value)?),
        Body::Html(html) => builder.fixed(html.into_bytes()),
        Body::Bytes(bytes) => builder.fixed(bytes),
    })
}
