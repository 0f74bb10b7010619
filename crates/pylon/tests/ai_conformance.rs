//! The translation conformance matrix through the real binary: one test per
//! provider, each running every inbound API × (whole, streamed) × (text,
//! tools, image, JSON, 429) against that provider's wire-format mock. See
//! `common_ai/conformance.rs`.

mod common_ai;
mod common_http;

use common_ai::conformance::{Case, ProviderMock, SYSTEM, run};
use pylon_testkit::ai::{Faults, MockOpenAi, Script};
use serde_json::{Value, json};

macro_rules! conformance {
    ($name:ident, $mock:expr) => {
        #[tokio::test]
        async fn $name() {
            common_http::bounded(240, async {
                let mock: Box<dyn ProviderMock> = Box::new($mock.await);
                run(mock).await;
            })
            .await;
        }
    };
}

/// OpenAI itself (`kind: openai` with its native base URL swapped for the mock).
struct OpenAiMock(MockOpenAi, &'static str);

async fn openai(kind: &'static str) -> OpenAiMock {
    OpenAiMock(MockOpenAi::start().await.expect("mock openai"), kind)
}

impl ProviderMock for OpenAiMock {
    fn provider_config(&self) -> Value {
        json!({"name": "p", "kind": self.1, "base_url": self.0.base_url(), "keys": ["sk-conformance"]})
    }
    fn model(&self) -> &str {
        "gpt-4o"
    }
    fn script(&self) -> &Script {
        self.0.script()
    }
    fn faults(&self) -> &Faults {
        self.0.faults()
    }
    fn last_body(&self) -> Value {
        self.0.chat_bodies().pop().unwrap_or(Value::Null)
    }
    fn check_request(&self, case: Case, body: &Value) -> Result<(), String> {
        let msgs = &body["messages"];
        if msgs[0]["role"] != "system" || msgs[0]["content"] != SYSTEM {
            return Err(format!("system prompt not first: {msgs}"));
        }
        let ok = match case {
            Case::Image => msgs[1]["content"][1]["image_url"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("data:image/png;base64,")),
            Case::Tools => body["tools"][0]["function"]["name"] == "get_weather",
            Case::Json => body["response_format"]["type"] == "json_object",
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("request lacks the {case:?} part: {body}"))
        }
    }
}

conformance!(openai_native, openai("openai"));
conformance!(openai_compatible_preset, openai("groq"));
conformance!(gemini, common_ai::mock_gemini::gemini());
conformance!(mistral, common_ai::mock_mistral::mistral());
conformance!(cohere, common_ai::mock_cohere::cohere());
conformance!(ollama, common_ai::mock_ollama::ollama());
conformance!(anthropic, common_ai::mock_anthropic::anthropic());
conformance!(bedrock, common_ai::mock_bedrock::bedrock());
conformance!(azure, common_ai::mock_azure::azure());
