use serde_json::json;

use crate::testing::*;

fn consumers() -> serde_json::Value {
    json!({ "consumers": [{ "name": "billing", "credentials": [{ "type": "mtls", "id": "billing-cert", "subject": "billing.internal" }] }] })
}

#[tokio::test]
async fn certificate_names_map_to_consumers() {
    let chain = chain(json!([{ "name": "mtls-auth" }]), consumers());
    let mut c = ctx();
    c.client_cert_names = vec!["Billing Service".into(), "billing.internal".into()];
    let mut req = request("GET", "/", &[]);
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("billing"));
    assert_eq!(c.credential.as_deref(), Some("billing-cert"));

    let mut c = ctx();
    c.client_cert_names = vec!["someone.else".into()];
    let err = run(&chain, &mut request("GET", "/", &[]), &mut c)
        .await
        .err();
    assert_eq!(err.map(|e| e.status), Some(http::StatusCode::UNAUTHORIZED));

    // No certificate at all: no consumer, so the auth gate refuses.
    let err = run(&chain, &mut request("GET", "/", &[]), &mut ctx())
        .await
        .err();
    assert_eq!(err.map(|e| e.code), Some("unauthorized"));
}
