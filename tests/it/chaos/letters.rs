//! Case 5: letters to officials with `kill -9` of the real `nasvyazi up`
//! twice mid-send: no letter is ever sent twice; each ends `sent` or
//! `unknown` (a crash between the server's answer and the record).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nasvyazi_letters::signature_aad;
use nasvyazi_shared::crypto::{Keyring, random_token, token_hash};
use nasvyazi_shared::events::Event;
use nasvyazi_shared::outbox::{self, Outbox};
use nasvyazi_tests::cluster::Deployment;
use nasvyazi_tests::smtp::{Behaviour, Received};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{full, wait_until};

async fn post(d: &Deployment, token: &str, path: &str, body: Value) -> reqwest::Response {
    d.http
        .post(d.console_url(0, path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// A confirmed signature inserted as front stores one, with its
/// `signature.confirmed` event in the same transaction.
async fn insert_signer(d: &Deployment, letter: Uuid, i: usize) {
    let keys = Keyring::from_config(&d.config.crypto).unwrap();
    let id = Uuid::now_v7();
    let email = format!("signer{i}@example.kz");
    let (key, wrapped) = keys.new_data_key();
    let seal = |v: &str, f| key.seal(v.as_bytes(), &signature_aad(id, f));
    let withdraw = random_token(32);
    let mut tx = d.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO letter_signatures (id, letter_id, email_bi, data_key, name_ct, city_ct, note_ct, email_ct,
             language, allow_reply_to, consent_at, withdraw_token_hash, withdraw_token_ct, confirmed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ru', false, now(), $9, $10, now())",
    )
    .bind(id)
    .bind(letter)
    .bind(keys.blind_index("email", &email))
    .bind(wrapped)
    .bind(seal(&format!("Signer {i}"), "name"))
    .bind(seal("Pavlodar", "city"))
    .bind(seal("", "note"))
    .bind(seal(&email, "email"))
    .bind(token_hash(&withdraw))
    .bind(seal(&withdraw, "withdraw"))
    .execute(&mut *tx)
    .await
    .unwrap();
    outbox::enqueue(
        &mut tx,
        Outbox::Front,
        Event::SignatureConfirmed { signature_id: id },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn statuses(d: &Deployment, letter: Uuid) -> HashMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.status, count(*) FROM deliveries d JOIN letter_targets t ON t.id = d.ref_id
         WHERE d.kind = 'letter' AND t.letter_id = $1 GROUP BY 1",
    )
    .bind(letter)
    .fetch_all(&d.db)
    .await
    .unwrap();
    rows.into_iter().collect()
}

fn letters_only(all: Vec<Received>) -> Vec<Received> {
    all.into_iter()
        .filter(|m| {
            m.header("Message-ID")
                .is_some_and(|id| id.contains("letter-"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_survive_two_kills_mid_send_with_no_duplicate() {
    let signers = if full() { 500 } else { 100 };
    const OFFICIALS: usize = 2;
    let total = signers * OFFICIALS;
    let mut d = Deployment::start(
        None,
        "[letters]\nofficial_daily_cap = 0\nlease_secs = 3\ndomain_per_minute = 60000\n",
    )
    .await;
    d.smtp
        .set_behaviour(Behaviour::Stall(Duration::from_millis(40)));
    d.spawn(&["up"]).await;
    let token = d.token(nasvyazi_shared::auth::Role::Organiser).await;
    let mut officials = Vec::new();
    for k in 0..OFFICIALS {
        let r = post(
            &d,
            &token,
            "/api/v1/admin/officials",
            json!({ "name": format!("Official {k}"), "position": "Minister", "organisation": "Ministry of Health",
                    "email": format!("official{k}@gov.example.kz"), "language": "ru", "time_zone": "Asia/Almaty",
                    "office_hours": "Mon-Sun 00:00-24:00", "daily_cap": null }),
        )
        .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        officials.push(id_of(&r.json().await.unwrap()));
    }
    let r = post(
        &d,
        &token,
        "/api/v1/admin/letters",
        json!({
            "name": "Letter chaos", "slug": "chaos", "mode": "each",
            "templates": { "ru": {
                "subject": "Обращение: {{ official.position }}",
                "body": "Уважаемый(ая) {{ official.name }}!\n\n{{ signer.name }}, {{ signer.city }}",
                "page_text": "Письмо." } },
            "targets": officials, "reply_to": "office@forum.example.kz",
            "official_interval_minutes": 0, "domain_per_minute": 60000
        }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let letter = id_of(&r.json().await.unwrap());
    let r = post(
        &d,
        &token,
        &format!("/api/v1/admin/letters/{letter}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for i in 0..signers {
        insert_signer(&d, letter, i).await;
    }
    let started = Instant::now();
    for share in [30, 65] {
        let at = total * share / 100;
        wait_until(Duration::from_secs(240), || async {
            (letters_only(d.smtp.messages()).len() >= at).then_some(())
        })
        .await;
        d.kill(0);
        d.restart(0).await;
    }
    // Every letter ends sent or unknown; none twice.
    let final_statuses = wait_until(Duration::from_secs(300), || async {
        let s = statuses(&d, letter).await;
        let done = s.get("sent").copied().unwrap_or(0) + s.get("unknown").copied().unwrap_or(0);
        (done == total as i64).then_some(s)
    })
    .await;
    d.assert_all_up();
    let letters = letters_only(d.smtp.messages());
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for m in &letters {
        *per_id.entry(m.header("Message-ID").unwrap()).or_default() += 1;
    }
    let duplicates = letters.len() - per_id.len();
    let sent = final_statuses.get("sent").copied().unwrap_or(0) as usize;
    let unknown = final_statuses.get("unknown").copied().unwrap_or(0) as usize;
    eprintln!(
        "chaos case 5 (letters): letters {total}, received {}, sent {sent}, unknown {unknown}, \
         duplicates {duplicates}, kills 2, seconds {:.1}",
        letters.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(duplicates, 0, "a letter was sent twice");
    assert!(letters.len() >= sent && letters.len() <= total);
}
