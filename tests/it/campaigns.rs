//! Awareness-day campaigns: the admin API, the scheduler (one trigger per
//! occurrence, grace window), set-based fan-out (audience, quiet hours,
//! exclusions), sending, and a notifier crash mid-campaign.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nasvyazi_campaigns::Campaign;
use nasvyazi_scheduler::engine::Engine;
use nasvyazi_shared::auth::Role;
use nasvyazi_tests::smtp::{Behaviour, SmtpServer};
use nasvyazi_tests::{NewContact, TestApp, eventually, spawn_app_with, spawn_app_without_notifier};
use serde_json::{Value, json};
use uuid::Uuid;

fn smtp_config(smtp: &SmtpServer, extra: &str) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\ntimeout_secs = 5\n{extra}",
        smtp.url()
    )
}

fn overdose_day(channels: &[&str]) -> Value {
    json!({
        "name": "International Overdose Awareness Day 2027",
        "schedule": { "kind": "day", "day": "overdose_awareness_day", "time": "10:00" },
        "audience": { "topics": ["overdose"], "languages": [], "regions": [], "channels": channels },
        "templates": {
            "ru": { "email_subject": "{{ day }}", "email_text": "Сегодня {{ day }}. {{ org }} помнит.\n\nОтписаться: {{ unsubscribe_url }}",
                    "telegram": "<b>{{ day }}</b>\n{{ org }} помнит." },
            "kk": { "email_subject": "{{ day }}" }
        }
    })
}

#[tokio::test]
async fn organiser_creates_previews_approves_pauses_and_cancels_with_audit() {
    let app = nasvyazi_tests::spawn_app().await;
    let organiser = app.token(Role::Organiser).await;
    let caseworker = app.token(Role::Caseworker).await;

    let r = app
        .admin(&caseworker)
        .post("/api/v1/admin/campaigns", overdose_day(&["email"]))
        .await;
    assert_eq!(r.status(), 403);
    let r = app.admin(&organiser).post("/api/v1/admin/campaigns", json!({"name": "x", "schedule": {"kind": "cron", "cron": "every day"}, "audience": {"channels": ["email"]}, "templates": {}})).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.json::<Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("schedule.cron")
    );

    let r = app
        .admin(&organiser)
        .post(
            "/api/v1/admin/campaigns",
            overdose_day(&["email", "telegram"]),
        )
        .await;
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["status"], "draft");
    assert_eq!(c["time_zone"], "Asia/Almaty");
    // Almaty is UTC+05:00 since 1 March 2024.
    assert_eq!(c["next_occurrences"][0], "2027-08-31T10:00:00+05:00");

    // Preview: kk falls back to ru for the text, keeps its own subject.
    let r = app
        .admin(&organiser)
        .post(
            &format!("/api/v1/admin/campaigns/{id}/preview"),
            json!({"language": "kk", "channel": "email"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p["email"]["subject"],
        "Артық дозалану туралы халықаралық ақпарат күні"
    );
    assert!(
        p["email"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Сегодня Артық дозалану")
    );
    let r = app
        .admin(&organiser)
        .post(
            &format!("/api/v1/admin/campaigns/{id}/preview"),
            json!({"language": "ru", "channel": "telegram"}),
        )
        .await;
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p["telegram"],
        "<b>Международный день информирования о передозировках</b>\nnasvyazi помнит."
    );

    for (step, status, code) in [
        ("resume", "draft", 409),
        ("approve", "scheduled", 200),
        ("approve", "scheduled", 409),
        ("pause", "paused", 200),
        ("resume", "scheduled", 200),
    ] {
        let r = app
            .admin(&organiser)
            .post(&format!("/api/v1/admin/campaigns/{id}/{step}"), json!({}))
            .await;
        assert_eq!(r.status(), code, "{step}");
        if code == 200 {
            assert_eq!(r.json::<Value>().await.unwrap()["status"], status, "{step}");
        }
    }
    // An approved campaign is not edited in place.
    let r = app
        .http
        .put(app.url(&format!("/api/v1/admin/campaigns/{id}")))
        .bearer_auth(&organiser)
        .json(&overdose_day(&["email"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = app
        .admin(&organiser)
        .post(&format!("/api/v1/admin/campaigns/{id}/cancel"), json!({}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "campaign.create",
            "campaign.approve",
            "campaign.pause",
            "campaign.resume",
            "campaign.cancel"
        ]
    );
    app.stop().await;
}

async fn approved_campaign(app: &TestApp, body: Value) -> Uuid {
    let organiser = app.token(Role::Organiser).await;
    let r = app
        .admin(&organiser)
        .post("/api/v1/admin/campaigns", body)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = app
        .admin(&organiser)
        .post(&format!("/api/v1/admin/campaigns/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    id
}

fn engine(app: &TestApp) -> Engine {
    Engine {
        db: app.infra.db.clone(),
        grace: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn two_schedulers_trigger_each_occurrence_once_and_grace_decides_missed_ones() {
    // Two engines of our own, plus the app's scheduler running beside them:
    // three schedulers on one database.
    let app = spawn_app_without_notifier("[scheduler]\ngrace_window_secs = 3600\n").await;
    let a = approved_campaign(&app, overdose_day(&["email"])).await;
    let b = approved_campaign(
        &app,
        json!({
            "name": "weekly", "schedule": {"kind": "cron", "cron": "0 10 * * 1"},
            "audience": {"channels": ["email"]},
            "templates": {"ru": {"email_subject": "s", "email_text": "t"}}
        }),
    )
    .await;
    let (e1, e2) = (engine(&app), engine(&app));
    e1.sync(Utc::now()).await.unwrap();
    // Downtime: the state was computed before it; now the instants are
    // 30 minutes late (a) and 2 hours late (b).
    let now = Utc::now();
    for (id, late) in [(a, 30), (b, 120)] {
        sqlx::query("UPDATE schedule_state SET next_at = $2 WHERE campaign_id = $1")
            .bind(id)
            .bind(now - chrono::Duration::minutes(late))
            .execute(&app.infra.db)
            .await
            .unwrap();
    }
    let (f1, f2) = tokio::join!(e1.fire_due(now), e2.fire_due(now));
    let (f1, f2) = (f1.unwrap(), f2.unwrap());
    assert!(f1.triggered + f2.triggered <= 1, "{f1:?} {f2:?}");
    // Again, from both: nothing more is due.
    let (f1, f2) = tokio::join!(e1.fire_due(now), e2.fire_due(now));
    assert_eq!(f1.unwrap().triggered + f2.unwrap().triggered, 0);
    let rows: Vec<(Uuid, String, Option<String>)> =
        sqlx::query_as("SELECT campaign_id, status, reason FROM occurrences ORDER BY campaign_id")
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    let by: HashMap<Uuid, (String, Option<String>)> =
        rows.into_iter().map(|r| (r.0, (r.1, r.2))).collect();
    assert_eq!(by[&a].0, "triggered");
    assert_eq!(by[&b].0, "skipped");
    assert!(by[&b].1.as_deref().unwrap().contains("grace window"));
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scheduler_outbox WHERE event_type = 'campaign.triggered'",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(events, 1, "one event for the one triggered occurrence");
    // The event id is the occurrence id (the Nats-Msg-Id).
    let same: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM scheduler_outbox x JOIN occurrences o ON o.id = x.id)",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(same);
    // The next instants were computed after the fired ones.
    let next: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT next_at FROM schedule_state ORDER BY campaign_id")
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert!(next.iter().all(|t| *t > now));
    app.stop().await;
}

#[tokio::test]
async fn fan_out_of_ten_thousand_contacts_is_exact_and_honours_quiet_hours() {
    let app = spawn_app_without_notifier("").await;
    // 10,000 contacts, attributes from i; addresses are opaque bytes here
    // (the fan-out never reads them).
    sqlx::query(
        "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language, topics, region,
             unsub_token_hash, unsub_token_ct)
         SELECT gen_random_uuid(),
                CASE WHEN i % 2 = 0 THEN 'email' ELSE 'telegram' END,
                CASE WHEN i % 10 = 0 THEN 'unsubscribed' WHEN i % 10 = 1 THEN 'pending' ELSE 'active' END,
                decode(md5(i::text), 'hex'), '\\x00', '\\x00',
                (ARRAY['ru', 'kk', 'en'])[i % 3 + 1],
                CASE i % 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['overdose'] WHEN 2 THEN ARRAY['ost', 'overdose'] ELSE ARRAY['hiv'] END,
                CASE WHEN i % 5 = 0 THEN 'pavlodar' ELSE NULL END,
                decode(md5('u' || i::text), 'hex'), '\\x00'
         FROM generate_series(1, 10000) AS i",
    )
    .execute(&app.infra.db)
    .await
    .unwrap();
    // Suppress the email contacts with i % 7 == 0.
    sqlx::query(
        "INSERT INTO suppressions (channel, blind_index, reason)
         SELECT 'email', decode(md5(i::text), 'hex'), 'test' FROM generate_series(1, 10000) i WHERE i % 7 = 0",
    )
    .execute(&app.infra.db)
    .await
    .unwrap();
    let expected = (1..=10000)
        .filter(|i| {
            let channel_email = i % 2 == 0;
            let active = i % 10 >= 2;
            let topic = i % 4 == 1 || i % 4 == 2;
            let lang_ok = i % 3 != 2; // ru or kk
            let suppressed = channel_email && i % 7 == 0;
            active && topic && lang_ok && !suppressed
        })
        .count() as u64;

    let organiser = app.token(Role::Organiser).await;
    let mut body = overdose_day(&["email", "telegram", "telegram_channel"]);
    body["audience"]["languages"] = json!(["ru", "kk"]);
    let r = app
        .admin(&organiser)
        .post("/api/v1/admin/campaigns", body)
        .await;
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let campaign = Campaign::load(&app.infra.db, id).await.unwrap().unwrap();
    // 31 August 23:30 Almaty (18:30Z): inside the quiet hours.
    let night: DateTime<Utc> = "2027-08-31T18:30:00Z".parse().unwrap();
    let occurrence = Uuid::now_v7();
    let mut tx = app.infra.db.begin().await.unwrap();
    let n = nasvyazi_notifier::fanout::expand(&mut tx, &campaign, occurrence, night)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, expected + 1, "matching contacts plus one channel post");
    let (rows, earliest): (i64, DateTime<Utc>) = sqlx::query_as(
        "SELECT count(*), min(next_attempt_at) FROM deliveries WHERE ref_id = $1 AND channel <> 'telegram_channel'",
    )
    .bind(occurrence)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(rows as u64, expected);
    assert_eq!(
        earliest,
        "2027-09-01T04:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "waits for 09:00 local"
    );
    // Idempotent: the same occurrence again adds nothing.
    let mut tx = app.infra.db.begin().await.unwrap();
    nasvyazi_notifier::fanout::expand(&mut tx, &campaign, occurrence, night)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE ref_id = $1")
        .bind(occurrence)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(again as u64, expected + 1);
    app.stop().await;
}

#[tokio::test]
async fn a_one_shot_campaign_fires_and_reaches_matching_supporters_once() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&smtp_config(
        &smtp,
        "[campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
    ))
    .await;
    let want = ["a1@example.kz", "a2@example.kz"];
    for a in want {
        app.insert_contact(NewContact {
            topics: &["overdose"],
            ..NewContact::email(a)
        })
        .await;
    }
    app.insert_contact(NewContact {
        topics: &["hiv"],
        ..NewContact::email("other-topic@example.kz")
    })
    .await;
    app.insert_contact(NewContact {
        status: "unsubscribed",
        topics: &["overdose"],
        ..NewContact::email("gone@example.kz")
    })
    .await;
    let at = (Utc::now().with_timezone(&chrono_tz::Asia::Almaty) + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let mut body = overdose_day(&["email"]);
    body["schedule"] = json!({ "kind": "once", "at": [at] });
    body["templates"]["ru"]["email_subject"] = json!("Сегодня важный день{{ day }}");
    let id = approved_campaign(&app, body).await;
    let got = smtp.wait_for(2, Duration::from_secs(20)).await;
    let mut to: Vec<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, want);
    let m = &got[0];
    assert_eq!(
        m.header("Subject").unwrap(),
        "Сегодня важный день",
        "no day: renders as nothing"
    );
    assert_eq!(
        m.header_values_raw("List-Unsubscribe-Post"),
        ["List-Unsubscribe=One-Click"]
    );
    assert!(m.text_body().unwrap().contains("/u/"));
    let organiser = app.token(Role::Organiser).await;
    let progress: Value = eventually(Duration::from_secs(10), || async {
        let p: Value = app
            .http
            .get(app.url(&format!("/api/v1/admin/campaigns/{id}/progress")))
            .bearer_auth(&organiser)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (p["totals"]["sent"] == 2).then_some(p)
    })
    .await;
    assert_eq!(progress["status"], "done");
    assert_eq!(progress["occurrences"][0]["channels"]["email"]["sent"], 2);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 2, "once each");
    app.stop().await;
}

#[tokio::test]
async fn failed_deliveries_are_resent_with_one_request_and_test_sends_work() {
    let smtp = SmtpServer::start().await;
    smtp.set_behaviour(Behaviour::PermFail { code: 554 });
    let app = spawn_app_with(&smtp_config(
        &smtp,
        "[campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
    ))
    .await;
    app.insert_contact(NewContact {
        topics: &["overdose"],
        ..NewContact::email("r1@example.kz")
    })
    .await;
    let organiser = app.token(Role::Organiser).await;
    let r = app
        .admin(&organiser)
        .post("/api/v1/admin/campaigns", overdose_day(&["email"]))
        .await;
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // A test send before approval.
    smtp.set_behaviour(Behaviour::Accept);
    let r = app
        .admin(&organiser)
        .post(
            &format!("/api/v1/admin/campaigns/{id}/test-send"),
            json!({"channel": "email", "address": "me@forum.example.kz", "language": "kk"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let test = smtp.wait_for(1, Duration::from_secs(15)).await.remove(0);
    assert_eq!(test.rcpt_to, ["me@forum.example.kz"]);
    smtp.clear_messages();
    // Fire an occurrence by hand (as the scheduler would) while the server refuses.
    smtp.set_behaviour(Behaviour::PermFail { code: 554 });
    app.admin(&organiser)
        .post(&format!("/api/v1/admin/campaigns/{id}/approve"), json!({}))
        .await;
    let campaign = Campaign::load(&app.infra.db, id).await.unwrap().unwrap();
    let occurrence = Uuid::now_v7();
    sqlx::query("INSERT INTO occurrences (id, campaign_id, scheduled_at, status) VALUES ($1, $2, now(), 'triggered')")
        .bind(occurrence)
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    nasvyazi_notifier::fanout::expand(&mut tx, &campaign, occurrence, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    eventually(Duration::from_secs(15), || async {
        let failed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE ref_id = $1 AND status = 'failed'",
        )
        .bind(occurrence)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        (failed == 1).then_some(())
    })
    .await;
    // The address was suppressed by the 5xx; lift it, fix the server, resend.
    sqlx::query("DELETE FROM suppressions")
        .execute(&app.infra.db)
        .await
        .unwrap();
    smtp.set_behaviour(Behaviour::Accept);
    let r = app
        .admin(&organiser)
        .post(
            &format!("/api/v1/admin/campaigns/{id}/resend-failed"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let got = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got[0].rcpt_to, ["r1@example.kz"]);
    app.stop().await;
}

#[tokio::test]
async fn a_notifier_killed_mid_campaign_loses_nothing_and_duplicates_at_most_its_batch() {
    const BATCH: usize = 10;
    let smtp = SmtpServer::start().await;
    smtp.set_behaviour(Behaviour::Stall(Duration::from_millis(15)));
    let app = spawn_app_without_notifier(&smtp_config(
        &smtp,
        &format!("[notifier]\nbatch_size = {BATCH}\nconcurrency = 2\nlease_secs = 2\n[campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n"),
    ))
    .await;
    let n = 150;
    for i in 0..n {
        app.insert_contact(NewContact {
            topics: &["overdose"],
            ..NewContact::email(&format!("c{i}@example.kz"))
        })
        .await;
    }
    let organiser = app.token(Role::Organiser).await;
    let r = app
        .admin(&organiser)
        .post("/api/v1/admin/campaigns", overdose_day(&["email"]))
        .await;
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.admin(&organiser)
        .post(&format!("/api/v1/admin/campaigns/{id}/approve"), json!({}))
        .await;
    let campaign = Campaign::load(&app.infra.db, id).await.unwrap().unwrap();
    let occurrence = Uuid::now_v7();
    sqlx::query("INSERT INTO occurrences (id, campaign_id, scheduled_at, status) VALUES ($1, $2, now(), 'triggered')")
        .bind(occurrence)
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    nasvyazi_notifier::fanout::expand(&mut tx, &campaign, occurrence, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let first = app.start_notifier().await;
    smtp.wait_for(40, Duration::from_secs(30)).await;
    first.kill().await; // mid-campaign, holding a claimed batch
    let at_crash = smtp.messages().len();
    assert!(at_crash < n, "the crash came before the end");
    let second = app.start_notifier().await;
    let all = smtp.wait_for(n, Duration::from_secs(60)).await;
    // Every recipient got it.
    let mut per: HashMap<String, usize> = HashMap::new();
    for m in &all {
        for r in &m.rcpt_to {
            *per.entry(r.clone()).or_default() += 1;
        }
    }
    assert_eq!(per.len(), n);
    // Duplicates come only from the batch in flight at the crash: at most
    // one claimed batch (batch_size rows) was sent but not recorded.
    eventually(Duration::from_secs(20), || async {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status <> 'sent'")
                .fetch_one(&app.infra.db)
                .await
                .unwrap();
        (left == 0).then_some(())
    })
    .await;
    let duplicates: usize = smtp.messages().len() - n;
    assert!(
        duplicates <= BATCH,
        "{duplicates} duplicates > batch of {BATCH}"
    );
    second.shutdown.cancel();
    let _ = second.task.await;
    app.stop().await;
}
