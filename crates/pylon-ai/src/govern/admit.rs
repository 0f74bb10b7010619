//! Admitting one call: request and concurrency limits first, then one all-or-none
//! reservation of the call's largest cost and token count from every pot that applies;
//! [`Admission::settle`] adds what the call really used when it ends.

use std::sync::Arc;
use std::time::Duration;

use pylon_store::counters::{
    Actual, Allowance, CounterError, Counters, Lease, Reply, Reserved, Settled,
};
use time::OffsetDateTime;

use super::rules::to_micros;
use super::{Governor, Who, period};
use crate::error::{AiError, ErrorClass};

/// How long a reservation or a concurrency slot outlives a node that died holding it.
const HOLD_TTL: Duration = Duration::from_secs(15 * 60);

/// The most a call can use, known before it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate {
    /// Input plus the most output tokens it may generate.
    pub tokens: u64,
    /// The most it may cost in dollars (`None`: the model has no price).
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PotKind {
    Tokens,
    Dollars,
}

/// A pot the call reserved from, and what its errors and alerts say about it.
#[derive(Debug)]
struct Held {
    pot: Allowance,
    kind: PotKind,
    /// The rule, as errors and alerts name it.
    rule: String,
    /// Alert percentages (dollar pots).
    alert_at: Vec<u8>,
}

/// A call let through: the reservation and slots it holds until it is settled (or
/// dropped, which settles nothing spent).
pub struct Admission {
    counters: Arc<dyn Counters>,
    id: String,
    held: Vec<Held>,
    _leases: Vec<Lease>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("id", &self.id)
            .field("pots", &self.held.len())
            .finish()
    }
}

fn refused(class: ErrorClass, code: &str, msg: String, retry: Option<Duration>) -> AiError {
    let mut e = AiError::new(class, msg);
    e.code = Some(code.into());
    e.retry_after = retry;
    e
}

fn usd(micros: u64) -> String {
    format!("${:.4}", micros as f64 / 1e6)
}

/// A counter backend failure lets the call through (fail open) with a warning.
fn warn_backend(e: &CounterError) {
    tracing::warn!(error = %e, "governance counters failed; admitting the call");
}

impl Governor {
    /// Admit a call of `who` to public model `model` that may use up to `est`.
    pub async fn admit(&self, who: &Who, model: &str, est: Estimate) -> Result<Admission, AiError> {
        let now = OffsetDateTime::now_utc();
        let mut leases = Vec::new();
        let mut held = Vec::new();
        for r in self.rules.iter().filter(|r| r.applies(who, model)) {
            let pot = r.pot(who, model);
            if let Some(w) = &r.rpm {
                match self
                    .counters
                    .sliding_window(&format!("{pot}|rpm"), w, 1)
                    .resolve()
                    .await
                {
                    Ok(d) if !d.allowed => {
                        return Err(refused(
                            ErrorClass::RateLimited,
                            "rate_limit_exceeded",
                            format!("{}: {} requests per minute reached", r.name, w.limit()),
                            Some(d.retry_after.max(Duration::from_secs(1))),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => warn_backend(&e),
                }
            }
            if let Some(max) = r.limits.max_concurrent {
                match self
                    .counters
                    .acquire(&format!("{pot}|cc"), max, HOLD_TTL)
                    .resolve()
                    .await
                {
                    Ok(Some(l)) => leases.push(l),
                    Ok(None) => {
                        return Err(refused(
                            ErrorClass::RateLimited,
                            "concurrency_limit_exceeded",
                            format!("{}: {max} calls in flight at most", r.name),
                            Some(Duration::from_secs(1)),
                        ));
                    }
                    Err(e) => warn_backend(&e),
                }
            }
            if let Some(tpm) = r.limits.tpm {
                let (minute, _) = period::minute(now);
                held.push(Held {
                    pot: Allowance {
                        key: format!("{pot}|tpm|{minute}"),
                        limit: tpm,
                        amount: est.tokens.min(tpm),
                        lifetime: Duration::from_secs(120),
                    },
                    kind: PotKind::Tokens,
                    rule: r.name.clone(),
                    alert_at: Vec::new(),
                });
            }
            if let Some(b) = &r.budget {
                let (suffix, lifetime) = period::current(b.period, now);
                held.push(Held {
                    pot: Allowance {
                        key: format!("{pot}|usd|{suffix}"),
                        limit: b.micros,
                        amount: est.cost_usd.map_or(0, to_micros),
                        lifetime,
                    },
                    kind: PotKind::Dollars,
                    rule: format!("{} ({} per {})", r.name, usd(b.micros), b.period.as_str()),
                    alert_at: b.alert_at.clone(),
                });
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        if !held.is_empty() {
            let pots: Vec<Allowance> = held.iter().map(|h| h.pot.clone()).collect();
            match self.counters.reserve(&id, &pots, HOLD_TTL).resolve().await {
                Ok(Reserved::Held) => {}
                Ok(Reserved::Refused {
                    index,
                    spent,
                    reserved,
                }) => {
                    let h = &held[index];
                    let want = h.pot.amount;
                    return Err(match h.kind {
                        PotKind::Dollars => refused(
                            ErrorClass::Budget,
                            "budget_exceeded",
                            format!(
                                "{}: {} spent and {} reserved by calls in flight; this call may cost up to {}",
                                h.rule,
                                usd(spent),
                                usd(reserved),
                                usd(want)
                            ),
                            None,
                        ),
                        PotKind::Tokens => refused(
                            ErrorClass::RateLimited,
                            "tokens_per_minute_exceeded",
                            format!(
                                "{}: {} tokens per minute; {spent} used and {reserved} reserved this minute, this call may use {want}",
                                h.rule, h.pot.limit
                            ),
                            Some(period::minute(OffsetDateTime::now_utc()).1),
                        ),
                    });
                }
                Err(e) => {
                    warn_backend(&e);
                    held.clear();
                }
            }
        }
        Ok(Admission {
            counters: self.counters.clone(),
            id,
            held,
            _leases: leases,
        })
    }
}

impl Admission {
    /// The call ended having used `tokens` (input and output) and cost `cost_usd`:
    /// release the reservation, count what was used, fire budget alerts it crossed.
    pub fn settle(mut self, tokens: u64, cost_usd: Option<f64>) {
        self.finish(tokens, cost_usd.map_or(0, to_micros));
    }

    fn finish(&mut self, tokens: u64, micros: u64) {
        // Settled once: by `settle`, or by the drop that follows it or replaces it.
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        let lines: Vec<Actual> = held
            .iter()
            .map(|h| Actual {
                key: h.pot.key.clone(),
                amount: match h.kind {
                    PotKind::Tokens => tokens,
                    PotKind::Dollars => micros,
                },
                lifetime: h.pot.lifetime,
            })
            .collect();
        match self.counters.settle(&self.id, &lines) {
            Reply::Ready(r) => after_settle(&held, r),
            Reply::Pending(f) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { after_settle(&held, f.await) });
                }
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        // A call that ended without an answer spent nothing.
        self.finish(0, 0);
    }
}

fn after_settle(held: &[Held], r: Result<Vec<Settled>, CounterError>) {
    let settled = match r {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "settling a governed call failed; its reservation expires by itself");
            return;
        }
    };
    for (h, s) in held.iter().zip(settled) {
        for pct in &h.alert_at {
            let mark = h.pot.limit.saturating_mul(u64::from(*pct)) / 100;
            if s.before < mark && s.after >= mark {
                tracing::warn!(
                    target: "pylon::budget",
                    budget = %h.rule,
                    percent = pct,
                    spent = %usd(s.after),
                    "budget threshold crossed"
                );
                super::alerts::emit(super::alerts::BudgetAlert {
                    budget: h.rule.clone(),
                    percent: *pct,
                    spent_usd: s.after as f64 / 1e6,
                    limit_usd: h.pot.limit as f64 / 1e6,
                });
            }
        }
    }
}
