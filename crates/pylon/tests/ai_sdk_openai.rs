//! The official `openai` Python SDK against Pylon, unchanged: chat (plain,
//! streamed, tools streamed with the SDK's own accumulator), errors as the
//! SDK's exception types, a stream that breaks midway, the Responses API
//! (plain, streamed, a tool round trip), embeddings (the SDK's default
//! base64 encoding) and model listing. Pylon authenticates the SDK's
//! `Authorization: Bearer` key with key-auth and calls a mock OpenAI server.

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::ai_config;
use common_ai::sdk::run_python;
use common_http::*;
use pylon_testkit::ai::{Fault, MockOpenAi, openai::OpenAiWire};
use serde_json::{Value, json};

const KEY: &str = "pyl-app-key-123456";

async fn setup() -> (MockOpenAi, pylon_testkit::PylonProcess, Ports) {
    let mock = MockOpenAi::with(OpenAiWire::default(), Duration::from_millis(2))
        .await
        .expect("mock");
    let base = mock.base_url();
    let (p, ports) = start_pylon(|p| {
        let mut cfg = ai_config(p, json!({
            "providers": [{"name": "oai", "kind": "openai", "base_url": base, "keys": ["sk-upstream"]},
                          {"name": "m", "kind": "mock"}],
            "models": [{"name": "gpt-4o", "deployments": [{"provider": "oai", "model": "gpt-4o"}]},
                       {"name": "embed", "deployments": [{"provider": "oai", "model": "text-embedding-3-small"}]}],
            "retries": {"max_attempts": 1},
        }), json!({}));
        cfg["consumers"] = json!([{"name": "app", "credentials": [{"type": "key_auth", "id": "app-key", "key": KEY}]}]);
        cfg["routes"][0]["policies"] = json!([{"name": "key-auth", "config": {"key_names": ["authorization", "x-api-key", "api-key"]}}]);
        cfg
    })
    .await;
    (mock, p, ports)
}

async fn sdk(ports: &Ports, scenario: &str, model: &str) -> Value {
    run_python(
        "openai_client.py",
        &[&ports.url("/v1"), KEY, scenario, model],
    )
    .await
}

#[tokio::test]
async fn chat_completions_through_the_openai_sdk() {
    bounded(180, async {
        let (mock, _p, ports) = setup().await;
        let v = sdk(&ports, "chat", "gpt-4o").await;
        assert_eq!(v["content"], "echo: hello");
        assert_eq!(v["finish"], "stop");
        assert!(v["total_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            mock.last_request().unwrap().header("authorization"),
            Some("Bearer sk-upstream"),
            "the provider key, not the caller's"
        );

        let v = sdk(&ports, "stream", "gpt-4o").await;
        assert_eq!(v["content"], "echo: stream me");
        assert_eq!(v["finish"], "stop");
        assert!(v["usage"].as_u64().unwrap() > 0);

        let v = sdk(&ports, "stream_tools", "gpt-4o").await;
        assert_eq!(v["finish"], "tool_calls");
        let call = &v["calls"][0];
        assert_eq!(call["name"], "get_weather");
        assert!(call["id"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(
            serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
            json!({"query": "weather in Oslo"})
        );
        assert_eq!(v["helper"]["name"], "get_weather");
        assert_eq!(v["helper"]["arguments"], call["arguments"]);

        // The other model: the offline mock provider, same SDK.
        let v = sdk(&ports, "chat", "m/mock-small").await;
        assert_eq!(v["content"], "You said: hello");
    })
    .await;
}

#[tokio::test]
async fn errors_reach_the_sdk_as_its_own_exceptions() {
    bounded(180, async {
        let (mock, _p, ports) = setup().await;
        mock.faults().push(Fault::rate_limited(4));
        let v = sdk(&ports, "rate_limited", "gpt-4o").await;
        assert_eq!(v["raised"], "RateLimitError", "{v}");
        assert_eq!(v["status"], 429);
        assert_eq!(v["retry_after"], "4");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("Rate limit reached"),
            "{v}"
        );

        let v = run_python(
            "openai_client.py",
            &[&ports.url("/v1"), "wrong-key", "bad_key", "gpt-4o"],
        )
        .await;
        assert_eq!(v["raised"], "AuthenticationError", "{v}");
        assert_eq!(v["status"], 401);

        mock.faults().push(Fault::DropMidStream { after: 4 });
        let v = sdk(&ports, "stream_error", "gpt-4o").await;
        assert_eq!(
            v["raised"], "APIError",
            "a broken stream must raise, not end quietly: {v}"
        );
        assert!(!v["text"].as_str().unwrap().is_empty(), "{v}");
    })
    .await;
}

#[tokio::test]
async fn responses_embeddings_and_models_through_the_openai_sdk() {
    bounded(180, async {
        let (_mock, _p, ports) = setup().await;
        let v = sdk(&ports, "responses", "gpt-4o").await;
        assert_eq!(v["text"], "echo: hello responses");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["streamed"], "echo: hello stream");
        assert_eq!(v["final"], "echo: hello stream");
        assert_eq!(v["first"], "response.created");
        assert_eq!(v["last"], "response.completed");

        let v = sdk(&ports, "responses_tools", "gpt-4o").await;
        assert_eq!(v["name"], "get_weather");
        assert_eq!(v["after"], "The tool said: sunny");

        let v = sdk(&ports, "embeddings", "embed").await;
        assert_eq!(v["count"], 2);
        assert_eq!(v["dims"], 8);
        assert!(v["tokens"].as_u64().unwrap() > 0);

        let v = sdk(&ports, "models", "-").await;
        let ids: Vec<&str> = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(ids.contains(&"gpt-4o") && ids.contains(&"embed"), "{ids:?}");
    })
    .await;
}
