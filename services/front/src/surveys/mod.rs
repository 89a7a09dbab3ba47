//! Surveys (issue 17) at the front door: the adapters of the
//! `nasvyazi_surveys` crate (which holds the model, the tables, the
//! results and the bot dialog's steps). The admin JSON API ([`admin`]),
//! answering on the web (`/surveys/{slug}`) and through the JSON API
//! ([`web`]), the bot's messages and buttons ([`bot`]), the staff changes
//! audited ([`audited`]) and a campaign's survey ([`campaign_link`]).
//! Nothing here writes a survey table itself, or logs an answer or a token.
//!
//! Invitations: a campaign may invite to a survey (`PUT
//! /api/v1/admin/campaigns/{id}/survey`); each recipient's link carries a
//! token derived from the survey and the contact
//! (`nasvyazi_surveys::tokens`), checked here and kept only as a keyed hash
//! once used. The console pages (list, example, results, print) are
//! `console::surveys`.

pub mod admin;
pub mod audited;
pub mod bot;
pub mod campaign_link;
pub mod web;

use axum::routing::{MethodRouter, get};

use crate::AppState;

/// The public page (added to the public listener's table).
pub fn public_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![("/surveys/{slug}", get(web::page).post(web::submit))]
}

/// The public JSON API: answering.
pub fn public_api() -> crate::api::Api {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(web::answer))
}

/// The admin API routes (staff listener).
pub fn routes() -> crate::api::Api {
    admin::routes()
}
