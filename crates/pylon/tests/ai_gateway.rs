//! The AI gateway through the real binary against a mock OpenAI server and
//! the offline mock provider: chat (whole and streamed, with tools),
//! errors in OpenAI's shape with statuses and `retry-after` kept, key pools,
//! fallbacks, a stream that breaks midway, embeddings, model listing, and
//! the AI fields of the access log.

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::*;
use common_http::*;
use pylon_testkit::ai::{Fault, MockOpenAi, openai::OpenAiWire};
use serde_json::{Value, json};

fn oai_provider(base: &str, keys: &[&str]) -> Value {
    json!({"name": "oai", "kind": "openai_compatible", "base_url": base, "keys": keys})
}

#[tokio::test]
async fn chat_completions_whole_and_streamed_with_tools() {
    bounded(60, async {
        let mock = MockOpenAi::start().await.expect("mock");
        let base = mock.base_url();
        let (p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [oai_provider(&base, &["sk-test-1"])],
                "models": [{"name": "smart", "aliases": ["gpt4"], "deployments": [{"provider": "oai", "model": "gpt-4o"}]}],
            }), json!({}))
        })
        .await;
        // Whole answer.
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "gpt4", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
            "max_tokens": 50, "temperature": 0.2,
        })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "gpt4", "the caller's model name comes back");
        assert_eq!(v["choices"][0]["message"]["content"], "echo: hello");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        assert_eq!(r.headers["x-pylon-provider"], "oai");
        assert_eq!(r.headers["x-pylon-model"], "gpt-4o");
        let sent = mock.chat_bodies().pop().expect("provider call");
        assert_eq!(sent["model"], "gpt-4o");
        assert_eq!(sent["max_tokens"], 50);
        assert_eq!(sent["temperature"], 0.2);
        let rec = mock.last_request().expect("recorded");
        assert_eq!(rec.header("authorization"), Some("Bearer sk-test-1"));

        // Streamed, with a tool call split across chunks, and usage at the end.
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "smart", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "weather in Paris"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}],
        })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["content-type"], "text/event-stream");
        let body = r.text();
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
        let chunks = sse_json(&body);
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "smart"));
        let (text, calls, finish, usage) = assemble_chunks(&chunks);
        assert_eq!(text, "");
        assert_eq!(calls.len(), 1, "{chunks:?}");
        assert_eq!(calls[0].0, "call_mock_1");
        assert_eq!(calls[0].1, "get_weather");
        assert_eq!(serde_json::from_str::<Value>(&calls[0].2).unwrap(), json!({"query": "weather in Paris"}));
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        let usage = usage.expect("usage chunk");
        assert_eq!(usage["total_tokens"], usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap());
        assert_eq!(mock.chat_bodies().pop().unwrap()["stream_options"]["include_usage"], true);

        // The access log carries the AI facts of both calls.
        assert!(eventually(Duration::from_secs(5), || async { ai_log_lines(&p.stdout()).len() >= 2 }).await);
        let lines = ai_log_lines(&p.stdout());
        let ai = &lines[0]["ai"];
        assert_eq!(ai["model_requested"], "gpt4");
        assert_eq!(ai["model_served"], "gpt-4o");
        assert_eq!(ai["provider"], "oai");
        assert_eq!(ai["model_group"], "smart");
        assert_eq!(ai["key_id"], "oai#0");
        assert_eq!(ai["tokens_estimated"], false);
        assert!(ai["cost_usd"].as_f64().unwrap() > 0.0, "gpt-4o has catalog prices: {ai}");
        assert_eq!(lines[1]["ai"]["stream"], true);
        assert_eq!(lines[1]["ai"]["finish_reason"], "tool_calls");
        assert!(lines[1]["ai"]["ttft_ms"].as_f64().is_some());
        assert!(!p.stdout().contains("sk-test-1"), "keys never reach the log");
    })
    .await;
}

#[tokio::test]
async fn provider_errors_keep_status_shape_and_retry_after_but_never_the_key() {
    bounded(60, async {
        let mock = MockOpenAi::with(OpenAiWire { keys: vec!["sk-good-key-1234".into()] }, Duration::from_millis(1)).await.expect("mock");
        let base = mock.base_url();
        let (_p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [oai_provider(&base, &["sk-good-key-1234"]), {"name": "bad", "kind": "openai_compatible", "base_url": base, "keys": ["sk-wrong-secret-999"]}],
                "retries": {"max_attempts": 1},
            }), json!({}))
        })
        .await;
        mock.faults().push(Fault::rate_limited(7));
        let body = json!({"model": "oai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.headers["retry-after"], "7");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("Rate limit reached"), "{v}");
        // A refused key: 401 kept, the provider's message kept, the key scrubbed.
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({"model": "bad/gpt-4o", "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(r.status, 401, "{}", r.text());
        let text = r.text();
        assert!(text.contains("Incorrect API key provided"), "{text}");
        assert!(!text.contains("sk-wrong-secret-999") && !text.contains("wrong-secret"), "{text}");
        // Bad requests name the field; unknown models are 404 model_not_found.
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({"model": "oai/gpt-4o"})).await;
        assert_eq!(r.status, 400);
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["error"]["param"], "messages");
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]})).await;
        assert_eq!(r.status, 404);
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["error"]["code"], "model_not_found");
        let r = call(http::Method::POST, &ports.url("/v1/chat/completions"), &[], "{oops").await;
        assert_eq!(r.status, 400);
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["error"]["type"], "invalid_request_error");
    })
    .await;
}

#[tokio::test]
async fn key_pools_skip_refused_keys_and_fallbacks_take_over() {
    bounded(60, async {
        let mock = MockOpenAi::with(OpenAiWire { keys: vec!["sk-good-2222".into()] }, Duration::from_millis(1)).await.expect("mock");
        let base = mock.base_url();
        let (p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [
                    oai_provider(&base, &["sk-revoked-1111", "sk-good-2222"]),
                    {"name": "local", "kind": "mock"},
                ],
                "models": [
                    {"name": "main", "deployments": [{"provider": "oai", "model": "gpt-4o"}],
                     "fallbacks": [{"on": ["server_error", "rate_limited"], "models": ["backup"]}]},
                    {"name": "backup", "deployments": [{"provider": "local", "model": "mock-small"}]},
                ],
            }), json!({}))
        })
        .await;
        let body = json!({"model": "main", "messages": [{"role": "user", "content": "hi"}]});
        // First call: the revoked key is refused, disabled, and the good one answers.
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-attempts"], "2");
        // Later calls never use the disabled key again.
        mock.clear_requests();
        for _ in 0..4 {
            let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.headers["x-pylon-attempts"], "1");
        }
        assert!(mock.requests().iter().all(|q| q.header("authorization") == Some("Bearer sk-good-2222")));
        // A 500 from the provider: the fallback model answers.
        mock.faults().push(Fault::status(500, "The server had an error"));
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-provider"], "local");
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["choices"][0]["message"]["content"], "You said: hi");
        // ... unless the caller turns fallbacks off.
        mock.faults().push(Fault::status(500, "The server had an error"));
        let r = post_json(&ports, "/v1/chat/completions", &[("x-pylon-fallback", "off")], &body).await;
        assert!(r.status == 500 || r.status == 200, "{}", r.status);
        assert_ne!(r.headers.get("x-pylon-provider").map(|v| v.to_str().unwrap()), Some("local"));
        assert!(eventually(Duration::from_secs(5), || async { ai_log_lines(&p.stdout()).len() >= 7 }).await);
        let fell_back = ai_log_lines(&p.stdout()).into_iter().find(|l| l["ai"]["provider"] == "local").expect("fallback logged");
        assert_eq!(fell_back["ai"]["fallback_path"], json!(["oai/gpt-4o: server_error"]));
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_breaks_midway_ends_with_an_error_event() {
    bounded(60, async {
        let mock = MockOpenAi::with(OpenAiWire::default(), Duration::from_millis(2)).await.expect("mock");
        let base = mock.base_url();
        let (_p, ports) = start_pylon(|p| {
            ai_config(p, json!({"providers": [oai_provider(&base, &["k"])], "retries": {"max_attempts": 1}}), json!({}))
        })
        .await;
        mock.faults().push(Fault::DropMidStream { after: 3 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "oai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "tell me a long story"}],
        })).await;
        assert_eq!(r.status, 200);
        let events = sse_json(&r.text());
        let last = events.last().expect("events");
        assert!(last.get("error").is_some(), "the stream must end with an error event: {events:?}");
        assert!(!r.text().contains("[DONE]"));
        let (text, ..) = assemble_chunks(&events);
        assert!(!text.is_empty(), "what arrived before the break is delivered");
        // A malformed chunk is an error event too.
        mock.faults().push(Fault::MalformedChunk { after: 2 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "oai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "again"}],
        })).await;
        let events = sse_json(&r.text());
        assert!(events.last().unwrap().get("error").is_some(), "{events:?}");
    })
    .await;
}

#[tokio::test]
async fn offline_mock_provider_embeddings_and_model_listing() {
    bounded(60, async {
        let (_p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [{"name": "m", "kind": "mock", "mock": {"fixtures": [{"match": "capital", "text": "Paris."}]}}],
                "models": [{"name": "chat", "deployments": [{"provider": "m", "model": "mock-small"}]},
                           {"name": "embed", "deployments": [{"provider": "m", "model": "mock-embed"}]}],
            }), json!({"models": ["chat", "embed", "m/*"]}))
        })
        .await;
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({"model": "chat", "messages": [{"role": "user", "content": "the capital of France?"}]})).await;
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["choices"][0]["message"]["content"], "Paris.");
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({"model": "chat", "stream": true, "messages": [{"role": "user", "content": "one two three"}]})).await;
        let (text, ..) = assemble_chunks(&sse_json(&r.text()));
        assert_eq!(text, "You said: one two three");
        let r = post_json(&ports, "/v1/embeddings", &[], &json!({"model": "embed", "input": ["a b", "c"], "dimensions": 4})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 4);
        let r = post_json(&ports, "/v1/embeddings", &[], &json!({"model": "embed", "input": "x", "encoding_format": "base64"})).await;
        assert!(serde_json::from_slice::<Value>(&r.body).unwrap()["data"][0]["embedding"].is_string());
        let (status, body) = http_get(&ports.url("/v1/models")).await.unwrap();
        assert_eq!(status, 200);
        let ids: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
        assert!(ids.contains(&"chat".to_string()) && ids.contains(&"m/mock-small".to_string()), "{ids:?}");
        let (status, _) = http_get(&ports.url("/v1/models/chat")).await.unwrap();
        assert_eq!(status, 200);
        // Models the route does not allow are refused.
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({"model": "other/x", "messages": [{"role": "user", "content": "x"}]})).await;
        assert_eq!(r.status, 403, "{}", r.text());
    })
    .await;
}

#[tokio::test]
async fn the_shipped_ai_example_answers_the_readme_quickstart() {
    bounded(60, async {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ai-gateway.yaml");
        let text = std::fs::read_to_string(&path).expect("example");
        let doc: Value = serde_saphyr::from_str(&text).expect("yaml");
        let (_p, ports) = start_pylon(|p| {
            let mut cfg = doc.clone();
            cfg["server"]["admin_listen"] = json!(format!("127.0.0.1:{}", p.admin));
            cfg["server"]["watch_config"] = json!(false);
            cfg["listeners"][0]["bind"] = json!(format!("127.0.0.1:{}", p.proxy));
            cfg
        })
        .await;
        let body = json!({"model": "smart", "messages": [{"role": "user", "content": "What is the capital of France?"}]});
        let r = post_json(&ports, "/v1/chat/completions", &[("authorization", "Bearer demo-key-1234")], &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["choices"][0]["message"]["content"], "Paris.");
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 401, "no key, no answer");
    })
    .await;
}
