//! Case 1: people subscribing and confirming through the HTTP API at full
//! speed while a campaign is sending, against one real `nasvyazi up`: the
//! process stays up, every confirmation and every campaign email arrives.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nasvyazi_tests::cluster::{Deployment, tally};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::json;

use super::{full, wait_until};

/// The first link in `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .map(str::to_string)
}

/// Opens the confirmation page and submits its form.
async fn confirm(http: &reqwest::Client, url: &str) {
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "confirmation page");
    let cookies: Vec<String> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form carries a csrf field");
    let r = http
        .post(url)
        .header(COOKIE, cookies.join("; "))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "confirm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_confirming_at_full_speed_while_a_campaign_sends_all_arrive() {
    let (subscribers, recipients) = if full() { (3000, 3000) } else { (200, 200) };
    const PARALLEL: usize = 16;
    let mut d = Deployment::start(None, "").await;
    d.spawn(&["up"]).await;
    let campaign_to = d.insert_contacts("c", recipients).await;
    let started = Instant::now();
    d.start_campaign(0).await;

    // Subscribe everyone, PARALLEL requests at a time, and confirm each as
    // its confirmation mail arrives.
    let http = d.http.clone();
    let subscribe_url = d.front_url(0, "/api/v1/subscriptions");
    let confirm_prefix = d.front_url(0, "/confirm/");
    let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut posts = tokio::task::JoinSet::new();
    for k in 0..subscribers {
        let (http, url, sem) = (http.clone(), subscribe_url.clone(), sem.clone());
        posts.spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let r = http
                .post(&url)
                .json(&json!({ "email": format!("s{k}@example.kz"), "language": "ru", "topics": ["ost"] }))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "subscribe: {}", r.status());
        });
    }
    let mut confirmed: HashSet<String> = HashSet::new();
    let mut confirms = tokio::task::JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(if full() { 900 } else { 240 });
    while confirmed.len() < subscribers {
        d.assert_all_up();
        assert!(
            Instant::now() < deadline,
            "{} of {subscribers} confirmed",
            confirmed.len()
        );
        for m in d.smtp.messages() {
            let to = m.rcpt_to[0].to_lowercase();
            if !to.starts_with('s') || confirmed.contains(&to) {
                continue;
            }
            if let Some(url) = m.text_body().and_then(|t| link(&t, &confirm_prefix)) {
                confirmed.insert(to);
                let (http, sem) = (http.clone(), sem.clone());
                confirms.spawn(async move {
                    let _p = sem.acquire().await.unwrap();
                    confirm(&http, &url).await;
                });
            }
        }
        while let Some(r) = posts.try_join_next() {
            r.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while let Some(r) = posts.join_next().await {
        r.unwrap();
    }
    while let Some(r) = confirms.join_next().await {
        r.unwrap();
    }
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE status = 'active' AND 'ost' = ANY(topics)",
    )
    .fetch_one(&d.db)
    .await
    .unwrap();
    assert_eq!(active as usize, subscribers, "every subscriber confirmed");
    wait_until(Duration::from_secs(120), || async {
        let per = tally(&d.smtp.messages());
        campaign_to
            .iter()
            .all(|a| per.contains_key(a))
            .then_some(())
    })
    .await;
    d.assert_all_up();
    let messages = d.smtp.messages();
    let per = tally(&messages);
    let received = per.len();
    let duplicates = messages.len() - received;
    eprintln!(
        "chaos case 1 (load): subscribers {subscribers} + campaign recipients {recipients}, \
         received {received} recipients ({} messages), duplicates {duplicates}, kills 0, seconds {:.1}",
        messages.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(received, subscribers + recipients);
}
