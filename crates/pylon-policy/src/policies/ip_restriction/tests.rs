use std::net::IpAddr;

use serde_json::json;

use crate::testing::*;

fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(i) => i,
        Err(e) => panic!("{s}: {e}"),
    }
}

async fn decide(policies: serde_json::Value, peer: &str, headers: &[(&str, &str)]) -> Option<u16> {
    let chain = chain(policies, json!({}));
    let mut req = request("GET", "/", headers);
    match run(&chain, &mut req, &mut ctx_from(ip(peer))).await {
        Ok(_) => None,
        Err(e) => {
            assert_eq!(e.code, "ip_forbidden");
            Some(e.status.as_u16())
        }
    }
}

#[tokio::test]
async fn deny_list_blocks_only_its_networks() {
    let p = json!([{ "name": "ip-restriction", "config": { "deny": ["192.0.2.0/24", "2001:db8::/32"] } }]);
    assert_eq!(decide(p.clone(), "192.0.2.77", &[]).await, Some(403));
    assert_eq!(decide(p.clone(), "::ffff:192.0.2.77", &[]).await, Some(403));
    assert_eq!(decide(p.clone(), "2001:db8::9", &[]).await, Some(403));
    assert_eq!(decide(p.clone(), "192.0.3.1", &[]).await, None);
    assert_eq!(decide(p, "::1", &[]).await, None);
}

#[tokio::test]
async fn allow_list_denies_the_rest_and_deny_wins() {
    let p = json!([{ "name": "ip-restriction", "config": {
        "allow": ["10.0.0.0/8"], "deny": ["10.6.6.0/24"] } }]);
    assert_eq!(decide(p.clone(), "10.1.2.3", &[]).await, None);
    assert_eq!(decide(p.clone(), "10.6.6.6", &[]).await, Some(403));
    assert_eq!(decide(p, "8.8.8.8", &[]).await, Some(403));
}

#[tokio::test]
async fn decision_uses_the_real_ip_from_a_trusted_proxy() {
    let p = json!([
        { "name": "ip-restriction", "config": { "allow": ["203.0.113.0/24"] } },
        { "name": "real-ip", "config": { "trusted_proxies": ["127.0.0.1"] } },
    ]);
    // real-ip (3100) runs before ip-restriction (3000) whatever the list order.
    assert_eq!(
        decide(
            p.clone(),
            "127.0.0.1",
            &[("x-forwarded-for", "203.0.113.5")]
        )
        .await,
        None
    );
    assert_eq!(
        decide(
            p.clone(),
            "127.0.0.1",
            &[("x-forwarded-for", "198.51.100.5")]
        )
        .await,
        Some(403)
    );
    // An untrusted peer cannot talk its way in.
    assert_eq!(
        decide(p, "198.51.100.1", &[("x-forwarded-for", "203.0.113.5")]).await,
        Some(403)
    );
}

#[tokio::test]
async fn message_is_configurable() {
    let chain = chain(
        json!([{ "name": "ip-restriction", "config": { "deny": ["127.0.0.1"], "message": "go away" } }]),
        json!({}),
    );
    let mut req = request("GET", "/", &[]);
    match run(&chain, &mut req, &mut ctx()).await {
        Err(e) => assert_eq!(e.message, "go away"),
        Ok(_) => panic!("allowed"),
    }
}

#[test]
fn bad_config_names_the_field() {
    let errs = config_errors(json!([{ "name": "ip-restriction" }]), json!({}));
    assert_eq!(
        errs,
        vec!["routes[0].policies[0].config: set `allow`, `deny` or both"]
    );
    let errs = config_errors(
        json!([{ "name": "ip-restriction", "config": { "deny": ["1.2.3.4/40"] } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec![
            "routes[0].policies[0].config.deny[0]: `1.2.3.4/40` is not an IP address or CIDR network"
        ]
    );
}
