//! intake's routes and its OpenAPI document.

pub mod admin;
pub mod regions;

use axum::Router;
use axum::routing::{delete, get, post};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/regions", get(regions::list))
        .route("/api/v1/admin/whoami", get(admin::whoami))
        .route(
            "/api/v1/admin/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/api/v1/admin/tokens/{id}", delete(admin::revoke_token))
        .route("/api/v1/admin/places", post(admin::add_place))
        .route("/api/v1/admin/audit", get(admin::audit_log))
        .with_state(state)
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "nasvyazi intake", description = "Public JSON API and admin API of nasvyazi."),
    paths(
        nasvyazi_shared::http::healthz,
        nasvyazi_shared::http::readyz,
        nasvyazi_shared::http::metrics,
        regions::list,
        admin::whoami,
        admin::create_token,
        admin::list_tokens,
        admin::revoke_token,
        admin::add_place,
        admin::audit_log,
    ),
    components(schemas(nasvyazi_shared::error::ErrorBody, nasvyazi_shared::error::ErrorDetail)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
