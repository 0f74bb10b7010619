//! The Bedrock mock as the conformance matrix drives it: Converse with SigV4
//! credentials, a model id with `:` (URL-encoded in the path), and checks
//! that the system prompt, image, tool and JSON mode arrive in Converse's form.
#![allow(dead_code)]

use pylon_testkit::ai::bedrock::{
    MockBedrock, TEST_ACCESS_KEY_ID, TEST_REGION, TEST_SECRET_ACCESS_KEY,
};
use pylon_testkit::ai::{Faults, Script};
use serde_json::{Value, json};

use super::conformance::{Case, PNG_1X1, ProviderMock, SYSTEM};

pub const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

pub struct BedrockMock(pub MockBedrock);

pub async fn bedrock() -> BedrockMock {
    BedrockMock(MockBedrock::start().await.expect("mock bedrock"))
}

/// A `bedrock` provider entry for `mock` with the test credentials.
pub fn bedrock_provider(name: &str, mock: &MockBedrock) -> Value {
    json!({
        "name": name, "kind": "bedrock", "base_url": mock.base_url(), "region": TEST_REGION,
        "aws": {"access_key_id": TEST_ACCESS_KEY_ID, "secret_access_key": TEST_SECRET_ACCESS_KEY},
    })
}

impl ProviderMock for BedrockMock {
    fn provider_config(&self) -> Value {
        bedrock_provider("p", &self.0)
    }
    fn model(&self) -> &str {
        MODEL
    }
    fn script(&self) -> &Script {
        self.0.script()
    }
    fn faults(&self) -> &Faults {
        self.0.faults()
    }
    fn last_body(&self) -> Value {
        self.0.converse_bodies().pop().unwrap_or(Value::Null)
    }
    fn check_request(&self, case: Case, body: &Value) -> Result<(), String> {
        if body["system"][0]["text"] != SYSTEM {
            return Err(format!("system prompt not in `system`: {body}"));
        }
        let user = &body["messages"][0];
        if user["role"] != "user" || body["messages"].as_array().map(Vec::len) != Some(1) {
            return Err(format!("one user message expected: {body}"));
        }
        let ok = match case {
            Case::Image => {
                user["content"][1]
                    == json!({"image": {"format": "png", "source": {"bytes": PNG_1X1}}})
            }
            Case::Tools => {
                body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
                    && body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"]
                        == "object"
            }
            // Converse has no schema-less JSON mode: an instruction joins `system`.
            Case::Json => body["system"][1]["text"]
                .as_str()
                .is_some_and(|t| t.contains("JSON object")),
            _ => user["content"][0]["text"].is_string(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("request lacks the {case:?} part: {body}"))
        }
    }
}
