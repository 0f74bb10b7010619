//! The drop upstream: accepts TCP connections and closes them without ever
//! answering, for "upstream hung up" tests. It can close at once, close after
//! reading the request head (a clean FIN), or reset after reading the head
//! (an RST, via a zero linger).

use std::ops::Deref;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::server::{Conn, ServerHandle, bind, spawn_tcp};

/// When and how a [`DropServer`] hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropMode {
    /// Close right after accepting, before reading anything.
    Immediately,
    /// Read the request head (up to the blank line), then close (FIN).
    AfterHead,
    /// Read the request head, then reset the connection (RST).
    ResetAfterHead,
}

/// Most bytes read while looking for the end of a request head.
const MAX_HEAD: usize = 64 * 1024;

/// How long to wait for a request head before giving up on it.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A running drop upstream. Derefs to [`ServerHandle`]; `connections()` counts
/// accepted connections and `request_count()` counts heads read.
#[derive(Debug)]
pub struct DropServer {
    handle: ServerHandle,
    mode: DropMode,
}

impl DropServer {
    pub async fn start(mode: DropMode) -> anyhow::Result<Self> {
        let listener = bind().await?;
        let handle = spawn_tcp(listener, move |conn| hang_up(conn, mode))?;
        Ok(Self { handle, mode })
    }

    pub fn mode(&self) -> DropMode {
        self.mode
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for DropServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn hang_up(conn: Conn, mode: DropMode) {
    let Conn {
        mut stream,
        ctx,
        mut shutdown,
    } = conn;
    if mode == DropMode::Immediately {
        return;
    }
    let read = tokio::select! {
        read = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => read,
        _ = shutdown.wait() => return,
    };
    if matches!(read, Ok(true)) {
        ctx.stats.count_request();
    }
    if mode == DropMode::ResetAfterHead {
        let _ = stream.set_zero_linger();
    }
}

/// Read until the end of a request head (`\r\n\r\n`); `false` on EOF or error first.
async fn read_head(stream: &mut TcpStream) -> bool {
    let mut seen = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while seen.len() < MAX_HEAD {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    return true;
                }
            }
        }
    }
    true
}
