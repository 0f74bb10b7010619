//! What policies see and change: the request and response heads (with the
//! body when a policy asked for it) and the per-request [`PolicyCtx`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::consumer::Consumer;

/// The request as policies see it. `body` is `Some` only when a policy on the
/// route asked for it ([`crate::Policy::needs_request_body`]).
pub struct RequestHead {
    pub parts: http::request::Parts,
    pub body: Option<Bytes>,
}

/// The response as policies see it. `body` is `Some` only when a policy asked
/// for it ([`crate::Policy::needs_response_body`]).
pub struct ResponseHead {
    pub parts: http::response::Parts,
    pub body: Option<Bytes>,
}

/// Per-request state shared by the policies of one request.
pub struct PolicyCtx {
    pub request_id: HeaderValue,
    pub start: Instant,
    /// The TCP peer.
    pub peer_ip: IpAddr,
    /// The client as decided so far (a real-IP policy may replace the peer
    /// with an address from `X-Forwarded-For` sent by a trusted proxy).
    pub client_ip: IpAddr,
    pub route: Arc<str>,
    pub service: Option<Arc<str>>,
    /// Parameters captured by the route's path template or regex.
    pub path_params: Vec<(String, String)>,
    /// The request path after normalisation (before any rewrite).
    pub path: String,
    /// The authenticated consumer, once an authentication policy found one.
    pub consumer: Option<Arc<Consumer>>,
    /// Id of the credential that authenticated the consumer.
    pub credential: Option<Arc<str>>,
    /// Verified token claims (JWT, introspection), for authorization rules.
    pub claims: Option<Arc<serde_json::Value>>,
    /// Subject names of a verified TLS client certificate.
    pub client_cert_names: Vec<String>,
    /// Send the request to this upstream instead of the route's (canary).
    pub upstream_override: Option<Arc<str>>,
    /// Headers added to the final response (e.g. `RateLimit-*`), whatever answers.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Scratch space for a policy to pass state from one phase to a later one.
    pub vars: http::Extensions,
    /// Response-cache outcome for the log.
    pub cache_status: Option<&'static str>,
    /// Which policies ran (for the response and log phases).
    pub(crate) ran: crate::chain::Ran,
}

impl PolicyCtx {
    /// A context for a request on `route` from `peer` that arrived at `start`.
    pub fn new(request_id: HeaderValue, peer_ip: IpAddr, route: Arc<str>, start: Instant) -> Self {
        Self {
            request_id,
            start,
            peer_ip,
            client_ip: peer_ip,
            route,
            service: None,
            path_params: Vec::new(),
            path: String::new(),
            consumer: None,
            credential: None,
            claims: None,
            client_cert_names: Vec::new(),
            upstream_override: None,
            response_headers: Vec::new(),
            vars: http::Extensions::new(),
            cache_status: None,
            ran: Default::default(),
        }
    }

    /// Name of the consumer, if one was identified.
    pub fn consumer_name(&self) -> Option<&str> {
        self.consumer.as_deref().map(|c| &*c.name)
    }

    /// Add a header to the final response.
    pub fn add_response_header(&mut self, name: HeaderName, value: impl AsRef<str>) {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.response_headers.push((name, v));
        }
    }
}
