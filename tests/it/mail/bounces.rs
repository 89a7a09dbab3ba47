//! Bounces and complaints after the fact: campaign mail leaves with a VERP
//! return path; a DSN (RFC 3464) or an ARF complaint (RFC 5965) sent by a
//! real SMTP client (lettre) to our bounce listener suppresses the address,
//! marks the delivery, unsubscribes on a complaint, and shows in the
//! console without the address.

use std::time::{Duration, Instant};

use chrono::Utc;
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{NewContact, TestApp, eventually, spawn_app_with};
use serde_json::json;
use uuid::Uuid;

use super::email_config;

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(super) async fn app(smtp: &SmtpServer, port: u16, soft_limit: u32) -> TestApp {
    spawn_app_with(&email_config(
        smtp,
        &format!(
            "[campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n\
             [bounces]\nlisten = \"127.0.0.1:{port}\"\nsoft_limit = {soft_limit}\nsoft_window_days = 7\n"
        ),
    ))
    .await
}

fn client(port: u16) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build()
}

/// A DSN as Postfix writes one, quoting the address (which must go nowhere).
pub(super) fn dsn(to: &str, recipient: &str, status: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@mx.example.kz (Mail Delivery System)\r\nTo: {to}\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\
<{recipient}>: host mx.example.kz said: {status} mailbox problem\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example.kz\r\nArrival-Date: Mon, 30 Nov 2026 10:00:00 +0500\r\n\r\n\
Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n\
Action: failed\r\nStatus: {status}\r\n\
Diagnostic-Code: smtp; {status} <{recipient}>: mailbox problem\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: x\r\n\r\n--B--\r\n"
    )
    .into_bytes()
}

fn arf(to: &str, recipient: &str) -> Vec<u8> {
    format!(
        "From: feedback@isp.example\r\nTo: {to}\r\nSubject: FW: complaint\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n\
--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
--F\r\nContent-Type: message/feedback-report\r\n\r\n\
Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n\
Original-Rcpt-To: <{recipient}>\r\n\r\n\
--F\r\nContent-Type: message/rfc822\r\n\r\nFrom: noreply@forum.example.kz\r\nTo: {recipient}\r\nSubject: x\r\n\r\nbody\r\n--F--\r\n"
    )
    .into_bytes()
}

async fn send(port: u16, to: &str, data: &[u8]) -> Result<(), lettre::transport::smtp::Error> {
    let envelope = Envelope::new(None, vec![to.parse().unwrap()]).unwrap();
    client(port).send_raw(&envelope, data).await.map(|_| ())
}

pub(super) async fn delivery_status(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

async fn suppressed(app: &TestApp, keys: &Keyring, address: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT reason FROM suppressions WHERE channel = 'email' AND blind_index = $1",
    )
    .bind(keys.blind_index("email", address))
    .fetch_optional(&app.infra.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_dsn_suppresses_a_complaint_unsubscribes_and_the_console_shows_both() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, 2).await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let (dead, complainer, fine) = ("dead@example.kz", "angry@example.kz", "fine@example.kz");
    for a in [dead, complainer, fine] {
        app.insert_contact(NewContact {
            topics: &["overdose"],
            ..NewContact::email(a)
        })
        .await;
    }
    let at = (Utc::now().with_timezone(&chrono_tz::Asia::Almaty) + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let admin = app.token(Role::Admin).await;
    let r = app
        .http
        .post(app.url("/api/v1/admin/campaigns"))
        .bearer_auth(&admin)
        .json(&json!({
            "name": "Day", "schedule": { "kind": "once", "at": [at] },
            "audience": { "topics": ["overdose"], "languages": [], "regions": [], "channels": ["email"] },
            "templates": { "ru": { "email_subject": "День", "email_text": "Текст. {{ unsubscribe_url }}" } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .http
        .post(app.url(&format!("/api/v1/admin/campaigns/{id}/approve")))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = smtp.wait_for(3, Duration::from_secs(30)).await;
    let verp = |a: &str| {
        got.iter()
            .find(|m| m.rcpt_to[0] == a)
            .map(|m| m.mail_from.clone())
            .unwrap()
    };
    let delivery_of = |a: &str| -> Uuid {
        let v = verp(a);
        nasvyazi_shared::email::verp::parse(&keys, &app.config.email.return_path, &v).unwrap()
    };
    let (dead_id, angry_id, fine_id) = (
        delivery_of(dead),
        delivery_of(complainer),
        delivery_of(fine),
    );
    // The ledger records 'sent' once the worker has answered.
    eventually(Duration::from_secs(10), || async {
        (delivery_status(&app, dead_id).await == "sent"
            && delivery_status(&app, angry_id).await == "sent")
            .then_some(())
    })
    .await;

    // Nothing is suppressed before the reports (the test can fail).
    assert_eq!(suppressed(&app, &keys, dead).await, None);

    // A forged or unknown address is refused at RCPT, before any data.
    let forged = verp(dead).replace(&dead_id.simple().to_string(), &fine_id.simple().to_string());
    assert!(
        send(port, &forged, &dsn(&forged, dead, "5.1.1"))
            .await
            .is_err()
    );
    assert!(
        send(
            port,
            "postmaster@bounces.forum.example.kz",
            b"Subject: x\r\n\r\nx\r\n"
        )
        .await
        .is_err()
    );
    assert_eq!(delivery_status(&app, fine_id).await, "sent");

    // A hard bounce: suppressed, the delivery 'bounced'.
    send(port, &verp(dead), &dsn(&verp(dead), dead, "5.1.1"))
        .await
        .unwrap();
    assert_eq!(delivery_status(&app, dead_id).await, "bounced");
    assert_eq!(
        suppressed(&app, &keys, dead).await.as_deref(),
        Some("bounce")
    );
    // The same report again (the sender's retry) changes nothing.
    send(port, &verp(dead), &dsn(&verp(dead), dead, "5.1.1"))
        .await
        .unwrap();
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bounce_events WHERE delivery_id = $1")
            .bind(dead_id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(events, 1);

    // A complaint: suppressed, 'complained', and front unsubscribes.
    send(port, &verp(complainer), &arf(&verp(complainer), complainer))
        .await
        .unwrap();
    assert_eq!(delivery_status(&app, angry_id).await, "complained");
    assert_eq!(
        suppressed(&app, &keys, complainer).await.as_deref(),
        Some("complaint")
    );
    eventually(Duration::from_secs(20), || async {
        let s: String = sqlx::query_scalar("SELECT status FROM contacts WHERE blind_index = $1")
            .bind(keys.blind_index("email", complainer))
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
        (s == "unsubscribed").then_some(())
    })
    .await;

    // Soft bounces count: the first does not suppress, the second (limit 2) does.
    send(port, &verp(fine), &dsn(&verp(fine), fine, "4.2.2"))
        .await
        .unwrap();
    assert_eq!(delivery_status(&app, fine_id).await, "bounced");
    assert_eq!(
        suppressed(&app, &keys, fine).await,
        None,
        "one soft bounce is not enough"
    );
    let contact: Uuid = sqlx::query_scalar("SELECT contact_id FROM deliveries WHERE id = $1")
        .bind(fine_id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let second = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, status) VALUES ($1, 'campaign', $2, $3, 'email', 'sent')",
    )
    .bind(second)
    .bind(Uuid::now_v7())
    .bind(contact)
    .execute(&app.infra.db)
    .await
    .unwrap();
    let second_verp =
        nasvyazi_shared::email::verp::address(&keys, &app.config.email.return_path, second)
            .unwrap();
    send(port, &second_verp, &dsn(&second_verp, fine, "4.2.2"))
        .await
        .unwrap();
    assert_eq!(
        suppressed(&app, &keys, fine).await.as_deref(),
        Some("soft bounces")
    );

    // The console's settings page shows the outcomes, never the addresses.
    crate::console::user(
        &app,
        Role::Admin,
        "Admin",
        "admin@forum.example.kz",
        Lang::En,
    )
    .await;
    let mut agent = crate::security::agent::Agent::new(&app);
    agent
        .sign_in("admin@forum.example.kz", crate::console::PASSWORD)
        .await;
    let page = agent.get("/admin/settings").await.text().await.unwrap();
    assert!(page.contains("id=\"bounces\""), "{page}");
    let section = page.split("id=\"bounces\"").nth(1).unwrap();
    assert!(
        section.contains("<td>campaign</td><td>3</td><td>1</td>"),
        "{section}"
    );
    for a in [dead, complainer, fine] {
        assert!(!page.contains(a), "no address on the page");
    }
    // The sending domain's check: each selector with the exact record to
    // publish (the public key openssl derived), "not checked" offline (or
    // "missing": the test domain does not exist).
    let domain = page
        .split("id=\"domain\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    let domain = &domain.replace("&#x2f;", "/");
    for (selector, _, public) in [super::RSA_PKCS1, super::RSA_PKCS8, super::ED25519] {
        assert!(domain.contains(&format!("DKIM {selector}")), "{domain}");
        assert!(
            domain.contains(public.trim()),
            "{selector}: the record to publish"
        );
    }
    assert!(
        domain.contains("_dmarc.forum.example.kz") && domain.contains("v=DMARC1"),
        "{domain}"
    );
    assert!(
        domain.contains("bounces.forum.example.kz"),
        "SPF of the envelope domain: {domain}"
    );
    assert!(
        domain.contains("not checked") || domain.contains("missing"),
        "{domain}"
    );
    nasvyazi_tests::assert_no_plaintext(&app, dead).await;
    app.stop().await;
}

/// `cargo nextest run -p nasvyazi-tests -E 'test(/mail::bounces::throughput/)' --no-capture`
/// prints the rate: hard-bounce DSNs over one SMTP connection, each
/// parsed, applied in its own transaction and answered 250.
#[tokio::test]
async fn throughput_of_the_bounce_listener() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, 3).await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    const N: usize = 300;
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let address = format!("bulk{i}@example.kz");
        let contact = app.insert_contact(NewContact::email(&address)).await;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, status) VALUES ($1, 'campaign', $2, $3, 'email', 'sent')",
        )
        .bind(id)
        .bind(Uuid::now_v7())
        .bind(contact)
        .execute(&app.infra.db)
        .await
        .unwrap();
        ids.push((id, address));
    }
    // lettre's client over a TCP_NODELAY socket (as the notifier's own pool
    // does): lettre writes the data and its final "." separately, so with
    // Nagle on, every message would wait ~40 ms for the delayed ACK and the
    // figure would measure that, not the listener.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let mut conn =
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &ClientId::default())
            .await
            .unwrap();
    let started = Instant::now();
    for (id, address) in &ids {
        let to = nasvyazi_shared::email::verp::address(&keys, &app.config.email.return_path, *id)
            .unwrap();
        let envelope = Envelope::new(None, vec![to.parse().unwrap()]).unwrap();
        conn.send(&envelope, &dsn(&to, address, "5.1.1"))
            .await
            .unwrap();
    }
    let took = started.elapsed();
    conn.quit().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM suppressions WHERE reason = 'bounce'")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(n, N as i64, "every bounce suppressed its address");
    println!(
        "bounce listener: {N} DSNs in {:.2} s = {:.0} bounces/s (one connection, debug build)",
        took.as_secs_f64(),
        N as f64 / took.as_secs_f64()
    );
    app.stop().await;
}

/// A letter to an official that bounces is marked `bounced` for the
/// organisers; nothing is resent and no official is suppressed.
#[tokio::test]
async fn a_bounced_letter_is_marked_bounced_and_never_resent() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, 3).await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    super::dkim::letter(&app, &keys).await;
    let m = smtp.wait_for(1, Duration::from_secs(30)).await.remove(0);
    let id =
        nasvyazi_shared::email::verp::parse(&keys, &app.config.email.return_path, &m.mail_from)
            .expect("the letter's return path names its delivery");
    eventually(Duration::from_secs(10), || async {
        (delivery_status(&app, id).await == "sent").then_some(())
    })
    .await;
    send(
        port,
        &m.mail_from,
        &dsn(&m.mail_from, "official@gov.example.kz", "5.1.1"),
    )
    .await
    .unwrap();
    assert_eq!(delivery_status(&app, id).await, "bounced");
    let suppressions: i64 = sqlx::query_scalar("SELECT count(*) FROM suppressions")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(suppressions, 0, "officials are not suppressed, only marked");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1, "nothing is resent");
    assert_eq!(delivery_status(&app, id).await, "bounced");
    app.stop().await;
}
