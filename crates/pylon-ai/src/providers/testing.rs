//! Test helpers for provider adapters: feed a stream to a decoder in pieces
//! of any size, compare event lists without their run-dependent values, and
//! settings for an endpoint.

use http::HeaderMap;

use super::{ProviderSettings, StreamDecoder};
use crate::error::AiError;
use crate::types::StreamEvent;

/// Decode `input` fed in pieces of `piece` bytes, then finish.
pub fn decode_in_pieces(
    mut d: Box<dyn StreamDecoder>,
    input: &str,
    piece: usize,
) -> Result<Vec<StreamEvent>, AiError> {
    let mut out = Vec::new();
    for c in input.as_bytes().chunks(piece) {
        d.feed(c, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

/// `events` with the start time zeroed (it is the decoding time).
pub fn timeless(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events
        .into_iter()
        .map(|e| match e {
            StreamEvent::Start { id, model, .. } => StreamEvent::Start {
                id,
                model,
                created: 0,
            },
            e => e,
        })
        .collect()
}

/// Settings of a provider `kind` at `base_url`.
pub fn settings(kind: &'static str, base_url: &str) -> ProviderSettings {
    ProviderSettings {
        name: "p".into(),
        kind,
        base_url: base_url.into(),
        headers: HeaderMap::new(),
        config: serde_json::from_value(serde_json::json!({"name": "p", "kind": kind}))
            .expect("a minimal provider config"),
    }
}
