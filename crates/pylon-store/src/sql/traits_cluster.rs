//! The contracts of the cluster registry and of subscriptions (see [`super::traits`] for
//! why they are `async-trait` objects).

use async_trait::async_trait;

use super::error::Result;
use super::model::Page;
use super::model_cluster::{
    ApprovedSet, Changed, NodeHeartbeat, NodeRecord, Subscription, SubscriptionFilter,
    SubscriptionState,
};

/// The nodes sharing this store: registration, heartbeats, acknowledgements.
#[async_trait]
pub trait ClusterNodes: Send + Sync {
    /// Inserts or replaces the node's row, stamping `last_seen` with the current time.
    /// The acknowledged subscription generation never goes backwards.
    async fn heartbeat(&self, beat: &NodeHeartbeat) -> Result<()>;

    /// Records that the node applied subscription generation `generation` (no-op if it
    /// had acknowledged a newer one; `NotFound` if the node never sent a heartbeat).
    async fn ack_subscriptions(&self, node_id: &str, generation: i64) -> Result<()>;

    /// Marks the node stopped (clean shutdown), so nobody waits for it.
    async fn mark_stopped(&self, node_id: &str) -> Result<()>;

    /// Every registered node, ordered by id.
    async fn list_nodes(&self) -> Result<Vec<NodeRecord>>;

    /// The active config version number, without its document (`None` before the first
    /// publish): what nodes poll.
    async fn active_config_number(&self) -> Result<Option<i64>>;
}

/// Consumers' subscriptions to services. Every change bumps one generation counter in
/// the same transaction (and, on PostgreSQL, notifies `SUBSCRIPTIONS_CHANNEL`).
#[async_trait]
pub trait Subscriptions: Send + Sync {
    /// A new subscription in `state` (`pending`, or `approved` for automatic approval);
    /// `Duplicate` if the consumer already has one for the service.
    async fn create_subscription(
        &self,
        service: &str,
        consumer: &str,
        state: SubscriptionState,
        actor: &str,
    ) -> Result<Changed<Subscription>>;

    async fn get_subscription(&self, id: &str) -> Result<Subscription>;

    /// Subscriptions matching `filter`, ordered by service then consumer.
    async fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Subscription>>;

    /// Moves the subscription to `to` if it is in the state that allows it
    /// (pending → approved | rejected, approved → revoked); otherwise
    /// `InvalidTransition` with its current state.
    async fn transition(
        &self,
        id: &str,
        to: SubscriptionState,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Changed<Subscription>>;

    /// Unsubscribes: removes the subscription whatever its state; returns it as it was.
    async fn delete_subscription(&self, id: &str) -> Result<Changed<Subscription>>;

    /// Every approved pair with the generation they are current at (one snapshot).
    async fn approved_set(&self) -> Result<ApprovedSet>;

    /// The current subscription generation.
    async fn subscription_generation(&self) -> Result<i64>;
}
