//! Console passwords, sessions, single role grants and the all-or-nothing document rewrite.

use pylon_store::StoreError;
use pylon_store::sql::{Role, TenantRole};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::harness::Ctx;

/// Password hashes are stored and found by user name; sessions are tokens of kind
/// `session` that expire; grants are upserted and revoked one tenant at a time.
pub async fn passwords_sessions_and_grants(ctx: Ctx) {
    ctx.store
        .tenants()
        .create_tenant("acme", "Acme")
        .await
        .unwrap();
    let (auth, access) = (ctx.store.auth(), ctx.store.access());
    let user = auth.create_user("carol", &[]).await.unwrap();
    assert!(access.password_hash("carol").await.unwrap().is_none());
    let u = access
        .set_password_hash(&user.id, Some("$argon2id$v=19$fake"))
        .await
        .unwrap();
    assert_eq!(u.version, user.version + 1);
    let (found, hash) = access.password_hash("carol").await.unwrap().expect("hash");
    assert_eq!(
        (found.id.as_str(), hash.as_str()),
        (user.id.as_str(), "$argon2id$v=19$fake")
    );
    assert!(access.password_hash("nobody").await.unwrap().is_none());

    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    let s = access.create_session(&user.id, later).await.unwrap();
    assert_eq!(s.info.kind, "session");
    let who = auth
        .authenticate(s.token.expose())
        .await
        .unwrap()
        .expect("session works");
    assert_eq!(who.token_id, s.info.id);
    let past = OffsetDateTime::now_utc() - Duration::seconds(1);
    let old = access.create_session(&user.id, past).await.unwrap();
    assert!(
        auth.authenticate(old.token.expose())
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    let api = auth.create_token(&user.id, "ci", None).await.unwrap();
    assert_eq!(api.info.kind, "api");
    let kinds: Vec<String> = auth
        .list_tokens(Some(&user.id))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "session").count(), 2);
    assert!(matches!(
        access.create_session("no-user", later).await,
        Err(StoreError::NotFound { .. })
    ));

    let u = access
        .grant_role(&user.id, "acme", Role::Viewer)
        .await
        .unwrap();
    assert_eq!(u.roles, vec![TenantRole::new("acme", Role::Viewer)]);
    let u = access
        .grant_role(&user.id, "acme", Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        u.roles,
        vec![TenantRole::new("acme", Role::Admin)],
        "replaced, not added"
    );
    let who = auth
        .authenticate(api.token.expose())
        .await
        .unwrap()
        .expect("token");
    assert_eq!(who.user.roles, u.roles, "grants apply at once");
    assert!(matches!(
        access.grant_role(&user.id, "nope", Role::Viewer).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        access.grant_role("no-user", "acme", Role::Viewer).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        access.grant_role(&user.id, "Bad Slug", Role::Viewer).await,
        Err(StoreError::Invalid(_))
    ));
    let u = access.revoke_role(&user.id, "acme").await.unwrap();
    assert!(u.roles.is_empty());
    assert!(matches!(
        access.revoke_role(&user.id, "acme").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// `rewrite_documents` changes the draft and every version in one transaction; one
/// failure leaves everything as it was.
pub async fn rewrite_documents_all_or_nothing(ctx: Ctx) {
    let config = ctx.store.config();
    config.put_draft(&json!({"n": 1}), 0, "t").await.unwrap();
    config.publish("t", "one", None).await.unwrap();
    config.put_draft(&json!({"n": 2}), 1, "t").await.unwrap();
    config.publish("t", "two", None).await.unwrap();
    let access = ctx.store.access();
    let fail_on_two = |doc: &Value| -> Result<Option<Value>, String> {
        if doc["n"] == 2 && doc.get("stamp").is_none() {
            Err("no".into())
        } else {
            Ok(Some(json!({"n": doc["n"], "stamp": true})))
        }
    };
    let err = access.rewrite_documents(&fail_on_two).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(
        config
            .get_version(1)
            .await
            .unwrap()
            .document
            .get("stamp")
            .is_none(),
        "rolled back"
    );
    let stamp = |doc: &Value| -> Result<Option<Value>, String> {
        Ok((doc["n"] == 1).then(|| json!({"n": 1, "stamp": true})))
    };
    assert_eq!(access.rewrite_documents(&stamp).await.unwrap(), 1);
    assert_eq!(config.get_version(1).await.unwrap().document["stamp"], true);
    assert!(
        config
            .get_version(2)
            .await
            .unwrap()
            .document
            .get("stamp")
            .is_none()
    );
    assert_eq!(config.get_draft().await.unwrap().document, json!({"n": 2}));
}
