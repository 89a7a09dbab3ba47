//! Surveys (issue 17): an organiser builds "Access to OST in hospitals"
//! (every question kind, a skip rule, ru / kk / en) in the admin API; it is
//! answered through the JSON API and on the web page in Kazakh; a second
//! answer with the same invitation token is refused; results count per
//! question and cross-tabulate with small cells and their complements
//! shown as "<5"; the CSV neutralises formulas; free text is read only
//! through the audited texts route; the answer tables hold no contact id
//! and no address, and a free-text canary appears nowhere in the clear;
//! the page fits 360 px (`target/screenshots/survey-kk.png`).

use nasvyazi_shared::auth::Role;
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{TestApp, assert_no_plaintext, spawn_app_with};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

const CONFIG: &str = "[limits]\npublic_posts_per_minute = 1000\n";

fn t3(ru: &str, kk: &str, en: &str) -> Value {
    json!({ "ru": ru, "kk": kk, "en": en })
}

/// The issue's example, with one question of every kind and a skip rule
/// (no hospital stay: skip to q4).
fn ost_access(slug: &str) -> Value {
    let yes = json!({"id": "yes", "text": t3("Да", "Иә", "Yes")});
    let no = json!({"id": "no", "text": t3("Нет", "Жоқ", "No")});
    json!({
        "slug": slug,
        "title": t3("Доступ к ОЗТ в больницах", "Ауруханаларда ОАТ қолжетімділігі", "Access to OST in hospitals"),
        "intro": t3("Анонимный опрос пациентов ОЗТ.", "ОАТ пациенттерінің жасырын сауалнамасы.", "An anonymous survey of OST patients."),
        "questions": [
            {"id": "q1", "kind": "single", "required": true,
             "text": t3("Вы лежали в больнице за последние два года?", "Соңғы екі жылда ауруханада жаттыңыз ба?", "Have you been in hospital in the last two years?"),
             "options": [yes, no],
             "skip_if": {"question": "q1", "equals": "no", "skip_to": "q4"}},
            {"id": "q2", "kind": "single",
             "text": t3("Вам давали метадон в больнице?", "Ауруханада сізге метадон берілді ме?", "Were you given methadone in hospital?"),
             "options": [yes, no]},
            {"id": "q3", "kind": "multiple",
             "text": t3("Что произошло?", "Не болды?", "What happened?"),
             "options": [
                {"id": "dose_given", "text": t3("Дозу давали", "Доза берілді", "The dose was given")},
                {"id": "dose_missed", "text": t3("Пропускали дозы", "Дозалар өткізілді", "Doses were missed")},
                {"id": "withdrawal", "text": t3("Была ломка", "Абстиненция болды", "Withdrawal")}
             ]},
            {"id": "q4", "kind": "scale",
             "text": t3("Оцените доступ к ОЗТ в больницах", "Ауруханаларда ОАТ қолжетімділігін бағалаңыз", "Rate access to OST in hospitals")},
            {"id": "q5", "kind": "number",
             "text": t3("Сколько лет вы на ОЗТ?", "ОАТ-да неше жылсыз?", "How many years have you been on OST?")},
            {"id": "q6", "kind": "date",
             "text": t3("Когда вы начали ОЗТ?", "ОАТ-ны қашан бастадыңыз?", "When did you start OST?")},
            {"id": "q7", "kind": "region", "required": true,
             "text": t3("Область", "Облыс", "Region")},
            {"id": "q8", "kind": "site",
             "text": t3("Пункт ОЗТ", "ОАТ пункті", "OST site")},
            {"id": "q9", "kind": "text",
             "text": t3("Что нужно изменить?", "Нені өзгерту керек?", "What should change?")}
        ]
    })
}

async fn post_json(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut r = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    // Every survey answer carries a proof of work.
    if path.ends_with("/answers") {
        r = r.header("x-proof-of-work", app.proof_of_work().await);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, String) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let (s, body) = get(app, token, path).await;
    (s, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// An open "Access to OST in hospitals" survey and its id; an OST site
/// `pavlodar_ost` exists.
async fn open_survey(app: &TestApp, organiser: &str, slug: &str) -> String {
    let site = json!({ "code": "pavlodar_ost", "region": "pavlodar", "city": "pavlodar",
                       "name": t3("Пункт ОЗТ Павлодар", "Павлодар ОАТ пункті", "Pavlodar OST site") });
    let (s, _) = post_json(app, Some(organiser), "/api/v1/admin/sites", site).await;
    assert!(s == 201 || s == 409, "{s}");
    let (s, v) = post_json(
        app,
        Some(organiser),
        "/api/v1/admin/surveys",
        ost_access(slug),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (s, v) = post_json(
        app,
        Some(organiser),
        &format!("/api/v1/admin/surveys/{id}/open"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "open");
    id
}

fn answer_path(slug: &str) -> String {
    format!("/api/v1/surveys/{slug}/answers")
}

/// GETs the page: (csrf token, cookie header, html).
async fn page(app: &TestApp, path: &str) -> (String, String, String) {
    let r = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let html = r.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form carries a csrf field")
        .to_string();
    (csrf, cookie, html)
}

async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    // Every survey answer carries a proof of work (the page's challenge,
    // valid at once with the tests' wait of 0 s; here a solved one).
    let proof = app.proof_of_work().await;
    let mut fields = fields.to_vec();
    fields.push(("pow", &proof));
    let r = app
        .http
        .post(app.url(path))
        .header(COOKIE, cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_survey_of_every_kind_is_answered_counted_and_kept_anonymous() {
    let app = spawn_app_with(CONFIG).await;
    let organiser = app.token(Role::Organiser).await;
    let caseworker = app.token(Role::Caseworker).await;
    let slug = "ost-access";

    // Definitions are checked, naming the field; only organisers and admins.
    let mut bad = ost_access(slug);
    bad["questions"][0]["skip_if"]["skip_to"] = json!("q2");
    let (s, v) = post_json(&app, Some(&organiser), "/api/v1/admin/surveys", bad).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v.to_string().contains("questions[0].skip_if.skip_to"),
        "{v}"
    );
    let mut bad = ost_access(slug);
    bad["questions"][3]["kind"] = json!("slider");
    let (s, _) = post_json(&app, Some(&organiser), "/api/v1/admin/surveys", bad).await;
    assert_eq!(s, 422);
    let mut bad = ost_access(slug);
    bad["questions"][1]["options"] = json!([]);
    let (s, v) = post_json(&app, Some(&organiser), "/api/v1/admin/surveys", bad).await;
    assert_eq!(s, 422);
    assert!(v.to_string().contains("questions[1].options"), "{v}");
    let (s, _) = post_json(
        &app,
        Some(&caseworker),
        "/api/v1/admin/surveys",
        ost_access(slug),
    )
    .await;
    assert_eq!(s, 403);

    // A draft takes no answers.
    let (s, v) = post_json(
        &app,
        Some(&organiser),
        "/api/v1/admin/surveys",
        ost_access("draft-one"),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "draft");
    let (s, _) = post_json(
        &app,
        None,
        &answer_path("draft-one"),
        json!({"answers": {"q1": "no", "q7": "pavlodar"}}),
    )
    .await;
    assert_eq!(s, 404);
    let r = app
        .http
        .get(app.url("/surveys/draft-one"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let id = open_survey(&app, &organiser, slug).await;
    let (s, v) = post_json(
        &app,
        Some(&organiser),
        "/api/v1/admin/surveys",
        ost_access(slug),
    )
    .await;
    assert_eq!(s, 409, "the slug is taken: {v}");

    // The full answer, with an invitation token and a free-text canary.
    let canary = format!("survey-canary-{}", uuid::Uuid::new_v4().simple());
    // An invitation as a campaign issues it (checked against the survey).
    let keys = nasvyazi_shared::crypto::Keyring::from_config(&app.config.crypto).unwrap();
    let token = &nasvyazi_surveys::tokens::issue(&keys, id.parse().unwrap(), uuid::Uuid::new_v4());
    let full = json!({
        "answers": {"q1": "yes", "q2": "yes", "q3": ["dose_given", "withdrawal"], "q4": 4,
                    "q5": -2, "q6": "2019-05-01", "q7": "pavlodar", "q8": "pavlodar_ost",
                    "q9": format!("Больницы должны давать дозу. {canary}")},
        "token": token
    });
    let (s, v) = post_json(&app, None, &answer_path(slug), full.clone()).await;
    assert_eq!(s, 201, "{v}");
    // The same invitation again: refused, nothing stored.
    let (s, v) = post_json(&app, None, &answer_path(slug), full).await;
    assert_eq!(s, 409, "{v}");

    // Answers are checked against the survey, naming the question.
    for (answers, field) in [
        (json!({"q1": "yes"}), "answers.q7"),
        (json!({"q1": "maybe", "q7": "pavlodar"}), "answers.q1"),
        (
            json!({"q1": "yes", "q3": ["dose_given", "nope"], "q7": "pavlodar"}),
            "answers.q3",
        ),
        (
            json!({"q1": "yes", "q4": 9, "q7": "pavlodar"}),
            "answers.q4",
        ),
        (
            json!({"q1": "yes", "q5": "many", "q7": "pavlodar"}),
            "answers.q5",
        ),
        (
            json!({"q1": "yes", "q6": "01.05.2019", "q7": "pavlodar"}),
            "answers.q6",
        ),
        (json!({"q1": "yes", "q7": "atlantis"}), "answers.q7"),
        (
            json!({"q1": "yes", "q7": "pavlodar", "q8": "no_such_site"}),
            "answers.q8",
        ),
        (
            json!({"q1": "yes", "q7": "pavlodar", "q99": "x"}),
            "answers.q99",
        ),
    ] {
        let (s, v) = post_json(
            &app,
            None,
            &answer_path(slug),
            json!({ "answers": answers }),
        )
        .await;
        assert_eq!(s, 422, "{answers}: {v}");
        assert!(v.to_string().contains(field), "{field}: {v}");
    }
    let (s, _) = post_json(
        &app,
        None,
        "/api/v1/surveys/no-such-survey/answers",
        json!({"answers": {}}),
    )
    .await;
    assert_eq!(s, 404);

    // The web form in Kazakh: every question with its skip hint, then
    // a mistake shown in Kazakh, then the answer and the thanks.
    let path = format!("/surveys/{slug}?lang=kk");
    let (csrf, cookie, html) = page(&app, &path).await;
    assert!(html.contains("Ауруханаларда ОАТ қолжетімділігі"), "{html}");
    assert!(
        html.contains("Егер 1-сұраққа «Жоқ» деп жауап берсеңіз"),
        "the skip rule is said: {html}"
    );
    assert!(html.contains("Павлодар ОАТ пункті"), "sites are offered");
    assert!(!html.contains("<script"), "no JavaScript");
    let (s, html) = post_form(&app, &path, &cookie, &[("csrf", &csrf), ("q_q1", "yes")]).await;
    assert_eq!(s, 422);
    assert!(html.contains("7-сұраққа жауап беріңіз"), "{html}");
    let (s, _) = post_form(&app, &path, &cookie, &[("q_q1", "yes"), ("q_q7", "akmola")]).await;
    assert_eq!(s, 403, "no CSRF token, no answer");
    let (s, html) = post_form(
        &app,
        &path,
        &cookie,
        &[
            ("csrf", &csrf),
            ("q_q1", "yes"),
            ("q_q3", "dose_missed"),
            ("q_q3", "withdrawal"),
            ("q_q4", "2"),
            ("q_q5", ""),
            ("q_q7", "akmola"),
            ("q_q9", ""),
        ],
    )
    .await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("Рахмет"), "{html}");

    // The rest through the JSON API: yes/akmola 3 in all (one above),
    // yes/pavlodar 10 (one above), no/pavlodar 10, no/akmola 8. A `no`
    // skips q2 and q3: those answers are ignored.
    let send = |q1: &'static str, q7: &'static str, n: usize| {
        let app = &app;
        async move {
            for _ in 0..n {
                let body = json!({"answers": {"q1": q1, "q2": "no", "q3": ["dose_missed"], "q4": "3", "q7": q7}, "language": "ru"});
                let (s, v) = post_json(app, None, &answer_path(slug), body).await;
                assert_eq!(s, 201, "{v}");
            }
        }
    };
    send("yes", "akmola", 2).await;
    send("yes", "pavlodar", 9).await;
    send("no", "pavlodar", 10).await;
    send("no", "akmola", 8).await;
    let skipped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id
          WHERE r.survey_id = $1::uuid AND a.question_id IN ('q2', 'q3')
            AND a.response_id IN (SELECT response_id FROM survey_answers WHERE question_id = 'q1' AND value = 'no')",
    )
    .bind(&id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(skipped, 0, "answers to skipped questions are not stored");

    // Results: per question, and by region.
    let (s, r) = get_json(
        &app,
        &organiser,
        &format!("/api/v1/admin/surveys/{id}/results"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    // An open survey: counts rounded to 5 (padding-resistant, issue 24).
    assert_eq!(r["rounded_to"], 5);
    assert_eq!(r["responses"], 30, "31 rounded");
    let q = |r: &Value, id: &str| {
        r["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .cloned()
            .unwrap()
    };
    // 13 and 18, rounded.
    assert_eq!(q(&r, "q1")["counts"], json!({"yes": 15, "no": 20}));
    assert_eq!(
        q(&r, "q7")["counts"],
        json!({"pavlodar": 20, "akmola": 10}),
        "region codes seen (20 and 11)"
    );
    // q3 (multiple): dose_missed 12 (shown 10), dose_given and withdrawal small.
    assert_eq!(q(&r, "q3")["counts"]["dose_missed"], 10);
    assert_eq!(q(&r, "q3")["counts"]["dose_given"], "<5");
    assert_eq!(q(&r, "q3")["counts"]["withdrawal"], "<5");
    assert!(
        r["questions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["id"] != "q9"),
        "free text is not counted"
    );
    assert!(!r.to_string().contains(&canary));
    assert!(
        q(&r, "q4")["counts"]["5"] == 0,
        "an empty scale point is a known zero"
    );

    let (s, r) = get_json(
        &app,
        &organiser,
        &format!("/api/v1/admin/surveys/{id}/results?by=q7"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let t = r["crosstabs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["question"] == "q1")
        .unwrap();
    assert_eq!(t["cells"]["yes"]["akmola"], "<5", "the cell of 3");
    // Its complements in the row and the column, and theirs.
    assert_eq!(t["cells"]["yes"]["pavlodar"], "<5", "{t}");
    assert_eq!(t["cells"]["no"]["akmola"], "<5", "{t}");
    assert_eq!(t["cells"]["no"]["pavlodar"], "<5", "{t}");
    assert_eq!(t["row_totals"]["yes"], 15, "13 rounded");
    assert_eq!(t["column_totals"]["akmola"], 10, "11 rounded");
    assert_eq!(t["total"], 30, "31 rounded");
    // No hidden cell can be worked out from a row or a column.
    for row in ["yes", "no"] {
        let hidden = ["pavlodar", "akmola"]
            .iter()
            .filter(|c| t["cells"][row][**c] == "<5")
            .count()
            + usize::from(t["row_totals"][row] == "<5");
        assert_ne!(hidden, 1, "row {row}: {t}");
    }
    for col in ["pavlodar", "akmola"] {
        let hidden = ["yes", "no"]
            .iter()
            .filter(|r| t["cells"][**r][col] == "<5")
            .count()
            + usize::from(t["column_totals"][col] == "<5");
        assert_ne!(hidden, 1, "column {col}: {t}");
    }
    let (s, r) = get_json(
        &app,
        &organiser,
        &format!("/api/v1/admin/surveys/{id}/results?by=language"),
    )
    .await;
    assert_eq!(s, 200);
    let t = r["crosstabs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["question"] == "q7")
        .unwrap();
    assert_eq!(
        t["cells"]["akmola"]["kk"], "<5",
        "the one answer in Kazakh: {t}"
    );
    assert_eq!(t["column_totals"]["kk"], "<5");
    for by in ["q9", "nope"] {
        let (s, _) = get(
            &app,
            &organiser,
            &format!("/api/v1/admin/surveys/{id}/results?by={by}"),
        )
        .await;
        assert_eq!(s, 422, "by={by}");
    }
    let (s, _) = get(
        &app,
        &caseworker,
        &format!("/api/v1/admin/surveys/{id}/results"),
    )
    .await;
    assert_eq!(s, 403);

    // CSV: the same (rounded) numbers, formulas neutralised (a value of -2).
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/surveys/{id}/results.csv?by=q7")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("question,option,by,by_value,count\n"),
        "{csv}"
    );
    assert!(csv.contains("q1,yes,,,15\n"), "{csv}");
    assert!(csv.contains("q1,yes,q7,akmola,<5\n"), "{csv}");
    assert!(csv.contains("q1,(total),q7,(total),30\n"), "{csv}");
    assert!(
        csv.contains("q5,'-2,,,<5\n"),
        "a leading minus is neutralised: {csv}"
    );
    assert!(!csv.contains(&canary));

    // Free text: only through the texts route, audited.
    let (s, _) = get(
        &app,
        &caseworker,
        &format!("/api/v1/admin/surveys/{id}/texts"),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = get_json(
        &app,
        &organiser,
        &format!("/api/v1/admin/surveys/{id}/texts"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["question"], "q9");
    assert_eq!(v[0]["texts"].as_array().unwrap().len(), 1);
    assert!(v[0]["texts"][0].as_str().unwrap().contains(&canary));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'survey.texts.read' AND target = $1",
    )
    .bind(&id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Listing and reading.
    let (s, v) = get_json(&app, &organiser, "/api/v1/admin/surveys").await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (s, v) = get_json(&app, &organiser, &format!("/api/v1/admin/surveys/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["responses"], 31);
    assert_eq!(v["questions"][0]["skip_if"]["skip_to"], "q4");
    assert!(v["url"].as_str().unwrap().ends_with("/surveys/ost-access"));

    // Nothing in the survey tables can point back at a person.
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
          WHERE table_name IN ('survey_responses', 'survey_answers') ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    let names: Vec<String> = columns.iter().map(|(t, c, _)| format!("{t}.{c}")).collect();
    assert_eq!(
        names,
        [
            "survey_answers.response_id",
            "survey_answers.question_id",
            "survey_answers.value",
            "survey_answers.text_ct",
            "survey_responses.id",
            "survey_responses.survey_id",
            "survey_responses.language",
            "survey_responses.submitted_at",
            "survey_responses.token_mac",
            "survey_responses.settled",
        ]
    );
    assert!(
        columns
            .iter()
            .all(|(_, _, ty)| ty != "inet" && ty != "cidr")
    );
    assert!(
        columns
            .iter()
            .any(|(_, c, ty)| c == "submitted_at" && ty == "date"),
        "the day only"
    );
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT get_byte(uuid_send(id), 6) >> 4 FROM survey_responses")
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![4],
        "response ids are random, not time-ordered"
    );
    assert_no_plaintext(&app, &canary).await;
    assert_no_plaintext(&app, token).await;

    // Closed: no more answers; closing twice is a conflict.
    let (s, v) = post_json(
        &app,
        Some(&organiser),
        &format!("/api/v1/admin/surveys/{id}/close"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "closed");
    let (s, _) = post_json(
        &app,
        Some(&organiser),
        &format!("/api/v1/admin/surveys/{id}/close"),
        json!({}),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = post_json(
        &app,
        None,
        &answer_path(slug),
        json!({"answers": {"q1": "no", "q7": "pavlodar"}}),
    )
    .await;
    assert_eq!(s, 404);
    let r = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The contract is in the OpenAPI document.
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/admin/surveys",
        "/api/v1/admin/surveys/{id}/results",
        "/api/v1/admin/surveys/{id}/results.csv",
        "/api/v1/admin/surveys/{id}/texts",
        "/api/v1/surveys/{slug}/answers",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
    app.stop().await;
}

/// The page in Kazakh in a 360-pixel browser: nothing wider than the
/// screen; the screenshot is for eyes (`target/screenshots/survey-kk.png`).
#[tokio::test]
async fn the_survey_page_fits_a_small_phone_in_kazakh() {
    let app = spawn_app_with(CONFIG).await;
    let organiser = app.token(Role::Organiser).await;
    open_survey(&app, &organiser, "ost-access").await;
    let b = Browser::start().await;
    b.goto(&app.url("/surveys/ost-access?lang=kk")).await;
    b.find("textarea[name=q_q9]").await;
    let wide: Vec<String> = b
        .overflowing()
        .await
        .into_iter()
        .filter(|e| !e.starts_with("div.hp"))
        .collect();
    assert!(wide.is_empty(), "wider than the screen: {wide:?}");
    b.screenshot_full("survey-kk").await;
    // Answered in the browser, without JavaScript doing anything.
    b.find("input[name=q_q1][value=yes]").await.click().await;
    b.find("select[name=q_q7] option[value=pavlodar]")
        .await
        .click()
        .await;
    b.find("form[action^='/surveys/'] button[type=submit]")
        .await
        .click()
        .await;
    b.wait_text("h1", "Рахмет").await;
    b.screenshot_full("survey-kk-thanks").await;
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM survey_responses WHERE language = 'kk'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(stored, 1, "the browser's answer is stored");
    b.quit().await;
    app.stop().await;
}
