//! What both backends share below the traits: the timestamp column type, row structs with
//! their mapping to the model, id generation and input rules. Keeping these in one place is
//! what keeps the SQLite and PostgreSQL implementations returning identical values.

use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::types::Json;
use sqlx::{Decode, Encode, FromRow, Type};
use time::OffsetDateTime;

use super::diff::DiffOp;
use super::error::{Result, StoreError};
use super::model::{
    AdminUser, AuditEntry, ConfigVersion, Draft, Role, Team, Tenant, TenantRole, TokenInfo,
    VersionInfo,
};

/// A UTC timestamp with microsecond precision. PostgreSQL stores it as `TIMESTAMPTZ`;
/// SQLite as an `INTEGER` of microseconds since the Unix epoch, so that range filters and
/// ordering compare numbers rather than text whose width varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(pub OffsetDateTime);

/// The current time, truncated to microseconds (the precision both backends keep).
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    let micros = t.nanosecond() / 1000 * 1000;
    t.replace_nanosecond(micros).unwrap_or(t)
}

impl From<OffsetDateTime> for Ts {
    fn from(t: OffsetDateTime) -> Self {
        Ts(t)
    }
}

fn to_micros(t: OffsetDateTime) -> Result<i64, BoxDynError> {
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1000)?)
}

fn from_micros(m: i64) -> Result<OffsetDateTime, BoxDynError> {
    Ok(OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(m) * 1000,
    )?)
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(to_micros(self.0)?, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(from_micros(<i64 as Decode<'r, Sqlite>>::decode(
            value,
        )?)?))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<OffsetDateTime as Decode<'r, Postgres>>::decode(value)?))
    }
}

/// A new time-ordered object id (UUID v7, text).
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Tenant ids are slugs: 1–63 of `a-z 0-9 - _`, starting with a letter or digit.
pub(crate) fn check_slug(kind: &str, id: &str) -> Result<()> {
    let mut bytes = id.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok =
        bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if first_ok && rest_ok && id.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{kind} id {id:?} must be 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
        )))
    }
}

/// Names (users, teams) and actors: not blank, at most 128 characters, no control characters.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1-128 characters without control characters"
        )));
    }
    Ok(())
}

/// Every role's tenant is a valid slug and appears once; returns the grants sorted.
pub(crate) fn check_roles(roles: &[TenantRole]) -> Result<Vec<TenantRole>> {
    let mut sorted = roles.to_vec();
    sorted.sort();
    for pair in sorted.windows(2) {
        if pair[0].tenant == pair[1].tenant {
            return Err(StoreError::Invalid(format!(
                "tenant {:?} is given more than one role",
                pair[0].tenant
            )));
        }
    }
    for r in &sorted {
        check_slug("tenant", &r.tenant)?;
    }
    Ok(sorted)
}

#[derive(FromRow)]
pub(crate) struct TenantRow {
    pub id: String,
    pub display_name: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub version: i64,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            display_name: r.display_name,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            version: r.version,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct TeamRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub version: i64,
}

impl TeamRow {
    pub fn into_team(self, members: Vec<String>) -> Team {
        Team {
            id: self.id,
            tenant: self.tenant_id,
            name: self.name,
            description: self.description,
            members,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct MemberRow {
    pub team_id: String,
    pub user_id: String,
}

/// Members of `team_id` from rows ordered by (team_id, user_id).
pub(crate) fn members_of(rows: &[MemberRow], team_id: &str) -> Vec<String> {
    rows.iter()
        .filter(|m| m.team_id == team_id)
        .map(|m| m.user_id.clone())
        .collect()
}

#[derive(FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub name: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub version: i64,
}

#[derive(FromRow)]
pub(crate) struct RoleRow {
    pub user_id: String,
    pub tenant_id: String,
    pub role: String,
}

impl UserRow {
    /// Builds the user with its grants taken from `roles` (rows ordered by user, tenant).
    pub fn into_user(self, roles: &[RoleRow]) -> Result<AdminUser> {
        let roles = roles
            .iter()
            .filter(|r| r.user_id == self.id)
            .map(|r| {
                let role: Role = r
                    .role
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("unknown role {:?}", r.role)))?;
                Ok(TenantRole::new(r.tenant_id.clone(), role))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdminUser {
            id: self.id,
            name: self.name,
            roles,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub hint: String,
    pub created_at: Ts,
    pub expires_at: Option<Ts>,
    pub last_used_at: Option<Ts>,
    pub revoked_at: Option<Ts>,
    pub kind: String,
}

impl From<TokenRow> for TokenInfo {
    fn from(r: TokenRow) -> Self {
        TokenInfo {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            hint: r.hint,
            created_at: r.created_at.0,
            expires_at: r.expires_at.map(|t| t.0),
            last_used_at: r.last_used_at.map(|t| t.0),
            revoked_at: r.revoked_at.map(|t| t.0),
            kind: r.kind,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct DraftRow {
    pub draft: Json<Value>,
    pub draft_version: i64,
    pub draft_updated_at: Option<Ts>,
    pub draft_updated_by: Option<String>,
}

impl From<DraftRow> for Draft {
    fn from(r: DraftRow) -> Self {
        Draft {
            document: r.draft.0,
            version: r.draft_version,
            updated_at: r.draft_updated_at.map(|t| t.0),
            updated_by: r.draft_updated_by,
        }
    }
}

/// The config head after its allocation `UPDATE ... RETURNING` in publish/activate.
#[derive(FromRow)]
pub(crate) struct HeadRow {
    pub draft: Json<Value>,
    pub draft_version: i64,
    pub latest_version: i64,
}

#[derive(FromRow)]
pub(crate) struct VersionRow {
    pub number: i64,
    pub author: String,
    pub message: String,
    pub created_at: Ts,
    pub parent: Option<i64>,
    pub rollback_of: Option<i64>,
    pub diff: Json<Vec<DiffOp>>,
}

impl From<VersionRow> for VersionInfo {
    fn from(r: VersionRow) -> Self {
        VersionInfo {
            number: r.number,
            author: r.author,
            message: r.message,
            created_at: r.created_at.0,
            parent: r.parent,
            rollback_of: r.rollback_of,
            changes: r.diff.0,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct FullVersionRow {
    #[sqlx(flatten)]
    pub info: VersionRow,
    pub document: Json<Value>,
}

impl From<FullVersionRow> for ConfigVersion {
    fn from(r: FullVersionRow) -> Self {
        ConfigVersion {
            info: r.info.into(),
            document: r.document.0,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: Ts,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub tenant: Option<String>,
    pub before_doc: Option<Json<Value>>,
    pub after_doc: Option<Json<Value>>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at.0,
            actor: r.actor,
            action: r.action,
            object_kind: r.object_kind,
            object_id: r.object_id,
            tenant: r.tenant,
            before: r.before_doc.map(|j| j.0),
            after: r.after_doc.map(|j| j.0),
        }
    }
}
