//! Anti-abuse: the abuse loop costs at most the hourly email budget (the
//! rest wait in the queue), per-client and per-address budgets, and
//! `X-Forwarded-For` believed only from `http.trusted_proxies`.

use std::time::{Duration, Instant};

use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{eventually, spawn_app_with};

use super::{smtp_config, stranger, subscribe};

#[tokio::test]
async fn an_abuse_loop_costs_at_most_the_email_budget_and_every_answer_is_the_same() {
    const N: usize = 3000;
    const BUDGET: i64 = 5;
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&format!(
        "{}[limits]\nconfirmation_emails_per_hour = {BUDGET}\npublic_posts_per_minute = 100000\n",
        smtp_config(&smtp)
    ))
    .await;
    let started = Instant::now();
    let first = subscribe(&app, &stranger(), None).await;
    assert_eq!(first.0, 202);
    for _ in 1..N {
        let answer = subscribe(&app, &stranger(), None).await;
        assert_eq!(answer, first, "every answer is the same bytes");
    }
    let took = started.elapsed();
    eprintln!(
        "abuse loop: {N} requests answered in {took:?}, {:.0} requests/s (limiter on)",
        N as f64 / took.as_secs_f64()
    );

    // Every confirmation is queued; BUDGET are sent, the others wait for
    // the next hours' budget (queued, not dropped).
    let (sent, waiting) = eventually(Duration::from_secs(180), || async {
        let (sent, waiting, total): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'sent'),
                    count(*) FILTER (WHERE status = 'queued' AND next_attempt_at > now() + interval '5 minutes'),
                    count(*)
             FROM deliveries WHERE kind = 'confirmation'",
        )
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        (total == N as i64 && sent + waiting == total).then_some((sent, waiting))
    })
    .await;
    assert_eq!(sent, BUDGET);
    assert_eq!(waiting, N as i64 - BUDGET);
    let emails = smtp
        .wait_for(BUDGET as usize, Duration::from_secs(30))
        .await
        .len();
    assert_eq!(emails, BUDGET as usize);
    eprintln!(
        "abuse loop: {emails} emails sent for {N} requests; {waiting} queued for later hours"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_per_client_budget_refuses_with_one_answer() {
    let app = spawn_app_with("").await;
    assert_eq!(app.config.limits.public_posts_per_minute, 20);
    // The budget refills one request every 3 s: a slow machine may see a
    // 21st or 22nd accepted, never fewer than 20.
    let mut accepted = 0;
    let refused = loop {
        let answer = subscribe(&app, &stranger(), None).await;
        if answer.0 != 202 {
            break answer;
        }
        accepted += 1;
        assert!(accepted < 40, "the budget is never refused");
    };
    assert!(
        accepted >= 20,
        "{accepted} accepted before the first refusal"
    );
    assert_eq!(refused.0, 429);
    let body: serde_json::Value = serde_json::from_slice(&refused.1).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    let mut more = Vec::new();
    for _ in 0..5 {
        let answer = subscribe(&app, &stranger(), None).await;
        if answer.0 == 202 {
            accepted += 1;
        } else {
            more.push(answer);
        }
    }
    assert!(!more.is_empty());
    assert!(
        more.iter().all(|a| *a == refused),
        "every refusal is the same bytes"
    );
    // The pages share the budget and refuse with a page.
    let r = eventually(Duration::from_secs(10), || async {
        let r = app
            .http
            .post(app.public_url("/subscribe?lang=en"))
            .form(&[("email", "x@example.kz")])
            .send()
            .await
            .unwrap();
        (r.status() == 429).then_some(r)
    })
    .await;
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(r.text().await.unwrap().contains("Too many requests"));
    // Nothing was stored for the refused ones.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(n, accepted);
    app.stop().await;
}

#[tokio::test]
async fn the_same_address_five_times_in_a_minute_gets_one_email() {
    let smtp = SmtpServer::start().await;
    // No resend delay: only the per-address budget stands between the
    // requests and five emails.
    let app = spawn_app_with(&format!(
        "{}[subscriptions]\nresend_after_minutes = 0\n[limits]\nconfirmations_per_address_per_hour = 1\n",
        smtp_config(&smtp)
    ))
    .await;
    let email = stranger();
    let first = subscribe(&app, &email, None).await;
    assert_eq!(first.0, 202);
    for _ in 0..4 {
        assert_eq!(
            subscribe(&app, &email, None).await,
            first,
            "the same answer"
        );
    }
    // A fresh address still gets its answer and its email: same bytes.
    assert_eq!(subscribe(&app, &stranger(), None).await, first);
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM front_outbox WHERE event_type = 'contact.pending'",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(
        pending, 2,
        "one confirmation for the repeated address, one for the other"
    );
    let mails = smtp.wait_for(2, Duration::from_secs(20)).await;
    let to_repeated = mails
        .iter()
        .filter(|m| m.rcpt_to == [email.clone()])
        .count();
    assert_eq!(to_repeated, 1);
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer_and_honoured_from_a_trusted_one() {
    // Untrusted (the default: no proxies): every forged header is one client.
    let app = spawn_app_with("[limits]\npublic_posts_per_minute = 2\n").await;
    let xff = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
    assert_eq!(subscribe(&app, &stranger(), Some(xff[0])).await.0, 202);
    assert_eq!(subscribe(&app, &stranger(), Some(xff[1])).await.0, 202);
    assert_eq!(subscribe(&app, &stranger(), Some(xff[2])).await.0, 429);
    app.stop().await;

    // Trusted (the test's peer is loopback): the right-most untrusted entry
    // is the client, whatever the client wrote to the left of it.
    let app = spawn_app_with(
        "[http]\ntrusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n[limits]\npublic_posts_per_minute = 2\n",
    )
    .await;
    for x in xff {
        assert_eq!(subscribe(&app, &stranger(), Some(x)).await.0, 202, "{x}");
    }
    let spoofed = "203.0.113.66, 198.51.100.1, 10.1.2.3";
    assert_eq!(subscribe(&app, &stranger(), Some(spoofed)).await.0, 202);
    assert_eq!(
        subscribe(&app, &stranger(), Some(spoofed)).await.0,
        429,
        "198.51.100.1's third"
    );
    assert_eq!(
        subscribe(&app, &stranger(), Some("198.51.100.2")).await.0,
        202
    );
    app.stop().await;
}
