//! Anthropic Messages requests → unified [`ChatRequest`]: what callers send
//! to `/v1/messages` (and `/v1/messages/count_tokens`). The other direction,
//! what the provider sends, is in `encode.rs`.
//!
//! Mappings that are not one to one: `system` blocks become system messages
//! and `tool_result` blocks tool messages, in place; `disable_parallel_tool_use`
//! becomes `parallel_tool_calls: false`; `thinking.budget_tokens` the reasoning
//! budget (`adaptive` a medium effort, `output_config.effort` the effort);
//! `output_config.format` (or the older `output_format`) a JSON-schema answer
//! (JSON mode for the schema `{"type": "object"}`);
//! `metadata.user_id` the user. `cache_control`, `service_tier`,
//! `inference_geo`, `speed` and `diagnostics` are accepted and not forwarded;
//! server tools and other unknown fields are refused naming the field.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::wire::{Block, ImageSource as WireImage, REDACTED, ToolResultContent};
use crate::error::AiError;
use crate::types::*;

#[derive(Deserialize)]
struct WireRequest {
    model: Option<String>,
    max_tokens: Option<u32>,
    messages: Option<Vec<Value>>,
    system: Option<Value>,
    metadata: Option<WireMetadata>,
    stop_sequences: Option<Vec<String>>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    output_config: Option<Value>,
    /// The deprecated beta spelling of `output_config.format`.
    output_format: Option<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireMetadata {
    user_id: Option<String>,
}

/// Top-level fields accepted and not forwarded: they tune caching, billing
/// or placement, never the answer.
const IGNORED: &[&str] = &[
    "cache_control",
    "service_tier",
    "inference_geo",
    "speed",
    "diagnostics",
];

/// Decode a `/v1/messages` body; `count_tokens` bodies have no `max_tokens`.
pub fn decode_request(body: &[u8], count_tokens: bool) -> Result<ChatRequest, AiError> {
    let w: WireRequest = serde_json::from_slice(body).map_err(|e| {
        AiError::invalid(format!(
            "the request body is not a valid Messages request: {e}"
        ))
    })?;
    if let Some(k) = w.extra.keys().find(|k| !IGNORED.contains(&k.as_str())) {
        return Err(AiError::invalid_param(
            k.clone(),
            format!("`{k}` is not supported by this gateway's Messages API"),
        ));
    }
    let model = w
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AiError::invalid_param("model", "model: Field required"))?;
    if !count_tokens && w.max_tokens.is_none() {
        return Err(AiError::invalid_param(
            "max_tokens",
            "max_tokens: Field required",
        ));
    }
    let wire_messages = w
        .messages
        .ok_or_else(|| AiError::invalid_param("messages", "messages: Field required"))?;
    let mut messages = Vec::new();
    if let Some(s) = w.system {
        decode_system(s, &mut messages)?;
    }
    for (i, m) in wire_messages.into_iter().enumerate() {
        decode_message(m, i, &mut messages)?;
    }
    let mut tools = Vec::new();
    for (i, t) in w.tools.unwrap_or_default().into_iter().enumerate() {
        tools.push(decode_tool(t, i)?);
    }
    let (tool_choice, parallel_tool_calls) = match w.tool_choice {
        None | Some(Value::Null) => (None, None),
        Some(v) => decode_tool_choice(&v)?,
    };
    let (reasoning_budget, mut reasoning_effort) = match w.thinking {
        None | Some(Value::Null) => (None, None),
        Some(v) => decode_thinking(&v)?,
    };
    let mut response_format = None;
    let format = w
        .output_config
        .as_ref()
        .and_then(|c| c.get("format"))
        .or(w.output_format.as_ref())
        .filter(|f| !f.is_null());
    if let Some(f) = format {
        response_format = Some(decode_format(f)?);
    }
    if let Some(e) = w
        .output_config
        .as_ref()
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str)
    {
        reasoning_effort = Some(e.to_string());
    }
    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        stream: w.stream.unwrap_or(false),
        include_usage: w.stream.unwrap_or(false),
        stop: w.stop_sequences.unwrap_or_default(),
        temperature: w.temperature,
        top_p: w.top_p,
        top_k: w.top_k,
        max_tokens: w.max_tokens,
        reasoning_effort,
        reasoning_budget,
        user: w.metadata.and_then(|m| m.user_id),
        ..Default::default()
    })
}

fn decode_system(s: Value, out: &mut Vec<Message>) -> Result<(), AiError> {
    match s {
        Value::String(t) => out.push(Message::text(Role::System, t)),
        Value::Array(blocks) => {
            for (j, b) in blocks.into_iter().enumerate() {
                match block(b, &format!("system[{j}]"))? {
                    Block::Text { text } => out.push(Message::text(Role::System, text)),
                    _ => {
                        return Err(AiError::invalid_param(
                            format!("system[{j}].type"),
                            "system blocks must be text blocks",
                        ));
                    }
                }
            }
        }
        _ => {
            return Err(AiError::invalid_param(
                "system",
                "system must be a string or a list of text blocks",
            ));
        }
    }
    Ok(())
}

/// One block, with its path in errors; unknown types are refused.
fn block(v: Value, path: &str) -> Result<Block, AiError> {
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match serde_json::from_value::<Block>(v) {
        Ok(Block::Unknown) => Err(AiError::invalid_param(
            format!("{path}.type"),
            format!("content block type `{kind}` is not supported by this gateway"),
        )),
        Ok(b) => Ok(b),
        Err(e) => Err(AiError::invalid_param(
            path.to_string(),
            format!("{path}: {e}"),
        )),
    }
}

fn blocks_of(content: Value, path: &str) -> Result<Vec<Block>, AiError> {
    match content {
        Value::String(s) => Ok(vec![Block::Text { text: s }]),
        Value::Array(a) => a
            .into_iter()
            .enumerate()
            .map(|(j, b)| block(b, &format!("{path}[{j}]")))
            .collect(),
        _ => Err(AiError::invalid_param(
            path.to_string(),
            "content must be a string or a list of content blocks",
        )),
    }
}

fn image_part(source: WireImage) -> Part {
    let source = match source {
        WireImage::Base64 { media_type, data } => ImageSource::Base64 { media_type, data },
        WireImage::Url { url } => ImageSource::Url(url),
    };
    Part::Image {
        source,
        detail: None,
    }
}

fn decode_message(m: Value, i: usize, out: &mut Vec<Message>) -> Result<(), AiError> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    let role = match role {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(AiError::invalid_param(
                format!("messages[{i}].role"),
                format!("messages[{i}].role: `{other}` is not `user` or `assistant`"),
            ));
        }
    };
    let content = m.get("content").cloned().unwrap_or(Value::Null);
    let path = format!("messages[{i}].content");
    let mut cur = Message::new(role, Vec::new());
    let mut split = false;
    for (j, b) in blocks_of(content, &path)?.into_iter().enumerate() {
        let bad = |what: &str| {
            AiError::invalid_param(
                format!("{path}[{j}]"),
                format!("{what} blocks are not allowed in {} turns", role.as_str()),
            )
        };
        match b {
            Block::Text { text } => cur.content.push(Part::Text(text)),
            Block::Image { source } => cur.content.push(image_part(source)),
            Block::Thinking {
                thinking,
                signature,
            } => cur.content.push(Part::Thinking {
                text: thinking,
                signature: Some(signature).filter(|s| !s.is_empty()),
            }),
            Block::RedactedThinking { data } => cur.content.push(Part::Thinking {
                text: String::new(),
                signature: Some(format!("{REDACTED}{data}")),
            }),
            Block::ToolUse { id, name, input } if role == Role::Assistant => {
                cur.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input.to_string(),
                });
            }
            Block::ToolUse { .. } => return Err(bad("tool_use")),
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } if role == Role::User => {
                // Tool results become tool messages, in place.
                if !cur.content.is_empty() {
                    out.push(std::mem::replace(&mut cur, Message::new(role, Vec::new())));
                }
                split = true;
                let mut msg = Message::new(Role::Tool, tool_result_parts(content, &path, j)?);
                msg.tool_call_id = Some(tool_use_id);
                msg.is_error = is_error;
                out.push(msg);
            }
            Block::ToolResult { .. } => return Err(bad("tool_result")),
            Block::Unknown => return Err(bad("unknown")),
        }
    }
    if !cur.content.is_empty() || !cur.tool_calls.is_empty() || !split {
        out.push(cur);
    }
    Ok(())
}

fn tool_result_parts(
    content: Option<ToolResultContent>,
    path: &str,
    j: usize,
) -> Result<Vec<Part>, AiError> {
    Ok(match content {
        None => Vec::new(),
        Some(ToolResultContent::Text(t)) => vec![Part::Text(t)],
        Some(ToolResultContent::Blocks(bs)) => bs
            .into_iter()
            .map(|b| match b {
                Block::Text { text } => Ok(Part::Text(text)),
                Block::Image { source } => Ok(image_part(source)),
                _ => Err(AiError::invalid_param(
                    format!("{path}[{j}].content"),
                    "tool results may hold text and image blocks only",
                )),
            })
            .collect::<Result<_, _>>()?,
    })
}

fn decode_tool(t: Value, i: usize) -> Result<Tool, AiError> {
    let kind = t.get("type").and_then(Value::as_str).unwrap_or("custom");
    if kind != "custom" {
        return Err(AiError::invalid_param(
            format!("tools[{i}].type"),
            format!(
                "tool type `{kind}` (a server or client tool) is not supported by this gateway; declare custom tools"
            ),
        ));
    }
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| AiError::invalid_param(format!("tools[{i}].name"), "tools need a `name`"))?;
    let schema = t.get("input_schema").cloned().ok_or_else(|| {
        AiError::invalid_param(
            format!("tools[{i}].input_schema"),
            "tools need an `input_schema`",
        )
    })?;
    Ok(Tool {
        name: name.to_string(),
        description: t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        parameters: schema,
        strict: t.get("strict").and_then(Value::as_bool),
    })
}

fn decode_tool_choice(v: &Value) -> Result<(Option<ToolChoice>, Option<bool>), AiError> {
    let bad = || {
        AiError::invalid_param(
            "tool_choice",
            "tool_choice.type must be `auto`, `any`, `tool` or `none`",
        )
    };
    let choice = match v.get("type").and_then(Value::as_str).ok_or_else(bad)? {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Tool(
            v.get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    AiError::invalid_param("tool_choice.name", "tool_choice `tool` needs a `name`")
                })?
                .to_string(),
        ),
        _ => return Err(bad()),
    };
    let parallel = v
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|d| !d);
    Ok((Some(choice), parallel))
}

fn decode_thinking(v: &Value) -> Result<(Option<u32>, Option<String>), AiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let b = v
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    AiError::invalid_param(
                        "thinking.budget_tokens",
                        "thinking.budget_tokens: Field required",
                    )
                })?;
            Ok((Some(u32::try_from(b).unwrap_or(u32::MAX)), None))
        }
        Some("disabled") => Ok((None, None)),
        // The model decides how much to think: a medium effort elsewhere.
        Some("adaptive") => Ok((None, Some("medium".into()))),
        _ => Err(AiError::invalid_param(
            "thinking.type",
            "thinking.type must be `enabled`, `adaptive` or `disabled`",
        )),
    }
}

/// A JSON-schema answer; the schema `{"type": "object"}` alone (any
/// object) is JSON mode, which every provider has in some form.
fn decode_format(f: &Value) -> Result<ResponseFormat, AiError> {
    match f.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = f.get("schema").cloned().ok_or_else(|| {
                AiError::invalid_param("output_config.format.schema", "`schema` is required")
            })?;
            if schema == json!({"type": "object"}) {
                return Ok(ResponseFormat::JsonObject);
            }
            Ok(ResponseFormat::JsonSchema {
                name: "response".into(),
                description: None,
                schema,
                strict: Some(true),
            })
        }
        _ => Err(AiError::invalid_param(
            "output_config.format.type",
            "output_config.format.type must be `json_schema`",
        )),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
