//! Structural checks of the `ai` section: names unique, references resolve,
//! numbers in range. Provider kinds and presets are checked by `pylon-ai`,
//! which knows them.

use std::collections::{HashMap, HashSet};

use crate::model::*;
use crate::validate::Validator;

impl Validator {
    pub(crate) fn ai(&mut self, cfg: &Config) {
        let ai = &cfg.ai;
        let mut providers = HashSet::new();
        for (i, p) in ai.providers.iter().enumerate() {
            let path = format!("ai.providers[{i}]");
            self.name(&format!("{path}.name"), &p.name, &mut providers, "provider");
            if let Some(url) = &p.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                self.push(
                    format!("{path}.base_url"),
                    format!("`{url}` must start with http:// or https://"),
                );
            }
            for (k, v) in &p.headers {
                if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    self.push(format!("{path}.headers.{k}"), "not a valid header name");
                }
                if http::HeaderValue::from_str(v).is_err() {
                    self.push(format!("{path}.headers.{k}"), "not a valid header value");
                }
            }
            for (j, key) in p.keys.iter().enumerate() {
                if key.trim().is_empty() {
                    self.push(format!("{path}.keys[{j}]"), "must not be empty");
                }
            }
            let t = &p.timeouts;
            if t.connect.is_zero()
                || t.first_byte.is_zero()
                || t.idle.is_zero()
                || t.total.is_zero()
            {
                self.push(format!("{path}.timeouts"), "timeouts must be above zero");
            }
            if let Some(m) = &p.mock {
                for (j, f) in m.fixtures.iter().enumerate() {
                    let fp = format!("{path}.mock.fixtures[{j}]");
                    if let Some(pat) = &f.pattern {
                        self.regex_at(&format!("{fp}.match"), pat);
                    }
                    if let Some(s) = f.status
                        && !(400..=599).contains(&s)
                    {
                        self.push(format!("{fp}.status"), "must be an error status (400-599)");
                    }
                    if f.text.is_none() && f.tool_call.is_none() && f.status.is_none() {
                        self.push(fp, "needs one of `text`, `tool_call` or `status`");
                    }
                }
            }
        }
        // Public names and aliases share one namespace.
        let mut public: HashMap<&str, String> = HashMap::new();
        for (i, m) in ai.models.iter().enumerate() {
            let path = format!("ai.models[{i}]");
            let names = std::iter::once((format!("{path}.name"), &m.name)).chain(
                m.aliases
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("{path}.aliases[{j}]"), a)),
            );
            for (p, n) in names {
                if !model_name_ok(n) {
                    self.push(
                        p,
                        format!("`{n}`: model names must be non-empty without spaces"),
                    );
                } else if let Some(first) = public.get(n.as_str()) {
                    self.push(p, format!("`{n}` is already used by {first}"));
                } else {
                    public.insert(n, path.clone());
                }
            }
            if m.deployments.is_empty() {
                self.push(
                    format!("{path}.deployments"),
                    "at least one deployment is needed",
                );
            }
            for (j, d) in m.deployments.iter().enumerate() {
                let dp = format!("{path}.deployments[{j}]");
                if !providers.contains(&d.provider) {
                    self.push(
                        format!("{dp}.provider"),
                        format!("no provider named `{}` in ai.providers", d.provider),
                    );
                }
                if d.model.trim().is_empty() {
                    self.push(format!("{dp}.model"), "must not be empty");
                }
                if m.strategy == RoutingStrategy::Weighted && d.weight == 0 {
                    self.push(format!("{dp}.weight"), "must be at least 1");
                }
            }
        }
        for (i, m) in ai.models.iter().enumerate() {
            for (j, f) in m.fallbacks.iter().enumerate() {
                let fp = format!("ai.models[{i}].fallbacks[{j}]");
                if f.models.is_empty() {
                    self.push(format!("{fp}.models"), "at least one model is needed");
                }
                for (k, name) in f.models.iter().enumerate() {
                    if !public.contains_key(name.as_str()) && !is_provider_model(name, &providers) {
                        self.push(
                            format!("{fp}.models[{k}]"),
                            format!(
                                "`{name}` is neither a model in ai.models nor `provider/model`"
                            ),
                        );
                    } else if name == &m.name || m.aliases.contains(name) {
                        self.push(
                            format!("{fp}.models[{k}]"),
                            "a model cannot fall back to itself",
                        );
                    }
                }
            }
        }
        let mut ids = HashSet::new();
        for (i, c) in ai.catalog.iter().enumerate() {
            let p = format!("ai.catalog[{i}]");
            if c.id.trim().is_empty() {
                self.push(format!("{p}.id"), "must not be empty");
            } else if !ids.insert((c.provider.as_str(), c.id.as_str())) {
                self.push(
                    format!("{p}.id"),
                    format!("duplicate catalog entry `{}`", c.id),
                );
            }
            for (field, v) in [
                ("input_price", c.input_price),
                ("output_price", c.output_price),
                ("cached_input_price", c.cached_input_price),
                ("cache_write_price", c.cache_write_price),
                ("reasoning_price", c.reasoning_price),
                ("image_price", c.image_price),
            ] {
                if v.is_some_and(|x| !x.is_finite() || x < 0.0) {
                    self.push(format!("{p}.{field}"), "must be a non-negative number");
                }
            }
        }
        if ai.retries.max_attempts == 0 || ai.retries.max_attempts > 20 {
            self.push("ai.retries.max_attempts", "must be between 1 and 20");
        }
        if ai.retries.backoff > ai.retries.max_backoff {
            self.push("ai.retries.backoff", "must not exceed max_backoff");
        }
        if let Some(g) = &ai.guardrails {
            self.guardrails("ai.guardrails", g);
        }
        for (i, r) in cfg.routes.iter().enumerate() {
            let Some(a) = &r.ai else { continue };
            let p = format!("routes[{i}].ai");
            if let Some(g) = &a.guardrails {
                self.guardrails(&format!("{p}.guardrails"), g);
            }
            if ai.providers.is_empty() {
                self.push(
                    p.clone(),
                    "an `ai` route needs at least one entry in ai.providers",
                );
            }
            for (j, m) in a.models.iter().enumerate() {
                let known = public.contains_key(m.as_str())
                    || is_provider_model(m, &providers)
                    || m.strip_suffix("/*")
                        .is_some_and(|pr| providers.contains(pr))
                    || m == "*";
                if !known {
                    self.push(
                        format!("{p}.models[{j}]"),
                        format!(
                            "`{m}` is not a model in ai.models, `provider/model` or `provider/*`"
                        ),
                    );
                }
            }
            if let Some(d) = &a.default_model
                && !public.contains_key(d.as_str())
                && !is_provider_model(d, &providers)
            {
                self.push(
                    format!("{p}.default_model"),
                    format!("`{d}` is neither a model in ai.models nor `provider/model`"),
                );
            }
        }
    }

    fn guardrails(&mut self, p: &str, g: &GuardrailsConfig) {
        const DETECTORS: &[&str] = &[
            "email",
            "phone",
            "credit_card",
            "iban",
            "national_id",
            "ip_address",
            "secret",
            "custom",
        ];
        for (i, r) in g.pii.iter().enumerate() {
            let rp = format!("{p}.pii[{i}]");
            if !DETECTORS.contains(&r.detector.as_str()) {
                self.push(
                    format!("{rp}.detector"),
                    format!(
                        "unknown detector `{}`; known: {}",
                        r.detector,
                        DETECTORS.join(", ")
                    ),
                );
            }
            match (&r.pattern, r.detector.as_str()) {
                (None, "custom") => self.push(format!("{rp}.pattern"), "`custom` needs a pattern"),
                (Some(pat), "custom") => self.regex_at(&format!("{rp}.pattern"), pat),
                (Some(_), _) => self.push(format!("{rp}.pattern"), "only `custom` takes a pattern"),
                (None, _) => {}
            }
            if let Some(n) = &r.name
                && (n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                self.push(format!("{rp}.name"), "names use letters, digits and `_`");
            }
            if r.action == GuardAction::Mask && r.on != GuardScope::Input && g.reversible {
                self.push(
                    format!("{rp}.on"),
                    "reversible masking restores values in answers; mask output with `reversible: false`",
                );
            }
        }
        for (i, w) in g.deny.iter().enumerate() {
            if w.trim().is_empty() {
                self.push(format!("{p}.deny[{i}]"), "must not be empty");
            }
        }
        if g.max_input_tokens == Some(0) {
            self.push(format!("{p}.max_input_tokens"), "must be at least 1");
        }
    }

    fn regex_at(&mut self, p: &str, pattern: &str) {
        if let Err(e) = regex::Regex::new(pattern) {
            self.push(p, format!("invalid regular expression: {e}"));
        }
    }
}

fn model_name_ok(n: &str) -> bool {
    !n.is_empty() && !n.chars().any(char::is_whitespace)
}

/// `provider/model` with a configured provider.
fn is_provider_model(name: &str, providers: &HashSet<String>) -> bool {
    name.split_once('/')
        .is_some_and(|(p, m)| providers.contains(p) && !m.is_empty() && m != "*")
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    fn issues(yaml: &str) -> Vec<String> {
        match load_str(yaml, "t.yaml") {
            Ok(_) => Vec::new(),
            Err(e) => e
                .issues
                .into_iter()
                .map(|i| format!("{}: {}", i.path, i.reason))
                .collect(),
        }
    }

    #[test]
    fn a_sound_ai_section_loads() {
        let y = r#"
ai:
  providers:
    - {name: oai, kind: openai, keys: ["sk-1", "sk-2"]}
    - {name: m, kind: mock}
  models:
    - name: smart
      aliases: [gpt4]
      strategy: weighted
      deployments: [{provider: oai, model: gpt-4o, weight: 3}, {provider: m, model: echo}]
      fallbacks: [{on: [rate_limited], models: [cheap]}]
    - name: cheap
      deployments: [{provider: m, model: echo}]
routes:
  - name: ai
    match: {paths: [{prefix: /v1}]}
    ai: {models: [smart, "m/*"]}
"#;
        assert_eq!(issues(y), Vec::<String>::new());
    }

    #[test]
    fn broken_references_are_reported_with_paths() {
        let y = r#"
ai:
  providers:
    - {name: oai, kind: openai, base_url: "ftp://x"}
  models:
    - name: smart
      deployments: [{provider: nope, model: gpt-4o}]
      fallbacks: [{models: [smart, ghost]}]
    - name: other
      aliases: [smart]
      deployments: []
  retries: {max_attempts: 0}
routes:
  - name: ai
    match: {paths: [{prefix: /v1}]}
    upstream: x
    ai: {models: [missing]}
"#;
        let got = issues(y);
        let has = |needle: &str| got.iter().any(|g| g.contains(needle));
        assert!(has("ai.providers[0].base_url: `ftp://x`"), "{got:?}");
        assert!(
            has("ai.models[0].deployments[0].provider: no provider named `nope`"),
            "{got:?}"
        );
        assert!(
            has("ai.models[0].fallbacks[0].models[0]: a model cannot fall back to itself"),
            "{got:?}"
        );
        assert!(
            has("ai.models[0].fallbacks[0].models[1]: `ghost`"),
            "{got:?}"
        );
        assert!(
            has("ai.models[1].aliases[0]: `smart` is already used"),
            "{got:?}"
        );
        assert!(has("ai.models[1].deployments: at least one"), "{got:?}");
        assert!(has("ai.retries.max_attempts"), "{got:?}");
        assert!(has("routes[0]: exactly one of"), "{got:?}");
        assert!(has("routes[0].ai.models[0]: `missing`"), "{got:?}");
    }

    #[test]
    fn unknown_ai_fields_are_errors() {
        let got = issues("ai:\n  providers:\n    - {name: a, kind: openai, kyes: [x]}\n");
        assert!(
            got.iter()
                .any(|g| g.starts_with("ai.providers[0]") && g.contains("kyes")),
            "{got:?}"
        );
    }
}
