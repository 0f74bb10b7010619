//! The OpenAPI paths of the generic collections, generated from [`COLLECTIONS`] so the
//! document lists exactly the collection endpoints the router serves.

use utoipa::Modify;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};

use crate::collections::{COLLECTIONS, Collection};

fn object() -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(Type::Object).build())
}

fn typed(t: Type) -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(t).build())
}

/// `{etag, tenant, item, related?, once?}`.
fn envelope() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("etag", typed(Type::String))
            .property("tenant", typed(Type::String))
            .property("item", object())
            .property("related", object())
            .property("once", object())
            .required("etag")
            .required("tenant")
            .required("item")
            .build(),
    )
}

fn page() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "items",
                ArrayBuilder::new().items(RefOr::T(envelope())).build(),
            )
            .property("page", typed(Type::Integer))
            .property("per_page", typed(Type::Integer))
            .property("total", typed(Type::Integer))
            .required("items")
            .required("total")
            .build(),
    )
}

fn json(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

fn path_param(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(typed(Type::String)))
        .build()
}

fn query_param(name: &str, t: Type, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(typed(t)))
        .build()
}

/// An operation with the parameters, responses and security every collection call shares.
fn operation(c: &Collection, summary: String, codes: &[(&str, &str)]) -> OperationBuilder {
    let mut op = OperationBuilder::new()
        .tag("objects")
        .summary(Some(summary))
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    if let Some(p) = c.parent {
        op = op.parameter(path_param("parent", &format!("the {}'s {}", p.kind, p.key)));
    }
    for (code, description) in codes {
        op = op.response(*code, json(description, Ref::from_schema_name("ErrorBody")));
    }
    op
}

fn body(c: &Collection) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .description(Some(format!(
            "a `{}` item of the config document (see docs/configuration.md)",
            c.dotted(None)
        )))
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(object())).build(),
        )
        .required(Some(Required::True))
        .build()
}

fn if_match() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("If-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some("the object's ETag; required (428 without it)"))
        .schema(Some(typed(Type::String)))
        .build()
}

const READ: &[(&str, &str)] = &[
    ("400", "malformed parameters"),
    ("401", "no or bad token"),
    ("404", "no such object (or its tenant is not yours)"),
];
const WRITE: &[(&str, &str)] = &[
    ("400", "malformed body or parameters"),
    ("401", "no or bad token"),
    ("403", "your role does not allow it"),
    ("404", "no such object (or its tenant is not yours)"),
    (
        "409",
        "the name is taken, a lifecycle transition is not allowed, or the config is file-managed",
    ),
    ("412", "stale If-Match (or the draft kept moving)"),
    ("422", "invalid: every failing field path in `details`"),
    ("428", "If-Match missing"),
];

fn list_op(c: &Collection) -> Operation {
    let mut op = operation(c, format!("List {} objects", c.kind), READ)
        .parameter(query_param(
            "page",
            Type::Integer,
            "1-based page (default 1)",
        ))
        .parameter(query_param(
            "per_page",
            Type::Integer,
            "items per page, 1..=1000 (default 50)",
        ));
    for f in c.filters {
        op = op.parameter(query_param(
            f,
            Type::String,
            "only items whose field equals this",
        ));
    }
    op.response("200", json("`{items, page, per_page, total}`", page()))
        .build()
}

fn item_op(c: &Collection, summary: String, codes: &[(&str, &str)]) -> OperationBuilder {
    operation(c, summary, codes)
        .parameter(path_param("key", &format!("the {}'s {}", c.kind, c.key)))
}

pub(crate) struct Collections;

impl Modify for Collections {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for c in COLLECTIONS {
            let list = format!("/api/v1{}", c.list_url());
            let item = format!("/api/v1{}", c.item_url());
            api.paths
                .add_path_operation(&list, vec![HttpMethod::Get], list_op(c));
            let create = operation(c, format!("Create a {}", c.kind), WRITE)
                .request_body(Some(body(c)))
                .response(
                    "201",
                    json(
                        "created: the envelope (`once` holds a generated key)",
                        envelope(),
                    ),
                )
                .build();
            api.paths
                .add_path_operation(&list, vec![HttpMethod::Post], create);
            let get = item_op(c, format!("Get a {}", c.kind), READ)
                .response(
                    "200",
                    json("the envelope; ETag is the object's", envelope()),
                )
                .build();
            api.paths
                .add_path_operation(&item, vec![HttpMethod::Get], get);
            let put = item_op(c, format!("Replace a {}", c.kind), WRITE)
                .parameter(if_match())
                .request_body(Some(body(c)))
                .response("200", json("the new envelope", envelope()))
                .build();
            api.paths
                .add_path_operation(&item, vec![HttpMethod::Put], put);
            let delete = item_op(c, format!("Delete a {}", c.kind), WRITE)
                .parameter(if_match())
                .response("204", ResponseBuilder::new().description("deleted").build())
                .build();
            api.paths
                .add_path_operation(&item, vec![HttpMethod::Delete], delete);
        }
    }
}
