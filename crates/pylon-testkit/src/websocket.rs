//! The WebSocket upstream: accepts an HTTP/1.1 upgrade on any path and echoes
//! every text and binary message back until the client closes. Pings are
//! answered by tungstenite. The handshake request is recorded (so tests can
//! check the path and headers a proxy forwarded), and the first offered
//! subprotocol, if any, is selected.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use crate::server::{Conn, RecordedRequest, ServerHandle, bind, spawn_tcp};

const PROTOCOL_HEADER: &str = "sec-websocket-protocol";

/// A running WebSocket echo upstream. Derefs to [`ServerHandle`]:
/// `connections()` counts TCP connections, `request_count()` completed
/// handshakes and `requests()` the handshake requests.
#[derive(Debug)]
pub struct WebSocketServer {
    handle: ServerHandle,
    messages: Arc<AtomicU64>,
}

impl WebSocketServer {
    pub async fn start() -> anyhow::Result<Self> {
        let messages = Arc::new(AtomicU64::new(0));
        let counter = messages.clone();
        let listener = bind().await?;
        let handle = spawn_tcp(listener, move |conn| serve(conn, counter.clone()))?;
        Ok(Self { handle, messages })
    }

    /// `ws://127.0.0.1:<port>` followed by `path` (which should start with `/`).
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.handle.addr(), path)
    }

    /// Text and binary messages echoed so far, over all connections.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::SeqCst)
    }

    /// Stop gracefully: open sessions get a close frame.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for WebSocketServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn serve(conn: Conn, messages: Arc<AtomicU64>) {
    let Conn {
        stream,
        ctx,
        mut shutdown,
    } = conn;
    let record_ctx = ctx;
    // The callback's signature is tungstenite's, large error type and all.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let record = RecordedRequest::from_head(
            req.method().clone(),
            req.uri().clone(),
            req.version(),
            req.headers().clone(),
            &record_ctx,
        );
        record_ctx.stats.count_request();
        record_ctx.stats.record(record);
        let first = req
            .headers()
            .get(PROTOCOL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .and_then(|p| http::HeaderValue::from_str(p).ok());
        if let Some(protocol) = first {
            resp.headers_mut().insert(PROTOCOL_HEADER, protocol);
        }
        Ok(resp)
    };
    let accepted = tokio::select! {
        accepted = tokio_tungstenite::accept_hdr_async(stream, callback) => accepted,
        _ = shutdown.wait() => return,
    };
    let Ok(mut ws) = accepted else {
        return;
    };
    loop {
        tokio::select! {
            next = ws.next() => match next {
                Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                    messages.fetch_add(1, Ordering::SeqCst);
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
                // Pings are answered and closes acknowledged by tungstenite itself.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = shutdown.wait() => {
                let _ = ws.close(None).await;
                break;
            }
        }
    }
}
