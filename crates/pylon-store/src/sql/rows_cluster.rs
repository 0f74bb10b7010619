//! Row structs of the cluster and subscription tables, mapped to the model.

use sqlx::FromRow;

use super::error::Result;
use super::model_cluster::{NodeHeartbeat, NodeRecord, Subscription};
use super::rows::Ts;

#[derive(FromRow)]
pub(crate) struct NodeRow {
    pub id: String,
    pub admin_addr: Option<String>,
    pub proxy_addr: Option<String>,
    pub pylon_version: String,
    pub config_version: Option<i64>,
    pub subscription_generation: i64,
    pub health: String,
    pub last_error: Option<String>,
    pub failed_version: Option<i64>,
    pub started_at: Ts,
    pub last_seen: Ts,
}

impl NodeRow {
    pub fn into_record(self) -> Result<NodeRecord> {
        Ok(NodeRecord {
            beat: NodeHeartbeat {
                id: self.id,
                admin_addr: self.admin_addr,
                proxy_addr: self.proxy_addr,
                pylon_version: self.pylon_version,
                config_version: self.config_version,
                subscription_generation: self.subscription_generation,
                health: self.health.parse()?,
                last_error: self.last_error,
                failed_version: self.failed_version,
                started_at: self.started_at.0,
            },
            last_seen: self.last_seen.0,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct SubscriptionRow {
    pub id: String,
    pub service: String,
    pub consumer: String,
    pub state: String,
    pub note: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub version: i64,
}

/// The columns of [`SubscriptionRow`], in order, as a literal for `concat!`.
macro_rules! subscription_columns {
    () => {
        "id, service, consumer, state, note, requested_by, decided_by, created_at, updated_at, version"
    };
}
pub(crate) use subscription_columns;

impl SubscriptionRow {
    pub fn into_subscription(self) -> Result<Subscription> {
        Ok(Subscription {
            id: self.id,
            service: self.service,
            consumer: self.consumer,
            state: self.state.parse().map_err(|_| {
                super::error::StoreError::Corrupt(format!(
                    "unknown subscription state {:?}",
                    self.state
                ))
            })?,
            note: self.note,
            requested_by: self.requested_by,
            decided_by: self.decided_by,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            version: self.version,
        })
    }
}
