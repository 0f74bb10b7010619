//! A mock of the Gemini API (`/v1beta`): `models/{model}:generateContent`
//! (a `GenerateContentResponse`), `:streamGenerateContent?alt=sse` (one SSE
//! event per response chunk: text in pieces, function calls whole and
//! without ids, `finishReason` and full `usageMetadata` on the last chunk)
//! and `:batchEmbedContents`; the key in `x-goog-api-key` (or `?key=`),
//! refused as Google does (400 `API_KEY_INVALID`); errors in Google's
//! `{"error": {"code", "message", "status"}}` shape.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::native::{NativeWire, mock_vector};
use super::{Answer, Reply, Wire, decide, pieces};

/// The Gemini wire format.
#[derive(Debug, Clone, Default)]
pub struct GeminiWire {
    /// Accepted API keys; empty accepts any (or none).
    pub keys: Vec<String>,
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// The text and image count of one content's parts.
fn parts_of(content: &Value) -> (String, usize) {
    let mut text = String::new();
    let mut images = 0;
    for p in content["parts"].as_array().into_iter().flatten() {
        if let Some(t) = p["text"].as_str() {
            text.push_str(t);
        }
        if p.get("inlineData").is_some() || p.get("fileData").is_some() {
            images += 1;
        }
    }
    (text, images)
}

fn reply_for(body: &Value) -> Reply {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let last = contents.last().cloned().unwrap_or(Value::Null);
    let after_tool = last["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|p| p.get("functionResponse"))
        .map(|f| match &f["response"]["output"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    let (last_user, images) = contents
        .iter()
        .rev()
        .find(|c| c["role"] == "user" && c["parts"][0].get("functionResponse").is_none())
        .map(parts_of)
        .unwrap_or_default();
    let tools: Vec<String> = if body["toolConfig"]["functionCallingConfig"]["mode"] == "NONE" {
        Vec::new()
    } else {
        body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t["functionDeclarations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect()
    };
    let json = body["generationConfig"]["responseMimeType"] == "application/json";
    let prompt_chars = contents
        .iter()
        .chain(std::iter::once(&body["systemInstruction"]))
        .map(|c| parts_of(c).0.chars().count())
        .sum();
    decide(
        &last_user,
        images,
        &tools,
        after_tool.as_deref(),
        json,
        prompt_chars,
    )
}

fn usage(r: &Reply, output: bool) -> Value {
    let mut u = json!({"promptTokenCount": r.input_tokens, "totalTokenCount": r.input_tokens});
    if output {
        u["candidatesTokenCount"] = json!(r.output_tokens);
        u["totalTokenCount"] = json!(r.input_tokens + r.output_tokens);
    }
    if r.cached_tokens > 0 {
        u["cachedContentTokenCount"] = json!(r.cached_tokens);
    }
    u
}

fn response(model: &str, parts: Vec<Value>, finish: bool, usage: Value) -> Value {
    let mut cand = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if finish {
        cand["finishReason"] = json!("STOP");
    }
    json!({"candidates": [cand], "usageMetadata": usage, "modelVersion": model, "responseId": "mock-resp-1"})
}

fn call_parts(r: &Reply) -> Vec<Value> {
    r.tool_calls
        .iter()
        .map(|(_, name, args)| {
            let args: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
            json!({"functionCall": {"name": name, "args": args}})
        })
        .collect()
}

impl GeminiWire {
    fn chat(&self, model: &str, body: &Value, stream: bool, script: Option<Reply>) -> Answer {
        let r = script.unwrap_or_else(|| reply_for(body));
        if !stream {
            let mut parts: Vec<Value> = r.text.iter().map(|t| json!({"text": t})).collect();
            parts.extend(call_parts(&r));
            return Answer::Json(
                StatusCode::OK,
                response(model, parts, true, usage(&r, true)),
            );
        }
        let event = |v: Value| Bytes::from(format!("data: {v}\r\n\r\n"));
        let mut out: Vec<Bytes> = r
            .text
            .as_deref()
            .map(|t| pieces(t, 4))
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                event(response(
                    model,
                    vec![json!({"text": p})],
                    false,
                    usage(&r, false),
                ))
            })
            .collect();
        out.push(event(response(
            model,
            call_parts(&r),
            true,
            usage(&r, true),
        )));
        Answer::Stream(out)
    }

    fn embed(body: &Value) -> Answer {
        let embeddings: Vec<Value> = body["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let (text, _) = parts_of(&r["content"]);
                let dims = r["outputDimensionality"].as_u64().unwrap_or(8) as usize;
                json!({"values": mock_vector(&text, dims)})
            })
            .collect();
        Answer::Json(StatusCode::OK, json!({ "embeddings": embeddings }))
    }
}

impl NativeWire for GeminiWire {
    const BASE_PATH: &'static str = "/v1beta";
    fn is_chat(path: &str) -> bool {
        path.contains("generateContent") || path.contains("GenerateContent")
    }
}

impl Wire for GeminiWire {
    fn error_body(&self, status: u16, message: &str) -> Value {
        json!({"error": {"code": status, "message": message, "status": status_name(status)}})
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        let query_key = req.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("key="))
                .map(str::to_string)
        });
        let given = req
            .headers
            .get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or(query_key)
            .unwrap_or_default();
        if !self.keys.is_empty() && !self.keys.contains(&given) {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
            );
        }
        let path = req.uri.path();
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                self.error_body(400, "Invalid JSON payload received."),
            );
        };
        let Some((model, method)) = path
            .strip_prefix("/v1beta/models/")
            .and_then(|rest| rest.split_once(':'))
        else {
            return Answer::Json(
                StatusCode::NOT_FOUND,
                self.error_body(404, &format!("Method not found: {path}")),
            );
        };
        match method {
            "generateContent" => self.chat(model, &body, false, script),
            "streamGenerateContent" if req.uri.query().is_some_and(|q| q.contains("alt=sse")) => {
                self.chat(model, &body, true, script)
            }
            "batchEmbedContents" => Self::embed(&body),
            _ => Answer::Json(
                StatusCode::NOT_FOUND,
                self.error_body(404, &format!("Method not found: {method}")),
            ),
        }
    }
}
