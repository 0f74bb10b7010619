//! OpenAI Chat Completions requests ⇄ unified [`ChatRequest`]: decoding what
//! callers send to `/v1/chat/completions`, encoding what OpenAI-style
//! providers receive.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::AiError;
use crate::types::*;

#[derive(Deserialize)]
struct WireRequest {
    model: Option<String>,
    messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    tools: Option<Vec<WireTool>>,
    #[serde(default)]
    functions: Option<Vec<WireFunction>>,
    tool_choice: Option<Value>,
    function_call: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    stream: Option<bool>,
    stream_options: Option<WireStreamOptions>,
    n: Option<u32>,
    stop: Option<Value>,
    seed: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    logprobs: Option<bool>,
    top_logprobs: Option<u32>,
    reasoning_effort: Option<String>,
    user: Option<String>,
    metadata: Option<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct WireStreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
    name: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_call_id: Option<String>,
    function_call: Option<WireFunctionCall>,
    /// DeepSeek / OpenRouter style reasoning on assistant turns.
    reasoning_content: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: WireFunctionCall,
}

#[derive(Deserialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
    strict: Option<bool>,
}

/// Decode a `/v1/chat/completions` request body.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, AiError> {
    let w: WireRequest = serde_json::from_slice(body).map_err(|e| {
        AiError::invalid(format!(
            "the request body is not a valid chat completion request: {e}"
        ))
    })?;
    let model = w
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| AiError::invalid_param("model", "`model` is required"))?;
    let wire_messages = w
        .messages
        .ok_or_else(|| AiError::invalid_param("messages", "`messages` is required"))?;
    if wire_messages.is_empty() {
        return Err(AiError::invalid_param(
            "messages",
            "`messages` must not be empty",
        ));
    }
    let mut messages = Vec::with_capacity(wire_messages.len());
    for (i, m) in wire_messages.into_iter().enumerate() {
        messages.push(decode_message(m, i)?);
    }
    let mut tools = Vec::new();
    for (i, t) in w.tools.unwrap_or_default().into_iter().enumerate() {
        if t.kind.as_deref().is_some_and(|k| k != "function") {
            return Err(AiError::invalid_param(
                format!("tools[{i}].type"),
                format!(
                    "tool type `{}` is not supported; use `function`",
                    t.kind.unwrap_or_default()
                ),
            ));
        }
        let f = t.function.ok_or_else(|| {
            AiError::invalid_param(format!("tools[{i}].function"), "`function` is required")
        })?;
        tools.push(tool_of(f));
    }
    for f in w.functions.unwrap_or_default() {
        tools.push(tool_of(f));
    }
    let tool_choice = match w.tool_choice.or(w.function_call) {
        None | Some(Value::Null) => None,
        Some(v) => Some(decode_tool_choice(&v)?),
    };
    let response_format = match w.response_format {
        None | Some(Value::Null) => None,
        Some(v) => Some(decode_response_format(&v)?),
    };
    let stop = match w.stop {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|s| match s {
                Value::String(s) => Ok(s),
                _ => Err(AiError::invalid_param(
                    "stop",
                    "`stop` must be a string or a list of strings",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(AiError::invalid_param(
                "stop",
                "`stop` must be a string or a list of strings",
            ));
        }
    };
    let stream = w.stream.unwrap_or(false);
    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: w.parallel_tool_calls,
        response_format,
        stream,
        include_usage: stream && w.stream_options.is_some_and(|o| o.include_usage),
        n: w.n,
        stop,
        seed: w.seed,
        temperature: w.temperature,
        top_p: w.top_p,
        top_k: w.top_k,
        max_tokens: w.max_completion_tokens.or(w.max_tokens),
        presence_penalty: w.presence_penalty,
        frequency_penalty: w.frequency_penalty,
        logprobs: w.logprobs,
        top_logprobs: w.top_logprobs,
        reasoning_effort: w.reasoning_effort,
        reasoning_budget: None,
        user: w.user,
        metadata: w.metadata,
        extra: w.extra,
    })
}

fn tool_of(f: WireFunction) -> Tool {
    Tool {
        name: f.name,
        description: f.description,
        parameters: f
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        strict: f.strict,
    }
}

fn decode_message(m: WireMessage, i: usize) -> Result<Message, AiError> {
    let role = match m.role.as_str() {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        other => {
            return Err(AiError::invalid_param(
                format!("messages[{i}].role"),
                format!("unknown role `{other}`"),
            ));
        }
    };
    let mut content = decode_content(m.content, i)?;
    if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
        content.insert(
            0,
            Part::Thinking {
                text: r,
                signature: None,
            },
        );
    }
    let mut tool_calls = Vec::new();
    for (j, tc) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
        tool_calls.push(ToolCall {
            id: tc.id.unwrap_or_else(|| format!("call_{i}_{j}")),
            name: tc.function.name,
            arguments: arguments_text(tc.function.arguments),
        });
    }
    if let Some(fc) = m.function_call {
        tool_calls.push(ToolCall {
            id: format!("call_{i}"),
            name: fc.name,
            arguments: arguments_text(fc.arguments),
        });
    }
    let tool_call_id = match (role, m.tool_call_id) {
        (Role::Tool, None) if m.role == "function" => m.name.clone(),
        (Role::Tool, None) => {
            return Err(AiError::invalid_param(
                format!("messages[{i}].tool_call_id"),
                "tool messages need `tool_call_id`",
            ));
        }
        (_, id) => id,
    };
    Ok(Message {
        role,
        content,
        name: m.name,
        tool_calls,
        tool_call_id,
        is_error: false,
    })
}

fn arguments_text(v: Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => "{}".into(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

fn decode_content(v: Option<Value>, i: usize) -> Result<Vec<Part>, AiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::Text(s)]),
        Some(Value::Array(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| decode_part(p, i, j))
            .collect(),
        Some(_) => Err(AiError::invalid_param(
            format!("messages[{i}].content"),
            "content must be a string or a list of parts",
        )),
    }
}

fn decode_part(p: Value, i: usize, j: usize) -> Result<Part, AiError> {
    let path = format!("messages[{i}].content[{j}]");
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" | "input_text" | "output_text" => p
            .get("text")
            .and_then(Value::as_str)
            .map(|t| Part::Text(t.to_string()))
            .ok_or_else(|| {
                AiError::invalid_param(format!("{path}.text"), "text parts need `text`")
            }),
        "image_url" => {
            let (url, detail) = match p.get("image_url") {
                Some(Value::String(u)) => (Some(u.as_str()), None),
                Some(o) => (
                    o.get("url").and_then(Value::as_str),
                    o.get("detail").and_then(Value::as_str),
                ),
                None => (None, None),
            };
            let url = url.ok_or_else(|| {
                AiError::invalid_param(
                    format!("{path}.image_url.url"),
                    "image parts need `image_url.url`",
                )
            })?;
            Ok(Part::Image {
                source: ImageSource::from_url(url),
                detail: detail.map(str::to_string),
            })
        }
        other => Err(AiError::invalid_param(
            format!("{path}.type"),
            format!("content part type `{other}` is not supported; use `text` or `image_url`"),
        )),
    }
}

fn decode_tool_choice(v: &Value) -> Result<ToolChoice, AiError> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            other => Err(AiError::invalid_param(
                "tool_choice",
                format!("unknown tool_choice `{other}`"),
            )),
        },
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| o.get("name"))
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tool(n.to_string()))
            .ok_or_else(|| {
                AiError::invalid_param("tool_choice", "tool_choice needs `function.name`")
            }),
        _ => Err(AiError::invalid_param(
            "tool_choice",
            "tool_choice must be a string or an object",
        )),
    }
}

fn decode_response_format(v: &Value) -> Result<ResponseFormat, AiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let js = v.get("json_schema").ok_or_else(|| {
                AiError::invalid_param("response_format.json_schema", "`json_schema` is required")
            })?;
            Ok(ResponseFormat::JsonSchema {
                name: js
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("response")
                    .to_string(),
                description: js
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                schema: js.get("schema").cloned().unwrap_or_else(|| json!({})),
                strict: js.get("strict").and_then(Value::as_bool),
            })
        }
        _ => Err(AiError::invalid_param(
            "response_format.type",
            "response_format.type must be `text`, `json_object` or `json_schema`",
        )),
    }
}

/// How an OpenAI-style provider wants a few fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncodeOptions {
    /// Send the token limit as `max_completion_tokens` (OpenAI) instead of `max_tokens`.
    pub max_completion_tokens: bool,
    /// Pass `extra` (unknown parameters) through.
    pub pass_extra: bool,
    /// Send `developer` messages as `system` (servers that do not know the role).
    pub developer_as_system: bool,
    /// Leave out messages' `name` (servers that reject the field).
    pub drop_names: bool,
}

/// Encode a unified request as an OpenAI Chat Completions body.
pub fn encode_request(req: &ChatRequest, model: &str, opts: EncodeOptions) -> Value {
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| encode_message(m, opts))
        .collect();
    o.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                if let Some(s) = t.strict {
                    f["strict"] = json!(s);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        o.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tc) = &req.tool_choice {
        o.insert("tool_choice".into(), encode_tool_choice(tc));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    put(
        "parallel_tool_calls",
        req.parallel_tool_calls.map(Value::from),
    );
    put(
        "response_format",
        req.response_format.as_ref().map(encode_response_format),
    );
    if req.stream {
        put("stream", Some(json!(true)));
        // Always ask for usage: Pylon accounts tokens even when the caller did not ask.
        put("stream_options", Some(json!({"include_usage": true})));
    }
    put("n", req.n.map(Value::from));
    put("stop", (!req.stop.is_empty()).then(|| json!(req.stop)));
    put("seed", req.seed.map(Value::from));
    put("temperature", req.temperature.map(Value::from));
    put("top_p", req.top_p.map(Value::from));
    let limit_key = if opts.max_completion_tokens {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    put(limit_key, req.max_tokens.map(Value::from));
    put("presence_penalty", req.presence_penalty.map(Value::from));
    put("frequency_penalty", req.frequency_penalty.map(Value::from));
    put("logprobs", req.logprobs.map(Value::from));
    put("top_logprobs", req.top_logprobs.map(Value::from));
    put(
        "reasoning_effort",
        req.reasoning_effort.clone().map(Value::from),
    );
    put("user", req.user.clone().map(Value::from));
    put("metadata", req.metadata.clone());
    if opts.pass_extra {
        for (k, v) in &req.extra {
            o.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(o)
}

fn encode_message(m: &Message, opts: EncodeOptions) -> Value {
    let role = match m.role {
        Role::Developer if opts.developer_as_system => "system",
        r => r.as_str(),
    };
    let mut o = Map::new();
    o.insert("role".into(), json!(role));
    let visible: Vec<&Part> = m
        .content
        .iter()
        .filter(|p| !matches!(p, Part::Thinking { .. }))
        .collect();
    let only_text = visible.iter().all(|p| matches!(p, Part::Text(_)));
    let content = if visible.is_empty() {
        if m.role == Role::Assistant && !m.tool_calls.is_empty() {
            Value::Null
        } else {
            json!("")
        }
    } else if only_text && (visible.len() == 1 || m.role != Role::User) {
        json!(m.text_content())
    } else {
        Value::Array(
            visible
                .iter()
                .map(|p| match p {
                    Part::Text(t) => json!({"type": "text", "text": t}),
                    Part::Image { source, detail } => {
                        let mut img = json!({"url": source.to_url()});
                        if let Some(d) = detail {
                            img["detail"] = json!(d);
                        }
                        json!({"type": "image_url", "image_url": img})
                    }
                    Part::Thinking { .. } => Value::Null,
                })
                .collect(),
        )
    };
    o.insert("content".into(), content);
    if let Some(n) = m.name.as_ref().filter(|_| !opts.drop_names) {
        o.insert("name".into(), json!(n));
    }
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        o.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &m.tool_call_id {
        o.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(o)
}

fn encode_tool_choice(tc: &ToolChoice) -> Value {
    match tc {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
    }
}

fn encode_response_format(rf: &ResponseFormat) -> Value {
    match rf {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => {
            let mut js = json!({"name": name, "schema": schema});
            if let Some(d) = description {
                js["description"] = json!(d);
            }
            if let Some(s) = strict {
                js["strict"] = json!(s);
            }
            json!({"type": "json_schema", "json_schema": js})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_documented_field() {
        let body = json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
            ],
            "tools": [{"type": "function", "function": {"name": "look", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": true}},
            "stream": true, "stream_options": {"include_usage": true},
            "n": 2, "stop": "END", "seed": 7, "temperature": 0.5, "top_p": 0.9,
            "max_completion_tokens": 100, "max_tokens": 5,
            "logprobs": true, "top_logprobs": 3, "reasoning_effort": "low", "user": "u1",
            "service_tier": "flex"
        });
        let r = decode_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.messages.len(), 4);
        assert_eq!(r.messages[0].role, Role::Developer);
        assert!(
            matches!(&r.messages[1].content[1], Part::Image { source: ImageSource::Base64 { media_type, .. }, detail: Some(d) } if media_type == "image/png" && d == "low")
        );
        assert_eq!(r.messages[2].tool_calls[0].arguments, "{\"x\":1}");
        assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(r.tools[0].strict, Some(true));
        assert_eq!(r.tool_choice, Some(ToolChoice::Tool("look".into())));
        assert!(matches!(
            r.response_format,
            Some(ResponseFormat::JsonSchema {
                strict: Some(true),
                ..
            })
        ));
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_tokens, Some(100), "max_completion_tokens wins");
        assert_eq!(r.stop, vec!["END"]);
        assert_eq!(r.extra.get("service_tier"), Some(&json!("flex")));
        // And back: what an OpenAI provider receives.
        let out = encode_request(
            &r,
            "gpt-4o-2024",
            EncodeOptions {
                max_completion_tokens: true,
                pass_extra: true,
                developer_as_system: false,
                drop_names: false,
            },
        );
        assert_eq!(out["model"], "gpt-4o-2024");
        assert_eq!(out["max_completion_tokens"], 100);
        assert_eq!(
            out["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
        assert_eq!(out["messages"][2]["content"], Value::Null);
        assert_eq!(out["tool_choice"]["function"]["name"], "look");
        assert_eq!(out["service_tier"], "flex");
        assert_eq!(out["stream_options"]["include_usage"], true);
        let again = decode_request(out.to_string().as_bytes()).unwrap();
        assert_eq!(again.messages, r.messages);
        assert_eq!(again.tools, r.tools);
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": "x"}]}),
                "model",
            ),
            (json!({"model": "m"}), "messages"),
            (json!({"model": "m", "messages": []}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": 3}),
                "stop",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}),
                "response_format.type",
            ),
        ];
        for (body, param) in cases {
            let e = decode_request(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {e}");
            assert_eq!(e.status, 400);
        }
        let e = decode_request(b"{not json").unwrap_err();
        assert!(e.message.contains("not a valid chat completion request"));
    }
}
