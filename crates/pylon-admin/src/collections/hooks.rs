//! Per-collection rules run on writes and views: a service's owner and lifecycle
//! transitions, credential ids and generated API keys (shown once), and what a
//! certificate's PEM says.

use base64::Engine as _;
use pylon_config::Lifecycle;
use pylon_store::sql::Role;
use rand::TryRngCore as _;
use serde_json::{Value, json};

use super::doc::list;
use crate::ApiResult;
use crate::auth::Caller;
use crate::error::AdminError;

/// What a write hook knows about the request.
pub struct WriteCtx<'a> {
    pub caller: &'a Caller,
    /// The tenant the new item belongs to.
    pub tenant: &'a str,
    /// The item's dotted path in the document, for 422 details.
    pub path: &'a str,
}

fn lifecycle(item: &Value, path: &str) -> ApiResult<Lifecycle> {
    match item.get("lifecycle") {
        None | Some(Value::Null) => Ok(Lifecycle::Published),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            AdminError::invalid(
                format!("{path}.lifecycle"),
                "must be one of draft, published, deprecated, retired",
            )
        }),
    }
}

/// Services: a developer creates services they own; the lifecycle moves only along
/// draft → published → deprecated → retired (and deprecated → published).
pub(super) fn service(
    ctx: &WriteCtx<'_>,
    old: Option<&Value>,
    new: &mut Value,
) -> ApiResult<Option<Value>> {
    if new.get("owner").is_none_or(Value::is_null) {
        let kept = old.and_then(|o| o.get("owner")).filter(|o| !o.is_null());
        new["owner"] = kept.cloned().unwrap_or_else(|| json!(ctx.caller.name));
    }
    let next = lifecycle(new, ctx.path)?;
    match old {
        None if !matches!(next, Lifecycle::Draft | Lifecycle::Published) => {
            Err(AdminError::InvalidTransition(format!(
                "a service starts as draft or published, not {}",
                next.as_str()
            )))
        }
        Some(o) => {
            let from = lifecycle(o, ctx.path)?;
            if from.can_become(next) {
                Ok(None)
            } else {
                Err(AdminError::InvalidTransition(format!(
                    "a service cannot go from {} to {}",
                    from.as_str(),
                    next.as_str()
                )))
            }
        }
        None => Ok(None),
    }
}

/// The routes that name the service and the upstreams they use.
pub(super) fn service_related(doc: &Value, item: &Value) -> Option<Value> {
    let name = item.get("name")?.as_str()?;
    let routes: Vec<&Value> = list(doc, &["routes"])
        .iter()
        .filter(|r| r.get("service").and_then(Value::as_str) == Some(name))
        .collect();
    let mut upstreams: Vec<&str> = routes
        .iter()
        .filter_map(|r| r.get("upstream").and_then(Value::as_str))
        .collect();
    upstreams.sort_unstable();
    upstreams.dedup();
    let names: Vec<&Value> = routes.iter().filter_map(|r| r.get("name")).collect();
    Some(json!({"routes": names, "upstreams": upstreams}))
}

/// Credentials: an id is assigned when missing; a key-auth credential without a key gets
/// a generated one, returned once (only its SHA-256 is stored). Developers manage none.
pub(super) fn credential(
    ctx: &WriteCtx<'_>,
    old: Option<&Value>,
    new: &mut Value,
) -> ApiResult<Option<Value>> {
    if ctx.caller.role(ctx.tenant) == Some(Role::Developer) {
        return Err(AdminError::Forbidden(
            "developers do not manage credentials".into(),
        ));
    }
    if old.is_none() && new.get("id").is_none_or(Value::is_null) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        new["id"] = json!(format!("cred_{}", &id[..16]));
    }
    let is_key = new.get("type").and_then(Value::as_str) == Some("key_auth");
    let has_key = new.get("key").is_some_and(|v| !v.is_null())
        || new.get("key_sha256").is_some_and(|v| !v.is_null());
    if old.is_none() && is_key && !has_key {
        let key = new_secret("pk_")?;
        new["key"] = json!(key);
        return Ok(Some(json!({ "key": key })));
    }
    Ok(None)
}

/// A new random API key: `prefix` and 32 random bytes in URL-safe base64.
fn new_secret(prefix: &str) -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| AdminError::BadRequest(format!("the OS random source failed: {e}")))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Virtual keys: only the key's SHA-256 is stored. A create without a key gets a
/// generated one; a key given in clear is hashed; `"rotate": true` on an update issues a
/// new key (the old one stops working when the change is published). The new key is
/// returned once. An update that names no key keeps the current one.
pub(super) fn virtual_key(
    _ctx: &WriteCtx<'_>,
    old: Option<&Value>,
    new: &mut Value,
) -> ApiResult<Option<Value>> {
    let Some(obj) = new.as_object_mut() else {
        return Ok(None);
    };
    let rotate = match obj.remove("rotate") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => {
            return Err(AdminError::BadRequest(
                "`rotate` must be true or false".into(),
            ));
        }
    };
    let clear = match obj.remove("key") {
        Some(Value::String(k)) => Some(k),
        None | Some(Value::Null) => None,
        Some(_) => return Err(AdminError::BadRequest("`key` must be a string".into())),
    };
    let has_hash = obj.get("key_sha256").is_some_and(|v| !v.is_null());
    let (key, shown) = match (clear, rotate, has_hash, old) {
        (Some(k), false, _, _) => (Some(k), false),
        (_, true, _, _) | (None, false, false, None) => (Some(new_secret("sk-pylon-")?), true),
        (None, false, false, Some(o)) => {
            if let Some(h) = o.get("key_sha256") {
                obj.insert("key_sha256".into(), h.clone());
            }
            (None, false)
        }
        (None, false, true, _) => (None, false),
    };
    let Some(key) = key else {
        return Ok(None);
    };
    let hash = hex::encode(pylon_policy::hash_key(key.as_bytes()));
    obj.insert("key_sha256".into(), json!(hash));
    Ok(shown.then(|| json!({ "key": key })))
}

/// What the certificate's PEM says: subject, names, validity.
pub(super) fn certificate_info(_doc: &Value, item: &Value) -> Option<Value> {
    let pem = item.get("cert_pem")?.as_str()?;
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = parsed.parse_x509().ok()?;
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(json!({
        "subject": cert.subject().to_string(),
        "issuer": cert.issuer().to_string(),
        "dns_names": names,
        "not_before": cert.validity().not_before.timestamp(),
        "not_after": cert.validity().not_after.timestamp(),
    }))
}
