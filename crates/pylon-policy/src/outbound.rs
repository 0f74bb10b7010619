//! Outgoing HTTP(S) calls made by Pylon itself outside a policy (the control plane's
//! webhooks), on the same pooled client as the policies' own calls.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;

/// Most bytes of a webhook receiver's answer that are read (and then dropped).
const MAX_ANSWER: usize = 64 * 1024;

/// `POST` `body` to `url` with `headers` (and `content-type: application/json`), all
/// within `timeout`; returns the answer's status.
pub async fn post_json(
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    timeout: Duration,
) -> Result<http::StatusCode, String> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    crate::auth::fetch::send(req, timeout, MAX_ANSWER)
        .await
        .map(|f| f.status)
        .map_err(|e| e.to_string())
}
