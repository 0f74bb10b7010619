//! `Tenants` over SQL: tenants keyed by slug, teams keyed by UUID with a unique name per
//! tenant; every update and delete is conditional on the caller's expected version.

/// Expands to `impl Tenants for $store`; `$conn` is the backend's connection type.
macro_rules! impl_tenants {
    ($store:ty, $conn:ty) => {
        mod tenants_impl {
            use async_trait::async_trait;

            use $crate::sql::error::{Result, StoreError, map_write_err};
            use $crate::sql::model::{Page, Team, Tenant, page_window};
            use $crate::sql::rows::{
                MemberRow, TeamRow, TenantRow, Ts, check_name, check_slug, members_of, new_id,
                now,
            };
            use $crate::sql::traits::Tenants;

            /// Why a conditional write touched no row: the object is missing or stale.
            async fn missing_or_stale(
                conn: &mut $conn,
                sql: &'static str,
                kind: &'static str,
                id: &str,
            ) -> StoreError {
                match sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_optional(conn).await {
                    Ok(Some(current)) => StoreError::Conflict { current },
                    Ok(None) => StoreError::not_found(kind, id),
                    Err(e) => e.into(),
                }
            }

            const TENANT_VERSION: &str = "SELECT version FROM tenants WHERE id = $1";
            const TEAM_VERSION: &str = "SELECT version FROM teams WHERE id = $1";

            async fn load_team(conn: &mut $conn, id: &str) -> Result<Team> {
                let row: Option<TeamRow> = sqlx::query_as(
                    "SELECT id, tenant_id, name, description, created_at, updated_at, version \
                     FROM teams WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let row = row.ok_or_else(|| StoreError::not_found("team", id))?;
                let members: Vec<MemberRow> = sqlx::query_as(
                    "SELECT team_id, user_id FROM team_members WHERE team_id = $1 \
                     ORDER BY user_id",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                let members = members_of(&members, id);
                Ok(row.into_team(members))
            }

            /// Bumps the team's version if it is still `expected`.
            async fn bump_team(conn: &mut $conn, id: &str, expected: i64) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE teams SET version = version + 1, updated_at = $1 \
                     WHERE id = $2 AND version = $3",
                )
                .bind(Ts(now()))
                .bind(id)
                .bind(expected)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(missing_or_stale(conn, TEAM_VERSION, "team", id).await);
                }
                Ok(())
            }

            #[async_trait]
            impl Tenants for $store {
                async fn create_tenant(&self, id: &str, display_name: &str) -> Result<Tenant> {
                    check_slug("tenant", id)?;
                    check_name("display name", display_name)?;
                    let t = Ts(now());
                    let row: TenantRow = sqlx::query_as(
                        "INSERT INTO tenants (id, display_name, created_at, updated_at, version) \
                         VALUES ($1, $2, $3, $3, 1) \
                         RETURNING id, display_name, created_at, updated_at, version",
                    )
                    .bind(id)
                    .bind(display_name)
                    .bind(t)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| map_write_err(e, "tenant", id))?;
                    Ok(row.into())
                }

                async fn get_tenant(&self, id: &str) -> Result<Tenant> {
                    let row: Option<TenantRow> = sqlx::query_as(
                        "SELECT id, display_name, created_at, updated_at, version \
                         FROM tenants WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(Into::into)
                        .ok_or_else(|| StoreError::not_found("tenant", id))
                }

                async fn list_tenants(&self, page: u32, per_page: u32) -> Result<Page<Tenant>> {
                    let (page, per_page, offset) = page_window(page, per_page);
                    let rows: Vec<TenantRow> = sqlx::query_as(
                        "SELECT id, display_name, created_at, updated_at, version \
                         FROM tenants ORDER BY id LIMIT $1 OFFSET $2",
                    )
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?;
                    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(Page {
                        items: rows.into_iter().map(Into::into).collect(),
                        page,
                        per_page,
                        total: u64::try_from(total).unwrap_or_default(),
                    })
                }

                async fn update_tenant(
                    &self,
                    id: &str,
                    display_name: &str,
                    expected_version: i64,
                ) -> Result<Tenant> {
                    check_name("display name", display_name)?;
                    let row: Option<TenantRow> = sqlx::query_as(
                        "UPDATE tenants SET display_name = $1, updated_at = $2, \
                         version = version + 1 WHERE id = $3 AND version = $4 \
                         RETURNING id, display_name, created_at, updated_at, version",
                    )
                    .bind(display_name)
                    .bind(Ts(now()))
                    .bind(id)
                    .bind(expected_version)
                    .fetch_optional(&self.pool)
                    .await?;
                    match row {
                        Some(row) => Ok(row.into()),
                        None => {
                            let mut conn = self.pool.acquire().await?;
                            Err(missing_or_stale(&mut conn, TENANT_VERSION, "tenant", id).await)
                        }
                    }
                }

                async fn delete_tenant(&self, id: &str, expected_version: i64) -> Result<()> {
                    let done = sqlx::query("DELETE FROM tenants WHERE id = $1 AND version = $2")
                        .bind(id)
                        .bind(expected_version)
                        .execute(&self.pool)
                        .await?;
                    if done.rows_affected() == 0 {
                        let mut conn = self.pool.acquire().await?;
                        return Err(missing_or_stale(&mut conn, TENANT_VERSION, "tenant", id).await);
                    }
                    Ok(())
                }

                async fn create_team(
                    &self,
                    tenant: &str,
                    name: &str,
                    description: &str,
                ) -> Result<Team> {
                    check_name("team name", name)?;
                    let t = Ts(now());
                    let row: TeamRow = sqlx::query_as(
                        "INSERT INTO teams \
                         (id, tenant_id, name, description, created_at, updated_at, version) \
                         VALUES ($1, $2, $3, $4, $5, $5, 1) \
                         RETURNING id, tenant_id, name, description, created_at, updated_at, \
                         version",
                    )
                    .bind(new_id())
                    .bind(tenant)
                    .bind(name)
                    .bind(description)
                    .bind(t)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| match map_write_err(e, "team", name) {
                        StoreError::MissingReference(_) => StoreError::not_found("tenant", tenant),
                        other => other,
                    })?;
                    Ok(row.into_team(Vec::new()))
                }

                async fn get_team(&self, id: &str) -> Result<Team> {
                    let mut conn = self.pool.acquire().await?;
                    load_team(&mut conn, id).await
                }

                async fn list_teams(
                    &self,
                    tenant: &str,
                    page: u32,
                    per_page: u32,
                ) -> Result<Page<Team>> {
                    let (page, per_page, offset) = page_window(page, per_page);
                    let mut tx = self.begin_read().await?;
                    let rows: Vec<TeamRow> = sqlx::query_as(
                        "SELECT id, tenant_id, name, description, created_at, updated_at, version \
                         FROM teams WHERE tenant_id = $1 ORDER BY name LIMIT $2 OFFSET $3",
                    )
                    .bind(tenant)
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await?;
                    let members: Vec<MemberRow> = sqlx::query_as(
                        "SELECT team_id, user_id FROM team_members WHERE team_id IN \
                         (SELECT id FROM teams WHERE tenant_id = $1 ORDER BY name \
                         LIMIT $2 OFFSET $3) ORDER BY team_id, user_id",
                    )
                    .bind(tenant)
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM teams WHERE tenant_id = $1")
                            .bind(tenant)
                            .fetch_one(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    let items = rows
                        .into_iter()
                        .map(|r| {
                            let m = members_of(&members, &r.id);
                            r.into_team(m)
                        })
                        .collect();
                    Ok(Page {
                        items,
                        page,
                        per_page,
                        total: u64::try_from(total).unwrap_or_default(),
                    })
                }

                async fn update_team(
                    &self,
                    id: &str,
                    name: &str,
                    description: &str,
                    expected_version: i64,
                ) -> Result<Team> {
                    check_name("team name", name)?;
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "UPDATE teams SET name = $1, description = $2, updated_at = $3, \
                         version = version + 1 WHERE id = $4 AND version = $5",
                    )
                    .bind(name)
                    .bind(description)
                    .bind(Ts(now()))
                    .bind(id)
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_write_err(e, "team", name))?;
                    if done.rows_affected() == 0 {
                        return Err(missing_or_stale(&mut tx, TEAM_VERSION, "team", id).await);
                    }
                    let team = load_team(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(team)
                }

                async fn delete_team(&self, id: &str, expected_version: i64) -> Result<()> {
                    let done = sqlx::query("DELETE FROM teams WHERE id = $1 AND version = $2")
                        .bind(id)
                        .bind(expected_version)
                        .execute(&self.pool)
                        .await?;
                    if done.rows_affected() == 0 {
                        let mut conn = self.pool.acquire().await?;
                        return Err(missing_or_stale(&mut conn, TEAM_VERSION, "team", id).await);
                    }
                    Ok(())
                }

                async fn add_team_member(
                    &self,
                    team_id: &str,
                    user_id: &str,
                    expected_version: i64,
                ) -> Result<Team> {
                    let mut tx = self.begin_write().await?;
                    bump_team(&mut tx, team_id, expected_version).await?;
                    sqlx::query(
                        "INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3)",
                    )
                    .bind(team_id)
                    .bind(user_id)
                    .bind(Ts(now()))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match map_write_err(e, "team member", user_id) {
                        StoreError::MissingReference(_) => {
                            StoreError::not_found("admin user", user_id)
                        }
                        other => other,
                    })?;
                    let team = load_team(&mut tx, team_id).await?;
                    tx.commit().await?;
                    Ok(team)
                }

                async fn remove_team_member(
                    &self,
                    team_id: &str,
                    user_id: &str,
                    expected_version: i64,
                ) -> Result<Team> {
                    let mut tx = self.begin_write().await?;
                    bump_team(&mut tx, team_id, expected_version).await?;
                    let done =
                        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                            .bind(team_id)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::not_found("team member", user_id));
                    }
                    let team = load_team(&mut tx, team_id).await?;
                    tx.commit().await?;
                    Ok(team)
                }
            }
        }
    };
}

pub(crate) use impl_tenants;
