//! Plain data types the store traits take and return; serializable so the admin API can
//! render them directly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::diff::DiffOp;
use super::error::StoreError;

/// Largest page size any list call returns.
pub const MAX_PER_PAGE: u32 = 1000;

/// One page of an offset-paginated list. `page` is 1-based.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// Number of items across all pages.
    pub total: u64,
}

/// Normalizes a (page, per_page) request: page >= 1, 1 <= per_page <= [`MAX_PER_PAGE`].
/// Returns (page, per_page, offset).
pub(crate) fn page_window(page: u32, per_page: u32) -> (u32, u32, i64) {
    let page = page.max(1);
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let offset = i64::from(page - 1) * i64::from(per_page);
    (page, per_page, offset)
}

/// The editable draft of the config document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub document: Value,
    /// Optimistic-concurrency counter: 0 before the first edit, +1 on every change.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    pub updated_by: Option<String>,
}

/// Metadata of one immutable config version (no document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub number: i64,
    pub author: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The version this one was diffed against (the previous number), if any.
    pub parent: Option<i64>,
    /// Set when this version was recorded by a rollback to that version.
    pub rollback_of: Option<i64>,
    /// Structural changes against `parent` (paths only, never values).
    pub changes: Vec<DiffOp>,
}

/// One immutable config version with its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigVersion {
    #[serde(flatten)]
    pub info: VersionInfo,
    pub document: Value,
}

/// An audit record to append.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub actor: String,
    /// Verb such as `create`, `update`, `delete`, `publish`, `rollback`, `login`.
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub tenant: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Monotonic id; also the pagination cursor.
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub tenant: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Filters for [`AuditLog::query`](super::AuditLog::query); `None` means "any".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_kind: Option<String>,
    pub object_id: Option<String>,
    pub tenant: Option<String>,
    /// Inclusive lower bound.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Exclusive upper bound.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// One page of audit records, newest first (keyset pagination on `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `before_id` to get the next (older) page; `None` on the last page.
    pub next_cursor: Option<i64>,
}

/// A role an admin user holds on one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Developer,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "developer" => Ok(Role::Developer),
            "viewer" => Ok(Role::Viewer),
            other => Err(StoreError::Invalid(format!("unknown role {other:?}"))),
        }
    }
}

/// A (tenant, role) grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantRole {
    pub tenant: String,
    pub role: Role,
}

impl TenantRole {
    pub fn new(tenant: impl Into<String>, role: Role) -> Self {
        TenantRole {
            tenant: tenant.into(),
            role,
        }
    }
}

/// An admin (control-plane) user with their per-tenant roles, sorted by tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminUser {
    pub id: String,
    pub name: String,
    pub roles: Vec<TenantRole>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// What the store keeps about an admin token: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the token (e.g. `pyl_Ab3d`), to recognize it in a list.
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// `api` (made through the API or at bootstrap) or `session` (console login).
    pub kind: String,
}

/// A clear admin token, shown once. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClearToken(String);

impl ClearToken {
    pub(crate) fn new(token: String) -> Self {
        ClearToken(token)
    }
    /// The token text, to hand to the user exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClearToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClearToken(<redacted>)")
    }
}

/// A freshly created token: its stored description and the clear text.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub info: TokenInfo,
    pub token: ClearToken,
}

/// The result of a successful [`AdminAuth::authenticate`](super::AdminAuth::authenticate).
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    pub user: AdminUser,
    pub token_id: String,
}

/// What [`AdminAuth::bootstrap`](super::AdminAuth::bootstrap) created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub user: AdminUser,
    pub token: NewToken,
}

/// A tenant (workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Immutable slug, e.g. `default`.
    pub id: String,
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A team inside a tenant; members are admin user ids, sorted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}
