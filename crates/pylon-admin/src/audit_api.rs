//! The audit log: `record` appends one entry per admin write (actor, action, object,
//! tenant, before and after with secrets masked); `GET /api/v1/audit` reads it newest
//! first, keyset-paginated, limited to the tenants where the caller has a role.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use pylon_store::sql::{AuditFilter, AuditPage, NewAuditEntry};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult};

/// Appends one audit entry; a failure is logged, not returned (the change happened).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record(
    st: &AdminState,
    caller: &Caller,
    action: &str,
    kind: &str,
    id: &str,
    tenant: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) {
    let entry = NewAuditEntry {
        actor: caller.name.clone(),
        action: action.to_owned(),
        object_kind: kind.to_owned(),
        object_id: id.to_owned(),
        tenant: Some(tenant.to_owned()),
        before: before.map(pylon_config::envelope::masked),
        after: after.map(pylon_config::envelope::masked),
    };
    if let Err(e) = st.store.audit().append(entry).await {
        tracing::error!(error = %e, action, kind, id, "cannot append the audit record");
    }
}

/// Filters of the audit query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only records by this admin user.
    pub actor: Option<String>,
    /// Only records of this action (`create`, `update`, `delete`, `publish`, ...).
    pub action: Option<String>,
    /// Only records about this kind of object (e.g. `config`, `service`).
    pub object_kind: Option<String>,
    /// Only records about this object.
    pub object_id: Option<String>,
    /// Only records of this tenant (one where the caller has a role).
    pub tenant: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "`{items, next_cursor}`, newest first", body = Object),
        (status = 400, description = "malformed query", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody)))]
pub async fn query(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let tenants: Vec<String> = match &q.tenant {
        Some(t) if caller.reads(t) => vec![t.clone()],
        Some(_) => Vec::new(),
        None => caller.roles.keys().cloned().collect(),
    };
    // One keyset query per tenant, merged newest first.
    let mut items = Vec::new();
    let mut more = false;
    for tenant in tenants {
        let filter = AuditFilter {
            actor: q.actor.clone(),
            action: q.action.clone(),
            object_kind: q.object_kind.clone(),
            object_id: q.object_id.clone(),
            tenant: Some(tenant),
            ..AuditFilter::default()
        };
        let page = st.store.audit().query(&filter, q.before, limit).await?;
        more |= page.next_cursor.is_some();
        items.extend(page.items);
    }
    items.sort_by_key(|e| std::cmp::Reverse(e.id));
    more |= items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(AuditPage { items, next_cursor }))
}
