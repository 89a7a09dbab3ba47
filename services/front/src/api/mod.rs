//! The JSON API (public and admin) and the two listeners' routers: each
//! feature mounts its handlers from their own `#[utoipa::path]`
//! (`routes!`), so the OpenAPI document is built from what is mounted;
//! the public pages and the bot's webhook, which the document does not
//! list, are a table beside it.

pub mod admin;
pub mod admin_appeals;
pub mod admin_campaigns;
pub mod admin_letters;
pub mod admin_officials;
pub mod appeals;
pub mod regions;
pub mod subscriptions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::AppState;
use crate::pages::{self, subscribe as page};

/// A part of the JSON API: each route is mounted by `routes!(handler)`
/// from the handler's own `#[utoipa::path]` (its method and path), so the
/// router and the OpenAPI document are one list and cannot disagree.
pub type Api = OpenApiRouter<AppState>;

/// `route` with a body limit of `bytes` instead of the default (a form
/// with a long text, an upload).
pub fn body_limit(
    route: UtoipaMethodRouter<AppState>,
    bytes: usize,
) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, methods) = route;
    (schemas, paths, methods.layer(DefaultBodyLimit::max(bytes)))
}

/// Appeal bodies may be larger than the default limit (10,000 Cyrillic
/// characters, percent-encoded).
const APPEAL_BODY: usize = 256 * 1024;

/// What the public listener serves: pages, the public JSON API and the
/// Telegram webhook. Nothing under `/admin` or `/api/v1/admin`.
pub fn public_router(state: AppState) -> Router {
    let (api, _) = public_api().split_for_parts();
    pages_table()
        .into_iter()
        .fold(api, |r, (path, methods)| r.route(path, methods))
        .with_state(state)
}

/// Every public path, pages and API (what a test walks to check the
/// security headers).
pub fn public_paths() -> Vec<String> {
    let mut paths: Vec<String> = pages_table()
        .into_iter()
        .map(|(path, _)| path.to_string())
        .collect();
    paths.extend(public_api().into_openapi().paths.paths.into_keys());
    paths
}

/// The public JSON API.
fn public_api() -> Api {
    OpenApiRouter::new()
        .routes(routes!(regions::list))
        .routes(routes!(subscriptions::list_topics))
        .routes(routes!(subscriptions::create))
        .routes(body_limit(routes!(appeals::create), APPEAL_BODY))
        .routes(routes!(appeals::status))
        .routes(body_limit(routes!(appeals::add_information), APPEAL_BODY))
        .routes(routes!(appeals::list_sites))
        .routes(routes!(crate::limits::challenge))
        .merge(crate::consultations::api::public_api())
        .merge(crate::surveys::public_api())
}

/// The public pages (and the webhook), which the API document does not
/// list, as a table: the router is built from it, so the list of paths can
/// never miss one.
fn pages_table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut routes = public_routes();
    routes.extend(crate::consultations::pages::routes());
    routes.extend(crate::surveys::public_routes());
    routes
}

/// The public routes as a table: the router is built from it, so the list
/// of paths can never miss one.
fn public_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    use crate::pages::token_link::{confirm_page, confirm_submit};
    use crate::pages::{appeal as form, letters as letter};
    use nasvyazi_letters::signatures::Signatures;
    use nasvyazi_supporters::subscriptions::Contacts;
    let limit = || DefaultBodyLimit::max(APPEAL_BODY);
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
        (
            crate::bot::webhook::PATH,
            post(crate::bot::webhook::receive),
        ),
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
    staff_api().split_for_parts().0.with_state(state)
}

/// The admin JSON API.
fn staff_api() -> Api {
    OpenApiRouter::new()
        .merge(admin_appeals::routes())
        .merge(admin_letters::routes())
        .merge(crate::media::routes())
        .merge(crate::surveys::routes())
        .merge(crate::polls::routes())
        .merge(crate::consultations::api::staff_api())
        .merge(admin::routes())
        .merge(admin_campaigns::routes())
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

/// The document's frame: its title, the bearer scheme, the error body,
/// and the health and metrics paths every service serves
/// (`nasvyazi_shared::http::basics_router`, mounted beside these routers).
#[derive(OpenApi)]
#[openapi(
    info(title = "nasvyazi front", description = "Public JSON API and admin API of nasvyazi."),
    paths(
        nasvyazi_shared::http::healthz,
        nasvyazi_shared::http::readyz,
        nasvyazi_shared::http::metrics,
    ),
    components(schemas(nasvyazi_shared::error::ErrorBody, nasvyazi_shared::error::ErrorDetail)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// The OpenAPI document: the frame, and what the routers mount.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(public_api().into_openapi());
    doc.merge(staff_api().into_openapi());
    doc
}
