//! Surveys that cannot be tied to anyone (issue 24, items 8-10), attacked
//! as the review did, with a copy of the database and every key:
//!
//! - the join of answers to the invitations that carried them through
//!   `xmin`, row order or a date finds no pair, only whole batches;
//! - padding an open survey with known answers (each with a proof of work)
//!   reveals no cell below 5 in the published counts; a survey that takes
//!   invited answers only refuses the rest;
//! - the page of an invitation link does not say whether it was used.

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_surveys::tokens as survey_tokens;
use nasvyazi_tests::{TestApp, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

const CONFIG: &str = "[limits]\npublic_posts_per_minute = 1000\n";

fn t3(ru: &str, kk: &str, en: &str) -> Value {
    json!({ "ru": ru, "kk": kk, "en": en })
}

/// q1: hospitalised (yes / no); q2: refused methadone (yes / no); q3: region.
fn definition(slug: &str, invited_only: bool) -> Value {
    let yes_no = json!([{"id": "yes", "text": t3("Да", "Иә", "Yes")},
                        {"id": "no", "text": t3("Нет", "Жоқ", "No")}]);
    json!({
        "slug": slug,
        "title": t3("Больница", "Аурухана", "Hospital"),
        "invited_only": invited_only,
        "questions": [
            {"id": "q1", "kind": "single", "required": true,
             "text": t3("Лежали в больнице?", "Ауруханада жаттыңыз ба?", "In hospital?"), "options": yes_no},
            {"id": "q2", "kind": "single", "required": true,
             "text": t3("Отказали в метадоне?", "Метадоннан бас тартты ма?", "Methadone refused?"), "options": yes_no},
            {"id": "q3", "kind": "region", "required": true,
             "text": t3("Область", "Облыс", "Region")}
        ]
    })
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut r = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if path.ends_with("/answers") {
        r = r.header("x-proof-of-work", app.proof_of_work().await);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn open_survey(app: &TestApp, organiser: &str, slug: &str, invited_only: bool) -> Uuid {
    let (s, v) = post(
        app,
        Some(organiser),
        "/api/v1/admin/surveys",
        definition(slug, invited_only),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["invited_only"], invited_only);
    let id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let (s, v) = post(
        app,
        Some(organiser),
        &format!("/api/v1/admin/surveys/{id}/open"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    id
}

fn answers(q1: &str, q2: &str, region: &str) -> Value {
    json!({"q1": q1, "q2": q2, "q3": region})
}

#[tokio::test]
async fn nothing_joins_an_answer_to_the_invitation_that_carried_it() {
    let app = spawn_app_with(CONFIG).await;
    let organiser = app.token(Role::Organiser).await;
    let survey = open_survey(&app, &organiser, "unlinkable", false).await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let path = "/api/v1/surveys/unlinkable/answers";
    // Five invitees (the attacker knows each one's token: the contacts
    // table and the blind-index key give it) answer one after another,
    // each differently.
    let contacts: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let regions = ["akmola", "pavlodar", "almaty", "karaganda", "kostanay"];
    for (i, contact) in contacts.iter().enumerate() {
        let token = survey_tokens::issue(&keys, survey, *contact);
        let body = json!({"answers": answers("yes", "no", regions[i]), "token": token});
        let (s, v) = post(&app, None, path, body).await;
        assert_eq!(s, 201, "{v}");
        if i < 4 {
            // Pending: the invitations wait in one sorted array, the
            // answers unsettled; nothing is in survey_token_uses yet.
            let (uses, macs): (i64, Vec<Vec<u8>>) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM survey_token_uses WHERE survey_id = $1),
                        (SELECT macs FROM survey_token_pending WHERE survey_id = $1)",
            )
            .bind(survey)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
            assert_eq!(uses, 0);
            assert_eq!(macs.len(), i + 1);
            let mut sorted = macs.clone();
            sorted.sort();
            assert_eq!(macs, sorted, "no order of arrival");
        }
    }

    // The attack, with the copy and the keys: each invitee's token hash,
    // then the answers that share its transaction id.
    let macs: Vec<Vec<u8>> = contacts
        .iter()
        .map(|c| survey_tokens::token_mac(&keys, survey, &survey_tokens::issue(&keys, survey, *c)))
        .collect();
    for mac in &macs {
        let (found, candidates, regions_seen): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(r.id), count(DISTINCT a.value)
               FROM survey_token_uses u
               LEFT JOIN survey_responses r ON r.xmin::text = u.xmin::text
               LEFT JOIN survey_answers a ON a.response_id = r.id AND a.question_id = 'q3'
              WHERE u.survey_id = $1 AND u.token_mac = $2",
        )
        .bind(survey)
        .bind(mac)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        assert!(found >= 1, "the invitation's use is recorded");
        assert!(
            candidates >= 5 && regions_seen == 5,
            "xmin points at the whole batch, never one answer: {candidates} / {regions_seen}"
        );
    }
    // Every row of the batch: one transaction id, one date; the rows lie
    // in the order of their random ids (answers) and hashes (uses), not
    // in the order they came.
    let (xmins, days): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT xmin::text), count(DISTINCT submitted_at)
           FROM survey_responses WHERE survey_id = $1",
    )
    .bind(survey)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!((xmins, days), (1, 1));
    let in_place: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM survey_responses WHERE survey_id = $1 ORDER BY ctid")
            .bind(survey)
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    let mut by_id = in_place.clone();
    by_id.sort();
    assert_eq!(in_place, by_id, "physical order is the random ids' order");
    let uses_in_place: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT token_mac FROM survey_token_uses WHERE survey_id = $1 ORDER BY ctid",
    )
    .bind(survey)
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    let mut sorted = macs.clone();
    sorted.sort();
    assert_eq!(uses_in_place, sorted, "the uses lie in their hashes' order");

    // A used invitation stays used, settled or not.
    let token = survey_tokens::issue(&keys, survey, contacts[2]);
    let body = json!({"answers": answers("no", "no", "akmola"), "token": token});
    assert_eq!(post(&app, None, path, body).await.0, 409);
    app.stop().await;
}

#[tokio::test]
async fn padding_an_open_survey_reveals_no_small_cell_and_costs_a_proof_each() {
    let app = spawn_app_with(CONFIG).await;
    let organiser = app.token(Role::Organiser).await;
    let survey = open_survey(&app, &organiser, "padding", false).await;
    let path = "/api/v1/surveys/padding/answers";
    // The truth: two people in Akmola, both hospitalised and refused; six
    // in Pavlodar.
    for body in std::iter::repeat_n(answers("yes", "yes", "akmola"), 2)
        .chain(std::iter::repeat_n(answers("no", "no", "pavlodar"), 6))
    {
        let (s, v) = post(&app, None, path, json!({ "answers": body })).await;
        assert_eq!(s, 201, "{v}");
    }
    // Without a proof of work, padding is refused.
    let r = app
        .http
        .post(app.url(path))
        .json(&json!({"answers": answers("yes", "yes", "akmola")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // The outsider adds five known answers to every cell.
    for q1 in ["yes", "no"] {
        for q2 in ["yes", "no"] {
            for region in ["akmola", "pavlodar"] {
                for _ in 0..5 {
                    let (s, v) = post(
                        &app,
                        None,
                        path,
                        json!({ "answers": answers(q1, q2, region) }),
                    )
                    .await;
                    assert_eq!(s, 201, "{v}");
                }
            }
        }
    }
    // Then reads the published counts and subtracts what they added.
    for by in ["q3", "q1"] {
        let r: Value = app
            .http
            .get(app.url(&format!("/api/v1/admin/surveys/{survey}/results?by={by}")))
            .bearer_auth(&organiser)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["rounded_to"], 5);
        // Five per (q1, q2, region) combination: a cell of one question
        // against another sums the third's two values.
        let padded = 10;
        for t in r["crosstabs"].as_array().unwrap() {
            for (row, line) in t["cells"].as_object().unwrap() {
                for (col, shown) in line.as_object().unwrap() {
                    let Some(n) = shown.as_i64() else { continue };
                    assert_eq!(n % 5, 0, "{row}/{col}: {n} is rounded");
                    let revealed = n - padded;
                    assert!(
                        !(1..5).contains(&revealed),
                        "by {by}: {row}/{col} reveals {revealed}: {t}"
                    );
                }
            }
        }
        for q in r["questions"].as_array().unwrap() {
            for (_, shown) in q["counts"].as_object().unwrap() {
                if let Some(n) = shown.as_i64() {
                    assert_eq!(n % 5, 0, "{q}");
                }
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_invited_only_survey_takes_invited_answers_only_and_the_link_says_nothing() {
    let app = spawn_app_with(CONFIG).await;
    let organiser = app.token(Role::Organiser).await;
    let survey = open_survey(&app, &organiser, "invited", true).await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let path = "/api/v1/surveys/invited/answers";
    let (s, v) = post(
        &app,
        None,
        path,
        json!({"answers": answers("yes", "no", "akmola")}),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "invitation_required");
    let page = |q: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(app.url(&format!("/surveys/invited{q}")))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.text().await.unwrap())
        }
    };
    assert_eq!(page(String::new()).await.0, 403, "no invitation, no form");

    let token = survey_tokens::issue(&keys, survey, Uuid::new_v4());
    let unused_page = page(format!("?lang=ru&t={token}")).await;
    assert_eq!(unused_page.0, 200);
    let body = json!({"answers": answers("yes", "no", "akmola"), "token": token});
    assert_eq!(post(&app, None, path, body).await.0, 201);
    // The link's page after it was used: the same page (issue 24, item
    // 10): whoever holds the link cannot tell.
    let used_page = page(format!("?lang=ru&t={token}")).await;
    assert_eq!(used_page.0, 200);
    let strip = |html: &str| {
        html.lines()
            .filter(|l| !l.contains("name=\"csrf\"") && !l.contains("name=\"pow\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&unused_page.1), strip(&used_page.1));
    let r: Value = app
        .http
        .get(app.url(&format!("/api/v1/admin/surveys/{survey}/results")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["rounded_to"], 1, "invited answers: exact counts");
    app.stop().await;
}
