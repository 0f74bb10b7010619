//! OpenAI embeddings ⇄ unified: the `/v1/embeddings` request callers send
//! and providers receive, and the answer with vectors as floats or as
//! base64 little-endian `f32` bytes.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::response::WireUsage;
use crate::error::AiError;
use crate::types::*;

#[derive(Deserialize)]
struct WireRequest {
    model: Option<String>,
    input: Option<Value>,
    dimensions: Option<u32>,
    encoding_format: Option<String>,
    user: Option<String>,
    input_type: Option<String>,
}

/// Decode a `/v1/embeddings` request.
pub fn decode_request(body: &[u8]) -> Result<EmbeddingsRequest, AiError> {
    let w: WireRequest = serde_json::from_slice(body).map_err(|e| {
        AiError::invalid(format!(
            "the request body is not a valid embeddings request: {e}"
        ))
    })?;
    let model = w
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AiError::invalid_param("model", "`model` is required"))?;
    let bad = || {
        AiError::invalid_param(
            "input",
            "`input` must be a string, a list of strings, a list of tokens or a list of token lists",
        )
    };
    let input = match w
        .input
        .ok_or_else(|| AiError::invalid_param("input", "`input` is required"))?
    {
        Value::String(s) => EmbeddingInput::Texts(vec![s]),
        Value::Array(items) if items.is_empty() => {
            return Err(AiError::invalid_param("input", "`input` must not be empty"));
        }
        Value::Array(items) => match &items[0] {
            Value::String(_) => EmbeddingInput::Texts(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(bad()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Number(_) => EmbeddingInput::Tokens(vec![tokens(&items).ok_or_else(bad)?]),
            Value::Array(_) => EmbeddingInput::Tokens(
                items
                    .iter()
                    .map(|v| v.as_array().and_then(|a| tokens(a)))
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?,
            ),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    if let Some(f) = &w.encoding_format
        && f != "float"
        && f != "base64"
    {
        return Err(AiError::invalid_param(
            "encoding_format",
            "`encoding_format` must be `float` or `base64`",
        ));
    }
    Ok(EmbeddingsRequest {
        model,
        input,
        dimensions: w.dimensions,
        encoding_format: w.encoding_format,
        user: w.user,
        input_type: w.input_type,
    })
}

fn tokens(items: &[Value]) -> Option<Vec<u32>> {
    items
        .iter()
        .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
        .collect()
}

/// The body an OpenAI-style provider receives (always asking for floats).
pub fn encode_request(req: &EmbeddingsRequest, model: &str) -> Value {
    let input = match &req.input {
        EmbeddingInput::Texts(t) => json!(t),
        EmbeddingInput::Tokens(t) => json!(t),
    };
    let mut v = json!({"model": model, "input": input, "encoding_format": "float"});
    if let Some(d) = req.dimensions {
        v["dimensions"] = json!(d);
    }
    if let Some(u) = &req.user {
        v["user"] = json!(u);
    }
    v
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    model: String,
    data: Vec<WireItem>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireItem {
    #[serde(default)]
    index: usize,
    embedding: Value,
}

/// Decode an OpenAI-style embeddings answer (floats or base64).
pub fn decode_response(body: &[u8]) -> Result<EmbeddingsResponse, AiError> {
    let w: WireResponse = serde_json::from_slice(body).map_err(|e| {
        AiError::bad_response(format!(
            "the provider's answer is not an embeddings list: {e}"
        ))
    })?;
    let mut items = w.data;
    items.sort_by_key(|i| i.index);
    let vectors = items
        .into_iter()
        .map(|i| vector_of(&i.embedding))
        .collect::<Result<_, _>>()?;
    Ok(EmbeddingsResponse {
        model: w.model,
        vectors,
        usage: w.usage.map(|u| u.unified()).unwrap_or_default(),
    })
}

fn vector_of(v: &Value) -> Result<Vec<f32>, AiError> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| AiError::bad_response("an embedding holds a non-number")),
        Value::String(s) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| {
                    AiError::bad_response(format!("an embedding is not valid base64: {e}"))
                })?;
            if bytes.len() % 4 != 0 {
                return Err(AiError::bad_response(
                    "a base64 embedding is not a list of f32",
                ));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        }
        _ => Err(AiError::bad_response(
            "an embedding is neither a list nor base64",
        )),
    }
}

/// The answer callers get; `base64` encodes each vector as little-endian f32 bytes.
pub fn encode_response(resp: &EmbeddingsResponse, model: &str, base64: bool) -> Value {
    let data: Vec<Value> = resp
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let mut bytes = Vec::with_capacity(v.len() * 4);
                for f in v {
                    bytes.extend_from_slice(&f.to_le_bytes());
                }
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": resp.usage.input_tokens, "total_tokens": resp.usage.input_tokens},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_of_every_shape() {
        let r = decode_request(br#"{"model":"e","input":"hi"}"#).unwrap();
        assert_eq!(r.input, EmbeddingInput::Texts(vec!["hi".into()]));
        let r = decode_request(br#"{"model":"e","input":["a","b"],"dimensions":8}"#).unwrap();
        assert_eq!(r.input.len(), 2);
        assert_eq!(r.dimensions, Some(8));
        let r = decode_request(br#"{"model":"e","input":[1,2,3]}"#).unwrap();
        assert_eq!(r.input, EmbeddingInput::Tokens(vec![vec![1, 2, 3]]));
        let r = decode_request(br#"{"model":"e","input":[[1],[2,3]]}"#).unwrap();
        assert_eq!(r.input.len(), 2);
        for bad in [
            r#"{"model":"e"}"#,
            r#"{"model":"e","input":[]}"#,
            r#"{"model":"e","input":[1,"a"]}"#,
            r#"{"model":"e","input":"x","encoding_format":"hex"}"#,
        ] {
            assert!(decode_request(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_round_trips_exactly() {
        let resp = EmbeddingsResponse {
            model: "m".into(),
            vectors: vec![vec![0.25, -1.5, 3.0e-8], vec![1.0]],
            usage: Usage {
                input_tokens: 4,
                ..Default::default()
            },
        };
        for b64 in [false, true] {
            let out = encode_response(&resp, "m", b64);
            let back = decode_response(out.to_string().as_bytes()).unwrap();
            assert_eq!(back.vectors, resp.vectors, "base64={b64}");
            assert_eq!(out["usage"]["prompt_tokens"], 4);
        }
    }
}
