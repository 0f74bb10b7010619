//! `GET /v1/models` and `GET /v1/models/{id}`: the models callers of this
//! route may use, in OpenAI's list shape.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::error::{AiError, ErrorClass};
use crate::route::{AiBody, Call, json_response};

fn entry(id: &str, owner: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
}

/// Every model id the route allows: public names and aliases, and
/// `provider/model` for the catalog models of each allowed provider.
fn listing(call: &Call<'_>) -> Vec<Value> {
    let engine = &call.route.engine;
    let mut out = Vec::new();
    for (name, aliases) in &engine.public {
        for id in std::iter::once(name).chain(aliases) {
            if call.allows(id) {
                out.push(entry(id, "pylon"));
            }
        }
    }
    let mut providers: Vec<_> = engine.providers.values().collect();
    providers.sort_by(|a, b| a.name().cmp(b.name()));
    for p in providers {
        let mut ids: Vec<&str> = engine
            .catalog
            .of_kind(p.adapter.kind())
            .map(|m| m.id.as_str())
            .collect();
        ids.sort_unstable();
        for id in ids {
            let full = format!("{}/{id}", p.name());
            if call.allows(&full) {
                out.push(entry(&full, p.adapter.kind()));
            }
        }
    }
    out
}

pub fn handle(call: Call<'_>, id: Option<&str>) -> Result<Response<AiBody>, AiError> {
    let all = listing(&call);
    match id {
        None => Ok(json_response(
            StatusCode::OK,
            &json!({"object": "list", "data": all}),
        )),
        Some(id) => all
            .into_iter()
            .find(|m| m["id"] == id)
            .map(|m| json_response(StatusCode::OK, &m))
            .ok_or_else(|| {
                AiError::new(
                    ErrorClass::NotFound,
                    format!("the model `{id}` does not exist or you do not have access to it"),
                )
                .with_code("model_not_found")
            }),
    }
}
