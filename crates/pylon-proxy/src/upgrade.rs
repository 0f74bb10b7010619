//! HTTP/1.1 upgrades (WebSocket and friends): once the upstream answers 101,
//! the client's and the upstream's connections are joined and bytes are copied
//! both ways until either side closes.

use http::{Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tracing::debug;

use crate::body;
use crate::client::ProxyBody;
use crate::upstream::Selection;

/// Answer the client with the upstream's 101 and splice the two connections.
pub fn tunnel(
    mut upstream_resp: Response<Incoming>,
    client: OnUpgrade,
    sel: Selection,
) -> Response<ProxyBody> {
    let upstream_upgrade = hyper::upgrade::on(&mut upstream_resp);
    tokio::spawn(async move {
        // Holding the selection keeps the target's in-flight count for the tunnel's life.
        let _sel = sel;
        let (client_io, upstream_io) = match tokio::try_join!(client, upstream_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut client_io = TokioIo::new(client_io);
        let mut upstream_io = TokioIo::new(upstream_io);
        match tokio::io::copy_bidirectional(&mut client_io, &mut upstream_io).await {
            Ok((up, down)) => debug!(bytes_up = up, bytes_down = down, "tunnel closed"),
            Err(e) => debug!(error = %e, "tunnel ended with error"),
        }
    });
    let (parts, _) = upstream_resp.into_parts();
    let mut resp = Response::from_parts(parts, body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp
}
