//! Bearer-token authentication and the coarse role check: a token's user must hold a
//! role on the `default` tenant; viewer and developer may read, admin and owner may write.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use pylon_store::sql::Role;

use crate::AdminState;
use crate::error::AdminError;

/// The tenant roles are checked against (tenant scoping is coarse for now).
pub const TENANT: &str = "default";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The admin user's name, recorded as the actor in the audit log.
    pub name: String,
    /// The caller's role on [`TENANT`], if any.
    pub role: Option<Role>,
}

impl Caller {
    /// Reading needs any role on the tenant.
    pub fn can_read(&self) -> Result<(), AdminError> {
        match self.role {
            Some(_) => Ok(()),
            None => Err(AdminError::Forbidden("reading")),
        }
    }

    /// Writing needs admin or owner.
    pub fn can_write(&self) -> Result<(), AdminError> {
        match self.role {
            Some(Role::Owner | Role::Admin) => Ok(()),
            _ => Err(AdminError::Forbidden("changes")),
        }
    }
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AdminError::Unauthorized)?;
        let who = state
            .store
            .auth()
            .authenticate(token)
            .await?
            .ok_or(AdminError::Unauthorized)?;
        let role = who
            .user
            .roles
            .iter()
            .filter(|r| r.tenant == TENANT)
            .map(|r| r.role)
            .min();
        Ok(Caller {
            name: who.user.name,
            role,
        })
    }
}
