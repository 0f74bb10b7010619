//! A mock of Azure OpenAI: the OpenAI wire format ([`super::openai`]) at
//! `/openai/deployments/{deployment}/{chat/completions,embeddings}?api-version=...`
//! and `/openai/v1/...`, with the `api-key` header or an Entra ID bearer
//! token, Azure's error bodies (`{"error": {"code": "429", ...}}`), and its
//! content filtering: `prompt_filter_results` and per-choice
//! `content_filter_results` on answers, a first stream chunk with only the
//! prompt's filter results, and a `content_filter` error with
//! `innererror.code: ResponsibleAIPolicyViolation` when the prompt contains
//! [`FILTER_TRIGGER`].

use std::ops::Deref;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::openai::OpenAiWire;
use super::{Answer, Faults, MockAi, Reply, Script, Wire};
use crate::server::ServerHandle;

/// A prompt containing this is refused by the mock's content filter.
pub const FILTER_TRIGGER: &str = "FORBIDDEN-TOPIC";

/// The Azure OpenAI wire format.
#[derive(Debug, Clone, Default)]
pub struct AzureWire {
    /// Accepted `api-key` values.
    pub keys: Vec<String>,
    /// Accepted bearer (Entra ID) tokens.
    pub tokens: Vec<String>,
}

/// A running mock Azure OpenAI resource. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct MockAzure {
    inner: MockAi,
}

impl MockAzure {
    pub async fn with(wire: AzureWire, interval: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            inner: MockAi::start(wire, interval).await?,
        })
    }

    /// `http://127.0.0.1:<port>`: the resource endpoint to configure.
    pub fn base_url(&self) -> String {
        self.inner.handle.url()
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn script(&self) -> &Script {
        &self.inner.script
    }

    /// The JSON bodies of the recorded chat requests, oldest first.
    pub fn chat_bodies(&self) -> Vec<Value> {
        self.inner.json_bodies(&["/chat/completions"])
    }
}

impl Deref for MockAzure {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.inner.handle
    }
}

fn safe() -> Value {
    let s = json!({"filtered": false, "severity": "safe"});
    json!({"hate": s, "self_harm": s, "sexual": s, "violence": s})
}

fn error(status: StatusCode, code: &str, message: &str) -> Answer {
    Answer::Json(status, json!({"error": {"code": code, "message": message}}))
}

impl AzureWire {
    fn authorized(&self, req: &http::request::Parts) -> bool {
        let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let key_ok = h("api-key").is_some_and(|k| self.keys.iter().any(|x| x == k));
        let token_ok = h("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| self.tokens.iter().any(|x| x == t));
        key_ok || token_ok
    }

    fn content_filtered() -> Answer {
        let s = json!({"filtered": false, "severity": "safe"});
        Answer::Json(
            StatusCode::BAD_REQUEST,
            json!({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
                "type": null, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    "hate": s, "self_harm": s, "sexual": s,
                    "violence": {"filtered": true, "severity": "high"},
                    "jailbreak": {"filtered": false, "detected": false},
                }},
            }}),
        )
    }

    /// Azure's additions to an OpenAI answer.
    fn decorate(answer: Answer) -> Answer {
        match answer {
            Answer::Json(status, mut v) if status == StatusCode::OK => {
                if v["object"] == "chat.completion" {
                    v["prompt_filter_results"] =
                        json!([{"prompt_index": 0, "content_filter_results": safe()}]);
                    for c in v["choices"].as_array_mut().into_iter().flatten() {
                        c["content_filter_results"] = safe();
                    }
                }
                Answer::Json(status, v)
            }
            Answer::Stream(mut chunks) => {
                let first = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": safe()}]});
                chunks.insert(0, Bytes::from(format!("data: {first}\n\n")));
                Answer::Stream(chunks)
            }
            other => other,
        }
    }
}

impl Wire for AzureWire {
    fn error_body(&self, status: u16, message: &str) -> Value {
        json!({"error": {"code": status.to_string(), "message": message}})
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        if !self.authorized(req) {
            return error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            );
        }
        let path = req.uri.path();
        let query = req.uri.query().unwrap_or("");
        let dated = path.starts_with("/openai/deployments/")
            && path.split('/').count() >= 5
            && query
                .split('&')
                .any(|p| p.starts_with("api-version=") && p.len() > 12);
        let v1 = path.starts_with("/openai/v1/");
        if !dated && !v1 {
            return error(StatusCode::NOT_FOUND, "404", "Resource not found");
        }
        let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "400",
                "We could not parse the JSON body of your request.",
            );
        };
        if v1 && parsed["model"].as_str().is_none_or(str::is_empty) {
            return error(
                StatusCode::BAD_REQUEST,
                "400",
                "you must provide a model parameter",
            );
        }
        if parsed.to_string().contains(FILTER_TRIGGER) {
            return Self::content_filtered();
        }
        Self::decorate(OpenAiWire::default().answer(req, body, script))
    }
}
