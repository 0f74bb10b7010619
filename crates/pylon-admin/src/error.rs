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
    #[error("this token's role does not allow {0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("the config is managed by a file (--config); change the file instead")]
    FileManaged,
    #[error("If-Match is required (the draft's ETag)")]
    PreconditionRequired,
    #[error("the draft changed (current version {current}); reload it and retry")]
    PreconditionFailed { current: i64 },
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
            AdminError::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            AdminError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            AdminError::Activation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "activation_failed"),
            AdminError::Store(StoreError::NotFound { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Store(StoreError::Conflict { .. }) => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            AdminError::Store(StoreError::Invalid(_)) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::Store(StoreError::Duplicate { .. }) => (StatusCode::CONFLICT, "conflict"),
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

/// Result alias of the handlers.
pub type ApiResult<T> = Result<T, AdminError>;
