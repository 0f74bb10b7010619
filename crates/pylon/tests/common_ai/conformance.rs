//! The translation conformance matrix: every provider mock × inbound API ×
//! (whole, streamed) × case (text, tools, image, JSON output, a 429) through
//! the real binary, checked field by field: the answer's text, tool calls
//! (name and arguments), finish reason and token usage as the caller's API
//! shows them, and that the provider received the system prompt, image, tool
//! or JSON mode in its own native form.
//!
//! A provider joins with a [`ProviderMock`] impl and one `conformance!` line
//! in `ai_conformance.rs`; an inbound API with an [`Inbound`] impl in
//! [`inbound_apis`].
#![allow(dead_code)]

use std::time::Duration;

use pylon_testkit::ai::{Fault, Faults, Reply, Script};
use serde_json::{Value, json};

use super::{ai_config, post_json};
use crate::common_http::{Ports, start_pylon};

/// One cell kind of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Text,
    Tools,
    Image,
    Json,
    RateLimited,
}

pub const CASES: [Case; 5] = [
    Case::Text,
    Case::Tools,
    Case::Image,
    Case::Json,
    Case::RateLimited,
];

/// The system prompt every case sends; providers must receive it natively.
pub const SYSTEM: &str = "You are terse.";
/// A 1x1 PNG, base64.
pub const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// What the caller got, whatever the API: normalized for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub text: String,
    /// Tool name and parsed arguments; ids checked separately (non-empty).
    pub tool_calls: Vec<(String, Value)>,
    pub tool_ids_present: bool,
    /// `stop`, `length` or `tool_calls` (the API's own value mapped back).
    pub finish: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The forced provider answer for a case, and the outcome every API must show.
pub fn script_for(case: Case) -> (Reply, Outcome) {
    let (text, calls) = match case {
        Case::Tools => (
            None,
            vec![(
                "call_abc123".to_string(),
                "get_weather".to_string(),
                r#"{"city":"Paris","days":2}"#.to_string(),
            )],
        ),
        Case::Image => (Some("I see a single pixel.".to_string()), vec![]),
        Case::Json => (Some(r#"{"answer":42,"unit":"none"}"#.to_string()), vec![]),
        _ => (Some("Hello, world! Ünïcode ✓ — done.".to_string()), vec![]),
    };
    let reply = Reply {
        text: text.clone(),
        tool_calls: calls.clone(),
        input_tokens: 21,
        output_tokens: 9,
        cached_tokens: 0,
    };
    let outcome = Outcome {
        text: text.unwrap_or_default(),
        tool_ids_present: true,
        tool_calls: calls
            .into_iter()
            .map(|(_, n, a)| (n, serde_json::from_str(&a).unwrap_or(Value::Null)))
            .collect(),
        finish: if case == Case::Tools {
            "tool_calls"
        } else {
            "stop"
        }
        .into(),
        input_tokens: 21,
        output_tokens: 9,
    };
    (reply, outcome)
}

/// An inbound API as the matrix drives it.
pub trait Inbound: Sync {
    fn name(&self) -> &'static str;
    fn path(&self) -> &'static str;
    fn headers(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// The request for `case` (system prompt, user text, image, tools, JSON mode).
    fn body(&self, model: &str, case: Case, stream: bool) -> Value;
    fn parse(&self, body: &str, stream: bool) -> Result<Outcome, String>;
    /// Check an error answer has the API's error shape for a 429.
    fn check_rate_limited(&self, body: &str) -> Result<(), String>;
}

/// A provider mock as the matrix uses it.
pub trait ProviderMock: Send + Sync {
    /// The `ai.providers` entry (it must be named `p`).
    fn provider_config(&self) -> Value;
    /// The provider-side model id to deploy.
    fn model(&self) -> &str;
    fn script(&self) -> &Script;
    fn faults(&self) -> &Faults;
    /// The provider's last request body.
    fn last_body(&self) -> Value;
    /// The native request carries what `case` sent (system prompt, image,
    /// tool declaration, JSON mode).
    fn check_request(&self, case: Case, body: &Value) -> Result<(), String>;
}

/// Every inbound API the matrix covers.
pub fn inbound_apis() -> Vec<Box<dyn Inbound>> {
    vec![
        Box::new(super::inbound_openai::ChatCompletions),
        Box::new(super::inbound_responses::Responses),
        Box::new(super::inbound_anthropic::Messages),
    ]
}

/// Run the whole matrix for one provider; fails with every broken cell listed.
pub async fn run(mock: Box<dyn ProviderMock>) {
    let provider = mock.provider_config();
    let model = mock.model().to_string();
    let (_pylon, ports): (_, Ports) = start_pylon(|p| {
        ai_config(
            p,
            json!({
                "providers": [provider.clone()],
                "models": [{"name": "m", "deployments": [{"provider": "p", "model": model}]}],
                "retries": {"max_attempts": 1},
            }),
            json!({}),
        )
    })
    .await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for api in inbound_apis() {
        for stream in [false, true] {
            for case in CASES {
                cells += 1;
                let label = format!("{} stream={stream} {case:?}", api.name());
                if let Err(e) = cell(&*mock, &*api, &ports, case, stream).await {
                    failures.push(format!("{label}: {e}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn cell(
    mock: &dyn ProviderMock,
    api: &dyn Inbound,
    ports: &Ports,
    case: Case,
    stream: bool,
) -> Result<(), String> {
    let (reply, expected) = script_for(case);
    mock.script().set(reply);
    if case == Case::RateLimited {
        mock.faults().push(Fault::rate_limited(3));
    }
    let headers = api.headers();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        post_json(ports, api.path(), &headers, &api.body("m", case, stream)),
    )
    .await
    .map_err(|_| "no answer within 20 s".to_string())?;
    let text = r.text();
    if case == Case::RateLimited {
        mock.faults().clear();
        if r.status != 429 {
            return Err(format!("status {} (want 429): {text}", r.status));
        }
        if r.headers.get("retry-after").and_then(|v| v.to_str().ok()) != Some("3") {
            return Err(format!(
                "retry-after not kept: {:?}",
                r.headers.get("retry-after")
            ));
        }
        return api.check_rate_limited(&text);
    }
    if r.status != 200 {
        return Err(format!("status {}: {text}", r.status));
    }
    let got = api.parse(&text, stream)?;
    if got.text != expected.text {
        return Err(format!("text {:?} != {:?}", got.text, expected.text));
    }
    if got.tool_calls != expected.tool_calls {
        return Err(format!(
            "tool calls {:?} != {:?}",
            got.tool_calls, expected.tool_calls
        ));
    }
    if !got.tool_ids_present {
        return Err("a tool call has no id".into());
    }
    if got.finish != expected.finish {
        return Err(format!("finish {:?} != {:?}", got.finish, expected.finish));
    }
    if (got.input_tokens, got.output_tokens) != (expected.input_tokens, expected.output_tokens) {
        return Err(format!(
            "usage {}/{} != {}/{}",
            got.input_tokens, got.output_tokens, expected.input_tokens, expected.output_tokens
        ));
    }
    mock.check_request(case, &mock.last_body())
}
