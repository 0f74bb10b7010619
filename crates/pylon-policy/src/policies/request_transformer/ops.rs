//! Compiled header and query-parameter edits (remove, rename, set, add), shared
//! with `response-transformer`. Values are rendered first (every template
//! sees the message as it reached the policy), then the edits are applied.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::config::NameOpsConfig;
use crate::error::PolicyError;
use crate::template::{Scope, Template, Var};
use crate::util::{header_name, set_path_and_query};

/// Headers Pylon manages itself: framing and connection handling.
const MANAGED: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

/// Refuse `status` in a template used in the request phase.
pub(crate) fn request_phase_only(path: &str, t: &Template) -> Result<(), PolicyError> {
    if t.vars().any(|v| *v == Var::Status) {
        return Err(PolicyError::config(
            path,
            "`status` is only known in the response phase",
        ));
    }
    Ok(())
}

fn compile(path: &str, src: &str, response: bool) -> Result<Template, PolicyError> {
    let t = Template::compile(path, src)?;
    if !response {
        request_phase_only(path, &t)?;
    }
    Ok(t)
}

enum HeaderTemplate {
    Static(HeaderValue),
    Dynamic(Template),
}

/// Header edits.
#[derive(Default)]
pub(crate) struct HeaderOps {
    remove: Vec<HeaderName>,
    rename: Vec<(HeaderName, HeaderName)>,
    set: Vec<(HeaderName, HeaderTemplate)>,
    add: Vec<(HeaderName, HeaderTemplate)>,
}

/// Rendered `set` then `add` values; `None` leaves the header out.
pub(crate) struct RenderedHeaders(Vec<Option<HeaderValue>>);

impl HeaderOps {
    /// Compile the edits at config path `at` (`headers`); `response` allows `status`.
    pub fn build(at: &str, cfg: &NameOpsConfig, response: bool) -> Result<Self, PolicyError> {
        let name = |path: String, n: &str| -> Result<HeaderName, PolicyError> {
            let h = header_name(&path, n)?;
            if MANAGED.contains(&h.as_str()) {
                return Err(PolicyError::config(
                    path,
                    format!("`{n}` is managed by Pylon and cannot be changed"),
                ));
            }
            Ok(h)
        };
        let value = |path: String, src: &str| -> Result<HeaderTemplate, PolicyError> {
            let t = compile(&path, src, response)?;
            match t.as_static() {
                Some(s) => HeaderValue::from_str(s)
                    .map(HeaderTemplate::Static)
                    .map_err(|_| {
                        PolicyError::config(path, "not a valid header value (control characters)")
                    }),
                None => Ok(HeaderTemplate::Dynamic(t)),
            }
        };
        let mut ops = HeaderOps::default();
        for (i, n) in cfg.remove.iter().enumerate() {
            ops.remove.push(name(format!("{at}.remove[{i}]"), n)?);
        }
        for (from, to) in &cfg.rename {
            let path = format!("{at}.rename.{from}");
            ops.rename
                .push((name(path.clone(), from)?, name(path, to)?));
        }
        for (n, v) in &cfg.set {
            let path = format!("{at}.set.{n}");
            ops.set.push((name(path.clone(), n)?, value(path, v)?));
        }
        for (n, vs) in &cfg.add {
            for (i, v) in vs.as_slice().iter().enumerate() {
                let path = format!("{at}.add.{n}");
                let h = name(path.clone(), n)?;
                ops.add.push((h, value(format!("{path}[{i}]"), v)?));
            }
        }
        Ok(ops)
    }

    /// The templates of `set` and `add`.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.set
            .iter()
            .chain(&self.add)
            .filter_map(|(_, v)| match v {
                HeaderTemplate::Dynamic(t) => Some(t),
                HeaderTemplate::Static(_) => None,
            })
    }

    /// Render the values. An empty or invalid rendered value is left out.
    pub fn render(&self, scope: &Scope<'_>) -> RenderedHeaders {
        let mut out = Vec::with_capacity(self.set.len() + self.add.len());
        for (_, v) in self.set.iter().chain(&self.add) {
            out.push(match v {
                HeaderTemplate::Static(h) => (!h.is_empty()).then(|| h.clone()),
                HeaderTemplate::Dynamic(t) => {
                    let s = t.render(scope);
                    if s.is_empty() {
                        None
                    } else {
                        HeaderValue::try_from(s).ok()
                    }
                }
            });
        }
        RenderedHeaders(out)
    }

    pub fn apply(&self, headers: &mut HeaderMap, rendered: RenderedHeaders) {
        for n in &self.remove {
            headers.remove(n);
        }
        for (from, to) in &self.rename {
            let values: Vec<HeaderValue> = headers.get_all(from).iter().cloned().collect();
            if values.is_empty() {
                continue;
            }
            headers.remove(from);
            headers.remove(to);
            for v in values {
                headers.append(to.clone(), v);
            }
        }
        let mut values = rendered.0.into_iter();
        for (n, _) in &self.set {
            headers.remove(n);
            if let Some(Some(v)) = values.next() {
                headers.insert(n.clone(), v);
            }
        }
        for (n, _) in &self.add {
            if let Some(Some(v)) = values.next() {
                headers.append(n.clone(), v);
            }
        }
    }
}

/// Query-parameter edits. Untouched parameters keep their original encoding.
#[derive(Default)]
pub(crate) struct QueryOps {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    set: Vec<(String, Template)>,
    add: Vec<(String, Template)>,
}

impl QueryOps {
    pub fn build(at: &str, cfg: &NameOpsConfig) -> Result<Self, PolicyError> {
        let name = |path: String, n: &str| -> Result<String, PolicyError> {
            if n.is_empty() {
                return Err(PolicyError::config(path, "the parameter name is empty"));
            }
            Ok(n.to_string())
        };
        let mut ops = QueryOps::default();
        for (i, n) in cfg.remove.iter().enumerate() {
            ops.remove.push(name(format!("{at}.remove[{i}]"), n)?);
        }
        for (from, to) in &cfg.rename {
            let path = format!("{at}.rename.{from}");
            ops.rename
                .push((name(path.clone(), from)?, name(path, to)?));
        }
        for (n, v) in &cfg.set {
            let path = format!("{at}.set.{n}");
            ops.set
                .push((name(path.clone(), n)?, compile(&path, v, false)?));
        }
        for (n, vs) in &cfg.add {
            for (i, v) in vs.as_slice().iter().enumerate() {
                let path = format!("{at}.add.{n}");
                let key = name(path.clone(), n)?;
                ops.add
                    .push((key, compile(&format!("{path}[{i}]"), v, false)?));
            }
        }
        Ok(ops)
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.set.is_empty()
            && self.add.is_empty()
    }

    /// Render the `set` then `add` values.
    pub fn render(&self, scope: &Scope<'_>) -> Vec<String> {
        self.set
            .iter()
            .chain(&self.add)
            .map(|(_, t)| t.render(scope))
            .collect()
    }

    pub fn apply(&self, uri: &mut Uri, rendered: Vec<String>) {
        if self.is_empty() {
            return;
        }
        let pq = {
            let query = uri.query().unwrap_or("");
            // (decoded name, raw `name=value` text)
            let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|raw| {
                    let key = raw.split('=').next().unwrap_or("");
                    let key = form_urlencoded::parse(key.as_bytes())
                        .next()
                        .map_or(Cow::Borrowed(""), |(k, _)| k);
                    (key, Cow::Borrowed(raw))
                })
                .collect();
            pairs.retain(|(k, _)| !self.remove.iter().any(|r| r == k));
            for (from, to) in &self.rename {
                if !pairs.iter().any(|(k, _)| k == from) {
                    continue;
                }
                pairs.retain(|(k, _)| k != to);
                for (k, raw) in pairs.iter_mut() {
                    if k == from {
                        let mut text = encode(to);
                        if let Some((_, v)) = raw.split_once('=') {
                            text.push('=');
                            text.push_str(v);
                        }
                        *k = Cow::Owned(to.clone());
                        *raw = Cow::Owned(text);
                    }
                }
            }
            let mut values = rendered.into_iter();
            for (n, _) in &self.set {
                pairs.retain(|(k, _)| k != n);
                if let Some(v) = values.next().filter(|v| !v.is_empty()) {
                    pairs.push((
                        Cow::Borrowed(n),
                        Cow::Owned(format!("{}={}", encode(n), encode(&v))),
                    ));
                }
            }
            for (n, _) in &self.add {
                if let Some(v) = values.next().filter(|v| !v.is_empty()) {
                    pairs.push((
                        Cow::Borrowed(n),
                        Cow::Owned(format!("{}={}", encode(n), encode(&v))),
                    ));
                }
            }
            let mut pq = String::with_capacity(uri.path().len() + query.len() + 32);
            pq.push_str(uri.path());
            for (i, (_, raw)) in pairs.iter().enumerate() {
                pq.push(if i == 0 { '?' } else { '&' });
                pq.push_str(raw);
            }
            pq
        };
        set_path_and_query(uri, &pq);
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
