//! What the mock says: fixture text or an echo of the prompt, a tool call
//! when a fixture or `tool_choice` asks for one, JSON when `response_format`
//! asks for it; as a whole OpenAI answer or as OpenAI stream chunks.

use bytes::Bytes;
use pylon_config::MockFixture;
use serde_json::{Value, json};

use crate::sse::write_event;
use crate::types::*;

pub(super) struct Answer {
    model: String,
    id: String,
    choices: u32,
    text: Option<String>,
    tool: Option<(String, String)>,
    usage: Usage,
}

impl Answer {
    pub(super) fn new(req: &ChatRequest, fixture: Option<&MockFixture>, model: &str) -> Self {
        let prompt = req.last_user_text();
        let images = req.image_count();
        let forced = match &req.tool_choice {
            Some(ToolChoice::Tool(name)) => Some(name.clone()),
            Some(ToolChoice::Required) => req.tools.first().map(|t| t.name.clone()),
            _ => None,
        };
        let tool = fixture
            .and_then(|f| f.tool_call.as_ref())
            .map(|t| (t.name.clone(), t.arguments.to_string()))
            .or_else(|| forced.map(|n| (n, "{}".to_string())));
        let text = if tool.is_some() && fixture.and_then(|f| f.text.as_ref()).is_none() {
            None
        } else {
            let base = fixture.and_then(|f| f.text.clone()).unwrap_or_else(|| {
                let mut s = if prompt.is_empty() {
                    "Hello from the Pylon mock provider.".to_string()
                } else {
                    format!("You said: {prompt}")
                };
                if images > 0 {
                    s.push_str(&format!(" ({images} image(s) received)"));
                }
                s
            });
            Some(match &req.response_format {
                Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }) => {
                    if serde_json::from_str::<Value>(&base).is_ok() {
                        base
                    } else {
                        json!({ "answer": base }).to_string()
                    }
                }
                _ => base,
            })
        };
        let mut out_tokens = text.as_deref().map_or(0, crate::tokens::estimate_text);
        if let Some((n, a)) = &tool {
            out_tokens += crate::tokens::estimate_text(n) + crate::tokens::estimate_text(a) + 3;
        }
        let choices = req.n.unwrap_or(1).clamp(1, 8);
        Answer {
            model: model.to_string(),
            id: format!("chatcmpl-mock-{}", uuid::Uuid::new_v4().simple()),
            choices,
            text,
            tool,
            usage: Usage {
                input_tokens: crate::tokens::estimate_prompt(req),
                output_tokens: out_tokens * u64::from(choices),
                ..Default::default()
            },
        }
    }

    fn finish(&self) -> &'static str {
        if self.tool.is_some() {
            "tool_calls"
        } else {
            "stop"
        }
    }

    fn tool_calls(&self, i: u32) -> Value {
        match &self.tool {
            Some((name, args)) => {
                json!([{"id": format!("call_mock_{i}"), "type": "function", "function": {"name": name, "arguments": args}}])
            }
            None => Value::Null,
        }
    }

    pub(super) fn json(&self) -> Value {
        let choices: Vec<Value> = (0..self.choices)
            .map(|i| {
                let mut msg = json!({"role": "assistant", "content": self.text});
                if self.tool.is_some() {
                    msg["tool_calls"] = self.tool_calls(i);
                }
                json!({"index": i, "message": msg, "finish_reason": self.finish(), "logprobs": null})
            })
            .collect();
        json!({
            "id": self.id, "object": "chat.completion", "created": unix_now(), "model": self.model,
            "choices": choices,
            "usage": crate::providers::openai::response::encode_usage(&self.usage),
        })
    }

    pub(super) fn sse_chunks(&self, words_per_chunk: usize) -> Vec<Bytes> {
        let created = unix_now();
        let chunk = |choices: Value, usage: Option<Value>| {
            let mut v = json!({"id": self.id, "object": "chat.completion.chunk", "created": created, "model": self.model, "choices": choices});
            if let Some(u) = usage {
                v["usage"] = u;
            }
            let mut out = bytes::BytesMut::new();
            write_event(&mut out, None, &v.to_string());
            out.freeze()
        };
        let mut out = Vec::new();
        for i in 0..self.choices {
            out.push(chunk(json!([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]), None));
            if let Some(text) = &self.text {
                let words: Vec<&str> = text.split_inclusive(' ').collect();
                for piece in words.chunks(words_per_chunk) {
                    out.push(chunk(json!([{"index": i, "delta": {"content": piece.concat()}, "finish_reason": null}]), None));
                }
            }
            if let Some((name, args)) = &self.tool {
                out.push(chunk(json!([{"index": i, "delta": {"tool_calls": [{"index": 0, "id": format!("call_mock_{i}"), "type": "function", "function": {"name": name, "arguments": ""}}]}, "finish_reason": null}]), None));
                // Arguments split in two, as real providers do.
                let mid = args
                    .char_indices()
                    .nth(args.chars().count() / 2)
                    .map_or(0, |(b, _)| b);
                for part in [&args[..mid], &args[mid..]] {
                    out.push(chunk(json!([{"index": i, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}, "finish_reason": null}]), None));
                }
            }
            out.push(chunk(
                json!([{"index": i, "delta": {}, "finish_reason": self.finish()}]),
                None,
            ));
        }
        out.push(chunk(
            json!([]),
            Some(crate::providers::openai::response::encode_usage(
                &self.usage,
            )),
        ));
        let mut done = bytes::BytesMut::new();
        write_event(&mut done, None, "[DONE]");
        out.push(done.freeze());
        out
    }
}

/// A unit vector from the words of `text` (feature hashing with signs).
pub(super) fn bag_of_words(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.to_lowercase().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let idx = (h % dims as u64) as usize;
        v[idx] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else if let Some(first) = v.first_mut() {
        *first = 1.0;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn similar_texts_have_similar_vectors() {
        let a = bag_of_words("what is the capital of France", 64);
        let b = bag_of_words("What is the capital of france?", 64);
        let c = bag_of_words("recipe for banana bread", 64);
        assert!((cos(&a, &b) - 1.0).abs() < 1e-5);
        assert!(cos(&a, &c) < 0.5);
    }
}
