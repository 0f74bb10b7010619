//! Compiled JSON body edits (remove, rename, set by JSON pointer, or replace
//! the whole body) and JSON templates, shared with `response-transformer`.

use bytes::Bytes;

use super::config::JsonOpsConfig;
use super::ops::request_phase_only;
use crate::body::json::{Doc, Map, Pointer};
use crate::error::PolicyError;
use crate::template::{Scope, Template};

/// A JSON document whose string values may be templates. Each such string
/// renders to a JSON string (escaped as needed); everything else is copied.
pub(crate) enum JsonTemplate {
    Fixed(Doc),
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Compile `value` found at config path `at`.
    pub fn compile(at: &str, value: &serde_json::Value) -> Result<Self, PolicyError> {
        Ok(match value {
            serde_json::Value::String(s) => {
                let t = Template::compile(at, s)?;
                match t.as_static() {
                    Some(text) => JsonTemplate::Fixed(Doc::String(text.to_string())),
                    None => JsonTemplate::Text(t),
                }
            }
            serde_json::Value::Array(items) => {
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::compile(&format!("{at}[{i}]"), v))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|t| matches!(t, JsonTemplate::Fixed(_))) {
                    JsonTemplate::Fixed(Doc::Array(items.into_iter().map(Self::fixed).collect()))
                } else {
                    JsonTemplate::Array(items)
                }
            }
            serde_json::Value::Object(map) => {
                let fields = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(&format!("{at}.{k}"), v)?)))
                    .collect::<Result<Vec<_>, PolicyError>>()?;
                if fields
                    .iter()
                    .all(|(_, t)| matches!(t, JsonTemplate::Fixed(_)))
                {
                    JsonTemplate::Fixed(Doc::Object(
                        fields
                            .into_iter()
                            .map(|(k, t)| (k, Self::fixed(t)))
                            .collect(),
                    ))
                } else {
                    JsonTemplate::Object(fields)
                }
            }
            other => JsonTemplate::Fixed(Doc::from(other.clone())),
        })
    }

    fn fixed(t: JsonTemplate) -> Doc {
        match t {
            JsonTemplate::Fixed(d) => d,
            _ => Doc::Null,
        }
    }

    pub fn render(&self, scope: &Scope<'_>) -> Doc {
        match self {
            JsonTemplate::Fixed(d) => d.clone(),
            JsonTemplate::Text(t) => Doc::String(t.render(scope)),
            JsonTemplate::Array(items) => {
                Doc::Array(items.iter().map(|t| t.render(scope)).collect())
            }
            JsonTemplate::Object(fields) => Doc::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.clone(), t.render(scope)))
                    .collect::<Map>(),
            ),
        }
    }

    /// Every template inside.
    pub fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            JsonTemplate::Fixed(_) => {}
            JsonTemplate::Text(t) => out.push(t),
            JsonTemplate::Array(items) => items.iter().for_each(|t| t.templates(out)),
            JsonTemplate::Object(fields) => fields.iter().for_each(|(_, t)| t.templates(out)),
        }
    }
}

enum SetValue {
    Value(Doc),
    Template(Template),
}

/// JSON body edits.
#[derive(Default)]
pub(crate) struct JsonOps {
    remove: Vec<Pointer>,
    rename: Vec<(Pointer, Pointer)>,
    set: Vec<(Pointer, SetValue)>,
    replace: Option<JsonTemplate>,
}

impl JsonOps {
    /// Compile the edits at config path `at` (`body`); `response` allows `status`.
    pub fn build(at: &str, cfg: &JsonOpsConfig, response: bool) -> Result<Self, PolicyError> {
        let pointer = |path: String, p: &str| {
            Pointer::parse(p).map_err(|reason| PolicyError::config(path, reason))
        };
        let not_root = |path: String, p: Pointer| {
            if p.is_root() {
                Err(PolicyError::config(
                    path,
                    "the whole document cannot be moved or removed",
                ))
            } else {
                Ok(p)
            }
        };
        let mut ops = JsonOps::default();
        for (i, p) in cfg.remove.iter().enumerate() {
            let path = format!("{at}.remove[{i}]");
            ops.remove.push(not_root(path.clone(), pointer(path, p)?)?);
        }
        for (i, r) in cfg.rename.iter().enumerate() {
            let from = format!("{at}.rename[{i}].from");
            let to = format!("{at}.rename[{i}].to");
            ops.rename.push((
                not_root(from.clone(), pointer(from, &r.from)?)?,
                not_root(to.clone(), pointer(to, &r.to)?)?,
            ));
        }
        for (i, s) in cfg.set.iter().enumerate() {
            let path = format!("{at}.set[{i}]");
            let p = pointer(format!("{path}.pointer"), &s.pointer)?;
            let value = match (&s.value, &s.template) {
                (Some(v), None) => SetValue::Value(Doc::from(v.clone())),
                (None, Some(t)) => {
                    let tpath = format!("{path}.template");
                    let t = Template::compile(&tpath, t)?;
                    if !response {
                        request_phase_only(&tpath, &t)?;
                    }
                    SetValue::Template(t)
                }
                _ => {
                    return Err(PolicyError::config(
                        path,
                        "give exactly one of `value` and `template`",
                    ));
                }
            };
            ops.set.push((p, value));
        }
        if let Some(doc) = &cfg.replace {
            let path = format!("{at}.replace");
            if !(ops.remove.is_empty() && ops.rename.is_empty() && ops.set.is_empty()) {
                return Err(PolicyError::config(
                    path,
                    "`replace` cannot be combined with `remove`, `rename` or `set`",
                ));
            }
            let t = JsonTemplate::compile(&path, doc)?;
            if !response {
                let mut ts = Vec::new();
                t.templates(&mut ts);
                for tm in ts {
                    request_phase_only(&path, tm)?;
                }
            }
            ops.replace = Some(t);
        }
        Ok(ops)
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.set.is_empty()
            && self.replace.is_none()
    }

    /// Every template inside.
    pub fn templates(&self) -> Vec<&Template> {
        let mut out: Vec<&Template> = self
            .set
            .iter()
            .filter_map(|(_, v)| match v {
                SetValue::Template(t) => Some(t),
                SetValue::Value(_) => None,
            })
            .collect();
        if let Some(r) = &self.replace {
            r.templates(&mut out);
        }
        out
    }

    /// Apply to a JSON body. `Ok(None)`: left as it was (an empty body is not
    /// edited, only replaced). `Err`: the body is not valid JSON.
    pub fn apply(
        &self,
        body: &[u8],
        scope: &Scope<'_>,
    ) -> Result<Option<Bytes>, serde_json::Error> {
        if let Some(r) = &self.replace {
            return Ok(Some(r.render(scope).to_bytes(body.len())));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let mut doc = Doc::parse(body)?;
        for p in &self.remove {
            p.remove(&mut doc);
        }
        for (from, to) in &self.rename {
            if let Some(v) = from.remove(&mut doc)
                && let Err(v) = to.set(&mut doc, v)
            {
                // The destination cannot exist here: put the value back.
                let _ = from.set(&mut doc, v);
            }
        }
        for (p, v) in &self.set {
            let value = match v {
                SetValue::Value(d) => d.clone(),
                SetValue::Template(t) => Doc::String(t.render(scope)),
            };
            // A path through a scalar is skipped.
            let _ = p.set(&mut doc, value);
        }
        Ok(Some(doc.to_bytes(body.len())))
    }
}
