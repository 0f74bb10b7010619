//! The conformance [`ProviderMock`] for the native-format testkit mocks
//! (Gemini, Mistral, Cohere, Ollama): the mock, its provider entry, and a
//! provider-specific check of the native request.
#![allow(dead_code)]

use pylon_testkit::ai::{Faults, MockNative, Script};
use serde_json::Value;

use super::conformance::{Case, ProviderMock, SYSTEM};

/// Checks that a native request carries what a case sent, in the provider's form.
pub type Check = fn(Case, &Value) -> Result<(), String>;

pub struct NativeMock {
    pub mock: MockNative,
    pub provider: Value,
    pub model: &'static str,
    pub check: Check,
}

impl ProviderMock for NativeMock {
    fn provider_config(&self) -> Value {
        self.provider.clone()
    }
    fn model(&self) -> &str {
        self.model
    }
    fn script(&self) -> &Script {
        self.mock.script()
    }
    fn faults(&self) -> &Faults {
        self.mock.faults()
    }
    fn last_body(&self) -> Value {
        self.mock.chat_bodies().pop().unwrap_or(Value::Null)
    }
    fn check_request(&self, case: Case, body: &Value) -> Result<(), String> {
        (self.check)(case, body)
    }
}

/// `Ok` when `ok`, else an error naming the case and showing the body.
pub fn verdict(ok: bool, what: &str, body: &Value) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("request lacks {what}: {body}"))
    }
}

/// The check of OpenAI-like `messages` (system first with the prompt).
pub fn system_first(body: &Value) -> Result<(), String> {
    let m = &body["messages"][0];
    verdict(
        m["role"] == "system" && m["content"] == SYSTEM,
        "the system prompt first",
        body,
    )
}
