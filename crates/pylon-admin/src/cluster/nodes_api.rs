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

/// One node as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    pub id: String,
    /// Advertised admin address.
    pub admin_addr: Option<String>,
    /// Advertised proxy address.
    pub proxy_addr: Option<String>,
    pub pylon_version: String,
    /// The config version the node serves.
    pub config_version: Option<i64>,
    /// The subscription generation the node applied.
    pub subscription_generation: i64,
    /// `ok`, `degraded` (see `last_error`) or `stopped`.
    pub health: String,
    pub last_error: Option<String>,
    /// The newest version the node failed to activate, while that is its problem.
    pub failed_version: Option<i64>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339 time of the last heartbeat.
    pub last_seen: String,
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

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
    let stale_after = st.running.lock().await.cluster.node_stale_after;
    let nodes = st.store.nodes().list_nodes().await?;
    let active = st.store.nodes().active_config_number().await?;
    let generation = st.store.subscriptions().subscription_generation().await?;
    let me = st.node.as_ref().map(|n| n.id().to_owned());
    let now = OffsetDateTime::now_utc();
    let items = nodes
        .into_iter()
        .map(|n| {
            let stale = n.beat.health != NodeHealth::Stopped && is_stale(&n, now, stale_after);
            NodeView {
                this_node: me.as_deref() == Some(n.beat.id.as_str()),
                stale,
                last_seen: rfc3339(n.last_seen),
                started_at: rfc3339(n.beat.started_at),
                health: n.beat.health.as_str().to_owned(),
                id: n.beat.id,
                admin_addr: n.beat.admin_addr,
                proxy_addr: n.beat.proxy_addr,
                pylon_version: n.beat.pylon_version,
                config_version: n.beat.config_version,
                subscription_generation: n.beat.subscription_generation,
                last_error: n.beat.last_error,
                failed_version: n.beat.failed_version,
            }
        })
        .collect();
    Ok(Json(NodeList {
        items,
        active_config_version: active,
        subscription_generation: generation,
    }))
}
