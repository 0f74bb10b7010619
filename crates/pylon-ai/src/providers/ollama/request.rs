//! Unified [`ChatRequest`] → Ollama `/api/chat` body: messages with
//! `images` as base64 arrays (Ollama takes no image URLs: those are
//! refused), assistant `tool_calls` with object arguments and `thinking`,
//! tool results with `tool_name`, `tools`, `format` (`"json"` or a JSON
//! schema), `options` (temperature, top_p, top_k, num_predict, stop,
//! seed, penalties) and `think`.

use serde_json::{Map, Value, json};

use crate::error::AiError;
use crate::types::*;

/// Encode `req` for `model`.
pub fn encode_request(req: &ChatRequest, model: &str) -> Result<Value, AiError> {
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        messages.push(encode_message(req, m, i)?);
    }
    o.insert("messages".into(), Value::Array(messages));
    // Ollama streams unless told otherwise.
    o.insert("stream".into(), json!(req.stream));
    // `tool_choice: none` is honoured by not offering the tools.
    if !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None) {
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
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            o.insert("format".into(), json!("json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            o.insert("format".into(), schema.clone());
        }
        Some(ResponseFormat::Text) | None => {}
    }
    let mut opts = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            opts.insert(k.into(), v);
        }
    };
    put("temperature", req.temperature.map(Value::from));
    put("top_p", req.top_p.map(Value::from));
    put("top_k", req.top_k.map(Value::from));
    put("num_predict", req.max_tokens.map(Value::from));
    put("stop", (!req.stop.is_empty()).then(|| json!(req.stop)));
    put("seed", req.seed.map(Value::from));
    put("presence_penalty", req.presence_penalty.map(Value::from));
    put("frequency_penalty", req.frequency_penalty.map(Value::from));
    if !opts.is_empty() {
        o.insert("options".into(), Value::Object(opts));
    }
    match req.reasoning_effort.as_deref() {
        None => {}
        Some("none" | "minimal") => {
            o.insert("think".into(), json!(false));
        }
        Some(level @ ("low" | "medium" | "high")) => {
            o.insert("think".into(), json!(level));
        }
        Some(other) => {
            return Err(AiError::invalid_param(
                "reasoning_effort",
                format!("reasoning_effort `{other}` is not one of minimal, low, medium, high"),
            ));
        }
    }
    Ok(Value::Object(o))
}

fn encode_message(req: &ChatRequest, m: &Message, i: usize) -> Result<Value, AiError> {
    let role = match m.role {
        Role::System | Role::Developer => "system",
        r => r.as_str(),
    };
    let mut o = json!({"role": role, "content": m.text_content()});
    let mut images = Vec::new();
    let mut thinking = String::new();
    for (j, p) in m.content.iter().enumerate() {
        match p {
            Part::Image {
                source: ImageSource::Base64 { data, .. },
                ..
            } => images.push(json!(data)),
            Part::Image {
                source: ImageSource::Url(_),
                ..
            } => {
                return Err(AiError::invalid_param(
                    format!("messages[{i}].content[{j}]"),
                    "Ollama takes images inline only (base64 `data:` URLs), not image URLs",
                ));
            }
            Part::Thinking { text, .. } => thinking.push_str(text),
            Part::Text(_) => {}
        }
    }
    if !images.is_empty() {
        o["images"] = Value::Array(images);
    }
    if m.role == Role::Assistant && !thinking.is_empty() {
        o["thinking"] = json!(thinking);
    }
    if !m.tool_calls.is_empty() {
        let mut calls = Vec::with_capacity(m.tool_calls.len());
        for (j, c) in m.tool_calls.iter().enumerate() {
            let args = if c.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str::<Value>(&c.arguments)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        AiError::invalid_param(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            "tool call arguments must be a JSON object for Ollama",
                        )
                    })?
            };
            calls.push(json!({"function": {"name": c.name, "arguments": args}}));
        }
        o["tool_calls"] = Value::Array(calls);
    }
    if m.role == Role::Tool {
        let id = m.tool_call_id.as_deref().unwrap_or("");
        let name = req
            .messages
            .iter()
            .flat_map(|x| x.tool_calls.iter())
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .or_else(|| m.name.clone());
        if let Some(n) = name {
            o["tool_name"] = json!(n);
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_field() {
        let mut asst = Message::new(
            Role::Assistant,
            vec![Part::Thinking {
                text: "hmm".into(),
                signature: None,
            }],
        );
        asst.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            name: "look".into(),
            arguments: "{\"x\":1}".into(),
        }];
        let mut tool = Message::text(Role::Tool, "a cat");
        tool.tool_call_id = Some("call_1".into());
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::Developer, "be brief"),
                Message::new(
                    Role::User,
                    vec![
                        Part::Text("what?".into()),
                        Part::Image {
                            source: ImageSource::from_url("data:image/png;base64,AAAA"),
                            detail: None,
                        },
                    ],
                ),
                asst,
                tool,
            ],
            tools: vec![Tool {
                name: "look".into(),
                description: None,
                parameters: json!({"type": "object"}),
                strict: None,
            }],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "r".into(),
                description: None,
                schema: json!({"type": "object"}),
                strict: None,
            }),
            temperature: Some(0.2),
            top_p: Some(0.9),
            top_k: Some(20),
            max_tokens: Some(50),
            stop: vec!["END".into()],
            seed: Some(3),
            reasoning_effort: Some("high".into()),
            ..Default::default()
        };
        let b = encode_request(&req, "llama3.2").unwrap();
        assert_eq!(b["stream"], false);
        let m = &b["messages"];
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(
            m[1],
            json!({"role": "user", "content": "what?", "images": ["AAAA"]})
        );
        assert_eq!(
            m[2],
            json!({"role": "assistant", "content": "", "thinking": "hmm", "tool_calls": [{"function": {"name": "look", "arguments": {"x": 1}}}]})
        );
        assert_eq!(
            m[3],
            json!({"role": "tool", "content": "a cat", "tool_name": "look"})
        );
        assert_eq!(b["tools"][0]["function"]["name"], "look");
        assert_eq!(b["format"], json!({"type": "object"}));
        assert_eq!(
            b["options"],
            json!({"temperature": 0.2, "top_p": 0.9, "top_k": 20, "num_predict": 50, "stop": ["END"], "seed": 3})
        );
        assert_eq!(b["think"], "high");
        let r = ChatRequest {
            tool_choice: Some(ToolChoice::None),
            response_format: Some(ResponseFormat::JsonObject),
            stream: true,
            ..req.clone()
        };
        let b = encode_request(&r, "m").unwrap();
        assert!(b.get("tools").is_none());
        assert_eq!(
            (b["format"].clone(), b["stream"].clone()),
            (json!("json"), json!(true))
        );
        let url = ChatRequest {
            messages: vec![Message::new(
                Role::User,
                vec![Part::Image {
                    source: ImageSource::Url("https://x/y.png".into()),
                    detail: None,
                }],
            )],
            ..Default::default()
        };
        assert_eq!(
            encode_request(&url, "m").unwrap_err().param.as_deref(),
            Some("messages[0].content[0]")
        );
    }
}
