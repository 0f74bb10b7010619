//! AWS Signature Version 4 for Bedrock calls, through the official
//! `aws-sigv4` signer: the signature covers the method, the (already
//! percent-encoded) path, the query, the `host`, `content-type` and `accept`
//! headers and the SHA-256 of the exact body bytes sent.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::error::AiError;
use crate::providers::HttpRequest;

/// Static AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where and when a signature is valid: its credential scope.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

/// The signing headers (`x-amz-date`, `authorization`, and
/// `x-amz-security-token` with session credentials) for a request.
pub fn signature_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    creds: &AwsCredentials,
    scope: Scope<'_>,
) -> Result<Vec<(&'static str, String)>, AiError> {
    let fail = |e: &dyn std::fmt::Display| AiError::internal(format!("SigV4 signing failed: {e}"));
    let uri: http::Uri = url
        .parse()
        .map_err(|e| AiError::internal(format!("bad Bedrock URL `{url}`: {e}")))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(AiError::internal(format!(
            "the Bedrock URL `{url}` has no host"
        )));
    }
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "pylon-config",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| fail(&e))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_string()))
        .collect())
}

/// Sign `req` in place for `service` in `region`, now.
pub fn sign_request(
    req: &mut HttpRequest,
    creds: &AwsCredentials,
    region: &str,
    service: &str,
) -> Result<(), AiError> {
    let signed: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "content-type" | "accept"))
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let out = signature_headers(
        req.method.as_str(),
        &req.url,
        &signed,
        &req.body,
        creds,
        Scope {
            region,
            service,
            time: SystemTime::now(),
        },
    )?;
    for (name, value) in out {
        req.header(name, &value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS SigV4 test suite's credentials and time (20150830T123600Z).
    fn suite() -> (AwsCredentials, SystemTime) {
        (
            AwsCredentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160),
        )
    }

    fn scope<'a>(region: &'a str, service: &'a str, time: SystemTime) -> Scope<'a> {
        Scope {
            region,
            service,
            time,
        }
    }

    fn authorization(h: &[(&str, String)]) -> String {
        h.iter()
            .find(|(n, _)| *n == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    #[test]
    fn official_test_vectors() {
        let (creds, t) = suite();
        let cases = [
            (
                "GET",
                "https://example.amazonaws.com/",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "POST",
                "https://example.amazonaws.com/",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "GET",
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ];
        for (method, url, sig) in cases {
            let h = signature_headers(
                method,
                url,
                &[],
                b"",
                &creds,
                scope("us-east-1", "service", t),
            )
            .unwrap();
            assert_eq!(
                authorization(&h),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
                ),
                "{method} {url}"
            );
            assert!(h.contains(&("x-amz-date", "20150830T123600Z".into())));
        }
        // The IAM ListUsers example of the SigV4 documentation.
        let h = signature_headers(
            "GET",
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"",
            &creds,
            scope("us-east-1", "iam", t),
        )
        .unwrap();
        assert!(authorization(&h).ends_with(
            "SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        ));
    }

    #[test]
    fn session_tokens_are_sent_and_signed_and_the_body_counts() {
        let (mut creds, t) = suite();
        creds.session_token = Some("TOKEN123".into());
        let url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-x-v1%3A0/converse";
        let hdrs = [("content-type", "application/json")];
        let h = signature_headers(
            "POST",
            url,
            &hdrs,
            b"{}",
            &creds,
            scope("eu-west-1", "bedrock", t),
        )
        .unwrap();
        let auth = authorization(&h);
        assert!(
            auth.contains("Credential=AKIDEXAMPLE/20150830/eu-west-1/bedrock/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert!(h.contains(&("x-amz-security-token", "TOKEN123".into())));
        let other = signature_headers(
            "POST",
            url,
            &hdrs,
            b"{ }",
            &creds,
            scope("eu-west-1", "bedrock", t),
        )
        .unwrap();
        assert_ne!(authorization(&other), auth, "the body is signed");
        assert!(signature_headers("POST", "/x", &[], b"", &creds, scope("r", "s", t)).is_err());
        assert!(
            !format!("{creds:?}").contains("wJalr"),
            "secrets stay out of Debug"
        );
    }
}
