//! `GET /api/v1/audit`: the audit log, newest first, keyset-paginated.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use pylon_store::sql::{AuditFilter, AuditPage};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult};

/// Filters of the audit query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only records by this admin user.
    pub actor: Option<String>,
    /// Only records about this kind of object (e.g. `config`).
    pub object_kind: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "`{items, next_cursor}`, newest first"),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody)))]
pub async fn query(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    caller.can_read()?;
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let filter = AuditFilter {
        actor: q.actor,
        object_kind: q.object_kind,
        ..AuditFilter::default()
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        st.store.audit().query(&filter, q.before, limit).await?,
    ))
}
