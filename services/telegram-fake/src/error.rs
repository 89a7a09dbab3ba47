//! The Bot API's answer envelope: `{"ok":true,"result":...}` or
//! `{"ok":false,"error_code":N,"description":"...","parameters":{...}}`,
//! with the HTTP status equal to `error_code`, as Telegram answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A refusal, with Telegram's own description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The error_code and HTTP status.
    pub code: u16,
    /// The description, e.g. `Bad Request: chat not found`.
    pub description: String,
    /// `parameters.retry_after` of a 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, description: String) -> ApiError {
        ApiError {
            code,
            description,
            retry_after: None,
        }
    }

    /// 400 `Bad Request: {what}`.
    pub fn bad_request(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(400, format!("Bad Request: {what}"))
    }

    /// 401 `Unauthorized`: the token is not a bot's.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized".into())
    }

    /// 403 `Forbidden: {what}`.
    pub fn forbidden(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(403, format!("Forbidden: {what}"))
    }

    /// 404 `Not Found`: no such method.
    pub fn not_found() -> ApiError {
        ApiError::new(404, "Not Found".into())
    }

    /// 413 `Request Entity Too Large`: an upload over 50 MB.
    pub fn too_large() -> ApiError {
        ApiError::new(413, "Request Entity Too Large".into())
    }

    /// 409 `Conflict: {what}`.
    pub fn conflict(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(409, format!("Conflict: {what}"))
    }

    /// 429 `Too Many Requests: retry after N`.
    pub fn too_many_requests(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(429, format!("Too Many Requests: retry after {retry_after}"))
        }
    }

    /// The JSON body Telegram sends.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "ok": false,
            "error_code": self.code,
            "description": self.description,
        });
        if let Some(retry_after) = self.retry_after {
            body["parameters"] = json!({"retry_after": retry_after});
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.to_json())).into_response()
    }
}

/// A successful answer: the result, and the description some methods add
/// (setWebhook: "Webhook was set").
#[derive(Clone, Debug, PartialEq)]
pub struct Success {
    /// The `result` field.
    pub result: Value,
    /// The optional `description` field.
    pub description: Option<&'static str>,
}

impl Success {
    /// A result without a description.
    pub fn of(result: Value) -> Success {
        Success {
            result,
            description: None,
        }
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let mut body = json!({"ok": true, "result": self.result});
        if let Some(description) = self.description {
            body["description"] = json!(description);
        }
        axum::Json(body).into_response()
    }
}
