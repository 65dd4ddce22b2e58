//! Turns the core's [`Reply`] into a `worker::Response`, deciding nothing;
//! and a sync-socket [`Rejection`] into its response (spec 5.7), in the
//! Worker (auth, client schema) or in the vault object (room schema).

use crate::edge::admission::{Rejection, CLOSE_CODE};
use crate::edge::http::{Body, Reply};
use worker::{
    console_warn, Headers, Response, ResponseBody, ResponseBuilder, Result, WebSocketPair,
};

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

/// Rejection protocol (spec 5.7): JSON for plain HTTP; for a WebSocket, a 101
/// whose socket carries the error frames and closes with 1008. The socket is
/// accepted outside hibernation: it never reaches a room.
pub fn reject_socket(rejection: &Rejection, is_websocket: bool) -> Result<Response> {
    console_warn!("sync socket rejected: {}", rejection.code());
    if !is_websocket {
        return to_response(rejection.http_reply());
    }
    let pair = WebSocketPair::new()?;
    let server = pair.server;
    server.accept()?;
    for frame in rejection.frames() {
        server.send_with_str(frame)?;
    }
    server.close(Some(CLOSE_CODE), Some(rejection.close_reason()))?;
    Response::from_websocket(pair.client)
}
