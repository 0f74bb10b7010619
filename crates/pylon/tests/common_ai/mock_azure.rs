//! The Azure OpenAI mock as the conformance matrix drives it: a deployment
//! name in the path, `api-version`, the `api-key` header, and the OpenAI
//! request shape checked field by field.
#![allow(dead_code)]

use std::time::Duration;

use pylon_testkit::ai::azure::{AzureWire, MockAzure};
use pylon_testkit::ai::{Faults, Script};
use serde_json::{Value, json};

use super::conformance::{Case, ProviderMock, SYSTEM};

pub const KEY: &str = "azure-conformance-key-0001";
pub const DEPLOYMENT: &str = "gpt-4o-prod";

pub struct AzureMock(pub MockAzure);

pub async fn azure() -> AzureMock {
    let wire = AzureWire {
        keys: vec![KEY.into()],
        tokens: vec![],
    };
    AzureMock(
        MockAzure::with(wire, Duration::from_millis(5))
            .await
            .expect("mock azure"),
    )
}

impl ProviderMock for AzureMock {
    fn provider_config(&self) -> Value {
        json!({"name": "p", "kind": "azure", "base_url": self.0.base_url(), "keys": [KEY]})
    }
    fn model(&self) -> &str {
        DEPLOYMENT
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
        let rec = self.0.last_request().ok_or("no request recorded")?;
        let want = format!("/openai/deployments/{DEPLOYMENT}/chat/completions");
        if rec.path() != want || rec.uri.query() != Some("api-version=2024-10-21") {
            return Err(format!("wrong URL: {}", rec.uri));
        }
        if rec.header("api-key") != Some(KEY) {
            return Err("the api-key header is missing".into());
        }
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
