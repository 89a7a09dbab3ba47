//! Surveys in the bot (issue 17): a survey with every question kind and a
//! skip rule answered in Russian through the fake Bot API, with button
//! presses (`callback_query`), a multiple choice ticked, "back", "skip", a
//! wrong number refused, interrupted by /help and resumed with /survey;
//! the answer is stored (and its free text sealed), the session is gone;
//! the skip rule jumps; /forget deletes a survey in progress; an
//! invitation token from a deep link answers once, the second time is
//! refused; no chat id and no free text in the clear anywhere.

use nasvyazi_shared::auth::Role;
use nasvyazi_surveys::tokens as survey_tokens;
use nasvyazi_tests::{TestApp, assert_no_plaintext, eventually, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::telegram::{
    TOKEN, WAIT, buttons, config, contact, declare, fake, keys, new_chat, wait_sent, wait_text,
};
use nasvyazi_telegram_fake::TelegramFake;

fn t3(ru: &str, kk: &str, en: &str) -> Value {
    json!({ "ru": ru, "kk": kk, "en": en })
}

/// One question of every kind; "no" to q1 skips to q4.
fn definition(slug: &str) -> Value {
    json!({
        "slug": slug,
        "title": t3("Доступ к ОЗТ в больницах", "Ауруханаларда ОАТ", "Access to OST in hospitals"),
        "intro": t3("Анонимный опрос.", "Жасырын сауалнама.", "An anonymous survey."),
        "questions": [
            {"id": "q1", "kind": "single", "required": true,
             "text": t3("Вы лежали в больнице?", "Ауруханада жаттыңыз ба?", "Were you in hospital?"),
             "options": [{"id": "yes", "text": t3("Да", "Иә", "Yes")}, {"id": "no", "text": t3("Нет", "Жоқ", "No")}],
             "skip_if": {"question": "q1", "equals": "no", "skip_to": "q4"}},
            {"id": "q2", "kind": "multiple", "text": t3("Что произошло?", "Не болды?", "What happened?"),
             "options": [{"id": "a", "text": t3("Дали дозу", "Доза берілді", "Dose given")},
                         {"id": "b", "text": t3("Пропуск", "Өткізу", "Missed")},
                         {"id": "c", "text": t3("Ломка", "Абстиненция", "Withdrawal")}]},
            {"id": "q3", "kind": "scale", "text": t3("Оцените", "Бағалаңыз", "Rate it")},
            {"id": "q4", "kind": "number", "required": true, "text": t3("Сколько лет на ОЗТ?", "Неше жыл?", "How many years?")},
            {"id": "q5", "kind": "date", "text": t3("Когда начали?", "Қашан бастадыңыз?", "Since when?")},
            {"id": "q6", "kind": "region", "required": true, "text": t3("Область", "Облыс", "Region")},
            {"id": "q7", "kind": "site", "text": t3("Пункт ОЗТ", "ОАТ пункті", "OST site")},
            {"id": "q8", "kind": "text", "text": t3("Что изменить?", "Нені өзгерту керек?", "What should change?")}
        ]
    })
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// An open survey with a short random slug (a deep link holds at most 64
/// characters); its id.
async fn open_survey(app: &TestApp, organiser: &str, slug: &str) -> Uuid {
    let site = json!({ "code": "pavlodar_ost", "region": "pavlodar", "city": "pavlodar",
                       "name": t3("Пункт ОЗТ Павлодар", "Павлодар ОАТ пункті", "Pavlodar OST site") });
    let (s, _) = post(app, organiser, "/api/v1/admin/sites", site).await;
    assert!(s == 201 || s == 409, "{s}");
    let (s, v) = post(app, organiser, "/api/v1/admin/surveys", definition(slug)).await;
    assert_eq!(s, 201, "{v}");
    let id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let (s, v) = post(
        app,
        organiser,
        &format!("/api/v1/admin/surveys/{id}/open"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    id
}

fn say(fake: &TelegramFake, chat: i64, text: &str) {
    fake.inject_text(TOKEN, chat, chat, text).unwrap();
}

/// Presses the button `data` under message `index` of the chat (it must
/// be there), and waits until that message says `next`.
async fn press(fake: &TelegramFake, chat: i64, index: usize, data: &str, next: &str) -> Value {
    let m = wait_sent(fake, chat, index + 1).await[index].clone();
    assert!(
        buttons(&m).iter().any(|b| b == data),
        "no button {data} in {m}"
    );
    let id = m["message_id"].as_i64().unwrap();
    fake.inject_callback(TOKEN, chat, chat, id, data).unwrap();
    // In its text or on its buttons.
    eventually(WAIT, || async {
        fake.sent_to(chat)
            .get(index)
            .filter(|m| {
                m["text"].as_str().is_some_and(|t| t.contains(next))
                    || m["reply_markup"].to_string().contains(next)
            })
            .cloned()
    })
    .await
}

async fn sessions(app: &TestApp, survey: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM survey_bot_sessions WHERE survey_id = $1")
        .bind(survey)
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

async fn responses(app: &TestApp, survey: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM survey_responses WHERE survey_id = $1")
        .bind(survey)
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_survey_is_answered_in_the_bot_with_back_skip_and_a_pause() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let organiser = app.token(Role::Organiser).await;
    let slug = format!("bot-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let survey = open_survey(&app, &organiser, &slug).await;
    let chat = new_chat();
    declare(&fake, chat);
    let canary = format!("больнице нужен протокол canary-{}", Uuid::new_v4().simple());

    // The first question, with the survey's title and the promise.
    say(&fake, chat, &format!("/survey {slug}"));
    let first = wait_text(&fake, chat, 0, "Вопрос 1 из 8").await;
    let text = first["text"].as_str().unwrap();
    assert!(
        text.contains("Доступ к ОЗТ в больницах") && text.contains("анонимный"),
        "{text}"
    );
    let b = buttons(&first);
    assert!(
        b.contains(&"sv:0:v:yes".to_string()) && b.contains(&"sv:0:x".to_string()),
        "{b:?}"
    );
    assert!(
        !b.iter()
            .any(|x| x.ends_with(":skip") || x.ends_with(":back")),
        "a required first question: no skip, no back: {b:?}"
    );

    // Single choice, then two options ticked and "done".
    press(&fake, chat, 0, "sv:0:v:yes", "Вопрос 2 из 8").await;
    let m = press(&fake, chat, 0, "sv:1:t:a", "✅ Дали дозу").await;
    assert!(buttons(&m).contains(&"sv:1:back".to_string()));
    press(&fake, chat, 0, "sv:1:t:c", "✅ Ломка").await;
    press(&fake, chat, 0, "sv:1:done", "Вопрос 3 из 8").await;
    // Back: the ticks are still there; done again.
    let m = press(&fake, chat, 0, "sv:2:back", "Вопрос 2 из 8").await;
    let shown = m["reply_markup"].to_string();
    assert!(
        shown.contains("✅ Дали дозу")
            && shown.contains("✅ Ломка")
            && shown.contains("▫️ Пропуск"),
        "{shown}"
    );
    press(&fake, chat, 0, "sv:1:done", "Вопрос 3 из 8").await;
    // A stale button (of question 2) does nothing.
    let id = fake.sent_to(chat)[0]["message_id"].as_i64().unwrap();
    fake.inject_callback(TOKEN, chat, chat, id, "sv:1:t:b")
        .unwrap();
    // The scale is skipped.
    press(&fake, chat, 0, "sv:2:skip", "Вопрос 4 из 8").await;
    assert!(
        !fake.sent_to(chat)[0]["reply_markup"]
            .to_string()
            .contains("sv:3:skip"),
        "q4 is required"
    );

    // A number as a message: a wrong one (too large) is refused, then 7.
    // (Words are not a survey answer: see `a_cry_for_help_during_a_survey`.)
    say(&fake, chat, "99999999999999");
    wait_text(&fake, chat, 1, "не принимается").await;
    say(&fake, chat, "7");
    wait_text(&fake, chat, 2, "Вопрос 5 из 8").await;

    // Interrupted (/help), resumed where it stopped.
    say(&fake, chat, "/help");
    wait_text(&fake, chat, 3, "/stop").await;
    say(&fake, chat, &format!("/survey {slug}"));
    wait_text(&fake, chat, 4, "Продолжим").await;
    wait_text(&fake, chat, 4, "Вопрос 5 из 8").await;

    // A date as people write it, a region and a site by button, then the
    // free text: sent, thanked.
    say(&fake, chat, "05.03.2019");
    wait_text(&fake, chat, 5, "Вопрос 6 из 8").await;
    press(&fake, chat, 5, "sv:5:v:pavlodar", "Вопрос 7 из 8").await;
    press(&fake, chat, 5, "sv:6:v:pavlodar_ost", "Вопрос 8 из 8").await;
    say(&fake, chat, &canary);
    wait_text(&fake, chat, 6, "Спасибо").await;

    // Stored as the web stores it: the skipped scale absent, the text sealed.
    assert_eq!(responses(&app, survey).await, 1);
    assert_eq!(
        sessions(&app, survey).await,
        0,
        "the session is deleted on submit"
    );
    let mut values: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "SELECT a.question_id, a.value, a.text_ct IS NOT NULL FROM survey_answers a
           JOIN survey_responses r ON r.id = a.response_id WHERE r.survey_id = $1",
    )
    .bind(survey)
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    values.sort();
    let v = |q: &str, x: &str| (q.to_string(), Some(x.to_string()), false);
    assert_eq!(
        values,
        vec![
            v("q1", "yes"),
            v("q2", "a"),
            v("q2", "c"),
            v("q4", "7"),
            v("q5", "2019-03-05"),
            v("q6", "pavlodar"),
            v("q7", "pavlodar_ost"),
            ("q8".to_string(), None, true),
        ]
    );
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/surveys/{survey}/results")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/surveys/{survey}/texts")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains(&canary),
        "the free text reads back"
    );

    // Answering did not make the person a subscriber.
    assert!(contact(&app, chat).await.is_none());
    // Neither the chat id nor the free text is anywhere in the clear.
    assert_no_plaintext(&app, &chat.to_string()).await;
    assert_no_plaintext(&app, &canary).await;
    app.stop().await;
}

#[tokio::test]
async fn skip_rules_forget_and_a_one_time_invitation() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let organiser = app.token(Role::Organiser).await;
    let slug = format!("bot-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let survey = open_survey(&app, &organiser, &slug).await;

    // "No" skips to q4; /forget deletes the survey in progress.
    let chat = new_chat();
    declare(&fake, chat);
    say(&fake, chat, &format!("/survey {slug}"));
    press(&fake, chat, 0, "sv:0:v:no", "Вопрос 4 из 8").await;
    assert_eq!(sessions(&app, survey).await, 1);
    say(&fake, chat, "/forget");
    wait_text(&fake, chat, 1, "Незаконченный опрос удалён").await;
    assert_eq!(sessions(&app, survey).await, 0);
    // Typing now opens no survey step (a consultation, as before).
    say(&fake, chat, "12");
    let m = wait_sent(&fake, chat, 3).await;
    assert!(
        !m[2]["text"].as_str().unwrap().contains("Вопрос"),
        "{}",
        m[2]
    );

    // An unknown survey is said so.
    let other = new_chat();
    declare(&fake, other);
    say(&fake, other, "/survey no-such-survey");
    wait_text(&fake, other, 0, "не принимает ответы").await;

    // An invitation through the deep link: answered once.
    let k = keys(&app);
    let token = survey_tokens::issue(&k, survey, Uuid::new_v4());
    let start = format!("/start survey_{slug}_{token}");
    assert!(start.len() - "/start ".len() <= 64, "{start}");
    let invited = new_chat();
    declare(&fake, invited);
    say(&fake, invited, &start);
    press(&fake, invited, 0, "sv:0:v:no", "Вопрос 4 из 8").await;
    say(&fake, invited, "3");
    wait_text(&fake, invited, 1, "Вопрос 5 из 8").await;
    press(&fake, invited, 1, "sv:4:skip", "Вопрос 6 из 8").await;
    press(&fake, invited, 1, "sv:5:v:pavlodar", "Вопрос 7 из 8").await;
    press(&fake, invited, 1, "sv:6:skip", "Вопрос 8 из 8").await;
    press(&fake, invited, 1, "sv:7:skip", "Спасибо").await;
    assert_eq!(responses(&app, survey).await, 1);
    assert!(
        contact(&app, invited).await.is_none(),
        "a deep link to a survey subscribes nobody"
    );
    // The same invitation again, from another chat: whether it was used
    // is said only once the answers are sent (issue 24), and they are not
    // taken.
    let again = new_chat();
    declare(&fake, again);
    say(&fake, again, &start);
    press(&fake, again, 0, "sv:0:v:no", "Вопрос 4 из 8").await;
    say(&fake, again, "3");
    wait_text(&fake, again, 1, "Вопрос 5 из 8").await;
    press(&fake, again, 1, "sv:4:skip", "Вопрос 6 из 8").await;
    press(&fake, again, 1, "sv:5:v:pavlodar", "Вопрос 7 из 8").await;
    press(&fake, again, 1, "sv:6:skip", "Вопрос 8 из 8").await;
    press(&fake, again, 1, "sv:7:skip", "уже отправлены").await;
    // A forged one is not taken.
    let forged = new_chat();
    declare(&fake, forged);
    say(
        &fake,
        forged,
        &format!("/start survey_{slug}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    wait_text(&fake, forged, 0, "не принимает ответы").await;
    assert_eq!(responses(&app, survey).await, 1);

    // An expired session is not resumed.
    let late = new_chat();
    declare(&fake, late);
    say(&fake, late, &format!("/survey {slug}"));
    wait_text(&fake, late, 0, "Вопрос 1 из 8").await;
    sqlx::query(
        "UPDATE survey_bot_sessions SET expires_at = now() - interval '1 day' WHERE survey_id = $1",
    )
    .bind(survey)
    .execute(&app.infra.db)
    .await
    .unwrap();
    say(&fake, late, "/survey");
    wait_text(&fake, late, 1, "/survey").await;
    eventually(WAIT, || async {
        (sessions(&app, survey).await == 0).then_some(())
    })
    .await;

    // The session table keeps no chat id.
    for c in [chat, invited, late] {
        assert_no_plaintext(&app, &c.to_string()).await;
    }
    app.stop().await;
}

/// Issue 24, item 2: a cry for help typed while a survey waits for a
/// button is not swallowed as an answer: it gets the automatic answer with
/// the emergency text and reaches a consultant; the survey says it waits
/// and how to leave it; `/cancel` leaves it.
#[tokio::test]
async fn a_cry_for_help_during_a_survey_is_answered_and_the_survey_can_be_left() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let organiser = app.token(Role::Organiser).await;
    let slug = format!("bot-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let survey = open_survey(&app, &organiser, &slug).await;
    let chat = new_chat();
    declare(&fake, chat);
    say(&fake, chat, &format!("/survey {slug}"));
    let first = wait_text(&fake, chat, 0, "Вопрос 1 из 8").await;
    assert!(
        first["text"].as_str().unwrap().contains("/cancel"),
        "a visible way out: {first}"
    );
    assert!(buttons(&first).iter().any(|b| b == "sv:0:x"), "{first}");

    // The first question waits for a button; the person writes for help.
    say(&fake, chat, "Помогите! Передозировка, друг не дышит");
    let sent = eventually(WAIT, || async {
        let sent = fake.sent_to(chat);
        let texts: Vec<String> = sent
            .iter()
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect();
        (texts.iter().any(|t| t.contains("103"))
            && texts.iter().any(|t| t.contains("ждёт ответа на вопрос 1")))
        .then_some(sent)
    })
    .await;
    let reminder = sent
        .iter()
        .find(|m| m["text"].as_str().unwrap_or("").contains("ждёт ответа"))
        .unwrap();
    assert!(reminder["text"].as_str().unwrap().contains("/cancel"));
    assert!(buttons(reminder).iter().any(|b| b == "sv:0:x"));
    assert!(
        !sent
            .iter()
            .any(|m| m["text"].as_str().unwrap_or("").contains("кнопкой")),
        "not told to use the buttons: {sent:?}"
    );
    // A consultant sees it; the survey is still there to go on with.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversation_messages WHERE author = 'person'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(sessions(&app, survey).await, 1);
    assert_eq!(responses(&app, survey).await, 0, "not taken as an answer");

    // Words where a number is asked go the same way.
    press(&fake, chat, 0, "sv:0:v:no", "Вопрос 4 из 8").await;
    let before = fake.sent_to(chat).len();
    say(&fake, chat, "мне плохо, помогите");
    eventually(WAIT, || async {
        fake.sent_to(chat)
            .iter()
            .skip(before)
            .any(|m| {
                m["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("ждёт ответа на вопрос 4")
            })
            .then_some(())
    })
    .await;

    // /cancel leaves the survey; a second /cancel has nothing to leave.
    let before = fake.sent_to(chat).len();
    say(&fake, chat, "/cancel");
    wait_text(&fake, chat, before, "Опрос прерван").await;
    assert_eq!(sessions(&app, survey).await, 0);
    say(&fake, chat, "/cancel");
    wait_text(&fake, chat, before + 1, "нет начатого опроса").await;
    app.stop().await;
    fake.stop().await.unwrap();
}
