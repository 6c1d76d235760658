//! The problem+json answers of the routes, as their OpenAPI `responses(...)` declare them:
//! each route names its statuses once with what each means there; the response's shape
//! (a `Problem` body as `application/problem+json`) is written here only.

use std::collections::BTreeMap;

use utoipa::ToSchema;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

use crate::http::problem::{CONTENT_TYPE, Problem};

/// What a 401 means on every route, so routes name the status alone.
pub const UNAUTHENTICATED: &str = "Missing or invalid credentials";

/// How a route's failures are shaped.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// `application/problem+json`, a `Problem`: every route but the package managers' own.
    Problem,
    /// `application/json` `{"error": "…"}`, what npm prints (`client_pages::client_errors`).
    NpmError,
    /// `application/json` `{"errors": [{"detail": "…"}]}`, what cargo prints.
    CargoErrors,
}

/// The responses of `(status, description)` pairs, each a `Problem` body.
pub fn responses(problems: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    shaped(Shape::Problem, problems)
}

/// The responses of `(status, description)` pairs, in `shape`.
pub fn shaped(shape: Shape, problems: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    problems
        .iter()
        .map(|(status, description)| {
            let (content_type, content) = match shape {
                Shape::Problem => (
                    CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(Problem::name())))
                        .build(),
                ),
                Shape::NpmError => (
                    "application/json",
                    ContentBuilder::new().schema(Some(npm_error())).build(),
                ),
                Shape::CargoErrors => (
                    "application/json",
                    ContentBuilder::new().schema(Some(cargo_errors())).build(),
                ),
            };
            let response = ResponseBuilder::new()
                .description(*description)
                .content(content_type, content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

fn cargo_errors() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let detail = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "detail",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Why, as cargo prints it")),
        )
        .required("detail");
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "errors",
            ArrayBuilder::new().items(detail).max_items(Some(1)),
        )
        .required("errors")
        .build()
}

fn npm_error() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Why, as npm prints it after the status line")),
        )
        .required("error")
        .build()
}

/// The shape the failures of the route at `path` take (`client_pages::client_errors`
/// rewrites every problem under a package manager's prefix).
pub fn shape_of(path: &str) -> Shape {
    if path.starts_with(super::npm::PREFIX) {
        Shape::NpmError
    } else if path.starts_with(super::cargo::PREFIX) {
        Shape::CargoErrors
    } else {
        Shape::Problem
    }
}

/// What the router's own layers may answer on any route, whatever its handler does: the
/// guard (rate limits and failed logins, credentials, permissions and network policy), the
/// extractors (path, query and body), the body limit and the table's circuit breaker.
/// Added to each operation of `doc` that does not name the status itself, in the route's
/// shape, so a route's `responses(...)` names only what its handler means.
pub fn add_router_answers(doc: &mut utoipa::openapi::OpenApi) {
    for (path, op) in crate::http::operations_mut(doc) {
        let shape = shape_of(path);
        // `security(())`: the route takes no credential.
        let public = op
            .security
            .as_ref()
            .is_some_and(|s| serde_json::to_value(s).is_ok_and(|v| v == serde_json::json!([{}])));
        let has_input =
            op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
        let mut answers: Vec<(u16, &str)> = vec![
            (
                429,
                "Too many requests: the tenant's rate limit, or failed logins from this address; `Retry-After` says when to try again",
            ),
            (
                503,
                "The table is unavailable for a moment; `Retry-After` says when to try again",
            ),
        ];
        if has_input {
            answers.push((400, "Invalid input"));
        }
        if !public {
            answers.push((401, UNAUTHENTICATED));
            answers.push((
                403,
                "The caller's grants or the tenant's network policy refuse it",
            ));
        }
        if let Some(body) = &op.request_body {
            answers.push((413, "Body too large"));
            // The JSON extractor (`http::extract::Json`): the media type, then the schema.
            if body.content.contains_key("application/json") {
                answers.push((
                    415,
                    "Send the body as JSON (`content-type: application/json`)",
                ));
                answers.push((422, "The JSON does not fit the request's schema"));
            }
        }
        let missing: Vec<(u16, &str)> = answers
            .into_iter()
            .filter(|(status, _)| !op.responses.responses.contains_key(&status.to_string()))
            .collect();
        op.responses.responses.extend(shaped(shape, &missing));
    }
}

/// `problems!(Name: 400 "Invalid input", 401, 404 "No such repository")` declares `Name`, a
/// type to list in a route's `responses(...)`. Only 401 may go without a description.
macro_rules! problems {
    ($name:ident: $($status:tt $($description:literal)?),+ $(,)?) => {
        $crate::http::routes::problems::problems!(
            $name as Problem: $($status $($description)?),+
        );
    };
    ($name:ident as $shape:ident: $($status:tt $($description:literal)?),+ $(,)?) => {
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::http::routes::problems::shaped(
                    $crate::http::routes::problems::Shape::$shape,
                    &[$((
                        $status,
                        $crate::http::routes::problems::problems!(@describe $status $($description)?),
                    )),+],
                )
            }
        }
    };
    (@describe $status:tt $description:literal) => { $description };
    (@describe 401) => { $crate::http::routes::problems::UNAUTHENTICATED };
}
pub(crate) use problems;

#[cfg(test)]
mod tests {
    use utoipa::IntoResponses;

    problems!(Example: 401, 404 "No such thing");
    problems!(ForNpm as NpmError: 404 "No such package");

    #[test]
    fn npm_routes_document_the_error_member_npm_prints() {
        let responses = serde_json::to_value(ForNpm::responses()).expect("serialises");
        let schema = &responses["404"]["content"]["application/json"]["schema"];
        assert_eq!(
            schema["properties"]["error"]["type"], "string",
            "{responses}"
        );
        assert_eq!(schema["required"], serde_json::json!(["error"]));
    }

    #[test]
    fn each_status_is_a_problem_body_with_its_description() {
        let responses = serde_json::to_value(Example::responses()).expect("serialises");
        assert_eq!(
            responses,
            serde_json::json!({
                "401": {
                    "description": "Missing or invalid credentials",
                    "content": {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}
                    }}
                },
                "404": {
                    "description": "No such thing",
                    "content": {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}
                    }}
                }
            })
        );
    }
}
