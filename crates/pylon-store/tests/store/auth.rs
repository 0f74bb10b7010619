//! Admin users, roles and tokens.

use pylon_store::StoreError;
use pylon_store::sql::{Role, TOKEN_PREFIX, TenantRole};
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

use crate::harness::{Ctx, Db};

async fn tenant(ctx: &Ctx, id: &str) {
    ctx.store.tenants().create_tenant(id, id).await.unwrap();
}

/// A created token authenticates to its user and roles until it is revoked.
pub async fn token_create_authenticate_revoke(ctx: Ctx) {
    tenant(&ctx, "acme").await;
    let auth = ctx.store.auth();
    let user = auth
        .create_user("alice", &[TenantRole::new("acme", Role::Developer)])
        .await
        .unwrap();
    let created = auth.create_token(&user.id, "laptop", None).await.unwrap();
    let clear = created.token.expose().to_owned();
    assert!(clear.starts_with(TOKEN_PREFIX));
    assert_eq!(created.info.hint, clear[..8]);
    assert_eq!(created.info.user_id, user.id);

    let who = auth
        .authenticate(&clear)
        .await
        .unwrap()
        .expect("token works");
    assert_eq!(who.user.name, "alice");
    assert_eq!(
        who.user.roles,
        vec![TenantRole::new("acme", Role::Developer)]
    );
    assert_eq!(who.token_id, created.info.id);
    assert!(
        auth.authenticate("pyl_not-a-token")
            .await
            .unwrap()
            .is_none()
    );
    assert!(auth.authenticate("").await.unwrap().is_none());

    let listed = auth.list_tokens(Some(&user.id)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some(), "use is recorded");
    assert!(listed[0].revoked_at.is_none());

    auth.revoke_token(&created.info.id).await.unwrap();
    assert!(auth.authenticate(&clear).await.unwrap().is_none());
    auth.revoke_token(&created.info.id).await.unwrap(); // idempotent
    let listed = auth.list_tokens(None).await.unwrap();
    assert!(listed[0].revoked_at.is_some());
    assert!(matches!(
        auth.revoke_token("no-such-token").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        auth.create_token("no-such-user", "x", None).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Only the SHA-256 digest is stored: the clear token appears in no column (and, on
/// SQLite, nowhere in the database files).
pub async fn tokens_are_stored_as_digests_only(ctx: Ctx) {
    let auth = ctx.store.auth();
    let user = auth.create_user("alice", &[]).await.unwrap();
    let created = auth.create_token(&user.id, "ci", None).await.unwrap();
    let clear = created.token.expose().to_owned();
    let secret_part = clear.trim_start_matches(TOKEN_PREFIX).to_owned();
    let expected_digest = Sha256::digest(clear.as_bytes()).to_vec();

    let (dump, digest): (String, Vec<u8>) = match ctx.db {
        Db::Sqlite => sqlx::query_as(
            "SELECT json_object('id', id, 'user_id', user_id, 'name', name, \
             'hash', hex(token_sha256), 'hint', hint, 'created_at', created_at), token_sha256 \
             FROM admin_tokens",
        )
        .fetch_one(ctx.store.sqlite_pool().unwrap())
        .await
        .unwrap(),
        Db::Postgres => {
            sqlx::query_as("SELECT row_to_json(t)::text, t.token_sha256 FROM admin_tokens t")
                .fetch_one(ctx.store.postgres_pool().unwrap())
                .await
                .unwrap()
        }
    };
    assert_eq!(digest, expected_digest);
    assert!(!dump.contains(&clear), "{dump}");
    assert!(!dump.contains(&secret_part), "{dump}");

    let listed = format!("{:?}", auth.list_tokens(None).await.unwrap());
    assert!(!listed.contains(&secret_part));
    assert!(
        !format!("{:?}", created).contains(&secret_part),
        "Debug redacts"
    );

    if ctx.db == Db::Sqlite {
        ctx.store.close().await;
        let dir = ctx.store_dir().unwrap();
        for file in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            let needle = secret_part.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "clear token found in a database file"
            );
        }
    }
}

/// A token past its expiry does not authenticate.
pub async fn expired_tokens_do_not_authenticate(ctx: Ctx) {
    let auth = ctx.store.auth();
    let user = auth.create_user("alice", &[]).await.unwrap();
    let past = OffsetDateTime::now_utc() - Duration::minutes(1);
    let future = OffsetDateTime::now_utc() + Duration::hours(1);
    let old = auth
        .create_token(&user.id, "old", Some(past))
        .await
        .unwrap();
    let live = auth
        .create_token(&user.id, "live", Some(future))
        .await
        .unwrap();
    assert!(
        auth.authenticate(old.token.expose())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        auth.authenticate(live.token.expose())
            .await
            .unwrap()
            .is_some()
    );
}

/// Bootstrap creates `admin` (owner of `default`) and a token once; afterwards it does
/// nothing. A given token is used as is; a too-short one is refused.
pub async fn bootstrap_runs_once(ctx: Ctx) {
    let auth = ctx.store.auth();
    assert!(matches!(
        auth.bootstrap(Some("too-short")).await,
        Err(StoreError::Invalid(_))
    ));
    let given = "my-operator-chosen-admin-token-0123456789";
    let boot = auth
        .bootstrap(Some(given))
        .await
        .unwrap()
        .expect("first start");
    assert_eq!(boot.user.name, "admin");
    assert_eq!(
        boot.user.roles,
        vec![TenantRole::new("default", Role::Owner)]
    );
    assert_eq!(boot.token.token.expose(), given);
    let tenant = ctx.store.tenants().get_tenant("default").await.unwrap();
    assert_eq!(tenant.version, 1);

    let who = auth.authenticate(given).await.unwrap().unwrap();
    assert_eq!(who.user.id, boot.user.id);
    assert!(auth.bootstrap(None).await.unwrap().is_none());
    assert_eq!(auth.list_users(1, 10).await.unwrap().total, 1);
}

/// Several nodes bootstrapping at once create exactly one admin.
pub async fn concurrent_bootstrap_creates_one_admin(ctx: Ctx) {
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let auth = ctx.store.auth().clone();
        tasks.push(tokio::spawn(async move { auth.bootstrap(None).await }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(ctx.store.auth().list_users(1, 10).await.unwrap().total, 1);
    assert_eq!(ctx.store.auth().list_tokens(None).await.unwrap().len(), 1);
}

/// Users: duplicates, unknown tenants, role replacement with optimistic concurrency, and
/// deletion cascading to tokens.
pub async fn users_roles_and_version_conflicts(ctx: Ctx) {
    tenant(&ctx, "acme").await;
    tenant(&ctx, "globex").await;
    let auth = ctx.store.auth();
    let alice = auth
        .create_user(
            "alice",
            &[
                TenantRole::new("globex", Role::Viewer),
                TenantRole::new("acme", Role::Owner),
            ],
        )
        .await
        .unwrap();
    assert_eq!(alice.version, 1);
    assert_eq!(
        alice.roles,
        vec![
            TenantRole::new("acme", Role::Owner),
            TenantRole::new("globex", Role::Viewer)
        ]
    );
    assert!(matches!(
        auth.create_user("alice", &[]).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(
        auth.create_user("bob", &[TenantRole::new("nope", Role::Admin)])
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        auth.find_user_by_name("bob").await.unwrap().is_none(),
        "no partial user"
    );
    assert!(matches!(
        auth.create_user(
            "bob",
            &[
                TenantRole::new("acme", Role::Admin),
                TenantRole::new("acme", Role::Viewer)
            ]
        )
        .await,
        Err(StoreError::Invalid(_))
    ));

    let updated = auth
        .set_roles(&alice.id, &[TenantRole::new("globex", Role::Admin)], 1)
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.roles, vec![TenantRole::new("globex", Role::Admin)]);
    let stale = auth
        .set_roles(&alice.id, &[TenantRole::new("acme", Role::Viewer)], 1)
        .await
        .unwrap_err();
    assert!(
        matches!(stale, StoreError::Conflict { current: 2 }),
        "{stale:?}"
    );
    assert_eq!(auth.get_user(&alice.id).await.unwrap().roles, updated.roles);
    assert!(matches!(
        auth.set_roles("ghost", &[], 1).await,
        Err(StoreError::NotFound { .. })
    ));

    let by_name = auth.find_user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(by_name, updated);
    auth.create_user("bob", &[]).await.unwrap();
    let page = auth.list_users(1, 1).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].name, "alice");
    assert_eq!(page.items[0].roles, updated.roles);

    let token = auth.create_token(&alice.id, "t", None).await.unwrap();
    assert!(matches!(
        auth.delete_user(&alice.id, 1).await,
        Err(StoreError::Conflict { current: 2 })
    ));
    auth.delete_user(&alice.id, 2).await.unwrap();
    assert!(
        auth.authenticate(token.token.expose())
            .await
            .unwrap()
            .is_none()
    );
    assert!(auth.list_tokens(Some(&alice.id)).await.unwrap().is_empty());
    assert!(matches!(
        auth.get_user(&alice.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        auth.delete_user(&alice.id, 2).await,
        Err(StoreError::NotFound { .. })
    ));
}
