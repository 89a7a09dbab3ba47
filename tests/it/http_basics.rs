//! Health, readiness, metrics, OpenAPI, reference data, JSON errors,
//! request ids, body limits and graceful shutdown, on every service.

use nasvyazi_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn every_service_serves_the_basics() {
    let app = spawn_app().await;
    for addr in [app.console_addr, app.scheduler, app.notifier] {
        let get = |p: &str| app.http.get(format!("http://{addr}{p}")).send();
        let r = get("/healthz").await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-request-id"));
        let r = get("/readyz").await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["database"], true);
        assert_eq!(body["nats"], true);
        let r = get("/metrics").await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let doc: Value = get("/api/openapi.json")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert!(doc["paths"]["/readyz"].is_object());
        let r = get("/no/such/path").await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "not_found"
        );
    }
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/regions"].is_object());
    assert!(doc["paths"]["/api/v1/admin/tokens"].is_object());

    // Metrics carry the outbox counter once something was published.
    let took = app.stop().await;
    assert!(took.as_secs() < 10, "graceful shutdown took {took:?}");
}

#[tokio::test]
async fn regions_cover_kazakhstan_since_2022() {
    let app = spawn_app().await;
    let regions: Vec<Value> = app
        .http
        .get(app.url("/api/v1/regions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        regions.len(),
        21,
        "17 regions, 3 cities of republican significance, other"
    );
    for r in &regions {
        for lang in ["ru", "kk", "en"] {
            assert!(!r["name"][lang].as_str().unwrap().is_empty());
        }
        assert!(!r["cities"].as_array().unwrap().is_empty());
    }
    let abai = regions.iter().find(|r| r["code"] == "abai").unwrap();
    assert_eq!(abai["name"]["kk"], "Абай облысы");
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_request_ids_propagate() {
    let app = spawn_app().await;
    let admin = app.token(nasvyazi_shared::auth::Role::Admin).await;
    let url = app.url("/api/v1/admin/tokens");
    let r = app
        .http
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );
    let r = app
        .http
        .post(&url)
        .bearer_auth(&admin)
        .json(&serde_json::json!({"role": "king", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let big = "x".repeat(200_000);
    let r = app
        .http
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(format!("{{\"name\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-abc-123");
    app.stop().await;
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    // A router over a closed pool: readiness must say so.
    let infra = app.infra.clone();
    let router = nasvyazi_scheduler::router(&infra);
    infra.db.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(nasvyazi_shared::http::serve(listener, router, stop.clone()));
    let r = app
        .http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["database"], false);
    stop.cancel();
    server.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_matches_the_reference_data_and_documents_errors() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let topics: Vec<&str> = schemas["TopicCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        nasvyazi_supporters::contacts::topics()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let regions: Vec<&str> = schemas["RegionCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let builtin: Vec<&str> = nasvyazi_supporters::regions::builtin()
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    let (mut a, mut b) = (regions.clone(), builtin.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // Every operation with a body documents the JSON error answers.
    let op = &doc["paths"]["/api/v1/subscriptions"]["post"]["responses"];
    for code in ["400", "413", "415", "422", "500"] {
        assert!(
            op[code].is_object(),
            "POST /api/v1/subscriptions lacks {code}"
        );
    }
    // A bad path value answers in the JSON error shape.
    let admin = app.token(nasvyazi_shared::auth::Role::Admin).await;
    let r = app
        .http
        .get(app.url("/api/v1/admin/campaigns/not-a-uuid"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );
    // NUL characters are refused, not stored.
    let r = app
        .http
        .post(app.url("/api/v1/admin/tokens"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(r#"{"role":"admin","name":"a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    app.stop().await;
}
