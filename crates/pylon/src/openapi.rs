//! `pylon openapi import`: turn an OpenAPI 3.0/3.1 document into a Pylon
//! config: one service, one route per operation (path templates keep their
//! `{param}` syntax), and a `request-validator` policy per operation built
//! from its parameters and JSON request body. `$ref`s into
//! `#/components/schemas` are kept, with the components carried as `$defs`.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What to generate around the routes.
pub struct ImportOptions {
    pub service: Option<String>,
    pub upstream: String,
    /// When given, the upstream is defined too, with this target.
    pub target: Option<String>,
}

/// Build the config document for `spec` (parsed YAML or JSON).
pub fn import(spec: &Value, opts: &ImportOptions) -> anyhow::Result<Value> {
    let version = spec
        .get("openapi")
        .and_then(Value::as_str)
        .context("not an OpenAPI 3 document: no `openapi` version field")?;
    if !version.starts_with("3.") {
        bail!("OpenAPI version `{version}` is not supported (3.0 and 3.1 are)");
    }
    let draft = if version.starts_with("3.0") {
        "4"
    } else {
        "2020-12"
    };
    let defs = spec
        .pointer("/components/schemas")
        .cloned()
        .map(rewrite_refs)
        .unwrap_or(Value::Null);
    let title = spec
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("api");
    let service = opts.service.clone().unwrap_or_else(|| slug(title));
    let paths = spec
        .get("paths")
        .and_then(Value::as_object)
        .context("the document has no `paths`")?;
    let mut routes = Vec::new();
    let mut names = BTreeMap::<String, usize>::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            bail!("paths.{path}: a path must start with `/`");
        }
        let shared_params = item.get("parameters").cloned().unwrap_or(Value::Null);
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let base = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(slug)
                .unwrap_or_else(|| format!("{method}-{}", slug(path)));
            let n = names.entry(base.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 { base } else { format!("{base}-{n}") };
            let params = merge_params(spec, &shared_params, op.get("parameters"))?;
            let validator = validator_config(spec, &params, op.get("requestBody"), &defs, draft)?;
            let path_match = if path.contains('{') {
                json!({ "template": path })
            } else {
                json!({ "exact": path })
            };
            let mut route = json!({
                "name": name,
                "service": service,
                "match": { "paths": [path_match], "methods": [method.to_ascii_uppercase()] },
                "upstream": opts.upstream,
            });
            if let Some(cfg) = validator {
                route["policies"] = json!([{ "name": "request-validator", "config": cfg }]);
            }
            routes.push(route);
        }
    }
    if routes.is_empty() {
        bail!("the document has no operations under `paths`");
    }
    let mut doc = json!({
        "services": [{ "name": service, "description": title }],
        "routes": routes,
    });
    if let Some(target) = &opts.target {
        doc["upstreams"] = json!([{ "name": opts.upstream, "targets": [{ "address": target }] }]);
    }
    Ok(doc)
}

/// Path-level parameters overridden by operation-level ones (same name and `in`).
fn merge_params(spec: &Value, shared: &Value, own: Option<&Value>) -> anyhow::Result<Vec<Value>> {
    let mut out: Vec<Value> = Vec::new();
    for list in [Some(shared), own].into_iter().flatten() {
        for p in list.as_array().into_iter().flatten() {
            let p = resolve(spec, p)?;
            let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
            out.retain(|q| key(q) != key(&p));
            out.push(p);
        }
    }
    Ok(out)
}

/// Follow a local `$ref` (`#/components/parameters/x`, `#/components/requestBodies/y`).
fn resolve(spec: &Value, v: &Value) -> anyhow::Result<Value> {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r
                .strip_prefix('#')
                .with_context(|| format!("`{r}`: only local references are supported"))?;
            spec.pointer(pointer)
                .cloned()
                .with_context(|| format!("`{r}` does not resolve"))
        }
        None => Ok(v.clone()),
    }
}

fn validator_config(
    spec: &Value,
    params: &[Value],
    body: Option<&Value>,
    defs: &Value,
    draft: &str,
) -> anyhow::Result<Option<Value>> {
    let mut cfg = Map::new();
    for (location, key) in [
        ("path", "path_schema"),
        ("query", "query_schema"),
        ("header", "header_schema"),
    ] {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in params
            .iter()
            .filter(|p| p.get("in").and_then(Value::as_str) == Some(location))
        {
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                continue;
            };
            let name = if location == "header" {
                name.to_ascii_lowercase()
            } else {
                name.to_string()
            };
            let schema = p
                .get("schema")
                .cloned()
                .map(rewrite_refs)
                .unwrap_or(json!({}));
            if p.get("required").and_then(Value::as_bool).unwrap_or(false) {
                required.push(Value::String(name.clone()));
            }
            props.insert(name, schema);
        }
        if !props.is_empty() {
            cfg.insert(
                key.into(),
                with_defs(
                    json!({ "type": "object", "properties": props, "required": required }),
                    defs,
                ),
            );
        }
    }
    if let Some(body) = body {
        let body = resolve(spec, body)?;
        if let Some(schema) = body.pointer("/content/application~1json/schema") {
            cfg.insert(
                "body_schema".into(),
                with_defs(rewrite_refs(schema.clone()), defs),
            );
            let required = body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            cfg.insert("body_required".into(), Value::Bool(required));
        }
    }
    if cfg.is_empty() {
        return Ok(None);
    }
    cfg.insert("draft".into(), Value::String(draft.into()));
    Ok(Some(Value::Object(cfg)))
}

/// Attach the components as `$defs` when the schema refers to any.
fn with_defs(mut schema: Value, defs: &Value) -> Value {
    if !defs.is_null() && schema.to_string().contains("#/$defs/") {
        schema["$defs"] = defs.clone();
    }
    schema
}

/// `#/components/schemas/X` → `#/$defs/X`, everywhere in the value.
fn rewrite_refs(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => {
                        let s = s.replace("#/components/schemas/", "#/$defs/");
                        (k, Value::String(s))
                    }
                    (_, v) => (k, rewrite_refs(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(rewrite_refs).collect()),
        other => other,
    }
}

/// A config-safe name: letters, digits, `-`, `_`, `.`.
fn slug(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if !(c == '-' && collapsed.ends_with('-')) {
            collapsed.push(c);
        }
    }
    let out = collapsed.trim_matches('-').to_string();
    if out.is_empty() { "root".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_become_routes_with_validation() -> anyhow::Result<()> {
        let spec = json!({
            "openapi": "3.1.0",
            "info": { "title": "Pet Store" },
            "paths": {
                "/pets/{id}": {
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                    "get": { "operationId": "getPet" },
                    "put": {
                        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Pet" } } } }
                    }
                },
                "/pets": { "get": { "parameters": [{ "name": "limit", "in": "query", "schema": { "type": "integer", "maximum": 100 } }] } }
            },
            "components": { "schemas": { "Pet": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } } } }
        });
        let opts = ImportOptions {
            service: None,
            upstream: "pets".into(),
            target: Some("127.0.0.1:9000".into()),
        };
        let doc = import(&spec, &opts)?;
        assert_eq!(doc["services"][0]["name"], "Pet-Store");
        let routes = doc["routes"].as_array().context("routes")?;
        assert_eq!(routes.len(), 3);
        let get_pet = routes
            .iter()
            .find(|r| r["name"] == "getPet")
            .context("getPet")?;
        assert_eq!(get_pet["match"]["paths"][0]["template"], "/pets/{id}");
        assert_eq!(get_pet["match"]["methods"][0], "GET");
        let v = &get_pet["policies"][0]["config"];
        assert_eq!(v["path_schema"]["properties"]["id"]["type"], "integer");
        let put = routes
            .iter()
            .find(|r| r["name"] == "put-pets-id")
            .context("put")?;
        let body = &put["policies"][0]["config"]["body_schema"];
        assert_eq!(body["$ref"], "#/$defs/Pet");
        assert_eq!(body["$defs"]["Pet"]["required"][0], "name");
        let list = routes
            .iter()
            .find(|r| r["name"] == "get-pets")
            .context("list")?;
        assert_eq!(list["match"]["paths"][0]["exact"], "/pets");
        assert_eq!(
            doc["upstreams"][0]["targets"][0]["address"],
            "127.0.0.1:9000"
        );
        Ok(())
    }

    #[test]
    fn bad_documents_are_clear_errors() {
        let opts = ImportOptions {
            service: None,
            upstream: "u".into(),
            target: None,
        };
        let e = import(&json!({ "swagger": "2.0" }), &opts)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("not an OpenAPI 3 document: no `openapi` version field")
        );
        let e = import(&json!({ "openapi": "3.0.3", "paths": {} }), &opts)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the document has no operations under `paths`")
        );
    }
}
