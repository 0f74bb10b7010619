//! Tenants (workspaces) and their members' roles, kept in the store (teams: `teams_api`).
//! Creating a tenant needs admin on the platform tenant (the creator becomes its owner);
//! a tenant is seen by its members and changed by its owners and admins; an owner grants
//! any role, an admin grants `developer` and `viewer`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pylon_store::sql::{AdminUser, Page, Role, Tenant};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AdminState;
use crate::audit_api::record;
use crate::auth::{Caller, TENANT};
use crate::config_api::{PageQuery, if_match};
use crate::error::{AdminError, ApiResult, parse_body, version_tag};

/// Body of `POST /tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Slug: 1-63 of `a-z 0-9 - _`.
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Body of `PUT /tenants/{tenant}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    pub display_name: String,
}

/// Body of `PUT /tenants/{tenant}/members/{user}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `owner`, `admin`, `developer` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// A member of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
}

pub(crate) type P1 = Result<Path<String>, PathRejection>;
pub(crate) type P2 = Result<Path<(String, String)>, PathRejection>;

pub(crate) fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(v)| v)
        .map_err(|e| AdminError::BadRequest(e.body_text()))
}

pub(crate) fn tagged<T: Serialize>(status: StatusCode, version: i64, body: &T) -> Response {
    let mut resp = (status, Json(json!(body))).into_response();
    resp.headers_mut()
        .insert(header::ETAG, version_tag(version));
    resp
}

/// The tenant, if the caller has a role on it (else 404: others' tenants are invisible).
pub(crate) async fn visible(st: &AdminState, caller: &Caller, id: &str) -> ApiResult<Tenant> {
    if !caller.reads(id) {
        return Err(AdminError::NotFound {
            kind: "tenant",
            id: id.to_owned(),
        });
    }
    Ok(st.store.tenants().get_tenant(id).await?)
}

#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{items, page, per_page, total}`: tenants where the caller has a role", body = Object),
        crate::openapi::ReadErrors))]
pub async fn list(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Tenant>>> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let (page, per_page) = (
        q.page.unwrap_or(1).max(1),
        q.per_page.unwrap_or(50).clamp(1, 1000),
    );
    let mut items = Vec::new();
    for id in caller.roles.keys() {
        match st.store.tenants().get_tenant(id).await {
            Ok(t) => items.push(t),
            Err(pylon_store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let total = items.len() as u64;
    let items = items
        .into_iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .collect();
    Ok(Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = NewTenant, security(("bearer" = [])),
    responses((status = 201, description = "the tenant; the caller is its owner", body = Object),
        crate::openapi::WriteErrors))]
pub async fn create(
    State(st): State<AdminState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    caller.can_write()?;
    let b: NewTenant = parse_body(&body)?;
    let name = b.display_name.unwrap_or_else(|| b.id.clone());
    let t = st.store.tenants().create_tenant(&b.id, &name).await?;
    st.store
        .access()
        .grant_role(&caller.user_id, &t.id, Role::Owner)
        .await?;
    record(
        &st,
        &caller,
        "create",
        "tenant",
        &t.id,
        &t.id,
        None,
        Some(&json!(t)),
    )
    .await;
    Ok(tagged(StatusCode::CREATED, t.version, &t))
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}", tag = "tenants", params(("tenant" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the tenant", body = Object),
        crate::openapi::ReadErrors))]
pub async fn read(State(st): State<AdminState>, caller: Caller, p: P1) -> ApiResult<Response> {
    let id = path(p)?;
    let t = visible(&st, &caller, &id).await?;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}", tag = "tenants", request_body = TenantUpdate,
    params(("tenant" = String, Path), ("If-Match" = String, Header, description = "the tenant's ETag")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Object),
        crate::openapi::WriteErrors))]
pub async fn update(
    State(st): State<AdminState>,
    caller: Caller,
    p: P1,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path(p)?;
    let before = visible(&st, &caller, &id).await?;
    caller.must_administer(&id)?;
    let expected = if_match(&h, before.version)?;
    let b: TenantUpdate = parse_body(&body)?;
    let t = st
        .store
        .tenants()
        .update_tenant(&id, &b.display_name, expected)
        .await?;
    record(
        &st,
        &caller,
        "update",
        "tenant",
        &id,
        &id,
        Some(&json!(before)),
        Some(&json!(t)),
    )
    .await;
    Ok(tagged(StatusCode::OK, t.version, &t))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path), ("If-Match" = String, Header, description = "the tenant's ETag")), security(("bearer" = [])),
    responses((status = 204, description = "deleted with its teams and role grants"),
        crate::openapi::WriteErrors))]
pub async fn remove(
    State(st): State<AdminState>,
    caller: Caller,
    p: P1,
    h: HeaderMap,
) -> ApiResult<Response> {
    let id = path(p)?;
    let before = visible(&st, &caller, &id).await?;
    if caller.role(&id) != Some(Role::Owner) {
        return Err(AdminError::Forbidden(format!(
            "deleting tenant `{id}` needs its owner role"
        )));
    }
    let expected = if_match(&h, before.version)?;
    if id == TENANT {
        return Err(AdminError::InUse(
            "the platform tenant cannot be deleted".into(),
        ));
    }
    let doc = st.store.config().get_draft().await?.document;
    let empty = Value::Object(Default::default());
    if crate::collections::access::touched_tenants(&empty, &doc).contains(&id) {
        return Err(AdminError::InUse(format!(
            "objects in the draft still belong to tenant `{id}`"
        )));
    }
    st.store.tenants().delete_tenant(&id, expected).await?;
    record(
        &st,
        &caller,
        "delete",
        "tenant",
        &id,
        &id,
        Some(&json!(before)),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Every user with a role on `tenant`.
pub(crate) async fn members_of(st: &AdminState, tenant: &str) -> ApiResult<Vec<(AdminUser, Role)>> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let p = st.store.auth().list_users(page, 1000).await?;
        let done = (u64::from(page) * 1000) >= p.total;
        for u in p.items {
            if let Some(r) = u.roles.iter().find(|r| r.tenant == tenant).map(|r| r.role) {
                out.push((u, r));
            }
        }
        if done {
            return Ok(out);
        }
        page += 1;
    }
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/members", tag = "tenants", params(("tenant" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "`[{user_id, name, role}]`", body = [Member]),
        crate::openapi::ReadErrors))]
pub async fn members(
    State(st): State<AdminState>,
    caller: Caller,
    p: P1,
) -> ApiResult<Json<Vec<Member>>> {
    let id = path(p)?;
    visible(&st, &caller, &id).await?;
    let list = members_of(&st, &id).await?;
    Ok(Json(
        list.into_iter()
            .map(|(u, role)| Member {
                user_id: u.id,
                name: u.name,
                role,
            })
            .collect(),
    ))
}

/// May the caller give or take `role` (now `current`) on `tenant`?
fn may_grant(
    caller: &Caller,
    tenant: &str,
    current: Option<Role>,
    role: Option<Role>,
) -> ApiResult<()> {
    match caller.role(tenant) {
        Some(Role::Owner) => Ok(()),
        Some(Role::Admin)
            if !matches!(current, Some(Role::Owner | Role::Admin))
                && !matches!(role, Some(Role::Owner | Role::Admin)) =>
        {
            Ok(())
        }
        _ => Err(AdminError::Forbidden(format!(
            "on tenant `{tenant}` an owner grants any role, an admin only developer and viewer"
        ))),
    }
}

async fn last_owner(st: &AdminState, tenant: &str, user: &str) -> ApiResult<bool> {
    let owners: Vec<String> = members_of(st, tenant)
        .await?
        .into_iter()
        .filter(|(_, r)| *r == Role::Owner)
        .map(|(u, _)| u.id)
        .collect();
    Ok(owners.len() == 1 && owners[0] == user)
}

#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/members/{user}", tag = "tenants", request_body = Grant,
    params(("tenant" = String, Path), ("user" = String, Path, description = "admin user id")), security(("bearer" = [])),
    responses((status = 200, description = "the user with their roles", body = Object),
        crate::openapi::WriteErrors))]
pub async fn grant(
    State(st): State<AdminState>,
    caller: Caller,
    p: P2,
    body: Bytes,
) -> ApiResult<Json<AdminUser>> {
    let (tenant, user) = path(p)?;
    visible(&st, &caller, &tenant).await?;
    let g: Grant = parse_body(&body)?;
    let target = st.store.auth().get_user(&user).await?;
    let current = target
        .roles
        .iter()
        .find(|r| r.tenant == tenant)
        .map(|r| r.role);
    may_grant(&caller, &tenant, current, Some(g.role))?;
    if current == Some(Role::Owner)
        && g.role != Role::Owner
        && last_owner(&st, &tenant, &user).await?
    {
        return Err(AdminError::InUse(format!(
            "tenant `{tenant}` needs at least one owner"
        )));
    }
    let u = st.store.access().grant_role(&user, &tenant, g.role).await?;
    record(
        &st,
        &caller,
        "grant",
        "role",
        &user,
        &tenant,
        Some(&json!(target)),
        Some(&json!(u)),
    )
    .await;
    Ok(Json(u))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/members/{user}", tag = "tenants",
    params(("tenant" = String, Path), ("user" = String, Path, description = "admin user id")), security(("bearer" = [])),
    responses((status = 204, description = "the role is gone"),
        crate::openapi::WriteErrors))]
pub async fn revoke(State(st): State<AdminState>, caller: Caller, p: P2) -> ApiResult<Response> {
    let (tenant, user) = path(p)?;
    visible(&st, &caller, &tenant).await?;
    let target = st.store.auth().get_user(&user).await?;
    let current = target
        .roles
        .iter()
        .find(|r| r.tenant == tenant)
        .map(|r| r.role);
    may_grant(&caller, &tenant, current, None)?;
    if current == Some(Role::Owner) && last_owner(&st, &tenant, &user).await? {
        return Err(AdminError::InUse(format!(
            "tenant `{tenant}` needs at least one owner"
        )));
    }
    let u = st.store.access().revoke_role(&user, &tenant).await?;
    record(
        &st,
        &caller,
        "revoke",
        "role",
        &user,
        &tenant,
        Some(&json!(target)),
        Some(&json!(u)),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
