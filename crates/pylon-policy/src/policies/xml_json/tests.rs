use bytes::Bytes;
use serde_json::{Value, json};

use super::{ConvertError, json_to_xml, xml_to_json};
use crate::testing::*;

fn to_json(xml: &str) -> Value {
    let doc = xml_to_json(xml.as_bytes(), 64).unwrap_or_else(|e| panic!("{xml}: {e}"));
    serde_json::from_slice(&doc.to_bytes(0)).unwrap_or_else(|e| panic!("{e}"))
}

fn to_xml(json: &str, root: Option<&str>) -> String {
    json_to_xml(json.as_bytes(), root, 64).unwrap_or_else(|e| panic!("{json}: {e}"))
}

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

#[test]
fn xml_maps_to_json_as_documented() {
    let xml = r#"<?xml version="1.0"?>
<!-- a comment -->
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">
  <soap:Body>
    <order id="7" status="new">
      <item sku="a">Apple &amp; pear</item>
      <item sku="b"/>
      <item>  Plain  </item>
      <note><![CDATA[<b>bold</b>]]> &#233;t&#xE9;</note>
      <empty></empty>
      <mixed>Hello <b>world</b>!</mixed>
    </order>
  </soap:Body>
</soap:Envelope>"#;
    assert_eq!(
        to_json(xml),
        json!({ "soap:Envelope": {
            "@xmlns:soap": "http://www.w3.org/2003/05/soap-envelope",
            "soap:Body": { "order": {
                "@id": "7", "@status": "new",
                "item": [
                    { "@sku": "a", "#text": "Apple & pear" },
                    { "@sku": "b" },
                    "Plain"
                ],
                "note": "<b>bold</b> été",
                "empty": null,
                "mixed": { "b": "world", "#text": "Hello !" }
            } }
        } })
    );
    // Key order follows the document.
    let text = String::from_utf8_lossy(
        &xml_to_json(b"<r z=\"1\"><b>1</b><a>2</a><b>3</b></r>", 64)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_bytes(0),
    )
    .into_owned();
    assert_eq!(text, r#"{"r":{"@z":"1","b":["1","3"],"a":"2"}}"#);
}

#[test]
fn json_maps_to_xml_as_documented() {
    assert_eq!(
        to_xml(
            r##"{"order":{"@id":7,"@gone":null,"item":[{"@sku":"a","#text":"A & <B>"},"x\"y'"],"n":null,"ok":true,"deep":{"a":1.5}}}"##,
            None
        ),
        format!(
            "{DECL}<order id=\"7\"><item sku=\"a\">A &amp; &lt;B&gt;</item><item>x&quot;y&apos;</item><n/><ok>true</ok><deep><a>1.5</a></deep></order>"
        )
    );
    // With `root`, the whole document is wrapped; arrays not under a key are `<item>`s.
    assert_eq!(
        to_xml(r#"[1,{"a":"b"},[2,3]]"#, Some("list")),
        format!(
            "{DECL}<list><item>1</item><item><a>b</a></item><item><item>2</item><item>3</item></item></list>"
        )
    );
    assert_eq!(
        to_xml(r#"{"a":1,"b":2}"#, Some("req")),
        format!("{DECL}<req><a>1</a><b>2</b></req>")
    );
    assert_eq!(to_xml(r#""text""#, Some("v")), format!("{DECL}<v>text</v>"));
}

#[test]
fn round_trips_keep_the_document() {
    let docs = [
        r#"<a/>"#,
        r#"<a>text</a>"#,
        r#"<ns:a xmlns:ns="urn:x" ns:attr="1"><ns:b>x</ns:b><ns:b>y</ns:b><c><d e="&lt;&amp;&quot;"/></c></ns:a>"#,
        r#"<list><i>1</i><i>2</i><i>3</i></list>"#,
        r#"<p lang="fr">caf&#233; &lt;ok&gt;<x/></p>"#,
        r#"<a><b><c><d><e>deep</e></d></c></b></a>"#,
    ];
    assert_eq!(to_json("\u{FEFF}<a>bom</a>"), json!({ "a": "bom" }));
    for xml in docs {
        let first = to_json(xml);
        let back = to_xml(&first.to_string(), None);
        assert_eq!(to_json(&back), first, "{xml} -> {back}");
    }
    let jsons = [
        r##"{"root":{"@a":"1","k":["x","y"],"m":{"n":"v"},"#text":"t"}}"##,
        r#"{"r":{"s":"<&>\"'"}}"#,
        r#"{"r":null}"#,
    ];
    for j in jsons {
        let xml = to_xml(j, None);
        let v: Value = serde_json::from_str(j).unwrap_or_default();
        assert_eq!(to_json(&xml), v, "{j} -> {xml}");
    }
}

#[test]
fn malformed_or_hostile_xml_is_refused() {
    let lol = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    let deep = "<a>".repeat(65) + &"</a>".repeat(65);
    let ok_deep = "<a>".repeat(64) + &"</a>".repeat(64);
    assert!(xml_to_json(ok_deep.as_bytes(), 64).is_ok());
    type Check = fn(&ConvertError) -> bool;
    let cases: Vec<(&[u8], Check)> = vec![
        (lol.as_bytes(), |e| *e == ConvertError::DocType),
        (b"<a>&nope;</a>", |e| {
            *e == ConvertError::Entity("nope".into())
        }),
        (b"<a x=\"&nope;\"/>", |e| {
            *e == ConvertError::Entity("nope".into())
        }),
        (deep.as_bytes(), |e| *e == ConvertError::TooDeep(64)),
        (b"<a><b></a>", |e| matches!(e, ConvertError::Xml(_))),
        (b"<a>", |e| matches!(e, ConvertError::Xml(_))),
        (b"<a x=1/>", |e| matches!(e, ConvertError::Xml(_))),
        (b"<a x=\"1\" x=\"2\"/>", |e| {
            matches!(e, ConvertError::Xml(_))
        }),
        (b"<a/><b/>", |e| *e == ConvertError::Outside),
        (b"text<a/>", |e| *e == ConvertError::Outside),
        (b"<a/>&amp;", |e| *e == ConvertError::Outside),
        (b"  <!-- only a comment -->  ", |e| {
            *e == ConvertError::NoRoot
        }),
        (b"<a>\xff</a>", |e| *e == ConvertError::NotUtf8),
        (b"<a>AT&T</a>", |e| matches!(e, ConvertError::Xml(_))),
    ];
    for (input, check) in cases {
        match xml_to_json(input, 64) {
            Ok(v) => panic!("{:?} accepted as {v:?}", String::from_utf8_lossy(input)),
            Err(e) => assert!(check(&e), "{:?}: {e:?}", String::from_utf8_lossy(input)),
        }
    }
}

#[test]
fn unconvertible_json_is_refused() {
    let deep = "{\"a\":".repeat(10) + "1" + &"}".repeat(10);
    assert!(json_to_xml(deep.as_bytes(), None, 10).is_ok());
    assert_eq!(
        json_to_xml(deep.as_bytes(), None, 9),
        Err(ConvertError::TooDeep(9))
    );
    let cases: &[(&str, Option<&str>, &str)] = &[
        (r#"{"a":"#, None, "malformed JSON"),
        (r#"{"a":1,"b":2}"#, None, "not an object with a single key"),
        (r#"[1]"#, None, "not an object with a single key"),
        (r#"{"a":[1,2]}"#, None, "holds an array"),
        (r#"{"@a":"1"}"#, None, "not an element name"),
        (
            r#"{"a":{"1bad":1}}"#,
            None,
            "`1bad` is not a valid XML name",
        ),
        (r#"{"a":{"b c":1}}"#, None, "`b c` is not a valid XML name"),
        (r#"{"a":{"@x":{"y":1}}}"#, None, "attribute `@x` must be"),
        (r##"{"a":{"#text":[1]}}"##, None, "`#text` must be"),
        (r#"{"a":"bell\u0007"}"#, None, "control character"),
        (r#"1"#, Some("<bad>"), "not a valid XML name"),
    ];
    for (input, root, want) in cases {
        match json_to_xml(input.as_bytes(), *root, 64) {
            Ok(x) => panic!("{input} accepted as {x}"),
            Err(e) => assert!(e.to_string().contains(want), "{input}: {e}"),
        }
    }
}

#[tokio::test]
async fn requests_are_converted_and_relabelled() {
    let chain = chain(
        json!([{ "name": "xml-json", "config": { "request": "xml_to_json" } }]),
        json!({}),
    );
    let mut req = request(
        "POST",
        "/",
        &[
            ("content-type", "text/xml; charset=utf-8"),
            ("transfer-encoding", "chunked"),
        ],
    );
    assert!(chain.wants_request_body(&req.parts));
    req.body = Some(Bytes::from_static(
        b"<user id=\"1\"><name>Ann</name></user>",
    ));
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    let body = req.body.clone().unwrap_or_default();
    assert_eq!(&body[..], br#"{"user":{"@id":"1","name":"Ann"}}"#);
    assert_eq!(req.parts.headers["content-type"], "application/json");
    assert_eq!(
        req.parts.headers["content-length"],
        body.len().to_string().as_str()
    );
    assert!(!req.parts.headers.contains_key("transfer-encoding"));

    // JSON bodies pass untouched; malformed XML is a 400.
    let json_req = request("POST", "/", &[("content-type", "application/json")]);
    assert!(!chain.wants_request_body(&json_req.parts));
    let mut bad = request("POST", "/", &[("content-type", "application/xml")]);
    bad.body = Some(Bytes::from_static(b"<a><b></a>"));
    match run(&chain, &mut bad, &mut ctx()).await {
        Err(e) => assert_eq!((e.status.as_u16(), e.code), (400, "invalid_xml_body")),
        Ok(_) => panic!("malformed XML accepted"),
    }

    let chain = crate::testing::chain(
        json!([{ "name": "xml-json", "config": { "request": "json_to_xml", "root": "request" } }]),
        json!({}),
    );
    let mut req = request("POST", "/", &[("content-type", "application/json")]);
    req.body = Some(Bytes::from_static(br#"{"a":1}"#));
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(
        req.body.as_deref(),
        Some(format!("{DECL}<request><a>1</a></request>").as_bytes())
    );
    assert_eq!(
        req.parts.headers["content-type"],
        "application/xml; charset=utf-8"
    );
    let mut bad = request("POST", "/", &[("content-type", "application/json")]);
    bad.body = Some(Bytes::from_static(b"{"));
    match run(&chain, &mut bad, &mut ctx()).await {
        Err(e) => assert_eq!((e.status.as_u16(), e.code), (400, "invalid_json_body")),
        Ok(_) => panic!("malformed JSON accepted"),
    }
}

#[tokio::test]
async fn responses_are_converted_or_502() {
    let chain = chain(
        json!([{ "name": "xml-json", "config": { "response": "xml_to_json" } }]),
        json!({}),
    );
    let mut req = request("GET", "/", &[]);
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    let mut resp = response(
        200,
        &[("content-type", "application/xml")],
        Some("<ok>yes</ok>"),
    );
    assert!(chain.wants_response_body(&resp.parts, &ctx));
    assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
    assert_eq!(resp.body.as_deref(), Some(&br#"{"ok":"yes"}"#[..]));
    assert_eq!(resp.parts.headers["content-type"], "application/json");
    assert_eq!(resp.parts.headers["content-length"], "12");

    let gz = response(
        200,
        &[
            ("content-type", "application/xml"),
            ("content-encoding", "gzip"),
        ],
        None,
    );
    assert!(!chain.wants_response_body(&gz.parts, &ctx));
    let mut bad = response(200, &[("content-type", "application/xml")], Some("<ok>"));
    match chain.on_response(&mut bad, &mut ctx) {
        Err(e) => assert_eq!((e.status.as_u16(), e.code), (502, "invalid_upstream_body")),
        Ok(()) => panic!("malformed upstream XML passed"),
    }
}

#[test]
fn bad_config_names_the_field() {
    let cases = [
        (
            json!({}),
            "routes[0].policies[0].config: nothing to convert",
        ),
        (
            json!({ "request": "xml_to_json", "max_depth": 0 }),
            "routes[0].policies[0].config.max_depth: must be between 1 and 128",
        ),
        (
            json!({ "response": "json_to_xml", "root": "1x" }),
            "routes[0].policies[0].config.root: `1x` is not a valid XML element name",
        ),
        (
            json!({ "request": "yaml" }),
            "routes[0].policies[0].config.request: unknown variant `yaml`",
        ),
    ];
    for (cfg, want) in cases {
        let errs = config_errors(json!([{ "name": "xml-json", "config": cfg }]), json!({}));
        assert_eq!(errs.len(), 1, "{cfg}: {errs:?}");
        assert!(errs[0].starts_with(want), "{cfg}: {errs:?}");
    }
}
