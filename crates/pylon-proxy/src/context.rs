//! The per-request context: identity, timing and the facts that end up in the
//! request's CallRecord. Later stages (policies, AI) add their own fields here.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use http::HeaderValue;
use pylon_policy::{Chain, PolicyCtx};
use pylon_telemetry::{AiRecordSlot, CallRecord};

use crate::server::ConnInfo;
use crate::upstream::Selection;

/// State carried through one request.
pub struct RequestContext {
    pub request_id: HeaderValue,
    pub start: Instant,
    pub conn: Arc<ConnInfo>,
    pub client_ip: IpAddr,
    /// The partially filled call record, completed when the response body ends.
    pub record: CallRecord,
    /// Request body bytes read so far (counted while streaming to the upstream).
    pub bytes_in: Arc<AtomicU64>,
    /// The upstream target serving the response; held until its body ends.
    pub selection: Option<Selection>,
    /// The route's policy chain and the request's policy context, for the
    /// log phase (only on routes with policies).
    pub policy: Option<Box<(Arc<Chain>, PolicyCtx)>>,
    /// On AI routes: where the AI handler leaves the call's AI record.
    pub ai: Option<AiRecordSlot>,
}

impl RequestContext {
    /// A context for a side request made on behalf of this one (a mirror
    /// copy, an aggregate part): same connection and request id, its own
    /// record, which is never emitted.
    pub fn detached(&self) -> Self {
        Self {
            request_id: self.request_id.clone(),
            start: Instant::now(),
            conn: self.conn.clone(),
            client_ip: self.client_ip,
            record: CallRecord::new(std::time::SystemTime::now()),
            bytes_in: Arc::new(AtomicU64::new(0)),
            selection: None,
            policy: None,
            ai: None,
        }
    }

    pub fn request_id_str(&self) -> &str {
        self.request_id.to_str().unwrap_or("")
    }
}

/// Take a valid incoming request id (printable ASCII, at most 200 bytes) or make one.
pub fn request_id(incoming: Option<&HeaderValue>) -> HeaderValue {
    if let Some(v) = incoming {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 200 && b.iter().all(|c| c.is_ascii_graphic()) {
            return v.clone();
        }
    }
    let id = uuid::Uuid::now_v7();
    let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
    let s = id.simple().encode_lower(&mut buf);
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_or_generated() {
        let v = HeaderValue::from_static("abc-123");
        assert_eq!(request_id(Some(&v)), "abc-123");
        let bad = HeaderValue::from_static("has space");
        let g = request_id(Some(&bad));
        assert_eq!(g.len(), 32);
        assert_ne!(request_id(None), request_id(None));
    }
}
