//! `Subscriptions` over SQL: each change runs in one write transaction that also bumps
//! `subscription_head.generation` (serializing subscription writers on that row) and,
//! on PostgreSQL, queues a `NOTIFY` delivered on commit.

/// Expands to `impl Subscriptions for $store`; `$conn` is the backend's connection type.
macro_rules! impl_subscriptions {
    ($store:ty, $conn:ty) => {
        mod subscriptions_impl {
            use async_trait::async_trait;

            use $crate::sql::error::{Result, StoreError, map_write_err};
            use $crate::sql::model::{Page, page_window};
            use $crate::sql::model_cluster::{
                ApprovedSet, Changed, Subscription, SubscriptionFilter, SubscriptionState,
            };
            use $crate::sql::rows::{Ts, check_name, new_id, now};
            use $crate::sql::rows_cluster::{SubscriptionRow, subscription_columns};
            use $crate::sql::traits_cluster::Subscriptions;

            /// Bumps the generation inside the caller's transaction and queues the notice.
            async fn bump(conn: &mut $conn) -> Result<i64> {
                let generation: i64 = sqlx::query_scalar(
                    "UPDATE subscription_head SET generation = generation + 1 WHERE id = 1 \
                     RETURNING generation",
                )
                .fetch_one(&mut *conn)
                .await?;
                <$store>::after_subscriptions_changed(&mut *conn, generation).await?;
                Ok(generation)
            }

            fn check_ref(what: &str, name: &str) -> Result<()> {
                check_name(what, name)
            }

            #[async_trait]
            impl Subscriptions for $store {
                async fn create_subscription(
                    &self,
                    service: &str,
                    consumer: &str,
                    state: SubscriptionState,
                    actor: &str,
                ) -> Result<Changed<Subscription>> {
                    check_ref("service", service)?;
                    check_ref("consumer", consumer)?;
                    check_name("actor", actor)?;
                    if !matches!(state, SubscriptionState::Pending | SubscriptionState::Approved)
                    {
                        return Err(StoreError::Invalid(
                            "a new subscription is pending or approved".into(),
                        ));
                    }
                    let decided_by = (state == SubscriptionState::Approved).then_some(actor);
                    let mut tx = self.begin_write().await?;
                    let generation = bump(&mut tx).await?;
                    let t = Ts(now());
                    let row: SubscriptionRow = sqlx::query_as(concat!(
                        "INSERT INTO subscriptions (id, service, consumer, state, note, \
                         requested_by, decided_by, created_at, updated_at, version) \
                         VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $7, 1) RETURNING ",
                        subscription_columns!()
                    ))
                    .bind(new_id())
                    .bind(service)
                    .bind(consumer)
                    .bind(state.as_str())
                    .bind(actor)
                    .bind(decided_by)
                    .bind(t)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        map_write_err(e, "subscription", &format!("{consumer} → {service}"))
                    })?;
                    tx.commit().await?;
                    Ok(Changed {
                        value: row.into_subscription()?,
                        generation,
                    })
                }

                async fn get_subscription(&self, id: &str) -> Result<Subscription> {
                    let row: Option<SubscriptionRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        subscription_columns!(),
                        " FROM subscriptions WHERE id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or_else(|| StoreError::not_found("subscription", id))?
                        .into_subscription()
                }

                async fn list_subscriptions(
                    &self,
                    f: &SubscriptionFilter,
                    page: u32,
                    per_page: u32,
                ) -> Result<Page<Subscription>> {
                    let (page, per_page, offset) = page_window(page, per_page);
                    let state = f.state.map(|s| s.as_str());
                    let mut tx = self.begin_read().await?;
                    let rows: Vec<SubscriptionRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        subscription_columns!(),
                        " FROM subscriptions WHERE ($1 IS NULL OR service = $1) \
                         AND ($2 IS NULL OR consumer = $2) AND ($3 IS NULL OR state = $3) \
                         ORDER BY service, consumer LIMIT $4 OFFSET $5"
                    ))
                    .bind(&f.service)
                    .bind(&f.consumer)
                    .bind(state)
                    .bind(i64::from(per_page))
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM subscriptions WHERE ($1 IS NULL OR service = $1) \
                         AND ($2 IS NULL OR consumer = $2) AND ($3 IS NULL OR state = $3)",
                    )
                    .bind(&f.service)
                    .bind(&f.consumer)
                    .bind(state)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Page {
                        items: rows
                            .into_iter()
                            .map(SubscriptionRow::into_subscription)
                            .collect::<Result<_>>()?,
                        page,
                        per_page,
                        total: u64::try_from(total).unwrap_or_default(),
                    })
                }

                async fn transition(
                    &self,
                    id: &str,
                    to: SubscriptionState,
                    actor: &str,
                    note: Option<&str>,
                ) -> Result<Changed<Subscription>> {
                    check_name("actor", actor)?;
                    let from = SubscriptionState::required_for(to).ok_or_else(|| {
                        StoreError::Invalid(format!("a subscription cannot be moved to {to}"))
                    })?;
                    let mut tx = self.begin_write().await?;
                    let row: Option<SubscriptionRow> = sqlx::query_as(concat!(
                        "UPDATE subscriptions SET state = $1, note = $2, decided_by = $3, \
                         updated_at = $4, version = version + 1 WHERE id = $5 AND state = $6 \
                         RETURNING ",
                        subscription_columns!()
                    ))
                    .bind(to.as_str())
                    .bind(note)
                    .bind(actor)
                    .bind(Ts(now()))
                    .bind(id)
                    .bind(from.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        let current: Option<String> =
                            sqlx::query_scalar("SELECT state FROM subscriptions WHERE id = $1")
                                .bind(id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        tx.rollback().await?;
                        return Err(match current {
                            Some(current) => StoreError::InvalidTransition {
                                id: id.to_owned(),
                                current,
                                wanted: to.as_str().to_owned(),
                            },
                            None => StoreError::not_found("subscription", id),
                        });
                    };
                    let generation = bump(&mut tx).await?;
                    tx.commit().await?;
                    Ok(Changed {
                        value: row.into_subscription()?,
                        generation,
                    })
                }

                async fn delete_subscription(&self, id: &str) -> Result<Changed<Subscription>> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<SubscriptionRow> = sqlx::query_as(concat!(
                        "DELETE FROM subscriptions WHERE id = $1 RETURNING ",
                        subscription_columns!()
                    ))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Err(StoreError::not_found("subscription", id));
                    };
                    let generation = bump(&mut tx).await?;
                    tx.commit().await?;
                    Ok(Changed {
                        value: row.into_subscription()?,
                        generation,
                    })
                }

                async fn approved_set(&self) -> Result<ApprovedSet> {
                    let mut tx = self.begin_read().await?;
                    let generation: i64 =
                        sqlx::query_scalar("SELECT generation FROM subscription_head WHERE id = 1")
                            .fetch_one(&mut *tx)
                            .await?;
                    let pairs: Vec<(String, String)> = sqlx::query_as(
                        "SELECT service, consumer FROM subscriptions WHERE state = 'approved' \
                         ORDER BY service, consumer",
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(ApprovedSet { generation, pairs })
                }

                async fn subscription_generation(&self) -> Result<i64> {
                    Ok(
                        sqlx::query_scalar("SELECT generation FROM subscription_head WHERE id = 1")
                            .fetch_one(&self.pool)
                            .await?,
                    )
                }
            }
        }
    };
}

pub(crate) use impl_subscriptions;
