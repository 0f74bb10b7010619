//! The transform policies through the real binary: request-transformer
//! rewrites headers, query and JSON body before the upstream sees them (with
//! templates reading route parameters); response-transformer adds headers,
//! maps statuses and replaces an upstream's 502 page with a JSON error
//! document; xml-json converts an XML request to JSON for the upstream, the
//! upstream's JSON answer back to XML, and an XML upstream's answer to JSON.

mod common_http;

use common_http::*;
use http::Method;
use pylon_testkit::{CannedResponse, EchoServer, StatusServer, send};
use serde_json::{Value, json};

#[tokio::test]
async fn request_transformer_rewrites_what_the_upstream_sees() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let (_process, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("echo", addr)]);
            cfg["routes"] = json!([{
                "name": "orders",
                "match": { "paths": [{ "template": "/orders/{id}" }] },
                "upstream": "echo",
                "policies": [{ "name": "request-transformer", "config": {
                    "headers": {
                        "remove": ["x-secret"],
                        "set": { "x-order": "order-{{ params.id }}" },
                        "add": { "x-route": "{{route}}" }
                    },
                    "query": { "remove": ["debug"], "set": { "order": "{{params.id}}" } },
                    "body": {
                        "remove": ["/password"],
                        "set": [{ "pointer": "/meta/order", "template": "{{params.id}}" }]
                    }
                } }]
            }]);
            cfg
        })
        .await;

        let resp = send(request(
            Method::POST,
            &ports.url("/orders/42?debug=1&keep=yes"),
            &[
                ("content-type", "application/json"),
                ("x-secret", "s3cret"),
                ("x-order", "client"),
            ],
            r#"{"item":"book","password":"pw"}"#,
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let seen = echo.last_request().expect("upstream saw the request");
        assert_eq!(seen.header("x-order"), Some("order-42"));
        assert_eq!(seen.header("x-route"), Some("orders"));
        assert!(seen.header("x-secret").is_none());
        assert_eq!(seen.uri.query(), Some("keep=yes&order=42"));
        let body = seen.body_text();
        assert_eq!(body, r#"{"item":"book","meta":{"order":"42"}}"#);
        assert_eq!(
            seen.header("content-length"),
            Some(body.len().to_string().as_str())
        );

        // A JSON request whose body is not JSON is refused; the upstream is not called.
        let before = echo.request_count();
        let resp = send(request(
            Method::POST,
            &ports.url("/orders/42"),
            &[("content-type", "application/json")],
            "{not json",
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 400, "{}", resp.text());
        assert_eq!(
            resp.json().expect("json")["error"]["code"],
            "invalid_json_body"
        );
        assert_eq!(echo.request_count(), before);
    })
    .await;
}

#[tokio::test]
async fn response_transformer_maps_statuses_and_replaces_error_pages() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let failing = StatusServer::start_with(
            CannedResponse::new(502)
                .expect("status")
                .header("content-type", "text/html")
                .expect("header")
                .body("<h1>502 Bad Gateway</h1>"),
        )
        .await
        .expect("status server");
        let (echo_addr, failing_addr) = (echo.addr(), failing.addr());
        let (_process, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("echo", echo_addr), upstream("failing", failing_addr)]);
            cfg["services"] = json!([{ "name": "api", "policies": [{ "name": "response-transformer", "config": {
                "headers": {
                    "remove": ["x-powered-by"],
                    "add": { "x-served-by": "pylon/{{route}}", "x-correlation": "{{headers.x-correlation}}" }
                },
                "body": { "remove": ["/connection"], "set": [{ "pointer": "/seen_by", "template": "{{route}}" }] },
                "status_map": { "200": 203 },
                "error_bodies": { "5xx": { "json": { "error": {
                    "code": "upstream_unavailable", "status": "{{status}}", "request_id": "{{request_id}}"
                } } } }
            } }] }]);
            cfg["routes"] = json!([
                { "name": "echo", "service": "api", "match": { "paths": [{ "prefix": "/echo" }] }, "upstream": "echo" },
                { "name": "failing", "service": "api", "match": { "paths": [{ "prefix": "/failing" }] }, "upstream": "failing" },
            ]);
            cfg
        })
        .await;

        let resp = send(request(Method::POST, &ports.url("/echo"), &[("x-correlation", "c-77")], ""))
            .await
            .expect("send");
        assert_eq!(resp.status, 203, "{}", resp.text());
        assert_eq!(resp.header("x-served-by"), Some("pylon/echo"));
        assert_eq!(resp.header("x-correlation"), Some("c-77"));
        let v: Value = resp.json().expect("json");
        assert_eq!(v["seen_by"], "echo");
        assert!(v.get("connection").is_none(), "{v}");
        assert_eq!(v["method"], "POST");
        assert_eq!(
            resp.header("content-length"),
            Some(resp.body.len().to_string().as_str())
        );

        let resp = send(request(Method::POST, &ports.url("/failing"), &[], "")).await.expect("send");
        assert_eq!(resp.status, 502);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.header("x-served-by"), Some("pylon/failing"));
        let v: Value = resp.json().expect("json");
        assert_eq!(v["error"]["code"], "upstream_unavailable", "{v}");
        assert_eq!(v["error"]["status"], "502");
        assert_eq!(
            v["error"]["request_id"].as_str(),
            resp.header("x-request-id"),
            "{v} {:?}",
            resp.headers
        );
    })
    .await;
}

#[tokio::test]
async fn xml_json_converts_requests_and_responses() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let legacy = StatusServer::start_with(
            CannedResponse::new(200)
                .expect("status")
                .header("content-type", "text/xml; charset=utf-8")
                .expect("header")
                .body(r#"<?xml version="1.0"?><stock sym="ACME"><price>12.5</price><price>13</price></stock>"#),
        )
        .await
        .expect("status server");
        let (echo_addr, legacy_addr) = (echo.addr(), legacy.addr());
        let (_process, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("echo", echo_addr), upstream("legacy", legacy_addr)]);
            cfg["routes"] = json!([
                { "name": "soapish", "match": { "paths": [{ "prefix": "/soapish" }] }, "upstream": "echo",
                  "policies": [{ "name": "xml-json", "config": {
                      "request": "xml_to_json", "response": "json_to_xml", "root": "echo"
                  } }] },
                { "name": "legacy", "match": { "paths": [{ "prefix": "/legacy" }] }, "upstream": "legacy",
                  "policies": [{ "name": "xml-json", "config": { "response": "xml_to_json" } }] },
            ]);
            cfg
        })
        .await;

        // XML in, JSON to the upstream, the upstream's JSON back as XML.
        let resp = send(request(Method::POST,
            &ports.url("/soapish"),
            &[("content-type", "application/xml")],
            r#"<order id="7"><item>a &amp; b</item><item>c</item></order>"#,
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let seen = echo.last_request().expect("upstream saw the request");
        assert_eq!(seen.header("content-type"), Some("application/json"));
        let sent = seen.body_text();
        assert_eq!(sent, r#"{"order":{"@id":"7","item":["a & b","c"]}}"#);
        assert_eq!(seen.header("content-length"), Some(sent.len().to_string().as_str()));
        assert_eq!(resp.header("content-type"), Some("application/xml; charset=utf-8"));
        let xml = resp.text();
        assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><echo>"#), "{xml}");
        assert!(xml.contains("<method>POST</method>"), "{xml}");
        assert!(xml.contains("<path>/soapish</path>"), "{xml}");
        assert!(xml.ends_with("</echo>"), "{xml}");

        // Malformed XML: 400, and the upstream is not called.
        let before = echo.request_count();
        let resp = send(request(Method::POST,
            &ports.url("/soapish"),
            &[("content-type", "application/xml")],
            "<order><item></order>",
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 400, "{}", resp.text());
        // Pylon's own JSON error is converted too: this route's clients speak XML.
        assert_eq!(resp.header("content-type"), Some("application/xml; charset=utf-8"));
        assert!(
            resp.text().contains("<code>invalid_xml_body</code>"),
            "{}",
            resp.text()
        );
        assert_eq!(echo.request_count(), before);

        // An XML upstream answers JSON clients.
        let resp = send(request(Method::POST, &ports.url("/legacy"), &[], "")).await.expect("send");
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(
            resp.json().expect("json"),
            json!({ "stock": { "@sym": "ACME", "price": ["12.5", "13"] } })
        );
    })
    .await;
}
