//! `AdminAccess` over SQL: console passwords (argon2 PHC strings hashed by the caller),
//! session tokens (the same digest-only storage as API tokens, kind `session`), single
//! role grants per tenant, and rewriting every stored config document (master-key rotation).

/// Expands to `impl AdminAccess for $store`; `$conn` is the backend's connection type.
macro_rules! impl_admin_access {
    ($store:ty, $conn:ty) => {
        mod admin_access_impl {
            use async_trait::async_trait;
            use serde_json::Value;
            use sqlx::types::Json;
            use time::OffsetDateTime;

            use $crate::sql::error::{Result, StoreError, map_write_err};
            use $crate::sql::model::{AdminUser, NewToken, Role};
            use $crate::sql::rows::{TokenRow, Ts, check_slug, new_id, now};
            use $crate::sql::token;
            use $crate::sql::traits::{AdminAccess, AdminAuth, DocumentRewrite};

            /// Bumps the user's version (any change to grants or password does).
            async fn bump_user(conn: &mut $conn, user_id: &str) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE admin_users SET version = version + 1, updated_at = $1 WHERE id = $2",
                )
                .bind(Ts(now()))
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("admin user", user_id));
                }
                Ok(())
            }

            #[async_trait]
            impl AdminAccess for $store {
                async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> Result<AdminUser> {
                    let mut tx = self.begin_write().await?;
                    bump_user(&mut tx, user_id).await?;
                    sqlx::query("UPDATE admin_users SET password_hash = $1 WHERE id = $2")
                        .bind(hash)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    self.get_user(user_id).await
                }

                async fn password_hash(&self, name: &str) -> Result<Option<(AdminUser, String)>> {
                    let row: Option<(String, Option<String>)> = sqlx::query_as(
                        "SELECT id, password_hash FROM admin_users WHERE name = $1",
                    )
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                    match row {
                        Some((id, Some(hash))) => Ok(Some((self.get_user(&id).await?, hash))),
                        _ => Ok(None),
                    }
                }

                async fn create_session(&self, user_id: &str, expires_at: OffsetDateTime) -> Result<NewToken> {
                    let clear = token::generate()?;
                    let row: TokenRow = sqlx::query_as(
                        "INSERT INTO admin_tokens \
                         (id, user_id, name, token_sha256, hint, created_at, expires_at, kind) \
                         VALUES ($1, $2, 'console session', $3, $4, $5, $6, 'session') \
                         RETURNING id, user_id, name, hint, created_at, expires_at, last_used_at, \
                         revoked_at, kind",
                    )
                    .bind(new_id())
                    .bind(user_id)
                    .bind(token::digest(clear.expose()))
                    .bind(token::hint(&clear))
                    .bind(Ts(now()))
                    .bind(Ts(expires_at))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| match map_write_err(e, "session", user_id) {
                        StoreError::MissingReference(_) => StoreError::not_found("admin user", user_id),
                        other => other,
                    })?;
                    Ok(NewToken { info: row.into(), token: clear })
                }

                async fn grant_role(&self, user_id: &str, tenant: &str, role: Role) -> Result<AdminUser> {
                    check_slug("tenant", tenant)?;
                    let mut tx = self.begin_write().await?;
                    bump_user(&mut tx, user_id).await?;
                    sqlx::query(
                        "INSERT INTO admin_user_roles (user_id, tenant_id, role) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = $3",
                    )
                    .bind(user_id)
                    .bind(tenant)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match map_write_err(e, "role", tenant) {
                        StoreError::MissingReference(_) => StoreError::not_found("tenant", tenant),
                        other => other,
                    })?;
                    tx.commit().await?;
                    self.get_user(user_id).await
                }

                async fn revoke_role(&self, user_id: &str, tenant: &str) -> Result<AdminUser> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "DELETE FROM admin_user_roles WHERE user_id = $1 AND tenant_id = $2",
                    )
                    .bind(user_id)
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::not_found("role", format!("{user_id} on {tenant}")));
                    }
                    bump_user(&mut tx, user_id).await?;
                    tx.commit().await?;
                    self.get_user(user_id).await
                }

                async fn rewrite_documents(&self, f: &DocumentRewrite) -> Result<u64> {
                    let mut tx = self.begin_write().await?;
                    let draft: Json<Value> =
                        sqlx::query_scalar("SELECT draft FROM config_head WHERE id = 1")
                            .fetch_one(&mut *tx)
                            .await?;
                    let mut changed = 0;
                    if let Some(doc) = f(&draft.0).map_err(StoreError::Invalid)? {
                        sqlx::query("UPDATE config_head SET draft = $1 WHERE id = 1")
                            .bind(Json(&doc))
                            .execute(&mut *tx)
                            .await?;
                        changed += 1;
                    }
                    let numbers: Vec<i64> =
                        sqlx::query_scalar("SELECT number FROM config_versions ORDER BY number")
                            .fetch_all(&mut *tx)
                            .await?;
                    for n in numbers {
                        let doc: Json<Value> = sqlx::query_scalar(
                            "SELECT document FROM config_versions WHERE number = $1",
                        )
                        .bind(n)
                        .fetch_one(&mut *tx)
                        .await?;
                        let rewritten = f(&doc.0)
                            .map_err(|e| StoreError::Invalid(format!("version {n}: {e}")))?;
                        if let Some(doc) = rewritten {
                            sqlx::query("UPDATE config_versions SET document = $1 WHERE number = $2")
                                .bind(Json(&doc))
                                .bind(n)
                                .execute(&mut *tx)
                                .await?;
                            changed += 1;
                        }
                    }
                    tx.commit().await?;
                    Ok(changed)
                }
            }
        }
    };
}

pub(crate) use impl_admin_access;
