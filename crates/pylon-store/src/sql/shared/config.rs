//! `ConfigStore` over SQL: the draft lives in the single `config_head` row; publish and
//! rollback first bump `config_head.latest_version` (a row lock on PostgreSQL, the write
//! lock on SQLite), so version numbers are allocated one at a time and without gaps.

/// Expands to `impl ConfigStore for $store`; `$conn` is the backend's connection type.
macro_rules! impl_config_store {
    ($store:ty, $conn:ty) => {
        mod config_store_impl {
            use async_trait::async_trait;
            use serde_json::Value;
            use sqlx::types::Json;

            use $crate::sql::diff::{DiffOp, json_diff};
            use $crate::sql::error::{Result, StoreError};
            use $crate::sql::model::{ConfigVersion, Draft, Page, VersionInfo, page_window};
            use $crate::sql::rows::{
                DraftRow, FullVersionRow, HeadRow, Ts, VersionRow, check_name, now,
            };
            use $crate::sql::traits::ConfigStore;

            async fn document_of(conn: &mut $conn, number: i64) -> Result<Option<Value>> {
                let doc: Option<Json<Value>> =
                    sqlx::query_scalar("SELECT document FROM config_versions WHERE number = $1")
                        .bind(number)
                        .fetch_optional(conn)
                        .await?;
                Ok(doc.map(|d| d.0))
            }

            /// Inserts version `number` (already allocated in `config_head`), diffed
            /// against `number - 1`, and makes it active.
            async fn record_version(
                conn: &mut $conn,
                number: i64,
                document: &Value,
                actor: &str,
                message: &str,
                rollback_of: Option<i64>,
            ) -> Result<VersionInfo> {
                let parent = (number > 1).then_some(number - 1);
                let previous = match parent {
                    Some(p) => document_of(&mut *conn, p)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt(format!("version {p} is missing")))?,
                    None => Value::Object(Default::default()),
                };
                let changes: Vec<DiffOp> = json_diff(&previous, document);
                let row: VersionRow = sqlx::query_as(
                    "INSERT INTO config_versions \
                     (number, document, author, message, created_at, parent, rollback_of, diff) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     RETURNING number, author, message, created_at, parent, rollback_of, diff",
                )
                .bind(number)
                .bind(Json(document))
                .bind(actor)
                .bind(message)
                .bind(Ts(now()))
                .bind(parent)
                .bind(rollback_of)
                .bind(Json(&changes))
                .fetch_one(&mut *conn)
                .await?;
                sqlx::query("UPDATE config_head SET active_version = $1 WHERE id = 1")
                    .bind(number)
                    .execute(&mut *conn)
                    .await?;
                <$store>::after_activate(&mut *conn, number).await?;
                Ok(row.into())
            }

            /// Allocates the next version number; the caller holds a write transaction.
            async fn allocate(conn: &mut $conn) -> Result<HeadRow> {
                Ok(sqlx::query_as(
                    "UPDATE config_head SET latest_version = latest_version + 1 WHERE id = 1 \
                     RETURNING draft, draft_version, latest_version",
                )
                .fetch_one(conn)
                .await?)
            }

            #[async_trait]
            impl ConfigStore for $store {
                async fn get_draft(&self) -> Result<Draft> {
                    let row: DraftRow = sqlx::query_as(
                        "SELECT draft, draft_version, draft_updated_at, draft_updated_by \
                         FROM config_head WHERE id = 1",
                    )
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(row.into())
                }

                async fn put_draft(
                    &self,
                    document: &Value,
                    expected_draft_version: i64,
                    actor: &str,
                ) -> Result<i64> {
                    check_name("actor", actor)?;
                    let updated: Option<i64> = sqlx::query_scalar(
                        "UPDATE config_head SET draft = $1, draft_version = draft_version + 1, \
                         draft_updated_at = $2, draft_updated_by = $3 \
                         WHERE id = 1 AND draft_version = $4 RETURNING draft_version",
                    )
                    .bind(Json(document))
                    .bind(Ts(now()))
                    .bind(actor)
                    .bind(expected_draft_version)
                    .fetch_optional(&self.pool)
                    .await?;
                    match updated {
                        Some(version) => Ok(version),
                        None => {
                            let current: i64 = sqlx::query_scalar(
                                "SELECT draft_version FROM config_head WHERE id = 1",
                            )
                            .fetch_one(&self.pool)
                            .await?;
                            Err(StoreError::Conflict { current })
                        }
                    }
                }

                async fn publish(
                    &self,
                    actor: &str,
                    message: &str,
                    expected_draft_version: Option<i64>,
                ) -> Result<VersionInfo> {
                    check_name("actor", actor)?;
                    let mut tx = self.begin_write().await?;
                    let head = allocate(&mut tx).await?;
                    if let Some(expected) = expected_draft_version
                        && expected != head.draft_version
                    {
                        tx.rollback().await?;
                        return Err(StoreError::Conflict {
                            current: head.draft_version,
                        });
                    }
                    let info = record_version(
                        &mut tx,
                        head.latest_version,
                        &head.draft.0,
                        actor,
                        message,
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(info)
                }

                async fn get_version(&self, number: i64) -> Result<ConfigVersion> {
                    let row: Option<FullVersionRow> = sqlx::query_as(
                        "SELECT number, author, message, created_at, parent, rollback_of, diff, \
                         document FROM config_versions WHERE number = $1",
                    )
                    .bind(number)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(Into::into)
                        .ok_or_else(|| StoreError::not_found("config version", number.to_string()))
                }

                async fn list_versions(
                    &self,
                    page: u32,
                    per_page: u32,
                ) -> Result<Page<VersionInfo>> {
                    let (page, per_page, offset) = page_window(page, per_page);
                    let mut tx = self.begin_read().await?;
                    let rows: Vec<VersionRow> = sqlx::query_as(
                        "SELECT number, author, message, created_at, parent, rollback_of, diff \
                         FROM config_versions ORDER BY number DESC LIMIT $1 OFFSET $2",
                    )
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM config_versions")
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Page {
                        items: rows.into_iter().map(Into::into).collect(),
                        page,
                        per_page,
                        total: u64::try_from(total).unwrap_or_default(),
                    })
                }

                async fn active_version(&self) -> Result<Option<ConfigVersion>> {
                    let row: Option<FullVersionRow> = sqlx::query_as(
                        "SELECT v.number, v.author, v.message, v.created_at, v.parent, \
                         v.rollback_of, v.diff, v.document \
                         FROM config_versions v JOIN config_head h ON v.number = h.active_version \
                         WHERE h.id = 1",
                    )
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map(Into::into))
                }

                async fn activate(&self, number: i64, actor: &str) -> Result<VersionInfo> {
                    check_name("actor", actor)?;
                    let mut tx = self.begin_write().await?;
                    let head = allocate(&mut tx).await?;
                    let Some(document) = document_of(&mut tx, number).await? else {
                        tx.rollback().await?;
                        return Err(StoreError::not_found("config version", number.to_string()));
                    };
                    let message = format!("rollback to {number}");
                    let info = record_version(
                        &mut tx,
                        head.latest_version,
                        &document,
                        actor,
                        &message,
                        Some(number),
                    )
                    .await?;
                    sqlx::query(
                        "UPDATE config_head SET draft = $1, draft_version = draft_version + 1, \
                         draft_updated_at = $2, draft_updated_by = $3 WHERE id = 1",
                    )
                    .bind(Json(&document))
                    .bind(Ts(info.created_at))
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(info)
                }

                async fn diff(&self, from: i64, to: i64) -> Result<Vec<DiffOp>> {
                    let mut conn = self.pool.acquire().await?;
                    let a = document_of(&mut conn, from).await?.ok_or_else(|| {
                        StoreError::not_found("config version", from.to_string())
                    })?;
                    let b = document_of(&mut conn, to)
                        .await?
                        .ok_or_else(|| StoreError::not_found("config version", to.to_string()))?;
                    Ok(json_diff(&a, &b))
                }
            }
        }
    };
}

pub(crate) use impl_config_store;
