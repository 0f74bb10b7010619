//! Pots: amounts spent against a limit (a budget in micro-dollars, a token allowance
//! per minute), with reservations. Before a call its largest possible cost is reserved
//! from every pot that applies, all or none; afterwards the reservation is settled: it is
//! released and the actual amount is added. Concurrent calls therefore cannot together
//! spend more than a pot's limit, whatever their timing: what is admitted is bounded by
//! `spent + reserved + amount <= limit`.
//!
//! A pot with spent plus reserved at its limit refuses even a zero-amount reservation
//! (a call whose cost is unknown beforehand), so an exhausted budget stops everything.
//! Reservations carry a time to live: the Redis backend drops those of a node that died
//! before settling; the in-process one releases them when the guard is dropped.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::{Mutex, PoisonError};

/// One pot to reserve from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// The pot (opaque to the backend; callers put the period in it).
    pub key: String,
    pub limit: u64,
    /// What this call may spend at most.
    pub amount: u64,
    /// How long the pot is kept after its last use (its period, plus margin); zero: forever.
    pub lifetime: Duration,
}

/// The answer of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Every pot holds the amount now.
    Held,
    /// The pot at `index` (of the allowances given) has no room: nothing was reserved.
    Refused {
        index: usize,
        spent: u64,
        reserved: u64,
    },
}

/// A pot after settling: what had been spent before this call's amount and after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settled {
    pub before: u64,
    pub after: u64,
}

/// One settlement line: the pot and what the call really spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actual {
    pub key: String,
    pub amount: u64,
    pub lifetime: Duration,
}

#[derive(Default)]
struct Pot {
    spent: u64,
    reserved: u64,
    holds: HashMap<String, u64>,
    /// Microseconds (on the counters' clock) after which the pot is forgotten; 0: never.
    expires_us: u64,
}

/// The in-process pots.
#[derive(Default)]
pub(crate) struct LocalPots {
    pots: Mutex<HashMap<String, Pot>>,
}

fn expiry(now_us: u64, lifetime: Duration) -> u64 {
    if lifetime.is_zero() {
        return 0;
    }
    now_us.saturating_add(u64::try_from(lifetime.as_micros()).unwrap_or(u64::MAX))
}

impl LocalPots {
    pub(crate) fn reserve(&self, now_us: u64, id: &str, lines: &[Allowance]) -> Reserved {
        let mut pots = self.pots.lock().unwrap_or_else(PoisonError::into_inner);
        for (index, a) in lines.iter().enumerate() {
            let (spent, reserved) = match pots.get(&a.key) {
                Some(p) if p.expires_us == 0 || p.expires_us > now_us => (p.spent, p.reserved),
                _ => (0, 0),
            };
            let used = spent.saturating_add(reserved);
            if used.saturating_add(a.amount) > a.limit || (a.amount == 0 && used >= a.limit) {
                return Reserved::Refused {
                    index,
                    spent,
                    reserved,
                };
            }
        }
        for a in lines {
            let pot = pots.entry(a.key.clone()).or_default();
            if pot.expires_us != 0 && pot.expires_us <= now_us {
                *pot = Pot::default();
            }
            pot.reserved = pot.reserved.saturating_add(a.amount);
            *pot.holds.entry(id.to_string()).or_default() += a.amount;
            pot.expires_us = expiry(now_us, a.lifetime);
        }
        Reserved::Held
    }

    pub(crate) fn settle(&self, now_us: u64, id: &str, lines: &[Actual]) -> Vec<Settled> {
        let mut pots = self.pots.lock().unwrap_or_else(PoisonError::into_inner);
        let out = lines
            .iter()
            .map(|a| {
                let pot = pots.entry(a.key.clone()).or_default();
                if let Some(held) = pot.holds.remove(id) {
                    pot.reserved = pot.reserved.saturating_sub(held);
                }
                let before = pot.spent;
                pot.spent = pot.spent.saturating_add(a.amount);
                pot.expires_us = expiry(now_us, a.lifetime);
                Settled {
                    before,
                    after: pot.spent,
                }
            })
            .collect();
        if pots.len() > 4096 {
            pots.retain(|_, p| p.expires_us == 0 || p.expires_us > now_us || p.reserved > 0);
        }
        out
    }

    pub(crate) fn usage(&self, now_us: u64, key: &str) -> (u64, u64) {
        match self
            .pots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            Some(p) if p.expires_us == 0 || p.expires_us > now_us => (p.spent, p.reserved),
            _ => (0, 0),
        }
    }
}
