//! The admin API's error type: every failure renders as the gateway's JSON error shape
//! `{"error":{"code","message","status"}}` (plus `details` for validation failures).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pylon_store::StoreError;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// One problem in a config document: where (dotted path) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Detail {
    pub path: String,
    pub reason: String,
}

/// Everything an admin API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("a valid admin token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("the config is managed by a file (--config); change the file instead")]
    FileManaged,
    #[error("If-Match is required (the object's ETag)")]
    PreconditionRequired,
    #[error("the draft changed (current version {current}); reload it and retry")]
    PreconditionFailed { current: i64 },
    #[error("the object changed (its ETag is now {current}); reload it and retry")]
    Stale { current: String },
    #[error("{kind} {id:?} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    InUse(String),
    #[error("too many failed logins for this user; try again in 30 seconds")]
    TooManyAttempts,
    #[error("the config document is invalid ({} issue(s))", .0.len())]
    Validation(Vec<Detail>),
    #[error("the config could not be activated: {0}")]
    Activation(String),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("the response cache's backend failed: {0}")]
    CacheBackend(String),
}

impl AdminError {
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::FileManaged => (StatusCode::CONFLICT, "config_file_managed"),
            AdminError::PreconditionRequired => {
                (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
            }
            AdminError::PreconditionFailed { .. } | AdminError::Stale { .. } => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            AdminError::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
            AdminError::InvalidTransition(_) => (StatusCode::CONFLICT, "invalid_transition"),
            AdminError::InUse(_) => (StatusCode::CONFLICT, "in_use"),
            AdminError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            AdminError::Store(StoreError::Duplicate { .. }) => {
                (StatusCode::CONFLICT, "already_exists")
            }
            AdminError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            AdminError::Activation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "activation_failed"),
            AdminError::Store(StoreError::NotFound { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Store(StoreError::Conflict { .. }) => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            AdminError::Store(StoreError::Invalid(_)) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::Store(StoreError::MissingReference(_)) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            AdminError::Store(StoreError::InvalidTransition { .. }) => {
                (StatusCode::CONFLICT, "invalid_transition")
            }
            AdminError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_error"),
            AdminError::CacheBackend(_) => (StatusCode::BAD_GATEWAY, "cache_backend_error"),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "admin API request failed");
        }
        let mut error = json!({
            "code": code,
            "message": self.to_string(),
            "status": status.as_u16(),
        });
        if let AdminError::Validation(details) = &self {
            error["details"] = json!(details);
        }
        let mut resp = (status, axum::Json(json!({ "error": error }))).into_response();
        if matches!(self, AdminError::Unauthorized) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl AdminError {
    /// A 422 with one issue.
    pub fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        AdminError::Validation(vec![Detail {
            path: path.into(),
            reason: reason.into(),
        }])
    }
}

/// Result alias of the handlers.
pub type ApiResult<T> = Result<T, AdminError>;

/// Reads a JSON body as `T`: 400 when it is not JSON, 422 (with the field path) when its
/// shape is wrong.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AdminError::BadRequest(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        AdminError::invalid(
            if path == "." { String::new() } else { path },
            e.into_inner().to_string(),
        )
    })
}

/// `ETag` value of a store object's version.
pub(crate) fn version_tag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}
