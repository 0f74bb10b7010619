//! Anthropic: the Messages wire format (shared by the inbound `/v1/messages`
//! API and the provider) and the Anthropic provider itself: `POST
//! {base}/messages` with `x-api-key` and `anthropic-version` (the provider's
//! `api_version`, default `2023-06-01`), and `POST {base}/messages/count_tokens`.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};

use super::{Endpoint, HttpRequest, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::catalog::ModelInfo;
use crate::error::AiError;
use crate::types::*;

pub mod encode;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;

/// The `anthropic-version` sent when the config names none.
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// The Anthropic provider.
pub struct Anthropic {
    version: String,
}

pub fn build(s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    let version = s
        .config
        .api_version
        .clone()
        .unwrap_or_else(|| DEFAULT_VERSION.to_string());
    if http::HeaderValue::from_str(&version).is_err() {
        return Err(format!(
            "api_version `{version}` is not a valid header value"
        ));
    }
    Ok(Arc::new(Anthropic { version }))
}

impl Anthropic {
    fn request(
        &self,
        ep: &Endpoint<'_>,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<HttpRequest, AiError> {
        let mut req = HttpRequest::post_json(format!("{}{path}", ep.settings.base_url), body)?;
        req.header("anthropic-version", &self.version)?;
        for (k, v) in &ep.settings.headers {
            req.headers.insert(k.clone(), v.clone());
        }
        if let Some(key) = ep.key {
            req.header("x-api-key", key)?;
        }
        Ok(req)
    }
}

/// Parameters set in `req` that the Messages API has no place for.
pub fn unsupported(req: &ChatRequest) -> Vec<&'static str> {
    let thinking = req.reasoning_budget.is_some()
        || req.reasoning_effort.as_deref().is_some_and(|e| e != "none");
    req.set_params()
        .into_iter()
        .filter(|p| match *p {
            "n" | "seed" | "presence_penalty" | "frequency_penalty" | "logprobs"
            | "top_logprobs" | "metadata" => true,
            // The forced JSON tool cannot be combined with extended thinking.
            "response_format" => {
                thinking && matches!(req.response_format, Some(ResponseFormat::JsonObject))
            }
            _ => false,
        })
        .collect()
}

impl Provider for Anthropic {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        unsupported(req)
    }

    /// Anthropic requires `max_tokens`: the model's output limit from the
    /// catalog (kept inside its context window), else 4096.
    fn default_max_tokens(&self, req: &ChatRequest, info: Option<&ModelInfo>) -> Option<u32> {
        let Some(m) = info else {
            return Some(encode::DEFAULT_MAX_TOKENS);
        };
        let mut n = m
            .max_output_tokens
            .unwrap_or(u64::from(encode::DEFAULT_MAX_TOKENS));
        if let Some(cw) = m.context_window {
            let room = cw.saturating_sub(crate::tokens::estimate_prompt(req));
            if room >= 1 {
                n = n.min(room);
            }
        }
        Some(u32::try_from(n).unwrap_or(u32::MAX).max(1))
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = encode::encode_request(req, ep.model)?;
        Ok(Outbound::Http(self.request(ep, "/messages", &body)?))
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        response::decode_response(body)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(stream::EventDecoder::new())
    }

    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        error::decode_error(status, headers, body)
    }

    fn count_tokens(
        &self,
        req: &ChatRequest,
        ep: &Endpoint<'_>,
    ) -> Option<Result<Outbound, AiError>> {
        Some(
            encode::encode_count_tokens(req, ep.model)
                .and_then(|body| self.request(ep, "/messages/count_tokens", &body))
                .map(Outbound::Http),
        )
    }

    fn count_tokens_response(&self, body: &[u8]) -> Result<u64, AiError> {
        #[derive(serde::Deserialize)]
        struct Count {
            input_tokens: u64,
        }
        serde_json::from_slice::<Count>(body)
            .map(|c| c.input_tokens)
            .map_err(|e| {
                AiError::bad_response(format!("the provider's token count is not readable: {e}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylon_config::AiProviderConfig;

    fn settings(version: Option<&str>) -> ProviderSettings {
        ProviderSettings {
            name: "claude".into(),
            kind: "anthropic",
            base_url: "https://api.anthropic.com/v1".into(),
            headers: HeaderMap::new(),
            config: serde_json::from_value::<AiProviderConfig>(serde_json::json!(
                {"name": "claude", "kind": "anthropic", "api_version": version}
            ))
            .unwrap(),
        }
    }

    #[test]
    fn requests_carry_key_version_and_path() {
        let s = settings(None);
        let p = build(&s).unwrap();
        let ep = Endpoint {
            settings: &s,
            model: "claude-sonnet-4-5",
            key: Some("sk-ant-k1"),
            stream: false,
        };
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..Default::default()
        };
        let Outbound::Http(h) = p.chat(&req, &ep).unwrap() else {
            panic!("http")
        };
        assert_eq!(h.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(h.headers["x-api-key"], "sk-ant-k1");
        assert_eq!(h.headers["anthropic-version"], DEFAULT_VERSION);
        assert!(h.headers.get("authorization").is_none());
        let Some(Ok(Outbound::Http(c))) = p.count_tokens(&req, &ep) else {
            panic!("count")
        };
        assert_eq!(c.url, "https://api.anthropic.com/v1/messages/count_tokens");
        let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        assert!(body.get("max_tokens").is_none(), "{body}");
        assert_eq!(
            p.count_tokens_response(br#"{"input_tokens": 12}"#).unwrap(),
            12
        );
        let s = settings(Some("2024-01-01"));
        let p = build(&s).unwrap();
        let ep = Endpoint {
            settings: &s,
            model: "m",
            key: None,
            stream: true,
        };
        let Outbound::Http(h) = p.chat(&req, &ep).unwrap() else {
            panic!("http")
        };
        assert_eq!(h.headers["anthropic-version"], "2024-01-01");
        assert!(build(&settings(Some("bad\nversion"))).is_err());
    }

    #[test]
    fn unsupported_params_and_default_max_tokens() {
        let req = ChatRequest {
            n: Some(2),
            seed: Some(1),
            logprobs: Some(true),
            presence_penalty: Some(0.1),
            frequency_penalty: Some(0.1),
            top_k: Some(5),
            stop: vec!["x".into()],
            response_format: Some(ResponseFormat::JsonObject),
            ..Default::default()
        };
        assert_eq!(
            unsupported(&req),
            [
                "n",
                "seed",
                "presence_penalty",
                "frequency_penalty",
                "logprobs"
            ]
        );
        let thinking = ChatRequest {
            reasoning_effort: Some("high".into()),
            ..req.clone()
        };
        assert!(unsupported(&thinking).contains(&"response_format"));
        let p = Anthropic {
            version: DEFAULT_VERSION.into(),
        };
        assert_eq!(p.default_max_tokens(&req, None), Some(4096));
        let info = ModelInfo {
            max_output_tokens: Some(64_000),
            context_window: Some(200_000),
            ..Default::default()
        };
        assert_eq!(p.default_max_tokens(&req, Some(&info)), Some(64_000));
        let small = ModelInfo {
            max_output_tokens: Some(64_000),
            context_window: Some(1000),
            ..Default::default()
        };
        let n = p.default_max_tokens(&req, Some(&small)).unwrap();
        assert!(n < 1000, "kept inside the context window: {n}");
    }
}
