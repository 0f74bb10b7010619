//! Azure OpenAI: the OpenAI wire format ([`super::openai`]) at Azure's
//! URLs and with Azure's auth. Two URL styles:
//! - deployments (default): `{base}/openai/deployments/{deployment}/chat/completions?api-version=...`
//!   (`api_version` a dated version, default [`DEFAULT_API_VERSION`]);
//! - v1 (`api_version: v1`, or `preview` for `?api-version=preview`):
//!   `{base}/openai/v1/chat/completions` with the deployment as `model`.
//!
//! The key goes in `api-key`, or as `Authorization: Bearer` (Entra ID
//! tokens) with `auth: bearer`. Content filtering is read from error bodies
//! (`innererror.code: ResponsibleAIPolicyViolation`) and answers
//! (`content_filter_results`); see [`filter`].

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::openai::{EncodeOptions, embeddings, request, response, stream};
use super::{Endpoint, HttpRequest, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::error::AiError;
use crate::types::*;

pub mod filter;

/// The newest dated GA version of the data-plane inference API.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// A deployment name is one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq)]
enum Style {
    /// `/openai/deployments/{deployment}/...?api-version={0}`.
    Deployments(String),
    /// `/openai/v1/...`, with `?api-version=preview` when `preview`.
    V1 { preview: bool },
}

/// The Azure OpenAI provider.
pub struct Azure {
    /// The resource endpoint, without `/openai...`.
    base: String,
    style: Style,
    bearer: bool,
    options: EncodeOptions,
}

fn dated(v: &str) -> bool {
    let b = v.as_bytes();
    let date = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    date && (v.len() == 10 || v[10..].starts_with("-preview"))
}

pub fn build(s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    let c = &s.config;
    let style = match c.api_version.as_deref().map(str::trim) {
        None | Some("") => Style::Deployments(DEFAULT_API_VERSION.into()),
        Some("v1") => Style::V1 { preview: false },
        Some("preview" | "v1-preview") => Style::V1 { preview: true },
        Some(v) if dated(v) => Style::Deployments(v.into()),
        Some(v) => {
            return Err(format!(
                "`api_version: {v}` is neither `v1`, `preview` nor a dated version like `{DEFAULT_API_VERSION}`"
            ));
        }
    };
    let bearer = match c.auth.as_deref() {
        None | Some("api_key" | "api-key") => false,
        Some("bearer" | "entra") => true,
        Some(other) => {
            return Err(format!(
                "`auth: {other}` is not known for kind `azure`; use `api_key` or `bearer`"
            ));
        }
    };
    // Newer API versions know `max_completion_tokens` and the developer role.
    let (max_completion_tokens, developer_role) = match &style {
        Style::V1 { .. } => (true, true),
        Style::Deployments(v) => (v.as_str() >= "2024-09-01", v.as_str() >= "2024-12-01"),
    };
    let mut base = s.base_url.trim_end_matches('/').to_string();
    for suffix in ["/openai/v1", "/openai"] {
        if let Some(b) = base.strip_suffix(suffix) {
            base = b.to_string();
            break;
        }
    }
    Ok(Arc::new(Azure {
        base,
        style,
        bearer,
        options: EncodeOptions {
            max_completion_tokens,
            pass_extra: true,
            developer_as_system: !developer_role,
            drop_names: false,
        },
    }))
}

impl Azure {
    /// The URL of `op` (`chat/completions`, `embeddings`) for a deployment.
    pub fn url(&self, deployment: &str, op: &str) -> String {
        match &self.style {
            Style::Deployments(v) => format!(
                "{}/openai/deployments/{}/{op}?api-version={v}",
                self.base,
                utf8_percent_encode(deployment, SEGMENT)
            ),
            Style::V1 { preview: false } => format!("{}/openai/v1/{op}", self.base),
            Style::V1 { preview: true } => {
                format!("{}/openai/v1/{op}?api-version=preview", self.base)
            }
        }
    }

    fn request(
        &self,
        ep: &Endpoint<'_>,
        op: &str,
        body: &serde_json::Value,
    ) -> Result<HttpRequest, AiError> {
        let mut req = HttpRequest::post_json(self.url(ep.model, op), body)?;
        for (k, v) in &ep.settings.headers {
            req.headers.insert(k.clone(), v.clone());
        }
        if let Some(key) = ep.key {
            if self.bearer {
                req.header("authorization", &format!("Bearer {key}"))?;
            } else {
                req.header("api-key", key)?;
            }
        }
        Ok(req)
    }
}

impl Provider for Azure {
    fn kind(&self) -> &'static str {
        "azure"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        req.set_params()
            .into_iter()
            .filter(|p| matches!(*p, "top_k" | "reasoning_budget"))
            .collect()
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = request::encode_request(req, ep.model, self.options);
        Ok(Outbound::Http(self.request(
            ep,
            "chat/completions",
            &body,
        )?))
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        let mut r = response::decode_response(body)?;
        filter::mark_filtered_choices(body, &mut r);
        Ok(r)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(stream::ChunkDecoder::new())
    }

    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        filter::decode_error(status, headers, body)
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = embeddings::encode_request(req, ep.model);
        Ok(Outbound::Http(self.request(ep, "embeddings", &body)?))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        _ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        embeddings::decode_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylon_config::AiProviderConfig;

    fn provider(
        base: &str,
        api_version: Option<&str>,
        auth: Option<&str>,
    ) -> Result<Arc<dyn Provider>, String> {
        let config: AiProviderConfig = serde_json::from_value(serde_json::json!({
            "name": "az", "kind": "azure", "base_url": base, "keys": ["k"],
            "api_version": api_version, "auth": auth,
        }))
        .unwrap();
        build(&ProviderSettings {
            name: "az".into(),
            kind: "azure",
            base_url: base.trim_end_matches('/').into(),
            headers: HeaderMap::new(),
            config,
        })
    }

    fn sent(p: &dyn Provider, base: &str, model: &str, stream: bool) -> HttpRequest {
        let s = ProviderSettings {
            name: "az".into(),
            kind: "azure",
            base_url: base.into(),
            headers: HeaderMap::new(),
            config: serde_json::from_value(serde_json::json!({"name": "az", "kind": "azure"}))
                .unwrap(),
        };
        let ep = Endpoint {
            settings: &s,
            model,
            key: Some("secret-key"),
            stream,
        };
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::Developer, "d"),
                Message::text(Role::User, "hi"),
            ],
            max_tokens: Some(9),
            stream,
            ..Default::default()
        };
        match p.chat(&req, &ep).unwrap() {
            Outbound::Http(h) => h,
            Outbound::Local(_) => panic!("http expected"),
        }
    }

    #[test]
    fn url_styles_auth_and_version_dependent_fields() {
        let base = "https://res.openai.azure.com";
        let p = provider(base, None, None).unwrap();
        let h = sent(&*p, base, "my gpt/4o", false);
        assert_eq!(
            h.url,
            "https://res.openai.azure.com/openai/deployments/my%20gpt%2F4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(h.headers["api-key"], "secret-key");
        assert!(h.headers.get("authorization").is_none());
        let body: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(body["max_completion_tokens"], 9);
        assert_eq!(
            body["messages"][0]["role"], "system",
            "2024-10-21 predates the developer role"
        );

        let p = provider(
            "https://res.openai.azure.com/openai/v1/",
            Some("v1"),
            Some("bearer"),
        )
        .unwrap();
        let h = sent(&*p, base, "dep", true);
        assert_eq!(
            h.url,
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(h.headers["authorization"], "Bearer secret-key");
        assert!(h.headers.get("api-key").is_none());
        let body: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(body["model"], "dep");
        assert_eq!(body["messages"][0]["role"], "developer");
        assert_eq!(body["stream_options"]["include_usage"], true);

        let p = provider(base, Some("preview"), None).unwrap();
        assert_eq!(
            sent(&*p, base, "d", false).url,
            "https://res.openai.azure.com/openai/v1/chat/completions?api-version=preview"
        );
        let p = provider(base, Some("2024-06-01"), None).unwrap();
        let h = sent(&*p, base, "d", false);
        assert!(h.url.ends_with("?api-version=2024-06-01"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&h.body).unwrap()["max_tokens"],
            9
        );
        assert!(provider(base, Some("2025-04-01-preview"), None).is_ok());
        assert!(
            provider(base, Some("latest"), None)
                .err()
                .unwrap()
                .contains("api_version")
        );
        assert!(
            provider(base, None, Some("oauth"))
                .err()
                .unwrap()
                .contains("auth")
        );
    }
}
