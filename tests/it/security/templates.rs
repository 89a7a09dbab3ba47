//! Item 4: organisers' templates had no limits (a loop of 10^8 iterations
//! took 8.5 s per preview on the async threads; nested ranges ran for a
//! quarter of an hour). Now a template over the limits is refused at save
//! with a clear error, and one already stored renders under fuel and an
//! output cap, off the async threads, and fails fast with the same words.

use nasvyazi_shared::auth::Role;
use nasvyazi_tests::spawn_app;
use serde_json::{Value, json};
use uuid::Uuid;

const BOMB: &str =
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
const HUGE: &str = "{% for i in range(100) %}{{ 'x' * 50000 }}{% endfor %}";

fn campaign(text: &str) -> Value {
    json!({
        "name": "Template limits",
        "schedule": { "kind": "day", "day": "overdose_awareness_day", "time": "10:00" },
        "audience": { "topics": ["overdose"], "languages": [], "regions": [], "channels": ["email"] },
        "templates": { "ru": { "email_subject": "S", "email_text": text } }
    })
}

#[tokio::test]
async fn template_bombs_are_refused_at_save_and_cannot_stall_a_preview() {
    let app = spawn_app().await;
    let organiser = app.token(Role::Organiser).await;
    for (bomb, words) in [(BOMB, "too much work"), (HUGE, "output is over")] {
        let r = app
            .admin(&organiser)
            .post("/api/v1/admin/campaigns", campaign(bomb))
            .await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains(words), "{body}");
    }
    let r = app
        .admin(&organiser)
        .post(
            "/api/v1/admin/letters",
            json!({
        "name": "Bomb letter", "slug": "bomb", "mode": "each",
        "templates": { "ru": { "subject": "S", "body": BOMB, "page_text": "P" } },
        "targets": [], "reply_to": "office@forum.example.kz" }),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("too much work"));

    // A bomb stored before the check existed: the preview fails fast with
    // the same words, and the service keeps answering.
    let r = app
        .admin(&organiser)
        .post("/api/v1/admin/campaigns", campaign("Hello {{ org }}"))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    sqlx::query("UPDATE campaigns SET templates = $2 WHERE id = $1")
        .bind(id)
        .bind(json!({ "ru": { "email_subject": "S", "email_text": BOMB } }))
        .execute(&app.infra.db)
        .await
        .unwrap();
    let path = format!("/api/v1/admin/campaigns/{id}/preview");
    let previews: Vec<_> = (0..3)
        .map(|_| {
            app.admin(&organiser)
                .post(&path, json!({ "language": "ru", "channel": "email" }))
        })
        .collect();
    for r in futures::future::join_all(previews).await {
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("too much work"));
    }
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}
