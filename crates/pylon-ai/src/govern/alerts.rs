//! Budget threshold alerts: settling a call that moves a budget across one of its
//! `alert_at` percentages emits one [`BudgetAlert`]. The crossing is decided by the
//! counter backend's atomic settle, so in a cluster exactly one node emits it. The
//! control plane subscribes and delivers `budget.threshold` webhooks.

use std::sync::OnceLock;

use serde::Serialize;
use tokio::sync::broadcast;

/// A budget crossed one of its alert percentages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetAlert {
    /// The budget, e.g. `budget team-search ($100.0000 per month)`.
    pub budget: String,
    pub percent: u8,
    pub spent_usd: f64,
    pub limit_usd: f64,
}

fn channel() -> &'static broadcast::Sender<BudgetAlert> {
    static TX: OnceLock<broadcast::Sender<BudgetAlert>> = OnceLock::new();
    TX.get_or_init(|| broadcast::channel(256).0)
}

/// Announce an alert to every subscriber (none: it is only logged).
pub fn emit(a: BudgetAlert) {
    let _ = channel().send(a);
}

/// Alerts from now on.
pub fn subscribe() -> broadcast::Receiver<BudgetAlert> {
    channel().subscribe()
}
