//! OpenAPI document finishing touches shared by every service: the error
//! responses any operation can give (malformed input, wrong media type, too
//! large, invalid, rate limited, internal) are documented everywhere, with
//! the one JSON error body, so that clients and fuzzers see the contract
//! the server keeps.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

fn error_response(description: &str) -> RefOr<Response> {
    let mut r = Response::new(description);
    r.content.insert(
        "application/json".to_string(),
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    );
    RefOr::T(r)
}

fn add(op: &mut Operation, code: &str, description: &str) {
    op.responses
        .responses
        .entry(code.to_string())
        .or_insert_with(|| error_response(description));
}

/// Adds the common error responses to every operation.
pub fn add_common_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let has_body = op.request_body.is_some();
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            if has_body || has_params {
                add(
                    op,
                    "400",
                    "malformed request (unreadable JSON, a bad path or query value)",
                );
                add(
                    op,
                    "422",
                    "the request is well-formed but a value is not acceptable",
                );
            }
            if has_body {
                add(op, "413", "the request body is too large");
                add(op, "415", "expected Content-Type: application/json");
            }
            if secured {
                add(op, "401", "a valid bearer token is required");
                add(op, "403", "this token's role may not do this");
            }
            add(
                op,
                "500",
                "internal error (details are in the server log only)",
            );
            add(
                op,
                "503",
                "the request took too long, or a dependency is unavailable",
            );
        }
    }
}
