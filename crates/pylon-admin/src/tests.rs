//! Unit tests: role checks, `If-Match` parsing, the error shape, and the publish order
//! (a config the gateway refuses is never recorded or marked active).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use pylon_store::Store;
use pylon_store::sql::Role;
use serde_json::{Value, json};

use crate::config_api::{if_match, publish};
use crate::{Activator, AdminError, AdminState, Caller};

fn caller(role: Option<Role>) -> Caller {
    Caller {
        user_id: "u1".into(),
        name: "tester".into(),
        roles: role
            .map(|r| ("default".to_owned(), r))
            .into_iter()
            .collect(),
        token_id: "t1".into(),
        session: false,
    }
}

#[test]
fn roles_map_to_read_and_write() {
    assert!(caller(Some(Role::Viewer)).can_read().is_ok());
    assert!(caller(Some(Role::Viewer)).can_write().is_err());
    assert!(caller(Some(Role::Developer)).can_write().is_err());
    assert!(caller(Some(Role::Admin)).can_write().is_ok());
    assert!(caller(Some(Role::Owner)).can_write().is_ok());
    assert!(caller(None).can_read().is_err());
}

#[test]
fn if_match_accepts_strong_weak_and_bare_versions() {
    let mut h = HeaderMap::new();
    assert!(matches!(
        if_match(&h, 3),
        Err(AdminError::PreconditionRequired)
    ));
    for v in ["\"3\"", "W/\"3\"", "3"] {
        h.insert(header::IF_MATCH, HeaderValue::from_static(v));
        assert_eq!(if_match(&h, 3).ok(), Some(3), "{v}");
    }
    h.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
    assert!(matches!(
        if_match(&h, 3),
        Err(AdminError::PreconditionFailed { current: 3 })
    ));
}

#[test]
fn unauthorized_renders_the_error_shape_and_challenge() {
    let resp = AdminError::Unauthorized.into_response();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers().get(header::WWW_AUTHENTICATE),
        Some(&HeaderValue::from_static("Bearer"))
    );
}

async fn temp_store(dir: &tempfile::TempDir) -> Arc<Store> {
    let url = format!("sqlite://{}/pylon.db?mode=rwc", dir.path().display());
    Arc::new(Store::open(&url).await.expect("store"))
}

fn counting_activator(ok: bool, calls: Arc<AtomicUsize>) -> Activator {
    Arc::new(move |_cfg| {
        calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err("cannot bind 127.0.0.1:1".to_owned())
            }
        })
    })
}

fn default_doc() -> Value {
    serde_json::to_value(pylon_config::embedded_default()).expect("serializable")
}

#[tokio::test]
async fn a_refused_activation_records_no_version() {
    let dir = tempfile::tempdir().expect("dir");
    let store = temp_store(&dir).await;
    store
        .config()
        .put_draft(&default_doc(), 0, "t")
        .await
        .expect("draft");
    let calls = Arc::new(AtomicUsize::new(0));
    let st = AdminState::new(
        store.clone(),
        counting_activator(false, calls.clone()),
        false,
        pylon_config::embedded_default(),
    );
    let err = publish(
        State(st),
        caller(Some(Role::Owner)),
        Bytes::from_static(b"{\"message\":\"m\"}"),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, AdminError::Activation(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        store
            .config()
            .active_version()
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(
        store
            .config()
            .list_versions(1, 10)
            .await
            .expect("list")
            .total,
        0
    );
}

#[tokio::test]
async fn an_invalid_draft_is_not_activated() {
    let dir = tempfile::tempdir().expect("dir");
    let store = temp_store(&dir).await;
    let bad = json!({"listeners": [{"name": "x", "bind": "nowhere"}]});
    store.config().put_draft(&bad, 0, "t").await.expect("draft");
    let calls = Arc::new(AtomicUsize::new(0));
    let st = AdminState::new(
        store.clone(),
        counting_activator(true, calls.clone()),
        false,
        pylon_config::embedded_default(),
    );
    let err = publish(State(st), caller(Some(Role::Admin)), Bytes::new())
        .await
        .expect_err("refused");
    match err {
        AdminError::Validation(details) => {
            assert!(details.iter().any(|d| d.path.starts_with("listeners[0]")))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "never activated");
}
