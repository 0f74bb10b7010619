//! Identity headers for the upstream: on routes with authentication, what a
//! client sent under these names is removed, and the authenticated consumer
//! is passed on in them.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::consumer::Consumer;

pub const CONSUMER_NAME: HeaderName = HeaderName::from_static("x-consumer-name");
pub const CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
pub const CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");
pub const CONSUMER_TENANT: HeaderName = HeaderName::from_static("x-consumer-tenant");
pub const CREDENTIAL_ID: HeaderName = HeaderName::from_static("x-credential-id");
pub const ANONYMOUS: HeaderName = HeaderName::from_static("x-anonymous-consumer");

const ALL: [HeaderName; 6] = [
    CONSUMER_NAME,
    CONSUMER_CUSTOM_ID,
    CONSUMER_GROUPS,
    CONSUMER_TENANT,
    CREDENTIAL_ID,
    ANONYMOUS,
];

/// Remove identity headers a client may have sent to impersonate someone.
pub fn strip(headers: &mut HeaderMap, name_header: &HeaderName) {
    headers.remove(name_header);
    for h in ALL {
        headers.remove(h);
    }
}

/// Set the identity headers for `consumer`; the name goes in `name_header`.
pub fn set(
    headers: &mut HeaderMap,
    name_header: &HeaderName,
    consumer: &Consumer,
    credential: Option<&str>,
    anonymous: bool,
) {
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put(name_header.clone(), &consumer.name);
    put(CONSUMER_TENANT, &consumer.tenant);
    if let Some(id) = &consumer.custom_id {
        put(CONSUMER_CUSTOM_ID, id);
    }
    if !consumer.groups.is_empty() {
        let groups: Vec<&str> = consumer.groups.iter().map(|g| &**g).collect();
        put(CONSUMER_GROUPS, &groups.join(","));
    }
    if let Some(c) = credential {
        put(CREDENTIAL_ID, c);
    }
    if anonymous {
        put(ANONYMOUS, "true");
    }
}
