//! The organisers' console at `/admin`: server-rendered pages in ru / kk /
//! en (the person's language), usable on a 360-pixel phone and without
//! JavaScript (a small script of our own only refreshes counts), under a
//! strict Content-Security-Policy. It is how the organisation runs the
//! system; the JSON admin API stays for integrators, and both call the same
//! domain functions (campaigns, appeals, letters, subscriptions).
//!
//! People sign in separately from API tokens (`console_users`): a password
//! (argon2id) with an optional TOTP second factor, or a one-time link by
//! email; sessions live in `HttpOnly; Secure; SameSite=Strict` cookies;
//! every form carries a CSRF token bound to the session; repeated failures
//! lock the account and the client address out with back-off. Roles are the
//! API's. Every change is audited as `user:<id>`.
//!
//! It must never show or log a secret (password, TOTP secret, token), log
//! what a person typed, or show a supporter's address.

pub mod account;
pub mod admin;
pub mod appeals;
pub mod campaigns;
pub mod canned;
pub mod channels_page;
pub mod conversations;
pub mod dashboard;
pub mod letters;
pub mod mail_check;
pub mod media;
pub mod page;
pub mod polls;
pub mod posts_page;
pub mod session;
pub mod sign_in;
pub mod supporters;
pub mod surveys;
pub mod words;

// The console's users, their TOTP and the sign-in back-off are the staff
// domain's (`nasvyazi-staff`); the pages here adapt them.
pub use nasvyazi_staff::{throttle, totp, users};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;

/// What the console keeps in memory: the per-address lock-out.
#[derive(Default)]
pub struct ConsoleState {
    pub throttle: throttle::AddressThrottle,
}

pub use nasvyazi_shared::crypto::ct_eq;

/// The console's templates, added to the page environment.
pub fn add_templates(env: &mut minijinja::Environment<'static>) {
    macro_rules! t {
        ($($name:literal),* $(,)?) => {
            [$(($name, include_str!(concat!("../../templates/", $name)))),*]
        };
    }
    for (name, src) in t![
        "console/base.html",
        "console/progress.html",
        "console/count.html",
        "console/problem.html",
        "console/sign_in.html",
        "console/sign_in_code.html",
        "console/sign_in_link.html",
        "console/unlock.html",
        "console/dashboard.html",
        "console/account.html",
        "console/users.html",
        "console/campaigns.html",
        "console/campaign_new.html",
        "console/campaign.html",
        "console/campaign_schedule.html",
        "console/campaign_audience.html",
        "console/campaign_texts.html",
        "console/appeals.html",
        "console/appeal.html",
        "console/appeal_stats.html",
        "console/supporters.html",
        "console/audit.html",
        "console/settings.html",
        "console/officials.html",
        "console/letters.html",
        "console/letter.html",
        "console/letter_edit.html",
        "console/conversations.html",
        "console/conversation.html",
        "console/canned.html",
        "console/polls.html",
        "console/media.html",
        "console/chats.html",
        "console/campaign_posts.html",
        "console/campaign_post.html",
        "console/campaign_post_delete.html",
    ] {
        env.add_template(name, src)
            .expect("console template parses");
    }
    surveys::add_templates(env);
}

/// Every `/admin` route, behind [`page::layer`].
pub fn routes(state: AppState) -> Router<AppState> {
    use campaigns as c;
    Router::new()
        .route("/admin", get(dashboard::page))
        .route("/admin/", get(dashboard::page))
        .route("/admin/sign-in", get(sign_in::form).post(sign_in::password))
        .route(
            "/admin/sign-in/code",
            get(sign_in::code_form).post(sign_in::code),
        )
        .route("/admin/sign-in/link", post(sign_in::request_link))
        .route(
            "/admin/sign-in/link/{token}",
            get(sign_in::link_page).post(sign_in::link_use),
        )
        .route(
            "/admin/unlock/{token}",
            get(sign_in::unlock_page).post(sign_in::unlock_use),
        )
        .route("/admin/sign-out", post(sign_in::sign_out))
        .route("/admin/language", post(account::language))
        .route("/admin/account", get(account::page))
        .route("/admin/account/password", post(account::password))
        .route("/admin/account/totp", post(account::totp))
        .route(
            "/admin/account/sign-out-everywhere",
            post(account::sign_out_everywhere),
        )
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}/disable", post(admin::disable_user))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/settings", get(admin::settings))
        .route("/admin/campaigns", get(c::list))
        .route("/admin/campaigns/new", get(c::new_form).post(c::create))
        .route("/admin/campaigns/{id}", get(c::overview))
        .route(
            "/admin/campaigns/{id}/schedule",
            get(c::edit::schedule_form).post(c::edit::schedule_save),
        )
        .route(
            "/admin/campaigns/{id}/audience",
            get(c::edit::audience_form).post(c::edit::audience_save),
        )
        .route(
            "/admin/campaigns/{id}/audience/count",
            get(c::edit::count_fragment),
        )
        .route(
            "/admin/campaigns/{id}/texts",
            get(c::edit::texts_form).post(c::edit::texts_save),
        )
        .route("/admin/campaigns/{id}/action", post(c::action))
        .route("/admin/campaigns/{id}/progress", get(c::progress_fragment))
        .route("/admin/appeals", get(appeals::list))
        .route("/admin/appeals/stats", get(appeals::stats))
        .route("/admin/appeals/stats.csv", get(appeals::stats_csv))
        .route("/admin/appeals/{id}", get(appeals::case))
        .route("/admin/appeals/{id}/note", post(appeals::note))
        .route("/admin/appeals/{id}/status", post(appeals::status))
        .route("/admin/appeals/{id}/forward", post(appeals::forward))
        .route("/admin/supporters", get(supporters::page))
        .route("/admin/supporters/export.csv", get(supporters::export))
        .route("/admin/supporters/find", post(supporters::find))
        .route("/admin/supporters/act", post(supporters::act))
        .route("/admin/officials", get(letters::officials))
        .route(
            "/admin/officials/import",
            post(letters::import).layer(DefaultBodyLimit::max(2 * 1024 * 1024)),
        )
        .route("/admin/officials/export.csv", get(letters::export))
        .route("/admin/letters", get(letters::list))
        .route("/admin/letters/new", post(letters::create))
        .route("/admin/letters/{id}", get(letters::overview))
        .route(
            "/admin/letters/{id}/edit",
            get(letters::edit_form)
                .post(letters::edit_save)
                .layer(DefaultBodyLimit::max(512 * 1024)),
        )
        .route("/admin/letters/{id}/action", post(letters::action))
        .route("/admin/letters/{id}/resolve", post(letters::resolve))
        .route("/admin/conversations", get(conversations::list))
        .route("/admin/conversations/{id}", get(conversations::one))
        .route(
            "/admin/conversations/{id}/reply",
            post(conversations::reply),
        )
        .route("/admin/conversations/{id}/note", post(conversations::note))
        .route(
            "/admin/conversations/{id}/claim",
            post(conversations::claim),
        )
        .route(
            "/admin/conversations/{id}/unassign",
            post(conversations::unassign),
        )
        .route("/admin/conversations/{id}/tags", post(conversations::tags))
        .route(
            "/admin/conversations/{id}/refer",
            post(conversations::refer),
        )
        .route(
            "/admin/conversations/{id}/close",
            post(conversations::close),
        )
        .route(
            "/admin/conversations/{id}/reopen",
            post(conversations::reopen),
        )
        .route(
            "/admin/conversations/{id}/block",
            post(conversations::block),
        )
        .route(
            "/admin/conversations/{id}/media/{message}",
            get(conversations::media),
        )
        .route(
            "/admin/canned-answers",
            get(canned::page).post(canned::save),
        )
        .route("/admin/canned-answers/{id}/delete", post(canned::delete))
        .route(
            "/admin/media",
            get(media::page)
                .post(media::upload)
                .layer(DefaultBodyLimit::max(
                    nasvyazi_shared::config::MediaConfig::TELEGRAM_FILE_MAX + 256 * 1024,
                )),
        )
        .route("/admin/media/{id}/file", get(media::file))
        .route(
            "/admin/channels",
            get(channels_page::page).post(channels_page::register),
        )
        .route("/admin/campaigns/{id}/posts/{post}", get(posts_page::one))
        .route(
            "/admin/campaigns/{id}/posts/{post}/edit",
            post(posts_page::edit),
        )
        .route(
            "/admin/campaigns/{id}/posts/{post}/delete",
            get(posts_page::confirm_delete).post(posts_page::delete),
        )
        .route(
            "/admin/campaigns/{id}/posts/{post}/pin",
            post(posts_page::pin),
        )
        .route(
            "/admin/campaigns/{id}/posts/{post}/unpin",
            post(posts_page::unpin),
        )
        .merge(surveys::routes())
        .route("/admin/polls", get(polls::page).post(polls::create))
        .route("/admin/polls/{id}/stop", post(polls::stop))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .layer(axum::middleware::from_fn_with_state(state, page::layer))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/console.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/console.js"),
    )
        .into_response()
}
