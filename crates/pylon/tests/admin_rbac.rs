//! Tenants and roles through the real binary: every endpoint family answers 401 without
//! a valid token; each role's forbidden actions answer 403 (table-driven); objects of a
//! tenant where the caller has no role are invisible (404, filtered lists); developers
//! change only the services they own and those services' routes and policies; publishing
//! needs admin on every tenant the release touches.

mod common_admin;
mod common_http;

use common_admin::{Node, TOKEN};
use common_http::bounded;
use reqwest::Method;
use serde_json::{Value, json};

struct World {
    node: Node,
    vic: String,
    dev: String,
    ada: String,
    gus: String,
    dev_id: String,
    vic_id: String,
}

/// Tenants acme and globex; vic (viewer), dev (developer), ada (admin) on acme, gus
/// (admin) on globex; services acme-api (owner ada), dev-api (owner dev), gx-api.
async fn world() -> World {
    let node = Node::start(Some(TOKEN)).await;
    node.tenant("acme").await;
    node.tenant("globex").await;
    let (vic_id, vic) = node.user("vic", &[("acme", "viewer")]).await;
    let (dev_id, dev) = node.user("dev", &[("acme", "developer")]).await;
    let (_, ada) = node.user("ada", &[("acme", "admin")]).await;
    let (_, gus) = node.user("gus", &[("globex", "admin")]).await;
    let objects = [
        (
            "/api/v1/services",
            json!({"name": "acme-api", "tenant": "acme", "owner": "ada"}),
        ),
        (
            "/api/v1/services",
            json!({"name": "dev-api", "tenant": "acme", "owner": "dev"}),
        ),
        (
            "/api/v1/services",
            json!({"name": "gx-api", "tenant": "globex"}),
        ),
        (
            "/api/v1/upstreams",
            json!({"name": "acme-up", "tenant": "acme", "targets": [{"address": "127.0.0.1:9"}]}),
        ),
        (
            "/api/v1/routes",
            json!({"name": "acme-r", "service": "acme-api", "match": {"paths": [{"exact": "/a"}]}, "upstream": "acme-up"}),
        ),
        (
            "/api/v1/routes",
            json!({"name": "dev-r", "service": "dev-api", "match": {"paths": [{"exact": "/d"}]}, "respond": {}}),
        ),
        (
            "/api/v1/consumers",
            json!({"name": "acme-c", "tenant": "acme"}),
        ),
    ];
    for (path, body) in objects {
        node.expect(201, Method::POST, path, TOKEN, None, Some(&body))
            .await;
    }
    node.publish("world").await;
    World {
        node,
        vic,
        dev,
        ada,
        gus,
        dev_id,
        vic_id,
    }
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|i| {
            i.iter()
                .filter_map(|e| e["item"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_endpoint_family_needs_a_valid_token() {
    bounded(90, async {
        let w = world().await;
        // A revoked token is as bad as none.
        let (_, u) = w
            .node
            .expect(200, Method::GET, "/api/v1/auth/whoami", &w.vic, None, None)
            .await;
        assert_eq!(u["name"], "vic");
        let (_, toks) = w
            .node
            .expect(
                200,
                Method::GET,
                &format!("/api/v1/users/{}/tokens", w.vic_id),
                TOKEN,
                None,
                None,
            )
            .await;
        let tid = toks[0]["id"].as_str().expect("token id").to_owned();
        w.node
            .expect(
                204,
                Method::DELETE,
                &format!("/api/v1/users/{}/tokens/{tid}", w.vic_id),
                TOKEN,
                None,
                None,
            )
            .await;
        let calls: &[(Method, &str)] = &[
            (Method::GET, "/api/v1/config/draft"),
            (Method::POST, "/api/v1/config/publish"),
            (Method::GET, "/api/v1/config/versions"),
            (Method::GET, "/api/v1/services"),
            (Method::POST, "/api/v1/services"),
            (Method::GET, "/api/v1/services/acme-api"),
            (Method::PUT, "/api/v1/routes/acme-r"),
            (Method::DELETE, "/api/v1/upstreams/acme-up"),
            (Method::GET, "/api/v1/consumers/acme-c/credentials"),
            (Method::GET, "/api/v1/services/acme-api/policies"),
            (Method::GET, "/api/v1/certificates"),
            (Method::GET, "/api/v1/tenants"),
            (Method::GET, "/api/v1/tenants/acme/teams"),
            (Method::GET, "/api/v1/users"),
            (Method::POST, "/api/v1/auth/logout"),
            (Method::GET, "/api/v1/audit"),
            (Method::GET, "/api/v1/openapi.json"),
            (Method::GET, "/api/v1/no-such-endpoint"),
        ];
        for (method, path) in calls {
            for token in [
                None,
                Some("pyl_wrong-token-0123456789abcdefghijkl"),
                Some(w.vic.as_str()),
            ] {
                let (s, h, b) = w
                    .node
                    .call(method.clone(), path, token, Some("*"), Some(&json!({})))
                    .await;
                assert_eq!(s.as_u16(), 401, "{method} {path} with {token:?}: {b}");
                assert_eq!(b["error"]["code"], "unauthorized");
                assert!(h.contains_key("www-authenticate"));
            }
        }
    })
    .await;
}

#[tokio::test]
async fn forbidden_actions_answer_403_for_each_role() {
    bounded(120, async {
        let w = world().await;
        let svc_acme = json!({"name": "new-svc", "tenant": "acme"});
        let route_acme =
            json!({"name": "new-r", "service": "acme-api", "match": {}, "respond": {}});
        let up_acme =
            json!({"name": "new-up", "tenant": "acme", "targets": [{"address": "127.0.0.1:9"}]});
        let member = format!("/api/v1/tenants/acme/members/{}", w.dev_id);
        let vic_member = format!("/api/v1/tenants/acme/members/{}", w.vic_id);
        let table: Vec<(&str, &str, Method, String, Value)> = vec![
            // viewer: reads only
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/services".into(),
                svc_acme.clone(),
            ),
            (
                "vic",
                &w.vic,
                Method::PUT,
                "/api/v1/services/acme-api".into(),
                json!({"name": "acme-api", "tenant": "acme"}),
            ),
            (
                "vic",
                &w.vic,
                Method::DELETE,
                "/api/v1/services/dev-api".into(),
                json!(null),
            ),
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/routes".into(),
                route_acme.clone(),
            ),
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/upstreams".into(),
                up_acme.clone(),
            ),
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/consumers".into(),
                json!({"name": "c2", "tenant": "acme"}),
            ),
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/consumers/acme-c/credentials".into(),
                json!({"type": "key_auth"}),
            ),
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/services/acme-api/policies".into(),
                json!({"name": "cors"}),
            ),
            (
                "vic",
                &w.vic,
                Method::POST,
                "/api/v1/tenants/acme/teams".into(),
                json!({"name": "t"}),
            ),
            (
                "vic",
                &w.vic,
                Method::PUT,
                member.clone(),
                json!({"role": "viewer"}),
            ),
            (
                "vic",
                &w.vic,
                Method::GET,
                "/api/v1/config/draft".into(),
                json!(null),
            ),
            (
                "vic",
                &w.vic,
                Method::GET,
                "/api/v1/users".into(),
                json!(null),
            ),
            // developer: only what they own
            (
                "dev",
                &w.dev,
                Method::PUT,
                "/api/v1/services/acme-api".into(),
                json!({"name": "acme-api", "tenant": "acme", "owner": "ada"}),
            ),
            (
                "dev",
                &w.dev,
                Method::DELETE,
                "/api/v1/routes/acme-r".into(),
                json!(null),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/routes".into(),
                route_acme.clone(),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/services".into(),
                json!({"name": "s2", "tenant": "acme", "owner": "ada"}),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/upstreams".into(),
                up_acme.clone(),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/consumers".into(),
                json!({"name": "c3", "tenant": "acme"}),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/services/acme-api/policies".into(),
                json!({"name": "cors"}),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/policies".into(),
                json!({"name": "cors"}),
            ),
            (
                "dev",
                &w.dev,
                Method::POST,
                "/api/v1/config/publish".into(),
                json!({}),
            ),
            (
                "dev",
                &w.dev,
                Method::PUT,
                vic_member.clone(),
                json!({"role": "developer"}),
            ),
            // tenant admin: not the platform, not owner rights
            (
                "ada",
                &w.ada,
                Method::POST,
                "/api/v1/policies".into(),
                json!({"name": "cors"}),
            ),
            (
                "ada",
                &w.ada,
                Method::PUT,
                "/api/v1/config/draft".into(),
                json!({}),
            ),
            (
                "ada",
                &w.ada,
                Method::POST,
                "/api/v1/tenants".into(),
                json!({"id": "mine"}),
            ),
            (
                "ada",
                &w.ada,
                Method::POST,
                "/api/v1/users".into(),
                json!({"name": "eve"}),
            ),
            (
                "ada",
                &w.ada,
                Method::PUT,
                vic_member.clone(),
                json!({"role": "owner"}),
            ),
            (
                "ada",
                &w.ada,
                Method::DELETE,
                "/api/v1/tenants/acme".into(),
                json!(null),
            ),
            (
                "ada",
                &w.ada,
                Method::POST,
                "/api/v1/services".into(),
                json!({"name": "gx2", "tenant": "globex"}),
            ),
            (
                "ada",
                &w.ada,
                Method::POST,
                "/api/v1/config/versions/1/rollback".into(),
                json!(null),
            ),
            // other tenant's admin
            (
                "gus",
                &w.gus,
                Method::POST,
                "/api/v1/services".into(),
                svc_acme.clone(),
            ),
            (
                "gus",
                &w.gus,
                Method::POST,
                "/api/v1/upstreams".into(),
                up_acme.clone(),
            ),
        ];
        for (who, token, method, path, body) in &table {
            let body = (!body.is_null()).then_some(body);
            let (s, _, b) = w
                .node
                .call(method.clone(), path, Some(token), Some("*"), body)
                .await;
            assert_eq!(s.as_u16(), 403, "{who}: {method} {path}: {b}");
            assert_eq!(b["error"]["code"], "forbidden", "{who}: {method} {path}");
        }
        // Nothing of that reached the draft.
        let (_, services) = w
            .node
            .expect(200, Method::GET, "/api/v1/services", TOKEN, None, None)
            .await;
        assert_eq!(names(&services), ["acme-api", "dev-api", "gx-api"]);
    })
    .await;
}

#[tokio::test]
async fn tenants_isolate_objects_and_developers_own_their_services() {
    bounded(120, async {
        let w = world().await;
        let n = &w.node;
        // gus sees globex only: lists are filtered, acme objects are 404.
        let (_, list) = n.expect(200, Method::GET, "/api/v1/services", &w.gus, None, None).await;
        assert_eq!((names(&list), list["total"].as_u64()), (vec!["gx-api".to_owned()], Some(1)));
        n.expect(404, Method::GET, "/api/v1/services/acme-api", &w.gus, None, None).await;
        n.expect(404, Method::PUT, "/api/v1/services/acme-api", &w.gus, Some("*"), Some(&json!({"name": "acme-api"}))).await;
        n.expect(404, Method::GET, "/api/v1/consumers/acme-c/credentials", &w.gus, None, None).await;
        let (_, routes) = n.expect(200, Method::GET, "/api/v1/routes", &w.gus, None, None).await;
        assert_eq!(routes["total"], 0, "routes take their service's tenant");
        let (_, tenants) = n.expect(200, Method::GET, "/api/v1/tenants", &w.gus, None, None).await;
        assert_eq!(tenants["total"], 1);
        n.expect(404, Method::GET, "/api/v1/tenants/acme", &w.gus, None, None).await;
        let (_, log) = n.expect(200, Method::GET, "/api/v1/audit", &w.gus, None, None).await;
        let tenants_in_log: Vec<&str> = log["items"].as_array().expect("items").iter().filter_map(|e| e["tenant"].as_str()).collect();
        assert!(!tenants_in_log.is_empty() && tenants_in_log.iter().all(|t| *t == "globex"), "{tenants_in_log:?}");
        // vic sees acme's, not globex's.
        let (_, list) = n.expect(200, Method::GET, "/api/v1/services", &w.vic, None, None).await;
        assert_eq!(names(&list), ["acme-api", "dev-api"]);

        // dev creates a service (owned by dev), changes it and adds routes and policies to it.
        let (_, s) = n.expect(201, Method::POST, "/api/v1/services", &w.dev, None, Some(&json!({"name": "dev-2", "tenant": "acme"}))).await;
        assert_eq!(s["item"]["owner"], "dev");
        let tag = n.etag("/api/v1/services/dev-api").await;
        n.expect(200, Method::PUT, "/api/v1/services/dev-api", &w.dev, Some(&tag), Some(&json!({"name": "dev-api", "tenant": "acme", "description": "mine"}))).await;
        n.expect(201, Method::POST, "/api/v1/routes", &w.dev, None,
            Some(&json!({"name": "dev-r2", "service": "dev-2", "match": {"paths": [{"exact": "/d2"}]}, "respond": {}}))).await;
        n.expect(201, Method::POST, "/api/v1/routes/dev-r/policies", &w.dev, None,
            Some(&json!({"name": "cors", "config": {"allow_origins": ["https://dev.example.com"]}}))).await;
        // Giving the service away, or moving a route onto someone else's service: 403.
        let tag = n.etag("/api/v1/services/dev-2").await;
        n.expect(403, Method::PUT, "/api/v1/services/dev-2", &w.dev, Some(&tag), Some(&json!({"name": "dev-2", "tenant": "acme", "owner": "ada"}))).await;
        let tag = n.etag("/api/v1/routes/dev-r2").await;
        n.expect(403, Method::PUT, "/api/v1/routes/dev-r2", &w.dev, Some(&tag),
            Some(&json!({"name": "dev-r2", "service": "acme-api", "match": {}, "respond": {}}))).await;

        // Release: ada administers acme, the only tenant touched, so she may publish;
        // gus may not while acme changes are pending.
        n.expect(403, Method::POST, "/api/v1/config/publish", &w.gus, None, Some(&json!({}))).await;
        let (_, v) = n.expect(201, Method::POST, "/api/v1/config/publish", &w.ada, None, Some(&json!({"message": "acme"}))).await;
        assert_eq!(v["author"], "ada");
        // Cross-tenant references are invalid: a globex route on an acme upstream.
        let (_, b) = n.expect(422, Method::POST, "/api/v1/routes", &w.gus, None,
            Some(&json!({"name": "gx-r", "service": "gx-api", "match": {}, "upstream": "acme-up"}))).await;
        assert_eq!(b["error"]["details"][0]["path"], "routes[3].upstream", "{b}");
        // An owner grants roles; an admin only developer and viewer.
        n.expect(200, Method::PUT, &format!("/api/v1/tenants/acme/members/{}", w.vic_id), &w.ada, None, Some(&json!({"role": "developer"}))).await;
        let (_, members) = n.expect(200, Method::GET, "/api/v1/tenants/acme/members", &w.vic, None, None).await;
        let vic = members.as_array().expect("members").iter().find(|m| m["name"] == "vic").cloned().expect("vic");
        assert_eq!(vic["role"], "developer");
    })
    .await;
}
