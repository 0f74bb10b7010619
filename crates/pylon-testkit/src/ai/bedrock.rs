//! A mock of the Bedrock runtime's Converse API: `POST /model/{modelId}/converse`
//! (JSON) and `/converse-stream` (the AWS event-stream binary framing, every
//! message with correct prelude and message CRC32s, payloads padded with `p`
//! as Bedrock does). Every request's SigV4 signature is verified in full
//! ([`super::sigv4`]), or its bearer token checked against Bedrock API keys;
//! Converse's validation rules (roles alternate starting with `user`, no
//! blank text, `toolConfig` needed with tool blocks) answer 400
//! `ValidationException` like Bedrock.

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::sigv4::{SigV4Check, verify};
use super::{Answer, Faults, MockAi, Reply, Script, Wire, decide, pieces};
use crate::server::{ServerHandle, lock};

/// A one-shot exception message for the next stream: after this many
/// events, `:exception-type` and message.
type PendingException = Arc<Mutex<Option<(usize, String, String)>>>;

pub const TEST_ACCESS_KEY_ID: &str = "AKIDMOCKBEDROCK01";
pub const TEST_SECRET_ACCESS_KEY: &str = "mock/Secret+Key/For/Bedrock0000000000000";
pub const TEST_REGION: &str = "us-east-1";

/// The Bedrock wire format.
#[derive(Debug, Clone)]
pub struct BedrockWire {
    /// SigV4 credentials accepted (service `bedrock`).
    pub sigv4: Option<SigV4Check>,
    /// Bedrock API keys accepted as `Authorization: Bearer`.
    pub api_keys: Vec<String>,
    exception: PendingException,
}

impl Default for BedrockWire {
    fn default() -> Self {
        Self {
            sigv4: Some(SigV4Check {
                access_key_id: TEST_ACCESS_KEY_ID.into(),
                secret_access_key: TEST_SECRET_ACCESS_KEY.into(),
                session_token: None,
                region: TEST_REGION.into(),
                service: "bedrock".into(),
            }),
            api_keys: Vec::new(),
            exception: PendingException::default(),
        }
    }
}

impl BedrockWire {
    /// Also require this session token (`x-amz-security-token`, signed).
    pub fn with_session_token(mut self, token: &str) -> Self {
        if let Some(c) = &mut self.sigv4 {
            c.session_token = Some(token.into());
        }
        self
    }

    /// Accept these Bedrock API keys (bearer tokens) too.
    pub fn with_api_keys(mut self, keys: &[&str]) -> Self {
        self.api_keys = keys.iter().map(|k| k.to_string()).collect();
        self
    }
}

/// A running mock Bedrock runtime. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct MockBedrock {
    inner: MockAi,
    exception: PendingException,
}

impl MockBedrock {
    /// Accept the test credentials; stream messages 5 ms apart.
    pub async fn start() -> anyhow::Result<Self> {
        Self::with(BedrockWire::default(), Duration::from_millis(5)).await
    }

    pub async fn with(wire: BedrockWire, interval: Duration) -> anyhow::Result<Self> {
        let exception = wire.exception.clone();
        Ok(Self {
            inner: MockAi::start(wire, interval).await?,
            exception,
        })
    }

    /// The next stream sends an exception message (`throttlingException`,
    /// `modelStreamErrorException`, ...) after `after` events, and ends.
    pub fn stream_exception(&self, after: usize, kind: &str, message: &str) {
        *lock(&self.exception) = Some((after, kind.into(), message.into()));
    }

    /// `http://127.0.0.1:<port>`: the endpoint (`base_url`) to configure.
    pub fn base_url(&self) -> String {
        self.inner.handle.url()
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn script(&self) -> &Script {
        &self.inner.script
    }

    /// The JSON bodies of the recorded Converse requests, oldest first.
    pub fn converse_bodies(&self) -> Vec<Value> {
        self.inner.json_bodies(&["/converse", "/converse-stream"])
    }
}

impl Deref for MockBedrock {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.inner.handle
    }
}

/// One event-stream message from encoded `headers`, CRCs included.
pub fn frame_raw(headers: &[u8], payload: &[u8]) -> Bytes {
    let total = (16 + headers.len() + payload.len()) as u32;
    let mut m = Vec::with_capacity(total as usize);
    m.extend_from_slice(&total.to_be_bytes());
    m.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let c = crc32fast::hash(&m);
    m.extend_from_slice(&c.to_be_bytes());
    m.extend_from_slice(headers);
    m.extend_from_slice(payload);
    let c = crc32fast::hash(&m);
    m.extend_from_slice(&c.to_be_bytes());
    Bytes::from(m)
}

/// One event-stream message with string headers (type 7), CRCs included.
pub fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = Vec::new();
    for (n, v) in headers {
        h.push(n.len() as u8);
        h.extend_from_slice(n.as_bytes());
        h.push(7);
        h.extend_from_slice(&(v.len() as u16).to_be_bytes());
        h.extend_from_slice(v.as_bytes());
    }
    frame_raw(&h, payload)
}

/// A ConverseStream event message, its payload padded like Bedrock's.
pub fn event(kind: &str, mut payload: Value) -> Bytes {
    payload["p"] = json!("abcdefghijklmnopqrstuvwxyzABCDEF"[..(kind.len() % 7) + 3]);
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// An exception message (`throttlingException`, `modelStreamErrorException`, ...).
pub fn exception(kind: &str, message: &str) -> Bytes {
    frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "ValidationException",
        401 | 403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

fn fail(status: StatusCode, kind: &str, message: &str) -> Answer {
    Answer::Json(status, json!({"message": message, "__type": kind}))
}

fn texts(blocks: &Value) -> String {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["text"].as_str())
        .collect()
}

/// Converse's own checks of a request body.
fn validate(body: &Value) -> Result<(), String> {
    let msgs = body["messages"].as_array().ok_or("messages is required")?;
    if msgs.is_empty() {
        return Err("A conversation must start with a user message.".into());
    }
    let mut tool_blocks = false;
    for (i, m) in msgs.iter().enumerate() {
        let want = if i % 2 == 0 { "user" } else { "assistant" };
        if m["role"] != want {
            return Err(if i == 0 {
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.".into()
            } else {
                "A conversation must alternate between user and assistant roles.".into()
            });
        }
        let content = m["content"]
            .as_array()
            .ok_or(format!("messages.{i}.content is required"))?;
        if content.is_empty() {
            return Err(format!(
                "The content field in the Message object at messages.{i} is empty."
            ));
        }
        for (j, b) in content.iter().enumerate() {
            if b["text"].as_str().is_some_and(|t| t.trim().is_empty()) {
                return Err(format!(
                    "The text field in the ContentBlock object at messages.{i}.content.{j} is blank."
                ));
            }
            tool_blocks |= b.get("toolUse").is_some() || b.get("toolResult").is_some();
            if let Some(img) = b.get("image")
                && !matches!(
                    img["format"].as_str(),
                    Some("png" | "jpeg" | "gif" | "webp")
                )
            {
                return Err(format!(
                    "messages.{i}.content.{j}.image.format is not valid"
                ));
            }
        }
    }
    if tool_blocks && body.get("toolConfig").is_none() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    Ok(())
}

impl BedrockWire {
    fn reply_for(body: &Value) -> Reply {
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let last = msgs.last().cloned().unwrap_or(Value::Null);
        let after_tool = last["content"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|b| b.get("toolResult"))
            .map(|r| texts(&r["content"]));
        let user = msgs
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .cloned()
            .unwrap_or(Value::Null);
        let images = user["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b.get("image").is_some())
            .count();
        let tools: Vec<String> = body["toolConfig"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_string))
            .collect();
        let system = texts(&body["system"]);
        let json =
            body["outputConfig"]["textFormat"]["type"] == "json_schema" || system.contains("JSON");
        let prompt_chars = system.chars().count()
            + msgs
                .iter()
                .map(|m| texts(&m["content"]).chars().count())
                .sum::<usize>();
        decide(
            &texts(&user["content"]),
            images,
            &tools,
            after_tool.as_deref(),
            json,
            prompt_chars,
        )
    }

    fn usage(r: &Reply) -> Value {
        let fresh = r.input_tokens.saturating_sub(r.cached_tokens);
        json!({
            "inputTokens": fresh, "outputTokens": r.output_tokens,
            "totalTokens": r.input_tokens + r.output_tokens,
            "cacheReadInputTokens": r.cached_tokens, "cacheWriteInputTokens": 0,
        })
    }

    fn converse(&self, body: &Value, stream: bool, script: Option<Reply>) -> Answer {
        let r = script.unwrap_or_else(|| Self::reply_for(body));
        let stop = if r.tool_calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        };
        if !stream {
            let mut content = Vec::new();
            if let Some(t) = &r.text {
                content.push(json!({"text": t}));
            }
            for (id, name, args) in &r.tool_calls {
                let input: Value = serde_json::from_str(args).unwrap_or(json!({}));
                content.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
            }
            return Answer::Json(
                StatusCode::OK,
                json!({
                    "output": {"message": {"role": "assistant", "content": content}},
                    "stopReason": stop, "usage": Self::usage(&r), "metrics": {"latencyMs": 42},
                }),
            );
        }
        let mut out = vec![event("messageStart", json!({"role": "assistant"}))];
        let mut block = 0;
        if let Some(t) = &r.text {
            for p in pieces(t, 3) {
                out.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": block, "delta": {"text": p}}),
                ));
            }
            out.push(event(
                "contentBlockStop",
                json!({"contentBlockIndex": block}),
            ));
            block += 1;
        }
        for (id, name, args) in &r.tool_calls {
            out.push(event("contentBlockStart", json!({"contentBlockIndex": block, "start": {"toolUse": {"toolUseId": id, "name": name}}})));
            for p in pieces(args, 4) {
                out.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": block, "delta": {"toolUse": {"input": p}}}),
                ));
            }
            out.push(event(
                "contentBlockStop",
                json!({"contentBlockIndex": block}),
            ));
            block += 1;
        }
        out.push(event("messageStop", json!({"stopReason": stop})));
        out.push(event(
            "metadata",
            json!({"usage": Self::usage(&r), "metrics": {"latencyMs": 42}}),
        ));
        if let Some((after, kind, message)) = lock(&self.exception).take() {
            out.truncate(after);
            out.push(exception(&kind, &message));
        }
        Answer::Stream(out)
    }

    fn check_auth(&self, req: &http::request::Parts, body: &[u8]) -> Result<(), Answer> {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Some(key) = auth.strip_prefix("Bearer ") {
            if self.api_keys.iter().any(|k| k == key) {
                return Ok(());
            }
            return Err(fail(
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }
        match &self.sigv4 {
            Some(check) => verify(req, body, check).map_err(|why| {
                fail(StatusCode::FORBIDDEN, "InvalidSignatureException", &format!(
                    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. ({why})"
                ))
            }),
            None => Err(fail(StatusCode::FORBIDDEN, "MissingAuthenticationTokenException", "Missing Authentication Token")),
        }
    }
}

impl Wire for BedrockWire {
    fn error_body(&self, _status: u16, message: &str) -> Value {
        json!({ "message": message })
    }

    fn error_headers(&self, status: u16) -> Vec<(&'static str, String)> {
        vec![
            (
                "x-amzn-errortype",
                format!(
                    "{}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                    error_type(status)
                ),
            ),
            (
                "x-amzn-requestid",
                "00000000-0000-4000-8000-000000000000".into(),
            ),
        ]
    }

    fn stream_content_type(&self) -> &'static str {
        "application/vnd.amazon.eventstream"
    }

    fn malformed_chunk(&self) -> Bytes {
        let mut m = event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
        )
        .to_vec();
        let n = m.len();
        m[n - 1] ^= 0xff; // a message CRC that does not match
        Bytes::from(m)
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        if let Err(a) = self.check_auth(req, body) {
            return a;
        }
        let path = req.uri.path();
        let Some(rest) = path.strip_prefix("/model/") else {
            return fail(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                &format!("no operation at {path}"),
            );
        };
        let (model, stream) = match (
            rest.strip_suffix("/converse-stream"),
            rest.strip_suffix("/converse"),
        ) {
            (Some(m), _) => (m, true),
            (None, Some(m)) => (m, false),
            _ => {
                return fail(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    &format!("no operation at {path}"),
                );
            }
        };
        if model.contains('/') || model.contains(':') {
            return fail(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "the model id in the path must be URL-encoded",
            );
        }
        if percent_decode_str(model).decode_utf8().is_err() {
            return fail(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "the model id is not UTF-8",
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return fail(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "the request body is not JSON",
            );
        };
        if let Err(why) = validate(&body) {
            return fail(StatusCode::BAD_REQUEST, "ValidationException", &why);
        }
        self.converse(&body, stream, script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_valid_crcs() {
        let f = event("messageStop", json!({"stopReason": "end_turn"}));
        let total = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(total, f.len());
        assert_eq!(crc32fast::hash(&f[..8]).to_be_bytes(), f[8..12]);
        assert_eq!(
            crc32fast::hash(&f[..total - 4]).to_be_bytes(),
            f[total - 4..]
        );
        assert_eq!(
            &frame(&[], b"")[..],
            [
                0, 0, 0, 16, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff
            ]
        );
    }

    #[test]
    fn validation_follows_converse_rules() {
        let ok = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
        assert!(validate(&ok).is_ok());
        let two_users = json!({"messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]});
        assert!(validate(&two_users).unwrap_err().contains("alternate"));
        let blank = json!({"messages": [{"role": "user", "content": [{"text": " "}]}]});
        assert!(validate(&blank).unwrap_err().contains("blank"));
        let tools = json!({"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": []}}]}]});
        assert!(validate(&tools).unwrap_err().contains("toolConfig"));
    }
}
