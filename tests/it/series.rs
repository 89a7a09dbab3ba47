//! Scheduled series, a "content plan" (issue 16): a campaign of kind
//! `series` whose posts each have their time, channels and texts. Each
//! post is sent once, with its own text, at its own time; a scheduler
//! that restarts from stale state (its progress rewound to the first
//! post) triggers nothing twice.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::Role;
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{NewContact, spawn_app_with};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn config(smtp: &SmtpServer) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\ntimeout_secs = 5\n\
         [campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
        smtp.url()
    )
}

/// `seconds` from now, local in Almaty (the campaign's time zone).
fn local_in(seconds: i64) -> String {
    (Utc::now().with_timezone(&chrono_tz::Asia::Almaty) + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn post_templates(n: usize) -> Value {
    json!({
        "ru": { "email_subject": format!("Пост {n} из плана"),
                "email_text": format!("Текст поста {n}.\n\nОтписаться: {{{{ unsubscribe_url }}}}") }
    })
}

fn series(posts: Value) -> Value {
    json!({
        "name": "Content plan: December",
        "schedule": { "kind": "series", "posts": posts },
        "audience": { "channels": ["email"] },
        "templates": {}
    })
}

#[tokio::test]
async fn each_post_of_a_series_is_sent_once_with_its_own_text_even_across_a_scheduler_restart() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp)).await;
    let organiser = app.token(Role::Organiser).await;

    // What a series cannot be is refused, naming the field.
    for (posts, why) in [
        (json!([]), "1 to 100 posts"),
        (
            json!([{ "at": "2030-01-01T10:00", "templates": post_templates(1) },
                   { "at": "2030-01-01T10:00", "templates": post_templates(2) }]),
            "same time",
        ),
        (
            json!([{ "at": "2030-01-01T10:00", "channels": ["fax"], "templates": post_templates(1) }]),
            "channel `fax`",
        ),
        (
            json!([{ "at": "2030-01-01T10:00", "templates": { "ru": { "email_text": "{{ broken" } } }]),
            "template syntax",
        ),
        (
            json!([{ "at": "2030-01-01T10:00", "templates": { "ru": { "email_subject": "s", "email_text": "t",
                     "email_media": [Uuid::now_v7()] } } }]),
            "not in the media library",
        ),
    ] {
        let r = app
            .admin(&organiser)
            .post("/api/v1/admin/campaigns", series(posts))
            .await;
        assert_eq!(r.status(), 422);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("schedule.posts") && text.contains(why),
            "{why}: {text}"
        );
    }
    // A post without the template of its channel cannot be approved.
    let r = app.admin(&organiser).post("/api/v1/admin/campaigns",
        series(json!([{ "at": "2030-01-01T10:00", "templates": { "ru": { "telegram": "только Telegram" } } }])),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .admin(&organiser)
        .post(&format!("/api/v1/admin/campaigns/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
    // The preview shows the series' next post.
    let r = app
        .admin(&organiser)
        .post(
            &format!("/api/v1/admin/campaigns/{id}/preview"),
            json!({ "language": "ru", "channel": "telegram" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["telegram"],
        "только Telegram"
    );

    let want = ["plan-a@example.kz", "plan-b@example.kz"];
    for a in want {
        app.insert_contact(NewContact::email(a)).await;
    }
    let ats = [local_in(3), local_in(6), local_in(9)];
    let body = series(json!([
        // Out of order on purpose: stored sorted.
        { "at": ats[1], "channels": ["email"], "templates": post_templates(2) },
        { "at": ats[0], "templates": post_templates(1) },
        { "at": ats[2], "templates": post_templates(3) },
    ]));
    let r = app
        .admin(&organiser)
        .post("/api/v1/admin/campaigns", body)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["schedule_kind"], "series");
    let stored: Vec<&str> = view["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["at"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ats.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(view["next_occurrences"].as_array().unwrap().len(), 3);
    let id: Uuid = view["id"].as_str().unwrap().parse().unwrap();
    let r = app
        .admin(&organiser)
        .post(&format!("/api/v1/admin/campaigns/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The first post arrives; then a second scheduler starts from a state
    // rewound to the first post's instant (as after a crash before its
    // progress was recorded).
    smtp.wait_for(2, Duration::from_secs(30)).await;
    let first: DateTime<Utc> = sqlx::query_scalar(
        "SELECT scheduled_at FROM occurrences WHERE campaign_id = $1 ORDER BY scheduled_at LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    sqlx::query("UPDATE schedule_state SET next_at = $2 WHERE campaign_id = $1")
        .bind(id)
        .bind(first)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let restarted = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = tokio::spawn(nasvyazi_scheduler::run(
        app.config.clone(),
        listener,
        restarted.clone(),
    ));

    let got = smtp.wait_for(6, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_after = smtp.messages();
    assert_eq!(got_after.len(), 6, "no duplicate: {got:?}");
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for m in &got_after {
        let subject = m.header("Subject").unwrap();
        let n: usize = subject
            .trim_start_matches("Пост ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            m.text_body()
                .unwrap()
                .starts_with(&format!("Текст поста {n}.")),
            "{subject}: its own text"
        );
        *seen.entry((m.rcpt_to[0].clone(), subject)).or_default() += 1;
    }
    for a in want {
        for n in 1..=3 {
            assert_eq!(
                seen.get(&(a.to_string(), format!("Пост {n} из плана"))),
                Some(&1),
                "{a} gets post {n} once: {seen:?}"
            );
        }
    }
    // One occurrence per post, at the posts' instants, in order.
    let occurrences: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT scheduled_at, status FROM occurrences WHERE campaign_id = $1 ORDER BY scheduled_at",
    )
    .bind(id)
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(occurrences.len(), 3, "{occurrences:?}");
    assert!(occurrences.iter().all(|(_, s)| s == "triggered"));
    let instants: Vec<DateTime<Utc>> = ats
        .iter()
        .map(|a| {
            let local = chrono::NaiveDateTime::parse_from_str(a, "%Y-%m-%dT%H:%M:%S").unwrap();
            nasvyazi_campaigns::schedule::local_to_instant(chrono_tz::Asia::Almaty, local)
        })
        .collect();
    assert_eq!(
        occurrences.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        instants
    );
    restarted.cancel();
    let _ = second.await;
    app.stop().await;
}
