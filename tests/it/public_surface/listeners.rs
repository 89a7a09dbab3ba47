//! Two listeners: the public one serves no staff path; the staff one
//! serves them as before.

use nasvyazi_shared::auth::Role;
use nasvyazi_tests::spawn_app;

#[tokio::test]
async fn staff_paths_are_404_on_the_public_listener_and_work_on_the_console_listener() {
    let app = spawn_app().await;
    let admin = app.token(Role::Admin).await;
    assert_ne!(app.front, app.console_addr);
    let staff_gets = [
        "/admin",
        "/admin/",
        "/admin/sign-in",
        "/admin/campaigns",
        "/static/console.css",
        "/api/v1/admin/whoami",
        "/api/v1/admin/campaigns",
        "/api/v1/admin/appeals/stats",
        "/api/v1/admin/letters",
        "/api/v1/admin/officials",
        "/metrics",
    ];
    for path in staff_gets {
        let r = app
            .http
            .get(app.public_url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "GET {path} on the public listener");
    }
    for path in [
        "/admin/sign-in",
        "/api/v1/admin/tokens",
        "/admin/sign-in/link",
    ] {
        let r = app
            .http
            .post(app.public_url(path))
            .bearer_auth(&admin)
            .form(&[("email", "x@example.kz")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "POST {path} on the public listener");
    }

    // The staff listener: as before.
    let get = |path: &'static str| {
        app.http
            .get(app.console_url(path))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(get("/admin/sign-in").await.unwrap().status(), 200);
    let r = get("/admin").await.unwrap();
    assert_eq!(r.status(), 303, "to the sign-in page");
    let r = get("/api/v1/admin/whoami").await.unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(get("/api/v1/admin/campaigns").await.unwrap().status(), 200);
    let r = get("/metrics").await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = get("/api/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/admin/whoami"].is_object());

    // The public listener still serves the public.
    for path in [
        "/",
        "/subscribe",
        "/appeal",
        "/api/v1/topics",
        "/healthz",
        "/readyz",
    ] {
        let r = app.http.get(app.public_url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path} on the public listener");
    }
    app.stop().await;
}
