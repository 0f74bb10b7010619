//! Tests of the Messages request codec (`request.rs` and `encode.rs`): every documented field decoded,
//! encoding from unified requests of any origin, and round trips.

use super::*;
use crate::providers::anthropic::encode::*;
use crate::providers::anthropic::wire::JSON_TOOL;
use serde_json::json;

fn decode(v: Value) -> ChatRequest {
    decode_request(v.to_string().as_bytes(), false).unwrap()
}

#[test]
fn decodes_every_documented_field_and_encodes_it_back() {
    let body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "be kind"}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/cat.jpg"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "a cat?", "signature": "sig-1"},
                {"type": "redacted_thinking", "data": "ENC"},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"x": 1}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}], "is_error": true},
                {"type": "text", "text": "and?"}
            ]}
        ],
        "tools": [{"name": "look", "description": "d", "input_schema": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "tool", "name": "look", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"], "temperature": 0.5, "top_p": 0.9, "top_k": 40,
        "metadata": {"user_id": "u1"}, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}}},
        "service_tier": "auto"
    });
    let r = decode(body.clone());
    assert_eq!(r.model, "claude-sonnet-4-5");
    assert_eq!(r.max_tokens, Some(1024));
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::User
        ]
    );
    assert!(
        matches!(&r.messages[2].content[1], Part::Image { source: ImageSource::Base64 { media_type, .. }, .. } if media_type == "image/png")
    );
    assert!(
        matches!(&r.messages[2].content[2], Part::Image { source: ImageSource::Url(u), .. } if u == "https://x/cat.jpg")
    );
    let a = &r.messages[3];
    assert_eq!(
        a.content[0],
        Part::Thinking {
            text: "a cat?".into(),
            signature: Some("sig-1".into())
        }
    );
    assert_eq!(
        a.content[1],
        Part::Thinking {
            text: String::new(),
            signature: Some(format!("{REDACTED}ENC"))
        }
    );
    assert_eq!(a.tool_calls[0].arguments, r#"{"x":1}"#);
    assert_eq!(r.messages[4].tool_call_id.as_deref(), Some("toolu_1"));
    assert!(r.messages[4].is_error);
    assert_eq!(r.tools[0].strict, Some(true));
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool("look".into())));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(r.stop, ["END"]);
    assert_eq!(
        (r.temperature, r.top_p, r.top_k),
        (Some(0.5), Some(0.9), Some(40))
    );
    assert_eq!(r.user.as_deref(), Some("u1"));
    assert!(r.stream);
    assert_eq!(r.reasoning_budget, Some(2000));
    assert!(matches!(
        r.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));

    // Back: the same request, as the provider sends it.
    let out = encode_request(&r, "claude-sonnet-4-5-20250929").unwrap();
    assert_eq!(out["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(
        out["system"],
        json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "be kind"}])
    );
    assert_eq!(
        out["messages"][0]["content"],
        body["messages"][0]["content"]
    );
    assert_eq!(
        out["messages"][1]["content"],
        body["messages"][1]["content"]
    );
    let mut short = body["messages"][2]["content"].clone();
    short[0]["content"] = json!("a cat");
    assert_eq!(
        out["messages"][2]["content"], short,
        "one text block is sent as a string"
    );
    for k in [
        "tools",
        "tool_choice",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "stream",
        "output_config",
    ] {
        assert_eq!(out[k], body[k], "{k}");
    }
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 2000})
    );
    let again = decode(out);
    assert_eq!(again.messages, r.messages);
    assert_eq!(again.tools, r.tools);
}

#[test]
fn encodes_openai_style_requests_for_anthropic() {
    let mut tool = Message::text(Role::Tool, "sunny");
    tool.tool_call_id = Some("call_1".into());
    let mut asst = Message::new(
        Role::Assistant,
        vec![Part::Thinking {
            text: "unsigned".into(),
            signature: None,
        }],
    );
    asst.tool_calls = vec![ToolCall {
        id: "call_1".into(),
        name: "weather".into(),
        arguments: String::new(),
    }];
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::System, "sys"),
            Message::text(Role::User, "a"),
            Message::text(Role::User, "b"),
            Message::text(Role::Developer, "dev"),
            asst,
            tool,
            Message::new(
                Role::User,
                vec![
                    Part::Text(String::new()),
                    Part::Image {
                        source: ImageSource::from_url("data:image/jpeg;base64,QUJD"),
                        detail: Some("low".into()),
                    },
                ],
            ),
        ],
        tools: vec![Tool {
            name: "weather".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
        }],
        parallel_tool_calls: Some(false),
        user: Some("end-user".into()),
        reasoning_effort: Some("medium".into()),
        max_tokens: Some(4000),
        ..Default::default()
    };
    let out = encode_request(&req, "claude").unwrap();
    assert_eq!(
        out["system"],
        json!([{"type": "text", "text": "sys"}, {"type": "text", "text": "dev"}])
    );
    let msgs = out["messages"].as_array().unwrap();
    assert_eq!(
        msgs.len(),
        3,
        "user turns merged, tool result joins the user turn: {msgs:?}"
    );
    assert_eq!(
        msgs[0]["content"],
        json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    );
    assert_eq!(
        msgs[1]["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "weather", "input": {}}]),
        "unsigned thinking is left out"
    );
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"})
    );
    assert_eq!(
        msgs[2]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/jpeg", "data": "QUJD"})
    );
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(out["metadata"]["user_id"], "end-user");
    assert_eq!(
        out["thinking"]["budget_tokens"], 3999,
        "medium (8192) kept below max_tokens"
    );
    // Without max_tokens: the default.
    let bare = ChatRequest {
        messages: vec![Message::text(Role::User, "x")],
        ..Default::default()
    };
    let out = encode_request(&bare, "m").unwrap();
    assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(out["messages"], json!([{"role": "user", "content": "x"}]));
    assert!(out.get("tool_choice").is_none() && out.get("system").is_none());
}

#[test]
fn tool_choices_and_json_modes() {
    let tool = Tool {
        name: "f".into(),
        description: Some("d".into()),
        parameters: json!({"type": "object"}),
        strict: Some(true),
    };
    let base = ChatRequest {
        messages: vec![Message::text(Role::User, "x")],
        tools: vec![tool],
        ..Default::default()
    };
    for (choice, want) in [
        (ToolChoice::Auto, json!({"type": "auto"})),
        (ToolChoice::Required, json!({"type": "any"})),
        (ToolChoice::None, json!({"type": "none"})),
        (
            ToolChoice::Tool("f".into()),
            json!({"type": "tool", "name": "f"}),
        ),
    ] {
        let r = ChatRequest {
            tool_choice: Some(choice),
            ..base.clone()
        };
        assert_eq!(encode_request(&r, "m").unwrap()["tool_choice"], want);
    }
    assert_eq!(
        encode_request(&base, "m").unwrap()["tools"][0],
        json!({"name": "f", "description": "d", "input_schema": {"type": "object"}, "strict": true})
    );
    // json_object alone: the forced JSON tool, one call.
    let json_only = ChatRequest {
        messages: base.messages.clone(),
        response_format: Some(ResponseFormat::JsonObject),
        ..Default::default()
    };
    let out = encode_request(&json_only, "m").unwrap();
    assert_eq!(out["tools"][0]["name"], JSON_TOOL);
    assert_eq!(
        out["tool_choice"],
        json!({"type": "tool", "name": JSON_TOOL, "disable_parallel_tool_use": true})
    );
    // With the caller's tools: some tool must be used (one of theirs, or the answer).
    let both = ChatRequest {
        response_format: Some(ResponseFormat::JsonObject),
        ..base.clone()
    };
    let out = encode_request(&both, "m").unwrap();
    assert_eq!(out["tools"].as_array().unwrap().len(), 2);
    assert_eq!(out["tool_choice"], json!({"type": "any"}));
    // json_schema: native structured output.
    let schema = ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "r".into(),
            description: None,
            schema: json!({"type": "object", "properties": {}}),
            strict: Some(true),
        }),
        ..json_only.clone()
    };
    let out = encode_request(&schema, "m").unwrap();
    assert_eq!(out["output_config"]["format"]["type"], "json_schema");
    assert!(out.get("tools").is_none());
    // The reserved name is refused for callers' tools in JSON mode.
    let clash = ChatRequest {
        tools: vec![Tool {
            name: JSON_TOOL.into(),
            description: None,
            parameters: json!({}),
            strict: None,
        }],
        ..json_only
    };
    assert_eq!(
        encode_request(&clash, "m").unwrap_err().param.as_deref(),
        Some("tools")
    );
}

#[test]
fn reasoning_budgets_and_count_tokens_body() {
    let r = |effort: &str, max: u32| ChatRequest {
        messages: vec![Message::text(Role::User, "x")],
        reasoning_effort: Some(effort.into()),
        max_tokens: Some(max),
        ..Default::default()
    };
    let budget = |effort: &str, max: u32| {
        encode_request(&r(effort, max), "m").unwrap()["thinking"]["budget_tokens"].as_u64()
    };
    assert_eq!(budget("minimal", 20_000), Some(1024));
    assert_eq!(budget("low", 20_000), Some(2048));
    assert_eq!(budget("medium", 20_000), Some(8192));
    assert_eq!(budget("high", 20_000), Some(16_384));
    assert_eq!(budget("high", 5000), Some(4999));
    assert_eq!(budget("none", 5000), None);
    let e = encode_request(&r("low", 1000), "m").unwrap_err();
    assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
    let explicit = ChatRequest {
        reasoning_budget: Some(3000),
        ..r("low", 9000)
    };
    assert_eq!(
        encode_request(&explicit, "m").unwrap()["thinking"]["budget_tokens"],
        3000
    );
    let mut req = r("low", 9000);
    req.temperature = Some(1.0);
    req.stream = true;
    req.stop = vec!["x".into()];
    let c = encode_count_tokens(&req, "m").unwrap();
    for k in ["max_tokens", "temperature", "stream", "stop_sequences"] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert!(c.get("thinking").is_some() && c.get("messages").is_some());
}

#[test]
fn bad_requests_name_the_field() {
    let ok =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (json!({"max_tokens": 1, "messages": []}), "model"),
        (json!({"model": "m", "messages": []}), "max_tokens"),
        (json!({"model": "m", "max_tokens": 1}), "messages"),
        (
            with("messages", json!([{"role": "system", "content": "x"}])),
            "messages[0].role",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "document", "source": {}}]}]),
            ),
            "messages[0].content[0].type",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]),
            ),
            "messages[0].content[0]",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {}}]}]),
            ),
            "messages[0].content[0]",
        ),
        (
            with("messages", json!([{"role": "user", "content": 5}])),
            "messages[0].content",
        ),
        (
            with(
                "system",
                json!([{"type": "image", "source": {"type": "url", "url": "u"}}]),
            ),
            "system[0].type",
        ),
        (
            with(
                "tools",
                json!([{"type": "web_search_20250305", "name": "web_search"}]),
            ),
            "tools[0].type",
        ),
        (
            with("tools", json!([{"name": "f"}])),
            "tools[0].input_schema",
        ),
        (
            with("tool_choice", json!({"type": "sometimes"})),
            "tool_choice",
        ),
        (
            with("thinking", json!({"type": "enabled"})),
            "thinking.budget_tokens",
        ),
        (
            with("output_config", json!({"format": {"type": "yaml"}})),
            "output_config.format.type",
        ),
        (with("container", json!("c1")), "container"),
    ];
    for (body, param) in cases {
        let e = decode_request(body.to_string().as_bytes(), false).unwrap_err();
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {e}");
        assert_eq!(e.status, 400);
    }
    // Any object: JSON mode.
    let body = with(
        "output_config",
        json!({"format": {"type": "json_schema", "schema": {"type": "object"}}}),
    );
    assert_eq!(
        decode(body).response_format,
        Some(ResponseFormat::JsonObject)
    );
    // count_tokens needs no max_tokens; adaptive thinking is a medium effort.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "thinking": {"type": "adaptive"}});
    let r = decode_request(body.to_string().as_bytes(), true).unwrap();
    assert_eq!(r.reasoning_effort.as_deref(), Some("medium"));
    assert!(
        decode_request(b"{nope", false)
            .unwrap_err()
            .message
            .contains("not a valid Messages request")
    );
}
