//! The OpenAI Chat Completions API as the conformance matrix drives it.
#![allow(dead_code)]

use serde_json::{Value, json};

use super::conformance::{Case, Inbound, Outcome, PNG_1X1, SYSTEM};
use super::{assemble_chunks, sse_json};

pub struct ChatCompletions;

/// The tool every tools case offers.
pub fn weather_tool_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]})
}

impl Inbound for ChatCompletions {
    fn name(&self) -> &'static str {
        "chat_completions"
    }

    fn path(&self) -> &'static str {
        "/v1/chat/completions"
    }

    fn body(&self, model: &str, case: Case, stream: bool) -> Value {
        let user = if case == Case::Image {
            json!([{"type": "text", "text": "What is in this image?"},
                   {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1X1}")}}])
        } else {
            json!("What is the weather in Paris?")
        };
        let mut b = json!({
            "model": model, "max_tokens": 64,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        });
        if case == Case::Tools {
            b["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather by city", "parameters": weather_tool_schema()}}]);
        }
        if case == Case::Json {
            b["response_format"] = json!({"type": "json_object"});
        }
        if stream {
            b["stream"] = json!(true);
            b["stream_options"] = json!({"include_usage": true});
        }
        b
    }

    fn parse(&self, body: &str, stream: bool) -> Result<Outcome, String> {
        let (text, calls, finish, usage) = if stream {
            if !body.trim_end().ends_with("data: [DONE]") {
                return Err(format!("stream does not end with [DONE]: {body}"));
            }
            assemble_chunks(&sse_json(body))
        } else {
            let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
            let m = &v["choices"][0]["message"];
            let calls = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or("").to_string(),
                        c["function"]["name"].as_str().unwrap_or("").to_string(),
                        c["function"]["arguments"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect();
            (
                m["content"].as_str().unwrap_or("").to_string(),
                calls,
                v["choices"][0]["finish_reason"]
                    .as_str()
                    .map(str::to_string),
                Some(v["usage"].clone()),
            )
        };
        let usage = usage.ok_or("no usage")?;
        Ok(Outcome {
            text,
            tool_ids_present: calls.iter().all(|c| !c.0.is_empty()),
            tool_calls: calls
                .into_iter()
                .map(|(_, n, a)| (n, serde_json::from_str(&a).unwrap_or(Value::String(a))))
                .collect(),
            finish: finish.unwrap_or_default(),
            input_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
        })
    }

    fn check_rate_limited(&self, body: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
        if v["error"]["type"] != "rate_limit_error" || !v["error"]["message"].is_string() {
            return Err(format!("not an OpenAI rate-limit error: {v}"));
        }
        Ok(())
    }
}
