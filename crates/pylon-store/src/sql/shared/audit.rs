//! `AuditLog` over SQL: an append-only table read newest first with keyset pagination on
//! the monotonic `id` (stable while new records arrive, unlike offsets).

/// Expands to `impl AuditLog for $store`.
macro_rules! impl_audit_log {
    ($store:ty) => {
        mod audit_log_impl {
            use async_trait::async_trait;
            use sqlx::types::Json;

            use $crate::sql::error::Result;
            use $crate::sql::model::{
                AuditEntry, AuditFilter, AuditPage, MAX_PER_PAGE, NewAuditEntry,
            };
            use $crate::sql::rows::{AuditRow, Ts, check_name, now};
            use $crate::sql::traits::AuditLog;

            #[async_trait]
            impl AuditLog for $store {
                async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
                    check_name("actor", &entry.actor)?;
                    check_name("action", &entry.action)?;
                    check_name("object kind", &entry.object_kind)?;
                    let row: AuditRow = sqlx::query_as(
                        "INSERT INTO audit_log \
                         (at, actor, action, object_kind, object_id, tenant, before_doc, \
                         after_doc) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         RETURNING id, at, actor, action, object_kind, object_id, tenant, \
                         before_doc, after_doc",
                    )
                    .bind(Ts(now()))
                    .bind(&entry.actor)
                    .bind(&entry.action)
                    .bind(&entry.object_kind)
                    .bind(&entry.object_id)
                    .bind(&entry.tenant)
                    .bind(entry.before.as_ref().map(Json))
                    .bind(entry.after.as_ref().map(Json))
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(row.into())
                }

                async fn query(
                    &self,
                    filter: &AuditFilter,
                    before_id: Option<i64>,
                    limit: u32,
                ) -> Result<AuditPage> {
                    let limit = limit.clamp(1, MAX_PER_PAGE);
                    // One row more than asked tells whether an older page exists.
                    let mut rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT id, at, actor, action, object_kind, object_id, tenant, \
                         before_doc, after_doc FROM audit_log \
                         WHERE ($1 IS NULL OR actor = $1) \
                         AND ($2 IS NULL OR action = $2) \
                         AND ($3 IS NULL OR object_kind = $3) \
                         AND ($4 IS NULL OR object_id = $4) \
                         AND ($5 IS NULL OR tenant = $5) \
                         AND ($6 IS NULL OR at >= $6) \
                         AND ($7 IS NULL OR at < $7) \
                         AND ($8 IS NULL OR id < $8) \
                         ORDER BY id DESC LIMIT $9",
                    )
                    .bind(&filter.actor)
                    .bind(&filter.action)
                    .bind(&filter.object_kind)
                    .bind(&filter.object_id)
                    .bind(&filter.tenant)
                    .bind(filter.since.map(Ts))
                    .bind(filter.until.map(Ts))
                    .bind(before_id)
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let more = rows.len() > limit as usize;
                    rows.truncate(limit as usize);
                    let next_cursor = if more {
                        rows.last().map(|r| r.id)
                    } else {
                        None
                    };
                    Ok(AuditPage {
                        items: rows.into_iter().map(Into::into).collect(),
                        next_cursor,
                    })
                }
            }
        }
    };
}

pub(crate) use impl_audit_log;
