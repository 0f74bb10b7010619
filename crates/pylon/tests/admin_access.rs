//! Admin access through the real binary: users (passwords, 409 on taken names, delete
//! with If-Match), API tokens (shown once, listed without the token, revoked), console
//! sessions (login sets an HttpOnly cookie, writes need the CSRF header, logout ends it),
//! and tenants with their teams and members.

mod common_admin;
mod common_http;

use common_admin::{Node, TOKEN};
use common_http::bounded;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

async fn login(node: &Node, user: &str, password: &str) -> (StatusCode, Option<String>) {
    let resp = Client::new()
        .post(node.ports.admin_url("/api/v1/auth/login"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .await
        .expect("login");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (resp.status(), cookie)
}

async fn with_cookie(
    node: &Node,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: bool,
) -> (StatusCode, Value) {
    let mut req = Client::new()
        .request(method, node.ports.admin_url(path))
        .header("cookie", cookie);
    if csrf {
        req = req.header("x-pylon-csrf", "1");
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn users_tokens_and_console_sessions() {
    bounded(120, async {
        let node = Node::start(Some(TOKEN)).await;
        let (_, b) = node
            .expect(422, Method::POST, "/api/v1/users", TOKEN, None, Some(&json!({"name": "carol", "password": "short"})))
            .await;
        assert_eq!(b["error"]["details"][0]["path"], "password");
        let new = json!({"name": "carol", "password": "correct horse battery", "roles": [{"tenant": "default", "role": "viewer"}]});
        let (h, carol) = node.expect(201, Method::POST, "/api/v1/users", TOKEN, None, Some(&new)).await;
        let id = carol["id"].as_str().expect("id").to_owned();
        assert!(!carol.to_string().contains("correct horse"), "{carol}");
        let tag = h.get("etag").and_then(|v| v.to_str().ok()).expect("etag").to_owned();
        let (_, b) = node.expect(409, Method::POST, "/api/v1/users", TOKEN, None, Some(&new)).await;
        assert_eq!(b["error"]["code"], "already_exists");

        // Login: wrong password and unknown users are both 401; success sets the cookie.
        assert_eq!(login(&node, "carol", "wrong password!").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&node, "nobody", "correct horse battery").await.0, StatusCode::UNAUTHORIZED);
        let (s, set) = login(&node, "carol", "correct horse battery").await;
        assert_eq!(s, StatusCode::OK);
        let set = set.expect("set-cookie");
        assert!(set.starts_with("pylon_session=pyl_") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        let cookie = set.split(';').next().expect("pair").to_owned();
        let (s, me) = with_cookie(&node, Method::GET, "/api/v1/auth/whoami", &cookie, false).await;
        assert_eq!((s, me["name"].as_str(), me["session"].as_bool()), (StatusCode::OK, Some("carol"), Some(true)));
        let (s, _) = with_cookie(&node, Method::GET, "/api/v1/config/draft", &cookie, false).await;
        assert_eq!(s, StatusCode::OK, "a viewer of the platform reads the draft");
        let (s, b) = with_cookie(&node, Method::POST, "/api/v1/auth/logout", &cookie, false).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "cookie writes need the CSRF header: {b}");
        let (s, _) = with_cookie(&node, Method::POST, "/api/v1/auth/logout", &cookie, true).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = with_cookie(&node, Method::GET, "/api/v1/auth/whoami", &cookie, false).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "the session ended");

        // Tokens: shown once, listed by hint and kind, revoked by their owner.
        let (_, t) = node
            .expect(201, Method::POST, &format!("/api/v1/users/{id}/tokens"), TOKEN, None, Some(&json!({"name": "ci", "expires_in_days": 30})))
            .await;
        let token = t["token"].as_str().expect("token").to_owned();
        assert!(t["info"]["expires_at"].is_string());
        let (_, list) = node.expect(200, Method::GET, &format!("/api/v1/users/{id}/tokens"), &token, None, None).await;
        let kinds: Vec<&str> = list.as_array().expect("list").iter().filter_map(|t| t["kind"].as_str()).collect();
        assert_eq!(kinds, ["api", "session"], "{list}");
        assert!(!list.to_string().contains(&token));
        let (_, admin) = node.expect(200, Method::GET, "/api/v1/auth/whoami", TOKEN, None, None).await;
        let admin_id = admin["id"].as_str().expect("id").to_owned();
        node.expect(403, Method::GET, &format!("/api/v1/users/{admin_id}"), &token, None, None).await;
        node.expect(403, Method::GET, &format!("/api/v1/users/{admin_id}/tokens"), &token, None, None).await;
        let tid = t["info"]["id"].as_str().expect("token id");
        node.expect(204, Method::DELETE, &format!("/api/v1/users/{id}/tokens/{tid}"), &token, None, None).await;
        node.expect(401, Method::GET, "/api/v1/auth/whoami", &token, None, None).await;
        node.expect(404, Method::DELETE, &format!("/api/v1/users/{id}/tokens/not-a-token"), TOKEN, None, None).await;

        // Passwords are set by the user or a platform admin; deletes need If-Match.
        node.expect(204, Method::PUT, &format!("/api/v1/users/{id}/password"), TOKEN, None, Some(&json!({"password": "a new long password"}))).await;
        assert_eq!(login(&node, "carol", "correct horse battery").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&node, "carol", "a new long password").await.0, StatusCode::OK);
        node.expect(428, Method::DELETE, &format!("/api/v1/users/{id}"), TOKEN, None, None).await;
        node.expect(412, Method::DELETE, &format!("/api/v1/users/{id}"), TOKEN, Some(&tag), None).await;
        let tag = node.etag(&format!("/api/v1/users/{id}")).await;
        node.expect(204, Method::DELETE, &format!("/api/v1/users/{id}"), TOKEN, Some(&tag), None).await;
        assert_eq!(login(&node, "carol", "a new long password").await.0, StatusCode::UNAUTHORIZED);
        let tag = node.etag(&format!("/api/v1/users/{admin_id}")).await;
        node.expect(409, Method::DELETE, &format!("/api/v1/users/{admin_id}"), TOKEN, Some(&tag), None).await;
        node.expect(404, Method::GET, "/api/v1/users/no-such-user", TOKEN, None, None).await;
        // Five wrong passwords in a row lock the name for a while, even for the right one.
        let (lou, _) = node.user("lou", &[]).await;
        let pw = json!({"password": "lou's long password"});
        node.expect(204, Method::PUT, &format!("/api/v1/users/{lou}/password"), TOKEN, None, Some(&pw)).await;
        for _ in 0..5 {
            assert_eq!(login(&node, "lou", "not the password").await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login(&node, "lou", "lou's long password").await.0, StatusCode::TOO_MANY_REQUESTS);
        let (_, log) = node.expect(200, Method::GET, "/api/v1/audit?object_kind=session", TOKEN, None, None).await;
        assert!(log["items"].as_array().is_some_and(|i| i.len() >= 2), "logins and logouts are audited: {log}");
    })
    .await;
}

#[tokio::test]
async fn tenants_teams_and_members() {
    bounded(90, async {
        let node = Node::start(Some(TOKEN)).await;
        node.expect(
            400,
            Method::POST,
            "/api/v1/tenants",
            TOKEN,
            None,
            Some(&json!({"id": "Not A Slug"})),
        )
        .await;
        node.expect(
            422,
            Method::POST,
            "/api/v1/tenants",
            TOKEN,
            None,
            Some(&json!({"name": "acme"})),
        )
        .await;
        let (h, t) = node
            .expect(
                201,
                Method::POST,
                "/api/v1/tenants",
                TOKEN,
                None,
                Some(&json!({"id": "acme", "display_name": "Acme"})),
            )
            .await;
        assert_eq!(
            (t["version"].as_i64(), h.get("etag").map(|v| v.as_bytes())),
            (Some(1), Some(&b"\"1\""[..]))
        );
        node.expect(
            409,
            Method::POST,
            "/api/v1/tenants",
            TOKEN,
            None,
            Some(&json!({"id": "acme"})),
        )
        .await;
        let (_, list) = node
            .expect(200, Method::GET, "/api/v1/tenants", TOKEN, None, None)
            .await;
        assert_eq!(list["total"], 2);
        let rename = json!({"display_name": "Acme Inc"});
        node.expect(
            428,
            Method::PUT,
            "/api/v1/tenants/acme",
            TOKEN,
            None,
            Some(&rename),
        )
        .await;
        node.expect(
            412,
            Method::PUT,
            "/api/v1/tenants/acme",
            TOKEN,
            Some("\"7\""),
            Some(&rename),
        )
        .await;
        let (_, t) = node
            .expect(
                200,
                Method::PUT,
                "/api/v1/tenants/acme",
                TOKEN,
                Some("\"1\""),
                Some(&rename),
            )
            .await;
        assert_eq!(
            (t["display_name"].as_str(), t["version"].as_i64()),
            (Some("Acme Inc"), Some(2))
        );
        node.expect(404, Method::GET, "/api/v1/tenants/nope", TOKEN, None, None)
            .await;

        // Teams and their members.
        let (uid, _) = node.user("tess", &[("acme", "viewer")]).await;
        let (_, team) = node
            .expect(
                201,
                Method::POST,
                "/api/v1/tenants/acme/teams",
                TOKEN,
                None,
                Some(&json!({"name": "core"})),
            )
            .await;
        let team_id = team["id"].as_str().expect("id").to_owned();
        node.expect(
            409,
            Method::POST,
            "/api/v1/tenants/acme/teams",
            TOKEN,
            None,
            Some(&json!({"name": "core"})),
        )
        .await;
        let members = format!("/api/v1/tenants/acme/teams/{team_id}/members/{uid}");
        node.expect(428, Method::PUT, &members, TOKEN, None, None)
            .await;
        let (_, team) = node
            .expect(200, Method::PUT, &members, TOKEN, Some("\"1\""), None)
            .await;
        assert_eq!(team["members"], json!([uid]));
        let (_, team) = node
            .expect(200, Method::DELETE, &members, TOKEN, Some("\"2\""), None)
            .await;
        assert_eq!(team["members"], json!([]));
        let (_, teams) = node
            .expect(
                200,
                Method::GET,
                "/api/v1/tenants/acme/teams",
                TOKEN,
                None,
                None,
            )
            .await;
        assert_eq!(teams["total"], 1);
        node.expect(
            404,
            Method::GET,
            "/api/v1/tenants/default/teams/{team_id}"
                .replace("{team_id}", &team_id)
                .as_str(),
            TOKEN,
            None,
            None,
        )
        .await;

        // Members: the creator owns the tenant; the last owner cannot leave.
        let (_, m) = node
            .expect(
                200,
                Method::GET,
                "/api/v1/tenants/acme/members",
                TOKEN,
                None,
                None,
            )
            .await;
        let names: Vec<(&str, &str)> = m
            .as_array()
            .expect("members")
            .iter()
            .filter_map(|x| Some((x["name"].as_str()?, x["role"].as_str()?)))
            .collect();
        assert_eq!(names, [("admin", "owner"), ("tess", "viewer")]);
        let (_, me) = node
            .expect(200, Method::GET, "/api/v1/auth/whoami", TOKEN, None, None)
            .await;
        let admin_id = me["id"].as_str().expect("id");
        let (_, b) = node
            .expect(
                409,
                Method::DELETE,
                &format!("/api/v1/tenants/acme/members/{admin_id}"),
                TOKEN,
                None,
                None,
            )
            .await;
        assert_eq!(b["error"]["code"], "in_use");
        node.expect(
            204,
            Method::DELETE,
            &format!("/api/v1/tenants/acme/members/{uid}"),
            TOKEN,
            None,
            None,
        )
        .await;
        node.expect(
            404,
            Method::DELETE,
            &format!("/api/v1/tenants/acme/members/{uid}"),
            TOKEN,
            None,
            None,
        )
        .await;

        // A tenant with objects in the draft cannot go; the platform tenant never.
        node.expect(
            201,
            Method::POST,
            "/api/v1/services",
            TOKEN,
            None,
            Some(&json!({"name": "s", "tenant": "acme"})),
        )
        .await;
        let (_, b) = node
            .expect(
                409,
                Method::DELETE,
                "/api/v1/tenants/acme",
                TOKEN,
                Some("\"2\""),
                None,
            )
            .await;
        assert_eq!(b["error"]["code"], "in_use");
        let tag = node.etag("/api/v1/services/s").await;
        node.expect(
            204,
            Method::DELETE,
            "/api/v1/services/s",
            TOKEN,
            Some(&tag),
            None,
        )
        .await;
        node.expect(
            204,
            Method::DELETE,
            "/api/v1/tenants/acme",
            TOKEN,
            Some("\"2\""),
            None,
        )
        .await;
        node.expect(
            409,
            Method::DELETE,
            "/api/v1/tenants/default",
            TOKEN,
            Some("\"1\""),
            None,
        )
        .await;
    })
    .await;
}
