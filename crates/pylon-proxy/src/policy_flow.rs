//! Requests on routes with policies: the request phase (with the body read
//! into memory when a policy asks), the route's action, the response phase
//! (again with the body when asked), and the context kept for the log phase.
//! Routes without policies never come here.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pylon_policy::policies::mirror::MirrorTo;
use pylon_policy::{PolicyCtx, Reject, RequestHead, RequestOutcome, ResponseHead};

use crate::body::{self, Buffered, LimitedBody};
use crate::client::ProxyBody;
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::handler::run_action;
use crate::router::RouteMatch;
use crate::snapshot::{CompiledRoute, Snapshot};

/// Responses larger than this are streamed past response-phase policies
/// instead of being read into memory for them.
const RESPONSE_BUFFER_LIMIT: usize = 8 << 20;

/// What a policy-carrying request needs from routing.
pub(crate) struct Routed {
    pub route_index: usize,
    pub params: Vec<(String, String)>,
    pub path: String,
    pub upstream_path: String,
}

impl Routed {
    pub fn new(m: RouteMatch, path: String, upstream_path: String) -> Self {
        Self {
            route_index: m.route,
            params: m.params,
            path,
            upstream_path,
        }
    }
}

/// Serve a request through its route's policy chain. Never fails: errors
/// become responses, which the response phase sees too.
pub(crate) async fn serve_with_policies(
    snap: &Arc<Snapshot>,
    ctx: &mut RequestContext,
    route: &CompiledRoute,
    routed: Routed,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let chain = route.chain.clone();
    let rid = ctx.request_id.clone();
    let mut pctx = PolicyCtx::new(rid, ctx.client_ip, route.name.clone(), ctx.start);
    pctx.service = route.service.clone();
    pctx.path_params = routed.params;
    pctx.path = routed.path;
    if !ctx.conn.client_cert_names.is_empty() {
        pctx.client_cert_names = ctx.conn.client_cert_names.to_vec();
    }
    let is_head = req.method() == Method::HEAD;
    let result = request_phase(
        snap,
        ctx,
        (route, routed.route_index),
        &mut pctx,
        req,
        routed.upstream_path,
    )
    .await;
    ctx.record.client_ip = pctx.client_ip;
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            ctx.record.error = Some(Cow::Borrowed(e.code));
            e.to_response(ctx.request_id_str())
        }
    };
    let resp = response_phase(ctx, &mut pctx, &chain, resp, is_head).await;
    ctx.policy = Some(Box::new((chain, pctx)));
    resp
}

async fn request_phase(
    snap: &Arc<Snapshot>,
    ctx: &mut RequestContext,
    (route, route_index): (&CompiledRoute, usize),
    pctx: &mut PolicyCtx,
    req: Request<Incoming>,
    upstream_path: String,
) -> Result<Response<ProxyBody>, GatewayError> {
    let chain = &route.chain;
    let (parts, incoming) = req.into_parts();
    let mut head = RequestHead { parts, body: None };
    let mut stream = None;
    if chain.wants_request_body(&head.parts) {
        let limit = ctx
            .conn
            .max_body_bytes
            .min(ctx.conn.max_buffered_body_bytes);
        let limited = LimitedBody::new(incoming, limit, ctx.bytes_in.clone());
        let collected = limited
            .collect()
            .await
            .map_err(crate::forward::body_error)?;
        head.body = Some(collected.to_bytes());
    } else {
        stream = Some(incoming);
    }
    let read_len = head.body.as_ref().map(Bytes::len);
    match chain.on_request(&mut head, pctx).await {
        RequestOutcome::Continue => {}
        RequestOutcome::Respond(resp) => return Ok(resp.map(body::full)),
        RequestOutcome::Reject(rej) => {
            ctx.record.error = Some(Cow::Borrowed(rej.code));
            return Ok(reject_response(rej, ctx.request_id_str()));
        }
    }
    let override_upstream = match &pctx.upstream_override {
        Some(name) => Some(snap.upstreams.get(&**name).cloned().ok_or_else(|| {
            GatewayError::gateway(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown_upstream",
                format!("a policy chose upstream `{name}`, which is not configured"),
            )
        })?),
        None => None,
    };
    let RequestHead { mut parts, body } = head;
    if let Some(m) = pctx.vars.get::<MirrorTo>() {
        let copy = m.include_body.then(|| body.clone()).flatten();
        crate::mirror::send_copy(snap, ctx, route_index, m, &parts, copy, &upstream_path);
    }
    // The client's bytes were counted while reading a buffered body; the
    // forwarded (possibly transformed) copy must not count again.
    let mut counted = None;
    let body: ProxyBody = match (body, stream) {
        (Some(bytes), _) => {
            if Some(bytes.len()) != read_len || !parts.headers.contains_key(header::CONTENT_LENGTH)
            {
                set_length(&mut parts.headers, bytes.len());
            }
            counted = Some(std::mem::replace(
                &mut ctx.bytes_in,
                Arc::new(AtomicU64::new(0)),
            ));
            body::full(bytes)
        }
        (None, Some(incoming)) => incoming.map_err(Into::into).boxed(),
        (None, None) => {
            return Err(GatewayError::gateway(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "request body lost",
            ));
        }
    };
    if let Some(consumer) = &pctx.consumer {
        // The AI handler scopes caches, budgets and records by caller.
        parts.extensions.insert(pylon_ai::Caller {
            consumer: consumer.clone(),
            credential: pctx.credential.clone(),
        });
    }
    let req = Request::from_parts(parts, body);
    let params = &pctx.path_params;
    let out = run_action(
        snap,
        ctx,
        route,
        override_upstream.as_ref(),
        req,
        upstream_path,
        params,
    )
    .await;
    if let Some(c) = counted {
        ctx.bytes_in = c;
    }
    out
}

async fn response_phase(
    ctx: &mut RequestContext,
    pctx: &mut PolicyCtx,
    chain: &pylon_policy::Chain,
    resp: Response<ProxyBody>,
    is_head: bool,
) -> Response<ProxyBody> {
    let (parts, body) = resp.into_parts();
    let mut head = ResponseHead { parts, body: None };
    let mut stream = Some(body);
    if !is_head && chain.wants_response_body(&head.parts, pctx) {
        let Some(b) = stream.take() else {
            return GatewayError::not_found().to_response(ctx.request_id_str());
        };
        match body::buffer_up_to(b, RESPONSE_BUFFER_LIMIT).await {
            Ok(Buffered::Complete { data, .. }) => head.body = Some(data),
            Ok(Buffered::Partial(rest)) => stream = Some(rest),
            Err(e) => {
                ctx.record.error = Some(Cow::Borrowed("upstream_body_error"));
                let err = GatewayError::upstream(
                    StatusCode::BAD_GATEWAY,
                    "upstream_body_error",
                    format!("reading the upstream response failed: {e}"),
                );
                return err.to_response(ctx.request_id_str());
            }
        }
    }
    let read_len = head.body.as_ref().map(Bytes::len);
    if let Err(rej) = chain.on_response(&mut head, pctx) {
        ctx.record.error = Some(Cow::Borrowed(rej.code));
        let mut resp = reject_response(rej, ctx.request_id_str());
        append_headers(resp.headers_mut(), &mut pctx.response_headers);
        return resp;
    }
    append_headers(&mut head.parts.headers, &mut pctx.response_headers);
    let ResponseHead { mut parts, body } = head;
    let body = match (body, stream) {
        (Some(bytes), _) => {
            if Some(bytes.len()) != read_len {
                set_length(&mut parts.headers, bytes.len());
            }
            body::full(bytes)
        }
        (None, Some(s)) => s,
        (None, None) => body::empty(),
    };
    Response::from_parts(parts, body)
}

fn append_headers(headers: &mut HeaderMap, extra: &mut Vec<(http::HeaderName, HeaderValue)>) {
    for (k, v) in extra.drain(..) {
        headers.append(k, v);
    }
}

fn set_length(headers: &mut HeaderMap, len: usize) {
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// A policy's refusal as the gateway's JSON error, with the policy's headers.
pub(crate) fn reject_response(rej: Reject, request_id: &str) -> Response<ProxyBody> {
    let mut err = if rej.status.is_server_error() {
        GatewayError::gateway(rej.status, rej.code, rej.message)
    } else {
        GatewayError::client(rej.status, rej.code, rej.message)
    };
    err.details = rej.details.map(Box::new);
    let mut resp = err.to_response(request_id);
    for (k, v) in rej.headers {
        resp.headers_mut().append(k, v);
    }
    resp
}
