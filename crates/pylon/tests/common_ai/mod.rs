//! Helpers for the AI gateway tests: a config with an `ai` route on `/v1`,
//! calls to it, and SSE parsing of streamed answers.
#![allow(dead_code)]

pub mod conformance;
pub mod inbound_anthropic;
pub mod inbound_openai;
pub mod inbound_responses;
pub mod mock_anthropic;
pub mod mock_azure;
pub mod mock_bedrock;
pub mod mock_cohere;
pub mod mock_gemini;
pub mod mock_mistral;
pub mod mock_ollama;
pub mod native;
pub mod sdk;

use serde_json::{Value, json};

use crate::common_http::{Ports, base_config, call};

/// A base config plus `ai` (providers, models, ...) and one route serving
/// the AI APIs under `/v1`, with `route` merged into the route's `ai` block.
pub fn ai_config(ports: &Ports, ai: Value, route: Value) -> Value {
    let mut cfg = base_config(ports);
    cfg["ai"] = ai;
    cfg["routes"] = json!([{
        "name": "ai", "match": {"paths": [{"prefix": "/v1"}]}, "ai": route,
    }]);
    cfg
}

/// POST `body` (JSON) to `path` on the proxy with extra headers.
pub async fn post_json(
    ports: &Ports,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> pylon_testkit::FullResponse {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    call(http::Method::POST, &ports.url(path), &h, &body.to_string()).await
}

/// The `data:` payloads of an SSE body (with their `event:` names).
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut event = None;
    let mut data: Vec<String> = Vec::new();
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if !data.is_empty() {
                out.push((event.take(), data.join("\n")));
                data.clear();
            }
            event = None;
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
        }
    }
    out
}

/// The JSON `data:` payloads of an SSE body (non-JSON ones like `[DONE]` left out).
pub fn sse_json(body: &str) -> Vec<Value> {
    sse_events(body)
        .into_iter()
        .filter_map(|(_, d)| serde_json::from_str(&d).ok())
        .collect()
}

/// A tool call as (id, name, arguments text).
pub type Call3 = (String, String, String);

/// An OpenAI streamed answer rebuilt: text, tool calls, finish reason, usage.
pub type Assembled = (String, Vec<Call3>, Option<String>, Option<Value>);

/// Rebuild an OpenAI streamed answer from its chunks.
pub fn assemble_chunks(chunks: &[Value]) -> Assembled {
    let mut text = String::new();
    let mut calls: Vec<Call3> = Vec::new();
    let mut finish = None;
    let mut usage = None;
    for c in chunks {
        if let Some(u) = c.get("usage").filter(|u| !u.is_null()) {
            usage = Some(u.clone());
        }
        for ch in c["choices"].as_array().into_iter().flatten() {
            let d = &ch["delta"];
            if let Some(t) = d["content"].as_str() {
                text.push_str(t);
            }
            for tc in d["tool_calls"].as_array().into_iter().flatten() {
                let i = tc["index"].as_u64().unwrap_or(0) as usize;
                while calls.len() <= i {
                    calls.push(Default::default());
                }
                if let Some(id) = tc["id"].as_str() {
                    calls[i].0 = id.to_string();
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    calls[i].1.push_str(n);
                }
                if let Some(a) = tc["function"]["arguments"].as_str() {
                    calls[i].2.push_str(a);
                }
            }
            if let Some(f) = ch["finish_reason"].as_str() {
                finish = Some(f.to_string());
            }
        }
    }
    (text, calls, finish, usage)
}

/// The JSON access-log lines Pylon printed that carry an `ai` block.
pub fn ai_log_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("ai").is_some())
        .collect()
}
