//! Cohere v2 in the conformance matrix: the native mock, and the check of
//! the system message, `image_url` block, tool and `response_format`.

use std::time::Duration;

use pylon_testkit::ai::MockNative;
use pylon_testkit::ai::cohere::CohereWire;
use serde_json::{Value, json};

use super::conformance::Case;
use super::native::{NativeMock, system_first, verdict};

pub async fn cohere() -> NativeMock {
    let mock = MockNative::start(
        CohereWire {
            keys: vec!["co-conformance".into()],
        },
        Duration::from_millis(2),
    )
    .await
    .expect("mock cohere");
    let provider = json!({"name": "p", "kind": "cohere", "base_url": mock.base_url(), "keys": ["co-conformance"]});
    NativeMock {
        mock,
        provider,
        model: "command-a-03-2025",
        check,
    }
}

fn check(case: Case, b: &Value) -> Result<(), String> {
    system_first(b)?;
    match case {
        Case::Image => {
            let part = &b["messages"][1]["content"][1];
            verdict(
                part["type"] == "image_url"
                    && part["image_url"]["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("data:image/png;base64,")),
                "the image block",
                b,
            )
        }
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
