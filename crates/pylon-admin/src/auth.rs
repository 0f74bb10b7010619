//! Who is calling: an admin token (`Authorization: Bearer`) or a console session cookie,
//! resolved to the user and their role on each tenant; and the role checks every handler
//! makes. Roles are per tenant: `viewer` reads, `developer` also changes the services it
//! owns (and their routes and policies), `admin` changes everything in the tenant, `owner`
//! also manages the tenant and its members. Tenant `default` is the platform: a role there
//! covers what belongs to no other tenant (listeners, global policies, the whole config
//! document, users).

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use pylon_store::sql::Role;

use crate::AdminState;
use crate::error::AdminError;

/// The platform tenant.
pub const TENANT: &str = "default";

/// Name of the console session cookie.
pub const SESSION_COOKIE: &str = "pylon_session";

/// Header a cookie-authenticated write must carry (cross-site requests cannot set it
/// without a CORS grant, which the admin API never gives).
pub const CSRF_HEADER: &str = "x-pylon-csrf";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    /// The admin user's name, recorded as the actor in the audit log.
    pub name: String,
    /// Role per tenant.
    pub roles: BTreeMap<String, Role>,
    /// The token (or session) this request authenticated with.
    pub token_id: String,
    /// Authenticated by the console cookie rather than a bearer token.
    pub session: bool,
}

fn forbidden(what: impl Into<String>) -> AdminError {
    AdminError::Forbidden(what.into())
}

impl Caller {
    /// The caller's role on `tenant`.
    pub fn role(&self, tenant: &str) -> Option<Role> {
        self.roles.get(tenant).copied()
    }

    /// Any role on `tenant`.
    pub fn reads(&self, tenant: &str) -> bool {
        self.role(tenant).is_some()
    }

    /// Owner or admin on `tenant`.
    pub fn administers(&self, tenant: &str) -> bool {
        matches!(self.role(tenant), Some(Role::Owner | Role::Admin))
    }

    /// Owner or admin of the platform tenant: manages users and platform objects.
    pub fn is_platform_admin(&self) -> bool {
        self.administers(TENANT)
    }

    /// Reading platform-wide things (the whole config document, versions).
    pub fn can_read(&self) -> Result<(), AdminError> {
        if self.reads(TENANT) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "reading this needs a role on tenant `{TENANT}`"
            )))
        }
    }

    /// Changing platform-wide things.
    pub fn can_write(&self) -> Result<(), AdminError> {
        if self.is_platform_admin() {
            Ok(())
        } else {
            Err(forbidden(format!(
                "changing this needs admin or owner on tenant `{TENANT}`"
            )))
        }
    }

    /// Owner or admin on some tenant (may release changes at all).
    pub fn administers_any(&self) -> Result<(), AdminError> {
        if self
            .roles
            .values()
            .any(|r| matches!(r, Role::Owner | Role::Admin))
        {
            Ok(())
        } else {
            Err(forbidden(
                "publishing and rolling back need admin or owner on a tenant",
            ))
        }
    }

    /// Owner or admin on `tenant`, else 403.
    pub fn must_administer(&self, tenant: &str) -> Result<(), AdminError> {
        if self.administers(tenant) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "this needs admin or owner on tenant `{tenant}`"
            )))
        }
    }
}

/// The token from `Authorization: Bearer`, or from the session cookie (then `true`).
fn credential(parts: &Parts) -> Option<(String, bool)> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    if let Some(t) = bearer {
        return Some((t.to_owned(), false));
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == SESSION_COOKIE && !v.is_empty())
        .map(|(_, v)| (v.to_owned(), true))
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let (token, session) = credential(parts).ok_or(AdminError::Unauthorized)?;
        let who = state
            .store
            .auth()
            .authenticate(&token)
            .await?
            .ok_or(AdminError::Unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if session && !safe && !parts.headers.contains_key(CSRF_HEADER) {
            return Err(forbidden(format!(
                "a write with the session cookie needs the `{CSRF_HEADER}` header"
            )));
        }
        Ok(Caller {
            user_id: who.user.id,
            name: who.user.name,
            roles: who
                .user
                .roles
                .into_iter()
                .map(|r| (r.tenant, r.role))
                .collect(),
            token_id: who.token_id,
            session,
        })
    }
}
