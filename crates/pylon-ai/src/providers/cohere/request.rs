//! Unified [`ChatRequest`] → Cohere v2 `/chat` body: messages with roles
//! system/user/assistant/tool (images as `image_url` content blocks,
//! assistant text before tool calls as `tool_plan`), tools with JSON-schema
//! `parameters`, `tool_choice` `REQUIRED`/`NONE`, `response_format`
//! (`json_object`, with `json_schema` when given), `p`/`k`,
//! `stop_sequences`, `seed`, `max_tokens` and `thinking`.

use serde_json::{Map, Value, json};

use crate::error::AiError;
use crate::types::*;

/// Encode `req` as a Cohere v2 chat body for `model`.
pub fn encode_request(req: &ChatRequest, model: &str) -> Result<Value, AiError> {
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    let messages: Vec<Value> = req.messages.iter().map(encode_message).collect();
    o.insert("messages".into(), Value::Array(messages));
    if req.stream {
        o.insert("stream".into(), json!(true));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        o.insert("tools".into(), Value::Array(tools));
        if req.tools.iter().any(|t| t.strict == Some(true)) {
            o.insert("strict_tools".into(), json!(true));
        }
    }
    match &req.tool_choice {
        Some(ToolChoice::Required) => {
            o.insert("tool_choice".into(), json!("REQUIRED"));
        }
        Some(ToolChoice::None) => {
            o.insert("tool_choice".into(), json!("NONE"));
        }
        // Auto is Cohere's default; a named tool is reported unsupported.
        _ => {}
    }
    match &req.response_format {
        None => {}
        Some(ResponseFormat::Text) => {
            o.insert("response_format".into(), json!({"type": "text"}));
        }
        Some(ResponseFormat::JsonObject) => {
            o.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            o.insert(
                "response_format".into(),
                json!({"type": "json_object", "json_schema": schema}),
            );
        }
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put("max_tokens", req.max_tokens.map(Value::from));
    put(
        "stop_sequences",
        (!req.stop.is_empty()).then(|| json!(req.stop)),
    );
    put("temperature", req.temperature.map(Value::from));
    put("seed", req.seed.map(Value::from));
    put("frequency_penalty", req.frequency_penalty.map(Value::from));
    put("presence_penalty", req.presence_penalty.map(Value::from));
    put("k", req.top_k.map(Value::from));
    put("p", req.top_p.map(Value::from));
    let thinking = match (req.reasoning_budget, req.reasoning_effort.as_deref()) {
        (Some(b), _) => Some(json!({"type": "enabled", "token_budget": b})),
        (None, Some("none" | "minimal")) => Some(json!({"type": "disabled"})),
        (None, Some("low" | "medium" | "high")) => Some(json!({"type": "enabled"})),
        (None, Some(other)) => {
            return Err(AiError::invalid_param(
                "reasoning_effort",
                format!("reasoning_effort `{other}` is not one of minimal, low, medium, high"),
            ));
        }
        (None, None) => None,
    };
    put("thinking", thinking);
    Ok(Value::Object(o))
}

fn encode_message(m: &Message) -> Value {
    match m.role {
        Role::System | Role::Developer => json!({"role": "system", "content": m.text_content()}),
        Role::User => {
            let only_text = m.content.iter().all(|p| !matches!(p, Part::Image { .. }));
            let content = if only_text {
                json!(m.text_content())
            } else {
                Value::Array(
                    m.content
                        .iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(json!({"type": "text", "text": t})),
                            Part::Image { source, detail } => {
                                let mut img = json!({"url": source.to_url()});
                                if let Some(d) = detail {
                                    img["detail"] = json!(d);
                                }
                                Some(json!({"type": "image_url", "image_url": img}))
                            }
                            Part::Thinking { .. } => None,
                        })
                        .collect(),
                )
            };
            json!({"role": "user", "content": content})
        }
        Role::Assistant => {
            let mut o = json!({"role": "assistant"});
            let text = m.text_content();
            if m.tool_calls.is_empty() {
                o["content"] = json!(text);
            } else {
                if !text.is_empty() {
                    o["tool_plan"] = json!(text);
                }
                o["tool_calls"] = Value::Array(
                    m.tool_calls
                        .iter()
                        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                        .collect(),
                );
            }
            o
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.text_content(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_field() {
        let mut asst = Message::text(Role::Assistant, "I will look.");
        asst.tool_calls = vec![ToolCall {
            id: "tc_1".into(),
            name: "look".into(),
            arguments: "{\"x\":1}".into(),
        }];
        let mut tool = Message::text(Role::Tool, "a cat");
        tool.tool_call_id = Some("tc_1".into());
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::new(
                    Role::User,
                    vec![
                        Part::Text("what?".into()),
                        Part::Image {
                            source: ImageSource::from_url("data:image/png;base64,AAAA"),
                            detail: Some("low".into()),
                        },
                    ],
                ),
                asst,
                tool,
                Message::text(Role::Assistant, "A cat."),
            ],
            tools: vec![Tool {
                name: "look".into(),
                description: Some("d".into()),
                parameters: json!({"type": "object"}),
                strict: Some(true),
            }],
            tool_choice: Some(ToolChoice::Required),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "r".into(),
                description: None,
                schema: json!({"type": "object"}),
                strict: None,
            }),
            stream: true,
            max_tokens: Some(64),
            stop: vec!["END".into()],
            temperature: Some(0.3),
            seed: Some(9),
            top_k: Some(40),
            top_p: Some(0.8),
            frequency_penalty: Some(0.1),
            presence_penalty: Some(0.2),
            reasoning_budget: Some(512),
            ..Default::default()
        };
        let b = encode_request(&req, "command-a-03-2025").unwrap();
        assert_eq!(b["model"], "command-a-03-2025");
        let m = &b["messages"];
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(
            m[1]["content"][1],
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}})
        );
        assert_eq!(m[2]["tool_plan"], "I will look.");
        assert_eq!(
            m[2]["tool_calls"][0],
            json!({"id": "tc_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}})
        );
        assert!(m[2].get("content").is_none());
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "tc_1", "content": "a cat"})
        );
        assert_eq!(m[4], json!({"role": "assistant", "content": "A cat."}));
        assert_eq!(
            b["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(b["strict_tools"], true);
        assert_eq!(b["tool_choice"], "REQUIRED");
        assert_eq!(
            b["response_format"],
            json!({"type": "json_object", "json_schema": {"type": "object"}})
        );
        assert_eq!(b["stream"], true);
        assert_eq!(
            (
                b["max_tokens"].clone(),
                b["k"].clone(),
                b["p"].clone(),
                b["seed"].clone()
            ),
            (json!(64), json!(40), json!(0.8), json!(9))
        );
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "token_budget": 512})
        );
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, "x")],
            tool_choice: Some(ToolChoice::None),
            reasoning_effort: Some("minimal".into()),
            ..Default::default()
        };
        let b = encode_request(&r, "c").unwrap();
        assert_eq!(
            (b["tool_choice"].clone(), b["thinking"].clone()),
            (json!("NONE"), json!({"type": "disabled"}))
        );
        assert_eq!(b["messages"][0], json!({"role": "user", "content": "x"}));
        let r = ChatRequest {
            reasoning_effort: Some("max".into()),
            ..Default::default()
        };
        assert_eq!(
            encode_request(&r, "c").unwrap_err().param.as_deref(),
            Some("reasoning_effort")
        );
    }
}
