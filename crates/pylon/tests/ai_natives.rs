//! The native provider adapters (Gemini, Mistral, Cohere v2, Ollama)
//! through the real binary against their wire-format mocks: URL shapes and
//! auth headers, whole and streamed chat, tool results sent back in each
//! provider's form, embeddings, and faults (a 429's `retry-after` kept, a
//! 5xx falling back to another model, a stream cut midway ending in an
//! error event, a refused key).

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::*;
use common_http::*;
use pylon_testkit::ai::cohere::CohereWire;
use pylon_testkit::ai::gemini::GeminiWire;
use pylon_testkit::ai::mistral::MistralWire;
use pylon_testkit::ai::ollama::OllamaWire;
use pylon_testkit::ai::{Fault, MockNative};
use pylon_testkit::{FullResponse, PylonProcess};
use serde_json::{Value, json};

/// Pylon with provider `p` (deployed as `main`, falling back to the offline
/// mock on server errors, and as `embed`), and a provider `bad` with a wrong key.
async fn pylon_for(p: Value, chat_model: &str, embed_model: &str) -> (PylonProcess, Ports) {
    let mut bad = p.clone();
    bad["name"] = json!("bad");
    bad["keys"] = json!(["wrong-key-123456"]);
    let (chat_model, embed_model) = (chat_model.to_string(), embed_model.to_string());
    start_pylon(move |ports| {
        ai_config(ports, json!({
            "providers": [p.clone(), bad.clone(), {"name": "local", "kind": "mock"}],
            "models": [
                {"name": "main", "deployments": [{"provider": "p", "model": chat_model}],
                 "fallbacks": [{"on": ["server_error"], "models": ["backup"]}]},
                {"name": "backup", "deployments": [{"provider": "local", "model": "mock-small"}]},
                {"name": "embed", "deployments": [{"provider": "p", "model": embed_model}]},
            ],
            "retries": {"max_attempts": 2, "backoff": "10ms"},
        }), json!({}))
    })
    .await
}

fn chat(text: &str, stream: bool) -> Value {
    json!({"model": "main", "stream": stream, "messages": [{"role": "user", "content": text}]})
}

async fn ask(ports: &Ports, body: &Value) -> FullResponse {
    post_json(ports, "/v1/chat/completions", &[], body).await
}

fn content(r: &FullResponse) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The checks every native provider passes: whole and streamed echo,
/// embeddings, a refused key, 5xx → fallback, a cut stream, and (last, as
/// it cools the key down) a 429 whose `retry-after` reaches the caller.
async fn common_checks(mock: &MockNative, ports: &Ports, has_key: bool) {
    let r = ask(ports, &chat("hello there", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(content(&r), "echo: hello there");
    assert_eq!(r.headers["x-pylon-provider"], "p");

    let r = ask(ports, &chat("stream me", true)).await;
    assert_eq!(r.status, 200);
    let body = r.text();
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let (text, _, finish, _) = assemble_chunks(&sse_json(&body));
    assert_eq!(
        (text.as_str(), finish.as_deref()),
        ("echo: stream me", Some("stop"))
    );

    let r = post_json(
        ports,
        "/v1/embeddings",
        &[],
        &json!({"model": "embed", "input": ["a b", "c"], "dimensions": 4}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["embedding"].as_array().unwrap().len(), 4);

    if has_key {
        let r = ask(
            ports,
            &json!({"model": "bad/some-model", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "authentication_error", "{v}");
        assert!(!r.text().contains("wrong-key-123456"));
    }

    mock.faults()
        .push(Fault::status(500, "boom inside the provider"));
    let r = ask(ports, &chat("hi", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["x-pylon-provider"], "local", "5xx falls back");
    assert_eq!(content(&r), "You said: hi");

    mock.faults().push(Fault::DropMidStream { after: 4 });
    let r = ask(ports, &chat("tell me a long story please", true)).await;
    assert_eq!(r.status, 200);
    let events = sse_json(&r.text());
    assert!(
        events.last().is_some_and(|e| e.get("error").is_some()),
        "cut stream ends in an error event: {events:?}"
    );
    assert!(!r.text().contains("[DONE]"));
    assert!(
        !assemble_chunks(&events).0.is_empty(),
        "what came before the cut is delivered"
    );

    mock.faults().push(Fault::MalformedChunk { after: 1 });
    let r = ask(ports, &chat("again", true)).await;
    let events = sse_json(&r.text());
    assert!(
        events.last().is_some_and(|e| e.get("error").is_some()),
        "{events:?}"
    );

    mock.faults().push(Fault::rate_limited(5));
    let r = ask(ports, &chat("hi", false)).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.headers["retry-after"], "5");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
}

/// A conversation ending in a tool result for `call_id`.
fn tool_round(call_id: &str) -> Value {
    json!({"model": "main", "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_other_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_other_1", "content": "noon"},
    ]})
}

#[tokio::test]
async fn gemini_native() {
    bounded(120, async {
        let mock = MockNative::start(GeminiWire { keys: vec!["AIza-good-key".into()] }, Duration::from_millis(2)).await.expect("mock");
        let p = json!({"name": "p", "kind": "gemini", "base_url": mock.base_url(), "keys": ["AIza-good-key"]});
        let (_pylon, ports) = pylon_for(p, "gemini-2.5-flash", "gemini-embedding-001").await;
        // URL shapes and the key header.
        let r = ask(&ports, &chat("hi", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let q = mock.last_request().unwrap();
        assert_eq!(q.path(), "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(q.header("x-goog-api-key"), Some("AIza-good-key"));
        assert_eq!(q.header("authorization"), None);
        ask(&ports, &chat("hi", true)).await;
        let q = mock.last_request().unwrap();
        assert_eq!(q.path(), "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
        assert_eq!(q.uri.query(), Some("alt=sse"));
        // Tools: a call comes back with a generated id; results go back by name, in call order.
        let r = ask(&ports, &json!({"model": "main", "messages": [{"role": "user", "content": "Paris"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "additionalProperties": false, "properties": {"query": {"type": "string"}}}}}]})).await;
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let call = &v["choices"][0]["message"]["tool_calls"][0];
        assert!(call["id"].as_str().is_some_and(|id| id.starts_with("call_")), "{v}");
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        let sent = mock.chat_bodies().pop().unwrap();
        assert!(sent["tools"][0]["functionDeclarations"][0]["parameters"].get("additionalProperties").is_none(), "{sent}");
        let r = ask(&ports, &tool_round("call_w")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(content(&r), "The tool said: noon");
        let sent = mock.chat_bodies().pop().unwrap();
        let results = &sent["contents"][2]["parts"];
        assert_eq!(results[0]["functionResponse"], json!({"name": "get_time", "response": {"output": "noon"}}));
        assert_eq!(results[1]["functionResponse"]["name"], "get_weather");
        assert_eq!(sent["contents"][1]["role"], "model");
        assert_eq!(sent["contents"][1]["parts"][1]["functionCall"], json!({"name": "get_weather", "args": {"city": "Paris"}}));
        // Parameters Gemini cannot honour are dropped (per config) and listed in the record.
        ask(&ports, &json!({"model": "main", "user": "u-1", "logprobs": true, "top_k": 5, "messages": [{"role": "user", "content": "x"}]})).await;
        let sent = mock.chat_bodies().pop().unwrap();
        assert_eq!(sent["generationConfig"], json!({"topK": 5}));
        common_checks(&mock, &ports, true).await;
        assert!(mock.requests().iter().any(|q| q.path().ends_with(":batchEmbedContents")));
    })
    .await;
}

#[tokio::test]
async fn mistral_native() {
    bounded(120, async {
        let mock = MockNative::start(MistralWire { keys: vec!["mistral-good-key".into()] }, Duration::from_millis(2)).await.expect("mock");
        let p = json!({"name": "p", "kind": "mistral", "base_url": mock.base_url(), "keys": ["mistral-good-key"]});
        let (_pylon, ports) = pylon_for(p, "mistral-small-latest", "mistral-embed").await;
        // The mock refuses `seed`, `stream_options`, `user` and long tool ids as Mistral does:
        // these pass only because the adapter translates them.
        let mut body = tool_round("call_0123456789abcdef");
        body["seed"] = json!(42);
        body["user"] = json!("u-1");
        body["tool_choice"] = json!("required");
        body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
        let r = ask(&ports, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let q = mock.last_request().unwrap();
        assert_eq!(q.path(), "/v1/chat/completions");
        assert_eq!(q.header("authorization"), Some("Bearer mistral-good-key"));
        let sent = mock.chat_bodies().pop().unwrap();
        assert_eq!((sent["random_seed"].clone(), sent["tool_choice"].clone()), (json!(42), json!("any")));
        let id = sent["messages"][1]["tool_calls"][1]["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 9);
        assert_eq!(sent["messages"][2]["tool_call_id"], id.as_str());
        let r = ask(&ports, &json!({"model": "main", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Paris"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})).await;
        let (_, calls, finish, usage) = assemble_chunks(&sse_json(&r.text()));
        assert_eq!((calls.len(), calls[0].1.as_str(), finish.as_deref()), (1, "get_weather", Some("tool_calls")));
        assert_eq!(calls[0].0.len(), 9, "Mistral's own ids pass through");
        assert!(usage.is_some_and(|u| u["completion_tokens"].as_u64() > Some(0)));
        common_checks(&mock, &ports, true).await;
    })
    .await;
}

#[tokio::test]
async fn cohere_native() {
    bounded(120, async {
        let mock = MockNative::start(CohereWire { keys: vec!["co-good-key".into()] }, Duration::from_millis(2)).await.expect("mock");
        let p = json!({"name": "p", "kind": "cohere", "base_url": mock.base_url(), "keys": ["co-good-key"]});
        let (_pylon, ports) = pylon_for(p, "command-a-03-2025", "embed-v4.0").await;
        let r = ask(&ports, &json!({"model": "main", "messages": [{"role": "user", "content": "hi"}], "top_p": 0.5, "max_tokens": 20, "stop": ["END"]})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let q = mock.last_request().unwrap();
        assert_eq!((q.path(), q.header("authorization")), ("/v2/chat", Some("Bearer co-good-key")));
        let sent = mock.chat_bodies().pop().unwrap();
        assert_eq!((sent["p"].clone(), sent["max_tokens"].clone(), sent["stop_sequences"].clone()), (json!(0.5), json!(20), json!(["END"])));
        // Tool results go back as `tool` messages with their call ids.
        let r = ask(&ports, &tool_round("call_w")).await;
        assert_eq!(content(&r), "The tool said: noon");
        let sent = mock.chat_bodies().pop().unwrap();
        assert_eq!(sent["messages"][2], json!({"role": "tool", "tool_call_id": "call_w", "content": "sunny"}));
        assert_eq!(sent["messages"][1]["tool_calls"][1]["function"]["name"], "get_weather");
        // A streamed tool call: tool-call-start/-delta events become OpenAI deltas.
        let r = ask(&ports, &json!({"model": "main", "stream": true, "messages": [{"role": "user", "content": "Paris"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})).await;
        let (_, calls, finish, _) = assemble_chunks(&sse_json(&r.text()));
        assert_eq!(serde_json::from_str::<Value>(&calls[0].2).unwrap(), json!({"query": "Paris"}));
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        common_checks(&mock, &ports, true).await;
        let embed = mock.requests().into_iter().find(|q| q.path() == "/v2/embed").expect("embed call");
        let b: Value = serde_json::from_slice(&embed.body).unwrap();
        assert_eq!((b["input_type"].clone(), b["embedding_types"].clone(), b["output_dimension"].clone()), (json!("search_document"), json!(["float"]), json!(4)));
    })
    .await;
}

#[tokio::test]
async fn ollama_native() {
    bounded(120, async {
        let mock = MockNative::start(OllamaWire, Duration::from_millis(2)).await.expect("mock");
        let p = json!({"name": "p", "kind": "ollama", "base_url": mock.base_url()});
        let (_pylon, ports) = pylon_for(p, "llama3.2", "nomic-embed-text").await;
        let r = ask(&ports, &json!({"model": "main", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 30, "seed": 1})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let q = mock.last_request().unwrap();
        assert_eq!(q.path(), "/api/chat");
        assert_eq!(q.header("authorization"), None);
        let sent = mock.chat_bodies().pop().unwrap();
        assert_eq!((sent["stream"].clone(), sent["options"].clone()), (json!(false), json!({"num_predict": 30, "seed": 1})));
        // NDJSON streaming with usage from the `done` line.
        let r = ask(&ports, &json!({"model": "main", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hello"}]})).await;
        let (text, _, _, usage) = assemble_chunks(&sse_json(&r.text()));
        assert_eq!(text, "echo: hello");
        assert!(usage.is_some_and(|u| u["prompt_tokens"].as_u64() > Some(0)));
        // Tool results name their tool.
        let r = ask(&ports, &tool_round("call_w")).await;
        assert_eq!(content(&r), "The tool said: noon");
        let sent = mock.chat_bodies().pop().unwrap();
        assert_eq!(sent["messages"][2], json!({"role": "tool", "content": "sunny", "tool_name": "get_weather"}));
        assert_eq!(sent["messages"][1]["tool_calls"][1]["function"]["arguments"], json!({"city": "Paris"}));
        // Ollama takes no image URLs: a clear 400 naming the part, no provider call.
        let before = mock.request_count();
        let r = ask(&ports, &json!({"model": "main", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["param"], "messages[0].content[0]", "{v}");
        assert_eq!(mock.request_count(), before);
        common_checks(&mock, &ports, false).await;
    })
    .await;
}
