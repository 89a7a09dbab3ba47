//! Admin API authentication, roles and audit.

use nasvyazi_shared::auth::Role;
use nasvyazi_tests::spawn_app;
use serde_json::{Value, json};

#[tokio::test]
async fn admin_api_refuses_missing_unknown_and_underprivileged_tokens_and_audits() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/admin/tokens");
    let body = json!({ "role": "caseworker", "name": "new worker" });

    // No token: 401 with the JSON error shape.
    let r = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "unauthorized");
    assert!(e["error"]["message"].is_string());

    // Unknown token: 401.
    let r = app
        .http
        .post(&url)
        .bearer_auth("nsv_not-a-real-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Wrong role: 403.
    let organiser = app.token(Role::Organiser).await;
    let r = app
        .http
        .post(&url)
        .bearer_auth(&organiser)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "forbidden");

    // Right role: created, and the audit row exists.
    let admin = app.token(Role::Admin).await;
    let r = app
        .http
        .post(&url)
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let new_token = created["token"].as_str().unwrap().to_string();
    let new_id = created["id"].as_str().unwrap().to_string();
    let (action, target, role): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT action, target, actor_role FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(action, "token.create");
    assert_eq!(target.as_deref(), Some(new_id.as_str()));
    assert_eq!(role.as_deref(), Some("admin"));

    // The new token works, with its role; its secret is not stored.
    let r = app
        .http
        .get(app.url("/api/v1/admin/whoami"))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "caseworker");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM admin_tokens WHERE position(convert_to($1, 'UTF8') in token_hash) > 0",
    )
    .bind(&new_token)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    // The audit log is readable by admin, not by an organiser.
    let r = app
        .http
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows: Vec<Value> = r.json().await.unwrap();
    assert!(rows.iter().any(|r| r["action"] == "token.create"));

    // Revoked tokens stop working.
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/admin/tokens/{new_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .http
        .get(app.url("/api/v1/admin/whoami"))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn organisers_extend_the_regions_list() {
    let app = spawn_app().await;
    let organiser = app.token(Role::Organiser).await;
    let caseworker = app.token(Role::Caseworker).await;
    let place = json!({ "region": "pavlodar", "city": "zhelezinka",
        "name": { "ru": "Железинка", "kk": "Железин", "en": "Zhelezinka" } });
    let r = app
        .http
        .post(app.url("/api/v1/admin/places"))
        .bearer_auth(&caseworker)
        .json(&place)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(app.url("/api/v1/admin/places"))
        .bearer_auth(&organiser)
        .json(&place)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .http
        .post(app.url("/api/v1/admin/places"))
        .bearer_auth(&organiser)
        .json(&place)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let bad = json!({ "region": "Pavlodar!", "name": { "ru": "x", "kk": "x", "en": "x" } });
    let r = app
        .http
        .post(app.url("/api/v1/admin/places"))
        .bearer_auth(&organiser)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    let regions: Vec<Value> = app
        .http
        .get(app.url("/api/v1/regions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pavlodar = regions.iter().find(|r| r["code"] == "pavlodar").unwrap();
    let cities: Vec<&str> = pavlodar["cities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(
        cities.contains(&"zhelezinka") && cities.contains(&"ekibastuz"),
        "{cities:?}"
    );
    app.stop().await;
}
