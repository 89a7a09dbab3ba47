//! Proof of work (`limits.proof_of_work`): while it is asked for, the
//! forms and APIs that start something need a signed, unexpired, unused
//! challenge, solved in CPU (API) or by waiting (a form, no JavaScript);
//! every refusal is the same bytes; `auto` asks only above the load
//! threshold; `off` asks nothing.

use std::time::Duration;

use nasvyazi_shared::limits::pow;
use nasvyazi_tests::{TestApp, spawn_app_with};
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use super::erasure_links::page;
use super::stranger;

const ON: &str = "[limits]\nproof_of_work = \"on\"\nproof_of_work_bits = 8\nproof_of_work_wait_secs = 2\npublic_posts_per_minute = 1000\n";

async fn subscribe(app: &TestApp, email: &str, proof: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = app
        .http
        .post(app.public_url("/api/v1/subscriptions"))
        .json(&json!({ "email": email, "language": "ru", "topics": ["ost"] }));
    if let Some(p) = proof {
        req = req.header("x-proof-of-work", p);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn challenge(app: &TestApp) -> Value {
    app.http
        .get(app.public_url("/api/v1/challenge"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn while_on_every_start_needs_a_fresh_proof_and_refusals_are_identical() {
    let app = spawn_app_with(ON).await;
    let known = stranger();
    // Known to the system (pending) or not: the refusal is the same bytes.
    let c = challenge(&app).await;
    assert_eq!(c["required"], true);
    assert_eq!(c["bits"], 8);
    let solved = |c: &Value| {
        let ch = c["challenge"].as_str().unwrap().to_string();
        format!("{ch}:{}", pow::solve(&ch, 8))
    };
    let first = solved(&c);
    assert_eq!(subscribe(&app, &known, Some(&first)).await.0, 202);
    let (status, refusal) = subscribe(&app, &known, None).await;
    assert_eq!(status, 429);
    assert!(String::from_utf8_lossy(&refusal).contains("proof_of_work"));
    let fresh = challenge(&app).await["challenge"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = fresh.replacen("v1.", "v1.1", 1);
    for (email, proof) in [
        (stranger(), None),
        (known.clone(), Some("garbage")),
        (stranger(), Some(forged.as_str())),
        // Spent already.
        (known.clone(), Some(first.as_str())),
        (stranger(), Some(first.as_str())),
        // Neither solved nor old enough.
        (stranger(), Some(fresh.as_str())),
    ] {
        assert_eq!(
            subscribe(&app, &email, proof).await,
            (429, refusal.clone()),
            "{proof:?}"
        );
    }
    // Waiting is a solution too (the no-JavaScript path).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(subscribe(&app, &stranger(), Some(&fresh)).await.0, 202);
    // Appeals: the same rule.
    let appeal = json!({ "category": "police", "region": "pavlodar", "city": "ekibastuz",
                         "text": "x", "consent_to_forward": false });
    let post = |proof: Option<String>| {
        let mut req = app
            .http
            .post(app.public_url("/api/v1/appeals"))
            .json(&appeal);
        if let Some(p) = proof {
            req = req.header("x-proof-of-work", p);
        }
        req.send()
    };
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.bytes().await.unwrap().to_vec(), refusal);
    let r = post(Some(solved(&challenge(&app).await))).await.unwrap();
    assert_eq!(r.status(), 201);
    // Other posts (a status look-up) ask no proof.
    let r = app
        .http
        .post(app.public_url("/api/v1/appeals/status"))
        .json(&json!({ "case_number": "KZ-AAAA-AAAA", "access_code": "x" }))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn the_form_without_javascript_is_accepted_after_the_wait() {
    let app = spawn_app_with(ON).await;
    let url = app.public_url("/subscribe?lang=en");
    let send = |cookie: String, csrf: String, pow: String| {
        app.http
            .post(&url)
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!(
                "csrf={csrf}&pow={pow}&email={}&language=en&topics=ost&region=",
                stranger().replace('@', "%40")
            ))
            .send()
    };
    let challenge_of = |html: &str| {
        html.split("name=\"pow\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the form carries a challenge")
            .to_string()
    };
    let (_, csrf, cookie, html) = page(&app, &url).await;
    assert!(html.contains("no sooner than 2 seconds"), "{html}");
    let pow = challenge_of(&html);
    // Sent at once: refused with a page that says what to do.
    let r = send(cookie.clone(), csrf.clone(), pow.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Please wait a moment"));
    // After the wait: accepted; the same challenge again: refused.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = send(cookie.clone(), csrf.clone(), pow.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = send(cookie, csrf, pow).await.unwrap();
    assert_eq!(r.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn auto_asks_only_above_the_load_and_off_asks_nothing() {
    let app = spawn_app_with(
        "[limits]\nproof_of_work = \"auto\"\nproof_of_work_busy_posts_per_minute = 3\npublic_posts_per_minute = 1000\n",
    )
    .await;
    assert_eq!(challenge(&app).await["required"], false);
    let (_, _, _, html) = page(&app, &app.public_url("/subscribe")).await;
    assert!(!html.contains("name=\"pow\""));
    for _ in 0..3 {
        assert_eq!(subscribe(&app, &stranger(), None).await.0, 202);
    }
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(subscribe(&app, &stranger(), None).await.0);
    }
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(challenge(&app).await["required"], true);
    let (_, _, _, html) = page(&app, &app.public_url("/subscribe")).await;
    assert!(html.contains("name=\"pow\""));
    app.stop().await;

    let off = spawn_app_with("[limits]\npublic_posts_per_minute = 1000\n").await;
    assert_eq!(off.config.limits.proof_of_work, Default::default());
    for _ in 0..5 {
        let email = format!("off-{}@example.kz", Uuid::new_v4().simple());
        assert_eq!(subscribe(&off, &email, None).await.0, 202);
    }
    assert_eq!(challenge(&off).await["required"], false);
    off.stop().await;
}
