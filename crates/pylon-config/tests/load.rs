//! Loading whole documents: errors are collected across sections with paths.

use pylon_config::{LoadBalancing, PathMatch, load_str};

#[test]
fn full_document_loads() {
    let cfg = load_str(
        r#"
server:
  admin_listen: 127.0.0.1:9999
  shutdown_timeout: 5s
listeners:
  - name: web
    bind: 127.0.0.1:8080
upstreams:
  - name: api
    targets:
      - address: 127.0.0.1:3000
        weight: 3
      - address: http://localhost:3001
    load_balancing:
      algorithm: consistent_hash
      hash_on: { header: x-user }
    health_check:
      active: { path: /health, interval: 1s }
routes:
  - name: users
    match:
      hosts: ["*.example.com"]
      paths: [{ template: "/users/{id}" }, { prefix: /api }]
      methods: [GET]
    upstream: api
  - name: hello
    match: { paths: [{ exact: /hello }] }
    respond: { status: 200, body: hi }
"#,
        "test.yaml",
    )
    .unwrap();
    assert_eq!(cfg.server.shutdown_timeout.as_secs(), 5);
    assert_eq!(cfg.upstreams[0].targets[0].weight, 3);
    assert!(matches!(
        cfg.upstreams[0].load_balancing,
        LoadBalancing::ConsistentHash { .. }
    ));
    assert_eq!(
        cfg.routes[0].matches.paths[0],
        PathMatch::Template("/users/{id}".into())
    );
    assert_eq!(cfg.routes[1].respond.as_ref().unwrap().body, "hi");
}

#[test]
fn every_error_is_reported_with_its_path() {
    let err = load_str(
        r#"
bogus_section: 1
listeners:
  - name: web
    bind: not-an-address
    colour: blue
upstreams:
  - name: api
    targets: [{ address: "nohostport" }]
routes:
  - name: r1
    match: { paths: [{ regex: "([" }] }
    upstream: missing
  - name: r1
    match: { paths: [{ template: "/a/{*rest}/b" }] }
    respond: { status: 42 }
"#,
        "bad.yaml",
    )
    .unwrap_err();
    let text = err.to_string();
    let paths: Vec<&str> = err.issues.iter().map(|i| i.path.as_str()).collect();
    for expected in [
        "bogus_section",
        "listeners[0].colour",
        "upstreams[0].targets[0].address",
        "routes[0].match.paths[0]",
        "routes[0].upstream",
        "routes[1].name",
        "routes[1].match.paths[0]",
        "routes[1].respond.status",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in:\n{text}");
    }
    assert!(text.lines().all(|l| l.starts_with("bad.yaml: ")), "{text}");
}

#[test]
fn json_documents_are_accepted() {
    let cfg = load_str(
        r#"{"listeners":[{"name":"a","bind":"127.0.0.1:1"}],"routes":[]}"#,
        "c.json",
    )
    .unwrap();
    assert_eq!(cfg.listeners[0].name, "a");
}

#[test]
fn syntax_errors_name_the_file() {
    let err = load_str("listeners: [\n", "broken.yaml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("broken.yaml: <root>: not valid YAML/JSON"),
        "{err}"
    );
}

#[test]
fn paths_point_at_document_items_even_when_earlier_items_fail() {
    let err = load_str(
        r#"
routes:
  - name: broken
    unknown_field: 1
    match: {}
    respond: {}
  - name: second
    match: {}
    upstream: nowhere
"#,
        "shift.yaml",
    )
    .unwrap_err();
    let paths: Vec<&str> = err.issues.iter().map(|i| i.path.as_str()).collect();
    assert!(paths.contains(&"routes[0].unknown_field"), "{paths:?}");
    assert!(paths.contains(&"routes[1].upstream"), "{paths:?}");
}

#[test]
fn an_unresolved_secret_is_reported_once() {
    let err = load_str(
        "upstreams:\n  - name: a\n    targets: [{ address: \"${PYLON_TEST_UNSET_VARIABLE_X}\" }]\n",
        "s.yaml",
    )
    .unwrap_err();
    assert_eq!(err.issues.len(), 1, "{err}");
    assert!(err.issues[0].reason.contains("PYLON_TEST_UNSET_VARIABLE_X"));
}
