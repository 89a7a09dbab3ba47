//! front's routes and its OpenAPI document.

pub mod admin;
pub mod admin_appeals;
pub mod admin_campaigns;
pub mod admin_letters;
pub mod admin_officials;
pub mod appeals;
pub mod regions;
pub mod subscriptions;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};

use crate::pages::{self, subscribe as page};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;

/// What the public listener serves: pages, the public JSON API and the
/// Telegram webhook. Nothing under `/admin` or `/api/v1/admin`.
pub fn public_router(state: AppState) -> Router {
    all_public_routes()
        .into_iter()
        .fold(Router::new(), |r, (path, methods)| r.route(path, methods))
        .with_state(state)
}

/// Every public path (what a test walks to check the security headers).
pub fn public_paths() -> Vec<&'static str> {
    all_public_routes()
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

/// The table below and the consultations' public routes.
fn all_public_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut routes = public_routes();
    routes.extend(crate::consultations::api::public_routes());
    routes.extend(crate::consultations::pages::routes());
    routes.extend(crate::surveys::public_routes());
    routes
}

/// The public routes as a table: the router is built from it, so the list
/// of paths can never miss one.
fn public_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    use crate::pages::token_link::{confirm_page, confirm_submit};
    use crate::pages::{appeal as form, letters as letter};
    use axum::extract::DefaultBodyLimit;
    use nasvyazi_letters::signatures::Signatures;
    use nasvyazi_supporters::subscriptions::Contacts;
    // Appeal bodies may be larger than the default limit (10,000 Cyrillic
    // characters, percent-encoded).
    let limit = || DefaultBodyLimit::max(256 * 1024);
    vec![
        ("/", get(page::home)),
        ("/static/site.css", get(pages::stylesheet)),
        (
            "/subscribe",
            get(page::subscribe_form).post(page::subscribe_submit),
        ),
        (
            "/confirm/{token}",
            get(confirm_page::<Contacts>).post(confirm_submit::<Contacts>),
        ),
        (
            "/u/{token}",
            get(page::unsubscribe_page).post(page::unsubscribe_submit),
        ),
        (
            "/forget/{token}",
            get(page::unsubscribe_page).post(page::forget_submit),
        ),
        ("/api/v1/regions", get(regions::list)),
        ("/api/v1/topics", get(subscriptions::list_topics)),
        (
            crate::telegram::webhook::PATH,
            post(crate::telegram::webhook::receive),
        ),
        ("/api/v1/subscriptions", post(subscriptions::create)),
        (
            "/appeal",
            get(form::appeal_form)
                .post(form::appeal_submit)
                .layer(limit()),
        ),
        (
            "/appeal/status",
            get(form::status_form).post(form::status_submit),
        ),
        ("/appeal/status/add", post(form::add_submit).layer(limit())),
        ("/api/v1/appeals", post(appeals::create).layer(limit())),
        ("/api/v1/appeals/status", post(appeals::status)),
        (
            "/api/v1/appeals/information",
            post(appeals::add_information).layer(limit()),
        ),
        ("/api/v1/sites", get(appeals::list_sites)),
        ("/api/v1/challenge", get(crate::limits::challenge)),
        (
            "/letters/{slug}",
            get(letter::sign_form).post(letter::sign_submit),
        ),
        (
            "/letters/confirm/{token}",
            get(confirm_page::<Signatures>).post(confirm_submit::<Signatures>),
        ),
        (
            "/letters/withdraw/{token}",
            get(letter::withdraw_page).post(letter::withdraw_submit),
        ),
        (
            "/appeal/forget/{token}",
            get(pages::forget::appeal_page).post(pages::forget::appeal_submit),
        ),
        (
            "/letters/forget/{token}",
            get(pages::forget::signer_page).post(pages::forget::signer_submit),
        ),
    ]
}

/// The admin API, served on the console listener only.
pub fn staff_router(state: AppState) -> Router {
    Router::new()
        .merge(staff_appeal_routes())
        .merge(admin_letters::routes())
        .merge(crate::media::routes())
        .merge(crate::surveys::routes())
        .merge(crate::polls::routes())
        .merge(crate::consultations::api::staff_routes())
        .route(
            "/api/v1/admin/conversations-stats",
            get(crate::consultations::retention::stats),
        )
        .route("/api/v1/admin/whoami", get(admin::whoami))
        .route(
            "/api/v1/admin/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/api/v1/admin/tokens/{id}", delete(admin::revoke_token))
        .route("/api/v1/admin/places", post(admin::add_place))
        .route("/api/v1/admin/audit", get(admin::audit_log))
        .route(
            "/api/v1/admin/campaigns",
            post(admin_campaigns::create).get(admin_campaigns::list),
        )
        .route(
            "/api/v1/admin/campaigns/{id}",
            get(admin_campaigns::get_one).put(admin_campaigns::update),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/approve",
            post(admin_campaigns::approve),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/pause",
            post(admin_campaigns::pause),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/resume",
            post(admin_campaigns::resume),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/cancel",
            post(admin_campaigns::cancel),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/preview",
            post(admin_campaigns::preview),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/test-send",
            post(admin_campaigns::test_send),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/progress",
            get(admin_campaigns::progress),
        )
        .route(
            "/api/v1/admin/campaigns/{id}/resend-failed",
            post(admin_campaigns::resend_failed),
        )
        .route(
            "/api/v1/admin/awareness-days",
            get(admin_campaigns::days).post(admin_campaigns::add_day),
        )
        .with_state(state)
}

/// Appeals: the caseworkers' API.
fn staff_appeal_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/appeals", get(admin_appeals::list))
        .route("/api/v1/admin/appeals/stats", get(admin_appeals::stats))
        .route(
            "/api/v1/admin/appeals/stats.csv",
            get(admin_appeals::stats_csv),
        )
        .route("/api/v1/admin/appeals/{id}", get(admin_appeals::read))
        .route(
            "/api/v1/admin/appeals/{id}/assign",
            post(admin_appeals::assign),
        )
        .route(
            "/api/v1/admin/appeals/{id}/notes",
            post(admin_appeals::add_note),
        )
        .route(
            "/api/v1/admin/appeals/{id}/status",
            post(admin_appeals::set_status),
        )
        .route(
            "/api/v1/admin/appeals/{id}/forward",
            post(admin_appeals::forward),
        )
        .route(
            "/api/v1/admin/sites",
            get(admin_appeals::list_sites).post(admin_appeals::add_site),
        )
        .route(
            "/api/v1/admin/sites/{code}",
            delete(admin_appeals::deactivate_site),
        )
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
    info(title = "nasvyazi front", description = "Public JSON API and admin API of nasvyazi."),
    paths(
        nasvyazi_shared::http::healthz,
        nasvyazi_shared::http::readyz,
        nasvyazi_shared::http::metrics,
        regions::list,
        subscriptions::list_topics,
        subscriptions::create,
        appeals::create,
        appeals::status,
        appeals::add_information,
        appeals::list_sites,
        crate::limits::challenge,
        admin_appeals::list,
        admin_appeals::read,
        admin_appeals::assign,
        admin_appeals::add_note,
        admin_appeals::set_status,
        admin_appeals::forward,
        admin_appeals::stats,
        admin_appeals::stats_csv,
        admin_appeals::list_sites,
        admin_appeals::add_site,
        admin_appeals::deactivate_site,
        admin::whoami,
        admin::create_token,
        admin::list_tokens,
        admin::revoke_token,
        admin::add_place,
        admin::audit_log,
        admin_campaigns::create,
        admin_campaigns::list,
        admin_campaigns::get_one,
        admin_campaigns::update,
        admin_campaigns::approve,
        admin_campaigns::pause,
        admin_campaigns::resume,
        admin_campaigns::cancel,
        admin_campaigns::preview,
        admin_campaigns::test_send,
        admin_campaigns::progress,
        admin_campaigns::resend_failed,
        admin_campaigns::days,
        admin_campaigns::add_day,
    ),
    components(schemas(nasvyazi_shared::error::ErrorBody, nasvyazi_shared::error::ErrorDetail)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(admin_letters::openapi());
    doc.merge(crate::media::openapi());
    doc.merge(crate::consultations::api::openapi());
    doc.merge(crate::surveys::openapi());
    doc.merge(crate::polls::openapi());
    doc
}
