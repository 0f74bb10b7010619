//! The Anthropic provider's mock as the conformance matrix uses it: the
//! native request must carry the system prompt as top-level `system`, the
//! image as a base64 `image` block, the tool with its `input_schema`, and
//! JSON mode as the forced JSON tool (`json_object`, and the any-object
//! schema the Messages API sends) or `output_config.format` (a schema proper).
#![allow(dead_code)]

use pylon_testkit::ai::anthropic::AnthropicWire;
use pylon_testkit::ai::{Faults, MockAnthropic, Script};
use serde_json::{Value, json};

use super::conformance::{Case, ProviderMock, SYSTEM};

pub struct AnthropicMock(pub MockAnthropic);

pub async fn anthropic() -> AnthropicMock {
    let wire = AnthropicWire {
        keys: vec!["sk-ant-conformance".into()],
        cache_creation_tokens: 0,
    };
    AnthropicMock(
        MockAnthropic::with(wire, std::time::Duration::from_millis(2))
            .await
            .expect("mock anthropic"),
    )
}

impl ProviderMock for AnthropicMock {
    fn provider_config(&self) -> Value {
        json!({"name": "p", "kind": "anthropic", "base_url": self.0.base_url(), "keys": ["sk-ant-conformance"]})
    }
    fn model(&self) -> &str {
        "claude-sonnet-4-5"
    }
    fn script(&self) -> &Script {
        self.0.script()
    }
    fn faults(&self) -> &Faults {
        self.0.faults()
    }
    fn last_body(&self) -> Value {
        self.0.message_bodies().pop().unwrap_or(Value::Null)
    }
    fn check_request(&self, case: Case, body: &Value) -> Result<(), String> {
        if body["system"] != SYSTEM {
            return Err(format!("system prompt not top-level: {body}"));
        }
        let msgs = body["messages"].as_array().ok_or("no messages")?;
        if msgs
            .iter()
            .any(|m| m["role"] != "user" && m["role"] != "assistant")
        {
            return Err(format!("a message has a role Anthropic refuses: {body}"));
        }
        if !body["max_tokens"].is_u64() {
            return Err("no max_tokens".into());
        }
        let ok = match case {
            Case::Image => {
                msgs[0]["content"][1]["source"]
                    == json!({"type": "base64", "media_type": "image/png", "data": super::conformance::PNG_1X1})
            }
            Case::Tools => {
                body["tools"][0]["name"] == "get_weather"
                    && body["tools"][0]["input_schema"]["type"] == "object"
            }
            Case::Json => {
                body["output_config"]["format"]["type"] == "json_schema"
                    || (body["tool_choice"]["name"] == "pylon_json_response"
                        && body["tools"][0]["name"] == "pylon_json_response")
            }
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("request lacks the {case:?} part: {body}"))
        }
    }
}
