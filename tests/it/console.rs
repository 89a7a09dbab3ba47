//! The organisers' console in a real browser (headless Chromium over
//! WebDriver, 360 x 740): the Overdose Awareness Day campaign from sign-in
//! to delivered messages (loopback SMTP and the Telegram fake), a
//! caseworker triaging an appeal, an organiser importing officials with a
//! bad row. Screenshots of the main pages in ru and kk go to
//! `target/screenshots/`, and every one is checked for anything wider than
//! the screen. The security checks over plain HTTP are in `security.rs`.
//!
//! Chromium and chromedriver must be installed (`just prepare`): without
//! them these tests fail, they do not skip.

mod campaign_editor;
mod conversations;
mod security;

use std::time::Duration;

use chrono::Utc;
use nasvyazi_campaigns::Campaign;
use nasvyazi_front::console::users;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{NewContact, TestApp, eventually, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";
const TELEGRAM_TOKEN: &str = "5550009:CONSOLE-token_for_nasvyazi";
const WAIT: Duration = Duration::from_secs(20);

/// SMTP, Telegram, no quiet hours, the organisation's name.
pub fn config(smtp: &SmtpServer, fake: Option<&TelegramFake>) -> String {
    let telegram = fake
        .map(|f| {
            format!(
                "[telegram]\napi_base = \"{}\"\ntoken = \"{TELEGRAM_TOKEN}\"\n",
                f.base_url()
            )
        })
        .unwrap_or_default();
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\ntimeout_secs = 5\n\
         [campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n\
         [organisation]\nname = \"Forum KZ\"\n{telegram}",
        smtp.url()
    )
}

/// A console user with [`PASSWORD`]; returns the id.
pub async fn user(app: &TestApp, role: Role, name: &str, email: &str, lang: Lang) -> Uuid {
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let email = EmailAddress::parse(email).unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    let id = users::create(
        &mut tx,
        &keys,
        &users::NewUser {
            name,
            email: &email,
            role,
            language: lang,
        },
        Some(PASSWORD),
        "test",
        None,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// Signs in through the form; waits for the dashboard.
async fn sign_in(b: &Browser, app: &TestApp, email: &str) {
    b.goto(&app.url("/admin")).await;
    b.wait_url("/admin/sign-in").await;
    b.find("input[name=email]").await.send_keys(email).await;
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await;
    b.find("form[action^='/admin/sign-in?'] button[type=submit]")
        .await
        .click()
        .await;
    b.find("nav.menu").await;
}

/// A screenshot of the whole page, after checking that nothing on it is
/// wider than the 360-pixel screen.
async fn shot(b: &Browser, name: &str) {
    let wide = b.overflowing().await;
    assert!(wide.is_empty(), "{name}: wider than the screen: {wide:?}");
    b.screenshot_full(&format!("console-{name}")).await;
}

/// Switches the console language with the header's buttons.
async fn switch_language(b: &Browser, lang: &str) {
    b.find(&format!("form.langs button[value={lang}]"))
        .await
        .click()
        .await;
    b.find(&format!("html[lang={lang}]")).await;
}

async fn telegram_fake() -> TelegramFake {
    TelegramFake::start(FakeConfig {
        tokens: vec![TELEGRAM_TOKEN.into()],
        rate_limits: true,
    })
    .await
    .expect("the fake starts")
}

#[tokio::test]
async fn an_organiser_schedules_the_overdose_day_push_from_a_phone() {
    let smtp = SmtpServer::start().await;
    let fake = telegram_fake().await;
    let app = spawn_app_with(&config(&smtp, Some(&fake))).await;
    let chat = 5_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000) as i64;
    fake.add_chat(NewChat {
        id: chat,
        kind: ChatKind::Private,
        title: None,
        username: None,
    })
    .unwrap();
    app.insert_contact(NewContact::email("ru-reader@example.kz"))
        .await;
    app.insert_contact(NewContact {
        language: "kk",
        ..NewContact::email("kk-reader@example.kz")
    })
    .await;
    let chat_text = chat.to_string();
    app.insert_contact(NewContact {
        channel: "telegram",
        ..NewContact::email(&chat_text)
    })
    .await;
    let organiser = user(
        &app,
        Role::Organiser,
        "Айгерим",
        "aigerim@forum.example.kz",
        Lang::Ru,
    )
    .await;

    let b = Browser::start().await;
    b.goto(&app.url("/admin/sign-in?lang=ru")).await;
    assert_eq!(
        b.execute("return document.documentElement.clientWidth;", vec![])
            .await,
        json!(360),
        "a 360-pixel phone"
    );
    shot(&b, "sign-in-ru").await;
    sign_in(&b, &app, "aigerim@forum.example.kz").await;
    let cookie = b.cookie("nsv_session").await.expect("a session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["secure"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    b.wait_text("h1", "Здравствуйте, Айгерим").await;
    shot(&b, "dashboard-ru").await;

    // A new campaign from the 31 August preset: one tap.
    b.find("a[href='/admin/campaigns']").await.click().await;
    b.find("a[href='/admin/campaigns/new']").await.click().await;
    b.wait_text("h1", "Новая кампания").await;
    shot(&b, "campaign-new-ru").await;
    b.find("button[data-preset=overdose_awareness_day]")
        .await
        .click()
        .await;
    let url = b.wait_url("done=created").await;
    let id: Uuid = url
        .split("/admin/campaigns/")
        .nth(1)
        .and_then(|s| s.split(['?', '#']).next())
        .and_then(|s| s.parse().ok())
        .expect("the campaign's page");
    b.wait_text("h1", "Международный день информирования о передозировках")
        .await;
    let when = b.find("ol.next").await.text().await;
    assert!(when.contains("31 августа"), "{when}");
    assert_eq!(b.find_all("ol.next li").await.len(), 5, "five in words");
    let count = b.find("#audience-count").await.text().await;
    assert!(count.starts_with("3 получателя"), "{count}");
    shot(&b, "campaign-ru").await;

    // The audience: the count, without saving.
    b.find(&format!("a[href='/admin/campaigns/{id}/audience']"))
        .await
        .click()
        .await;
    // Ticking a box re-counts (our script), and so does the button (no script).
    b.find("input[name=languages][value=kk]")
        .await
        .click()
        .await;
    b.wait_text("#audience-count", "1 получатель").await;
    b.find("input[name=languages][value=ru]")
        .await
        .click()
        .await;
    b.find("button[value=count]").await.click().await;
    b.wait_text("#audience-count", "3 получателя").await;
    let ticked = b.find_all("input[name=languages]:checked").await.len();
    assert_eq!(ticked, 2, "the count keeps what was ticked");
    shot(&b, "campaign-audience-ru").await;

    // The Russian texts, then the preview.
    b.goto(&app.url(&format!("/admin/campaigns/{id}/texts?lang=ru")))
        .await;
    let text = b.find("textarea[name=email_text]").await;
    text.clear().await;
    text.send_keys(
        "Сегодня {{ day }}. Мы помним тех, кого потеряли.\n\nОтписаться: {{ unsubscribe_url }}",
    )
    .await;
    let tg = b.find("textarea[name=telegram]").await;
    tg.clear().await;
    tg.send_keys("<b>{{ day }}</b>\nМы помним тех, кого потеряли.")
        .await;
    b.find("#save-preview").await.click().await;
    b.wait_url("done=saved").await;
    b.wait_text("#preview-email", "Мы помним тех, кого потеряли")
        .await;
    let bubble = b.find("#preview-telegram b").await.text().await;
    assert_eq!(bubble, "Международный день информирования о передозировках");
    shot(&b, "campaign-texts-ru").await;

    // A test to oneself, then approve.
    b.goto(&app.url(&format!("/admin/campaigns/{id}"))).await;
    b.find("#test button[type=submit]").await.click().await;
    b.wait_text("p.notice", "Пробное сообщение").await;
    let test = smtp.wait_for(1, WAIT).await.remove(0);
    assert_eq!(test.rcpt_to, ["aigerim@forum.example.kz"]);
    smtp.clear_messages();
    b.find("#approve").await.click().await;
    b.wait_text("p.notice", "Кампания одобрена").await;
    b.wait_text("h1 .badge", "Запланирована").await;

    // The day comes: fire the occurrence as the scheduler would.
    let campaign = Campaign::load(&app.infra.db, id).await.unwrap().unwrap();
    let occurrence = Uuid::now_v7();
    sqlx::query("INSERT INTO occurrences (id, campaign_id, scheduled_at, status) VALUES ($1, $2, now(), 'triggered')")
        .bind(occurrence)
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    nasvyazi_notifier::fanout::expand(&mut tx, &campaign, occurrence, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mails = smtp.wait_for(2, WAIT).await;
    let ru = mails
        .iter()
        .find(|m| m.rcpt_to == ["ru-reader@example.kz"])
        .expect("the Russian reader's email");
    assert!(
        ru.text_body()
            .unwrap()
            .contains("Мы помним тех, кого потеряли"),
        "the edited text went out"
    );
    let kk = mails
        .iter()
        .find(|m| m.rcpt_to == ["kk-reader@example.kz"])
        .unwrap();
    assert!(
        kk.header("Subject").unwrap().contains("Артық дозалану"),
        "Kazakh readers get Kazakh"
    );
    let sent = eventually(WAIT, || async {
        let sent = fake.sent_to(chat);
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert!(sent[0]["text"].as_str().unwrap().contains("Мы помним"));

    // Progress shows the deliveries.
    eventually(WAIT, || async {
        b.goto(&app.url(&format!("/admin/campaigns/{id}"))).await;
        let sent = b.find("#progress [data-count=sent]").await.text().await;
        (sent == "3").then_some(())
    })
    .await;
    b.goto(&app.url(&format!("/admin/campaigns/{id}#progress")))
        .await;
    shot(&b, "campaign-progress-ru").await;

    // The same pages in Kazakh.
    switch_language(&b, "kk").await;
    b.wait_text("h1 .badge", "Жоспарланды").await;
    shot(&b, "campaign-kk").await;
    b.goto(&app.url(&format!("/admin/campaigns/{id}/texts?lang=kk")))
        .await;
    shot(&b, "campaign-texts-kk").await;
    b.goto(&app.url("/admin/campaigns/new")).await;
    shot(&b, "campaign-new-kk").await;
    b.goto(&app.url("/admin")).await;
    b.wait_text("h1", "Сәлеметсіз бе").await;
    shot(&b, "dashboard-kk").await;
    b.goto(&app.url("/admin/supporters")).await;
    shot(&b, "supporters-kk").await;
    b.goto(&app.url("/admin/account")).await;
    shot(&b, "account-kk").await;

    // Sign out: the session is gone.
    b.find("footer.who button").await.click().await;
    b.wait_url("/admin/sign-in").await;
    b.goto(&app.url("/admin/sign-in?lang=kk")).await;
    b.wait_text("h1", "Консольге кіру").await;
    shot(&b, "sign-in-kk").await;
    assert!(b.cookie("nsv_session").await.is_none());
    b.goto(&app.url("/admin/campaigns")).await;
    b.wait_url("/admin/sign-in").await;

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor = $1 AND target = $2 ORDER BY id",
    )
    .bind(format!("user:{organiser}"))
    .bind(id.to_string())
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "campaign.create",
            "campaign.update",
            "campaign.test_send",
            "campaign.approve"
        ]
    );
    b.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn a_caseworker_triages_an_appeal_and_cannot_open_campaign_editing() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    let r = app
        .http
        .post(app.url("/api/v1/appeals"))
        .json(&json!({
            "category": "hospital_no_ost",
            "region": "pavlodar",
            "city": "ekibastuz",
            "text": "В больнице отказали в заместительной терапии на третий день.",
            "consent_to_forward": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let case: String = r.json::<Value>().await.unwrap()["case_number"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.token(Role::Organiser).await;
    let campaign: Value = app
        .http
        .post(app.url("/api/v1/admin/campaigns"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "World AIDS Day",
            "schedule": { "kind": "day", "day": "world_aids_day" },
            "audience": { "channels": ["email"] },
            "templates": { "ru": { "email_subject": "{{ day }}", "email_text": "{{ day }}" } }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let campaign_id = campaign["id"].as_str().unwrap().to_string();
    let caseworker = user(
        &app,
        Role::Caseworker,
        "Дана",
        "dana@forum.example.kz",
        Lang::Ru,
    )
    .await;

    let b = Browser::start().await;
    sign_in(&b, &app, "dana@forum.example.kz").await;
    let menu = b.find("nav.menu").await.text().await;
    assert!(
        menu.contains("Обращения") && !menu.contains("Кампании"),
        "{menu}"
    );
    b.find("a.kpi[href='/admin/appeals?status=new'] strong")
        .await;
    b.wait_text("a.kpi[href='/admin/appeals?status=new'] strong", "1")
        .await;
    b.find("a[href='/admin/appeals']").await.click().await;
    b.wait_text("ul.cards", &case).await;
    shot(&b, "appeals-ru").await;
    b.find("ul.cards a").await.click().await;
    b.wait_text("div.text", "отказали в заместительной терапии")
        .await;
    shot(&b, "appeal-ru").await;
    // Triage: status, then a note.
    b.find("select[name=status] option[value=triaged]")
        .await
        .click()
        .await;
    b.find("#set-status").await.click().await;
    b.wait_text("p.notice", "Статус изменён").await;
    b.find("textarea[name=text]")
        .await
        .send_keys("Позвонить в больницу, уточнить у главврача.")
        .await;
    b.find("#add-note").await.click().await;
    b.wait_text("ul.notes", "Позвонить в больницу").await;
    b.wait_text("h1 .badge", "На рассмотрении").await;
    switch_language(&b, "kk").await;
    shot(&b, "appeal-kk").await;
    b.goto(&app.url("/admin/appeals")).await;
    shot(&b, "appeals-kk").await;
    b.goto(&app.url("/admin/appeals/stats")).await;
    shot(&b, "appeal-stats-kk").await;

    // Campaign editing is not for caseworkers.
    b.goto(&app.url(&format!("/admin/campaigns/{campaign_id}/texts?lang=ru")))
        .await;
    b.wait_text("h1", "Қолжетімділік жоқ").await;
    shot(&b, "forbidden-kk").await;

    let (status, actions): (String, Vec<String>) = (
        sqlx::query_scalar("SELECT status FROM appeals WHERE case_number = $1")
            .bind(&case)
            .fetch_one(&app.infra.db)
            .await
            .unwrap(),
        sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = $1 ORDER BY id")
            .bind(format!("user:{caseworker}"))
            .fetch_all(&app.infra.db)
            .await
            .unwrap(),
    );
    assert_eq!(status, "triaged");
    for a in [
        "user.sign_in",
        "appeal.list",
        "appeal.read",
        "appeal.status",
        "appeal.note",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    b.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn an_organiser_imports_officials_and_sees_the_bad_row() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    user(
        &app,
        Role::Organiser,
        "Ерлан",
        "erlan@forum.example.kz",
        Lang::Kk,
    )
    .await;
    let dir = std::env::temp_dir().join(format!("nasvyazi-officials-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let header = "name,position,organisation,email,language,time_zone,office_hours,daily_cap\n";
    let good = "Асель Нурланова,Министр здравоохранения,Минздрав РК,minister@moh.example.kz,ru,Asia/Almaty,Mon-Fri 09:00-18:00,20\n";
    let bad = format!(
        "{header}{good}Ерлан Сапаров,Аким области,Акимат Павлодарской области,not-an-address,kk,Asia/Almaty,,\n"
    );
    let fixed = format!(
        "{header}{good}Ерлан Сапаров,Аким области,Акимат Павлодарской области,akim@pavlodar.example.kz,kk,Asia/Almaty,,\n"
    );
    let (bad_path, fixed_path) = (dir.join("bad.csv"), dir.join("fixed.csv"));
    std::fs::write(&bad_path, bad).unwrap();
    std::fs::write(&fixed_path, fixed).unwrap();

    let b = Browser::start().await;
    sign_in(&b, &app, "erlan@forum.example.kz").await;
    b.wait_text("h1", "Сәлеметсіз бе, Ерлан").await;
    b.find("a[href='/admin/letters']").await.click().await;
    b.find("a[href='/admin/officials']").await.click().await;
    b.find("input[type=file]")
        .await
        .send_keys(&bad_path.display().to_string())
        .await;
    b.find("form[action='/admin/officials/import'] button")
        .await
        .click()
        .await;
    let errors = b
        .wait_text("#import-errors", "пошта мекенжайы қате жазылған")
        .await;
    assert!(errors.contains('3'), "the third line: {errors}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM officials")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "all rows or none");
    shot(&b, "officials-error-kk").await;
    b.find("input[type=file]")
        .await
        .send_keys(&fixed_path.display().to_string())
        .await;
    b.find("form[action='/admin/officials/import'] button")
        .await
        .click()
        .await;
    b.wait_text("#import-done", "2").await;
    b.wait_text("ul.list", "Асель Нурланова").await;
    switch_language(&b, "ru").await;
    shot(&b, "officials-ru").await;

    // A letter to both: a draft, its Russian text, the preview, approval.
    b.goto(&app.url("/admin/letters")).await;
    b.find("form[action='/admin/letters/new'] input[name=name]")
        .await
        .send_keys("ОЗТ в больницах")
        .await;
    b.find("form[action='/admin/letters/new'] input[name=slug]")
        .await
        .send_keys("ost-hospitals")
        .await;
    b.find("form[action='/admin/letters/new'] button")
        .await
        .click()
        .await;
    b.wait_url("/edit").await;
    b.find("input[name=subject]")
        .await
        .send_keys("Обращение: {{ official.position }}")
        .await;
    b.find("textarea[name=body]")
        .await
        .send_keys("Уважаемый(ая) {{ official.name }}!\n\nПросим обеспечить доступ к ОЗТ в больницах.\n\n{{ signer.name }}, {{ signer.city }}")
        .await;
    for target in b.find_all("input[name=targets]").await {
        target.click().await;
    }
    b.find("form[action$='/edit'] button[type=submit]")
        .await
        .click()
        .await;
    b.wait_text("p.notice", "Сохранено").await;
    shot(&b, "letter-edit-ru").await;
    b.find("a[href$='#preview']").await.click().await;
    b.find("input[name=signer_name]")
        .await
        .send_keys("Айгерим")
        .await;
    b.find("input[name=signer_city]")
        .await
        .send_keys("Павлодар")
        .await;
    b.find("#preview form button").await.click().await;
    let letter = b
        .wait_text("#preview article.mail", "Айгерим, Павлодар")
        .await;
    assert!(letter.contains("Уважаемый(ая)"), "{letter}");
    b.find("#decide button[value=approve]").await.click().await;
    b.wait_text("h1 .badge", "Сбор подписей").await;
    shot(&b, "letter-ru").await;

    // A letter whose fate is unknown (a sender stopped mid-send): the
    // organiser checks and says it arrived.
    let letter_url = b.current_url().await;
    let delivery = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, status, attempts)
         SELECT $1, 'letter', t.id, $2, 'email', 'unknown', 1 FROM letter_targets t
         JOIN letters l ON l.id = t.letter_id WHERE l.slug = 'ost-hospitals' LIMIT 1",
    )
    .bind(delivery)
    .bind(Uuid::now_v7())
    .execute(&app.infra.db)
    .await
    .unwrap();
    b.goto(&letter_url).await;
    b.wait_text("#unknown", "@forum.example.kz").await;
    shot(&b, "letter-unknown-ru").await;
    b.find("#unknown button[value=sent]").await.click().await;
    b.wait_text("p.notice", "Решение записано").await;
    let resolution: String =
        sqlx::query_scalar("SELECT resolution FROM letter_resolutions WHERE delivery_id = $1")
            .bind(delivery)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(resolution, "sent");
    b.goto(&app.url("/admin/letters")).await;
    shot(&b, "letters-ru").await;
    let _ = std::fs::remove_dir_all(&dir);
    b.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn an_admin_adds_a_caseworker_and_reads_the_audit_log_and_settings() {
    let smtp = SmtpServer::start().await;
    let fake = telegram_fake().await;
    let app = spawn_app_with(&config(&smtp, Some(&fake))).await;
    user(&app, Role::Admin, "Асем", "asem@forum.example.kz", Lang::Ru).await;
    let b = Browser::start().await;
    sign_in(&b, &app, "asem@forum.example.kz").await;
    b.find("a[href='/admin/users']").await.click().await;
    b.find("form[action='/admin/users'] input[name=name]")
        .await
        .send_keys("Дана")
        .await;
    b.find("form[action='/admin/users'] input[name=email]")
        .await
        .send_keys("dana@forum.example.kz")
        .await;
    b.find("select[name=role] option[value=caseworker]")
        .await
        .click()
        .await;
    b.find("form[action='/admin/users'] button")
        .await
        .click()
        .await;
    let password = b.find("section.notice-card code.secret").await.text().await;
    assert_eq!(password.len(), 19, "four groups of four: {password}");
    shot(&b, "users-ru").await;
    let role: String = sqlx::query_scalar("SELECT role FROM console_users WHERE name = 'Дана'")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(role, "caseworker");
    b.find("a[href='/admin/audit']").await.click().await;
    b.wait_text("ul.audit", "user.create").await;
    shot(&b, "audit-ru").await;
    b.find("a[href='/admin/settings']").await.click().await;
    b.wait_text("main", "Forum KZ").await;
    shot(&b, "settings-ru").await;
    switch_language(&b, "kk").await;
    shot(&b, "settings-kk").await;
    b.goto(&app.url("/admin/users")).await;
    shot(&b, "users-kk").await;
    b.quit().await;
    app.stop().await;
}
