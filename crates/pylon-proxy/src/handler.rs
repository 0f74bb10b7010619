//! The request entry point: checks the head (smuggling, path, size), routes,
//! runs the route's action, and attaches the CallRecord completion to the
//! response body so the record is emitted when the last byte has gone out.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use http::{HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pylon_telemetry::CallRecord;
use tracing::Instrument;

use crate::body::{self, BodyEnd, ObservedBody};
use crate::client::ProxyBody;
use crate::context::{RequestContext, request_id};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::headers::check_smuggling;
use crate::policy_flow::{Routed, serve_with_policies};
use crate::router::{Lookup, RequestView, normalize_path};
use crate::server::ConnInfo;
use crate::snapshot::{CompiledRoute, RouteAction, Snapshot, UpstreamRuntime};

/// Serve one request. Never fails: every error becomes a JSON response.
pub async fn handle(
    gw: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let start = Instant::now();
    let snap = gw.snapshot();
    let rid = request_id(req.headers().get(&snap.request_id_header));
    let client_ip = conn.peer.ip().to_canonical();
    let record = new_record(&req, &conn, &rid, gw.call_log().is_enabled());
    let mut ctx = RequestContext {
        request_id: rid,
        start,
        conn,
        client_ip,
        record,
        bytes_in: Arc::new(AtomicU64::new(0)),
        selection: None,
        policy: None,
        ai: None,
    };
    let span = tracing::debug_span!("request", id = ctx.request_id_str(), method = %req.method(), path = req.uri().path());
    let http1 = req.version() <= Version::HTTP_11;
    let resp = match serve(&snap, &mut ctx, req).instrument(span).await {
        Ok(r) => r,
        Err(e) => {
            ctx.record.error = Some(Cow::Borrowed(e.code));
            let mut resp = e.to_response(ctx.request_id_str());
            if http1 && breaks_framing(e.code) {
                // The body's framing cannot be trusted: never read another
                // request from this connection.
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    };
    finish(gw, &snap, ctx, resp)
}

/// Errors after which the bytes that follow on an HTTP/1 connection cannot be
/// trusted to start a new request.
fn breaks_framing(code: &str) -> bool {
    matches!(
        code,
        "ambiguous_length"
            | "bad_content_length"
            | "bad_transfer_encoding"
            | "bad_request_body"
            | "body_too_large"
    )
}

/// Size of the request head as sent on the wire (request line and headers).
fn head_size<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + 12;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    line + headers + 2
}

/// The record's cheap fields always (metrics use route and status); the
/// copied strings only when a log will carry them.
fn new_record(
    req: &Request<Incoming>,
    conn: &ConnInfo,
    rid: &HeaderValue,
    logged: bool,
) -> CallRecord {
    let mut rec = CallRecord::new(SystemTime::now());
    rec.client_ip = conn.peer.ip().to_canonical();
    rec.listener = conn.listener.clone();
    rec.method = method_str(req.method());
    rec.protocol = Cow::Borrowed(version_str(req.version()));
    if !logged {
        return rec;
    }
    rec.request_id = rid.to_str().unwrap_or("").to_string();
    rec.host = host_of(req).map(str::to_string).unwrap_or_default();
    rec.path = req.uri().path().to_string();
    rec.query = req.uri().query().map(str::to_string);
    rec.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    rec
}

fn method_str(m: &Method) -> Cow<'static, str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    match KNOWN.iter().find(|k| **k == m.as_str()) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(m.as_str().to_string()),
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// The request's host: the URI authority (HTTP/2, absolute-form) or the Host header.
pub fn host_of<B>(req: &Request<B>) -> Option<&str> {
    host_from(req.uri(), req.headers())
}

/// [`host_of`] for a request already split into parts.
pub fn host_of_parts(parts: &http::request::Parts) -> Option<&str> {
    host_from(&parts.uri, &parts.headers)
}

fn host_from<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

/// Lower-case host without port, for routing.
fn routing_host(raw: &str) -> String {
    let h = if let Some(rest) = raw.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        raw.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(raw, |(h, _)| h)
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve(
    snap: &Arc<Snapshot>,
    ctx: &mut RequestContext,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, GatewayError> {
    if let Some(port) = ctx.conn.redirect_https_port {
        return redirect_to_https(&req, port);
    }
    check_smuggling(req.headers())?;
    if head_size(&req) > ctx.conn.max_header_bytes {
        return Err(GatewayError::client(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header_too_large",
            format!(
                "request head exceeds the limit of {} bytes",
                ctx.conn.max_header_bytes
            ),
        ));
    }
    if req.version() == Version::HTTP_11
        && !req.headers().contains_key(header::HOST)
        && req.uri().authority().is_none()
    {
        return Err(GatewayError::bad_request(
            "missing_host",
            "HTTP/1.1 requests need a Host header",
        ));
    }
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > ctx.conn.max_body_bytes
    {
        return Err(GatewayError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "request body exceeds the limit of {} bytes",
                ctx.conn.max_body_bytes
            ),
        ));
    }
    let path = normalize_path(req.uri().path())
        .map_err(|e| GatewayError::bad_request("bad_path", format!("invalid request path: {e}")))?;
    let host = host_of(&req).map(routing_host).unwrap_or_default();
    let lookup = snap.router.lookup(&RequestView {
        listener: &ctx.conn.listener,
        host: &host,
        path: &path,
        method: req.method(),
        headers: req.headers(),
        query: req.uri().query(),
    });
    let m = match lookup {
        Lookup::Matched(m) => m,
        Lookup::NotFound => return Err(GatewayError::not_found()),
        Lookup::MethodNotAllowed { allow } => {
            return Ok(method_not_allowed(&allow, ctx.request_id_str()));
        }
    };
    let Some(route) = snap.routes.get(m.route) else {
        return Err(GatewayError::not_found());
    };
    ctx.record.route = Some(route.name.clone());
    ctx.record.service = route.service.clone();
    let rewritten = snap
        .router
        .has_rewrite(m.route)
        .then(|| snap.router.rewrite(m.route, &m, &path));
    if route.chain.is_empty() {
        let upstream_path = rewritten.unwrap_or(path);
        return run_action(snap, ctx, route, None, req, upstream_path, &m.params).await;
    }
    let upstream_path = rewritten.unwrap_or_else(|| path.clone());
    let routed = Routed::new(m, path, upstream_path);
    Ok(serve_with_policies(snap, ctx, route, routed, req).await)
}

/// The route's action: a static response or forwarding to its upstream (or
/// to `upstream`, when a policy chose another one).
pub(crate) async fn run_action<B>(
    snap: &Arc<Snapshot>,
    ctx: &mut RequestContext,
    route: &CompiledRoute,
    upstream: Option<&Arc<UpstreamRuntime>>,
    req: Request<B>,
    upstream_path: String,
    params: &[(String, String)],
) -> Result<Response<ProxyBody>, GatewayError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<crate::client::BoxError>,
{
    match (&route.action, upstream) {
        (_, Some(chosen)) => {
            crate::forward::forward(snap, ctx, route, chosen, req, upstream_path).await
        }
        (RouteAction::Respond(reply), None) => {
            let mut resp = Response::new(if req.method() == Method::HEAD {
                body::empty()
            } else {
                body::full(reply.body.clone())
            });
            *resp.status_mut() = reply.status;
            for (k, v) in &reply.headers {
                resp.headers_mut().append(k.clone(), v.clone());
            }
            Ok(resp)
        }
        (RouteAction::Proxy(up), None) => {
            crate::forward::forward(snap, ctx, route, up, req, upstream_path).await
        }
        (RouteAction::Aggregate(plan), None) => {
            let (parts, _) = req.into_parts();
            crate::aggregate::run(snap, ctx, route, plan, &parts, params).await
        }
        (RouteAction::Ai(ai), None) => {
            let slot = pylon_telemetry::ai_record_slot();
            ctx.ai = Some(slot.clone());
            let call = pylon_ai::AiCallCtx {
                start: ctx.start,
                slot,
                max_body: ctx
                    .conn
                    .max_body_bytes
                    .min(ctx.conn.max_buffered_body_bytes),
                caller: req.extensions().get::<pylon_ai::Caller>().cloned(),
            };
            let req = req.map(|b| b.map_err(Into::into).boxed());
            Ok(ai.serve(req, call).await)
        }
    }
}

fn method_not_allowed(allow: &[Method], request_id: &str) -> Response<ProxyBody> {
    let list = allow
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let err = GatewayError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("method not allowed; allowed: {list}"),
    );
    let mut resp = err.to_response(request_id);
    if let Ok(v) = HeaderValue::from_str(&list) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

fn redirect_to_https(
    req: &Request<Incoming>,
    port: u16,
) -> Result<Response<ProxyBody>, GatewayError> {
    let host = host_of(req)
        .map(routing_host)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            GatewayError::bad_request(
                "missing_host",
                "a Host header is needed to redirect to HTTPS",
            )
        })?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let authority = if port == 443 {
        host
    } else {
        format!("{host}:{port}")
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = HeaderValue::from_str(&format!("https://{authority}{pq}")).map_err(|_| {
        GatewayError::bad_request("bad_host", "the Host header cannot form a redirect URL")
    })?;
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    resp.headers_mut().insert(header::LOCATION, location);
    Ok(resp)
}

/// Stamp the request id and arrange for the record to be emitted when the body ends.
fn finish(
    gw: Arc<Gateway>,
    snap: &Snapshot,
    ctx: RequestContext,
    mut resp: Response<ProxyBody>,
) -> Response<ProxyBody> {
    resp.headers_mut()
        .insert(snap.request_id_header.clone(), ctx.request_id.clone());
    let mut record = ctx.record;
    record.status = resp.status().as_u16();
    let start = ctx.start;
    let bytes_in = ctx.bytes_in;
    let selection = ctx.selection;
    let policy = ctx.policy;
    let ai = ctx.ai;
    let (parts, inner) = resp.into_parts();
    let observed = ObservedBody::new(inner, move |bytes, how| {
        record.bytes_out = bytes;
        record.bytes_in = bytes_in.load(Ordering::Relaxed);
        record.duration_ms = start.elapsed().as_secs_f64() * 1e3;
        if how != BodyEnd::Complete && record.error.is_none() {
            record.error = Some(Cow::Borrowed(match how {
                BodyEnd::Error => "response_body_error",
                _ => "client_aborted",
            }));
        }
        // Release the upstream target before the record leaves.
        drop(selection);
        if let Some(slot) = &ai {
            record.ai = pylon_telemetry::take_ai_record(slot).map(Box::new);
        }
        if let Some(p) = &policy {
            p.0.on_log(&p.1, &mut record);
        }
        gw.metrics().observe_request(&record);
        gw.call_log().emit(record);
    });
    Response::from_parts(parts, observed.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_host_strips_port_and_case() {
        assert_eq!(routing_host("API.Example.com:8080"), "api.example.com");
        assert_eq!(routing_host("[::1]:80"), "::1");
        assert_eq!(routing_host("example.com."), "example.com");
        assert_eq!(routing_host("plain"), "plain");
    }
}
