//! Checks of the `cluster:` and `webhooks:` sections.

use std::collections::HashSet;
use std::time::Duration;

use crate::model::{ClusterConfig, WEBHOOK_EVENTS, WebhookConfig};
use crate::validate::Validator;

impl Validator {
    pub(crate) fn cluster(&mut self, c: &ClusterConfig) {
        if let Some(url) = &c.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            self.push(
                "cluster.redis_url",
                "must be a redis:// URL (redis://[user:password@]host:port[/db])",
            );
        }
        let positive = [
            ("heartbeat_interval", c.heartbeat_interval),
            ("poll_interval", c.poll_interval),
            ("node_stale_after", c.node_stale_after),
            ("ack_timeout", c.ack_timeout),
        ];
        for (field, value) in positive {
            if value < Duration::from_millis(10) {
                self.push(format!("cluster.{field}"), "must be at least 10ms");
            }
        }
        if c.node_stale_after <= c.heartbeat_interval {
            self.push(
                "cluster.node_stale_after",
                "must be longer than cluster.heartbeat_interval",
            );
        }
    }

    pub(crate) fn webhooks(&mut self, hooks: &[WebhookConfig]) {
        let mut names = HashSet::new();
        for (i, h) in hooks.iter().enumerate() {
            let at = format!("webhooks[{i}]");
            if h.name.is_empty() {
                self.push(format!("{at}.name"), "must not be empty");
            } else if !names.insert(h.name.as_str()) {
                self.push(
                    format!("{at}.name"),
                    format!("webhook `{}` is defined twice", h.name),
                );
            }
            let scheme_ok = h.url.starts_with("http://") || h.url.starts_with("https://");
            if !scheme_ok || h.url.parse::<http::Uri>().is_err() {
                self.push(format!("{at}.url"), "must be an http:// or https:// URL");
            }
            for (j, e) in h.events.iter().enumerate() {
                if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                    self.push(
                        format!("{at}.events[{j}]"),
                        format!("unknown event `{e}`; known: {}", WEBHOOK_EVENTS.join(", ")),
                    );
                }
            }
            if h.timeout.is_zero() {
                self.push(format!("{at}.timeout"), "must be above zero");
            }
            if !(1..=20).contains(&h.max_attempts) {
                self.push(format!("{at}.max_attempts"), "must be 1 to 20");
            }
            if h.secret.as_deref().is_some_and(str::is_empty) {
                self.push(format!("{at}.secret"), "must not be empty when given");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    fn issues(yaml: &str) -> Vec<String> {
        match load_str(yaml, "t.yaml") {
            Ok(_) => Vec::new(),
            Err(e) => e
                .issues
                .iter()
                .map(|i| format!("{}: {}", i.path, i.reason))
                .collect(),
        }
    }

    #[test]
    fn cluster_and_webhooks_parse_with_defaults() {
        let cfg = load_str(
            "cluster:\n  redis_url: redis://127.0.0.1:6379\nwebhooks:\n  - name: a\n    url: http://127.0.0.1:1/x\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(
            cfg.cluster.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(cfg.cluster.heartbeat_interval.as_secs(), 2);
        assert_eq!(cfg.webhooks[0].max_attempts, 5);
        assert!(cfg.webhooks[0].wants("subscription.approved"));
    }

    #[test]
    fn bad_cluster_and_webhook_settings_are_reported_with_paths() {
        let got = issues(
            "cluster:\n  redis_url: http://x\n  heartbeat_interval: 20s\n  node_stale_after: 10s\n\
             webhooks:\n  - name: a\n    url: ftp://x\n    events: [nope]\n    max_attempts: 0\n\
             \x20 - name: a\n    url: http://127.0.0.1:1/\n",
        );
        for want in [
            "cluster.redis_url",
            "cluster.node_stale_after",
            "webhooks[0].url",
            "webhooks[0].events[0]",
            "webhooks[0].max_attempts",
            "webhooks[1].name",
        ] {
            assert!(
                got.iter().any(|g| g.contains(want)),
                "{want} missing in {got:?}"
            );
        }
    }

    #[test]
    fn service_subscription_settings() {
        let cfg = load_str(
            "services:\n  - name: pay\n    subscription: {required: true, approval: manual}\n",
            "t.yaml",
        )
        .unwrap();
        let s = cfg.services[0].subscription;
        assert!(s.required);
        assert_eq!(s.approval, crate::Approval::Manual);
        let got = issues("services:\n  - name: pay\n    subscription: {approval: sometimes}\n");
        assert!(
            got.iter()
                .any(|g| g.starts_with("services[0].subscription.approval")),
            "{got:?}"
        );
    }
}
