//! Admin users and their API tokens. Users are managed by platform admins (owner or
//! admin of tenant `default`); everyone may read themselves, set their own password and
//! manage their own tokens. Tokens are shown once at creation; only digests are stored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pylon_store::sql::{AdminUser, Page, TenantRole, TokenInfo};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AdminState;
use crate::audit_api::record;
use crate::auth::{Caller, TENANT};
use crate::config_api::{PageQuery, if_match};
use crate::error::{AdminError, ApiResult, parse_body, version_tag};

/// Shortest console password accepted.
pub const MIN_PASSWORD: usize = 12;

/// Body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    /// Console password (at least 12 characters); without one the user logs in with tokens only.
    #[serde(default)]
    pub password: Option<String>,
    /// `[{tenant, role}]`; each on a tenant the caller administers.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub roles: Vec<TenantRole>,
}

/// Body of `PUT /users/{user}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
}

/// Body of `POST /users/{user}/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
    /// Days until it expires (default: never).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(v)| v)
        .map_err(|e| AdminError::BadRequest(e.body_text()))
}

/// The user `id` if the caller is that user or a platform admin.
async fn self_or_admin(st: &AdminState, caller: &Caller, id: &str) -> ApiResult<AdminUser> {
    if caller.user_id != id && !caller.is_platform_admin() {
        return Err(AdminError::Forbidden(format!(
            "only the user or an admin of tenant `{TENANT}` may do this"
        )));
    }
    Ok(st.store.auth().get_user(id).await?)
}

fn check_password(pw: &str) -> ApiResult<()> {
    if pw.chars().count() < MIN_PASSWORD {
        return Err(AdminError::invalid(
            "password",
            format!("must have at least {MIN_PASSWORD} characters"),
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{items, page, per_page, total}`", body = Object),
        crate::openapi::ReadErrors))]
pub async fn list(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<AdminUser>>> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    caller.can_write()?;
    Ok(Json(
        st.store
            .auth()
            .list_users(q.page.unwrap_or(1), q.per_page.unwrap_or(50))
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, description = "the user", body = Object),
        crate::openapi::WriteErrors))]
pub async fn create(
    State(st): State<AdminState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    caller.can_write()?;
    let b: NewUser = parse_body(&body)?;
    for r in &b.roles {
        caller.must_administer(&r.tenant)?;
    }
    let hash = match &b.password {
        Some(pw) => {
            check_password(pw)?;
            Some(crate::draft::hash_password(pw.clone()).await?)
        }
        None => None,
    };
    let mut user = st.store.auth().create_user(&b.name, &b.roles).await?;
    if let Some(h) = hash {
        user = st
            .store
            .access()
            .set_password_hash(&user.id, Some(&h))
            .await?;
    }
    record(
        &st,
        &caller,
        "create",
        "admin user",
        &user.id,
        TENANT,
        None,
        Some(&json!(user)),
    )
    .await;
    let mut resp = (StatusCode::CREATED, Json(json!(user))).into_response();
    resp.headers_mut()
        .insert(header::ETAG, version_tag(user.version));
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users", params(("user" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, description = "the user with their roles", body = Object),
        crate::openapi::ReadErrors))]
pub async fn read(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path(p)?;
    let u = self_or_admin(&st, &caller, &id).await?;
    let mut resp = Json(json!(u)).into_response();
    resp.headers_mut()
        .insert(header::ETAG, version_tag(u.version));
    Ok(resp)
}

#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "user id"), ("If-Match" = String, Header, description = "the user's ETag")), security(("bearer" = [])),
    responses((status = 204, description = "deleted with their tokens and roles"),
        crate::openapi::WriteErrors))]
pub async fn remove(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<String>, PathRejection>,
    h: HeaderMap,
) -> ApiResult<Response> {
    let id = path(p)?;
    caller.can_write()?;
    let before = st.store.auth().get_user(&id).await?;
    let expected = if_match(&h, before.version)?;
    if id == caller.user_id {
        return Err(AdminError::InUse("you cannot delete yourself".into()));
    }
    st.store.auth().delete_user(&id, expected).await?;
    record(
        &st,
        &caller,
        "delete",
        "admin user",
        &id,
        TENANT,
        Some(&json!(before)),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(put, path = "/api/v1/users/{user}/password", tag = "users", request_body = PasswordBody,
    params(("user" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204, description = "set"),
        crate::openapi::WriteErrors))]
pub async fn set_password(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path(p)?;
    self_or_admin(&st, &caller, &id).await?;
    let b: PasswordBody = parse_body(&body)?;
    check_password(&b.password)?;
    let hash = crate::draft::hash_password(b.password).await?;
    st.store
        .access()
        .set_password_hash(&id, Some(&hash))
        .await?;
    record(
        &st,
        &caller,
        "set_password",
        "admin user",
        &id,
        TENANT,
        None,
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/users/{user}/tokens", tag = "users", params(("user" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, description = "the user's tokens and sessions (never the token)", body = Object),
        crate::openapi::ReadErrors))]
pub async fn tokens(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let id = path(p)?;
    self_or_admin(&st, &caller, &id).await?;
    Ok(Json(st.store.auth().list_tokens(Some(&id)).await?))
}

#[utoipa::path(post, path = "/api/v1/users/{user}/tokens", tag = "users", request_body = NewTokenBody,
    params(("user" = String, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 201, description = "`{token, info}`: the token is shown this once", body = Object),
        crate::openapi::WriteErrors))]
pub async fn create_token(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = path(p)?;
    self_or_admin(&st, &caller, &id).await?;
    let b: NewTokenBody = parse_body(&body)?;
    let expires = b.expires_in_days.map(|d| {
        time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(d.clamp(1, 3650)))
    });
    let t = st.store.auth().create_token(&id, &b.name, expires).await?;
    record(
        &st,
        &caller,
        "create",
        "admin token",
        &t.info.id,
        TENANT,
        None,
        Some(&json!(t.info)),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": t.token.expose(), "info": t.info})),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/users/{user}/tokens/{token}", tag = "users",
    params(("user" = String, Path, description = "user id"), ("token" = String, Path, description = "token id")), security(("bearer" = [])),
    responses((status = 204, description = "revoked"),
        crate::openapi::WriteErrors))]
pub async fn revoke_token(
    State(st): State<AdminState>,
    caller: Caller,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Response> {
    let (id, token) = path(p)?;
    self_or_admin(&st, &caller, &id).await?;
    let owned = st
        .store
        .auth()
        .list_tokens(Some(&id))
        .await?
        .into_iter()
        .any(|t| t.id == token);
    if !owned {
        return Err(AdminError::NotFound {
            kind: "admin token",
            id: token,
        });
    }
    st.store.auth().revoke_token(&token).await?;
    record(
        &st,
        &caller,
        "revoke",
        "admin token",
        &token,
        TENANT,
        None,
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
