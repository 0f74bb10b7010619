//! JSON Schema (as callers give tool parameters and `json_schema` answers)
//! → Gemini's `Schema`, a subset of the OpenAPI 3.0 schema object. Kept:
//! the keywords Gemini documents; rewritten: `type` lists with `null`
//! (→ `nullable`), `const` (→ a one-value `enum`), `oneOf` (→ `anyOf`),
//! single-branch `allOf` (merged), local `$ref`s (inlined); left out:
//! keywords Gemini rejects (`additionalProperties`, `$schema`, `$id`,
//! `strict`, `examples`, `exclusiveMinimum`, ...), which it would not honour.

use serde_json::{Map, Value};

use crate::error::AiError;

/// Keywords copied as they are (after conversion of their sub-schemas).
const PLAIN: &[&str] = &[
    "title",
    "description",
    "nullable",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
    "propertyOrdering",
];

/// String formats the Gemini API accepts (others are refused, so dropped).
const STRING_FORMATS: &[&str] = &["enum", "date-time"];
const NUMBER_FORMATS: &[&str] = &["float", "double", "int32", "int64"];

/// Deepest `$ref` nesting inlined (a recursive schema cannot be expressed).
const MAX_DEPTH: usize = 24;

/// Convert `schema`; `path` names it in errors (`tools[0].parameters`).
pub fn to_gemini(schema: &Value, path: &str) -> Result<Value, AiError> {
    let conv = Converter { root: schema, path };
    conv.convert(schema, 0)
}

struct Converter<'a> {
    root: &'a Value,
    path: &'a str,
}

impl Converter<'_> {
    fn error(&self, why: &str) -> AiError {
        AiError::invalid_param(
            self.path,
            format!(
                "`{}`: {why} (Gemini takes an OpenAPI 3.0 subset of JSON Schema)",
                self.path
            ),
        )
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn convert(&self, s: &Value, depth: usize) -> Result<Value, AiError> {
        if depth > MAX_DEPTH {
            return Err(self.error("the schema nests too deep or refers to itself"));
        }
        let Some(obj) = s.as_object() else {
            // `true`/`{}` (anything goes): an unconstrained object is the closest.
            return Ok(Value::Object(Map::new()));
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(r).ok_or_else(|| {
                self.error(&format!("`$ref` `{r}` does not point into the schema"))
            })?;
            let mut merged = self.convert(target, depth + 1)?;
            // Siblings of `$ref` (a description, usually) still apply.
            if let (Some(m), Some(d)) = (merged.as_object_mut(), obj.get("description")) {
                m.insert("description".into(), d.clone());
            }
            return Ok(merged);
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            let mut base: Map<String, Value> = obj.clone();
            base.remove("allOf");
            for branch in all {
                let resolved = match branch.get("$ref").and_then(Value::as_str) {
                    Some(r) => self.resolve(r).cloned().unwrap_or(Value::Null),
                    None => branch.clone(),
                };
                merge_into(&mut base, &resolved);
            }
            return self.convert(&Value::Object(base), depth + 1);
        }
        let mut out = Map::new();
        let mut nullable = false;
        match obj.get("type") {
            Some(Value::String(t)) => {
                if t == "null" {
                    nullable = true;
                } else {
                    out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
                }
            }
            Some(Value::Array(types)) => {
                let named: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                nullable = named.contains(&"null");
                let rest: Vec<&str> = named.into_iter().filter(|t| *t != "null").collect();
                match rest.as_slice() {
                    [] => {}
                    [one] => {
                        out.insert("type".into(), Value::String(one.to_ascii_uppercase()));
                    }
                    many => {
                        let branches = many
                            .iter()
                            .map(|t| serde_json::json!({"type": t.to_ascii_uppercase()}))
                            .collect();
                        out.insert("anyOf".into(), Value::Array(branches));
                    }
                }
            }
            _ => {}
        }
        for key in PLAIN {
            if let Some(v) = obj.get(*key) {
                out.insert((*key).into(), v.clone());
            }
        }
        if let Some(f) = obj.get("format").and_then(Value::as_str) {
            let t = out.get("type").and_then(Value::as_str).unwrap_or("");
            let ok = match t {
                "STRING" => STRING_FORMATS.contains(&f),
                "NUMBER" | "INTEGER" => NUMBER_FORMATS.contains(&f),
                _ => false,
            };
            if ok {
                out.insert("format".into(), Value::String(f.into()));
            }
        }
        let enum_values = obj
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| obj.get("const").map(|c| vec![c.clone()]));
        if let Some(values) = enum_values {
            if values.iter().any(Value::is_null) {
                nullable = true;
            }
            let strings: Vec<Value> = values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(other.to_string()),
                })
                .collect();
            out.insert("enum".into(), Value::Array(strings));
            out.entry("type")
                .or_insert_with(|| Value::String("STRING".into()));
            if out.get("type").and_then(Value::as_str) == Some("STRING") {
                out.insert("format".into(), Value::String("enum".into()));
            }
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            let mut p = Map::new();
            for (k, v) in props {
                p.insert(k.clone(), self.convert(v, depth + 1)?);
            }
            out.insert("properties".into(), Value::Object(p));
            out.entry("type")
                .or_insert_with(|| Value::String("OBJECT".into()));
        }
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            out.insert("required".into(), Value::Array(req.clone()));
        }
        match obj.get("items") {
            Some(items @ Value::Object(_)) => {
                out.insert("items".into(), self.convert(items, depth + 1)?);
            }
            // Tuple form: Gemini has no tuples; the first item schema is the closest.
            Some(Value::Array(items)) if !items.is_empty() => {
                out.insert("items".into(), self.convert(&items[0], depth + 1)?);
            }
            _ => {}
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                let mut conv = Vec::with_capacity(branches.len());
                for b in branches {
                    if b.get("type").and_then(Value::as_str) == Some("null") {
                        nullable = true;
                        continue;
                    }
                    conv.push(self.convert(b, depth + 1)?);
                }
                if conv.len() == 1 && out.get("type").is_none() {
                    if let Some(Value::Object(one)) = conv.pop() {
                        for (k, v) in one {
                            out.entry(k).or_insert(v);
                        }
                    }
                } else if !conv.is_empty() {
                    out.insert("anyOf".into(), Value::Array(conv));
                }
            }
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        Ok(Value::Object(out))
    }
}

/// Merge one `allOf` branch into `base`: properties and required lists
/// unite, other keywords fill gaps.
fn merge_into(base: &mut Map<String, Value>, branch: &Value) {
    let Some(b) = branch.as_object() else { return };
    for (k, v) in b {
        match (k.as_str(), base.get_mut(k)) {
            ("properties", Some(Value::Object(have))) => {
                if let Some(more) = v.as_object() {
                    for (pk, pv) in more {
                        have.entry(pk.clone()).or_insert_with(|| pv.clone());
                    }
                }
            }
            ("required", Some(Value::Array(have))) => {
                for r in v.as_array().into_iter().flatten() {
                    if !have.contains(r) {
                        have.push(r.clone());
                    }
                }
            }
            (_, Some(_)) => {}
            (_, None) => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_subset_and_strips_the_rest() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object", "additionalProperties": false,
            "properties": {
                "city": {"type": "string", "description": "City", "format": "uri", "minLength": 1},
                "when": {"type": "string", "format": "date-time"},
                "days": {"type": ["integer", "null"], "minimum": 1, "exclusiveMaximum": 30},
                "unit": {"enum": ["c", "f"]},
                "mode": {"const": "fast"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "opt": {"anyOf": [{"type": "string"}, {"type": "null"}]}
            },
            "required": ["city"]
        });
        let g = to_gemini(&s, "tools[0].parameters").unwrap();
        assert_eq!(
            g,
            json!({
                "type": "OBJECT",
                "properties": {
                    "city": {"type": "STRING", "description": "City", "minLength": 1},
                    "when": {"type": "STRING", "format": "date-time"},
                    "days": {"type": "INTEGER", "minimum": 1, "nullable": true},
                    "unit": {"type": "STRING", "format": "enum", "enum": ["c", "f"]},
                    "mode": {"type": "STRING", "format": "enum", "enum": ["fast"]},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 3},
                    "either": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]},
                    "opt": {"type": "STRING", "nullable": true}
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn refs_are_inlined_and_recursion_is_refused() {
        let s = json!({
            "type": "object",
            "properties": {"home": {"$ref": "#/$defs/addr", "description": "Home"}},
            "$defs": {"addr": {"type": "object", "properties": {"zip": {"type": "string"}}}}
        });
        let g = to_gemini(&s, "p").unwrap();
        assert_eq!(
            g["properties"]["home"],
            json!({"type": "OBJECT", "properties": {"zip": {"type": "STRING"}}, "description": "Home"})
        );
        let rec = json!({"type": "object", "properties": {"next": {"$ref": "#"}}});
        let e = to_gemini(&rec, "tools[1].parameters").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[1].parameters"));
        let dangling = json!({"properties": {"x": {"$ref": "#/$defs/nope"}}});
        assert!(
            to_gemini(&dangling, "p")
                .unwrap_err()
                .message
                .contains("#/$defs/nope")
        );
    }

    #[test]
    fn all_of_merges() {
        let s = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}
        ]});
        let g = to_gemini(&s, "p").unwrap();
        assert_eq!(g["type"], "OBJECT");
        assert_eq!(g["properties"]["b"]["type"], "BOOLEAN");
        assert_eq!(g["required"], json!(["a", "b"]));
    }
}
