//! The one end-to-end test binary: real PostgreSQL, real NATS, real HTTP.

mod admin;
mod appeals;
mod campaigns;
mod chaos;
mod config;
mod console;
mod consultations;
mod http_basics;
mod letters;
mod mail;
mod media;
mod migrations;
mod outbox;
mod public_surface;
mod security;
mod smtp_server;
mod staying_up;
mod subscriptions;
mod surveys;
mod talk;
mod telegram;
mod telegram_fake;
