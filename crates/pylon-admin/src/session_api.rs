//! Console sessions: `POST /auth/login` with a user name and password (argon2) sets an
//! HttpOnly, SameSite=Strict session cookie; `POST /auth/logout` ends it; `GET
//! /auth/whoami` says who the token or cookie belongs to.

use std::sync::LazyLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AdminState;
use crate::audit_api::record;
use crate::auth::{Caller, SESSION_COOKIE, TENANT};
use crate::error::{AdminError, ApiResult, parse_body};

/// How long a console session lasts.
pub const SESSION_HOURS: i64 = 12;

/// Body of `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// Failed logins per user name before further attempts wait [`LOCKOUT`].
pub const MAX_FAILURES: u32 = 5;
/// How long a name stays locked after [`MAX_FAILURES`] failures in a row.
pub const LOCKOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Consecutive failed logins per user name (in memory, per node; bounded).
#[derive(Default)]
pub struct LoginGuard {
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

impl LoginGuard {
    /// Whether `name` is locked out right now.
    fn locked(&self, name: &str) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(name)
            .is_some_and(|(n, at)| *n >= MAX_FAILURES && at.elapsed() < LOCKOUT)
    }

    fn failed(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < LOCKOUT);
        }
        let e = map
            .entry(name.to_owned())
            .or_insert((0, std::time::Instant::now()));
        if e.1.elapsed() >= LOCKOUT {
            e.0 = 0;
        }
        *e = (e.0 + 1, std::time::Instant::now());
    }

    fn succeeded(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// A hash to verify against when the user does not exist, so both cases take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    use argon2::PasswordHasher as _;
    argon2::Argon2::default()
        .hash_password_with_salt(b"no such user", b"pylon-dummy-salt")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

fn cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/api/v1; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static("pylon_session=; Path=/api/v1; Max-Age=0"))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, description = "`{user, expires_at}`; the session is in the `pylon_session` cookie", body = Object),
        (status = 400, description = "bad body", body = crate::openapi::ErrorBody),
        (status = 401, description = "wrong user or password", body = crate::openapi::ErrorBody),
        (status = 429, description = "too many failed logins for this user; wait 30 s", body = crate::openapi::ErrorBody),
        (status = 422, description = "bad body", body = crate::openapi::ErrorBody)))]
pub async fn login(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let b: Login = parse_body(&body)?;
    if st.logins.locked(&b.user) {
        return Err(AdminError::TooManyAttempts);
    }
    let found = st.store.access().password_hash(&b.user).await?;
    let hash = found
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |(_, h)| h.clone());
    let pw = b.password.clone();
    let ok = tokio::task::spawn_blocking(move || crate::draft::argon2_verify(&pw, &hash))
        .await
        .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| ok) else {
        tracing::info!(user = %b.user, "console login refused");
        st.logins.failed(&b.user);
        return Err(AdminError::Unauthorized);
    };
    st.logins.succeeded(&b.user);
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(SESSION_HOURS);
    let session = st.store.access().create_session(&user.id, expires).await?;
    let caller = Caller {
        user_id: user.id.clone(),
        name: user.name.clone(),
        roles: Default::default(),
        token_id: session.info.id.clone(),
        session: true,
    };
    record(
        &st,
        &caller,
        "login",
        "session",
        &session.info.id,
        TENANT,
        None,
        None,
    )
    .await;
    let mut resp =
        Json(json!({"user": user, "expires_at": session.info.expires_at})).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&headers, session.token.expose(), SESSION_HOURS * 3600),
    );
    Ok(resp)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "the session (if this request used one) is revoked and the cookie cleared"),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "cookie without the CSRF header", body = crate::openapi::ErrorBody)))]
pub async fn logout(
    State(st): State<AdminState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if caller.session {
        st.store.auth().revoke_token(&caller.token_id).await?;
        record(
            &st,
            &caller,
            "logout",
            "session",
            &caller.token_id,
            TENANT,
            None,
            None,
        )
        .await;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&headers, "", 0));
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "`{id, name, roles, session}`", body = Object),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody)))]
pub async fn whoami(caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "id": caller.user_id,
        "name": caller.name,
        "roles": caller.roles,
        "session": caller.session,
    }))
}
