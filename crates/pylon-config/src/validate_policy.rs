//! Validation of services, consumers, credentials and consumer groups: names
//! unique, references resolve, each credential complete and not shared.
//! A policy's own settings are checked by the policy registry, not here.

use std::collections::HashSet;

use crate::model::*;
use crate::validate::Validator;

impl Validator {
    pub(crate) fn identity(&mut self, cfg: &Config) {
        let mut names = HashSet::new();
        for (i, s) in cfg.services.iter().enumerate() {
            self.name(
                &format!("services[{i}].name"),
                &s.name,
                &mut names,
                "service",
            );
        }
        for (i, r) in cfg.routes.iter().enumerate() {
            if let Some(s) = &r.service
                && !names.contains(s)
            {
                self.push(
                    format!("routes[{i}].service"),
                    format!("no service named `{s}`"),
                );
            }
        }
        let mut groups = HashSet::new();
        for (i, g) in cfg.consumer_groups.iter().enumerate() {
            self.name(
                &format!("consumer_groups[{i}].name"),
                &g.name,
                &mut groups,
                "consumer group",
            );
        }
        let mut consumers = HashSet::new();
        let mut custom_ids = HashSet::new();
        let mut creds = Credentials::default();
        for (i, c) in cfg.consumers.iter().enumerate() {
            let p = format!("consumers[{i}]");
            self.name(&format!("{p}.name"), &c.name, &mut consumers, "consumer");
            if let Some(id) = &c.custom_id
                && !custom_ids.insert(id.clone())
            {
                self.push(
                    format!("{p}.custom_id"),
                    format!("duplicate custom_id `{id}`"),
                );
            }
            if c.tenant.is_empty() {
                self.push(format!("{p}.tenant"), "must not be empty");
            }
            for (j, cred) in c.credentials.iter().enumerate() {
                self.credential(&format!("{p}.credentials[{j}]"), cred, &mut creds);
            }
        }
    }

    pub(crate) fn aggregate(&mut self, p: &str, a: &AggregateConfig, upstreams: &HashSet<&str>) {
        if a.parts.is_empty() {
            self.push(format!("{p}.parts"), "at least one part is needed");
        }
        let mut names = HashSet::new();
        for (i, part) in a.parts.iter().enumerate() {
            let pp = format!("{p}.parts[{i}]");
            if part.name.is_empty() || part.name.starts_with('_') {
                self.push(
                    format!("{pp}.name"),
                    "must be non-empty and not start with `_`",
                );
            } else if !names.insert(part.name.as_str()) {
                self.push(
                    format!("{pp}.name"),
                    format!("duplicate part name `{}`", part.name),
                );
            }
            if !upstreams.contains(part.upstream.as_str()) {
                self.push(
                    format!("{pp}.upstream"),
                    format!("no upstream named `{}`", part.upstream),
                );
            }
            if !part.path.starts_with('/') {
                self.push(format!("{pp}.path"), "must start with `/`");
            }
            if part.timeout.is_zero() {
                self.push(format!("{pp}.timeout"), "must be more than zero");
            }
        }
    }

    fn credential(&mut self, p: &str, cred: &CredentialConfig, seen: &mut Credentials) {
        if let Some(id) = cred.id()
            && !seen.ids.insert(id.to_string())
        {
            self.push(format!("{p}.id"), format!("duplicate credential id `{id}`"));
        }
        match cred {
            CredentialConfig::KeyAuth {
                key, key_sha256, ..
            } => match (key, key_sha256) {
                (Some(k), None) => {
                    if k.len() < 8 {
                        self.push(format!("{p}.key"), "API keys need at least 8 characters");
                    } else if !seen.keys.insert(k.clone()) {
                        // The message must not echo the key.
                        self.push(
                            format!("{p}.key"),
                            "the same key is given to another credential",
                        );
                    }
                }
                (None, Some(h)) => {
                    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        self.push(
                            format!("{p}.key_sha256"),
                            "must be a SHA-256 digest in 64 hex digits",
                        );
                    } else if !seen.keys.insert(h.to_ascii_lowercase()) {
                        self.push(
                            format!("{p}.key_sha256"),
                            "the same key is given to another credential",
                        );
                    }
                }
                _ => self.push(p, "exactly one of `key` and `key_sha256` is required"),
            },
            CredentialConfig::BasicAuth {
                username,
                password,
                password_hash,
                ..
            } => {
                if username.is_empty() || username.contains(':') {
                    self.push(format!("{p}.username"), "must be non-empty and without `:`");
                } else if !seen.usernames.insert(username.clone()) {
                    self.push(
                        format!("{p}.username"),
                        format!("duplicate basic-auth username `{username}`"),
                    );
                }
                match (password, password_hash) {
                    (Some(pw), None) if pw.is_empty() => {
                        self.push(format!("{p}.password"), "must not be empty")
                    }
                    (Some(_), None) => {}
                    (None, Some(h)) => {
                        let known = h.starts_with("$argon2")
                            || h.starts_with("$2a$")
                            || h.starts_with("$2b$")
                            || h.starts_with("$2y$");
                        if !known {
                            self.push(
                                format!("{p}.password_hash"),
                                "must be an argon2 (PHC string) or bcrypt hash",
                            );
                        }
                    }
                    _ => self.push(
                        p,
                        "exactly one of `password` and `password_hash` is required",
                    ),
                }
            }
            CredentialConfig::Jwt {
                key,
                algorithm,
                secret,
                public_key,
                ..
            } => {
                if key.is_empty() {
                    self.push(format!("{p}.key"), "must not be empty");
                } else if !seen.jwt_keys.insert(key.clone()) {
                    self.push(format!("{p}.key"), format!("duplicate JWT key `{key}`"));
                }
                let hmac = matches!(algorithm.as_str(), "HS256" | "HS384" | "HS512");
                let public = matches!(
                    algorithm.as_str(),
                    "RS256"
                        | "RS384"
                        | "RS512"
                        | "PS256"
                        | "PS384"
                        | "PS512"
                        | "ES256"
                        | "ES384"
                        | "EdDSA"
                );
                if !hmac && !public {
                    self.push(
                        format!("{p}.algorithm"),
                        format!("unsupported JWT algorithm `{algorithm}`"),
                    );
                } else if hmac && (secret.is_none() || public_key.is_some()) {
                    self.push(p, format!("{algorithm} needs `secret` and no `public_key`"));
                } else if public && (public_key.is_none() || secret.is_some()) {
                    self.push(p, format!("{algorithm} needs `public_key` and no `secret`"));
                }
            }
            CredentialConfig::Mtls { subject, .. } => {
                if subject.is_empty() {
                    self.push(format!("{p}.subject"), "must not be empty");
                } else if !seen.subjects.insert(subject.clone()) {
                    self.push(
                        format!("{p}.subject"),
                        format!("duplicate certificate subject `{subject}`"),
                    );
                }
            }
        }
    }
}

/// What credentials must not share across consumers.
#[derive(Default)]
struct Credentials {
    ids: HashSet<String>,
    keys: HashSet<String>,
    usernames: HashSet<String>,
    jwt_keys: HashSet<String>,
    subjects: HashSet<String>,
}

impl Validator {
    /// Tenants: a route belongs to its service's tenant (`default` without one) and may
    /// only use upstreams of that tenant; consumers only join groups of their tenant;
    /// stored certificates are well-formed PEM.
    pub(crate) fn tenants(&mut self, cfg: &Config) {
        let service_tenant = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| cfg.services.iter().find(|s| &s.name == n))
                .map_or("default", |s| s.tenant.as_str())
        };
        let upstream_tenant = |name: &str| {
            cfg.upstreams
                .iter()
                .find(|u| u.name == name)
                .map(|u| u.tenant.as_str())
        };
        for (i, r) in cfg.routes.iter().enumerate() {
            let tenant = service_tenant(&r.service);
            let mut used: Vec<(String, &str)> = Vec::new();
            if let Some(u) = &r.upstream {
                used.push((format!("routes[{i}].upstream"), u));
            }
            if let Some(a) = &r.aggregate {
                for (j, part) in a.parts.iter().enumerate() {
                    used.push((
                        format!("routes[{i}].aggregate.parts[{j}].upstream"),
                        &part.upstream,
                    ));
                }
            }
            for (path, u) in used {
                if let Some(t) = upstream_tenant(u)
                    && t != tenant
                {
                    self.push(
                        path,
                        format!("upstream `{u}` belongs to tenant `{t}`, this route to `{tenant}`"),
                    );
                }
            }
        }
        for (i, c) in cfg.consumers.iter().enumerate() {
            for (j, g) in c.groups.iter().enumerate() {
                if let Some(group) = cfg.consumer_groups.iter().find(|x| &x.name == g)
                    && group.tenant != c.tenant
                {
                    self.push(
                        format!("consumers[{i}].groups[{j}]"),
                        format!(
                            "group `{g}` belongs to tenant `{}`, this consumer to `{}`",
                            group.tenant, c.tenant
                        ),
                    );
                }
            }
        }
        let mut names = HashSet::new();
        for (i, t) in cfg.certificates.iter().enumerate() {
            let p = format!("certificates[{i}]");
            self.name(&format!("{p}.name"), &t.name, &mut names, "certificate");
            if !t.cert_pem.contains("-----BEGIN CERTIFICATE-----") {
                self.push(
                    format!("{p}.cert_pem"),
                    "must be a PEM certificate (-----BEGIN CERTIFICATE-----)",
                );
            }
            if !(t.key_pem.contains("-----BEGIN") && t.key_pem.contains("PRIVATE KEY-----")) {
                self.push(format!("{p}.key_pem"), "must be a PEM private key");
            }
        }
    }
}

#[cfg(test)]
mod tenant_tests {
    use serde_json::json;

    use crate::envelope::MasterKey;
    use crate::{Lifecycle, from_document, from_document_keyed};

    fn paths(doc: serde_json::Value) -> Vec<String> {
        match from_document(doc, "t") {
            Ok(_) => Vec::new(),
            Err(e) => e.issues.into_iter().map(|i| i.path).collect(),
        }
    }

    #[test]
    fn references_stay_inside_a_tenant() {
        let doc = json!({
            "services": [{"name": "a", "tenant": "acme"}],
            "upstreams": [{"name": "u", "tenant": "globex", "targets": [{"address": "127.0.0.1:1"}]}],
            "routes": [{"name": "r", "service": "a", "match": {}, "upstream": "u"}],
            "consumer_groups": [{"name": "pro", "tenant": "globex"}],
            "consumers": [{"name": "c", "tenant": "acme", "groups": ["pro"]}],
        });
        assert_eq!(paths(doc), ["routes[0].upstream", "consumers[0].groups[0]"]);
        let same = json!({
            "upstreams": [{"name": "u", "targets": [{"address": "127.0.0.1:1"}]}],
            "routes": [{"name": "r", "match": {}, "upstream": "u"}],
        });
        assert!(
            paths(same).is_empty(),
            "no service and no tenant: both `default`"
        );
    }

    #[test]
    fn listeners_name_stored_certificates_and_get_their_pem() {
        let doc = json!({
            "listeners": [{"name": "l", "bind": "127.0.0.1:1", "tls": {"certificates": [
                {"certificate": "api"}, {"certificate": "nope"}, {"certificate": "api", "cert_file": "/x"}]}}],
            "certificates": [{"name": "api", "cert_pem": "-----BEGIN CERTIFICATE-----", "key_pem": "no key"}],
        });
        assert_eq!(
            paths(doc),
            [
                "listeners[0].tls.certificates[1].certificate",
                "listeners[0].tls.certificates[2]",
                "certificates[0].key_pem"
            ]
        );
        let key = MasterKey::from_bytes(&[9; 32]).unwrap();
        let doc = json!({
            "listeners": [{"name": "l", "bind": "127.0.0.1:1", "tls": {"certificates": [{"certificate": "api"}]}}],
            "certificates": [{"name": "api", "cert_pem": "-----BEGIN CERTIFICATE-----\n",
                "key_pem": key.seal("-----BEGIN PRIVATE KEY-----\nk").unwrap()}],
        });
        assert!(
            from_document(doc.clone(), "t").is_err(),
            "no key installed: the envelope cannot be opened"
        );
        let cfg = from_document_keyed(doc, "t", &|_| Vec::new(), Some(&key)).unwrap();
        let pem = cfg.listeners[0].tls.as_ref().unwrap().certificates[0]
            .pem
            .clone();
        assert_eq!(
            pem.map(|p| p.1),
            Some("-----BEGIN PRIVATE KEY-----\nk".to_owned())
        );
    }

    #[test]
    fn lifecycle_moves() {
        use Lifecycle::*;
        let allowed = [
            (Draft, Published),
            (Published, Deprecated),
            (Deprecated, Published),
            (Deprecated, Retired),
        ];
        for from in [Draft, Published, Deprecated, Retired] {
            for to in [Draft, Published, Deprecated, Retired] {
                let want = from == to || allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), want, "{from:?} -> {to:?}");
            }
        }
    }
}
