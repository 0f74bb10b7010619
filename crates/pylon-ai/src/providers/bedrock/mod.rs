//! AWS Bedrock through the Converse API: `POST /model/{modelId}/converse`
//! and `/converse-stream` (answers in the AWS event-stream framing), signed
//! with SigV4 (service `bedrock`) from `aws` credentials or the `AWS_*`
//! environment, or sent with a Bedrock API key as a bearer token when
//! `keys` are configured.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Endpoint, HttpRequest, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::error::AiError;
use crate::types::*;

pub mod error;
pub mod eventstream;
pub mod request;
pub mod response;
pub mod sign;
pub mod stream;

pub use sign::AwsCredentials;

use request::has_tool_history;

/// The default endpoint; `{region}` is replaced by the provider's region.
pub const DEFAULT_BASE_URL: &str = "https://bedrock-runtime.{region}.amazonaws.com";
/// The SigV4 service name of the Bedrock runtime.
const SERVICE: &str = "bedrock";

/// Model ids are one path segment: everything but unreserved characters is
/// encoded (`:` → `%3A`, `/` of ARNs → `%2F`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The Bedrock provider.
pub struct Bedrock {
    base_url: String,
    region: String,
    /// SigV4 credentials; `None` when calls use API keys.
    credentials: Option<AwsCredentials>,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn build(s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(configure(s, process_env)?))
}

/// The provider for `s`, taking what the config leaves out (region,
/// credentials) from `env`.
fn configure(
    s: &ProviderSettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Bedrock, String> {
    let c = &s.config;
    let region = c
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .ok_or("kind `bedrock` needs a `region` (or AWS_REGION in the environment)")?;
    if region.is_empty()
        || !region
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
    {
        return Err(format!("`{region}` is not an AWS region name"));
    }
    let credentials = match &c.aws {
        Some(a) => Some(AwsCredentials {
            access_key_id: a.access_key_id.clone(),
            secret_access_key: a.secret_access_key.clone(),
            session_token: a.session_token.clone().filter(|t| !t.is_empty()),
        }),
        None => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(AwsCredentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: env("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        },
    };
    if credentials.is_none() && c.keys.is_empty() {
        return Err("kind `bedrock` needs credentials: `aws` (access_key_id, secret_access_key), \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or Bedrock API keys in `keys`"
            .into());
    }
    if let Some(a) = &credentials
        && (a.access_key_id.trim().is_empty() || a.secret_access_key.trim().is_empty())
    {
        return Err("`aws.access_key_id` and `aws.secret_access_key` must not be empty".into());
    }
    let base_url = match &c.base_url {
        Some(_) => s.base_url.clone(),
        None => DEFAULT_BASE_URL.replace("{region}", &region),
    };
    Ok(Bedrock {
        base_url,
        region,
        credentials,
    })
}

impl Bedrock {
    /// `{base}/model/{modelId}/converse[-stream]` with the id encoded.
    pub fn url_for(&self, model: &str, stream: bool) -> String {
        let op = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        format!(
            "{}/model/{}/{op}",
            self.base_url,
            utf8_percent_encode(model, SEGMENT)
        )
    }
}

impl Provider for Bedrock {
    fn kind(&self) -> &'static str {
        "bedrock"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        req.set_params()
            .into_iter()
            .filter(|p| match *p {
                "n"
                | "seed"
                | "presence_penalty"
                | "frequency_penalty"
                | "logprobs"
                | "top_logprobs"
                | "parallel_tool_calls"
                | "user"
                | "reasoning_effort" => true,
                "tool_choice" => req.tool_choice == Some(ToolChoice::None) && has_tool_history(req),
                "metadata" => !req
                    .metadata
                    .as_ref()
                    .and_then(|m| m.as_object())
                    .is_some_and(|m| m.values().all(serde_json::Value::is_string)),
                _ => false,
            })
            .collect()
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = request::encode_request(req, ep.model)?;
        let mut http = HttpRequest::post_json(self.url_for(ep.model, ep.stream), &body)?;
        for (k, v) in &ep.settings.headers {
            http.headers.insert(k.clone(), v.clone());
        }
        let accept = if ep.stream {
            "application/vnd.amazon.eventstream"
        } else {
            "application/json"
        };
        http.header("accept", accept)?;
        match (ep.key, &self.credentials) {
            (Some(key), _) => http.header("authorization", &format!("Bearer {key}"))?,
            (None, Some(creds)) => sign::sign_request(&mut http, creds, &self.region, SERVICE)?,
            (None, None) => {
                return Err(AiError::internal(
                    "the Bedrock provider has neither credentials nor keys",
                ));
            }
        }
        Ok(Outbound::Http(http))
    }

    fn chat_response(&self, body: &[u8], ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        response::decode_response(body, ep.model)
    }

    fn chat_stream(&self, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(stream::ConverseStreamDecoder::new(ep.model))
    }

    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        error::decode_error(status, headers, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(cfg: serde_json::Value) -> ProviderSettings {
        let config: pylon_config::AiProviderConfig = serde_json::from_value(cfg).unwrap();
        ProviderSettings {
            name: "b".into(),
            kind: "bedrock",
            base_url: config
                .base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            headers: HeaderMap::new(),
            config,
        }
    }

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn region_and_credentials_from_config_or_environment() {
        let env = env_of(&[
            ("AWS_REGION", "eu-central-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
        ]);
        let b = configure(&settings(json!({"name": "b", "kind": "bedrock"})), &env).unwrap();
        assert_eq!(b.region, "eu-central-1");
        assert_eq!(
            b.base_url,
            "https://bedrock-runtime.eu-central-1.amazonaws.com"
        );
        let c = b.credentials.clone().unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("AKIDENV", Some("envtoken"))
        );
        assert_eq!(
            b.url_for("anthropic.claude-3-haiku-20240307-v1:0", false),
            "https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        );
        assert!(b.url_for("arn:aws:bedrock:us-east-1:123:inference-profile/us.x", true)
            .ends_with("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x/converse-stream"));
        // The config wins over the environment.
        let b = configure(&settings(json!({"name": "b", "kind": "bedrock", "region": "us-west-2",
            "base_url": "http://127.0.0.1:1", "aws": {"access_key_id": "AKIDCFG", "secret_access_key": "s"}})), &env).unwrap();
        assert_eq!(
            (b.region.as_str(), b.base_url.as_str()),
            ("us-west-2", "http://127.0.0.1:1")
        );
        assert_eq!(b.credentials.unwrap().session_token, None);
        // Nothing to sign with, no region, a bad region.
        let none = env_of(&[]);
        let e = configure(
            &settings(json!({"name": "b", "kind": "bedrock", "region": "us-east-1"})),
            &none,
        )
        .err()
        .unwrap();
        assert!(e.contains("credentials"), "{e}");
        let e = configure(
            &settings(json!({"name": "b", "kind": "bedrock", "keys": ["k"]})),
            &none,
        )
        .err()
        .unwrap();
        assert!(e.contains("region"), "{e}");
        let e = configure(
            &settings(json!({"name": "b", "kind": "bedrock", "keys": ["k"], "region": "us east"})),
            &none,
        )
        .err()
        .unwrap();
        assert!(e.contains("region"), "{e}");
        assert!(
            configure(
                &settings(
                    json!({"name": "b", "kind": "bedrock", "keys": ["k"], "region": "us-east-1"})
                ),
                &none
            )
            .unwrap()
            .credentials
            .is_none()
        );
    }
}
