//! The versioned config: draft (read, replace with `If-Match`), publish, versions, diff
//! and rollback.
//!
//! Publish and rollback order: validate → activate on this node → record in the store.
//! Activating first means a config the gateway refuses (say, a port it cannot bind) is
//! never recorded as a version or marked active; if recording then fails (a concurrent
//! draft edit, a database error) the previous config is activated again, so the node and
//! the store never disagree for longer than that call. One lock serializes the whole step.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pylon_config::Config;
use pylon_store::sql::{ConfigVersion, DiffOp, Page, VersionInfo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult};

/// Body of `POST /config/publish`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PublishRequest {
    /// Why this change is made; kept with the version.
    #[serde(default)]
    pub message: String,
}

/// The draft and its optimistic-concurrency version (also the `ETag`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftBody {
    pub version: i64,
    #[schema(value_type = Object)]
    pub document: Value,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Items per page, 1..=1000 (default 50).
    pub per_page: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DiffQuery {
    /// The older version.
    pub from: i64,
    /// The newer version.
    pub to: i64,
}

/// Validates a document with the full config checks (including the policy checks).
pub(crate) fn validate(st: &AdminState, doc: &Value) -> Result<Config, AdminError> {
    crate::draft::validate(doc, st.master_key.as_deref()).map_err(AdminError::Validation)
}

/// Publishing or rolling back changes the live config of every tenant whose objects
/// differ: the caller must administer each of them.
fn may_release(caller: &Caller, from: &Value, to: &Value) -> ApiResult<()> {
    let mut tenants = crate::collections::access::touched_tenants(from, to);
    if tenants.is_empty() {
        tenants.insert(crate::TENANT.to_owned());
    }
    for t in tenants {
        caller.must_administer(&t)?;
    }
    Ok(())
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version named by `If-Match` (`"3"`, `W/"3"` or `3`).
pub(crate) fn if_match(headers: &HeaderMap, current: i64) -> Result<i64, AdminError> {
    let raw = headers
        .get(header::IF_MATCH)
        .ok_or(AdminError::PreconditionRequired)?;
    let text = raw.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>()
        .map_err(|_| AdminError::PreconditionFailed { current })
}

async fn audit(
    st: &AdminState,
    caller: &Caller,
    action: &str,
    id: String,
    before: Value,
    after: Value,
) {
    crate::audit_api::record(
        st,
        caller,
        action,
        "config",
        &id,
        crate::TENANT,
        Some(&before),
        Some(&after),
    )
    .await;
}

#[utoipa::path(get, path = "/api/v1/config/draft", tag = "config", security(("bearer" = [])),
    responses((status = 200, description = "the draft (secrets as fingerprints); ETag is its version", body = DraftBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "needs a role on tenant `default`", body = crate::openapi::ErrorBody)))]
pub async fn get_draft(State(st): State<AdminState>, caller: Caller) -> ApiResult<Response> {
    caller.can_read()?;
    let d = st.store.config().get_draft().await?;
    let mut resp = Json(DraftBody {
        version: d.version,
        document: pylon_config::envelope::masked(&d.document),
    })
    .into_response();
    resp.headers_mut().insert(header::ETAG, etag(d.version));
    Ok(resp)
}

#[utoipa::path(put, path = "/api/v1/config/draft", tag = "config", security(("bearer" = [])),
    request_body(content = Object, description = "a whole config document"),
    params(("If-Match" = String, Header, description = "the draft's ETag")),
    responses((status = 200, description = "stored; the new version", body = DraftBody),
        (status = 400, description = "malformed body or parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "the role does not allow it", body = crate::openapi::ErrorBody),
        (status = 409, description = "file-managed config", body = crate::openapi::ErrorBody),
        (status = 412, description = "stale If-Match", body = crate::openapi::ErrorBody),
        (status = 422, description = "invalid document, every issue listed", body = crate::openapi::ErrorBody),
        (status = 428, description = "If-Match missing", body = crate::openapi::ErrorBody)))]
pub async fn put_draft(
    State(st): State<AdminState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.can_write()?;
    if st.file_managed {
        return Err(AdminError::FileManaged);
    }
    let before = st.store.config().get_draft().await?;
    let expected = if_match(&headers, before.version)?;
    if expected != before.version {
        return Err(AdminError::PreconditionFailed {
            current: before.version,
        });
    }
    let mut doc: Value = serde_json::from_slice(&body)
        .map_err(|e| AdminError::BadRequest(format!("the body is not JSON: {e}")))?;
    crate::draft::prepare_document(&mut doc, &before.document, st.master_key.as_deref()).await?;
    validate(&st, &doc)?;
    let version = match st
        .store
        .config()
        .put_draft(&doc, expected, &caller.name)
        .await
    {
        Ok(v) => v,
        Err(pylon_store::StoreError::Conflict { current }) => {
            return Err(AdminError::PreconditionFailed { current });
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        &st,
        &caller,
        "update",
        "draft".into(),
        before.document,
        doc.clone(),
    )
    .await;
    let mut resp = Json(DraftBody {
        version,
        document: pylon_config::envelope::masked(&doc),
    })
    .into_response();
    resp.headers_mut().insert(header::ETAG, etag(version));
    Ok(resp)
}

/// Activates `config` on this node, then runs `record`; if recording fails, the
/// previous config is activated again.
async fn activate_then_record<F, Fut>(
    st: &AdminState,
    config: Config,
    document: &Value,
    record: F,
) -> ApiResult<VersionInfo>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = pylon_store::sql::Result<VersionInfo>>,
{
    let mut running = st.running.lock().await;
    (st.activate)(config.clone())
        .await
        .map_err(AdminError::Activation)?;
    match record().await {
        Ok(info) => {
            *running = config;
            if let Some(node) = &st.node {
                node.activated(info.number);
                node.cache_config(info.number, document).await;
            }
            Ok(info)
        }
        Err(e) => {
            if let Err(back) = (st.activate)(running.clone()).await {
                tracing::error!(error = %back, "cannot re-activate the previous config");
            }
            match e {
                pylon_store::StoreError::Conflict { current } => {
                    Err(AdminError::PreconditionFailed { current })
                }
                e => Err(e.into()),
            }
        }
    }
}

#[utoipa::path(post, path = "/api/v1/config/publish", tag = "config", security(("bearer" = [])),
    request_body = PublishRequest,
    responses((status = 201, description = "the new active version (without document)", body = Object),
        (status = 400, description = "malformed body or parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "the role does not allow it", body = crate::openapi::ErrorBody),
        (status = 412, description = "the draft moved meanwhile", body = crate::openapi::ErrorBody),
        (status = 409, description = "file-managed config", body = crate::openapi::ErrorBody),
        (status = 422, description = "the draft is invalid or cannot be activated", body = crate::openapi::ErrorBody)))]
pub async fn publish(
    State(st): State<AdminState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    caller.administers_any()?;
    if st.file_managed {
        return Err(AdminError::FileManaged);
    }
    let req: PublishRequest = if body.is_empty() {
        PublishRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AdminError::BadRequest(format!("the body is not valid: {e}")))?
    };
    let draft = st.store.config().get_draft().await?;
    let config = st.prepare(&draft.document)?;
    let before = st.store.config().active_version().await?;
    let empty = Value::Object(Default::default());
    may_release(
        &caller,
        before.as_ref().map_or(&empty, |v| &v.document),
        &draft.document,
    )?;
    let store = st.store.clone();
    let (actor, message) = (caller.name.clone(), req.message);
    let info = activate_then_record(&st, config, &draft.document, || async move {
        store
            .config()
            .publish(&actor, &message, Some(draft.version))
            .await
    })
    .await?;
    let before_doc = before.map(|v| v.document).unwrap_or(Value::Null);
    audit(
        &st,
        &caller,
        "publish",
        info.number.to_string(),
        before_doc,
        draft.document,
    )
    .await;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

#[utoipa::path(post, path = "/api/v1/config/versions/{n}/rollback", tag = "config", security(("bearer" = [])),
    params(("n" = i64, Path, description = "the version to return to")),
    responses((status = 201, description = "the new version recording the rollback", body = Object),
        (status = 400, description = "malformed body or parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "the role does not allow it", body = crate::openapi::ErrorBody),
        (status = 412, description = "the draft moved meanwhile", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such version", body = crate::openapi::ErrorBody),
        (status = 409, description = "file-managed config", body = crate::openapi::ErrorBody),
        (status = 422, description = "that version no longer validates or cannot be activated", body = crate::openapi::ErrorBody)))]
pub async fn rollback(
    State(st): State<AdminState>,
    caller: Caller,
    n: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    caller.can_read()?;
    caller.administers_any()?;
    if st.file_managed {
        return Err(AdminError::FileManaged);
    }
    let Path(n) = n.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let target = st.store.config().get_version(n).await?;
    let config = st.prepare(&target.document)?;
    let before = st.store.config().active_version().await?;
    let empty = Value::Object(Default::default());
    may_release(
        &caller,
        before.as_ref().map_or(&empty, |v| &v.document),
        &target.document,
    )?;
    let store = st.store.clone();
    let actor = caller.name.clone();
    let info = activate_then_record(&st, config, &target.document, || async move {
        store.config().activate(n, &actor).await
    })
    .await?;
    let before_doc = before.map(|v| v.document).unwrap_or(Value::Null);
    audit(
        &st,
        &caller,
        "rollback",
        info.number.to_string(),
        before_doc,
        target.document,
    )
    .await;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

#[utoipa::path(get, path = "/api/v1/config/versions", tag = "config", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "`{items, page, per_page, total}`, newest first", body = Object),
        (status = 400, description = "malformed parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "needs a role on tenant `default`", body = crate::openapi::ErrorBody)))]
pub async fn list_versions(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<VersionInfo>>> {
    caller.can_read()?;
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(50);
    Ok(Json(st.store.config().list_versions(page, per_page).await?))
}

#[utoipa::path(get, path = "/api/v1/config/versions/{n}", tag = "config", security(("bearer" = [])),
    params(("n" = i64, Path, description = "version number")),
    responses((status = 200, description = "the version with its document (secrets as fingerprints)", body = Object),
        (status = 400, description = "malformed parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "needs a role on tenant `default`", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such version", body = crate::openapi::ErrorBody)))]
pub async fn get_version(
    State(st): State<AdminState>,
    caller: Caller,
    n: Result<Path<i64>, PathRejection>,
) -> ApiResult<Json<ConfigVersion>> {
    caller.can_read()?;
    let Path(n) = n.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let mut v = st.store.config().get_version(n).await?;
    pylon_config::envelope::mask_document(&mut v.document);
    Ok(Json(v))
}

#[utoipa::path(get, path = "/api/v1/config/diff", tag = "config", security(("bearer" = [])),
    params(DiffQuery),
    responses((status = 200, description = "`{from, to, changes: [{op, path}]}`", body = Object),
        (status = 400, description = "malformed parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or bad token", body = crate::openapi::ErrorBody),
        (status = 403, description = "needs a role on tenant `default`", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such version", body = crate::openapi::ErrorBody)))]
pub async fn diff(
    State(st): State<AdminState>,
    caller: Caller,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    caller.can_read()?;
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let changes: Vec<DiffOp> = st.store.config().diff(q.from, q.to).await?;
    Ok(Json(
        json!({"from": q.from, "to": q.to, "changes": changes}),
    ))
}
