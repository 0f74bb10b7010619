//! Unified [`ChatRequest`] → Gemini `GenerateContentRequest`: system and
//! developer messages become `systemInstruction`; the conversation becomes
//! `contents` with roles `user`/`model`; images become `inlineData` (inline
//! bytes) or `fileData` (any URL: `gs://`, Files API, public `https://`);
//! tools become `functionDeclarations` with their schemas converted; tool
//! results become `functionResponse` parts, matched to their calls by name
//! and order (Gemini has no call ids); sampling, JSON mode and thinking go
//! into `generationConfig`.

use serde_json::{Map, Value, json};

use super::ids;
use super::schema::to_gemini;
use crate::error::AiError;
use crate::types::*;

/// Thinking budget for each `reasoning_effort` (Gemini 2.5 takes a token budget).
fn effort_budget(effort: &str) -> Option<i64> {
    Some(match effort {
        "none" | "minimal" => 0,
        "low" => 1024,
        "medium" => 8192,
        "high" => 24576,
        _ => return None,
    })
}

/// Encode `req` as a Gemini request body.
pub fn encode_request(req: &ChatRequest) -> Result<Value, AiError> {
    let mut o = Map::new();
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    let mut i = 0;
    while i < req.messages.len() {
        let m = &req.messages[i];
        match m.role {
            Role::System | Role::Developer => {
                let t = m.text_content();
                if !t.is_empty() {
                    system.push(json!({"text": t}));
                }
                i += 1;
            }
            Role::User => {
                contents.push(json!({"role": "user", "parts": user_parts(m, i)?}));
                i += 1;
            }
            Role::Assistant => {
                contents.push(json!({"role": "model", "parts": model_parts(m, i)?}));
                i += 1;
            }
            Role::Tool => {
                // Consecutive tool results answer one model turn: one content,
                // in the order of the calls they answer.
                let start = i;
                while i < req.messages.len() && req.messages[i].role == Role::Tool {
                    i += 1;
                }
                contents.push(json!({"role": "user", "parts": tool_results(req, start, i)?}));
            }
        }
    }
    if !system.is_empty() {
        o.insert("systemInstruction".into(), json!({"parts": system}));
    }
    o.insert("contents".into(), Value::Array(contents));
    if !req.tools.is_empty() {
        let mut decls = Vec::with_capacity(req.tools.len());
        for (ti, t) in req.tools.iter().enumerate() {
            let mut d = json!({"name": t.name});
            if let Some(desc) = &t.description {
                d["description"] = json!(desc);
            }
            let params = to_gemini(&t.parameters, &format!("tools[{ti}].function.parameters"))?;
            // A function without parameters is declared without a schema.
            let empty = params
                .get("properties")
                .and_then(Value::as_object)
                .is_none_or(|p| p.is_empty())
                && params.get("anyOf").is_none();
            if !empty {
                d["parameters"] = params;
            }
            decls.push(d);
        }
        o.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(tc) = &req.tool_choice {
        let cfg = match tc {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
        };
        o.insert("toolConfig".into(), json!({"functionCallingConfig": cfg}));
    }
    let g = generation_config(req)?;
    if !g.is_empty() {
        o.insert("generationConfig".into(), Value::Object(g));
    }
    Ok(Value::Object(o))
}

fn generation_config(req: &ChatRequest) -> Result<Map<String, Value>, AiError> {
    let mut g = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            g.insert(k.into(), v);
        }
    };
    put("temperature", req.temperature.map(Value::from));
    put("topP", req.top_p.map(Value::from));
    put("topK", req.top_k.map(Value::from));
    put("maxOutputTokens", req.max_tokens.map(Value::from));
    put(
        "stopSequences",
        (!req.stop.is_empty()).then(|| json!(req.stop)),
    );
    put("candidateCount", req.n.filter(|n| *n != 1).map(Value::from));
    put("seed", req.seed.map(Value::from));
    put("presencePenalty", req.presence_penalty.map(Value::from));
    put("frequencyPenalty", req.frequency_penalty.map(Value::from));
    match &req.response_format {
        None => {}
        Some(ResponseFormat::Text) => put("responseMimeType", Some(json!("text/plain"))),
        Some(ResponseFormat::JsonObject) => {
            put("responseMimeType", Some(json!("application/json")))
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            put("responseMimeType", Some(json!("application/json")));
            put(
                "responseSchema",
                Some(to_gemini(schema, "response_format.json_schema.schema")?),
            );
        }
    }
    let budget = match (req.reasoning_budget, req.reasoning_effort.as_deref()) {
        (Some(b), _) => Some(i64::from(b)),
        (None, Some(e)) => Some(effort_budget(e).ok_or_else(|| {
            AiError::invalid_param(
                "reasoning_effort",
                format!("reasoning_effort `{e}` is not one of minimal, low, medium, high"),
            )
        })?),
        (None, None) => None,
    };
    if let Some(b) = budget {
        // Thought summaries come back as reasoning when thinking is on.
        put(
            "thinkingConfig",
            Some(json!({"thinkingBudget": b, "includeThoughts": b > 0})),
        );
    }
    Ok(g)
}

fn image_part(source: &ImageSource) -> Value {
    match source {
        ImageSource::Base64 { media_type, data } => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        ImageSource::Url(url) => {
            let mut fd = json!({"fileUri": url});
            if let Some(mt) = mime_of_url(url) {
                fd["mimeType"] = json!(mt);
            }
            json!({"fileData": fd})
        }
    }
}

/// The image type a URL's extension names, if any.
fn mime_of_url(url: &str) -> Option<&'static str> {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn user_parts(m: &Message, _i: usize) -> Result<Vec<Value>, AiError> {
    let mut parts = Vec::new();
    for p in &m.content {
        match p {
            Part::Text(t) => parts.push(json!({"text": t})),
            Part::Image { source, .. } => parts.push(image_part(source)),
            Part::Thinking { .. } => {}
        }
    }
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    Ok(parts)
}

fn model_parts(m: &Message, i: usize) -> Result<Vec<Value>, AiError> {
    let mut parts = Vec::new();
    for p in &m.content {
        match p {
            // Thoughts only mean something to Gemini with their signature.
            Part::Thinking {
                text,
                signature: Some(sig),
            } => parts.push(json!({"text": text, "thought": true, "thoughtSignature": sig})),
            Part::Thinking { .. } => {}
            Part::Text(t) if !t.is_empty() => parts.push(json!({"text": t})),
            Part::Text(_) => {}
            Part::Image { source, .. } => parts.push(image_part(source)),
        }
    }
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
                        "tool call arguments must be a JSON object for Gemini",
                    )
                })?
        };
        let mut part = json!({"functionCall": {"name": c.name, "args": args}});
        if let Some(sig) = ids::signature_of(&c.id) {
            part["thoughtSignature"] = json!(sig);
        }
        parts.push(part);
    }
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    Ok(parts)
}

/// `functionResponse` parts for the tool messages `start..end`, ordered
/// like the calls of the model turn before them.
fn tool_results(req: &ChatRequest, start: usize, end: usize) -> Result<Vec<Value>, AiError> {
    let calls: &[ToolCall] = req.messages[..start]
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
        .map_or(&[], |m| m.tool_calls.as_slice());
    let mut out: Vec<(usize, Value)> = Vec::new();
    for (k, m) in req.messages[start..end].iter().enumerate() {
        let i = start + k;
        let id = m.tool_call_id.as_deref().unwrap_or("");
        let pos = calls.iter().position(|c| c.id == id);
        let name = pos
            .map(|p| calls[p].name.clone())
            .or_else(|| {
                // A call from an earlier turn, or a caller that names the tool.
                req.messages[..start]
                    .iter()
                    .flat_map(|m| m.tool_calls.iter())
                    .find(|c| c.id == id)
                    .map(|c| c.name.clone())
            })
            .or_else(|| m.name.clone())
            .ok_or_else(|| {
                AiError::invalid_param(
                    format!("messages[{i}].tool_call_id"),
                    format!("no earlier assistant tool call has the id `{id}`; Gemini needs the function name of each tool result"),
                )
            })?;
        let text = m.text_content();
        let value = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        let response = if m.is_error {
            json!({"error": value})
        } else {
            json!({"output": value})
        };
        out.push((
            pos.unwrap_or(usize::MAX),
            json!({"functionResponse": {"name": name, "response": response}}),
        ));
    }
    out.sort_by_key(|(p, _)| *p);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(parts: Vec<Part>) -> Message {
        Message::new(Role::User, parts)
    }

    #[test]
    fn encodes_every_field() {
        let mut assistant = Message::new(
            Role::Assistant,
            vec![
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("c2ln".into()),
                },
                Part::Text("Let me look.".into()),
            ],
        );
        assistant.tool_calls = vec![
            ToolCall {
                id: "call_a".into(),
                name: "look".into(),
                arguments: "{\"x\":1}".into(),
            },
            ToolCall {
                id: ids::with_signature("call_b", "QUJD+/=="),
                name: "find".into(),
                arguments: String::new(),
            },
        ];
        let mut r1 = Message::text(Role::Tool, "{\"found\":true}");
        r1.tool_call_id = Some(assistant.tool_calls[1].id.clone());
        let mut r0 = Message::text(Role::Tool, "a cat");
        r0.tool_call_id = Some("call_a".into());
        r0.is_error = true;
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::text(Role::System, "be brief"),
                Message::text(Role::Developer, "and kind"),
                user(vec![
                    Part::Text("what is this?".into()),
                    Part::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "AAAA".into(),
                        },
                        detail: None,
                    },
                    Part::Image {
                        source: ImageSource::Url("gs://b/cat.JPG".into()),
                        detail: None,
                    },
                    Part::Image {
                        source: ImageSource::Url("https://x/y".into()),
                        detail: None,
                    },
                ]),
                assistant,
                r1,
                r0,
            ],
            tools: vec![Tool {
                name: "look".into(),
                description: Some("d".into()),
                parameters: json!({"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": false}),
                strict: Some(true),
            }],
            tool_choice: Some(ToolChoice::Tool("look".into())),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "r".into(),
                description: None,
                schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                strict: None,
            }),
            n: Some(2),
            stop: vec!["END".into()],
            seed: Some(7),
            temperature: Some(0.5),
            top_p: Some(0.9),
            top_k: Some(40),
            max_tokens: Some(100),
            presence_penalty: Some(0.1),
            frequency_penalty: Some(0.2),
            reasoning_effort: Some("low".into()),
            ..Default::default()
        };
        let b = encode_request(&req).unwrap();
        assert_eq!(
            b["systemInstruction"],
            json!({"parts": [{"text": "be brief"}, {"text": "and kind"}]})
        );
        let c = &b["contents"];
        assert_eq!(c[0]["role"], "user");
        assert_eq!(
            c[0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}})
        );
        assert_eq!(
            c[0]["parts"][2],
            json!({"fileData": {"fileUri": "gs://b/cat.JPG", "mimeType": "image/jpeg"}})
        );
        assert_eq!(
            c[0]["parts"][3],
            json!({"fileData": {"fileUri": "https://x/y"}})
        );
        assert_eq!(c[1]["role"], "model");
        assert_eq!(
            c[1]["parts"][0],
            json!({"text": "hmm", "thought": true, "thoughtSignature": "c2ln"})
        );
        assert_eq!(
            c[1]["parts"][2],
            json!({"functionCall": {"name": "look", "args": {"x": 1}}})
        );
        assert_eq!(
            c[1]["parts"][3],
            json!({"functionCall": {"name": "find", "args": {}}, "thoughtSignature": "QUJD+/=="})
        );
        // Results in call order, by name, errors as `error`.
        assert_eq!(c[2]["role"], "user");
        assert_eq!(
            c[2]["parts"],
            json!([
                {"functionResponse": {"name": "look", "response": {"error": "a cat"}}},
                {"functionResponse": {"name": "find", "response": {"output": {"found": true}}}}
            ])
        );
        assert_eq!(
            b["tools"][0]["functionDeclarations"][0],
            json!({"name": "look", "description": "d", "parameters": {"type": "OBJECT", "properties": {"x": {"type": "INTEGER"}}}})
        );
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["look"]}})
        );
        let g = &b["generationConfig"];
        assert_eq!(g["temperature"], 0.5);
        assert_eq!(g["topP"], 0.9);
        assert_eq!(g["topK"], 40);
        assert_eq!(g["maxOutputTokens"], 100);
        assert_eq!(g["stopSequences"], json!(["END"]));
        assert_eq!(g["candidateCount"], 2);
        assert_eq!(g["seed"], 7);
        assert_eq!(g["presencePenalty"], 0.1);
        assert_eq!(g["frequencyPenalty"], 0.2);
        assert_eq!(g["responseMimeType"], "application/json");
        assert_eq!(g["responseSchema"]["properties"]["a"]["type"], "STRING");
        assert_eq!(
            g["thinkingConfig"],
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        );
    }

    #[test]
    fn choices_budgets_and_bad_input() {
        let base = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..Default::default()
        };
        for (tc, want) in [
            (ToolChoice::Auto, json!({"mode": "AUTO"})),
            (ToolChoice::None, json!({"mode": "NONE"})),
            (ToolChoice::Required, json!({"mode": "ANY"})),
        ] {
            let r = ChatRequest {
                tool_choice: Some(tc),
                ..base.clone()
            };
            assert_eq!(
                encode_request(&r).unwrap()["toolConfig"]["functionCallingConfig"],
                want
            );
        }
        let r = ChatRequest {
            reasoning_budget: Some(0),
            response_format: Some(ResponseFormat::JsonObject),
            ..base.clone()
        };
        let b = encode_request(&r).unwrap();
        assert_eq!(
            b["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 0, "includeThoughts": false})
        );
        assert_eq!(
            b["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert!(b.get("systemInstruction").is_none());
        let r = ChatRequest {
            reasoning_effort: Some("extreme".into()),
            ..base.clone()
        };
        assert_eq!(
            encode_request(&r).unwrap_err().param.as_deref(),
            Some("reasoning_effort")
        );
        // A tool result whose call is unknown cannot be named.
        let mut orphan = Message::text(Role::Tool, "x");
        orphan.tool_call_id = Some("nope".into());
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, "hi"), orphan],
            ..base.clone()
        };
        assert_eq!(
            encode_request(&r).unwrap_err().param.as_deref(),
            Some("messages[1].tool_call_id")
        );
        let mut bad = Message::new(Role::Assistant, vec![]);
        bad.tool_calls = vec![ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: "[1]".into(),
        }];
        let r = ChatRequest {
            messages: vec![bad],
            ..base
        };
        assert!(
            encode_request(&r)
                .unwrap_err()
                .param
                .unwrap()
                .contains("arguments")
        );
    }
}
