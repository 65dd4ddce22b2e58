//! `VaultSyncServer`: one Durable Object per vault (named by the decoded
//! vault id). A thin adapter: everything happens in [`RoomHost`].

use std::rc::Rc;

use worker::*;

use super::room_host::RoomHost;
use super::room_routes;

#[durable_object]
pub struct VaultSyncServer {
    host: Rc<RoomHost>,
}

impl DurableObject for VaultSyncServer {
    fn new(state: State, env: Env) -> Self {
        // A panic anywhere in this object is logged with its message.
        console_error_panic_hook::set_once();
        VaultSyncServer { host: Rc::new(RoomHost::new(state, env)) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.host.count_request();
        room_routes::fetch(&self.host, req).await
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        self.host.count_message();
        match message {
            WebSocketIncomingMessage::Binary(bytes) => {
                if let Err(e) = self.host.on_binary(&ws, bytes).await {
                    console_error!("frame handling failed: {e}");
                }
            }
            WebSocketIncomingMessage::String(text) if text.starts_with("__YPS:") => {
                console_warn!("ignored a custom message from a client ({} bytes)", text.len());
            }
            WebSocketIncomingMessage::String(text) => {
                console_warn!("ignored a text frame from a client ({} bytes)", text.len());
            }
        }
        Ok(())
    }

    /// The only alarm this object sets: a deferred compaction.
    async fn alarm(&self) -> Result<Response> {
        self.host.count_request();
        if let Err(e) = self.host.run_deferred_compaction().await {
            console_error!("deferred compaction failed: {e}");
        }
        self.host.store_usage(false).await;
        Response::ok("")
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        reason: String,
        _clean: bool,
    ) -> Result<()> {
        self.host.on_close(&ws);
        // The last socket gone: the object may be evicted soon, so the day's
        // counts are stored now.
        if self.host.open_socket_count() == 0 {
            self.host.store_usage(true).await;
        }
        // Complete the closing handshake; the socket may already be gone.
        let code = if code == 1005 || code == 1006 { 1000 } else { code as u16 };
        let _ = ws.close(Some(code), Some(reason));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: Error) -> Result<()> {
        console_warn!("socket error: {error}");
        self.host.on_close(&ws);
        Ok(())
    }
}
