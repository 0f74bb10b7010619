//! Type coercion for string-valued inputs (query, path, headers): a value
//! becomes an integer, number or boolean when the top-level property's schema
//! declares that type (`type: integer`, `type: [integer, "null"]`, or
//! `type: array` with `items.type`). `$ref`s are not followed.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Types a property accepts, as far as coercion cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Types {
    integer: bool,
    number: bool,
    boolean: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Scalar(Types),
    /// An array whose items have these types.
    Array(Types),
}

fn types(schema: &Value) -> (Types, bool) {
    let mut t = Types::default();
    let mut array = false;
    let mut add = |name: &str| match name {
        "integer" => t.integer = true,
        "number" => t.number = true,
        "boolean" => t.boolean = true,
        "array" => array = true,
        _ => {}
    };
    match schema.get("type") {
        Some(Value::String(s)) => add(s),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).for_each(add),
        _ => {}
    }
    (t, array)
}

/// The shape of each property declared in `schema.properties`.
pub fn shapes(schema: &Value) -> HashMap<String, Shape> {
    let mut out = HashMap::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for (name, prop) in props {
        let (t, array) = types(prop);
        let shape = if array {
            Shape::Array(prop.get("items").map(|i| types(i).0).unwrap_or_default())
        } else {
            Shape::Scalar(t)
        };
        out.insert(name.clone(), shape);
    }
    out
}

fn coerce(s: &str, t: Types) -> Value {
    if t.integer
        && let Ok(i) = s.parse::<i64>()
    {
        return Value::from(i);
    }
    if t.number
        && let Ok(f) = s.parse::<f64>()
        && f.is_finite()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    if t.boolean {
        match s {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(s.to_string())
}

/// Build the object from `(name, value)` pairs in order. A name given more
/// than once, or declared `type: array`, becomes an array.
pub fn object<'a>(
    pairs: impl IntoIterator<Item = (String, &'a str)>,
    shapes: Option<&HashMap<String, Shape>>,
) -> Value {
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (k, v) in pairs {
        match index.get(&k) {
            Some(&i) => grouped[i].1.push(v),
            None => {
                index.insert(k.clone(), grouped.len());
                grouped.push((k, vec![v]));
            }
        }
    }
    let mut map = Map::new();
    for (k, vals) in grouped {
        let shape = shapes.and_then(|s| s.get(&k)).copied();
        let value = match (shape, vals.as_slice()) {
            (Some(Shape::Array(t)), _) => Value::Array(vals.iter().map(|v| coerce(v, t)).collect()),
            (Some(Shape::Scalar(t)), [one]) => coerce(one, t),
            (None, [one]) => Value::String((*one).to_string()),
            (Some(Shape::Scalar(_)) | None, _) => Value::Array(
                vals.iter()
                    .map(|v| Value::String((*v).to_string()))
                    .collect(),
            ),
        };
        map.insert(k, value);
    }
    Value::Object(map)
}
