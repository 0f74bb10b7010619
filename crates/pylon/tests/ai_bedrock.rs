//! The Bedrock provider through the real binary against the mock Bedrock
//! runtime: SigV4-signed Converse and ConverseStream calls (model ids
//! URL-encoded, session tokens, the signature checked in full by the mock),
//! Bedrock API keys, refused signatures, throttling with `retry-after`,
//! fallbacks on 5xx and on a prompt that is too long, streams that break,
//! carry a bad CRC or an exception event, unsupported parameters, and
//! config errors from `pylon validate`.

mod common_ai;
mod common_http;

use std::time::Duration;

use common_ai::mock_bedrock::{MODEL, bedrock_provider};
use common_ai::*;
use common_http::*;
use pylon_testkit::ai::Fault;
use pylon_testkit::ai::bedrock::{BedrockWire, MockBedrock};
use serde_json::{Value, json};

fn chat(model: &str, text: &str, stream: bool) -> Value {
    let mut b =
        json!({"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]});
    if stream {
        b["stream"] = json!(true);
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

fn bedrock_model() -> String {
    format!("b/{MODEL}")
}

#[tokio::test]
async fn signed_converse_calls_whole_and_streamed() {
    bounded(60, async {
        let mock = MockBedrock::with(BedrockWire::default().with_session_token("SESSION-TOKEN-1"), Duration::from_millis(2)).await.expect("mock");
        let mut provider = bedrock_provider("b", &mock);
        provider["aws"]["session_token"] = json!("SESSION-TOKEN-1");
        let (p, ports) = start_pylon(|p| ai_config(p, json!({"providers": [provider.clone()]}), json!({}))).await;

        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&bedrock_model(), "hello", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "echo: hello");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        let rec = mock.last_request().expect("recorded");
        assert_eq!(rec.path(), "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
        let auth = rec.header("authorization").unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMOCKBEDROCK01/"), "{auth}");
        assert!(auth.contains("/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature="), "{auth}");
        assert_eq!(rec.header("x-amz-security-token"), Some("SESSION-TOKEN-1"));
        assert_eq!(rec.header("accept"), Some("application/json"));
        assert_eq!(mock.converse_bodies().pop().unwrap()["inferenceConfig"]["maxTokens"], 100);

        // Streamed, with a tool call: ConverseStream's event-stream frames become OpenAI chunks.
        let mut body = chat(&bedrock_model(), "weather in Paris", true);
        body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]);
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        let (content, calls, finish, usage) = assemble_chunks(&sse_json(&text));
        assert_eq!(content, "");
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].0.as_str(), calls[0].1.as_str()), ("call_mock_1", "get_weather"));
        assert_eq!(serde_json::from_str::<Value>(&calls[0].2).unwrap(), json!({"query": "weather in Paris"}));
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        assert!(usage.unwrap()["completion_tokens"].as_u64().unwrap() > 0);
        let rec = mock.last_request().unwrap();
        assert_eq!(rec.path(), "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
        assert_eq!(rec.header("accept"), Some("application/vnd.amazon.eventstream"));
        assert!(!p.stdout().contains("SESSION-TOKEN-1") && !p.stdout().contains("mock/Secret"), "credentials stay out of the log");
    })
    .await;
}

#[tokio::test]
async fn api_keys_and_refused_signatures() {
    bounded(60, async {
        let mock = MockBedrock::with(BedrockWire::default().with_api_keys(&["brk-api-key-1"]), Duration::from_millis(2)).await.expect("mock");
        let mut wrong = bedrock_provider("wrong", &mock);
        wrong["aws"]["secret_access_key"] = json!("not-the-secret-0000");
        let keyed = json!({"name": "keyed", "kind": "bedrock", "base_url": mock.base_url(), "region": "us-east-1", "keys": ["brk-api-key-1"]});
        let (_p, ports) = start_pylon(|p| ai_config(p, json!({"providers": [wrong.clone(), keyed.clone()], "retries": {"max_attempts": 1}}), json!({}))).await;

        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&format!("keyed/{MODEL}"), "hi", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let rec = mock.last_request().unwrap();
        assert_eq!(rec.header("authorization"), Some("Bearer brk-api-key-1"));
        assert_eq!(rec.header("x-amz-date"), None, "API keys are not SigV4");

        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&format!("wrong/{MODEL}"), "hi", false)).await;
        assert_eq!(r.status, 403, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("signature we calculated does not match"), "{v}");
        assert_eq!(v["error"]["code"], "InvalidSignatureException");
        assert!(!r.text().contains("not-the-secret"));
    })
    .await;
}

#[tokio::test]
async fn throttling_keeps_retry_after_and_fallbacks_take_over() {
    bounded(60, async {
        let mock = MockBedrock::start().await.expect("mock");
        let (p, ports) = start_pylon(|p| {
            ai_config(p, json!({
                "providers": [bedrock_provider("b", &mock), {"name": "local", "kind": "mock"}],
                "models": [
                    {"name": "claude", "deployments": [{"provider": "b", "model": MODEL}],
                     "fallbacks": [{"on": ["server_error", "context_window"], "models": ["backup"]}]},
                    {"name": "backup", "deployments": [{"provider": "local", "model": "mock-small"}]},
                ],
                "retries": {"max_attempts": 2},
            }), json!({}))
        })
        .await;
        // Both attempts are throttled.
        mock.faults().push(Fault::rate_limited(5));
        mock.faults().push(Fault::rate_limited(5));
        let r = post_json(&ports, "/v1/chat/completions", &[("x-pylon-fallback", "off")], &chat(&bedrock_model(), "hi", false)).await;
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.headers["retry-after"], "5");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["code"], "ThrottlingException");
        assert!(v["error"]["message"].as_str().unwrap().contains("Rate limit reached"));

        // InternalServerException: the fallback answers.
        mock.faults().push(Fault::status(500, "An internal server error occurred."));
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("claude", "hi", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-provider"], "local");
        // A prompt too long for the model (ValidationException): a context-window fallback.
        mock.faults().push(Fault::status(400, "Input is too long for requested model."));
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat("claude", "hi", false)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-pylon-provider"], "local");
        assert!(eventually(Duration::from_secs(5), || async { ai_log_lines(&p.stdout()).len() >= 3 }).await);
        let paths: Vec<Value> = ai_log_lines(&p.stdout()).iter().map(|l| l["ai"]["fallback_path"].clone()).collect();
        assert!(paths.contains(&json!([format!("b/{MODEL}: server_error")])), "{paths:?}");
        assert!(paths.contains(&json!([format!("b/{MODEL}: context_window")])), "{paths:?}");
    })
    .await;
}

#[tokio::test]
async fn broken_streams_end_with_error_events() {
    bounded(60, async {
        let mock = MockBedrock::with(BedrockWire::default(), Duration::from_millis(2)).await.expect("mock");
        let (_p, ports) = start_pylon(|p| ai_config(p, json!({"providers": [bedrock_provider("b", &mock)], "retries": {"max_attempts": 1}}), json!({}))).await;
        let long = "tell me a long story about the sea";
        let last_error = |body: &str, what: &str| -> Value {
            let events = sse_json(body);
            assert!(!body.contains("[DONE]"), "{what}: {body}");
            let (text, ..) = assemble_chunks(&events);
            assert!(!text.is_empty(), "what arrived first is delivered: {body}");
            events.last().and_then(|e| e.get("error")).cloned().unwrap_or_else(|| panic!("no error event: {body}"))
        };
        mock.faults().push(Fault::DropMidStream { after: 4 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&bedrock_model(), long, true)).await;
        assert_eq!(r.status, 200);
        last_error(&r.text(), "dropped");
        // A message whose CRC does not match.
        mock.faults().push(Fault::MalformedChunk { after: 4 });
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&bedrock_model(), long, true)).await;
        let e = last_error(&r.text(), "bad crc");
        assert!(e["message"].as_str().unwrap().contains("checksum"), "{e}");
        // Exception messages keep their class.
        mock.stream_exception(4, "throttlingException", "Too many tokens, please wait before trying again.");
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&bedrock_model(), long, true)).await;
        let e = last_error(&r.text(), "throttled");
        assert_eq!(e["type"], "rate_limit_error", "{e}");
        assert!(e["message"].as_str().unwrap().contains("Too many tokens"));
        mock.stream_exception(4, "modelStreamErrorException", "The model stream failed.");
        let r = post_json(&ports, "/v1/chat/completions", &[], &chat(&bedrock_model(), long, true)).await;
        assert_eq!(last_error(&r.text(), "model stream error")["type"], "server_error");
    })
    .await;
}

#[tokio::test]
async fn unsupported_parameters_are_dropped_or_rejected() {
    bounded(60, async {
        let mock = MockBedrock::start().await.expect("mock");
        let mut strict = bedrock_provider("strict", &mock);
        strict["unsupported_params"] = json!("reject");
        let (p, ports) = start_pylon(|p| {
            ai_config(
                p,
                json!({"providers": [bedrock_provider("b", &mock), strict.clone()]}),
                json!({}),
            )
        })
        .await;
        let mut body = chat(&format!("strict/{MODEL}"), "hi", false);
        body["seed"] = json!(7);
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["param"], "seed");
        body["model"] = json!(bedrock_model());
        body["top_k"] = json!(20);
        body["stop"] = json!(["END"]);
        let r = post_json(&ports, "/v1/chat/completions", &[], &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let sent = mock.converse_bodies().pop().unwrap();
        assert_eq!(sent["additionalModelRequestFields"], json!({"top_k": 20}));
        assert_eq!(sent["inferenceConfig"]["stopSequences"], json!(["END"]));
        assert!(
            eventually(Duration::from_secs(5), || async {
                !ai_log_lines(&p.stdout()).is_empty()
            })
            .await
        );
        let line = ai_log_lines(&p.stdout()).pop().unwrap();
        assert_eq!(line["ai"]["dropped_params"], json!(["seed"]), "{line}");
    })
    .await;
}

#[tokio::test]
async fn validate_names_missing_region_and_credentials() {
    bounded(60, async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pylon.yaml");
        let cfg = "listeners: [{name: main, bind: \"127.0.0.1:0\"}]\nai:\n  providers:\n    - {name: b, kind: bedrock}\n    - {name: c, kind: bedrock, region: eu-west-1}\n";
        std::fs::write(&path, cfg).unwrap();
        let out = std::process::Command::new(pylon_bin())
            .arg("validate")
            .arg(&path)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("ai.providers[0]") && text.contains("region"), "{text}");
        assert!(text.contains("ai.providers[1]") && text.contains("credentials"), "{text}");
    })
    .await;
}
