//! The store's contracts: one object-safe async trait per aggregate, used as `Arc<dyn ...>`.
//!
//! Methods return boxed futures through `async-trait`: native `async fn` in traits is not
//! dyn-compatible on stable Rust, and the boxing (one allocation per call) is noise next to
//! a database round trip.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use super::diff::DiffOp;
use super::error::Result;
use super::model::{
    AdminUser, AuditEntry, AuditFilter, AuditPage, Authenticated, Bootstrap, ConfigVersion, Draft,
    NewAuditEntry, NewToken, Page, Role, Team, Tenant, TenantRole, TokenInfo, VersionInfo,
};

/// Versioned config: one mutable draft, an append-only list of numbered versions, and a
/// pointer to the active one. Documents are not validated here: callers validate first.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// The current draft (`{}` at version 0 on a fresh store).
    async fn get_draft(&self) -> Result<Draft>;

    /// Replaces the draft if its version is still `expected_draft_version`; returns the new
    /// draft version, or `Conflict { current }` when someone else changed it first.
    async fn put_draft(
        &self,
        document: &Value,
        expected_draft_version: i64,
        actor: &str,
    ) -> Result<i64>;

    /// Atomically records the draft as the next numbered version (with its diff against the
    /// previous version) and makes it active. With `expected_draft_version = Some(v)` it
    /// fails with `Conflict` if the draft changed since the caller validated version `v`.
    /// Concurrent publishes get distinct, consecutive numbers.
    async fn publish(
        &self,
        actor: &str,
        message: &str,
        expected_draft_version: Option<i64>,
    ) -> Result<VersionInfo>;

    /// One version with its document; `NotFound` if it does not exist.
    async fn get_version(&self, number: i64) -> Result<ConfigVersion>;

    /// Versions, newest first, offset-paginated (`page` is 1-based).
    async fn list_versions(&self, page: u32, per_page: u32) -> Result<Page<VersionInfo>>;

    /// The active version, or `None` before the first publish.
    async fn active_version(&self) -> Result<Option<ConfigVersion>>;

    /// Rollback: records a NEW version whose document equals version `number` (message
    /// "rollback to N"), activates it, and resets the draft to that document (bumping the
    /// draft version, so editors holding the old draft get a conflict). History only grows.
    async fn activate(&self, number: i64, actor: &str) -> Result<VersionInfo>;

    /// The structural changes from version `from` to version `to`.
    async fn diff(&self, from: i64, to: i64) -> Result<Vec<DiffOp>>;
}

/// An append-only record of admin actions.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one record stamped with the current time; returns it with its id.
    async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry>;

    /// Records matching `filter`, newest first, at most `limit` (1..=1000). Keyset
    /// pagination: pass the previous page's `next_cursor` as `before_id`.
    async fn query(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<AuditPage>;
}

/// Admin users, their per-tenant roles, and their API tokens (stored as SHA-256 digests).
#[async_trait]
pub trait AdminAuth: Send + Sync {
    /// Creates a user; `Duplicate` if the name is taken, `MissingReference` if a tenant
    /// in `roles` does not exist.
    async fn create_user(&self, name: &str, roles: &[TenantRole]) -> Result<AdminUser>;

    async fn get_user(&self, id: &str) -> Result<AdminUser>;

    async fn find_user_by_name(&self, name: &str) -> Result<Option<AdminUser>>;

    /// Users ordered by name.
    async fn list_users(&self, page: u32, per_page: u32) -> Result<Page<AdminUser>>;

    /// Replaces the user's grants if the user is still at `expected_version`.
    async fn set_roles(
        &self,
        user_id: &str,
        roles: &[TenantRole],
        expected_version: i64,
    ) -> Result<AdminUser>;

    /// Deletes the user, their grants, tokens and team memberships.
    async fn delete_user(&self, user_id: &str, expected_version: i64) -> Result<()>;

    /// Creates a token for the user. The clear token is in the result and nowhere else.
    async fn create_token(
        &self,
        user_id: &str,
        name: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<NewToken>;

    /// The user and grants behind a live (not revoked, not expired) token, else `None`.
    async fn authenticate(&self, token: &str) -> Result<Option<Authenticated>>;

    /// Revokes a token (idempotent); `NotFound` if there is no such token.
    async fn revoke_token(&self, token_id: &str) -> Result<()>;

    /// Tokens (of one user, or all), newest first; never the token or its digest.
    async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>>;

    /// First start: if no admin user exists, creates tenant `default` (if missing), user
    /// `admin` as its owner, and a token — `given_token` (e.g. from `PYLON_ADMIN_TOKEN`,
    /// at least 32 characters) or a fresh one. Returns `None` when an admin user already
    /// exists, including when another node bootstrapped concurrently.
    async fn bootstrap(&self, given_token: Option<&str>) -> Result<Option<Bootstrap>>;
}

/// Tenants (workspaces) and the teams inside them.
#[async_trait]
pub trait Tenants: Send + Sync {
    /// `id` is an immutable slug; `Duplicate` if taken.
    async fn create_tenant(&self, id: &str, display_name: &str) -> Result<Tenant>;
    async fn get_tenant(&self, id: &str) -> Result<Tenant>;
    /// Tenants ordered by id.
    async fn list_tenants(&self, page: u32, per_page: u32) -> Result<Page<Tenant>>;
    async fn update_tenant(
        &self,
        id: &str,
        display_name: &str,
        expected_version: i64,
    ) -> Result<Tenant>;
    /// Deletes the tenant with its teams and the role grants on it.
    async fn delete_tenant(&self, id: &str, expected_version: i64) -> Result<()>;

    /// `Duplicate` if the tenant already has a team with this name.
    async fn create_team(&self, tenant: &str, name: &str, description: &str) -> Result<Team>;
    async fn get_team(&self, id: &str) -> Result<Team>;
    /// Teams of one tenant ordered by name.
    async fn list_teams(&self, tenant: &str, page: u32, per_page: u32) -> Result<Page<Team>>;
    async fn update_team(
        &self,
        id: &str,
        name: &str,
        description: &str,
        expected_version: i64,
    ) -> Result<Team>;
    async fn delete_team(&self, id: &str, expected_version: i64) -> Result<()>;
    /// Adds an admin user to the team (a membership change bumps the team's version).
    async fn add_team_member(
        &self,
        team_id: &str,
        user_id: &str,
        expected_version: i64,
    ) -> Result<Team>;
    async fn remove_team_member(
        &self,
        team_id: &str,
        user_id: &str,
        expected_version: i64,
    ) -> Result<Team>;
}

/// A rewrite of one stored config document: `Ok(None)` leaves it, `Ok(Some(doc))`
/// replaces it, `Err(reason)` aborts the whole rewrite.
pub type DocumentRewrite =
    dyn Fn(&Value) -> std::result::Result<Option<Value>, String> + Send + Sync;

/// Console access and role grants, beside [`AdminAuth`]; plus the one operation that
/// rewrites every stored config document (master-key rotation).
#[async_trait]
pub trait AdminAccess: Send + Sync {
    /// Sets (or with `None` clears) the user's console password hash (an argon2 PHC string).
    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> Result<AdminUser>;

    /// The user named `name` and their password hash, if they have one.
    async fn password_hash(&self, name: &str) -> Result<Option<(AdminUser, String)>>;

    /// A console session: a token of kind `session` valid until `expires_at`.
    async fn create_session(&self, user_id: &str, expires_at: OffsetDateTime) -> Result<NewToken>;

    /// Gives the user `role` on `tenant` (replacing a role they had there).
    async fn grant_role(&self, user_id: &str, tenant: &str, role: Role) -> Result<AdminUser>;

    /// Takes the user's role on `tenant` away; `NotFound` if they had none.
    async fn revoke_role(&self, user_id: &str, tenant: &str) -> Result<AdminUser>;

    /// Applies `f` to the draft and every config version in one transaction (all or
    /// nothing); returns how many documents changed.
    async fn rewrite_documents(&self, f: &DocumentRewrite) -> Result<u64>;
}
