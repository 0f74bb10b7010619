//! Response-cache purges (`proxy-cache`): drop what a route's, a service's or
//! the global cache holds, all of it or under a path prefix. Writers only.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurgeQuery {
    /// Only entries whose path (and query) start with this.
    prefix: Option<String>,
}

/// `DELETE /cache/routes/{name}` or `/cache/services/{name}`.
#[utoipa::path(delete, path = "/api/v1/cache/{kind}/{name}", tag = "cache",
    params(("kind" = String, Path, description = "`routes` or `services`"),
        ("name" = String, Path, description = "route or service name"), PurgeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "`{purged, scope}`", body = Object),
        (status = 400, description = "malformed parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a writer", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such route or service", body = crate::openapi::ErrorBody),
        (status = 502, description = "the cache backend failed", body = crate::openapi::ErrorBody)))]
pub async fn purge_scope(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<PurgeQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    caller.can_write()?;
    let Path((kind, name)) = p.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let Some(gw) = &st.gateway else {
        return Err(AdminError::NotFound {
            kind: "cache",
            id: name,
        });
    };
    let running = (gw.current)();
    let known = match kind.as_str() {
        "routes" => running.routes.iter().any(|r| r.name == name),
        "services" => running.services.iter().any(|s| s.name == name),
        _ => {
            return Err(AdminError::NotFound {
                kind: "endpoint",
                id: format!("/cache/{kind}"),
            });
        }
    };
    if !known {
        let what = if kind == "routes" { "route" } else { "service" };
        return Err(AdminError::NotFound {
            kind: what,
            id: name,
        });
    }
    let scope = format!("{}:{name}", kind.trim_end_matches('s'));
    purge(&st, &scope, q.prefix.as_deref()).await
}

/// `DELETE /cache/global`: the cache attached at the top level.
#[utoipa::path(delete, path = "/api/v1/cache/global", tag = "cache", params(PurgeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "`{purged, scope}`", body = Object),
        (status = 400, description = "malformed parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "not a writer", body = crate::openapi::ErrorBody),
        (status = 502, description = "the cache backend failed", body = crate::openapi::ErrorBody)))]
pub async fn purge_global(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<PurgeQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    caller.can_write()?;
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    purge(&st, "global", q.prefix.as_deref()).await
}

async fn purge(st: &AdminState, scope: &str, prefix: Option<&str>) -> ApiResult<Json<Value>> {
    let Some(gw) = &st.gateway else {
        return Ok(Json(json!({ "purged": 0, "scope": scope })));
    };
    let n = pylon_policy::policies::proxy_cache::purge(&gw.shared, scope, prefix)
        .await
        .map_err(|e| AdminError::CacheBackend(e.to_string()))?;
    Ok(Json(json!({ "purged": n, "scope": scope })))
}
