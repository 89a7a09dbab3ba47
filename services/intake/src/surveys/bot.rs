//! Answering a survey in the bot (issue 17): `/survey <slug>`, or the deep
//! link `/start survey_<slug>` / `/start survey_<slug>_<token>` (the
//! token a campaign's invitation carries). One question at a time: choices,
//! the 1-5 scale, regions and OST sites as buttons (multiple choice as
//! toggles and "Done"), a number, a date or free text as a message; "back",
//! "skip" (questions that are not required) and "stop". Skip rules work as
//! on the web ([`model::skipped_by`], and the whole answer is checked by
//! [`model::check_answers`] before it is stored with [`store::submit`]).
//!
//! Resumable: the progress lives in `survey_bot_sessions`, one row per
//! chat, found by the chat's keyed blind index (kind [`KIND`], never the
//! chat id), the answers and the token sealed under the row's own data
//! key; it expires [`TTL_DAYS`] after the last step, is deleted when the
//! answers are sent, when the person stops, and by `/forget`. The stored
//! response carries no link to the chat (see [`store::submit`]).
//!
//! While a survey is in progress, a text message answers its current
//! question only when that question asks for typed input (a number, a
//! date, free text) and the text is such an answer. Anything else — a cry
//! for help while a choice waits for its buttons — goes the consultation
//! way (the automatic answer with the emergency text), followed by a note
//! that the survey waits and how to leave it. Every question carries the
//! way out (a button and `/cancel`).

use nasvyazi_shared::crypto::Key;
use nasvyazi_shared::i18n::{Lang, fill, t};
use nasvyazi_shared::regions::{self, Names, Region};
use nasvyazi_shared::telegram::text::escape_html;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{self, Kind, Question, Refs, text_in};
use super::store::{self, Survey};
use crate::telegram::Bot;
use crate::telegram::replies::Reply;

/// The blind-index kind of a chat's survey session.
pub const KIND: &str = "survey_bot:v1";
/// Callback data of the survey's buttons: `sv:<question index>:<action>`.
pub const BUTTON: &str = "sv:";
/// The deep-link prefix: `survey_<slug>[_<token>]`.
pub const DEEP_LINK: &str = "survey_";
/// A session ends this long after its last step.
pub const TTL_DAYS: i64 = 7;
/// The introduction is cut to this many characters in the first message.
const MAX_INTRO: usize = 1500;
/// Buttons of one keyboard at most (Telegram allows 100).
const MAX_BUTTONS: usize = 90;

/// Where a person is in a survey (sealed).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    #[serde(default)]
    token: Option<String>,
    at: usize,
    /// The questions answered or skipped before `at`, for "back".
    #[serde(default)]
    history: Vec<usize>,
    /// Question id -> the value as the JSON API takes it.
    #[serde(default)]
    answers: Map<String, Value>,
    /// The options ticked so far on a multiple-choice question.
    #[serde(default)]
    picked: Vec<String>,
}

struct Session {
    id: Uuid,
    survey: Survey,
    lang: Lang,
    key: Key,
    progress: Progress,
}

/// The blind index of a chat, for survey sessions.
pub fn chat_index(keys: &nasvyazi_shared::crypto::Keyring, chat: i64) -> Vec<u8> {
    keys.blind_index(KIND, &chat.to_string())
}

fn aad(id: Uuid) -> Vec<u8> {
    format!("survey_bot_session:{id}").into_bytes()
}

/// Reads `survey_<slug>` or `survey_<slug>_<token>` (slugs have no `_`).
pub fn deep_link(code: &str) -> Option<(&str, Option<&str>)> {
    let rest = code.strip_prefix(DEEP_LINK)?;
    match rest.split_once('_') {
        Some((slug, token)) if !token.is_empty() => Some((slug, Some(token))),
        Some((slug, _)) => Some((slug, None)),
        None => Some((rest, None)),
    }
}

/// The same lists the web page uses: regions (with the custom places, as
/// `routes::regions::load` merges them) and the active OST sites.
struct Lists {
    regions: Vec<Region>,
    sites: Vec<crate::appeals::sites::Site>,
    site_codes: Vec<String>,
}

async fn lists(conn: &mut PgConnection, bot: &Bot) -> sqlx::Result<Lists> {
    let custom: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT region_code, city_code, name_ru, name_kk, name_en FROM custom_places ORDER BY created_at",
    )
    .fetch_all(&mut *conn)
    .await?;
    let regions = regions::merged(
        custom
            .into_iter()
            .map(|(r, c, ru, kk, en)| (r, c, Names { ru, kk, en }))
            .collect(),
    );
    let sites = crate::appeals::sites::list(&bot.db, false, None).await?;
    let site_codes = sites.iter().map(|s| s.code.clone()).collect();
    Ok(Lists {
        regions,
        sites,
        site_codes,
    })
}

impl Lists {
    fn refs(&self) -> Refs<'_> {
        Refs {
            regions: &self.regions,
            sites: &self.site_codes,
        }
    }
}

/// The language to speak: the subscription's, else the client's, else ru.
async fn language(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    hint: Option<Lang>,
) -> sqlx::Result<Lang> {
    let bi = crate::telegram::store::blind_index(&bot.keys, chat);
    let subscribed: Option<String> = sqlx::query_scalar(
        "SELECT language FROM contacts WHERE channel = 'telegram' AND blind_index = $1",
    )
    .bind(bi)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(subscribed
        .as_deref()
        .and_then(Lang::parse)
        .or(hint)
        .unwrap_or(Lang::Ru))
}

/// The chat's session, locked; an expired one, or one of a survey that no
/// longer takes answers, is deleted and `None`.
async fn load(conn: &mut PgConnection, bot: &Bot, chat: i64) -> anyhow::Result<Option<Session>> {
    type Row = (Uuid, Uuid, String, Vec<u8>, Vec<u8>, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, survey_id, language, data_key, progress_ct, expires_at < now()
           FROM survey_bot_sessions WHERE chat_bi = $1 FOR UPDATE",
    )
    .bind(chat_index(&bot.keys, chat))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, survey_id, language, wrapped, sealed, expired)) = row else {
        return Ok(None);
    };
    let survey = match store::load(&bot.db, survey_id).await? {
        Some(s) if !expired && s.accepting(chrono::Utc::now()) => s,
        _ => {
            delete_row(conn, id).await?;
            return Ok(None);
        }
    };
    let key = bot.keys.unwrap_data_key(&wrapped)?;
    let progress: Progress = serde_json::from_str(&key.open_string(&sealed, &aad(id))?)?;
    // A definition changed under the session (it should not): start again.
    if progress.at >= survey.questions.0.len() {
        delete_row(conn, id).await?;
        return Ok(None);
    }
    Ok(Some(Session {
        id,
        survey,
        lang: Lang::parse(&language).unwrap_or(Lang::Ru),
        key,
        progress,
    }))
}

async fn delete_row(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM survey_bot_sessions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Seals and stores the progress; the session lives another [`TTL_DAYS`].
async fn save(conn: &mut PgConnection, s: &Session) -> anyhow::Result<()> {
    let sealed = s
        .key
        .seal(serde_json::to_string(&s.progress)?.as_bytes(), &aad(s.id));
    sqlx::query(
        "UPDATE survey_bot_sessions SET progress_ct = $2, updated_at = now(),
             expires_at = now() + make_interval(days => $3::int)
         WHERE id = $1",
    )
    .bind(s.id)
    .bind(sealed)
    .bind(TTL_DAYS as i32)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new session for the chat (replacing any other).
async fn create(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    survey: Survey,
    lang: Lang,
    token: Option<&str>,
) -> anyhow::Result<Session> {
    let bi = chat_index(&bot.keys, chat);
    sqlx::query("DELETE FROM survey_bot_sessions WHERE chat_bi = $1")
        .bind(&bi)
        .execute(&mut *conn)
        .await?;
    let id = Uuid::new_v4();
    let (key, wrapped) = bot.keys.new_data_key();
    let progress = Progress {
        token: token.map(str::to_string),
        ..Progress::default()
    };
    let sealed = key.seal(serde_json::to_string(&progress)?.as_bytes(), &aad(id));
    sqlx::query(
        "INSERT INTO survey_bot_sessions (id, chat_bi, survey_id, language, data_key, progress_ct, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7::int))",
    )
    .bind(id)
    .bind(&bi)
    .bind(survey.id)
    .bind(lang.code())
    .bind(&wrapped)
    .bind(sealed)
    .bind(TTL_DAYS as i32)
    .execute(&mut *conn)
    .await?;
    tracing::info!(survey_id = %survey.id, "survey started in the bot");
    Ok(Session {
        id,
        survey,
        lang,
        key,
        progress,
    })
}

/// `/forget`: deletes the chat's survey in progress; whether there was one.
pub async fn forget(conn: &mut PgConnection, bot: &Bot, chat: i64) -> sqlx::Result<bool> {
    let gone = sqlx::query("DELETE FROM survey_bot_sessions WHERE chat_bi = $1")
        .bind(chat_index(&bot.keys, chat))
        .execute(conn)
        .await?
        .rows_affected();
    Ok(gone > 0)
}

/// Whether an answer fires a skip rule's `equals`.
fn fires(v: Option<&Value>, equals: &str) -> bool {
    match v {
        Some(Value::String(s)) => s.trim() == equals,
        Some(Value::Number(n)) => n.to_string() == equals,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(equals)),
        _ => false,
    }
}

/// Which questions the answers so far skip (as `check_answers` skips them).
fn skipped(questions: &[Question], answers: &Map<String, Value>) -> Vec<bool> {
    let rules = model::skipped_by(questions);
    let mut out = vec![false; questions.len()];
    for i in 0..questions.len() {
        out[i] = rules[i]
            .iter()
            .any(|(n, qid, equals)| !out[n - 1] && fires(answers.get(qid), equals));
    }
    out
}

/// The next question after `at` that is not skipped.
fn next_index(questions: &[Question], answers: &Map<String, Value>, at: usize) -> Option<usize> {
    let skip = skipped(questions, answers);
    (at + 1..questions.len()).find(|&i| !skip[i])
}

fn button(text: impl Into<String>, data: String) -> Value {
    json!({"text": text.into(), "callback_data": data})
}

/// A date as typed: `DD.MM.YYYY` becomes `YYYY-MM-DD`.
fn normalise_date(s: &str) -> String {
    let s = s.trim();
    let parts: Vec<&str> = s.split(['.', '/']).collect();
    if let [d, m, y] = parts[..]
        && y.len() == 4
        && let (Ok(d), Ok(m), Ok(y)) = (d.parse::<u32>(), m.parse::<u32>(), y.parse::<i32>())
        && let Some(date) = chrono::NaiveDate::from_ymd_opt(y, m, d)
    {
        return date.format("%Y-%m-%d").to_string();
    }
    s.to_string()
}

/// Whether a value's button data fits Telegram's 64 bytes.
fn fits_button(at: usize, value: &str) -> bool {
    format!("{BUTTON}{at}:v:{value}").len() <= 64
}

/// The current question as a message and its keyboard; `note` goes first.
fn render(s: &Session, lists: &Lists, note: Option<&str>) -> (String, Value) {
    let lang = s.lang;
    let l = lang.code();
    let qs = &s.survey.questions.0;
    let at = s.progress.at;
    let q = &qs[at];
    let mut html = String::new();
    if let Some(note) = note {
        html.push_str(&format!("<i>{}</i>\n\n", escape_html(note)));
    }
    html.push_str(&format!(
        "<b>{}</b>\n{}",
        escape_html(&fill(
            &t(lang, "survey_bot.question_of"),
            &[
                ("n", &(at + 1).to_string()),
                ("total", &qs.len().to_string())
            ]
        )),
        escape_html(text_in(&q.text, l)),
    ));
    if q.required {
        html.push_str(&format!(
            " ({})",
            escape_html(&t(lang, "survey_bot.required_mark"))
        ));
    }
    let no_sites = q.kind == Kind::Site && !lists.sites.iter().any(|x| fits_button(at, &x.code));
    let hint = match q.kind {
        // No OST site is listed yet: nothing to press, so say so.
        Kind::Site if no_sites => "survey_bot.no_choices",
        Kind::Single | Kind::Region | Kind::Site => "survey_bot.choose_one",
        Kind::Multiple => "survey_bot.choose_many",
        Kind::Scale => "survey_bot.scale",
        Kind::Number => "survey_bot.type_number",
        Kind::Date => "survey_bot.type_date",
        Kind::Text => "survey_bot.type_text",
    };
    html.push_str(&format!(
        "\n\n{}\n{}",
        escape_html(&t(lang, hint)),
        escape_html(&t(lang, "survey_bot.way_out"))
    ));
    let data = |action: &str| format!("{BUTTON}{at}:{action}");
    let value = |v: &str| data(&format!("v:{v}"));
    let fits = |v: &str| fits_button(at, v);
    let mut rows: Vec<Value> = Vec::new();
    match q.kind {
        Kind::Single => {
            for o in &q.options {
                rows.push(json!([button(text_in(&o.text, l), value(&o.id))]));
            }
        }
        Kind::Multiple => {
            for o in &q.options {
                let mark = if s.progress.picked.contains(&o.id) {
                    "✅"
                } else {
                    "▫️"
                };
                rows.push(json!([button(
                    format!("{mark} {}", text_in(&o.text, l)),
                    data(&format!("t:{}", o.id))
                )]));
            }
            rows.push(json!([button(t(lang, "survey_bot.done"), data("done"))]));
        }
        Kind::Scale => {
            let row: Vec<Value> = (1..=5)
                .map(|n| button(n.to_string(), value(&n.to_string())))
                .collect();
            rows.push(Value::Array(row));
        }
        Kind::Region => {
            let buttons: Vec<Value> = lists
                .regions
                .iter()
                .filter(|r| fits(&r.code))
                .take(MAX_BUTTONS)
                .map(|r| button(r.name.get(l), value(&r.code)))
                .collect();
            for pair in buttons.chunks(2) {
                rows.push(Value::Array(pair.to_vec()));
            }
        }
        Kind::Site => {
            for site in lists
                .sites
                .iter()
                .filter(|x| fits(&x.code))
                .take(MAX_BUTTONS)
            {
                rows.push(json!([button(site.name.get(l), value(&site.code))]));
            }
        }
        Kind::Number | Kind::Date | Kind::Text => {}
    }
    let mut nav = Vec::new();
    if !s.progress.history.is_empty() {
        nav.push(button(t(lang, "survey_bot.back"), data("back")));
    }
    if !q.required {
        nav.push(button(t(lang, "survey_bot.skip"), data("skip")));
    }
    if !nav.is_empty() {
        rows.push(Value::Array(nav));
    }
    rows.push(json!([button(t(lang, "survey_bot.cancel"), data("x"))]));
    (html, json!({"inline_keyboard": rows}))
}

/// What a step leads to.
enum Step {
    /// Show the current question (again), with a note.
    Ask(Option<String>),
    /// The survey was sent (or refused as answered already): this text.
    Finished(String),
}

/// Goes on after the current question was answered (or skipped): the next
/// question, or the whole answer checked and stored.
async fn advance(
    conn: &mut PgConnection,
    bot: &Bot,
    s: &mut Session,
    lists: &Lists,
) -> anyhow::Result<Step> {
    s.progress.picked.clear();
    let next = next_index(&s.survey.questions.0, &s.progress.answers, s.progress.at);
    if let Some(next) = next {
        let at = s.progress.at;
        s.progress.history.push(at);
        s.progress.at = next;
        save(conn, s).await?;
        return Ok(Step::Ask(None));
    }
    let qs = &s.survey.questions.0;
    let answers = match model::check_answers(qs, &s.progress.answers, &lists.refs()) {
        Ok(a) => a,
        Err(refusal) => {
            // Cannot happen with the checks on each step; go back there.
            let i = qs
                .iter()
                .position(|q| q.id == refusal.question)
                .unwrap_or(0);
            s.progress.at = i;
            save(conn, s).await?;
            return Ok(Step::Ask(Some(t(s.lang, "survey_bot.required"))));
        }
    };
    let stored = store::submit(
        &bot.db,
        &bot.keys,
        s.survey.id,
        s.lang.code(),
        s.progress.token.as_deref(),
        &answers,
    )
    .await?;
    delete_row(conn, s.id).await?;
    Ok(Step::Finished(if stored {
        t(s.lang, "survey_bot.thanks")
    } else {
        t(s.lang, "survey_bot.used")
    }))
}

/// Takes `value` as the answer to the current question, if it is one.
async fn accept(
    conn: &mut PgConnection,
    bot: &Bot,
    s: &mut Session,
    lists: &Lists,
    value: Value,
) -> anyhow::Result<Step> {
    let q = &s.survey.questions.0[s.progress.at];
    let mut one = Map::new();
    one.insert(q.id.clone(), value.clone());
    if model::check_answers(std::slice::from_ref(q), &one, &lists.refs()).is_err() {
        return Ok(Step::Ask(Some(t(s.lang, "survey_bot.invalid"))));
    }
    s.progress.answers.insert(q.id.clone(), value);
    advance(conn, bot, s, lists).await
}

/// The replies for a step: `edit` rewrites the message with the buttons,
/// else a new message.
fn replies(s: &Session, lists: &Lists, step: Step, chat: i64, edit: Option<i64>) -> Vec<Reply> {
    let (html, keyboard) = match step {
        Step::Ask(note) => {
            let (html, keyboard) = render(s, lists, note.as_deref());
            (html, Some(keyboard))
        }
        Step::Finished(text) => (escape_html(&text), None),
    };
    vec![match edit {
        Some(message_id) => Reply::Edit {
            chat,
            message_id,
            html,
            keyboard,
        },
        None => Reply::Send {
            chat,
            html,
            keyboard,
        },
    }]
}

fn say(chat: i64, text: String) -> Vec<Reply> {
    vec![Reply::Send {
        chat,
        html: escape_html(&text),
        keyboard: None,
    }]
}

/// Whether `slug` could be a survey's.
fn slug_ok(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `/survey [slug]` or the deep link: starts the survey, or resumes it
/// where the person stopped.
pub async fn start(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    slug: Option<&str>,
    token: Option<&str>,
    hint: Option<Lang>,
) -> anyhow::Result<Vec<Reply>> {
    sqlx::query("DELETE FROM survey_bot_sessions WHERE expires_at < now()")
        .execute(&mut *conn)
        .await?;
    let current = load(conn, bot, chat).await?;
    let lang = match &current {
        Some(s) if slug.is_none_or(|x| x == s.survey.slug) => s.lang,
        _ => language(conn, bot, chat, hint).await?,
    };
    let resumable = current.filter(|s| {
        slug.is_none_or(|x| x == s.survey.slug)
            && (token.is_none() || token == s.progress.token.as_deref())
    });
    if let Some(s) = resumable {
        let lists = lists(conn, bot).await?;
        let step = Step::Ask(Some(t(s.lang, "survey_bot.resumed")));
        return Ok(replies(&s, &lists, step, chat, None));
    }
    let Some(slug) = slug else {
        return Ok(say(chat, t(lang, "survey_bot.usage")));
    };
    let survey = if slug_ok(slug) {
        store::by_slug(&bot.db, slug)
            .await?
            .filter(|s| s.accepting(chrono::Utc::now()))
    } else {
        None
    };
    let Some(survey) = survey else {
        return Ok(say(chat, t(lang, "survey_bot.not_found")));
    };
    if let Some(tk) = token {
        let well_formed = (16..=256).contains(&tk.len())
            && tk
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed || !nasvyazi_shared::survey_tokens::verify(&bot.keys, survey.id, tk) {
            return Ok(say(chat, t(lang, "survey_bot.not_found")));
        }
        // Whether it was used is said only once the answers are sent.
    }
    if survey.invited_only && token.is_none() {
        return Ok(say(chat, t(lang, "survey_bot.invitation_required")));
    }
    let s = create(conn, bot, chat, survey, lang, token).await?;
    let lists = lists(conn, bot).await?;
    let l = lang.code();
    let mut intro = format!("<b>{}</b>", escape_html(text_in(&s.survey.title, l)));
    let text = text_in(&s.survey.intro, l);
    if !text.is_empty() {
        let cut: String = text.chars().take(MAX_INTRO).collect();
        intro.push_str(&format!("\n{}", escape_html(&cut)));
    }
    intro.push_str(&format!(
        "\n\n{}\n\n",
        escape_html(&t(lang, "survey_bot.anonymous"))
    ));
    let (question, keyboard) = render(&s, &lists, None);
    Ok(vec![Reply::Send {
        chat,
        html: intro + &question,
        keyboard: Some(keyboard),
    }])
}

/// A button of the survey (`sv:...`) under message `message_id`.
pub async fn on_button(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    message_id: i64,
    data: &str,
) -> anyhow::Result<Vec<Reply>> {
    let Some(rest) = data.strip_prefix(BUTTON) else {
        return Ok(Vec::new());
    };
    let (at, action) = rest.split_once(':').unwrap_or((rest, ""));
    let Some(mut s) = load(conn, bot, chat).await? else {
        return Ok(vec![Reply::Edit {
            chat,
            message_id,
            html: t(Lang::Ru, "telegram.stale_button"),
            keyboard: None,
        }]);
    };
    // A button of a question that is not the current one: ignored.
    if at.parse::<usize>().ok() != Some(s.progress.at) {
        return Ok(Vec::new());
    }
    let lists = lists(conn, bot).await?;
    let q = s.survey.questions.0[s.progress.at].clone();
    let step = match action.split_once(':') {
        Some(("v", v)) => accept(conn, bot, &mut s, &lists, json!(v)).await?,
        Some(("t", id)) if q.kind == Kind::Multiple && q.options.iter().any(|o| o.id == id) => {
            let picked = &mut s.progress.picked;
            match picked.iter().position(|p| p == id) {
                Some(i) => {
                    picked.remove(i);
                }
                None => picked.push(id.to_string()),
            }
            save(conn, &s).await?;
            Step::Ask(None)
        }
        _ => match action {
            "done" if s.progress.picked.is_empty() && q.required => {
                Step::Ask(Some(t(s.lang, "survey_bot.required")))
            }
            "done" if s.progress.picked.is_empty() => {
                s.progress.answers.remove(&q.id);
                advance(conn, bot, &mut s, &lists).await?
            }
            "done" => {
                let picked = json!(s.progress.picked.clone());
                accept(conn, bot, &mut s, &lists, picked).await?
            }
            "skip" if q.required => Step::Ask(Some(t(s.lang, "survey_bot.required"))),
            "skip" => {
                s.progress.answers.remove(&q.id);
                advance(conn, bot, &mut s, &lists).await?
            }
            "back" => {
                if let Some(prev) = s.progress.history.pop() {
                    let id = s.survey.questions.0[prev].id.clone();
                    let before = s.progress.answers.remove(&id);
                    s.progress.picked = match before {
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                        _ => Vec::new(),
                    };
                    s.progress.at = prev;
                    save(conn, &s).await?;
                }
                Step::Ask(None)
            }
            "x" => {
                delete_row(conn, s.id).await?;
                Step::Finished(t(s.lang, "survey_bot.cancelled"))
            }
            _ => return Ok(Vec::new()),
        },
    };
    Ok(replies(&s, &lists, step, chat, Some(message_id)))
}

/// What a text message means while a survey may be in progress.
pub enum TextOutcome {
    /// The text answered the current question: these are the answers.
    Answered(Vec<Reply>),
    /// Not a survey answer (no survey in progress, or the current question
    /// does not take typed input, or the text is not a number / date it
    /// asks for): the message goes the consultation way. `reminder` is a
    /// short note that a survey is still waiting, with its way out.
    NotAnAnswer { reminder: Option<Reply> },
}

/// A text message answers the survey in progress only when its current
/// question takes typed input: free text, or digits where a number or a
/// date is asked (a wrong one is refused as a survey answer). Anything
/// else (a cry for help while a choice question waits for its buttons,
/// words where a number was asked) is not swallowed: it goes the
/// consultation way, which always answers with the emergency text.
pub async fn on_text(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    text: &str,
) -> anyhow::Result<TextOutcome> {
    let Some(mut s) = load(conn, bot, chat).await? else {
        return Ok(TextOutcome::NotAnAnswer { reminder: None });
    };
    let lists = lists(conn, bot).await?;
    let q = s.survey.questions.0[s.progress.at].clone();
    let typed = text.trim();
    // Digits with a few separators: an attempt at a number or a date (a
    // wrong one is refused as a survey answer); words never are.
    let looks_like = |separators: &str| {
        typed.chars().any(|c| c.is_ascii_digit())
            && typed
                .chars()
                .all(|c| c.is_ascii_digit() || separators.contains(c))
    };
    let value = match q.kind {
        Kind::Text => json!(typed),
        Kind::Number if looks_like("+-.,eE ") => json!(typed.replace(',', ".")),
        Kind::Date if looks_like("./- ") => json!(normalise_date(typed)),
        _ => {
            return Ok(TextOutcome::NotAnAnswer {
                reminder: Some(waiting(&s, chat)),
            });
        }
    };
    let step = accept(conn, bot, &mut s, &lists, value).await?;
    Ok(TextOutcome::Answered(replies(&s, &lists, step, chat, None)))
}

/// The note sent after a message that was not a survey answer: the survey
/// waits at question n, and how to leave it.
fn waiting(s: &Session, chat: i64) -> Reply {
    let note = fill(
        &t(s.lang, "survey_bot.still_waiting"),
        &[
            ("n", &(s.progress.at + 1).to_string()),
            ("title", text_in(&s.survey.title, s.lang.code())),
        ],
    );
    let at = s.progress.at;
    Reply::Send {
        chat,
        html: escape_html(&note),
        keyboard: Some(json!({"inline_keyboard": [
            [button(t(s.lang, "survey_bot.cancel"), format!("{BUTTON}{at}:x"))]
        ]})),
    }
}

/// `/cancel`: leaves the survey in progress; `None` when there was none.
pub async fn cancel(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
) -> anyhow::Result<Option<Vec<Reply>>> {
    let Some(s) = load(conn, bot, chat).await? else {
        return Ok(None);
    };
    delete_row(conn, s.id).await?;
    Ok(Some(say(chat, t(s.lang, "survey_bot.cancelled"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_links_dates_and_skips() {
        assert_eq!(deep_link("survey_ost-access"), Some(("ost-access", None)));
        assert_eq!(
            deep_link("survey_ost-access_AbC_def-123"),
            Some(("ost-access", Some("AbC_def-123")))
        );
        assert_eq!(deep_link("spring-2026"), None);
        assert_eq!(normalise_date("05.03.2019"), "2019-03-05");
        assert_eq!(normalise_date("2019-03-05"), "2019-03-05");
        assert_eq!(normalise_date("31.02.2019"), "31.02.2019");
        let qs: Vec<Question> = serde_json::from_value(json!([
            {"id": "q1", "kind": "single", "text": {"ru": "A"},
             "options": [{"id": "yes", "text": {"ru": "Да"}}, {"id": "no", "text": {"ru": "Нет"}}],
             "skip_if": {"question": "q1", "equals": "no", "skip_to": "q4"}},
            {"id": "q2", "kind": "scale", "text": {"ru": "B"}},
            {"id": "q3", "kind": "text", "text": {"ru": "C"}},
            {"id": "q4", "kind": "number", "text": {"ru": "D"}}
        ]))
        .unwrap();
        let mut answers = Map::new();
        answers.insert("q1".into(), json!("no"));
        assert_eq!(next_index(&qs, &answers, 0), Some(3));
        answers.insert("q1".into(), json!("yes"));
        assert_eq!(next_index(&qs, &answers, 0), Some(1));
        assert_eq!(next_index(&qs, &answers, 3), None);
    }
}
