//! `http.onion_url`: a request that comes through the onion address (its
//! `Host`) gets pages whose links stay on it, and the messages answering it
//! (a subscription's confirmation, an appeal's acknowledgement) link to the
//! onion address; the same requests through the public address link there.
//! Every client over Tor shares the Tor daemon's address, so there proof
//! of work limits, never the client address (issue 24, item 3).

use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{TestApp, spawn_app_with};
use serde_json::json;
use uuid::Uuid;

use super::erasure_links::{link, press};
use super::smtp_config;

const ONION_HOST: &str = "forumkzabcdefghij.onion";

fn onion() -> String {
    format!("http://{ONION_HOST}")
}

async fn subscribe(app: &TestApp, email: &str, host: Option<&str>) {
    let mut req = app
        .http
        .post(app.public_url("/api/v1/subscriptions"))
        .json(&json!({ "email": email, "language": "ru", "topics": ["ost"] }));
    if let Some(h) = host {
        // Through the onion address every start needs a proof of work.
        req = req
            .header("host", h)
            .header("x-proof-of-work", app.proof_of_work().await);
    }
    assert_eq!(req.send().await.unwrap().status(), 202);
}

#[tokio::test]
async fn requests_through_the_onion_address_are_answered_with_onion_links() {
    let smtp = SmtpServer::start().await;
    let extra = format!(
        "{}[http]\nonion_url = \"{}/\"\n",
        smtp_config(&smtp),
        onion()
    );
    let app = spawn_app_with(&extra).await;
    let public = app.config.public_base().to_string();

    // Pages fetched through the onion host never send the visitor to the
    // public address (they link relatively).
    for path in ["/", "/subscribe", "/appeal", "/appeal/status"] {
        let r = app
            .http
            .get(app.public_url(path))
            .header("host", ONION_HOST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(!html.contains(&public), "{path} links to {public}");
        assert!(
            html.contains("href=\"/") || html.contains("action=\"/"),
            "{path}"
        );
    }

    // A subscription through the onion address: its confirmation links there.
    let by_onion = format!("onion-{}@example.kz", Uuid::new_v4().simple());
    let by_web = format!("web-{}@example.kz", Uuid::new_v4().simple());
    subscribe(&app, &by_onion, Some(ONION_HOST)).await;
    subscribe(&app, &by_web, None).await;
    let mails = smtp.wait_for(2, std::time::Duration::from_secs(20)).await;
    let to = |a: &str| {
        mails
            .iter()
            .find(|m| m.rcpt_to == vec![a.to_string()])
            .unwrap_or_else(|| panic!("no mail to the test address"))
    };
    let onion_text = to(&by_onion).text_body().unwrap();
    let onion_html = to(&by_onion).html_body().unwrap();
    let confirm = link(&onion_text, &format!("{}/confirm/", onion()));
    link(&onion_text, &format!("{}/forget/", onion()));
    assert!(
        onion_html.contains(&format!("href=\"{confirm}")),
        "{onion_html}"
    );
    assert!(!onion_text.contains(&public), "{onion_text}");
    // Mail providers call List-Unsubscribe themselves: it stays public.
    let lu = to(&by_onion).header("List-Unsubscribe").unwrap();
    assert!(lu.contains("/u/") && !lu.contains(ONION_HOST), "{lu}");
    let web_text = to(&by_web).text_body().unwrap();
    link(&web_text, &format!("{public}/confirm/"));
    assert!(!web_text.contains(ONION_HOST), "{web_text}");
    // The onion link works (the onion service forwards to the listener).
    let local = confirm.replace(&onion(), &public);
    let (status, _) = press(&app, &local).await;
    assert_eq!(status, 200);

    // An appeal through the onion address: its acknowledgement links there.
    let appellant = format!("appellant-{}@example.kz", Uuid::new_v4().simple());
    let r = app
        .http
        .post(app.public_url("/api/v1/appeals"))
        .header("host", ONION_HOST)
        .header("x-proof-of-work", app.proof_of_work().await)
        .json(&json!({
            "category": "police", "region": "pavlodar", "city": "ekibastuz",
            "text": "Отказали.", "consent_to_forward": false, "contact": { "email": appellant },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mails = smtp.wait_for(3, std::time::Duration::from_secs(20)).await;
    let ack = mails
        .iter()
        .find(|m| m.rcpt_to == vec![appellant.clone()])
        .expect("an acknowledgement")
        .text_body()
        .unwrap();
    link(&ack, &format!("{}/appeal/status?lang=", onion()));
    link(&ack, &format!("{}/appeal/forget/", onion()));
    assert!(!ack.contains(&public), "{ack}");
    app.stop().await;
}

/// Issue 24, item 3: one abuser over Tor cannot spend every Tor user's
/// budget. Through the onion address no per-client budget applies; every
/// start (and every status look-up) needs a proof of work instead, and the
/// forms carry one; token links stay one click.
#[tokio::test]
async fn onion_users_are_limited_by_proof_of_work_not_by_the_shared_address() {
    let smtp = SmtpServer::start().await;
    let extra = format!(
        "{}[http]\nonion_url = \"{}/\"\n[limits]\npublic_posts_per_minute = 3\n[appeals]\nrate_limit_per_minute = 2\n",
        smtp_config(&smtp),
        onion()
    );
    let app = spawn_app_with(&extra).await;
    let appeal = |proof: Option<String>| {
        let app = &app;
        async move {
            let mut r = app
                .http
                .post(app.public_url("/api/v1/appeals"))
                .header("host", ONION_HOST)
                .json(
                    &json!({"category": "police", "region": "pavlodar", "city": "ekibastuz",
                              "text": "Отказали.", "consent_to_forward": false}),
                );
            if let Some(p) = proof {
                r = r.header("x-proof-of-work", p);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    // The abuser, over Tor, far past every per-client budget.
    for _ in 0..6 {
        assert_eq!(appeal(Some(app.proof_of_work().await)).await, 201);
        subscribe(
            &app,
            &format!("tor-{}@example.kz", Uuid::new_v4().simple()),
            Some(ONION_HOST),
        )
        .await;
    }
    // Another Tor user is still served; nobody is, without a proof.
    assert_eq!(appeal(Some(app.proof_of_work().await)).await, 201);
    assert_eq!(appeal(None).await, 429);
    let status = app
        .http
        .post(app.public_url("/api/v1/appeals/status"))
        .header("host", ONION_HOST)
        .json(&json!({"case_number": "AP-0000-0000", "access_code": "AAAA-AAAA-AAAA-AAAA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 429, "a look-up too needs a proof over Tor");
    // Through the public address the per-client budget still holds.
    let mut refused = false;
    for _ in 0..6 {
        let r = app
            .http
            .post(app.public_url("/api/v1/subscriptions"))
            .json(
                &json!({ "email": format!("web-{}@example.kz", Uuid::new_v4().simple()),
                           "language": "ru", "topics": ["ost"] }),
            )
            .send()
            .await
            .unwrap();
        refused |= r.status() == 429;
    }
    assert!(refused, "the public address keeps its per-client budget");
    // The forms over Tor carry a challenge, whatever the setting.
    for path in [
        "/talk",
        "/appeal",
        "/appeal/status",
        "/subscribe",
        "/talk/status",
    ] {
        let html = app
            .http
            .get(app.public_url(path))
            .header("host", ONION_HOST)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("name=\"pow\""), "{path} carries a challenge");
    }
    let html = app
        .http
        .get(app.public_url("/talk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("name=\"pow\""),
        "not on the public address (off)"
    );
    app.stop().await;
}
