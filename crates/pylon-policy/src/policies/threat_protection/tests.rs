use bytes::Bytes;
use serde_json::json;

use super::patterns::{SQLI, XSS, sets};
use crate::testing::*;

async fn outcome(
    cfg: serde_json::Value,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(), crate::Reject> {
    let chain = chain(
        json!([{ "name": "threat-protection", "config": cfg }]),
        json!({}),
    );
    let mut req = request(method, uri, headers);
    if chain.wants_request_body(&req.parts) {
        req.body = Some(Bytes::from(body.unwrap_or("").to_string()));
    }
    run(&chain, &mut req, &mut ctx()).await.map(|_| ())
}

fn rejected(r: Result<(), crate::Reject>) -> crate::Reject {
    match r {
        Err(e) => e,
        Ok(()) => panic!("accepted"),
    }
}

#[test]
fn sqli_patterns_catch_the_classics_and_spare_plain_text() {
    let s = match sets() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    for bad in [
        "1 UNION SELECT password FROM users",
        "1 union/**/all/**/select 1",
        "' OR '1'='1",
        "admin\" or \"a\"=\"a",
        "x') or ('a'='a",
        "1 and 1=1",
        "admin'--",
        "admin' #",
        "1; DROP TABLE users",
        "x'; delete from accounts",
        "1 AND SLEEP(5)",
        "'; WAITFOR DELAY '0:0:5'--",
        "select * from information_schema.tables",
        "1 into outfile '/tmp/x'",
        "exec xp_cmdshell 'dir'",
    ] {
        assert!(
            matches!(s.find(bad, true, false), Some((c, _)) if c.as_str() == "sql_injection"),
            "missed {bad:?}"
        );
    }
    for fine in [
        "O'Brien",
        "rock 'n' roll",
        "select your plan from the list",
        "Terms and conditions apply",
        "2024-01-01; update later",
        "a=b&c=d",
        "#hashtag",
        "union station, platform 1",
    ] {
        assert_eq!(s.find(fine, true, false), None, "false positive {fine:?}");
    }
}

#[test]
fn xss_patterns_catch_the_classics_and_spare_plain_text() {
    let s = match sets() {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    for bad in [
        "<script>alert(1)</script>",
        "< ScRiPt src=//x>",
        "javascript:alert(1)",
        "<img src=x onerror=alert(1)>",
        "<svg/onload=alert(1)>",
        "<iframe src=x>",
        "data:text/html;base64,PHNjcmlwdD4=",
        "document.cookie",
    ] {
        assert!(
            matches!(s.find(bad, false, true), Some((c, _)) if c.as_str() == "xss"),
            "missed {bad:?}"
        );
    }
    for fine in [
        "a < b and b > c",
        "I love javascript",
        "onion=3",
        "<b>bold</b>",
    ] {
        assert_eq!(s.find(fine, false, true), None, "false positive {fine:?}");
    }
    // Every rule has a unique id.
    let mut ids: Vec<&str> = SQLI.iter().chain(XSS).map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), SQLI.len() + XSS.len());
}

#[tokio::test]
async fn sqli_in_query_is_blocked_without_echoing_it() {
    let e = rejected(
        outcome(
            json!({}),
            "GET",
            "/items?q=1%27%20OR%20%271%27%3D%271",
            &[],
            None,
        )
        .await,
    );
    assert_eq!(e.status, 400);
    assert_eq!(e.code, "request_rejected");
    assert_eq!(
        e.message,
        "request rejected: sql_injection in query parameter"
    );
    assert!(!e.message.contains("OR"));
    // `+` is a space in a query.
    let e = rejected(outcome(json!({}), "GET", "/?id=1+union+select+2", &[], None).await);
    assert_eq!(e.code, "request_rejected");
    assert!(
        outcome(json!({}), "GET", "/items?q=O%27Brien&page=2", &[], None)
            .await
            .is_ok()
    );
    // Off when asked.
    assert!(
        outcome(
            json!({ "inspect_query": false }),
            "GET",
            "/?id=1+union+select+2",
            &[],
            None
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn headers_are_inspected_only_when_listed() {
    let h = [("referer", "https://x/?<script>alert(1)</script>")];
    let e = rejected(outcome(json!({}), "GET", "/", &h, None).await);
    assert_eq!(e.message, "request rejected: xss in header referer");
    let h = [("x-note", "<script>alert(1)</script>")];
    assert!(outcome(json!({}), "GET", "/", &h, None).await.is_ok());
    assert!(
        outcome(
            json!({ "inspect_headers": ["x-note"] }),
            "GET",
            "/",
            &h,
            None
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn json_body_limits_and_strings() {
    let ct = [("content-type", "application/json")];
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let e = rejected(outcome(json!({}), "POST", "/", &ct, Some(&deep)).await);
    assert_eq!(e.status, 400);
    assert_eq!(e.message, "request rejected: json_depth in JSON body");
    let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert!(
        outcome(json!({}), "POST", "/", &ct, Some(&ok))
            .await
            .is_ok()
    );
    let cfg = json!({ "max_array_length": 2, "max_object_keys": 2, "max_string_length": 4 });
    for (doc, check) in [
        ("[1,2,3]", "json_array_length"),
        (r#"{"a":1,"b":2,"c":3}"#, "json_object_keys"),
        (r#"{"a":"12345"}"#, "json_string_length"),
        (r#"{"a":1"#, "malformed_json"),
    ] {
        let e = rejected(outcome(cfg.clone(), "POST", "/", &ct, Some(doc)).await);
        assert_eq!(e.message, format!("request rejected: {check} in JSON body"));
    }
    // Escaped payloads are decoded before matching.
    let body = r#"{"name":"x\u0027 OR \u00271\u0027=\u00271"}"#;
    let e = rejected(outcome(json!({}), "POST", "/", &ct, Some(body)).await);
    assert_eq!(e.message, "request rejected: sql_injection in JSON body");
    let vnd = [("content-type", "application/vnd.api+json; charset=utf-8")];
    let body = r#"{"bio":"<script>alert(1)</script>"}"#;
    assert!(
        outcome(json!({}), "POST", "/", &vnd, Some(body))
            .await
            .is_err()
    );
    // Not JSON: the body is not even asked for.
    let text = [("content-type", "text/plain")];
    assert!(
        outcome(json!({}), "POST", "/", &text, Some(&deep))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn body_size_from_content_length_then_buffered_size() {
    let cfg = json!({ "max_body_bytes": 10 });
    let e = rejected(outcome(cfg.clone(), "POST", "/", &[("content-length", "11")], None).await);
    assert_eq!(e.status, 413);
    assert_eq!(e.code, "body_too_large");
    // Chunked JSON body: the buffered size counts.
    let ct = [("content-type", "application/json")];
    let e = rejected(outcome(cfg.clone(), "POST", "/", &ct, Some(r#"{"a":"0123456789"}"#)).await);
    assert_eq!(e.code, "body_too_large");
    assert!(
        outcome(cfg, "POST", "/", &ct, Some(r#"{"a":1}"#))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn user_agent_deny_list() {
    let cfg = json!({ "user_agent_deny": ["sqlmap", "~^curl/7\\."] });
    let e = rejected(
        outcome(
            cfg.clone(),
            "GET",
            "/",
            &[("user-agent", "SQLMap/1.7")],
            None,
        )
        .await,
    );
    assert_eq!(
        e.message,
        "request rejected: user_agent in user-agent header"
    );
    assert!(
        outcome(
            cfg.clone(),
            "GET",
            "/",
            &[("user-agent", "curl/7.88")],
            None
        )
        .await
        .is_err()
    );
    assert!(
        outcome(cfg.clone(), "GET", "/", &[("user-agent", "curl/8.1")], None)
            .await
            .is_ok()
    );
    assert!(outcome(cfg, "GET", "/", &[], None).await.is_ok());
}

#[tokio::test]
async fn log_only_lets_everything_through() {
    let cfg = json!({ "mode": "log_only", "max_body_bytes": 1 });
    assert!(
        outcome(cfg.clone(), "GET", "/?q=1+union+select+2", &[], None)
            .await
            .is_ok()
    );
    assert!(
        outcome(cfg, "POST", "/", &[("content-length", "5")], None)
            .await
            .is_ok()
    );
}

#[test]
fn bad_config_names_the_field() {
    let errs = config_errors(
        json!([{ "name": "threat-protection", "config": { "mode": "loud" } }]),
        json!({}),
    );
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.mode: unknown variant"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "threat-protection", "config": { "user_agent_deny": ["ok", "~("] } }]),
        json!({}),
    );
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.user_agent_deny[1]: invalid regex"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "threat-protection", "config": { "max_json_depth": 0 } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec![
            "routes[0].policies[0].config.max_json_depth: must be at least 1 (or null for no limit)"
        ]
    );
}
