//! The Anthropic provider and the inbound Messages API through the real
//! binary against the Anthropic mock: auth headers and URL, the default
//! `max_tokens`, cache-token usage both ways and its cost in the access
//! log, thinking blocks replayed with their signatures, 529 → fallback (and
//! kept without one), a stream cut midway → `event: error`, count_tokens.

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::inbound_anthropic::{rebuild_stream, rebuild_whole, total_input};
use common_ai::*;
use common_http::*;
use pylon_testkit::ai::anthropic::{AnthropicWire, signature_of};
use pylon_testkit::ai::{Fault, MockAnthropic, Reply};
use serde_json::{Value, json};

const KEY: &str = "sk-ant-test-key-0001";

async fn mock(cache_creation_tokens: u64) -> MockAnthropic {
    let wire = AnthropicWire {
        keys: vec![KEY.into()],
        cache_creation_tokens,
    };
    MockAnthropic::with(wire, Duration::from_millis(2))
        .await
        .expect("mock anthropic")
}

/// The provider `claude` on the mock, a group `claude` with a fallback to
/// the offline mock provider, and catalog prices of our own.
fn ai(base: &str) -> Value {
    json!({
        "providers": [{"name": "claude", "kind": "anthropic", "base_url": base, "keys": [KEY]},
                      {"name": "local", "kind": "mock"}],
        "models": [
            {"name": "claude", "deployments": [{"provider": "claude", "model": "claude-test-1"}],
             "fallbacks": [{"on": ["server_error"], "models": ["backup"]}]},
            {"name": "backup", "deployments": [{"provider": "local", "model": "mock-small"}]},
        ],
        "catalog": [{"id": "claude-test-1", "provider": "anthropic", "context_window": 200000, "max_output_tokens": 32000,
                     "input_price": 3.0, "output_price": 15.0, "cached_input_price": 0.3, "cache_write_price": 3.75}],
        "retries": {"max_attempts": 2, "backoff": "1ms", "max_backoff": "5ms"},
    })
}

const MSG_HEADERS: [(&str, &str); 1] = [("anthropic-version", "2023-06-01")];

#[tokio::test]
async fn auth_url_default_max_tokens_and_cache_usage_with_cost() {
    bounded(60, async {
        let m = mock(50).await;
        let base = m.base_url();
        let (p, ports) = start_pylon(|p| ai_config(p, ai(&base), json!({}))).await;
        m.script().set(Reply { text: Some("cached hello".into()), input_tokens: 200, output_tokens: 10, cached_tokens: 100, ..Default::default() });
        // An OpenAI caller: usage includes cache reads and writes.
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "claude", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}], "user": "u-7",
        })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "cached hello");
        assert_eq!(v["usage"]["prompt_tokens"], 200);
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
        let rec = m.last_request().expect("provider call");
        assert_eq!(rec.path(), "/v1/messages");
        assert_eq!(rec.header("x-api-key"), Some(KEY));
        assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(rec.header("authorization"), None);
        let sent = m.message_bodies().pop().unwrap();
        assert_eq!(sent["max_tokens"], 32000, "the catalog's output limit when the caller gives none");
        assert_eq!(sent["system"], "sys");
        assert_eq!(sent["metadata"]["user_id"], "u-7");
        // An Anthropic caller, streamed: usage in Anthropic's split form.
        let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &json!({
            "model": "claude", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "hi"}],
        })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let s = rebuild_stream(&r.text()).unwrap();
        assert_eq!(s.content, [json!({"type": "text", "text": "cached hello"})]);
        assert_eq!((s.usage["input_tokens"].as_u64(), s.usage["cache_read_input_tokens"].as_u64(), s.usage["cache_creation_input_tokens"].as_u64()), (Some(50), Some(100), Some(50)));
        assert_eq!(s.usage["output_tokens"], 10);
        assert_eq!(total_input(&s.usage), 200, "the parts add up to the unified input");
        // The access log: unified counts and the cost at each token kind's price.
        assert!(eventually(Duration::from_secs(5), || async { ai_log_lines(&p.stdout()).len() >= 2 }).await);
        for line in ai_log_lines(&p.stdout()) {
            let ai = &line["ai"];
            assert_eq!((ai["input_tokens"].as_u64(), ai["cached_input_tokens"].as_u64(), ai["cache_creation_tokens"].as_u64(), ai["output_tokens"].as_u64()), (Some(200), Some(100), Some(50), Some(10)), "{ai}");
            assert_eq!(ai["provider_kind"], "anthropic");
            let want = (50.0 * 3.0 + 100.0 * 0.3 + 50.0 * 3.75 + 10.0 * 15.0) / 1e6;
            assert!((ai["cost_usd"].as_f64().unwrap() - want).abs() < 1e-12, "{ai}");
        }
        assert!(!p.stdout().contains(KEY));
    })
    .await;
}

#[tokio::test]
async fn thinking_blocks_round_trip_with_their_signatures() {
    bounded(60, async {
        let m = mock(0).await;
        let base = m.base_url();
        let (_p, ports) = start_pylon(|p| ai_config(p, ai(&base), json!({}))).await;
        let tools = json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]);
        let first = json!({"model": "claude", "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": tools, "messages": [{"role": "user", "content": "weather in Paris?"}]});
        for stream in [false, true] {
            let mut body = first.clone();
            body["stream"] = json!(stream);
            let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &body).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let a = if stream { rebuild_stream(&r.text()) } else { rebuild_whole(&r.text()) }.unwrap();
            assert_eq!(a.content[0]["type"], "thinking", "{:?}", a.content);
            let thought = "Thinking about: weather in Paris?";
            if !stream {
                assert_eq!(a.content[0]["thinking"], thought);
                assert_eq!(a.content[0]["signature"], signature_of(thought));
            }
            assert_eq!(a.content[1]["type"], "tool_use");
            assert_eq!(a.stop_reason.as_deref(), Some("tool_use"));
            let sent = m.message_bodies().pop().unwrap();
            assert_eq!(sent["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
            // Replay the turn with the tool's result: the mock checks the signature.
            let mut turn = a.content.clone();
            if stream {
                // Streams carry thinking as deltas; the SDK rebuilds the block.
                turn[0] = json!({"type": "thinking", "thinking": thought, "signature": signature_of(thought)});
            }
            let id = turn[1]["id"].clone();
            let mut next = first.clone();
            next["messages"] = json!([
                {"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": turn},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "sunny"}]},
            ]);
            let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &next).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let a = rebuild_whole(&r.text()).unwrap();
            assert_eq!(a.content.last().unwrap()["text"], "The tool said: sunny");
            let sent = m.message_bodies().pop().unwrap();
            assert_eq!(sent["messages"][1]["content"][0]["signature"], signature_of(thought));
        }
        // A tampered signature is refused by the provider, and the caller sees its 400.
        let mut bad = first.clone();
        bad["messages"] = json!([{"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "forged"}, {"type": "text", "text": "a"}]},
            {"role": "user", "content": "more"}]);
        let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &bad).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("signature"), "{v}");
    })
    .await;
}

#[tokio::test]
async fn overloaded_529_falls_back_or_stays_529_in_each_shape() {
    bounded(60, async {
        let m = mock(0).await;
        let base = m.base_url();
        let (p, ports) = start_pylon(|p| ai_config(p, ai(&base), json!({}))).await;
        let body = json!({"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
        // With fallbacks configured, the first failure moves on to them.
        m.faults().push(Fault::status(529, "Overloaded"));
        let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-provider"], "local");
        let a = rebuild_whole(&r.text()).unwrap();
        assert_eq!(a.content[0]["text"], "You said: hi");
        assert!(eventually(Duration::from_secs(5), || async { !ai_log_lines(&p.stdout()).is_empty() }).await);
        let line = &ai_log_lines(&p.stdout())[0];
        assert_eq!(line["ai"]["fallback_path"], json!(["claude/claude-test-1: overloaded"]));
        // Without fallback (the call is tried twice): 529 kept, in Anthropic's shape on /v1/messages and OpenAI's on chat.
        for _ in 0..2 {
            m.faults().push(Fault::status(529, "Overloaded"));
        }
        let r = post_json(&ports, "/v1/messages", &[("x-pylon-fallback", "off"), MSG_HEADERS[0]], &body).await;
        assert_eq!(r.status, 529, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
        for _ in 0..2 {
            m.faults().push(Fault::status(529, "Overloaded"));
        }
        let r = post_json(&ports, "/v1/chat/completions", &[("x-pylon-fallback", "off")], &json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(r.status, 529);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["message"], "Overloaded");
        assert_eq!(v["error"]["code"], "overloaded_error");
        // A refused key is an authentication error with Anthropic's message.
        let (_p2, ports2) = start_pylon(|p| {
            let mut a = ai(&base);
            a["providers"][0]["keys"] = json!(["sk-ant-wrong-key-9999"]);
            a["models"][0]["fallbacks"] = json!([]);
            ai_config(p, a, json!({}))
        })
        .await;
        let r = post_json(&ports2, "/v1/messages", &MSG_HEADERS, &body).await;
        assert_eq!(r.status, 401, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "authentication_error");
        assert!(!r.text().contains("wrong-key"));
    })
    .await;
}

#[tokio::test]
async fn a_stream_cut_midway_ends_with_an_error_event() {
    bounded(60, async {
        let m = mock(0).await;
        let base = m.base_url();
        let (_p, ports) = start_pylon(|p| {
            let mut a = ai(&base);
            a["retries"] = json!({"max_attempts": 1});
            ai_config(p, a, json!({}))
        })
        .await;
        m.script().set(Reply { text: Some("a fairly long answer that streams in many pieces".into()), input_tokens: 5, output_tokens: 9, ..Default::default() });
        m.faults().push(Fault::DropMidStream { after: 5 });
        let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &json!({
            "model": "claude", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "story"}],
        })).await;
        assert_eq!(r.status, 200);
        let events = sse_events(&r.text());
        let (name, data) = events.last().expect("events");
        assert_eq!(name.as_deref(), Some("error"), "{events:?}");
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], "error");
        assert!(v["error"]["type"].is_string() && v["error"]["message"].is_string(), "{v}");
        assert!(!events.iter().any(|(n, _)| n.as_deref() == Some("message_stop")));
        assert!(events.iter().any(|(n, _)| n.as_deref() == Some("content_block_delta")), "what came before the cut is delivered");
        // Through Chat Completions: an OpenAI error chunk, no [DONE].
        m.faults().push(Fault::DropMidStream { after: 5 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &json!({
            "model": "claude", "stream": true, "messages": [{"role": "user", "content": "story"}],
        })).await;
        let chunks = sse_json(&r.text());
        assert!(chunks.last().unwrap().get("error").is_some(), "{chunks:?}");
        assert!(!r.text().contains("[DONE]"));
        // A malformed event is an error event too.
        m.faults().push(Fault::MalformedChunk { after: 3 });
        let r = post_json(&ports, "/v1/messages", &MSG_HEADERS, &json!({
            "model": "claude", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "story"}],
        })).await;
        assert_eq!(sse_events(&r.text()).last().unwrap().0.as_deref(), Some("error"));
    })
    .await;
}

#[tokio::test]
async fn count_tokens_asks_anthropic_and_estimates_elsewhere() {
    bounded(60, async {
        let m = mock(0).await;
        let base = m.base_url();
        let (_p, ports) = start_pylon(|p| ai_config(p, ai(&base), json!({}))).await;
        let body = json!({"model": "claude", "system": "be brief", "messages": [{"role": "user", "content": "count these words please"}],
                          "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
        let r = post_json(&ports, "/v1/messages/count_tokens", &MSG_HEADERS, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let native = serde_json::from_slice::<Value>(&r.body).unwrap()["input_tokens"].as_u64().unwrap();
        let sent = m.count_bodies().pop().expect("the provider's count endpoint was called");
        assert!(sent.get("max_tokens").is_none());
        assert_eq!(sent["model"], "claude-test-1");
        assert_eq!(sent["system"], "be brief");
        let prompt = "be brief".len() + "count these words please".len() + sent["tools"].to_string().len();
        assert_eq!(native, (prompt as u64).div_ceil(4), "the provider's own count");
        let mut other = body.clone();
        other["model"] = json!("backup");
        let r = post_json(&ports, "/v1/messages/count_tokens", &MSG_HEADERS, &other).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let est = serde_json::from_slice::<Value>(&r.body).unwrap()["input_tokens"].as_u64().unwrap();
        assert!(est > 5 && est < 100, "an estimate: {est}");
        let r = post_json(&ports, "/v1/messages/count_tokens", &MSG_HEADERS, &json!({"model": "nope", "messages": []})).await;
        assert_eq!(r.status, 404);
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["error"]["type"], "not_found_error");
    })
    .await;
}
