//! Token counts and cost through the real binary: the context-window check
//! counts the prompt with gpt-4o's real tokenizer (a request that fits by one
//! token passes, one over is refused with the exact figure), a provider that
//! reports no usage gets the call recorded with exact counts and their cost,
//! and a stream cut before its usage is recorded as estimated.

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::*;
use common_http::*;
use pylon_testkit::ai::{Fault, MockOpenAi, Reply, openai::OpenAiWire};
use serde_json::{Value, json};

fn provider(base: &str) -> Value {
    json!({"name": "oai", "kind": "openai_compatible", "base_url": base, "keys": ["k"]})
}

/// `hello world` as the only user message: 9 prompt tokens on o200k (3 per
/// message, 1 for the role, 2 of text, 3 for the reply priming).
fn hello(max_tokens: u64) -> Value {
    json!({"model": "oai/gpt-4o", "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": "hello world"}]})
}

#[tokio::test]
async fn the_context_window_check_counts_exactly() {
    bounded(60, async {
        let mock = MockOpenAi::start().await.expect("mock");
        let base = mock.base_url();
        let (_p, ports) = start_pylon(|p| {
            ai_config(
                p,
                json!({"providers": [provider(&base)], "retries": {"max_attempts": 1}}),
                json!({}),
            )
        })
        .await;
        // gpt-4o: 128,000 tokens. 9 + 127,991 fits exactly.
        let r = post_json(&ports, "/v1/chat/completions", &[], &hello(127_991)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(mock.chat_bodies().len(), 1);
        // One more token does not, and nothing reaches the provider.
        let r = post_json(&ports, "/v1/chat/completions", &[], &hello(127_992)).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let e: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(e["error"]["code"], "context_length_exceeded");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("needs 128001 tokens") && msg.contains("128000"),
            "{msg}"
        );
        assert_eq!(mock.chat_bodies().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn missing_usage_is_counted_and_priced() {
    bounded(60, async {
        let mock = MockOpenAi::start().await.expect("mock");
        let base = mock.base_url();
        let (p, ports) =
            start_pylon(|p| ai_config(p, json!({"providers": [provider(&base)]}), json!({}))).await;
        // The provider answers with zero usage, as servers that omit it do.
        mock.script().set(Reply {
            text: Some("hello world".into()),
            ..Default::default()
        });
        let r = post_json(&ports, "/v1/chat/completions", &[], &hello(50)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            eventually(Duration::from_secs(5), || async {
                !ai_log_lines(&p.stdout()).is_empty()
            })
            .await
        );
        let ai = ai_log_lines(&p.stdout())[0]["ai"].clone();
        assert_eq!(ai["input_tokens"], 9, "{ai}");
        assert_eq!(ai["output_tokens"], 2, "{ai}");
        assert_eq!(
            ai["tokens_estimated"], false,
            "exact tokenizer counts: {ai}"
        );
        // gpt-4o: $2.50 in, $10 out per million.
        let cost = ai["cost_usd"].as_f64().unwrap();
        assert!(
            (cost - (9.0 * 2.5 + 2.0 * 10.0) / 1e6).abs() < 1e-12,
            "{cost}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_stream_cut_before_its_usage_is_estimated() {
    bounded(60, async {
        let mock = MockOpenAi::with(OpenAiWire::default(), Duration::from_millis(2)).await.expect("mock");
        let base = mock.base_url();
        let (p, ports) = start_pylon(|p| {
            ai_config(p, json!({"providers": [provider(&base)], "retries": {"max_attempts": 1}}), json!({}))
        })
        .await;
        mock.faults().push(Fault::DropMidStream { after: 3 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "oai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "tell me a long story"}],
        }))
        .await;
        assert_eq!(r.status, 200);
        assert!(eventually(Duration::from_secs(5), || async { !ai_log_lines(&p.stdout()).is_empty() }).await);
        let ai = ai_log_lines(&p.stdout())[0]["ai"].clone();
        assert_eq!(ai["tokens_estimated"], true, "{ai}");
        assert!(ai["input_tokens"].as_u64().unwrap() > 0, "{ai}");
        assert!(ai["output_tokens"].as_u64().unwrap() > 0, "what was relayed is counted: {ai}");
        assert!(ai["cost_usd"].as_f64().unwrap() > 0.0, "{ai}");
    })
    .await;
}
