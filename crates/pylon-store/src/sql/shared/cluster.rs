//! `ClusterNodes` over SQL: one upserted row per node.

/// Expands to `impl ClusterNodes for $store`.
macro_rules! impl_cluster_nodes {
    ($store:ty) => {
        mod cluster_nodes_impl {
            use async_trait::async_trait;

            use $crate::sql::error::{Result, StoreError};
            use $crate::sql::model_cluster::{NodeHeartbeat, NodeRecord};
            use $crate::sql::rows_cluster::NodeRow;
            use $crate::sql::rows::{Ts, now};
            use $crate::sql::traits_cluster::ClusterNodes;

            #[async_trait]
            impl ClusterNodes for $store {
                async fn heartbeat(&self, b: &NodeHeartbeat) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO cluster_nodes (id, admin_addr, proxy_addr, pylon_version, \
                         config_version, subscription_generation, health, last_error, \
                         failed_version, started_at, last_seen) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                         ON CONFLICT (id) DO UPDATE SET admin_addr = excluded.admin_addr, \
                         proxy_addr = excluded.proxy_addr, pylon_version = excluded.pylon_version, \
                         config_version = excluded.config_version, \
                         subscription_generation = CASE \
                           WHEN excluded.subscription_generation > cluster_nodes.subscription_generation \
                           THEN excluded.subscription_generation \
                           ELSE cluster_nodes.subscription_generation END, \
                         health = excluded.health, last_error = excluded.last_error, \
                         failed_version = excluded.failed_version, \
                         started_at = excluded.started_at, last_seen = excluded.last_seen",
                    )
                    .bind(&b.id)
                    .bind(&b.admin_addr)
                    .bind(&b.proxy_addr)
                    .bind(&b.pylon_version)
                    .bind(b.config_version)
                    .bind(b.subscription_generation)
                    .bind(b.health.as_str())
                    .bind(&b.last_error)
                    .bind(b.failed_version)
                    .bind(Ts(b.started_at))
                    .bind(Ts(now()))
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn ack_subscriptions(&self, node_id: &str, generation: i64) -> Result<()> {
                    let done = sqlx::query(
                        "UPDATE cluster_nodes SET subscription_generation = $1, last_seen = $2 \
                         WHERE id = $3 AND subscription_generation <= $1",
                    )
                    .bind(generation)
                    .bind(Ts(now()))
                    .bind(node_id)
                    .execute(&self.pool)
                    .await?;
                    if done.rows_affected() == 0 {
                        let known: Option<i64> = sqlx::query_scalar(
                            "SELECT subscription_generation FROM cluster_nodes WHERE id = $1",
                        )
                        .bind(node_id)
                        .fetch_optional(&self.pool)
                        .await?;
                        if known.is_none() {
                            return Err(StoreError::not_found("node", node_id));
                        }
                    }
                    Ok(())
                }

                async fn mark_stopped(&self, node_id: &str) -> Result<()> {
                    sqlx::query(
                        "UPDATE cluster_nodes SET health = 'stopped', last_seen = $1 WHERE id = $2",
                    )
                    .bind(Ts(now()))
                    .bind(node_id)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn list_nodes(&self) -> Result<Vec<NodeRecord>> {
                    let rows: Vec<NodeRow> = sqlx::query_as(
                        "SELECT id, admin_addr, proxy_addr, pylon_version, config_version, \
                         subscription_generation, health, last_error, failed_version, \
                         started_at, last_seen FROM cluster_nodes ORDER BY id",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(NodeRow::into_record).collect()
                }

                async fn active_config_number(&self) -> Result<Option<i64>> {
                    Ok(sqlx::query_scalar("SELECT active_version FROM config_head WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?)
                }
            }
        }
    };
}

pub(crate) use impl_cluster_nodes;
