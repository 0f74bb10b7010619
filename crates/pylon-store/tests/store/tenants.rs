//! Tenants and teams.

use pylon_store::StoreError;

use crate::harness::Ctx;

/// Tenant CRUD with slug rules, duplicates, pagination and version conflicts.
pub async fn tenants_crud_with_version_conflicts(ctx: Ctx) {
    let tenants = ctx.store.tenants();
    let acme = tenants.create_tenant("acme", "ACME Corp").await.unwrap();
    assert_eq!(acme.version, 1);
    assert_eq!(acme.created_at, acme.updated_at);
    assert!(matches!(
        tenants.create_tenant("acme", "again").await,
        Err(StoreError::Duplicate { .. })
    ));
    for bad in ["", "Acme", "-x", "a b", "ü"] {
        assert!(
            matches!(
                tenants.create_tenant(bad, "x").await,
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    tenants.create_tenant("beta", "Beta").await.unwrap();
    tenants.create_tenant("zeta", "Zeta").await.unwrap();

    let got = tenants.get_tenant("acme").await.unwrap();
    assert_eq!(got, acme);
    let page = tenants.list_tenants(1, 2).await.unwrap();
    assert_eq!(page.total, 3);
    let ids: Vec<_> = page.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["acme", "beta"]);
    let page2 = tenants.list_tenants(2, 2).await.unwrap();
    assert_eq!(page2.items.len(), 1);

    let renamed = tenants.update_tenant("acme", "ACME Inc", 1).await.unwrap();
    assert_eq!(renamed.version, 2);
    assert_eq!(renamed.display_name, "ACME Inc");
    assert!(renamed.updated_at >= acme.updated_at);
    assert_eq!(renamed.created_at, acme.created_at);
    let stale = tenants.update_tenant("acme", "Lost", 1).await.unwrap_err();
    assert!(
        matches!(stale, StoreError::Conflict { current: 2 }),
        "{stale:?}"
    );
    assert_eq!(
        tenants.get_tenant("acme").await.unwrap().display_name,
        "ACME Inc"
    );
    assert!(matches!(
        tenants.update_tenant("ghost", "x", 1).await,
        Err(StoreError::NotFound { .. })
    ));

    assert!(matches!(
        tenants.delete_tenant("acme", 1).await,
        Err(StoreError::Conflict { current: 2 })
    ));
    tenants.delete_tenant("acme", 2).await.unwrap();
    assert!(matches!(
        tenants.get_tenant("acme").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        tenants.delete_tenant("acme", 2).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Teams: unique names per tenant, members, version conflicts, and cascades from the
/// tenant and from deleted users.
pub async fn teams_crud_members_and_conflicts(ctx: Ctx) {
    let tenants = ctx.store.tenants();
    tenants.create_tenant("acme", "ACME").await.unwrap();
    tenants.create_tenant("beta", "Beta").await.unwrap();
    let alice = ctx.store.auth().create_user("alice", &[]).await.unwrap();
    let bob = ctx.store.auth().create_user("bob", &[]).await.unwrap();

    let core = tenants
        .create_team("acme", "core", "platform team")
        .await
        .unwrap();
    assert_eq!((core.version, core.tenant.as_str()), (1, "acme"));
    assert!(core.members.is_empty());
    assert!(matches!(
        tenants.create_team("acme", "core", "dup").await,
        Err(StoreError::Duplicate { .. })
    ));
    // Same name in another tenant is fine; unknown tenant is NotFound.
    tenants.create_team("beta", "core", "").await.unwrap();
    assert!(matches!(
        tenants.create_team("ghost", "core", "").await,
        Err(StoreError::NotFound { .. })
    ));
    let web = tenants.create_team("acme", "web", "").await.unwrap();

    let t = tenants.add_team_member(&core.id, &bob.id, 1).await.unwrap();
    let t = tenants
        .add_team_member(&core.id, &alice.id, t.version)
        .await
        .unwrap();
    assert_eq!(t.version, 3);
    let mut expected = vec![alice.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(t.members, expected);
    assert!(matches!(
        tenants.add_team_member(&core.id, &bob.id, 1).await,
        Err(StoreError::Conflict { current: 3 })
    ));
    assert!(matches!(
        tenants.add_team_member(&core.id, &bob.id, 3).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(
        tenants.add_team_member(&core.id, "ghost-user", 3).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        tenants.get_team(&core.id).await.unwrap().version,
        3,
        "failed adds roll back"
    );

    let page = tenants.list_teams("acme", 1, 10).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].name, "core");
    assert_eq!(page.items[0].members, expected);
    assert_eq!(page.items[1].id, web.id);
    assert!(page.items[1].members.is_empty());

    let renamed = tenants
        .update_team(&core.id, "platform", "renamed", 3)
        .await
        .unwrap();
    assert_eq!((renamed.version, renamed.name.as_str()), (4, "platform"));
    assert_eq!(renamed.members, expected);
    assert!(matches!(
        tenants.update_team(&core.id, "x", "", 3).await,
        Err(StoreError::Conflict { current: 4 })
    ));
    assert!(matches!(
        tenants.update_team(&web.id, "platform", "", 1).await,
        Err(StoreError::Duplicate { .. })
    ));

    let t = tenants
        .remove_team_member(&core.id, &bob.id, 4)
        .await
        .unwrap();
    assert_eq!(t.members, vec![alice.id.clone()]);
    assert!(matches!(
        tenants.remove_team_member(&core.id, &bob.id, 5).await,
        Err(StoreError::NotFound { .. })
    ));
    // Deleting a user removes their memberships.
    ctx.store.auth().delete_user(&alice.id, 1).await.unwrap();
    assert!(tenants.get_team(&core.id).await.unwrap().members.is_empty());

    assert!(matches!(
        tenants.delete_team(&web.id, 9).await,
        Err(StoreError::Conflict { current: 1 })
    ));
    tenants.delete_team(&web.id, 1).await.unwrap();
    assert!(matches!(
        tenants.get_team(&web.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // Deleting the tenant deletes its teams.
    let acme = tenants.get_tenant("acme").await.unwrap();
    tenants.delete_tenant("acme", acme.version).await.unwrap();
    assert!(matches!(
        tenants.get_team(&core.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(tenants.list_teams("beta", 1, 10).await.unwrap().total, 1);
}
