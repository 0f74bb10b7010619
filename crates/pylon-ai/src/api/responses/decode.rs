//! OpenAI Responses requests (`POST /v1/responses`) → unified [`ChatRequest`]:
//! `input` as a string or items (messages with input_text / input_image /
//! output_text parts, function_call and function_call_output items),
//! `instructions`, function tools, `text.format`, `reasoning.effort`.
//! Pylon keeps no response state: `previous_response_id` is refused.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::AiError;
use crate::types::*;

#[derive(Deserialize)]
struct Wire {
    model: Option<String>,
    input: Option<Value>,
    instructions: Option<String>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    text: Option<Value>,
    max_output_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stream: Option<bool>,
    reasoning: Option<Value>,
    user: Option<String>,
    metadata: Option<Value>,
    previous_response_id: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Fields that change nothing for a gateway without response storage.
const IGNORED: &[&str] = &[
    "store",
    "truncation",
    "include",
    "service_tier",
    "background",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
    "top_logprobs",
];

pub fn decode_request(body: &[u8]) -> Result<ChatRequest, AiError> {
    let w: Wire = serde_json::from_slice(body).map_err(|e| {
        AiError::invalid(format!(
            "the request body is not a valid Responses request: {e}"
        ))
    })?;
    let model = w
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AiError::invalid_param("model", "`model` is required"))?;
    if w.previous_response_id.is_some() {
        return Err(AiError::invalid_param(
            "previous_response_id",
            "Pylon does not store responses; send the whole conversation in `input` instead of `previous_response_id`",
        ));
    }
    let mut messages = Vec::new();
    if let Some(i) = w.instructions.filter(|i| !i.is_empty()) {
        messages.push(Message::text(Role::System, i));
    }
    match w.input {
        None | Some(Value::Null) => {
            return Err(AiError::invalid_param("input", "`input` is required"));
        }
        Some(Value::String(s)) => messages.push(Message::text(Role::User, s)),
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                decode_item(item, i, &mut messages)?;
            }
        }
        Some(_) => {
            return Err(AiError::invalid_param(
                "input",
                "`input` must be a string or a list of items",
            ));
        }
    }
    if messages.iter().all(|m| m.role.is_instruction()) {
        return Err(AiError::invalid_param("input", "`input` has no message"));
    }
    let mut tools = Vec::new();
    for (i, t) in w.tools.unwrap_or_default().into_iter().enumerate() {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "function" {
            return Err(AiError::invalid_param(
                format!("tools[{i}].type"),
                format!("tool type `{kind}` is not supported through Pylon; use `function` tools"),
            ));
        }
        let name = t.get("name").and_then(Value::as_str).ok_or_else(|| {
            AiError::invalid_param(format!("tools[{i}].name"), "function tools need `name`")
        })?;
        tools.push(Tool {
            name: name.to_string(),
            description: t
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            parameters: t
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            strict: t.get("strict").and_then(Value::as_bool),
        });
    }
    let tool_choice = match w.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(AiError::invalid_param(
                    "tool_choice",
                    format!("unknown tool_choice `{other}`"),
                ));
            }
        }),
        Some(o) => Some(ToolChoice::Tool(
            o.get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| AiError::invalid_param("tool_choice", "tool_choice needs `name`"))?
                .to_string(),
        )),
    };
    let response_format = match w.text.as_ref().and_then(|t| t.get("format")) {
        None | Some(Value::Null) => None,
        Some(f) => Some(match f.get("type").and_then(Value::as_str) {
            Some("text") => ResponseFormat::Text,
            Some("json_object") => ResponseFormat::JsonObject,
            Some("json_schema") => ResponseFormat::JsonSchema {
                name: f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("response")
                    .to_string(),
                description: f
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                schema: f.get("schema").cloned().unwrap_or_else(|| json!({})),
                strict: f.get("strict").and_then(Value::as_bool),
            },
            _ => {
                return Err(AiError::invalid_param(
                    "text.format.type",
                    "text.format.type must be `text`, `json_object` or `json_schema`",
                ));
            }
        }),
    };
    let mut extra = w.rest;
    extra.retain(|k, _| !IGNORED.contains(&k.as_str()));
    if let Some(k) = extra.keys().next() {
        return Err(AiError::invalid_param(
            k.clone(),
            format!("`{k}` is not supported by Pylon's Responses API"),
        ));
    }
    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: w.parallel_tool_calls,
        response_format,
        stream: w.stream.unwrap_or(false),
        include_usage: true,
        temperature: w.temperature,
        top_p: w.top_p,
        max_tokens: w.max_output_tokens,
        reasoning_effort: w
            .reasoning
            .as_ref()
            .and_then(|r| r.get("effort"))
            .and_then(Value::as_str)
            .map(str::to_string),
        user: w.user,
        metadata: w.metadata,
        ..Default::default()
    })
}

fn role_of(s: &str, i: usize) -> Result<Role, AiError> {
    Ok(match s {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        "developer" => Role::Developer,
        other => {
            return Err(AiError::invalid_param(
                format!("input[{i}].role"),
                format!("unknown role `{other}`"),
            ));
        }
    })
}

fn decode_item(item: Value, i: usize, out: &mut Vec<Message>) -> Result<(), AiError> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = role_of(
                item.get("role").and_then(Value::as_str).unwrap_or("user"),
                i,
            )?;
            let content = match item.get("content") {
                Some(Value::String(s)) => vec![Part::Text(s.clone())],
                Some(Value::Array(parts)) => parts
                    .iter()
                    .enumerate()
                    .map(|(j, p)| decode_part(p, i, j))
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(AiError::invalid_param(
                        format!("input[{i}].content"),
                        "messages need `content`",
                    ));
                }
            };
            out.push(Message::new(role, content));
        }
        "function_call" => {
            let call = ToolCall {
                id: str_field(&item, "call_id", i)?,
                name: str_field(&item, "name", i)?,
                arguments: item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}")
                    .to_string(),
            };
            // Consecutive calls belong to one assistant turn.
            match out.last_mut() {
                Some(m) if m.role == Role::Assistant && m.content.is_empty() => {
                    m.tool_calls.push(call)
                }
                _ => {
                    let mut m = Message::new(Role::Assistant, Vec::new());
                    m.tool_calls.push(call);
                    out.push(m);
                }
            }
        }
        "function_call_output" => {
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let mut m = Message::text(Role::Tool, output);
            m.tool_call_id = Some(str_field(&item, "call_id", i)?);
            out.push(m);
        }
        "reasoning" => {}
        other => {
            return Err(AiError::invalid_param(
                format!("input[{i}].type"),
                format!("input item type `{other}` is not supported"),
            ));
        }
    }
    Ok(())
}

fn str_field(item: &Value, f: &str, i: usize) -> Result<String, AiError> {
    item.get(f)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            AiError::invalid_param(format!("input[{i}].{f}"), format!("`{f}` is required"))
        })
}

fn decode_part(p: &Value, i: usize, j: usize) -> Result<Part, AiError> {
    let path = format!("input[{i}].content[{j}]");
    match p.get("type").and_then(Value::as_str).unwrap_or("") {
        "input_text" | "output_text" | "text" => Ok(Part::Text(
            p.get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )),
        "input_image" => {
            let url = p.get("image_url").and_then(Value::as_str).ok_or_else(|| {
                AiError::invalid_param(
                    format!("{path}.image_url"),
                    "input_image needs `image_url` (file_id is not supported)",
                )
            })?;
            Ok(Part::Image {
                source: ImageSource::from_url(url),
                detail: p.get("detail").and_then(Value::as_str).map(str::to_string),
            })
        }
        other => Err(AiError::invalid_param(
            format!("{path}.type"),
            format!("content type `{other}` is not supported; use input_text or input_image"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_become_a_conversation() {
        let body = json!({
            "model": "m", "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": "data:image/png;base64,AA=="}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": true}},
            "max_output_tokens": 10, "reasoning": {"effort": "low"}, "store": false,
        });
        let r = decode_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(r.messages[1].image_count(), 1);
        assert_eq!(r.messages[2].tool_calls.len(), 2);
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(r.tool_choice, Some(ToolChoice::Tool("f".into())));
        assert!(matches!(
            r.response_format,
            Some(ResponseFormat::JsonSchema { .. })
        ));
        assert_eq!(r.max_tokens, Some(10));
        assert_eq!(r.reasoning_effort.as_deref(), Some("low"));
    }

    #[test]
    fn unsupported_things_are_named() {
        for (body, param) in [
            (
                json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "prompt": {"id": "p"}}),
                "prompt",
            ),
            (json!({"model": "m"}), "input"),
        ] {
            let e = decode_request(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{e}");
        }
    }
}
