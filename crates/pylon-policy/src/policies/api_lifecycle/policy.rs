//! `api-lifecycle` at run time: headers computed at build, added per response.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderName, HeaderValue, StatusCode, header};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::config::{ApiLifecycleConfig, State};
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
const SUNSET: HeaderName = HeaderName::from_static("sunset");

pub struct ApiLifecycle {
    state: State,
    sunset: Option<SystemTime>,
    retire_at_sunset: bool,
    /// Headers of a deprecated version's responses.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers of the 410 answer.
    retired_headers: Vec<(HeaderName, HeaderValue)>,
    message: String,
}

fn date(path: &str, s: &Option<String>) -> Result<Option<OffsetDateTime>, PolicyError> {
    s.as_deref()
        .map(|s| {
            OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| {
                PolicyError::config(path, format!("`{s}` is not an RFC 3339 date-time: {e}"))
            })
        })
        .transpose()
}

fn link(
    path: &str,
    url: &Option<String>,
    params: &str,
) -> Result<Option<HeaderValue>, PolicyError> {
    let Some(url) = url.as_deref() else {
        return Ok(None);
    };
    let bad = || PolicyError::config(path, format!("`{url}` is not a valid URL"));
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme().is_none() && !url.starts_with('/') {
        return Err(bad());
    }
    HeaderValue::from_str(&format!("<{url}>; {params}"))
        .map(Some)
        .map_err(|_| bad())
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: ApiLifecycleConfig = parse_config(value)?;
    let deprecated_at = date("deprecated_at", &cfg.deprecated_at)?;
    let sunset_at = date("sunset_at", &cfg.sunset_at)?;
    if cfg.state == State::Deprecated && deprecated_at.is_none() {
        return Err(PolicyError::config(
            "deprecated_at",
            "required when `state` is `deprecated`",
        ));
    }
    if let (Some(d), Some(s)) = (deprecated_at, sunset_at)
        && s < d
    {
        return Err(PolicyError::config(
            "sunset_at",
            "must not be earlier than `deprecated_at` (RFC 9745)",
        ));
    }
    if cfg.retire_at_sunset && sunset_at.is_none() {
        return Err(PolicyError::config(
            "sunset_at",
            "required when `retire_at_sunset` is on",
        ));
    }
    let successor = link("successor", &cfg.successor, "rel=\"successor-version\"")?;
    let info = link(
        "deprecation_link",
        &cfg.deprecation_link,
        "rel=\"deprecation\"; type=\"text/html\"",
    )?;
    let sunset = sunset_at.map(SystemTime::from);
    let sunset_header =
        sunset.and_then(|t| HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok());
    let mut headers = Vec::new();
    if let Some(d) = deprecated_at
        && let Ok(v) = HeaderValue::from_str(&format!("@{}", d.unix_timestamp()))
    {
        headers.push((DEPRECATION, v));
    }
    let mut retired_headers = Vec::new();
    for (name, value) in [
        (SUNSET, sunset_header),
        (header::LINK, successor),
        (header::LINK, info),
    ] {
        if let Some(v) = value {
            headers.push((name.clone(), v.clone()));
            retired_headers.push((name, v));
        }
    }
    Ok(Arc::new(ApiLifecycle {
        state: cfg.state,
        sunset,
        retire_at_sunset: cfg.retire_at_sunset,
        headers,
        retired_headers,
        message: cfg.message,
    }))
}

/// Marks a request this policy refused as retired (its answer has the headers already).
#[derive(Clone, Copy)]
struct Answered410;

impl ApiLifecycle {
    fn retired(&self, now: SystemTime) -> bool {
        self.state == State::Retired
            || (self.retire_at_sunset && self.sunset.is_some_and(|s| now >= s))
    }
}

impl Policy for ApiLifecycle {
    fn kind(&self) -> &'static str {
        "api-lifecycle"
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        if self.retired(SystemTime::now()) {
            ctx.vars.insert(Answered410);
            let mut r = Reject::new(StatusCode::GONE, "api_retired", self.message.clone());
            r.headers.extend(self.retired_headers.iter().cloned());
            return Step::reject(r);
        }
        Step::next()
    }

    fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        if self.state != State::Deprecated || ctx.vars.get::<Answered410>().is_some() {
            return Ok(());
        }
        for (name, value) in &self.headers {
            if name == header::LINK {
                resp.parts.headers.append(name, value.clone());
            } else {
                resp.parts.headers.insert(name, value.clone());
            }
        }
        Ok(())
    }
}
