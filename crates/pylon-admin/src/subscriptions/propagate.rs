//! Waiting until every live node applied a subscription generation: each node
//! acknowledges the generation it loaded in its `cluster_nodes` row; the admin call
//! polls those rows until all live nodes caught up or `cluster.ack_timeout` passed.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AdminState;
use crate::cluster::agent::refresh_subscriptions;
use crate::cluster::nodes_api::is_live;

const POLL: Duration = Duration::from_millis(20);

/// How far a change has spread when the call returns.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Propagation {
    /// The subscription generation the change produced.
    pub generation: i64,
    /// Live nodes that applied it.
    pub applied: Vec<String>,
    /// Live nodes that did not acknowledge it within `cluster.ack_timeout` (or why the
    /// wait could not be done).
    pub pending: Vec<String>,
    /// Every live node applied the change.
    pub complete: bool,
}

/// Applies `generation` on this node, then waits for the other live nodes.
pub(crate) async fn propagate(st: &AdminState, generation: i64) -> Propagation {
    let (timeout, stale_after) = {
        let c = &st.current_config().await.cluster;
        (c.ack_timeout, c.node_stale_after)
    };
    let mut pending = Vec::new();
    // This node first; if that fails, its row stays behind and it is listed as pending.
    if let Some(node) = &st.node
        && let Err(e) = refresh_subscriptions(st, node).await
    {
        tracing::warn!(error = %e, "cannot apply the subscription change on this node");
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let nodes = match st.store.nodes().list_nodes().await {
            Ok(n) => n,
            Err(e) => {
                pending.push(format!("(node list unavailable: {e})"));
                return Propagation {
                    generation,
                    applied: Vec::new(),
                    pending,
                    complete: false,
                };
            }
        };
        let now = OffsetDateTime::now_utc();
        let (applied, waiting): (Vec<_>, Vec<_>) = nodes
            .iter()
            .filter(|n| is_live(n, now, stale_after))
            .partition(|n| n.beat.subscription_generation >= generation);
        if waiting.is_empty() || tokio::time::Instant::now() >= deadline {
            pending.extend(waiting.iter().map(|n| n.beat.id.clone()));
            return Propagation {
                generation,
                applied: applied.iter().map(|n| n.beat.id.clone()).collect(),
                complete: pending.is_empty(),
                pending,
            };
        }
        tokio::time::sleep(POLL).await;
    }
}
