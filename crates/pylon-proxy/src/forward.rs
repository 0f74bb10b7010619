//! Forwarding to an upstream: target selection, request rewriting, timeouts,
//! retries within the retry budget, passive health and breaker feedback, and
//! streaming of both bodies. WebSocket upgrades are handed to [`crate::upgrade`].

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pylon_config::{HostHeader, UpstreamProtocol};

use crate::body::{self, BodyTooLarge, Buffered, ClientBodyError, IdleTimeoutBody, LimitedBody};
use crate::client::{BoxError, ProxyBody};
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::headers::{add_forwarding, append_via, is_upgrade_request, strip_hop_by_hop, via_value};
use crate::snapshot::{CompiledRoute, Snapshot, TargetWire, UpstreamRuntime};
use crate::upstream::{HashInput, Outcome};

/// The request body across attempts: replayable when buffered, otherwise usable once.
enum AttemptBody {
    Replayable(Buffered),
    Once(Option<ProxyBody>),
}

impl AttemptBody {
    fn take(&mut self) -> Option<ProxyBody> {
        match self {
            AttemptBody::Replayable(b) => Some(b.replay()),
            AttemptBody::Once(b) => b.take(),
        }
    }

    fn replayable(&self) -> bool {
        matches!(self, AttemptBody::Replayable(_))
    }
}

/// What went wrong in one attempt, and whether another target may help.
enum AttemptError {
    Connect(String),
    Timeout,
    Sent(String),
}

/// Proxy `req` to `upstream` and return the upstream's response, streaming.
pub async fn forward<B>(
    snap: &Snapshot,
    ctx: &mut RequestContext,
    route: &CompiledRoute,
    upstream: &Arc<UpstreamRuntime>,
    mut req: Request<B>,
    path: String,
) -> Result<Response<ProxyBody>, GatewayError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    ctx.record.upstream = Some(upstream.name.clone());
    let upgrade = req.version() == Version::HTTP_11 && is_upgrade_request(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, incoming) = req.into_parts();
    let original_host = crate::handler::host_of_parts(&parts).map(str::to_string);
    prepare_headers(snap, ctx, &mut parts, upgrade, original_host.as_deref());
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let pq = PathAndQuery::try_from(pq).map_err(|_| {
        GatewayError::bad_request("bad_path", "the rewritten path is not a valid URI path")
    })?;

    // Body: limited and counted; buffered for replay when a retry could use it.
    let cfg = upstream.config();
    let limited = LimitedBody::new(incoming, ctx.conn.max_body_bytes, ctx.bytes_in.clone()).boxed();
    let idempotent = upstream.retry_methods.contains(&parts.method);
    let retries_possible =
        cfg.retries.attempts > 0 && !upgrade && (idempotent || cfg.retries.on_connect_error);
    // Only bodies whose length is declared and small are read ahead for replay.
    // A body of unknown length (chunked uploads, gRPC and other HTTP/2 streams)
    // is forwarded as it arrives: waiting for it could deadlock a bidirectional
    // stream, so such requests are not retried.
    let body_len = http_body::Body::size_hint(&limited).exact();
    let replayable = body_len.is_some_and(|n| n <= cfg.retries.max_body_buffer as u64);
    let mut attempt_body = if retries_possible && replayable {
        match body::buffer_up_to(limited, cfg.retries.max_body_buffer)
            .await
            .map_err(body_error)?
        {
            complete @ Buffered::Complete { .. } => AttemptBody::Replayable(complete),
            Buffered::Partial(b) => AttemptBody::Once(Some(b)),
        }
    } else {
        AttemptBody::Once(Some(limited))
    };

    let budget = upstream.upstream.retry_budget();
    budget.on_request();
    let deadline = Instant::now() + route.timeouts.request;
    let mut tried: Vec<usize> = Vec::new();
    let mut last_error: Option<AttemptError> = None;
    let version = if upgrade {
        Version::HTTP_11
    } else {
        match cfg.protocol {
            UpstreamProtocol::Http2 => Version::HTTP_2,
            _ => Version::HTTP_11,
        }
    };
    let max_attempts = cfg.retries.attempts + 1;
    for attempt in 0..max_attempts {
        if attempt > 0 {
            ctx.record.retries += 1;
            let pause = cfg
                .retries
                .backoff
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
        if Instant::now() >= deadline {
            return Err(attempt_failure(upstream, AttemptError::Timeout));
        }
        let hash = HashInput {
            headers: Some(&parts.headers),
            client_ip: Some(ctx.client_ip),
            path: Some(pq.path()),
        };
        // Prefer a target not tried yet; with none left, the same one may be tried again.
        let selected = upstream
            .upstream
            .select(&hash, &tried)
            .or_else(|| upstream.upstream.select(&hash, &[]));
        let Some(sel) = selected else {
            return Err(
                last_error.map_or_else(|| no_target(upstream), |e| attempt_failure(upstream, e))
            );
        };
        tried.push(sel.index());
        let Some(target) = upstream.wire.get(sel.index()) else {
            return Err(no_target(upstream));
        };
        ctx.record.upstream_target = Some(sel.target().key_arc());
        let Some(body) = attempt_body.take() else {
            return Err(
                last_error.map_or_else(|| no_target(upstream), |e| attempt_failure(upstream, e))
            );
        };
        let more_attempts = attempt + 1 < max_attempts;
        let headers = if more_attempts && attempt_body.replayable() {
            parts.headers.clone()
        } else {
            std::mem::take(&mut parts.headers)
        };
        let up_req = build_request(
            &parts,
            headers,
            target,
            version,
            &pq,
            route,
            original_host.as_deref(),
            body,
        )?;
        let sent_at = Instant::now();
        let wait = route
            .timeouts
            .read
            .min(deadline.saturating_duration_since(sent_at));
        let result = tokio::time::timeout(wait, upstream.client.request(up_req)).await;
        let latency = sent_at.elapsed();
        let failure = match result {
            Ok(Ok(resp)) => {
                let status = resp.status();
                let success = !status.is_server_error();
                upstream.upstream.report(&sel, Outcome { success, latency });
                let retry = more_attempts
                    && idempotent
                    && attempt_body.replayable()
                    && cfg.retries.on_statuses.contains(&status.as_u16())
                    && budget.try_retry();
                if retry {
                    last_error = Some(AttemptError::Sent(format!("answered {status}")));
                    continue;
                }
                ctx.record.upstream_ms = Some(latency.as_secs_f64() * 1e3);
                return finish_response(resp, snap, route, client_upgrade, sel, ctx);
            }
            Err(_) => AttemptError::Timeout,
            Ok(Err(e)) if e.is_connect() => AttemptError::Connect(e.to_string()),
            Ok(Err(e)) => match client_body_error(&e) {
                Some(g) => return Err(g),
                None => AttemptError::Sent(e.to_string()),
            },
        };
        upstream.upstream.report(
            &sel,
            Outcome {
                success: false,
                latency,
            },
        );
        tracing::debug!(upstream = %upstream.name, target = %target.authority, error = %attempt_error_text(&failure), "upstream attempt failed");
        let retry = more_attempts
            && attempt_body.replayable()
            && match failure {
                AttemptError::Connect(_) => cfg.retries.on_connect_error,
                _ => idempotent,
            }
            && budget.try_retry();
        if !retry {
            return Err(attempt_failure(upstream, failure));
        }
        last_error = Some(failure);
    }
    Err(last_error.map_or_else(|| no_target(upstream), |e| attempt_failure(upstream, e)))
}

fn no_target(upstream: &UpstreamRuntime) -> GatewayError {
    GatewayError::gateway(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_healthy_upstream",
        format!("upstream `{}` has no available target", upstream.name),
    )
}

fn attempt_failure(upstream: &UpstreamRuntime, e: AttemptError) -> GatewayError {
    match e {
        AttemptError::Timeout => GatewayError::upstream(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("upstream `{}` did not answer in time", upstream.name),
        ),
        AttemptError::Connect(e) => GatewayError::upstream(
            StatusCode::BAD_GATEWAY,
            "upstream_connect",
            format!("cannot connect to upstream `{}`: {e}", upstream.name),
        ),
        AttemptError::Sent(e) => GatewayError::upstream(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("upstream `{}` failed: {e}", upstream.name),
        ),
    }
}

fn attempt_error_text(e: &AttemptError) -> String {
    match e {
        AttemptError::Connect(s) | AttemptError::Sent(s) => s.clone(),
        AttemptError::Timeout => "timeout".into(),
    }
}

fn prepare_headers(
    snap: &Snapshot,
    ctx: &RequestContext,
    parts: &mut Parts,
    upgrade: bool,
    original_host: Option<&str>,
) {
    strip_hop_by_hop(&mut parts.headers, upgrade);
    let via = snap.via.then(|| via_value(parts.version));
    add_forwarding(
        &mut parts.headers,
        ctx.client_ip,
        ctx.conn.tls,
        original_host,
        via.as_ref(),
    );
    parts
        .headers
        .insert(snap.request_id_header.clone(), ctx.request_id.clone());
}

#[allow(clippy::too_many_arguments)]
fn build_request(
    parts: &Parts,
    mut headers: HeaderMap,
    target: &TargetWire,
    version: Version,
    pq: &PathAndQuery,
    route: &CompiledRoute,
    original_host: Option<&str>,
    body: ProxyBody,
) -> Result<Request<ProxyBody>, GatewayError> {
    let mut uri_parts = http::uri::Parts::default();
    uri_parts.scheme = Some(target.scheme.clone());
    uri_parts.authority = Some(target.authority.clone());
    uri_parts.path_and_query = Some(pq.clone());
    let uri = Uri::from_parts(uri_parts)
        .map_err(|e| GatewayError::gateway(StatusCode::BAD_GATEWAY, "bad_target", e.to_string()))?;
    let host_value = match &route.host_header {
        HostHeader::Target => Some(target.host.clone()),
        HostHeader::Preserve => original_host.and_then(|h| HeaderValue::from_str(h).ok()),
        HostHeader::Rewrite(h) => HeaderValue::from_str(h).ok(),
    };
    // On HTTP/2 the client turns Host into `:authority`.
    headers.remove(header::HOST);
    if let Some(h) = host_value {
        headers.insert(header::HOST, h);
    }
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Ok(req)
}

fn finish_response(
    resp: Response<Incoming>,
    snap: &Snapshot,
    route: &CompiledRoute,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    sel: crate::upstream::Selection,
    ctx: &mut RequestContext,
) -> Result<Response<ProxyBody>, GatewayError> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client) = client_upgrade
    {
        return Ok(crate::upgrade::tunnel(resp, client, sel));
    }
    let (mut parts, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    if snap.via {
        append_via(&mut parts.headers, &via_value(parts.version));
    }
    parts.version = Version::HTTP_11;
    let idle = IdleTimeoutBody::new(incoming, route.timeouts.idle);
    // The selection guard lives until the response body ends (the handler drops
    // it with the call record), so in-flight counts cover streaming.
    ctx.selection = Some(sel);
    Ok(Response::from_parts(parts, idle.boxed()))
}

pub(crate) fn body_error(e: BoxError) -> GatewayError {
    client_body_error(&*e).unwrap_or_else(|| {
        GatewayError::bad_request(
            "bad_request_body",
            format!("could not read the request body: {e}"),
        )
    })
}

/// If sending failed because of the client's body (over the size limit, or
/// broken framing), the client is at fault: map it to 413/400, and do not count
/// it against the target.
fn client_body_error(e: &(dyn std::error::Error + 'static)) -> Option<GatewayError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<BodyTooLarge>().is_some() {
            return Some(GatewayError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                err.to_string(),
            ));
        }
        if let Some(b) = err.downcast_ref::<ClientBodyError>() {
            // The limit error travels inside ClientBodyError only if nested; check it first.
            if let Some(inner) = client_body_error(&*b.0).filter(|g| g.code == "body_too_large") {
                return Some(inner);
            }
            return Some(GatewayError::bad_request(
                "bad_request_body",
                err.to_string(),
            ));
        }
        cur = err.source();
    }
    None
}
