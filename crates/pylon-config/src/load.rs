//! Reading a config source: YAML or JSON text → generic document → secret
//! expansion → typed model, section by section so that every broken item is
//! reported, not just the first.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ConfigError, ConfigIssue};
use crate::model::Config;
use crate::validate::validate;

/// Top-level keys a config document may have.
const SECTIONS: &[&str] = &[
    "server",
    "listeners",
    "upstreams",
    "routes",
    "services",
    "policies",
    "consumers",
    "consumer_groups",
    "ai",
    "certificates",
    "cluster",
    "webhooks",
];

/// Checks beyond this crate's own (the policy registry's), run on the parsed model.
pub type ExtraCheck<'a> = &'a dyn Fn(&Config) -> Vec<ConfigIssue>;

fn no_extra(_: &Config) -> Vec<ConfigIssue> {
    Vec::new()
}

/// Read, parse, expand and validate a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    load_file_with(path, &no_extra)
}

/// [`load_file`] plus `extra` checks (whose issues get the same file and path mapping).
pub fn load_file_with(path: &Path, extra: ExtraCheck<'_>) -> Result<Config, ConfigError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::single(&label, "", format!("cannot read file: {e}")))?;
    load_str_with(&text, &label, extra)
}

/// Parse, expand and validate config text (YAML, of which JSON is a subset).
/// `label` names the source in errors.
pub fn load_str(text: &str, label: &str) -> Result<Config, ConfigError> {
    load_str_with(text, label, &no_extra)
}

/// [`load_str`] plus `extra` checks.
pub fn load_str_with(
    text: &str,
    label: &str,
    extra: ExtraCheck<'_>,
) -> Result<Config, ConfigError> {
    from_document_with(parse_document(text, label)?, label, extra)
}

/// Parses config text (YAML or JSON) into a generic document, expanding nothing.
pub fn parse_document(text: &str, label: &str) -> Result<Value, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let trimmed = text.trim_start();
    let parsed: Result<Value, String> = if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    };
    parsed
        .map_err(|reason| ConfigError::single(label, "", format!("not valid YAML/JSON: {reason}")))
}

/// Turn a generic document (already parsed from YAML or JSON) into a validated model.
pub fn from_document(doc: Value, label: &str) -> Result<Config, ConfigError> {
    from_document_with(doc, label, &no_extra)
}

/// [`from_document`] plus `extra` checks.
pub fn from_document_with(
    doc: Value,
    label: &str,
    extra: ExtraCheck<'_>,
) -> Result<Config, ConfigError> {
    from_document_keyed(doc, label, extra, crate::envelope::installed())
}

/// [`from_document_with`] with an explicit master key for encrypted secrets (instead of
/// the one installed for the process).
pub fn from_document_keyed(
    doc: Value,
    label: &str,
    extra: ExtraCheck<'_>,
    key: Option<&crate::envelope::MasterKey>,
) -> Result<Config, ConfigError> {
    let (mut config, mut issues, positions) = parse_sections(doc, key);
    // Validate what did parse too, so one run reports structural and semantic
    // problems. Paths are mapped back to the document's item positions (items
    // that failed to parse are not in `config`), and a value already reported
    // (say, an unresolved secret) is not reported again.
    let mut more = validate(&config).err().unwrap_or_default();
    more.extend(extra(&config));
    if !more.is_empty() {
        let known: Vec<String> = issues.iter().map(|i| i.path.clone()).collect();
        for mut issue in more {
            issue.path = positions.document_path(&issue.path);
            if !known
                .iter()
                .any(|p| !p.is_empty() && issue.path.starts_with(p.as_str()))
            {
                issues.push(issue);
            }
        }
    }
    if issues.is_empty() {
        resolve_certificates(&mut config);
        Ok(config)
    } else {
        Err(ConfigError {
            file: label.to_string(),
            issues,
        })
    }
}

/// For each list section, the document index of every item that parsed.
#[derive(Default)]
struct Positions {
    sections: Vec<(&'static str, Vec<usize>)>,
}

impl Positions {
    /// `routes[1].x` of the parsed config → `routes[2].x` of the document when
    /// the document's `routes[1]` failed to parse.
    fn document_path(&self, path: &str) -> String {
        for (section, indices) in &self.sections {
            let Some(rest) = path.strip_prefix(section).and_then(|r| r.strip_prefix('[')) else {
                continue;
            };
            let Some((num, tail)) = rest.split_once(']') else {
                continue;
            };
            if let Some(orig) = num.parse::<usize>().ok().and_then(|i| indices.get(i)) {
                return format!("{section}[{orig}]{tail}");
            }
        }
        path.to_string()
    }
}

/// Expand secrets and deserialize each section item by item; items that fail are
/// left out of the returned config and reported.
fn parse_sections(
    mut doc: Value,
    key: Option<&crate::envelope::MasterKey>,
) -> (Config, Vec<ConfigIssue>, Positions) {
    let mut issues = Vec::new();
    let mut positions = Positions::default();
    crate::secret::expand(&mut doc, "", &mut issues);
    // After expansion: a decrypted value is never read as a `${...}` reference.
    crate::envelope::open_document(&mut doc, key, &mut issues);
    let mut config = Config::default();
    let Value::Object(mut root) = doc else {
        issues.push(ConfigIssue::new("", "the document must be a mapping"));
        return (config, issues, positions);
    };
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            issues.push(ConfigIssue::new(
                key.clone(),
                format!("unknown section; expected one of: {}", SECTIONS.join(", ")),
            ));
        }
    }
    if let Some(server) = root.remove("server")
        && let Some(v) = typed(server, "server", &mut issues)
    {
        config.server = v;
    }
    let (listeners, at) = list(root.remove("listeners"), "listeners", &mut issues);
    config.listeners = listeners;
    positions.sections.push(("listeners", at));
    let (upstreams, at) = list(root.remove("upstreams"), "upstreams", &mut issues);
    config.upstreams = upstreams;
    positions.sections.push(("upstreams", at));
    let (routes, at) = list(root.remove("routes"), "routes", &mut issues);
    config.routes = routes;
    positions.sections.push(("routes", at));
    let (services, at) = list(root.remove("services"), "services", &mut issues);
    config.services = services;
    positions.sections.push(("services", at));
    let (policies, at) = list(root.remove("policies"), "policies", &mut issues);
    config.policies = policies;
    positions.sections.push(("policies", at));
    let (consumers, at) = list(root.remove("consumers"), "consumers", &mut issues);
    config.consumers = consumers;
    positions.sections.push(("consumers", at));
    let (groups, at) = list(
        root.remove("consumer_groups"),
        "consumer_groups",
        &mut issues,
    );
    config.consumer_groups = groups;
    positions.sections.push(("consumer_groups", at));
    if let Some(ai) = root.remove("ai")
        && let Some(v) = typed(ai, "ai", &mut issues)
    {
        config.ai = v;
    }
    let (certs, at) = list(root.remove("certificates"), "certificates", &mut issues);
    config.certificates = certs;
    positions.sections.push(("certificates", at));
    if let Some(cluster) = root.remove("cluster")
        && let Some(v) = typed(cluster, "cluster", &mut issues)
    {
        config.cluster = v;
    }
    let (webhooks, at) = list(root.remove("webhooks"), "webhooks", &mut issues);
    config.webhooks = webhooks;
    positions.sections.push(("webhooks", at));
    (config, issues, positions)
}

/// Copies the PEM of each named `certificate` into the listener entries that use it.
fn resolve_certificates(config: &mut Config) {
    let certs = std::mem::take(&mut config.certificates);
    for l in &mut config.listeners {
        let Some(tls) = &mut l.tls else { continue };
        for c in &mut tls.certificates {
            if let Some(name) = &c.certificate
                && let Some(found) = certs.iter().find(|t| &t.name == name)
            {
                c.pem = Some((found.cert_pem.clone(), found.key_pem.clone()));
            }
        }
    }
    config.certificates = certs;
}

fn list<T: DeserializeOwned>(
    value: Option<Value>,
    path: &str,
    issues: &mut Vec<ConfigIssue>,
) -> (Vec<T>, Vec<usize>) {
    match value {
        None | Some(Value::Null) => (Vec::new(), Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| typed(item, &format!("{path}[{i}]"), issues).map(|v| (v, i)))
            .unzip(),
        Some(_) => {
            issues.push(ConfigIssue::new(path, "must be a list"));
            (Vec::new(), Vec::new())
        }
    }
}

fn typed<T: DeserializeOwned>(
    value: Value,
    path: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(err) => {
            let inner = err.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_string()
            } else {
                format!("{path}.{inner}")
            };
            issues.push(ConfigIssue::new(full, err.into_inner().to_string()));
            None
        }
    }
}
