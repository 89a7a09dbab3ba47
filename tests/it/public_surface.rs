//! The public surface (issue 14): the staff side on its own listener,
//! anti-abuse on the public forms (per client, per address, a global email
//! budget that queues), client addresses from trusted proxies only,
//! `/forget` in the bot, complementary suppression in the statistics, and
//! security headers on every public route. Helpers here; tests in
//! `public_surface/`.

mod abuse;
mod erasure_links;
mod forget;
mod headers;
mod listeners;
mod onion;
mod pow;
mod stats;

use nasvyazi_tests::TestApp;
use nasvyazi_tests::smtp::SmtpServer;
use serde_json::json;
use uuid::Uuid;

/// TOML for an app that sends email to `smtp`.
pub fn smtp_config(smtp: &SmtpServer) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\ntimeout_secs = 5\n",
        smtp.url()
    )
}

/// An address no other test uses.
pub fn stranger() -> String {
    format!("stranger-{}@example.kz", Uuid::new_v4().simple())
}

/// `POST /api/v1/subscriptions` for `email`, with an optional
/// `X-Forwarded-For`; returns (status, body bytes).
pub async fn subscribe(app: &TestApp, email: &str, forwarded_for: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = app
        .http
        .post(app.public_url("/api/v1/subscriptions"))
        .json(&json!({ "email": email, "language": "ru", "topics": ["ost"] }));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}
