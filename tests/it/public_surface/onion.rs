//! `http.onion_url`: a request that comes through the onion address (its
//! `Host`) gets pages whose links stay on it, and the messages answering it
//! (a subscription's confirmation, an appeal's acknowledgement) link to the
//! onion address; the same requests through the public address link there.

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
        req = req.header("host", h);
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
