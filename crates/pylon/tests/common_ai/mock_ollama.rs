//! Ollama in the conformance matrix: the native NDJSON mock, and the check
//! of the system message, `images` array, tool and `format: "json"`.

use std::time::Duration;

use pylon_testkit::ai::MockNative;
use pylon_testkit::ai::ollama::OllamaWire;
use serde_json::{Value, json};

use super::conformance::{Case, PNG_1X1};
use super::native::{NativeMock, system_first, verdict};

pub async fn ollama() -> NativeMock {
    let mock = MockNative::start(OllamaWire, Duration::from_millis(2))
        .await
        .expect("mock ollama");
    let provider = json!({"name": "p", "kind": "ollama", "base_url": mock.base_url()});
    NativeMock {
        mock,
        provider,
        model: "llama3.2",
        check,
    }
}

fn check(case: Case, b: &Value) -> Result<(), String> {
    system_first(b)?;
    match case {
        Case::Image => verdict(
            b["messages"][1]["images"][0] == PNG_1X1,
            "the base64 image",
            b,
        ),
        Case::Tools => verdict(
            b["tools"][0]["function"]["name"] == "get_weather",
            "the tool",
            b,
        ),
        Case::Json => verdict(b["format"] == "json", "JSON mode", b),
        _ => Ok(()),
    }
}
