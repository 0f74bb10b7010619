//! Unified [`ChatRequest`] → a Bedrock Converse request body: `system`
//! blocks, `messages` of content blocks (text, image, toolUse, toolResult,
//! reasoningContent), `toolConfig`, `inferenceConfig`, `outputConfig` and
//! the model family's `additionalModelRequestFields`.

use serde_json::{Map, Value, json};

use crate::error::AiError;
use crate::types::*;

/// The instruction added for `response_format: json_object`: Converse has
/// no schema-less JSON mode (`outputConfig` needs a schema).
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else.";

/// Which maker's model a Bedrock model id names (its model-specific fields differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Anthropic,
    Nova,
    Other,
}

impl Family {
    /// From a model id, inference profile id (`us.anthropic...`) or ARN.
    pub fn of(model: &str) -> Family {
        if model.contains("anthropic.") {
            Family::Anthropic
        } else if model.contains("amazon.nova") {
            Family::Nova
        } else {
            Family::Other
        }
    }
}

/// Whether a past message carries tool calls or results (Converse then
/// needs `toolConfig` even when no tool may be called).
pub fn has_tool_history(req: &ChatRequest) -> bool {
    req.messages
        .iter()
        .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty())
}

/// `image/png` → `png` (the formats Converse takes).
fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type.to_ascii_lowercase().as_str() {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

fn image_block(source: &ImageSource, path: &str) -> Result<Value, AiError> {
    match source {
        ImageSource::Base64 { media_type, data } => {
            let format = image_format(media_type).ok_or_else(|| {
                AiError::invalid_param(
                    path,
                    format!("Bedrock takes png, jpeg, gif or webp images, not `{media_type}`"),
                )
            })?;
            Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        ImageSource::Url(url) if url.starts_with("s3://") => {
            let ext = url.rsplit('.').next().unwrap_or("");
            let format = image_format(&format!("image/{ext}")).ok_or_else(|| {
                AiError::invalid_param(path, format!("cannot tell the image format of `{url}`"))
            })?;
            Ok(json!({"image": {"format": format, "source": {"s3Location": {"uri": url}}}}))
        }
        ImageSource::Url(_) => Err(AiError::invalid_param(
            path,
            "Bedrock takes inline images (data: URLs) or s3:// locations, not web URLs",
        )),
    }
}

fn content_blocks(m: &Message, i: usize) -> Result<Vec<Value>, AiError> {
    let mut out = Vec::new();
    for (j, p) in m.content.iter().enumerate() {
        match p {
            Part::Text(t) if !t.is_empty() => out.push(json!({"text": t})),
            Part::Text(_) => {}
            Part::Image { source, .. } => {
                out.push(image_block(source, &format!("messages[{i}].content[{j}]"))?)
            }
            Part::Thinking {
                text,
                signature: Some(sig),
            } if m.role == Role::Assistant => out.push(json!({
                "reasoningContent": {"reasoningText": {"text": text, "signature": sig}}
            })),
            // Unsigned reasoning cannot be replayed to Bedrock.
            Part::Thinking { .. } => {}
        }
    }
    Ok(out)
}

fn tool_use(c: &ToolCall, i: usize) -> Result<Value, AiError> {
    let input: Value = if c.arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(&c.arguments).map_err(|e| {
            AiError::invalid_param(
                format!("messages[{i}].tool_calls"),
                format!("the arguments of tool call `{}` are not JSON: {e}", c.id),
            )
        })?
    };
    Ok(json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": input}}))
}

fn tool_result(m: &Message, i: usize) -> Result<Value, AiError> {
    let mut content = Vec::new();
    for (j, p) in m.content.iter().enumerate() {
        match p {
            Part::Text(t) => content.push(json!({"text": t})),
            Part::Image { source, .. } => {
                content.push(image_block(source, &format!("messages[{i}].content[{j}]"))?)
            }
            Part::Thinking { .. } => {}
        }
    }
    let mut r = json!({
        "toolUseId": m.tool_call_id.clone().unwrap_or_default(),
        "content": content,
    });
    if m.is_error {
        r["status"] = json!("error");
    }
    Ok(json!({ "toolResult": r }))
}

/// `system` blocks and `messages`: instructions are lifted into `system`,
/// tool results become user `toolResult` blocks, and consecutive messages
/// of one role are merged (Converse wants the roles to alternate).
fn conversation(req: &ChatRequest) -> Result<(Vec<Value>, Vec<Value>), AiError> {
    let mut system = Vec::new();
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                let t = m.text_content();
                if !t.is_empty() {
                    system.push(json!({ "text": t }));
                }
                continue;
            }
            Role::User => ("user", content_blocks(m, i)?),
            Role::Tool => ("user", vec![tool_result(m, i)?]),
            Role::Assistant => {
                let mut b = content_blocks(m, i)?;
                for c in &m.tool_calls {
                    b.push(tool_use(c, i)?);
                }
                ("assistant", b)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((r, have)) if *r == role => have.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    if matches!(req.response_format, Some(ResponseFormat::JsonObject)) {
        system.push(json!({ "text": JSON_OBJECT_INSTRUCTION }));
    }
    let messages = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

fn tool_config(req: &ChatRequest) -> Option<Value> {
    if req.tools.is_empty() {
        return None;
    }
    let choice = match &req.tool_choice {
        // Converse cannot forbid calls; without past tool blocks the tools are left out.
        Some(ToolChoice::None) if !has_tool_history(req) => return None,
        Some(ToolChoice::Auto) => Some(json!({"auto": {}})),
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Tool(n)) => Some(json!({"tool": {"name": n}})),
        Some(ToolChoice::None) | None => None,
    };
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut spec = json!({"name": t.name, "inputSchema": {"json": t.parameters}});
            if let Some(d) = &t.description {
                spec["description"] = json!(d);
            }
            if t.strict == Some(true) {
                spec["strict"] = json!(true);
            }
            json!({ "toolSpec": spec })
        })
        .collect();
    let mut cfg = json!({ "tools": tools });
    if let Some(c) = choice {
        cfg["toolChoice"] = c;
    }
    Some(cfg)
}

/// Model-specific parameters Converse has no field for. `top_k` goes to
/// other makers' models as `top_k` too (Bedrock refuses it where unknown);
/// a reasoning budget has a known form for Anthropic models only.
fn additional_fields(req: &ChatRequest, family: Family) -> Result<Map<String, Value>, AiError> {
    let mut o = Map::new();
    if let Some(k) = req.top_k {
        match family {
            Family::Nova => o.insert("inferenceConfig".into(), json!({ "topK": k })),
            _ => o.insert("top_k".into(), json!(k)),
        };
    }
    if let Some(b) = req.reasoning_budget {
        if family != Family::Anthropic {
            let mut e = AiError::new(
                crate::error::ErrorClass::Unsupported,
                "a reasoning budget is supported on Bedrock for Anthropic models only",
            );
            e.param = Some("reasoning_budget".into());
            return Err(e);
        }
        o.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
    }
    Ok(o)
}

/// Encode `req` as a Converse (or ConverseStream) body for `model`.
pub fn encode_request(req: &ChatRequest, model: &str) -> Result<Value, AiError> {
    let (system, messages) = conversation(req)?;
    if messages.is_empty() {
        return Err(AiError::invalid_param(
            "messages",
            "Bedrock needs at least one user or assistant message with content",
        ));
    }
    let mut o = Map::new();
    o.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        o.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(n) = req.max_tokens {
        inference.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), json!(p));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    if !inference.is_empty() {
        o.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(tc) = tool_config(req) {
        o.insert("toolConfig".into(), tc);
    }
    if let Some(ResponseFormat::JsonSchema {
        name,
        description,
        schema,
        ..
    }) = &req.response_format
    {
        let mut js = json!({"schema": schema.to_string(), "name": name});
        if let Some(d) = description {
            js["description"] = json!(d);
        }
        o.insert(
            "outputConfig".into(),
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": js}}}),
        );
    }
    let extra = additional_fields(req, Family::of(model))?;
    if !extra.is_empty() {
        o.insert("additionalModelRequestFields".into(), Value::Object(extra));
    }
    if let Some(Value::Object(meta)) = &req.metadata
        && meta.values().all(Value::is_string)
        && !meta.is_empty()
    {
        o.insert("requestMetadata".into(), Value::Object(meta.clone()));
    }
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_call(id: &str, name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    fn tool_msg(id: &str, text: &str, is_error: bool) -> Message {
        Message {
            tool_call_id: Some(id.into()),
            is_error,
            ..Message::text(Role::Tool, text)
        }
    }

    #[test]
    fn encodes_every_field() {
        let mut assistant = Message::new(
            Role::Assistant,
            vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig1".into()),
                },
                Part::Thinking {
                    text: "unsigned".into(),
                    signature: None,
                },
                Part::Text("Let me look.".into()),
            ],
        );
        assistant.tool_calls = vec![
            tool_call("t1", "look", r#"{"q":"cat"}"#),
            tool_call("t2", "look", ""),
        ];
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::Developer, "no emoji"),
                Message::new(
                    Role::User,
                    vec![
                        Part::Text("what is this?".into()),
                        Part::Image {
                            source: ImageSource::Base64 {
                                media_type: "image/png".into(),
                                data: "AAAA".into(),
                            },
                            detail: Some("low".into()),
                        },
                    ],
                ),
                assistant,
                tool_msg("t1", "a cat", false),
                tool_msg("t2", "boom", true),
                Message::text(Role::User, "thanks"),
            ],
            tools: vec![Tool {
                name: "look".into(),
                description: Some("Look things up".into()),
                parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
                strict: Some(true),
            }],
            tool_choice: Some(ToolChoice::Tool("look".into())),
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_p: Some(0.9),
            top_k: Some(40),
            stop: vec!["END".into()],
            reasoning_budget: Some(2048),
            metadata: Some(json!({"team": "a"})),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "r".into(),
                description: Some("the answer".into()),
                schema: json!({"type": "object"}),
                strict: Some(true),
            }),
            ..Default::default()
        };
        let b = encode_request(&req, "us.anthropic.claude-sonnet-4-v1:0").unwrap();
        assert_eq!(
            b["system"],
            json!([{"text": "be brief"}, {"text": "no emoji"}])
        );
        let m = b["messages"].as_array().unwrap();
        assert_eq!(
            m.len(),
            3,
            "tool results and the next user text merge into one turn: {m:?}"
        );
        assert_eq!(m[0]["role"], "user");
        assert_eq!(
            m[0]["content"][1],
            json!({"image": {"format": "png", "source": {"bytes": "AAAA"}}})
        );
        assert_eq!(m[1]["role"], "assistant");
        assert_eq!(
            m[1]["content"][0],
            json!({"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig1"}}})
        );
        assert_eq!(m[1]["content"][1], json!({"text": "Let me look."}));
        assert_eq!(
            m[1]["content"][2],
            json!({"toolUse": {"toolUseId": "t1", "name": "look", "input": {"q": "cat"}}})
        );
        assert_eq!(m[1]["content"][3]["toolUse"]["input"], json!({}));
        assert_eq!(m[2]["role"], "user");
        assert_eq!(
            m[2]["content"][0],
            json!({"toolResult": {"toolUseId": "t1", "content": [{"text": "a cat"}]}})
        );
        assert_eq!(m[2]["content"][1]["toolResult"]["status"], "error");
        assert_eq!(m[2]["content"][2], json!({"text": "thanks"}));
        assert_eq!(
            b["inferenceConfig"],
            json!({"maxTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]})
        );
        assert_eq!(
            b["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "look", "description": "Look things up", "strict": true,
                "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}}}}}],
                "toolChoice": {"tool": {"name": "look"}}})
        );
        assert_eq!(
            b["outputConfig"],
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema":
                {"schema": "{\"type\":\"object\"}", "name": "r", "description": "the answer"}}}})
        );
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 2048}})
        );
        assert_eq!(b["requestMetadata"], json!({"team": "a"}));
    }

    #[test]
    fn tool_choices_json_mode_and_families() {
        let base = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            tools: vec![Tool {
                name: "f".into(),
                description: None,
                parameters: json!({"type": "object"}),
                strict: None,
            }],
            ..Default::default()
        };
        let choice = |tc: Option<ToolChoice>| {
            let r = ChatRequest {
                tool_choice: tc,
                ..base.clone()
            };
            encode_request(&r, "m").unwrap()["toolConfig"].clone()
        };
        assert_eq!(choice(None)["toolChoice"], Value::Null);
        assert_eq!(
            choice(Some(ToolChoice::Auto))["toolChoice"],
            json!({"auto": {}})
        );
        assert_eq!(
            choice(Some(ToolChoice::Required))["toolChoice"],
            json!({"any": {}})
        );
        assert_eq!(
            choice(Some(ToolChoice::None)),
            Value::Null,
            "no tools offered"
        );
        let r = ChatRequest {
            response_format: Some(ResponseFormat::JsonObject),
            top_k: Some(5),
            ..base.clone()
        };
        let b = encode_request(&r, "amazon.nova-pro-v1:0").unwrap();
        assert_eq!(b["system"], json!([{"text": JSON_OBJECT_INSTRUCTION}]));
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"inferenceConfig": {"topK": 5}})
        );
        let b = encode_request(&r, "mistral.mistral-large-2407-v1:0").unwrap();
        assert_eq!(b["additionalModelRequestFields"], json!({"top_k": 5}));
        let r = ChatRequest {
            reasoning_budget: Some(1024),
            ..base.clone()
        };
        let e = encode_request(&r, "amazon.nova-pro-v1:0").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("reasoning_budget"));
        assert_eq!(
            Family::of("arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude"),
            Family::Anthropic
        );
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let img = |url: &str| ChatRequest {
            messages: vec![Message::new(
                Role::User,
                vec![Part::Image {
                    source: ImageSource::from_url(url),
                    detail: None,
                }],
            )],
            ..Default::default()
        };
        let e = encode_request(&img("https://x/cat.png"), "m").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0]"));
        let e = encode_request(&img("data:image/tiff;base64,AAAA"), "m").unwrap_err();
        assert!(e.message.contains("image/tiff"), "{e}");
        let b = encode_request(&img("s3://bucket/cat.jpg"), "m").unwrap();
        assert_eq!(
            b["messages"][0]["content"][0]["image"]["source"]["s3Location"]["uri"],
            "s3://bucket/cat.jpg"
        );
        let mut bad = Message::new(Role::Assistant, vec![]);
        bad.tool_calls = vec![tool_call("t", "f", "{nope")];
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, "x"), bad],
            ..Default::default()
        };
        assert_eq!(
            encode_request(&r, "m").unwrap_err().param.as_deref(),
            Some("messages[1].tool_calls")
        );
        let only_system = ChatRequest {
            messages: vec![Message::text(Role::System, "x")],
            ..Default::default()
        };
        assert_eq!(
            encode_request(&only_system, "m")
                .unwrap_err()
                .param
                .as_deref(),
            Some("messages")
        );
    }
}
