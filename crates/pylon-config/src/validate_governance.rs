//! Checks of `ai.virtual_keys`, `ai.budgets` and `ai.limits`: names unique, exactly one
//! form of each key, times and amounts that make sense.

use std::collections::HashSet;

use crate::model::*;
use crate::validate::Validator;

impl Validator {
    pub(crate) fn governance(&mut self, ai: &AiConfig) {
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        for (i, k) in ai.virtual_keys.iter().enumerate() {
            let path = format!("ai.virtual_keys[{i}]");
            self.name(&format!("{path}.name"), &k.name, &mut names, "virtual key");
            match (&k.key, &k.key_sha256) {
                (Some(key), None) => {
                    if key.len() < 16 {
                        self.push(format!("{path}.key"), "must be at least 16 characters");
                    }
                }
                (None, Some(h)) => {
                    let h = h.to_ascii_lowercase();
                    if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                        self.push(
                            format!("{path}.key_sha256"),
                            "must be 64 hex digits (a SHA-256)",
                        );
                    } else if !hashes.insert(h) {
                        self.push(
                            format!("{path}.key_sha256"),
                            "another virtual key has this key",
                        );
                    }
                }
                _ => self.push(
                    path.clone(),
                    "exactly one of `key` and `key_sha256` is required",
                ),
            }
            if let Some(t) = &k.expires_at
                && time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .is_err()
            {
                self.push(
                    format!("{path}.expires_at"),
                    format!("`{t}` is not an RFC 3339 time (e.g. 2027-01-31T00:00:00Z)"),
                );
            }
            if let Some(l) = &k.limits {
                self.ai_limits(&format!("{path}.limits"), l);
            }
            if let Some(b) = &k.budget {
                self.budget_amount(&format!("{path}.budget"), b.amount_usd, &b.alert_at);
            }
        }
        let mut budgets = HashSet::new();
        for (i, b) in ai.budgets.iter().enumerate() {
            let path = format!("ai.budgets[{i}]");
            self.name(&format!("{path}.name"), &b.name, &mut budgets, "budget");
            self.budget_amount(&path, b.amount_usd, &b.alert_at);
        }
        let mut limits = HashSet::new();
        for (i, l) in ai.limits.iter().enumerate() {
            let path = format!("ai.limits[{i}]");
            self.name(&format!("{path}.name"), &l.name, &mut limits, "limit");
            let all = l.limits();
            if all == AiLimits::default() {
                self.push(
                    path.clone(),
                    "needs at least one of `rpm`, `tpm`, `max_concurrent`",
                );
            }
            self.ai_limits(&path, &all);
        }
    }

    fn ai_limits(&mut self, path: &str, l: &AiLimits) {
        for (field, v) in [
            ("rpm", l.rpm),
            ("tpm", l.tpm),
            ("max_concurrent", l.max_concurrent),
        ] {
            if v == Some(0) {
                self.push(format!("{path}.{field}"), "must be at least 1");
            }
        }
        if l.rpm.is_some_and(|r| r > 60_000_000) {
            self.push(
                format!("{path}.rpm"),
                "must be at most 60000000 (1000000 per second)",
            );
        }
    }

    fn budget_amount(&mut self, path: &str, amount: f64, alerts: &[u8]) {
        if !amount.is_finite() || amount <= 0.0 || amount > 1e9 {
            self.push(
                format!("{path}.amount_usd"),
                "must be a positive amount of dollars (at most 1e9)",
            );
        }
        for (j, a) in alerts.iter().enumerate() {
            if *a == 0 || *a > 100 {
                self.push(
                    format!("{path}.alert_at[{j}]"),
                    "percentages go from 1 to 100",
                );
            }
        }
    }
}
