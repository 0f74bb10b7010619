//! Budgets and limits as rules: a scope that selects calls, what they are counted per,
//! and the amounts. A virtual key's own `limits` and `budget` become rules scoped to it.

use std::time::Duration;

use pylon_config::{AiConfig, AiLimits, BudgetPeriod, GovernPer, GovernScope};
use pylon_store::counters::Window;

use super::keys::Who;

/// One budget or set of limits.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `budget <name>`, `limit <name>` or `key <name>`: names the pots and errors.
    pub name: String,
    pub scope: GovernScope,
    pub per: Option<GovernPer>,
    pub limits: AiLimits,
    /// `limits.rpm` as a one-minute sliding window.
    pub rpm: Option<Window>,
    pub budget: Option<Budget>,
}

/// A budget in micro-dollars per period.
#[derive(Debug, Clone)]
pub struct Budget {
    pub micros: u64,
    pub period: BudgetPeriod,
    pub alert_at: Vec<u8>,
}

impl Budget {
    fn new(usd: f64, period: BudgetPeriod, alert_at: &[u8]) -> Budget {
        Budget {
            micros: to_micros(usd),
            period,
            alert_at: alert_at.to_vec(),
        }
    }
}

/// Dollars as whole micro-dollars, rounded up (a cost is never under-counted).
pub fn to_micros(usd: f64) -> u64 {
    if !usd.is_finite() || usd <= 0.0 {
        return 0;
    }
    // Amounts are validated to at most 1e9 dollars: 1e15 micro-dollars fit u64.
    (usd * 1e6).ceil().min(u64::MAX as f64) as u64
}

/// The rules of `ai`; the error is a config path and why.
pub fn compile(ai: &AiConfig) -> Result<Vec<Rule>, (String, String)> {
    let mut out = Vec::new();
    for (i, k) in ai.virtual_keys.iter().enumerate() {
        if k.limits.is_none() && k.budget.is_none() {
            continue;
        }
        let limits = k.limits.clone().unwrap_or_default();
        out.push(Rule {
            rpm: window(&limits, || format!("ai.virtual_keys[{i}].limits.rpm"))?,
            name: format!("key {}", k.name),
            scope: GovernScope {
                key: Some(k.name.clone()),
                ..Default::default()
            },
            per: None,
            limits,
            budget: k
                .budget
                .as_ref()
                .map(|b| Budget::new(b.amount_usd, b.period, &b.alert_at)),
        });
    }
    for b in &ai.budgets {
        out.push(Rule {
            name: format!("budget {}", b.name),
            scope: b.scope.clone(),
            per: b.per,
            limits: AiLimits::default(),
            rpm: None,
            budget: Some(Budget::new(b.amount_usd, b.period, &b.alert_at)),
        });
    }
    for (i, l) in ai.limits.iter().enumerate() {
        let limits = l.limits();
        out.push(Rule {
            name: format!("limit {}", l.name),
            scope: l.scope.clone(),
            per: l.per,
            rpm: window(&limits, || format!("ai.limits[{i}].rpm"))?,
            limits,
            budget: None,
        });
    }
    Ok(out)
}

fn window(l: &AiLimits, path: impl Fn() -> String) -> Result<Option<Window>, (String, String)> {
    l.rpm
        .map(|rpm| Window::new(rpm, Duration::from_secs(60)).map_err(|e| (path(), e.to_string())))
        .transpose()
}

impl Rule {
    /// Whether the rule counts this call.
    pub fn applies(&self, who: &Who, model: &str) -> bool {
        let s = &self.scope;
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&s.tenant, Some(&who.tenant))
            && eq(&s.team, who.team.as_deref())
            && eq(&s.user, who.user.as_deref())
            && eq(&s.key, who.key_name())
            && eq(&s.model, Some(model))
    }

    /// The pot name prefix for this call: the rule, and its partition value.
    pub fn pot(&self, who: &Who, model: &str) -> String {
        let part = match self.per {
            None => None,
            Some(GovernPer::Tenant) => Some(&*who.tenant),
            Some(GovernPer::Team) => Some(who.team.as_deref().unwrap_or("-")),
            Some(GovernPer::User) => Some(who.user.as_deref().unwrap_or("-")),
            Some(GovernPer::Key) => Some(who.key_name().unwrap_or("-")),
            Some(GovernPer::Model) => Some(model),
        };
        match part {
            // `|` cannot be in names: it separates the parts unambiguously.
            Some(p) => format!("ai|{}|{p}", self.name),
            None => format!("ai|{}", self.name),
        }
    }
}
