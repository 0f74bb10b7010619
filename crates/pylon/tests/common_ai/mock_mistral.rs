//! Mistral in the conformance matrix: the native mock (which refuses
//! OpenAI-only fields), and the check of the system prompt, image part,
//! tool and `response_format`.

use std::time::Duration;

use pylon_testkit::ai::MockNative;
use pylon_testkit::ai::mistral::MistralWire;
use serde_json::{Value, json};

use super::conformance::Case;
use super::native::{NativeMock, system_first, verdict};

pub async fn mistral() -> NativeMock {
    let mock = MockNative::start(
        MistralWire {
            keys: vec!["mistral-conformance".into()],
        },
        Duration::from_millis(2),
    )
    .await
    .expect("mock mistral");
    let provider = json!({"name": "p", "kind": "mistral", "base_url": mock.base_url(), "keys": ["mistral-conformance"]});
    NativeMock {
        mock,
        provider,
        model: "mistral-small-latest",
        check,
    }
}

fn check(case: Case, b: &Value) -> Result<(), String> {
    system_first(b)?;
    match case {
        Case::Image => verdict(
            b["messages"][1]["content"][1]["image_url"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("data:image/png;base64,")),
            "the image part",
            b,
        ),
        Case::Tools => verdict(
            b["tools"][0]["function"]["name"] == "get_weather",
            "the tool",
            b,
        ),
        Case::Json => verdict(
            b["response_format"]["type"] == "json_object",
            "JSON mode",
            b,
        ),
        _ => Ok(()),
    }
}
