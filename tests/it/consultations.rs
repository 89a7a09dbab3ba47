//! Consultations («На связи») end to end through the Bot API fake: a
//! person writes, gets the automatic answer, a consultant claims and
//! answers from the admin API, the person sends a photo, the console
//! fetches it through the proxy, notes, canned answers, referral, close,
//! erasure after retention; the staff group's forum topics; `/forget`;
//! replies at most once; and the canaries; the staff group's attacks
//! (service messages, erasure in the group, public groups, the audit).

mod bot;
mod help_path;
mod staff_group;
mod staff_group_safety;

use nasvyazi_shared::auth::Role;
use nasvyazi_telegram_fake::TelegramFake;
use nasvyazi_tests::{TestApp, eventually};
use serde_json::{Value, json};

use crate::telegram::{TOKEN, WAIT};

/// An app whose consultants are always on duty, talking to `fake`.
pub fn config(fake: &TelegramFake, consultations: &str) -> String {
    format!(
        "{}\n[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\n{consultations}\n",
        crate::telegram::config(fake, "")
    )
}

/// A consultant's bearer token.
pub async fn consultant(app: &TestApp) -> String {
    app.token(Role::Consultant).await
}

pub async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let (status, body) = app.admin(token).get_json(path).await;
    (status.as_u16(), body)
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, body) = app.admin(token).post_json(path, body).await;
    (status.as_u16(), body)
}

/// Waits until the inbox has `n` conversations; returns them.
pub async fn inbox(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, || async {
        let (_, list) = get(app, token, "/api/v1/admin/conversations").await;
        list.as_array().filter(|l| l.len() >= n).cloned()
    })
    .await
}

/// Waits until conversation `id` satisfies `ok`; returns it.
pub async fn conversation_where(
    app: &TestApp,
    token: &str,
    id: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    eventually(WAIT, || async {
        let (status, c) = get(app, token, &format!("/api/v1/admin/conversations/{id}")).await;
        (status == 200 && ok(&c)).then_some(c)
    })
    .await
}

/// The messages the bot sent to `chat`, as the fake records them.
pub fn records(fake: &TelegramFake, chat: i64) -> Vec<Value> {
    fake.sent_records(Some(chat))
}

/// A staff reply's JSON body.
pub fn reply(text: &str) -> Value {
    json!({ "text": text })
}
