//! The official `anthropic` Python SDK against the real binary, unchanged:
//! `tests/sdk/anthropic_client.py` runs a rate-limit error, a refused key,
//! a plain message, streaming, tools with streaming and count_tokens
//! through `/v1/messages` with key auth, once against the Anthropic mock
//! and once against an OpenAI-compatible mock (cross-provider).
//!
//! Needs python3 with `anthropic` (scripts/test installs it). Without it the
//! tests fail under CI=true, and elsewhere skip with a message saying why.

mod common_ai;
mod common_http;

use std::process::Stdio;

use common_ai::ai_config;
use common_ai::sdk::run_python;
use common_http::{Ports, bounded, start_pylon};
use pylon_testkit::ai::{Fault, MockAnthropic, MockOpenAi};
use serde_json::{Value, json};

const CALLER_KEY: &str = "pylon-sdk-key-123";

/// Whether the SDK can run here; `false` means skip (never under CI).
fn sdk_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import anthropic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with the `anthropic` package is required in CI (scripts/test installs it)"
        );
        eprintln!(
            "SKIP: python3 cannot import `anthropic`; run `pip install anthropic` (scripts/test does)"
        );
    }
    ok
}

/// Pylon with key auth on the AI route, serving `model` from `provider`
/// (two keys: the one the queued 429 cools down, and one for the rest).
fn config(p: &Ports, provider: Value, model: &str) -> Value {
    let mut cfg = ai_config(
        p,
        json!({"providers": [provider], "models": [{"name": "sdk-model", "deployments": [{"provider": "p", "model": model}]}],
               "retries": {"max_attempts": 1}}),
        json!({}),
    );
    // Keys the way SDKs send them: a bearer token (newer Anthropic SDKs) or `x-api-key`.
    cfg["routes"][0]["policies"] =
        json!([{"name": "key-auth", "config": {"key_names": ["authorization", "x-api-key"]}}]);
    cfg["consumers"] =
        json!([{"name": "sdk-app", "credentials": [{"type": "key_auth", "key": CALLER_KEY}]}]);
    cfg
}

/// Run the script; every scenario must pass.
async fn run_script(ports: &Ports, count: &str) {
    let out = run_python(
        "anthropic_client.py",
        &[&ports.url(""), CALLER_KEY, "sdk-model", count],
    )
    .await;
    let want = [
        "rate_limit_error",
        "authentication_error",
        "message",
        "stream",
        "tools_stream",
        "count_tokens",
    ];
    assert_eq!(out["passed"], json!(want), "{out}");
}

#[tokio::test]
async fn anthropic_sdk_against_the_anthropic_provider() {
    if !sdk_available() {
        return;
    }
    bounded(150, async {
        let mock = MockAnthropic::start().await.expect("mock anthropic");
        let provider = json!({"name": "p", "kind": "anthropic", "base_url": mock.base_url(), "keys": ["sk-ant-sdk-1", "sk-ant-sdk-2"]});
        let (_p, ports) = start_pylon(|p| config(p, provider.clone(), "claude-sonnet-4-5")).await;
        mock.faults().push(Fault::rate_limited(3));
        // The mock counts 4 characters a token: "You are terse." + "count me".
        let expected = ("You are terse.".len() + "count me".len()).div_ceil(4);
        run_script(&ports, &expected.to_string()).await;
        let bodies = mock.message_bodies();
        assert!(bodies.iter().any(|b| b["stream"] == true), "streams reached the provider as streams");
        assert!(
            mock.requests().iter().all(|r| r.header("x-api-key").is_some_and(|k| k.starts_with("sk-ant-sdk-"))),
            "the provider's keys, never the caller's"
        );
        assert_eq!(mock.count_bodies().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn anthropic_sdk_reaches_an_openai_compatible_model() {
    if !sdk_available() {
        return;
    }
    bounded(150, async {
        let mock = MockOpenAi::start().await.expect("mock openai");
        let provider = json!({"name": "p", "kind": "openai_compatible", "base_url": mock.base_url(), "keys": ["sk-oai-sdk-1", "sk-oai-sdk-2"]});
        let (_p, ports) = start_pylon(|p| config(p, provider.clone(), "gpt-4o")).await;
        mock.faults().push(Fault::rate_limited(3));
        run_script(&ports, "estimate").await;
        let bodies = mock.chat_bodies();
        let tool_turn = bodies.iter().find(|b| b["messages"].as_array().is_some_and(|m| m.len() == 3)).expect("the tool round trip");
        assert_eq!(tool_turn["messages"][2]["role"], "tool", "tool_result became an OpenAI tool message");
        assert_eq!(tool_turn["messages"][1]["tool_calls"][0]["function"]["name"], "get_weather");
        assert!(bodies.iter().any(|b| b["messages"][0] == json!({"role": "system", "content": "You are terse."})));
    })
    .await;
}
