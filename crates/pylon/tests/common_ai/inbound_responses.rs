//! The OpenAI Responses API as the conformance matrix drives it. Streams are
//! checked for a well-formed event sequence (sequence numbers, created
//! first, completed last, deltas that add up to the final items).
#![allow(dead_code)]

use serde_json::{Value, json};

use super::conformance::{Case, Inbound, Outcome, PNG_1X1, SYSTEM};
use super::inbound_openai::weather_tool_schema;
use super::sse_events;

pub struct Responses;

fn outcome_of(resp: &Value) -> Result<Outcome, String> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut ids = true;
    for item in resp["output"].as_array().ok_or("no output")? {
        match item["type"].as_str() {
            Some("message") => {
                for c in item["content"].as_array().into_iter().flatten() {
                    text.push_str(c["text"].as_str().unwrap_or(""));
                }
            }
            Some("function_call") => {
                ids &= item["call_id"].as_str().is_some_and(|s| !s.is_empty());
                let args = item["arguments"].as_str().unwrap_or("");
                calls.push((
                    item["name"].as_str().unwrap_or("").to_string(),
                    serde_json::from_str(args).unwrap_or(Value::String(args.into())),
                ));
            }
            _ => {}
        }
    }
    let finish = match (
        resp["status"].as_str(),
        resp["incomplete_details"]["reason"].as_str(),
    ) {
        (Some("incomplete"), Some("max_output_tokens")) => "length",
        (Some("incomplete"), _) => "content_filter",
        _ if !calls.is_empty() => "tool_calls",
        _ => "stop",
    };
    Ok(Outcome {
        text,
        tool_calls: calls,
        tool_ids_present: ids,
        finish: finish.into(),
        input_tokens: resp["usage"]["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: resp["usage"]["output_tokens"].as_u64().unwrap_or(0),
    })
}

impl Inbound for Responses {
    fn name(&self) -> &'static str {
        "responses"
    }

    fn path(&self) -> &'static str {
        "/v1/responses"
    }

    fn body(&self, model: &str, case: Case, stream: bool) -> Value {
        let mut content = vec![
            json!({"type": "input_text", "text": if case == Case::Image { "What is in this image?" } else { "What is the weather in Paris?" }}),
        ];
        if case == Case::Image {
            content.push(json!({"type": "input_image", "image_url": format!("data:image/png;base64,{PNG_1X1}")}));
        }
        let mut b = json!({
            "model": model, "instructions": SYSTEM, "max_output_tokens": 64, "stream": stream,
            "input": [{"role": "user", "content": content}],
        });
        if case == Case::Tools {
            b["tools"] = json!([{"type": "function", "name": "get_weather", "description": "Weather by city", "parameters": weather_tool_schema()}]);
        }
        if case == Case::Json {
            b["text"] = json!({"format": {"type": "json_object"}});
        }
        b
    }

    fn parse(&self, body: &str, stream: bool) -> Result<Outcome, String> {
        if !stream {
            let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
            if v["object"] != "response" {
                return Err(format!("not a response object: {v}"));
            }
            return outcome_of(&v);
        }
        let events: Vec<(String, Value)> = sse_events(body)
            .into_iter()
            .map(|(e, d)| {
                (
                    e.unwrap_or_default(),
                    serde_json::from_str(&d).unwrap_or(Value::Null),
                )
            })
            .collect();
        for (i, (name, v)) in events.iter().enumerate() {
            if v["type"] != name.as_str() || v["sequence_number"] != i as u64 {
                return Err(format!(
                    "event {i} `{name}` has type {} seq {}",
                    v["type"], v["sequence_number"]
                ));
            }
        }
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        if names.first() != Some(&"response.created") || names.last() != Some(&"response.completed")
        {
            return Err(format!("bad event order: {names:?}"));
        }
        let delta_text: String = events
            .iter()
            .filter(|(n, _)| n == "response.output_text.delta")
            .map(|(_, v)| v["delta"].as_str().unwrap_or(""))
            .collect();
        let delta_args: String = events
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.delta")
            .map(|(_, v)| v["delta"].as_str().unwrap_or(""))
            .collect();
        let added = names
            .iter()
            .filter(|n| **n == "response.output_item.added")
            .count();
        let done = names
            .iter()
            .filter(|n| **n == "response.output_item.done")
            .count();
        if added != done {
            return Err(format!("{added} items added but {done} done"));
        }
        let out = outcome_of(&events.last().ok_or("no events")?.1["response"])?;
        if out.text != delta_text {
            return Err(format!(
                "deltas {delta_text:?} != final text {:?}",
                out.text
            ));
        }
        let final_args: String = out.tool_calls.iter().map(|(_, a)| a.to_string()).collect();
        if !delta_args.is_empty()
            && serde_json::from_str::<Value>(&delta_args)
                .map(|v| v.to_string())
                .ok()
                != Some(final_args.clone())
        {
            return Err(format!(
                "argument deltas {delta_args:?} != final {final_args:?}"
            ));
        }
        Ok(out)
    }

    fn check_rate_limited(&self, body: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
        if v["error"]["type"] != "rate_limit_error" {
            return Err(format!("not an OpenAI rate-limit error: {v}"));
        }
        Ok(())
    }
}
