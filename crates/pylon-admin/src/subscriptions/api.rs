//! The subscription endpoints: subscribe, list (per service, per consumer), read,
//! approve / reject / revoke, unsubscribe. Changes answer with the subscription and a
//! [`Propagation`] report, after every live node applied the change (or the wait bound
//! passed).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pylon_config::Approval;
use pylon_store::sql::{
    Changed, NewAuditEntry, Page, Subscription, SubscriptionFilter, SubscriptionState,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::propagate::{Propagation, propagate};
use super::webhook;
use crate::AdminState;
use crate::auth::Caller;
use crate::error::{AdminError, ApiResult};

/// Body of `POST /services/{name}/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    /// The consumer (application) subscribing; must exist in the running config.
    pub consumer: String,
}

/// Optional body of approve / reject / revoke.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why; kept with the subscription and sent to webhooks.
    #[serde(default)]
    pub note: Option<String>,
}

/// A changed subscription and how far the change has spread.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionChange {
    #[schema(value_type = Object)]
    pub subscription: Subscription,
    pub propagation: Propagation,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this state: pending, approved, rejected, revoked.
    pub state: Option<String>,
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Items per page, 1..=1000 (default 50).
    pub per_page: Option<u32>,
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, AdminError> {
    p.map(|Path(v)| v)
        .map_err(|e| AdminError::BadRequest(e.body_text()))
}

fn body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, AdminError> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| AdminError::BadRequest(format!("the body is not valid: {e}")))
}

/// Audits, announces and propagates a change; the response body.
async fn finish(
    st: &AdminState,
    caller: &Caller,
    action: &str,
    events: &[&str],
    before: Option<&Subscription>,
    changed: Changed<Subscription>,
) -> SubscriptionChange {
    let after = (action != "unsubscribe").then(|| json!(changed.value));
    let entry = NewAuditEntry {
        actor: caller.name.clone(),
        action: action.to_owned(),
        object_kind: "subscription".into(),
        object_id: changed.value.id.clone(),
        tenant: Some(crate::TENANT.into()),
        before: before.map(|b| json!(b)),
        after,
    };
    if let Err(e) = st.store.audit().append(entry).await {
        tracing::error!(error = %e, action, "cannot append the audit record");
    }
    let hooks = st.current_config().await.webhooks.clone();
    let data = json!({"subscription": changed.value, "actor": caller.name});
    for event in events {
        webhook::emit(&st.webhook_slots, &hooks, event, data.clone());
    }
    let propagation = propagate(st, changed.generation).await;
    SubscriptionChange {
        subscription: changed.value,
        propagation,
    }
}

#[utoipa::path(post, path = "/api/v1/services/{name}/subscriptions", tag = "subscriptions",
    security(("bearer" = [])), request_body = SubscribeRequest,
    params(("name" = String, Path, description = "the service")),
    responses((status = 201, description = "created: approved at once (automatic approval) or pending", body = SubscriptionChange),
        (status = 400, description = "bad body", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such service or consumer", body = crate::openapi::ErrorBody),
        (status = 409, description = "the consumer already has a subscription to this service", body = crate::openapi::ErrorBody)))]
pub async fn subscribe(
    State(st): State<AdminState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> ApiResult<Response> {
    caller.can_write()?;
    let service = path(name)?;
    let req: SubscribeRequest = serde_json::from_slice(&bytes)
        .map_err(|e| AdminError::BadRequest(format!("the body is not valid: {e}")))?;
    let approval = {
        let running = st.current_config().await;
        let svc = running
            .services
            .iter()
            .find(|s| s.name == service)
            .ok_or_else(|| AdminError::NotFound {
                kind: "service",
                id: service.clone(),
            })?;
        if !running.consumers.iter().any(|c| c.name == req.consumer) {
            return Err(AdminError::NotFound {
                kind: "consumer",
                id: req.consumer,
            });
        }
        svc.subscription.approval
    };
    let (state, events): (_, &[&str]) = match approval {
        Approval::Automatic => (
            SubscriptionState::Approved,
            &["subscription.requested", "subscription.approved"],
        ),
        Approval::Manual => (SubscriptionState::Pending, &["subscription.requested"]),
    };
    let changed = st
        .store
        .subscriptions()
        .create_subscription(&service, &req.consumer, state, &caller.name)
        .await?;
    let out = finish(&st, &caller, "subscribe", events, None, changed).await;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn list(
    st: &AdminState,
    mut filter: SubscriptionFilter,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Subscription>>> {
    let Query(q) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    filter.state = q.state.as_deref().map(str::parse).transpose()?;
    let page = st
        .store
        .subscriptions()
        .list_subscriptions(&filter, q.page.unwrap_or(1), q.per_page.unwrap_or(50))
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/services/{name}/subscriptions", tag = "subscriptions",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "the service"), ListQuery),
    responses((status = 200, description = "`{items, page, per_page, total}` ordered by consumer"),
        (status = 400, description = "unknown state", body = crate::openapi::ErrorBody)))]
pub async fn list_for_service(
    State(st): State<AdminState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Subscription>>> {
    caller.can_read()?;
    let filter = SubscriptionFilter {
        service: Some(path(name)?),
        ..SubscriptionFilter::default()
    };
    list(&st, filter, q).await
}

#[utoipa::path(get, path = "/api/v1/consumers/{name}/subscriptions", tag = "subscriptions",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "the consumer"), ListQuery),
    responses((status = 200, description = "the consumer's subscriptions, ordered by service"),
        (status = 400, description = "unknown state", body = crate::openapi::ErrorBody)))]
pub async fn list_for_consumer(
    State(st): State<AdminState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Subscription>>> {
    caller.can_read()?;
    let filter = SubscriptionFilter {
        consumer: Some(path(name)?),
        ..SubscriptionFilter::default()
    };
    list(&st, filter, q).await
}

#[utoipa::path(get, path = "/api/v1/subscriptions/{id}", tag = "subscriptions",
    security(("bearer" = [])), params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "the subscription"),
        (status = 404, description = "no such subscription", body = crate::openapi::ErrorBody)))]
pub async fn get_one(
    State(st): State<AdminState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Subscription>> {
    caller.can_read()?;
    Ok(Json(
        st.store
            .subscriptions()
            .get_subscription(&path(id)?)
            .await?,
    ))
}

async fn decide(
    st: AdminState,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    bytes: Bytes,
    to: SubscriptionState,
) -> ApiResult<Json<SubscriptionChange>> {
    caller.can_write()?;
    let id = path(id)?;
    let req: DecisionRequest = body(&bytes)?;
    let before = st.store.subscriptions().get_subscription(&id).await?;
    let changed = st
        .store
        .subscriptions()
        .transition(&id, to, &caller.name, req.note.as_deref())
        .await?;
    let (action, event) = match to {
        SubscriptionState::Approved => ("approve", "subscription.approved"),
        SubscriptionState::Rejected => ("reject", "subscription.rejected"),
        _ => ("revoke", "subscription.revoked"),
    };
    Ok(Json(
        finish(&st, &caller, action, &[event], Some(&before), changed).await,
    ))
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/approve", tag = "subscriptions",
    security(("bearer" = [])), request_body(content = DecisionRequest, description = "optional"),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "approved; applied on every live node listed", body = SubscriptionChange),
        (status = 404, description = "no such subscription", body = crate::openapi::ErrorBody),
        (status = 409, description = "not pending", body = crate::openapi::ErrorBody)))]
pub async fn approve(
    State(st): State<AdminState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> ApiResult<Json<SubscriptionChange>> {
    decide(st, caller, id, bytes, SubscriptionState::Approved).await
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/reject", tag = "subscriptions",
    security(("bearer" = [])), request_body(content = DecisionRequest, description = "optional"),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "rejected", body = SubscriptionChange),
        (status = 404, description = "no such subscription", body = crate::openapi::ErrorBody),
        (status = 409, description = "not pending", body = crate::openapi::ErrorBody)))]
pub async fn reject(
    State(st): State<AdminState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> ApiResult<Json<SubscriptionChange>> {
    decide(st, caller, id, bytes, SubscriptionState::Rejected).await
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/revoke", tag = "subscriptions",
    security(("bearer" = [])), request_body(content = DecisionRequest, description = "optional"),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "revoked; refused on every live node listed", body = SubscriptionChange),
        (status = 404, description = "no such subscription", body = crate::openapi::ErrorBody),
        (status = 409, description = "not approved", body = crate::openapi::ErrorBody)))]
pub async fn revoke(
    State(st): State<AdminState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> ApiResult<Json<SubscriptionChange>> {
    decide(st, caller, id, bytes, SubscriptionState::Revoked).await
}

#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "subscriptions",
    security(("bearer" = [])), params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "unsubscribed: the subscription as it was", body = SubscriptionChange),
        (status = 404, description = "no such subscription", body = crate::openapi::ErrorBody)))]
pub async fn unsubscribe(
    State(st): State<AdminState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<SubscriptionChange>> {
    caller.can_write()?;
    let id = path(id)?;
    let changed = st.store.subscriptions().delete_subscription(&id).await?;
    let before = changed.value.clone();
    Ok(Json(
        finish(
            &st,
            &caller,
            "unsubscribe",
            &["subscription.cancelled"],
            Some(&before),
            changed,
        )
        .await,
    ))
}
