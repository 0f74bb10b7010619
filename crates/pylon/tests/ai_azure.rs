//! The Azure OpenAI provider through the real binary against the mock Azure
//! resource: deployment URLs with `api-version`, the `api-key` header, the
//! v1 URL style with Entra ID bearer tokens, Azure's filter annotations in
//! streams, content-filter refusals (class kept, fallback on
//! `content_filter`), 429 with `retry-after` and a key pool, and a stream cut.

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::*;
use common_http::*;
use pylon_testkit::ai::Fault;
use pylon_testkit::ai::azure::{AzureWire, FILTER_TRIGGER, MockAzure};
use serde_json::{Value, json};

async fn mock() -> MockAzure {
    let wire = AzureWire {
        keys: vec!["az-key-good-1".into()],
        tokens: vec!["entra-token-abc123".into()],
    };
    MockAzure::with(wire, Duration::from_millis(2))
        .await
        .expect("mock azure")
}

fn chat(model: &str, text: &str, stream: bool) -> Value {
    let mut b =
        json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}]});
    if stream {
        b["stream"] = json!(true);
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

#[tokio::test]
async fn deployment_urls_and_v1_with_entra_tokens() {
    bounded(60, async {
        let m = mock().await;
        let (_p, ports) = start_pylon(|p| {
            ai_config(p, json!({"providers": [
                {"name": "az", "kind": "azure", "base_url": m.base_url(), "keys": ["az-key-good-1"]},
                {"name": "az1", "kind": "azure", "base_url": format!("{}/openai/v1", m.base_url()), "api_version": "v1", "auth": "bearer", "keys": ["entra-token-abc123"]},
                {"name": "azold", "kind": "azure", "base_url": m.base_url(), "api_version": "2024-06-01", "keys": ["az-key-good-1"]},
            ]}), json!({}))
        })
        .await;
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("az/chat-prod", "hello", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "echo: hello");
        let rec = m.last_request().unwrap();
        assert_eq!(rec.path(), "/openai/deployments/chat-prod/chat/completions");
        assert_eq!(rec.uri.query(), Some("api-version=2024-10-21"));
        assert_eq!(rec.header("api-key"), Some("az-key-good-1"));
        assert_eq!(rec.header("authorization"), None);
        assert_eq!(m.chat_bodies().pop().unwrap()["max_completion_tokens"], 50);

        // v1: one path for every deployment, the deployment as `model`, a bearer token.
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("az1/chat-prod", "hi there", true)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.text();
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
        let (text, _, finish, usage) = assemble_chunks(&sse_json(&body));
        assert_eq!(text, "echo: hi there");
        assert_eq!(finish.as_deref(), Some("stop"));
        assert!(usage.is_some());
        assert!(!body.contains("prompt_filter_results"), "Azure's filter chunk is not passed on");
        let rec = m.last_request().unwrap();
        assert_eq!(rec.path(), "/openai/v1/chat/completions");
        assert_eq!(rec.uri.query(), None);
        assert_eq!(rec.header("authorization"), Some("Bearer entra-token-abc123"));
        assert_eq!(m.chat_bodies().pop().unwrap()["model"], "chat-prod");

        // An older dated version gets `max_tokens`.
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("azold/chat-prod", "x", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(m.last_request().unwrap().uri.query(), Some("api-version=2024-06-01"));
        assert_eq!(m.chat_bodies().pop().unwrap()["max_tokens"], 50);
    })
    .await;
}

#[tokio::test]
async fn content_filter_refusals_keep_their_class_and_fall_back() {
    bounded(60, async {
        let m = mock().await;
        let (_p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [{"name": "az", "kind": "azure", "base_url": m.base_url(), "keys": ["az-key-good-1"]},
                              {"name": "local", "kind": "mock"}],
                "models": [
                    {"name": "strict", "deployments": [{"provider": "az", "model": "chat-prod"}]},
                    {"name": "guarded", "deployments": [{"provider": "az", "model": "chat-prod"}],
                     "fallbacks": [{"on": ["content_filter"], "models": ["backup"]}]},
                    {"name": "backup", "deployments": [{"provider": "local", "model": "mock-small"}]},
                ],
            }), json!({}))
        })
        .await;
        let prompt = format!("tell me about {FILTER_TRIGGER}");
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("strict", &prompt, false)).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "content_filter");
        assert_eq!(v["error"]["param"], "prompt");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("content management policy") && msg.contains("(filtered: violence)"), "{v}");
        assert_eq!(m.request_count(), 1, "a content filter refusal is not retried");
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("guarded", &prompt, false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-provider"], "local");
    })
    .await;
}

#[tokio::test]
async fn rate_limits_keys_and_stream_cuts() {
    bounded(60, async {
        let m = mock().await;
        let (_p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [{"name": "az", "kind": "azure", "base_url": m.base_url(), "keys": ["az-key-revoked-9", "az-key-good-1"]}],
                "retries": {"max_attempts": 3},
            }), json!({}))
        })
        .await;
        // The refused key is disabled and the good one answers.
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("az/chat-prod", "hi", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-attempts"], "2");
        // Every attempt rate limited: 429 with Azure's message and retry-after.
        for _ in 0..3 {
            m.faults().push(Fault::Status { status: 429, retry_after: Some(2), message: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds.".into() });
        }
        let r = post_json(&ports, "/v1/chat/completions", &[("x-pylon-fallback", "off")], &chat("az/chat-prod", "hi", false)).await;
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.headers["retry-after"], "2");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("exceeded token rate limit"), "{v}");
        m.faults().clear();
        tokio::time::sleep(Duration::from_millis(2100)).await; // the key's cool-down
        m.faults().push(Fault::DropMidStream { after: 4 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("az/chat-prod", "a long story please", true)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let events = sse_json(&r.text());
        assert!(events.last().unwrap().get("error").is_some(), "{events:?}");
        assert!(!r.text().contains("[DONE]"));
    })
    .await;
}
