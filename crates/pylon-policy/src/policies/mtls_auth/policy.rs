//! `mtls-auth` settings and lookup.

use std::collections::HashMap;
use std::sync::Arc;

use pylon_config::CredentialConfig;
use serde::Deserialize;

use crate::consumer::{Consumer, Consumers};
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{AuthRole, Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtlsAuthConfig {
    /// Consumer used when the client sent no certificate.
    pub anonymous: Option<String>,
}

/// Certificate subject → consumer and credential id, built once per snapshot.
struct Subjects(HashMap<String, (Arc<Consumer>, Arc<str>)>);

pub struct MtlsAuth {
    subjects: Arc<Subjects>,
    anonymous: Option<String>,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: MtlsAuthConfig = parse_config(value)?;
    let subjects = env.consumers.index(|cs: &Consumers| {
        Subjects(
            cs.credentials("mtls")
                .filter_map(|e| match &e.config {
                    CredentialConfig::Mtls { subject, .. } => {
                        Some((subject.clone(), (e.consumer.clone(), e.id.clone())))
                    }
                    _ => None,
                })
                .collect(),
        )
    });
    Ok(Arc::new(MtlsAuth {
        subjects,
        anonymous: cfg.anonymous,
    }))
}

impl Policy for MtlsAuth {
    fn kind(&self) -> &'static str {
        "mtls-auth"
    }

    fn auth(&self) -> Option<AuthRole<'_>> {
        Some(AuthRole {
            anonymous: self.anonymous.as_deref(),
            challenge: None,
        })
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        if ctx.client_cert_names.is_empty() {
            return Step::next();
        }
        let found = ctx
            .client_cert_names
            .iter()
            .find_map(|n| self.subjects.0.get(n))
            .cloned();
        match found {
            Some((consumer, id)) => {
                ctx.consumer = Some(consumer);
                ctx.credential = Some(id);
                Step::next()
            }
            // A valid certificate that belongs to no consumer.
            None => Step::reject(Reject::unauthorized(None)),
        }
    }
}
