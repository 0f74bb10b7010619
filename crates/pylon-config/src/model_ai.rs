//! The AI part of the config model: providers (with key pools), public model
//! names (aliases and groups over deployments, with routing strategies and
//! fallbacks), catalog overrides, and the `ai` route action.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model_governance::{AiLimitConfig, BudgetConfig, VirtualKeyConfig};

/// The AI gateway: providers, the models callers ask for, and how calls retry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiConfig {
    pub providers: Vec<AiProviderConfig>,
    /// Public model names (groups over deployments, with aliases).
    pub models: Vec<AiModelConfig>,
    /// Catalog entries that add to the shipped model catalog, or change the
    /// fields they set of a shipped entry (same provider and id).
    pub catalog: Vec<CatalogModelConfig>,
    pub retries: AiRetryConfig,
    /// What to do with a request parameter a provider cannot honour.
    pub unsupported_params: UnsupportedParams,
    /// Guardrails on every AI route (a route's own `guardrails` replaces them).
    pub guardrails: Option<GuardrailsConfig>,
    /// Pylon-issued keys for AI callers; when there are any, AI routes without an
    /// authentication policy require one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_keys: Vec<VirtualKeyConfig>,
    /// Budgets in dollars per period over keys, users, teams, tenants or models.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetConfig>,
    /// Request, token and concurrency limits over keys, users, teams, tenants or models.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<AiLimitConfig>,
}

/// How a request parameter that the chosen provider does not support is treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedParams {
    /// Leave it out of the provider call (and note it in the call record).
    #[default]
    Drop,
    /// Refuse the request with 400 naming the parameter.
    Reject,
}

/// One AI provider account: its kind, endpoint and keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiProviderConfig {
    pub name: String,
    /// `openai`, `azure`, `anthropic`, `gemini`, `bedrock`, `mistral`, `cohere`,
    /// `ollama`, `openai_compatible`, `mock`, or the name of an OpenAI-compatible
    /// preset (`groq`, `deepseek`, `together`, ...).
    pub kind: String,
    /// Base URL of the API; defaults to the kind's or preset's public endpoint.
    #[serde(default)]
    pub base_url: Option<String>,
    /// API keys, used as a pool (a key refused with 401/403 is disabled, a
    /// rate-limited one cools down). Each may be `${ENV}` or `${file:...}`.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Extra headers sent on every call.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// API version: Azure's `api-version`, Anthropic's `anthropic-version`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// How the key is sent where a kind allows a choice (Azure: `api_key`
    /// header or `bearer` for Entra ID tokens).
    #[serde(default)]
    pub auth: Option<String>,
    /// AWS region (Bedrock).
    #[serde(default)]
    pub region: Option<String>,
    /// AWS credentials (Bedrock); default: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and `AWS_SESSION_TOKEN` from the environment.
    #[serde(default)]
    pub aws: Option<AwsCredentialsConfig>,
    #[serde(default)]
    pub timeouts: AiTimeouts,
    /// Overrides `ai.unsupported_params` for this provider.
    #[serde(default)]
    pub unsupported_params: Option<UnsupportedParams>,
    /// TLS towards the provider (custom CA, or verification off for tests).
    #[serde(default)]
    pub tls: crate::UpstreamTlsConfig,
    /// Settings of the offline `mock` provider.
    #[serde(default)]
    pub mock: Option<MockProviderConfig>,
}

/// Static AWS credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentialsConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

/// Timeouts of provider calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiTimeouts {
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// Until the response head (and, for streams, the first event) arrives.
    #[serde(with = "humantime_serde")]
    pub first_byte: Duration,
    /// Longest pause between two chunks of a streamed answer.
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
    /// The whole call, body included.
    #[serde(with = "humantime_serde")]
    pub total: Duration,
}

impl Default for AiTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(120),
            total: Duration::from_secs(600),
        }
    }
}

/// The offline mock provider: answers from fixtures or echoes the prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MockProviderConfig {
    /// Answers chosen by the first fixture whose pattern matches the last user message.
    pub fixtures: Vec<MockFixture>,
    /// Delay between streamed chunks.
    #[serde(with = "humantime_serde")]
    pub chunk_delay: Duration,
    /// Delay before the answer starts.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Words per streamed text chunk.
    pub words_per_chunk: Option<usize>,
}

/// One canned mock answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockFixture {
    /// Regular expression searched in the last user message; absent matches all.
    #[serde(default, rename = "match")]
    pub pattern: Option<String>,
    /// Text of the answer.
    #[serde(default)]
    pub text: Option<String>,
    /// A tool call in the answer: the tool's name and its JSON arguments.
    #[serde(default)]
    pub tool_call: Option<MockToolCall>,
    /// Answer with this error status instead (e.g. 429, 500).
    #[serde(default)]
    pub status: Option<u16>,
}

/// A tool call the mock answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockToolCall {
    pub name: String,
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// A public model name and the deployments behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiModelConfig {
    /// The name callers use in `model`.
    pub name: String,
    /// Other names for the same model.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub strategy: RoutingStrategy,
    pub deployments: Vec<DeploymentConfig>,
    /// Other public models to try when every deployment failed.
    #[serde(default)]
    pub fallbacks: Vec<FallbackConfig>,
}

/// How a model group picks among its deployments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStrategy {
    /// In the order listed; later ones only when earlier ones fail.
    #[default]
    Priority,
    /// Random by weight.
    Weighted,
    /// Fewest calls in flight.
    LeastBusy,
    /// Lowest moving average of time to first token.
    LowestLatency,
    /// Cheapest by catalog price.
    LowestCost,
}

/// One deployment: a model on a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Name of an entry in `ai.providers`.
    pub provider: String,
    /// The provider's model id (Azure: the deployment name).
    pub model: String,
    #[serde(default = "default_deployment_weight")]
    pub weight: u32,
    /// Catalog model used for prices and limits, when it differs from `model`.
    #[serde(default)]
    pub catalog: Option<String>,
}

fn default_deployment_weight() -> u32 {
    1
}

/// Where a model group goes when its deployments fail with one of `on`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Error classes that trigger this fallback; empty means every retryable one.
    #[serde(default)]
    pub on: Vec<FallbackOn>,
    /// Public model names tried in order.
    pub models: Vec<String>,
}

/// Error classes a fallback reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackOn {
    RateLimited,
    ServerError,
    Timeout,
    ContextWindow,
    ContentFilter,
    Auth,
}

/// Retries of provider calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiRetryConfig {
    /// Calls at most per request, across deployments and fallbacks.
    pub max_attempts: u32,
    /// First backoff; doubles per retry, with full jitter.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for AiRetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// A catalog entry: what a model is and what it costs. Prices in USD per
/// million tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogModelConfig {
    /// The model id, as providers name it (`gpt-4o`, `claude-sonnet-4-5`).
    pub id: String,
    /// Provider kind that serves it (`openai`, `anthropic`, ...).
    pub provider: String,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    /// Price of input tokens read from the provider's prompt cache.
    pub cached_input_price: Option<f64>,
    /// Price of input tokens written to the provider's prompt cache.
    pub cache_write_price: Option<f64>,
    /// Price of reasoning tokens when it differs from `output_price`.
    pub reasoning_price: Option<f64>,
    /// Price per input image, when billed per image.
    pub image_price: Option<f64>,
    /// `chat`, `embeddings` or `completion`.
    pub mode: Option<String>,
    /// `tools`, `vision`, `json`, `reasoning`, `embeddings`, ...
    pub capabilities: Vec<String>,
}

/// The `ai` route action: this route serves the AI APIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiRouteConfig {
    /// Public model names (or `provider/*` patterns) callers of this route may
    /// use; empty allows every configured model.
    pub models: Vec<String>,
    /// Model used when a request names none (prompt endpoints, count_tokens).
    pub default_model: Option<String>,
    /// Add `x-pylon-provider` and `x-pylon-model` (what served the call) to responses.
    pub expose_served: Option<bool>,
    /// Overrides of the providers' timeouts for this route.
    pub timeouts: Option<AiTimeouts>,
    /// Guardrails for this route (replacing `ai.guardrails`).
    pub guardrails: Option<GuardrailsConfig>,
}

/// Checks on what goes to a model and what comes back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardrailsConfig {
    /// Sensitive-data detectors and what to do when one finds something.
    pub pii: Vec<PiiRule>,
    /// Masked values are sent as placeholders (`[EMAIL_1]`) and restored in
    /// the answer; otherwise they are replaced for good (`[EMAIL]`).
    pub reversible: bool,
    /// Prompt-injection heuristics: `log` (flag in the record) or `block`.
    pub injection: Option<GuardAction>,
    /// Words or phrases (case-insensitive, whole words) that are refused.
    pub deny: Vec<String>,
    /// Refuse prompts estimated above this many tokens.
    pub max_input_tokens: Option<u64>,
}

/// One detector and its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiRule {
    /// `email`, `phone`, `credit_card` (Luhn-checked), `iban` (mod-97
    /// checked), `national_id` (US SSN, UK NINO, FR INSEE...), `ip_address`,
    /// `secret` (API keys, tokens, private keys), or `custom` with `pattern`.
    pub detector: String,
    /// Regular expression for `custom`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Label used in placeholders and records (default: the detector).
    #[serde(default)]
    pub name: Option<String>,
    pub action: GuardAction,
    /// Where the rule applies.
    #[serde(default)]
    pub on: GuardScope,
}

/// What a guardrail does when it finds something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Replace the finding with a placeholder.
    Mask,
    /// Refuse the request (or the answer).
    Block,
    /// Only note it in the call record.
    Log,
}

/// Which direction a rule checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardScope {
    #[default]
    Input,
    Output,
    Both,
}
