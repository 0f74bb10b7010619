//! Teams inside a tenant (store tables): seen by the tenant's members, changed by its
//! owners and admins; membership changes are conditional on the team's version.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pylon_store::sql::{Page, Team};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AdminState;
use crate::audit_api::record;
use crate::auth::Caller;
use crate::config_api::{PageQuery, if_match};
use crate::error::{AdminError, ApiResult, parse_body};
use crate::tenants_api::{P1, P2, path, tagged, visible};

type P3 = Result<Path<(String, String, String)>, PathRejection>;

/// Body of `POST /tenants/{tenant}/teams` and `PUT .../teams/{team}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/teams", tag = "tenants", params(("tenant" = String, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{items, page, per_page, total}`", body = Object),
        crate::openapi::ReadErrors))]
pub async fn teams(
    State(st): State<AdminState>,
    caller: Caller,
    p: P1,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Team>>> {
    let id = path(p)?;
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    visible(&st, &caller, &id).await?;
    Ok(Json(
        st.store
            .tenants()
            .list_teams(&id, q.page.unwrap_or(1), q.per_page.unwrap_or(50))
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/teams", tag = "tenants", request_body = TeamBody, params(("tenant" = String, Path)), security(("bearer" = [])),
    responses((status = 201, description = "the team", body = Object),
        crate::openapi::WriteErrors))]
pub async fn create_team(
    State(st): State<AdminState>,
    caller: Caller,
    p: P1,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path(p)?;
    visible(&st, &caller, &id).await?;
    caller.must_administer(&id)?;
    let b: TeamBody = parse_body(&body)?;
    let t = st
        .store
        .tenants()
        .create_team(&id, &b.name, &b.description)
        .await?;
    record(
        &st,
        &caller,
        "create",
        "team",
        &t.id,
        &id,
        None,
        Some(&json!(t)),
    )
    .await;
    Ok(tagged(StatusCode::CREATED, t.version, &t))
}

async fn team_in(st: &AdminState, caller: &Caller, tenant: &str, team: &str) -> ApiResult<Team> {
    visible(st, caller, tenant).await?;
    let t = st.store.tenants().get_team(team).await?;
    if t.tenant != tenant {
        return Err(AdminError::NotFound {
            kind: "team",
            id: team.to_owned(),
        });
    }
    Ok(t)
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/teams/{team}", tag = "tenants", params(("tenant" = String, Path), ("team" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the team", body = Object),
        crate::openapi::ReadErrors))]
pub async fn read_team(State(st): State<AdminState>, caller: Caller, p: P2) -> ApiResult<Response> {
    let (tenant, team) = path(p)?;
    let t = team_in(&st, &caller, &tenant, &team).await?;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/teams/{team}", tag = "tenants", request_body = TeamBody,
    params(("tenant" = String, Path), ("team" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Object),
        crate::openapi::WriteErrors))]
pub async fn update_team(
    State(st): State<AdminState>,
    caller: Caller,
    p: P2,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (tenant, team) = path(p)?;
    let before = team_in(&st, &caller, &tenant, &team).await?;
    caller.must_administer(&tenant)?;
    let expected = if_match(&h, before.version)?;
    let b: TeamBody = parse_body(&body)?;
    let t = st
        .store
        .tenants()
        .update_team(&team, &b.name, &b.description, expected)
        .await?;
    record(
        &st,
        &caller,
        "update",
        "team",
        &team,
        &tenant,
        Some(&json!(before)),
        Some(&json!(t)),
    )
    .await;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/teams/{team}", tag = "tenants",
    params(("tenant" = String, Path), ("team" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 204, description = "deleted"),
        crate::openapi::WriteErrors))]
pub async fn remove_team(
    State(st): State<AdminState>,
    caller: Caller,
    p: P2,
    h: HeaderMap,
) -> ApiResult<Response> {
    let (tenant, team) = path(p)?;
    let before = team_in(&st, &caller, &tenant, &team).await?;
    caller.must_administer(&tenant)?;
    let expected = if_match(&h, before.version)?;
    st.store.tenants().delete_team(&team, expected).await?;
    record(
        &st,
        &caller,
        "delete",
        "team",
        &team,
        &tenant,
        Some(&json!(before)),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn membership(
    st: AdminState,
    caller: Caller,
    p: P3,
    h: HeaderMap,
    add: bool,
) -> ApiResult<Response> {
    let (tenant, team, user) = path(p)?;
    let before = team_in(&st, &caller, &tenant, &team).await?;
    caller.must_administer(&tenant)?;
    let expected = if_match(&h, before.version)?;
    let t = if add {
        st.store
            .tenants()
            .add_team_member(&team, &user, expected)
            .await?
    } else {
        st.store
            .tenants()
            .remove_team_member(&team, &user, expected)
            .await?
    };
    let action = if add { "add_member" } else { "remove_member" };
    record(
        &st,
        &caller,
        action,
        "team",
        &team,
        &tenant,
        Some(&json!(before)),
        Some(&json!(t)),
    )
    .await;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/teams/{team}/members/{user}", tag = "tenants",
    params(("tenant" = String, Path), ("team" = String, Path), ("user" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 200, description = "the team", body = Object),
        crate::openapi::WriteErrors))]
pub async fn add_member(
    State(st): State<AdminState>,
    caller: Caller,
    p: P3,
    h: HeaderMap,
) -> ApiResult<Response> {
    membership(st, caller, p, h, true).await
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/teams/{team}/members/{user}", tag = "tenants",
    params(("tenant" = String, Path), ("team" = String, Path), ("user" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 200, description = "the team", body = Object),
        crate::openapi::WriteErrors))]
pub async fn remove_member(
    State(st): State<AdminState>,
    caller: Caller,
    p: P3,
    h: HeaderMap,
) -> ApiResult<Response> {
    membership(st, caller, p, h, false).await
}
