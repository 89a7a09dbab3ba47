//! The one end-to-end test binary: real PostgreSQL, real NATS, real HTTP.

mod admin;
mod appeals;
mod campaigns;
mod config;
mod console;
mod http_basics;
mod letters;
mod migrations;
mod outbox;
mod smtp_server;
mod subscriptions;
mod telegram;
mod telegram_fake;
