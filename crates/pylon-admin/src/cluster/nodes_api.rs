//! `GET /api/v1/nodes`: every node registered in the store, stale ones marked.

use axum::Json;
use axum::extract::State;
use pylon_store::sql::{NodeHealth, NodeRecord};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// One node as the API shows it: its heartbeat row (`id`, `admin_addr`, `proxy_addr`,
/// `pylon_version`, `config_version`, `subscription_generation`, `health` = `ok` |
/// `degraded` | `stopped`, `last_error`, `failed_version`, `started_at`, `last_seen`)
/// plus what this node concludes from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub node: NodeRecord,
    /// No heartbeat for longer than `cluster.node_stale_after` (stopped nodes are not stale).
    pub stale: bool,
    /// The node answering this request.
    pub this_node: bool,
}

/// The list.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeList {
    pub items: Vec<NodeView>,
    /// The active config version in the store.
    pub active_config_version: Option<i64>,
    /// The store's subscription generation.
    pub subscription_generation: i64,
}

/// Whether `n` counts as live at `now` with staleness bound `stale_after`.
pub(crate) fn is_live(
    n: &NodeRecord,
    now: OffsetDateTime,
    stale_after: std::time::Duration,
) -> bool {
    n.beat.health != NodeHealth::Stopped && !is_stale(n, now, stale_after)
}

fn is_stale(n: &NodeRecord, now: OffsetDateTime, stale_after: std::time::Duration) -> bool {
    let age = now - n.last_seen;
    age > time::Duration::try_from(stale_after).unwrap_or(time::Duration::MAX)
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster", security(("bearer" = [])),
    responses((status = 200, description = "every registered node", body = NodeList),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody)))]
pub async fn list(State(st): State<AdminState>, caller: Caller) -> ApiResult<Json<NodeList>> {
    caller.can_read()?;
    let stale_after = st.current_config().await.cluster.node_stale_after;
    let nodes = st.store.nodes().list_nodes().await?;
    let active = st.store.nodes().active_config_number().await?;
    let generation = st.store.subscriptions().subscription_generation().await?;
    let me = st.node.as_ref().map(|n| n.id().to_owned());
    let now = OffsetDateTime::now_utc();
    let items = nodes
        .into_iter()
        .map(|n| NodeView {
            this_node: me.as_deref() == Some(n.beat.id.as_str()),
            stale: n.beat.health != NodeHealth::Stopped && is_stale(&n, now, stale_after),
            node: n,
        })
        .collect();
    Ok(Json(NodeList {
        items,
        active_config_version: active,
        subscription_generation: generation,
    }))
}
