use std::net::IpAddr;

use serde_json::json;

use super::policy::parse_entry;
use crate::testing::*;

fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(i) => i,
        Err(e) => panic!("{s}: {e}"),
    }
}

async fn client_ip(cfg: serde_json::Value, peer: &str, headers: &[(&str, &str)]) -> IpAddr {
    let chain = chain(json!([{ "name": "real-ip", "config": cfg }]), json!({}));
    let mut req = request("GET", "/", headers);
    let mut ctx = ctx_from(ip(peer));
    if let Err(e) = run(&chain, &mut req, &mut ctx).await {
        panic!("rejected: {e:?}");
    }
    ctx.client_ip
}

#[tokio::test]
async fn trusted_peer_sets_the_rightmost_address() {
    let cfg = json!({ "trusted_proxies": ["10.0.0.0/8"] });
    let got = client_ip(
        cfg.clone(),
        "10.1.1.1",
        &[("x-forwarded-for", "6.6.6.6, 203.0.113.9")],
    )
    .await;
    assert_eq!(got, ip("203.0.113.9"));
    // Several header lines are one list, in order.
    let got = client_ip(
        cfg,
        "10.1.1.1",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.4:5123"),
        ],
    )
    .await;
    assert_eq!(got, ip("198.51.100.4"));
}

#[tokio::test]
async fn untrusted_peer_header_is_ignored() {
    let cfg = json!({ "trusted_proxies": ["10.0.0.0/8"] });
    let got = client_ip(cfg, "192.0.2.1", &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(got, ip("192.0.2.1"));
}

#[tokio::test]
async fn recursive_skips_trusted_hops_right_to_left() {
    let cfg = json!({ "trusted_proxies": ["10.0.0.0/8", "2001:db8::/32"], "recursive": true });
    let got = client_ip(
        cfg.clone(),
        "10.0.0.1",
        &[(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.9, 10.9.9.9, [2001:db8::5]:443",
        )],
    )
    .await;
    assert_eq!(got, ip("203.0.113.9"));
    // Every hop trusted: the leftmost one.
    let got = client_ip(
        cfg.clone(),
        "10.0.0.1",
        &[("x-forwarded-for", "10.3.3.3, 10.2.2.2")],
    )
    .await;
    assert_eq!(got, ip("10.3.3.3"));
    // Garbage stops the walk at the last address believed.
    let got = client_ip(
        cfg,
        "10.0.0.1",
        &[("x-forwarded-for", "203.0.113.9, unknown, 10.2.2.2")],
    )
    .await;
    assert_eq!(got, ip("10.2.2.2"));
}

#[tokio::test]
async fn non_recursive_takes_the_last_hop_even_if_trusted() {
    let cfg = json!({ "trusted_proxies": ["10.0.0.0/8"] });
    let got = client_ip(
        cfg,
        "10.0.0.1",
        &[("x-forwarded-for", "203.0.113.9, 10.2.2.2")],
    )
    .await;
    assert_eq!(got, ip("10.2.2.2"));
}

#[tokio::test]
async fn mapped_peer_and_other_headers() {
    // An IPv4 peer seen on a dual-stack socket is still trusted as IPv4.
    let cfg = json!({ "trusted_proxies": ["127.0.0.1"], "header": "x-real-ip" });
    let got = client_ip(
        cfg,
        "::ffff:127.0.0.1",
        &[("x-real-ip", "::ffff:198.51.100.7")],
    )
    .await;
    assert_eq!(got, ip("198.51.100.7"));
    // Untrusted mapped peer: the canonical IPv4 form.
    let cfg = json!({ "trusted_proxies": ["10.0.0.0/8"] });
    let got = client_ip(cfg, "::ffff:192.0.2.8", &[]).await;
    assert_eq!(got, ip("192.0.2.8"));
    let cfg = json!({ "trusted_proxies": ["::1"], "header": "Forwarded", "recursive": true });
    let got = client_ip(
        cfg,
        "::1",
        &[(
            "forwarded",
            "for=192.0.2.60;proto=http, For=\"[2001:db8:cafe::17]:4711\";by=x, for=::1",
        )],
    )
    .await;
    assert_eq!(got, ip("2001:db8:cafe::17"));
}

#[test]
fn entries_parse_with_ports_brackets_and_quotes() {
    assert_eq!(parse_entry(" 1.2.3.4 "), Some(ip("1.2.3.4")));
    assert_eq!(parse_entry("1.2.3.4:80"), Some(ip("1.2.3.4")));
    assert_eq!(parse_entry("[::1]:80"), Some(ip("::1")));
    assert_eq!(parse_entry("\"[2001:db8::1]\""), Some(ip("2001:db8::1")));
    assert_eq!(parse_entry("2001:db8::1"), Some(ip("2001:db8::1")));
    assert_eq!(parse_entry("unknown"), None);
    assert_eq!(parse_entry("_hidden"), None);
    assert_eq!(parse_entry("1.2.3.4:x"), None);
    assert_eq!(parse_entry(""), None);
}

#[test]
fn bad_config_names_the_field() {
    let errs = config_errors(
        json!([{ "name": "real-ip", "config": { "trusted_proxies": ["10.0.0.0/8", "nope"] } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec![
            "routes[0].policies[0].config.trusted_proxies[1]: `nope` is not an IP address or CIDR network"
        ]
    );
    let errs = config_errors(json!([{ "name": "real-ip" }]), json!({}));
    assert_eq!(
        errs,
        vec![
            "routes[0].policies[0].config.trusted_proxies: at least one trusted proxy network is needed"
        ]
    );
}
