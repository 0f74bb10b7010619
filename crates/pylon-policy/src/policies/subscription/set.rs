//! The approved (service, consumer) pairs a node enforces, swapped whole on each refresh.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::shared::Shared;

/// Where the set lives in [`Shared`].
const SHARED_KEY: &str = "subscriptions";

#[derive(Default)]
struct Approved {
    generation: i64,
    /// Whether the set was ever loaded (from the store or the node's cache).
    loaded: bool,
    by_service: HashMap<String, HashSet<String>>,
}

/// The node's subscription set: readers take one atomic load, writers replace it whole.
#[derive(Default)]
pub struct SubscriptionSet {
    current: ArcSwap<Approved>,
}

impl SubscriptionSet {
    /// The gateway's set (one per process, kept across reloads).
    pub fn of(shared: &Shared) -> Arc<SubscriptionSet> {
        shared.get_or_init(SHARED_KEY, SubscriptionSet::default)
    }

    /// Whether `consumer` holds an approved subscription to `service`.
    pub fn allows(&self, service: &str, consumer: &str) -> bool {
        self.current
            .load()
            .by_service
            .get(service)
            .is_some_and(|c| c.contains(consumer))
    }

    /// Replaces the set with `pairs` at `generation`, unless a newer generation is
    /// already in place (a slow refresh must not undo a faster, newer one). Returns
    /// whether it was applied.
    pub fn replace(&self, generation: i64, pairs: &[(String, String)]) -> bool {
        let mut by_service: HashMap<String, HashSet<String>> = HashMap::new();
        for (service, consumer) in pairs {
            by_service
                .entry(service.clone())
                .or_default()
                .insert(consumer.clone());
        }
        let next = Arc::new(Approved {
            generation,
            loaded: true,
            by_service,
        });
        let prev = self.current.rcu(|cur| {
            if cur.loaded && cur.generation > generation {
                cur.clone()
            } else {
                next.clone()
            }
        });
        !(prev.loaded && prev.generation > generation)
    }

    /// The generation in place (0 before the first load).
    pub fn generation(&self) -> i64 {
        self.current.load().generation
    }

    /// Whether the set was loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.current.load().loaded
    }

    /// Every approved pair, sorted (for the node's disk cache).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let cur = self.current.load();
        let mut out: Vec<(String, String)> = cur
            .by_service
            .iter()
            .flat_map(|(s, cs)| cs.iter().map(move |c| (s.clone(), c.clone())))
            .collect();
        out.sort();
        out
    }
}
