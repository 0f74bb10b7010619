//! An independent AWS Signature Version 4 verifier for mock AWS services:
//! it rebuilds the canonical request from what arrived (method, the path
//! as sent, the query, the signed headers, the SHA-256 of the body bytes
//! received), derives the signing key, and compares signatures, so a mock
//! accepts exactly what AWS would. Checked against the SigV4 test suite.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// What URI encoding leaves alone: `A-Z a-z 0-9 - _ . ~`.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The credentials and scope a mock accepts.
#[derive(Debug, Clone)]
pub struct SigV4Check {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, `x-amz-security-token` must carry it, signed.
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical URI of a path as sent: every segment encoded once more.
fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".into();
    }
    raw_path
        .split('/')
        .map(|seg| utf8_percent_encode(seg, STRICT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The canonical query: pairs decoded, strictly re-encoded, sorted.
fn canonical_query(raw_query: &str) -> String {
    let enc = |s: &str| {
        let decoded = percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        utf8_percent_encode(&decoded, STRICT).to_string()
    };
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (enc(k), enc(v)),
            None => (enc(p), String::new()),
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request. `headers` are (lower-case name, value) pairs of
/// exactly the signed headers.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), v)
        })
        .collect();
    hs.sort();
    let names: Vec<&str> = hs.iter().map(|(k, _)| k.as_str()).collect();
    let lines: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    format!(
        "{method}\n{}\n{}\n{lines}\n{}\n{payload_hash}",
        canonical_uri(raw_path),
        canonical_query(raw_query),
        names.join(";")
    )
}

/// The hex signature of a canonical request.
pub fn signature(secret: &str, amz_date: &str, region: &str, service: &str, creq: &str) -> String {
    let day = amz_date.get(..8).unwrap_or("");
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(creq.as_bytes())
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), day);
    let k = hmac(&k, region);
    let k = hmac(&k, service);
    let k = hmac(&k, "aws4_request");
    hex::encode(hmac(&k, &to_sign))
}

/// Check the SigV4 `Authorization` of a request; the error says what is wrong.
pub fn verify(parts: &http::request::Parts, body: &[u8], check: &SigV4Check) -> Result<(), String> {
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let auth = header("authorization").ok_or("no Authorization header")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("the Authorization header is not AWS4-HMAC-SHA256")?;
    let mut credential = None;
    let mut signed = None;
    let mut given = None;
    for field in rest.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => given = Some(v),
            _ => return Err(format!("unexpected Authorization field `{field}`")),
        }
    }
    let (credential, signed, given) = match (credential, signed, given) {
        (Some(c), Some(s), Some(g)) => (c, s, g),
        _ => return Err("Authorization lacks Credential, SignedHeaders or Signature".into()),
    };
    let amz_date = header("x-amz-date").ok_or("no x-amz-date header")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let want_scope = [
        check.access_key_id.as_str(),
        amz_date.get(..8).unwrap_or(""),
        check.region.as_str(),
        check.service.as_str(),
        "aws4_request",
    ];
    if scope != want_scope {
        return Err(format!(
            "credential scope `{credential}` is not `{}`",
            want_scope.join("/")
        ));
    }
    let names: Vec<&str> = signed.split(';').collect();
    for must in ["host", "x-amz-date"] {
        if !names.contains(&must) {
            return Err(format!(
                "`{must}` is not among the signed headers `{signed}`"
            ));
        }
    }
    if let Some(token) = &check.session_token {
        if header("x-amz-security-token") != Some(token.as_str()) {
            return Err("x-amz-security-token is missing or wrong".into());
        }
        if !names.contains(&"x-amz-security-token") {
            return Err("x-amz-security-token is not signed".into());
        }
    }
    let mut values = Vec::new();
    for n in &names {
        let v = if *n == "host" {
            header("host")
                .map(str::to_string)
                .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        } else {
            let all: Vec<&str> = parts
                .headers
                .get_all(*n)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .collect();
            (!all.is_empty()).then(|| all.join(","))
        };
        values.push((
            n.to_string(),
            v.ok_or(format!("signed header `{n}` is missing"))?,
        ));
    }
    let payload_hash = sha256_hex(body);
    if let Some(h) = header("x-amz-content-sha256")
        && h != payload_hash
    {
        return Err("x-amz-content-sha256 does not match the body".into());
    }
    let creq = canonical_request(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &values,
        &payload_hash,
    );
    let want = signature(
        &check.secret_access_key,
        amz_date,
        &check.region,
        &check.service,
        &creq,
    );
    if want != given {
        return Err(format!(
            "signature mismatch; the canonical request was:\n{creq}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn suite(method: &str, query: &str) -> String {
        let hs = [
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), DATE.to_string()),
        ];
        let creq = canonical_request(method, "/", query, &hs, EMPTY);
        signature(SECRET, DATE, "us-east-1", "service", &creq)
    }

    #[test]
    fn official_test_vectors() {
        assert_eq!(
            suite("GET", ""),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            suite("POST", ""),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert_eq!(
            suite("GET", "Param2=value2&Param1=value1"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        let hs = [
            (
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded;  charset=utf-8".to_string(),
            ),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), DATE.to_string()),
        ];
        let creq = canonical_request(
            "GET",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            &hs,
            EMPTY,
        );
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            signature(SECRET, DATE, "us-east-1", "iam", &creq),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn verify_accepts_a_correct_request_and_names_what_is_wrong() {
        let check = SigV4Check {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: None,
            region: "us-west-2".into(),
            service: "bedrock".into(),
        };
        let path = "/model/a.b-v1%3A0/converse";
        let hs = [
            ("host".to_string(), "127.0.0.1:9".to_string()),
            ("x-amz-date".to_string(), DATE.to_string()),
        ];
        let body = b"{\"messages\":[]}";
        let creq = canonical_request("POST", path, "", &hs, &sha256_hex(body));
        assert!(
            creq.contains("/model/a.b-v1%253A0/converse"),
            "double-encoded: {creq}"
        );
        let sig = signature("secret", DATE, "us-west-2", "bedrock", &creq);
        let req = |auth: String| {
            let (parts, ()) = http::Request::post(path)
                .header("host", "127.0.0.1:9")
                .header("x-amz-date", DATE)
                .header("authorization", auth)
                .body(())
                .unwrap()
                .into_parts();
            parts
        };
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        verify(&req(good.clone()), body, &check).unwrap();
        assert!(
            verify(&req(good.clone()), b"{\"messages\":[1]}", &check)
                .unwrap_err()
                .contains("mismatch")
        );
        let wrong_region = good.replace("us-west-2", "eu-west-1");
        assert!(
            verify(&req(wrong_region), body, &check)
                .unwrap_err()
                .contains("scope")
        );
        assert!(verify(&req("Bearer x".into()), body, &check).is_err());
        let token = SigV4Check {
            session_token: Some("T".into()),
            ..check
        };
        assert!(
            verify(&req(good), body, &token)
                .unwrap_err()
                .contains("x-amz-security-token")
        );
    }
}
