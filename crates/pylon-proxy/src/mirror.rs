//! Request mirroring: a copy of the request goes to a shadow upstream in the
//! background through the normal forwarding path (its own timeouts, pool and
//! health), and whatever comes back is read and dropped. The client's request
//! never waits for the copy, and the copy leaves no access-log record.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::BodyExt;
use pylon_policy::policies::mirror::MirrorTo;

use crate::body;
use crate::context::RequestContext;
use crate::headers::is_upgrade_request;
use crate::snapshot::Snapshot;

/// Send a copy of the request described by `parts` (and `body`, when it was
/// read) to the mirror's upstream. Upgrade requests are not mirrored.
pub(crate) fn send_copy(
    snap: &Arc<Snapshot>,
    ctx: &RequestContext,
    route_index: usize,
    to: &MirrorTo,
    parts: &http::request::Parts,
    body: Option<Bytes>,
    upstream_path: &str,
) {
    if is_upgrade_request(&parts.headers) {
        return;
    }
    let Some(shadow) = snap.upstreams.get(&*to.upstream).cloned() else {
        return;
    };
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(parts.version);
    if let Some(h) = builder.headers_mut() {
        *h = parts.headers.clone();
        if body.is_none() {
            h.remove(header::CONTENT_LENGTH);
            h.remove(header::TRANSFER_ENCODING);
        }
    }
    let req = match builder.body(body.map_or_else(body::empty, body::full)) {
        Ok(r) => r,
        Err(_) => return,
    };
    let mut mctx = ctx.detached();
    let snap = snap.clone();
    let path = upstream_path.to_string();
    tokio::spawn(async move {
        let Some(route) = snap.routes.get(route_index) else {
            return;
        };
        match crate::forward::forward(&snap, &mut mctx, route, &shadow, req, path).await {
            Ok(resp) => {
                let _ = resp.into_body().collect().await;
            }
            Err(e) => {
                tracing::debug!(upstream = %shadow.name, error = %e, "mirrored request failed")
            }
        }
    });
}
