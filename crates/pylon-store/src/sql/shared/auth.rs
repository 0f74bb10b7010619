//! `AdminAuth` over SQL: users with per-tenant role grants, and tokens stored only as
//! SHA-256 digests (looked up by digest, so the clear token never reaches the database).

/// Expands to `impl AdminAuth for $store`; `$conn` is the backend's connection type.
macro_rules! impl_admin_auth {
    ($store:ty, $conn:ty) => {
        mod admin_auth_impl {
            use async_trait::async_trait;
            use time::OffsetDateTime;

            use $crate::sql::error::{Result, StoreError, map_write_err};
            use $crate::sql::model::{
                AdminUser, Authenticated, Bootstrap, ClearToken, NewToken, Page, Role,
                TenantRole, TokenInfo, page_window,
            };
            use $crate::sql::rows::{
                RoleRow, TokenRow, Ts, UserRow, check_name, check_roles, new_id, now,
            };
            use $crate::sql::token;
            use $crate::sql::traits::AdminAuth;

            /// `last_used_at` is refreshed at most this often, to keep reads mostly read-only.
            const LAST_USED_RESOLUTION: time::Duration = time::Duration::minutes(1);


            async fn load_user(conn: &mut $conn, id: &str) -> Result<Option<AdminUser>> {
                let row: Option<UserRow> = sqlx::query_as(
                    "SELECT id, name, created_at, updated_at, version FROM admin_users \
                     WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let roles: Vec<RoleRow> = sqlx::query_as(
                    "SELECT user_id, tenant_id, role FROM admin_user_roles WHERE user_id = $1 \
                     ORDER BY tenant_id",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                row.into_user(&roles).map(Some)
            }

            async fn insert_roles(
                conn: &mut $conn,
                user_id: &str,
                roles: &[TenantRole],
            ) -> Result<()> {
                for r in roles {
                    sqlx::query(
                        "INSERT INTO admin_user_roles (user_id, tenant_id, role) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(user_id)
                    .bind(&r.tenant)
                    .bind(r.role.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| match map_write_err(e, "role", &r.tenant) {
                        StoreError::MissingReference(_) => {
                            StoreError::not_found("tenant", r.tenant.as_str())
                        }
                        other => other,
                    })?;
                }
                Ok(())
            }

            async fn insert_user(
                conn: &mut $conn,
                name: &str,
                roles: &[TenantRole],
            ) -> Result<String> {
                let id = new_id();
                let t = Ts(now());
                sqlx::query(
                    "INSERT INTO admin_users (id, name, created_at, updated_at, version) \
                     VALUES ($1, $2, $3, $3, 1)",
                )
                .bind(&id)
                .bind(name)
                .bind(t)
                .execute(&mut *conn)
                .await
                .map_err(|e| map_write_err(e, "admin user", name))?;
                insert_roles(conn, &id, roles).await?;
                Ok(id)
            }

            async fn insert_token(
                conn: &mut $conn,
                user_id: &str,
                name: &str,
                clear: ClearToken,
                expires_at: Option<OffsetDateTime>,
            ) -> Result<NewToken> {
                let row: TokenRow = sqlx::query_as(
                    "INSERT INTO admin_tokens \
                     (id, user_id, name, token_sha256, hint, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING id, user_id, name, hint, created_at, expires_at, last_used_at, \
                     revoked_at, kind",
                )
                .bind(new_id())
                .bind(user_id)
                .bind(name)
                .bind(token::digest(clear.expose()))
                .bind(token::hint(&clear))
                .bind(Ts(now()))
                .bind(expires_at.map(Ts))
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| match map_write_err(e, "admin token", name) {
                    StoreError::MissingReference(_) => StoreError::not_found("admin user", user_id),
                    other => other,
                })?;
                Ok(NewToken { info: row.into(), token: clear })
            }

            #[async_trait]
            impl AdminAuth for $store {
                async fn create_user(&self, name: &str, roles: &[TenantRole]) -> Result<AdminUser> {
                    check_name("user name", name)?;
                    let roles = check_roles(roles)?;
                    let mut tx = self.begin_write().await?;
                    let id = insert_user(&mut tx, name, &roles).await?;
                    let user = load_user(&mut tx, &id)
                        .await?
                        .ok_or_else(|| StoreError::not_found("admin user", id.as_str()))?;
                    tx.commit().await?;
                    Ok(user)
                }

                async fn get_user(&self, id: &str) -> Result<AdminUser> {
                    let mut conn = self.pool.acquire().await?;
                    load_user(&mut conn, id)
                        .await?
                        .ok_or_else(|| StoreError::not_found("admin user", id))
                }

                async fn find_user_by_name(&self, name: &str) -> Result<Option<AdminUser>> {
                    let mut conn = self.pool.acquire().await?;
                    let id: Option<String> =
                        sqlx::query_scalar("SELECT id FROM admin_users WHERE name = $1")
                            .bind(name)
                            .fetch_optional(&mut *conn)
                            .await?;
                    match id {
                        Some(id) => load_user(&mut conn, &id).await,
                        None => Ok(None),
                    }
                }

                async fn list_users(&self, page: u32, per_page: u32) -> Result<Page<AdminUser>> {
                    let (page, per_page, offset) = page_window(page, per_page);
                    let mut tx = self.begin_read().await?;
                    let rows: Vec<UserRow> = sqlx::query_as(
                        "SELECT id, name, created_at, updated_at, version FROM admin_users \
                         ORDER BY name LIMIT $1 OFFSET $2",
                    )
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await?;
                    let roles: Vec<RoleRow> = sqlx::query_as(
                        "SELECT user_id, tenant_id, role FROM admin_user_roles WHERE user_id IN \
                         (SELECT id FROM admin_users ORDER BY name LIMIT $1 OFFSET $2) \
                         ORDER BY user_id, tenant_id",
                    )
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_users")
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    let items = rows
                        .into_iter()
                        .map(|r| r.into_user(&roles))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(Page {
                        items,
                        page,
                        per_page,
                        total: u64::try_from(total).unwrap_or_default(),
                    })
                }

                async fn set_roles(
                    &self,
                    user_id: &str,
                    roles: &[TenantRole],
                    expected_version: i64,
                ) -> Result<AdminUser> {
                    let roles = check_roles(roles)?;
                    let mut tx = self.begin_write().await?;
                    let bumped: Option<i64> = sqlx::query_scalar(
                        "UPDATE admin_users SET version = version + 1, updated_at = $1 \
                         WHERE id = $2 AND version = $3 RETURNING version",
                    )
                    .bind(Ts(now()))
                    .bind(user_id)
                    .bind(expected_version)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if bumped.is_none() {
                        return Err(match load_user(&mut tx, user_id).await? {
                            Some(u) => StoreError::Conflict { current: u.version },
                            None => StoreError::not_found("admin user", user_id),
                        });
                    }
                    sqlx::query("DELETE FROM admin_user_roles WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    insert_roles(&mut tx, user_id, &roles).await?;
                    let user = load_user(&mut tx, user_id)
                        .await?
                        .ok_or_else(|| StoreError::not_found("admin user", user_id))?;
                    tx.commit().await?;
                    Ok(user)
                }

                async fn delete_user(&self, user_id: &str, expected_version: i64) -> Result<()> {
                    let done =
                        sqlx::query("DELETE FROM admin_users WHERE id = $1 AND version = $2")
                            .bind(user_id)
                            .bind(expected_version)
                            .execute(&self.pool)
                            .await?;
                    if done.rows_affected() == 0 {
                        let current: Option<i64> =
                            sqlx::query_scalar("SELECT version FROM admin_users WHERE id = $1")
                                .bind(user_id)
                                .fetch_optional(&self.pool)
                                .await?;
                        return Err(match current {
                            Some(current) => StoreError::Conflict { current },
                            None => StoreError::not_found("admin user", user_id),
                        });
                    }
                    Ok(())
                }

                async fn create_token(
                    &self,
                    user_id: &str,
                    name: &str,
                    expires_at: Option<OffsetDateTime>,
                ) -> Result<NewToken> {
                    check_name("token name", name)?;
                    let clear = token::generate()?;
                    let mut conn = self.pool.acquire().await?;
                    insert_token(&mut conn, user_id, name, clear, expires_at).await
                }

                async fn authenticate(&self, token: &str) -> Result<Option<Authenticated>> {
                    let mut conn = self.pool.acquire().await?;
                    let row: Option<TokenRow> = sqlx::query_as(
                        "SELECT id, user_id, name, hint, created_at, expires_at, last_used_at, \
                         revoked_at, kind FROM admin_tokens WHERE token_sha256 = $1",
                    )
                    .bind(token::digest(token))
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let t = now();
                    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e.0 <= t) {
                        return Ok(None);
                    }
                    let Some(user) = load_user(&mut conn, &row.user_id).await? else {
                        return Ok(None);
                    };
                    if row.last_used_at.is_none_or(|u| t - u.0 >= LAST_USED_RESOLUTION) {
                        let touched =
                            sqlx::query("UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2")
                                .bind(Ts(t))
                                .bind(&row.id)
                                .execute(&mut *conn)
                                .await;
                        if let Err(e) = touched {
                            tracing::warn!(error = %e, "could not record admin token use");
                        }
                    }
                    Ok(Some(Authenticated { user, token_id: row.id }))
                }

                async fn revoke_token(&self, token_id: &str) -> Result<()> {
                    let done = sqlx::query(
                        "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                         WHERE id = $2",
                    )
                    .bind(Ts(now()))
                    .bind(token_id)
                    .execute(&self.pool)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::not_found("admin token", token_id));
                    }
                    Ok(())
                }

                async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>> {
                    let rows: Vec<TokenRow> = sqlx::query_as(
                        "SELECT id, user_id, name, hint, created_at, expires_at, last_used_at, \
                         revoked_at, kind FROM admin_tokens WHERE ($1 IS NULL OR user_id = $1) \
                         ORDER BY created_at DESC, id DESC",
                    )
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn bootstrap(&self, given_token: Option<&str>) -> Result<Option<Bootstrap>> {
                    let clear = match given_token {
                        Some(t) => token::check_imported(t)?,
                        None => token::generate()?,
                    };
                    let mut tx = self.begin_write().await?;
                    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_users")
                        .fetch_one(&mut *tx)
                        .await?;
                    if users > 0 {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    let t = Ts(now());
                    sqlx::query(
                        "INSERT INTO tenants (id, display_name, created_at, updated_at, version) \
                         VALUES ('default', 'Default', $1, $1, 1) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
                    let roles = [TenantRole::new("default", Role::Owner)];
                    let id = match insert_user(&mut tx, "admin", &roles).await {
                        Ok(id) => id,
                        // Another node bootstrapped between our count and our insert.
                        Err(StoreError::Duplicate { .. }) => return Ok(None),
                        Err(e) => return Err(e),
                    };
                    let new_token = insert_token(&mut tx, &id, "bootstrap", clear, None).await?;
                    let user = load_user(&mut tx, &id)
                        .await?
                        .ok_or_else(|| StoreError::not_found("admin user", id.as_str()))?;
                    tx.commit().await?;
                    Ok(Some(Bootstrap { user, token: new_token }))
                }
            }
        }
    };
}

pub(crate) use impl_admin_auth;
