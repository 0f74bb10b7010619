//! The running form of the native-format mocks (Gemini, Mistral, Cohere,
//! Ollama): a [`MockAi`] server plus where its API lives, so tests get the
//! base URL to configure and the recorded chat bodies.

use std::ops::Deref;
use std::time::Duration;

use serde_json::Value;

use super::{Faults, MockAi, Script, Wire};
use crate::server::ServerHandle;

/// A native wire format: where its API lives and which paths are chat calls.
pub trait NativeWire: Wire {
    /// Path of the API root under the server (`/v1beta`, `/v2`, ``).
    const BASE_PATH: &'static str;
    fn is_chat(path: &str) -> bool;
}

/// A running native mock. Derefs to [`ServerHandle`] (recorded requests).
#[derive(Debug)]
pub struct MockNative {
    inner: MockAi,
    base_path: &'static str,
    is_chat: fn(&str) -> bool,
}

impl MockNative {
    /// Serve `wire`; stream chunks `interval` apart.
    pub async fn start<W: NativeWire>(wire: W, interval: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            inner: MockAi::start(wire, interval).await?,
            base_path: W::BASE_PATH,
            is_chat: W::is_chat,
        })
    }

    /// The base URL a client configures (`http://127.0.0.1:<port><BASE_PATH>`).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.inner.handle.url(), self.base_path)
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn script(&self) -> &Script {
        &self.inner.script
    }

    /// The JSON bodies of the recorded chat requests, oldest first.
    pub fn chat_bodies(&self) -> Vec<Value> {
        self.inner
            .handle
            .requests()
            .iter()
            .filter(|r| (self.is_chat)(r.path()))
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }
}

impl Deref for MockNative {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.inner.handle
    }
}

/// A deterministic embedding of `text` with `dims` values.
pub fn mock_vector(text: &str, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|d| ((text.len() + d) % 7) as f32 / 7.0)
        .collect()
}

/// The bearer token of a request (empty when there is none).
pub fn bearer(req: &http::request::Parts) -> &str {
    req.headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// The text and image count of OpenAI-style `content` (a string or parts).
pub fn content_text(c: &Value) -> (String, usize) {
    match c {
        Value::String(s) => (s.clone(), 0),
        Value::Array(parts) => parts.iter().fold((String::new(), 0), |(mut t, n), p| {
            t.push_str(p["text"].as_str().unwrap_or(""));
            (t, n + usize::from(p["type"] == "image_url"))
        }),
        _ => (String::new(), 0),
    }
}

/// The texts of an embeddings `input` (a string or a list of strings).
pub fn input_texts(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect(),
        ),
        _ => None,
    }
}
