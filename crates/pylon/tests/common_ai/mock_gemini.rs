//! Gemini in the conformance matrix: the native mock, and the check that
//! the request has `systemInstruction`, `inlineData`, `functionDeclarations`
//! and `responseMimeType: application/json`.

use std::time::Duration;

use pylon_testkit::ai::MockNative;
use pylon_testkit::ai::gemini::GeminiWire;
use serde_json::{Value, json};

use super::conformance::{Case, PNG_1X1, SYSTEM};
use super::native::{NativeMock, verdict};

pub async fn gemini() -> NativeMock {
    let mock = MockNative::start(
        GeminiWire {
            keys: vec!["AIza-conformance".into()],
        },
        Duration::from_millis(2),
    )
    .await
    .expect("mock gemini");
    let provider = json!({"name": "p", "kind": "gemini", "base_url": mock.base_url(), "keys": ["AIza-conformance"]});
    NativeMock {
        mock,
        provider,
        model: "gemini-2.5-flash",
        check,
    }
}

fn check(case: Case, b: &Value) -> Result<(), String> {
    verdict(
        b["systemInstruction"]["parts"][0]["text"] == SYSTEM,
        "systemInstruction",
        b,
    )?;
    match case {
        Case::Image => {
            let img = &b["contents"][0]["parts"][1]["inlineData"];
            verdict(
                img["mimeType"] == "image/png" && img["data"] == PNG_1X1,
                "the inline image",
                b,
            )
        }
        Case::Tools => {
            let d = &b["tools"][0]["functionDeclarations"][0];
            verdict(
                d["name"] == "get_weather" && d["parameters"]["type"] == "OBJECT",
                "the function declaration",
                b,
            )
        }
        Case::Json => verdict(
            b["generationConfig"]["responseMimeType"] == "application/json",
            "JSON mode",
            b,
        ),
        _ => Ok(()),
    }
}
