//! Unified [`ChatRequest`] → Anthropic Messages requests: what the
//! Anthropic provider sends to `POST /v1/messages` and
//! `/v1/messages/count_tokens`.
//!
//! Mappings that are not one to one:
//! - every system and developer message becomes a block of the top-level
//!   `system`; tool messages become `tool_result` blocks of a user turn, and
//!   consecutive turns of the same role are merged (Anthropic alternates);
//! - `reasoning_effort` becomes `thinking.budget_tokens` (minimal 1024, low
//!   2048, medium 8192, high 16384, xhigh/max 32768, kept below `max_tokens`);
//! - `response_format: json_schema` becomes the native structured output
//!   `output_config.format`; `json_object` (no native form) becomes a forced
//!   tool, [`JSON_TOOL`], whose input is the answer (see `response.rs`);
//! - thinking parts without a signature (another provider's reasoning) are
//!   left out: Anthropic refuses unsigned thinking blocks.

use serde_json::{Map, Value, json};

use super::wire::{Block, ImageSource as WireImage, JSON_TOOL, REDACTED, ToolResultContent};
use crate::error::AiError;
use crate::types::*;

/// `max_tokens` when neither the caller nor the catalog gives one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The smallest thinking budget Anthropic accepts.
const MIN_BUDGET: u32 = 1024;

/// The thinking budget for a `reasoning_effort`, kept below `max_tokens`.
fn effort_budget(effort: &str, max_tokens: u32) -> Result<Option<u32>, AiError> {
    let want = match effort {
        "none" => return Ok(None),
        "minimal" => MIN_BUDGET,
        "low" => 2048,
        "medium" => 8192,
        "high" => 16_384,
        _ => 32_768,
    };
    let budget = want.min(max_tokens.saturating_sub(1));
    if budget < MIN_BUDGET {
        return Err(AiError::invalid_param(
            "reasoning_effort",
            format!(
                "Anthropic needs a thinking budget of at least {MIN_BUDGET} tokens below max_tokens; raise max_tokens above {MIN_BUDGET}"
            ),
        ));
    }
    Ok(Some(budget))
}

/// Encode a unified request as a Messages body for `model`.
pub fn encode_request(req: &ChatRequest, model: &str) -> Result<Value, AiError> {
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    o.insert("max_tokens".into(), json!(max_tokens));
    let (system, messages) = encode_messages(&req.messages)?;
    o.insert("messages".into(), Value::Array(messages));
    match system.as_slice() {
        [] => {}
        [Block::Text { text }] => {
            o.insert("system".into(), json!(text));
        }
        blocks => {
            o.insert("system".into(), json!(blocks));
        }
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put(
        "stop_sequences",
        (!req.stop.is_empty()).then(|| json!(req.stop)),
    );
    put("temperature", req.temperature.map(Value::from));
    put("top_p", req.top_p.map(Value::from));
    put("top_k", req.top_k.map(Value::from));
    put(
        "metadata",
        req.user.as_ref().map(|u| json!({ "user_id": u })),
    );
    if req.stream {
        put("stream", Some(json!(true)));
    }
    let budget = match (req.reasoning_budget, &req.reasoning_effort) {
        (Some(b), _) => Some(b),
        (None, Some(e)) => effort_budget(e, max_tokens)?,
        (None, None) => None,
    };
    put(
        "thinking",
        budget.map(|b| json!({"type": "enabled", "budget_tokens": b})),
    );
    let json_tool = matches!(req.response_format, Some(ResponseFormat::JsonObject));
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        put(
            "output_config",
            Some(json!({"format": {"type": "json_schema", "schema": schema}})),
        );
    }
    let mut tools: Vec<Value> = req.tools.iter().map(encode_tool).collect();
    if json_tool {
        if req.tools.iter().any(|t| t.name == JSON_TOOL) {
            return Err(AiError::invalid_param(
                "tools",
                format!("the tool name `{JSON_TOOL}` is reserved for JSON answers"),
            ));
        }
        tools.push(json!({
            "name": JSON_TOOL,
            "description": "Give your answer as a JSON object: the input of this tool is the answer.",
            "input_schema": {"type": "object"},
        }));
    }
    if !tools.is_empty() {
        let forced = json!({"type": "tool", "name": JSON_TOOL});
        let mut choice = match (&req.tool_choice, json_tool) {
            (Some(ToolChoice::Tool(n)), _) => json!({"type": "tool", "name": n}),
            (Some(ToolChoice::None), true) => forced,
            (_, true) if req.tools.is_empty() => forced,
            (_, true) | (Some(ToolChoice::Required), false) => json!({"type": "any"}),
            (Some(ToolChoice::None), false) => json!({"type": "none"}),
            (Some(ToolChoice::Auto) | None, false) => json!({"type": "auto"}),
        };
        let single = json_tool && choice["name"] == JSON_TOOL;
        let serial = req.parallel_tool_calls == Some(false) || single;
        if serial && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        let explicit = req.tool_choice.is_some() || json_tool || serial;
        o.insert("tools".into(), Value::Array(tools));
        if explicit {
            o.insert("tool_choice".into(), choice);
        }
    }
    Ok(Value::Object(o))
}

/// The body for `POST /v1/messages/count_tokens`: what shapes the prompt only.
pub fn encode_count_tokens(req: &ChatRequest, model: &str) -> Result<Value, AiError> {
    let mut r = req.clone();
    r.stream = false;
    let mut v = encode_request(&r, model)?;
    if let Some(o) = v.as_object_mut() {
        for k in [
            "max_tokens",
            "stop_sequences",
            "temperature",
            "top_p",
            "top_k",
            "metadata",
            "stream",
        ] {
            o.remove(k);
        }
    }
    Ok(v)
}

fn encode_tool(t: &Tool) -> Value {
    let mut v = json!({"name": t.name, "input_schema": t.parameters});
    if let Some(d) = &t.description {
        v["description"] = json!(d);
    }
    if let Some(s) = t.strict {
        v["strict"] = json!(s);
    }
    v
}

fn wire_image(source: &ImageSource) -> Block {
    Block::Image {
        source: match source {
            ImageSource::Base64 { media_type, data } => WireImage::Base64 {
                media_type: media_type.clone(),
                data: data.clone(),
            },
            ImageSource::Url(u) => WireImage::Url { url: u.clone() },
        },
    }
}

/// Text and image parts as blocks (empty text left out: Anthropic refuses it).
fn visible_blocks(parts: &[Part]) -> Vec<Block> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) if !t.is_empty() => Some(Block::Text { text: t.clone() }),
            Part::Image { source, .. } => Some(wire_image(source)),
            _ => None,
        })
        .collect()
}

/// The `system` blocks and the alternating `messages`.
fn encode_messages(msgs: &[Message]) -> Result<(Vec<Block>, Vec<Value>), AiError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Block>)> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.extend(
                    visible_blocks(&m.content)
                        .into_iter()
                        .filter(|b| matches!(b, Block::Text { .. })),
                );
                continue;
            }
            Role::User => ("user", visible_blocks(&m.content)),
            Role::Tool => {
                let parts = visible_blocks(&m.content);
                let content = match parts.as_slice() {
                    [] => None,
                    [Block::Text { text }] => Some(ToolResultContent::Text(text.clone())),
                    _ => Some(ToolResultContent::Blocks(parts)),
                };
                let id = m.tool_call_id.clone().ok_or_else(|| {
                    AiError::invalid_param(
                        format!("messages[{i}].tool_call_id"),
                        "tool messages need `tool_call_id`",
                    )
                })?;
                let result = Block::ToolResult {
                    tool_use_id: id,
                    content,
                    is_error: m.is_error,
                };
                ("user", vec![result])
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                for p in &m.content {
                    if let Part::Thinking {
                        text,
                        signature: Some(sig),
                    } = p
                    {
                        blocks.push(match sig.strip_prefix(REDACTED) {
                            Some(data) => Block::RedactedThinking { data: data.into() },
                            None => Block::Thinking {
                                thinking: text.clone(),
                                signature: sig.clone(),
                            },
                        });
                    }
                }
                blocks.extend(visible_blocks(&m.content));
                for c in &m.tool_calls {
                    let input = if c.arguments.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&c.arguments).map_err(|e| {
                            AiError::invalid_param(
                                format!("messages[{i}].tool_calls"),
                                format!("the arguments of tool call `{}` are not JSON: {e}", c.id),
                            )
                        })?
                    };
                    blocks.push(Block::ToolUse {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        input,
                    });
                }
                ("assistant", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, have)) if *r == role => have.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, blocks)| match blocks.as_slice() {
            [Block::Text { text }] => json!({"role": role, "content": text}),
            _ => json!({"role": role, "content": blocks}),
        })
        .collect();
    Ok((system, messages))
}
