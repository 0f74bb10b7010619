//! The HTTP side of the generic collections: list (paginated, filtered, scoped to the
//! caller's tenants), get, create (`POST`, 409 when the name is taken), replace (`PUT`
//! with `If-Match`) and delete (`DELETE` with `If-Match`). Every write goes through
//! [`crate::draft::modify`] and is audited; secrets are shown as fingerprints.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::access::{may_read, may_write, tenant_of};
use super::doc::{Scope, etag, find, key_of, matches, not_found};
use super::hooks::WriteCtx;
use super::{COLLECTIONS, Collection};
use crate::AdminState;
use crate::audit_api::record;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult};

type Params = Result<Path<HashMap<String, String>>, PathRejection>;
type ListParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Adds the routes of every collection.
pub(crate) fn routes(mut router: Router<AdminState>) -> Router<AdminState> {
    for c in COLLECTIONS.iter().copied() {
        router = router
            .route(
                &c.list_url(),
                get(move |st, caller, p, q| list(c, st, caller, p, q))
                    .post(move |st, caller, p, body| create(c, st, caller, p, body)),
            )
            .route(
                &c.item_url(),
                get(move |st, caller, p| read(c, st, caller, p))
                    .put(move |st, caller, p, h, body| replace(c, st, caller, p, h, body))
                    .delete(move |st, caller, p, h| remove(c, st, caller, p, h)),
            );
    }
    router
}

fn params(p: Params) -> ApiResult<(Option<String>, Option<String>)> {
    let Path(mut m) = p.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    Ok((m.remove("parent"), m.remove("key")))
}

/// `{etag, tenant, item, related?}` with secrets masked.
fn envelope(c: &Collection, doc: &Value, scope: &Scope, item: &Value) -> Value {
    let parent = scope.parent(c, doc);
    let mut env = json!({
        "etag": etag(item),
        "tenant": tenant_of(c, doc, parent, item),
        "item": pylon_config::envelope::masked(item),
    });
    if let Some(related) = c.view.and_then(|v| v(doc, item)) {
        env["related"] = related;
    }
    env
}

fn with_etag(status: StatusCode, body: Value) -> Response {
    let tag = body["etag"]
        .as_str()
        .and_then(|t| HeaderValue::from_str(t).ok());
    let mut resp = (status, Json(body)).into_response();
    if let Some(t) = tag {
        resp.headers_mut().insert(header::ETAG, t);
    }
    resp
}

/// The parent's scope, visible to the caller (else 404).
fn scope_for(
    c: &Collection,
    caller: &Caller,
    doc: &Value,
    parent: Option<&str>,
) -> ApiResult<Scope> {
    let scope = Scope::resolve(c, doc, parent)?;
    if let (Some(p), Some(pi)) = (c.parent, scope.parent(c, doc))
        && !may_read(p, caller, doc, None, pi)
    {
        return Err(not_found(p, parent.unwrap_or_default()));
    }
    Ok(scope)
}

async fn list(
    c: &'static Collection,
    State(st): State<AdminState>,
    caller: Caller,
    p: Params,
    q: ListParams,
) -> ApiResult<Json<Value>> {
    let (parent, _) = params(p)?;
    let Query(mut q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let number = |q: &mut HashMap<String, String>, name: &str, default: u32| match q.remove(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| AdminError::BadRequest(format!("`{name}` must be a whole number"))),
    };
    let page = number(&mut q, "page", 1)?.max(1);
    let per_page = number(&mut q, "per_page", 50)?.clamp(1, 1000);
    if let Some(unknown) = q.keys().find(|k| !c.filters.contains(&k.as_str())) {
        return Err(AdminError::BadRequest(format!(
            "unknown query parameter `{unknown}`; filters here: {}",
            c.filters.join(", ")
        )));
    }
    let doc = st.store.config().get_draft().await?.document;
    let scope = scope_for(c, &caller, &doc, parent.as_deref())?;
    let parent_item = scope.parent(c, &doc);
    let visible: Vec<&Value> = scope
        .items(c, &doc)
        .iter()
        .filter(|item| may_read(c, &caller, &doc, parent_item, item))
        .filter(|item| {
            q.iter().all(|(field, want)| {
                let have = match item.get(field) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None if field == "tenant" => "default".into(),
                    Some(Value::Null) | None if field == "lifecycle" => "published".into(),
                    Some(Value::Null) | None if field == "enabled" => "true".into(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                &have == want
            })
        })
        .collect();
    let total = visible.len();
    let start = usize::try_from(u64::from(page - 1) * u64::from(per_page)).unwrap_or(usize::MAX);
    let items: Vec<Value> = visible
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .map(|i| envelope(c, &doc, &scope, i))
        .collect();
    Ok(Json(
        json!({"items": items, "page": page, "per_page": per_page, "total": total}),
    ))
}

async fn read(
    c: &'static Collection,
    State(st): State<AdminState>,
    caller: Caller,
    p: Params,
) -> ApiResult<Response> {
    let (parent, key) = params(p)?;
    let key = key.unwrap_or_default();
    let doc = st.store.config().get_draft().await?.document;
    let scope = scope_for(c, &caller, &doc, parent.as_deref())?;
    let items = scope.items(c, &doc);
    let item = find(c, items, &key)
        .map(|i| &items[i])
        .filter(|item| may_read(c, &caller, &doc, scope.parent(c, &doc), item))
        .ok_or_else(|| not_found(c, &key))?;
    Ok(with_etag(StatusCode::OK, envelope(c, &doc, &scope, item)))
}

fn body_object(body: &Bytes, path: &str) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| AdminError::BadRequest(format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(AdminError::invalid(path, "must be a JSON object"));
    }
    Ok(v)
}

/// Runs the item's type check and the collection's hook; returns what to show once.
fn admit(
    c: &Collection,
    caller: &Caller,
    doc: &Value,
    scope: &Scope,
    path: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> ApiResult<Option<Value>> {
    let parent = scope.parent(c, doc);
    let tenant = tenant_of(c, doc, parent, new);
    let ctx = WriteCtx {
        caller,
        tenant: &tenant,
        path,
    };
    let once = match c.on_write {
        Some(hook) => hook(&ctx, old, new)?,
        None => None,
    };
    if !may_write(c, caller, doc, parent, new) {
        return Err(AdminError::Forbidden(format!(
            "your role on tenant `{tenant}` does not allow changing this {}",
            c.kind
        )));
    }
    let issues = (c.check)(&pylon_config::envelope::stand_ins(new));
    if !issues.is_empty() {
        return Err(AdminError::Validation(
            issues
                .into_iter()
                .map(|(p, reason)| crate::Detail {
                    path: if p.is_empty() {
                        path.to_owned()
                    } else {
                        format!("{path}.{p}")
                    },
                    reason,
                })
                .collect(),
        ));
    }
    Ok(once)
}

async fn create(
    c: &'static Collection,
    State(st): State<AdminState>,
    caller: Caller,
    p: Params,
    body: Bytes,
) -> ApiResult<Response> {
    let (parent, _) = params(p)?;
    let body = body_object(&body, c.kind)?;
    let written = crate::draft::modify(&st, &caller, |doc| {
        let scope = scope_for(c, &caller, doc, parent.as_deref())?;
        let index = scope.items(c, doc).len();
        let path = scope.item_path(c, index);
        let mut item = body.clone();
        let once = admit(c, &caller, doc, &scope, &path, None, &mut item)?;
        let key = match key_of(c, &item) {
            Some(k) => k.to_owned(),
            None => {
                return Err(AdminError::invalid(
                    format!("{path}.{}", c.key),
                    "is required (a string)",
                ));
            }
        };
        if find(c, scope.items(c, doc), &key).is_some() {
            return Err(AdminError::AlreadyExists {
                kind: c.kind,
                id: key,
            });
        }
        let tenant = tenant_of(c, doc, scope.parent(c, doc), &item);
        scope.items_mut(c, doc)?.push(item);
        Ok((scope, key, tenant, once))
    })
    .await?;
    let (scope, key, tenant, once) = written.out;
    let items = scope.items(c, &written.after);
    let item = find(c, items, &key)
        .map(|i| &items[i])
        .ok_or_else(|| not_found(c, &key))?;
    record(
        &st,
        &caller,
        "create",
        c.kind,
        &key,
        &tenant,
        None,
        Some(item),
    )
    .await;
    let mut body = envelope(c, &written.after, &scope, item);
    if let Some(once) = once {
        body["once"] = once;
    }
    let mut resp = with_etag(StatusCode::CREATED, body);
    if let Ok(loc) = HeaderValue::from_str(&format!("{}/{}", location(c, parent.as_deref()), key)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

fn location(c: &Collection, parent: Option<&str>) -> String {
    let url = c.list_url().replace("{parent}", parent.unwrap_or_default());
    format!("/api/v1{url}")
}

/// The item `key` as the caller may change it: 404 when missing or invisible, 428/412 on
/// `If-Match`, 403 when the role does not allow it.
fn writable(
    c: &Collection,
    caller: &Caller,
    doc: &Value,
    scope: &Scope,
    key: &str,
    if_match: Option<&str>,
) -> ApiResult<(usize, Value)> {
    let items = scope.items(c, doc);
    let parent = scope.parent(c, doc);
    let index = find(c, items, key)
        .filter(|&i| may_read(c, caller, doc, parent, &items[i]))
        .ok_or_else(|| not_found(c, key))?;
    let current = &items[index];
    let tag = etag(current);
    match if_match {
        None => return Err(AdminError::PreconditionRequired),
        Some(m) if !matches(m, &tag) => return Err(AdminError::Stale { current: tag }),
        _ => {}
    }
    if !may_write(c, caller, doc, parent, current) {
        let tenant = tenant_of(c, doc, parent, current);
        return Err(AdminError::Forbidden(format!(
            "your role on tenant `{tenant}` does not allow changing this {}",
            c.kind
        )));
    }
    Ok((index, current.clone()))
}

fn if_match(h: &HeaderMap) -> Option<String> {
    h.get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

async fn replace(
    c: &'static Collection,
    State(st): State<AdminState>,
    caller: Caller,
    p: Params,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (parent, key) = params(p)?;
    let key = key.unwrap_or_default();
    let wanted = if_match(&headers);
    let body = body_object(&body, c.kind)?;
    let written = crate::draft::modify(&st, &caller, |doc| {
        let scope = scope_for(c, &caller, doc, parent.as_deref())?;
        let (index, old) = writable(c, &caller, doc, &scope, &key, wanted.as_deref())?;
        let path = scope.item_path(c, index);
        let mut item = body.clone();
        if item.get(c.key).is_none() {
            item[c.key] = json!(key);
        }
        if key_of(c, &item) != Some(key.as_str()) {
            return Err(AdminError::invalid(
                format!("{path}.{}", c.key),
                format!("must be `{key}` (the name in the URL); renaming is not supported"),
            ));
        }
        let once = admit(c, &caller, doc, &scope, &path, Some(&old), &mut item)?;
        let tenant = tenant_of(c, doc, scope.parent(c, doc), &item);
        scope.items_mut(c, doc)?[index] = item;
        Ok((scope, index, old, tenant, once))
    })
    .await?;
    let (scope, index, old, tenant, once) = written.out;
    let item = scope
        .items(c, &written.after)
        .get(index)
        .ok_or_else(|| not_found(c, &key))?;
    record(
        &st,
        &caller,
        "update",
        c.kind,
        &key,
        &tenant,
        Some(&old),
        Some(item),
    )
    .await;
    let mut body = envelope(c, &written.after, &scope, item);
    if let Some(once) = once {
        body["once"] = once;
    }
    Ok(with_etag(StatusCode::OK, body))
}

async fn remove(
    c: &'static Collection,
    State(st): State<AdminState>,
    caller: Caller,
    p: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (parent, key) = params(p)?;
    let key = key.unwrap_or_default();
    let wanted = if_match(&headers);
    let written = crate::draft::modify(&st, &caller, |doc| {
        let scope = scope_for(c, &caller, doc, parent.as_deref())?;
        let (index, old) = writable(c, &caller, doc, &scope, &key, wanted.as_deref())?;
        let tenant = tenant_of(c, doc, scope.parent(c, doc), &old);
        scope.items_mut(c, doc)?.remove(index);
        Ok((old, tenant))
    })
    .await?;
    let (old, tenant) = written.out;
    record(
        &st,
        &caller,
        "delete",
        c.kind,
        &key,
        &tenant,
        Some(&old),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
