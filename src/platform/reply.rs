//! Turns the core's [`Reply`] into a `worker::Response`, deciding nothing.

use crate::edge::http::{Body, Reply};
use worker::{Headers, Response, ResponseBuilder, Result};

pub fn to_response(reply: Reply) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let builder = ResponseBuilder::new().with_status(reply.status).with_headers(headers);
    Ok(match reply.body {
        Body::Empty => builder.empty(),
        Body::Json(value) => builder.fixed(serde_json::to_vec(&value)?),
        Body::Html(html) => builder.fixed(html.into_bytes()),
        Body::Bytes(bytes) => builder.fixed(bytes),
    })
}
