//! Answering a survey in the bot (issue 17), the Telegram glue: `/survey
//! <slug>`, or the deep link `/start survey_<slug>` / `/start
//! survey_<slug>_<token>` (the token a campaign's invitation carries). One
//! question at a time: choices, the 1-5 scale, regions and OST sites as
//! buttons (multiple choice as toggles and "Done"), a number, a date or
//! free text as a message; "back", "skip" (questions that are not
//! required) and "stop". The sessions, the skip rules, the text-vs-answer
//! rule and the storing are `nasvyazi_surveys::bot`'s; this module turns
//! their steps into messages and keyboards, and buttons back into actions.
//! It must never put an answer or a token in a log line.
//!
//! While a survey is in progress, a text message answers its current
//! question only when that question asks for typed input (a number, a
//! date, free text) and the text is such an answer
//! ([`steps::typed_answer`]). Anything else — a cry for help while a
//! choice waits for its buttons — goes the consultation way (the automatic
//! answer with the emergency text), followed by a note that the survey
//! waits and how to leave it. Every question carries the way out (a button
//! and `/cancel`).

use nasvyazi_shared::i18n::{Lang, fill, t};
use nasvyazi_shared::telegram::text::escape_html;
use nasvyazi_supporters::regions::{self, Names, Region};
use nasvyazi_surveys::answers::Refs;
use nasvyazi_surveys::bot::steps::{self, Action, NotStarted, Step};
use nasvyazi_surveys::bot::{Session, session};
use nasvyazi_surveys::model::{Kind, text_in};
use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::bot::Bot;
use crate::bot::replies::Reply;

pub use nasvyazi_surveys::bot::deep_link;

/// Callback data of the survey's buttons: `sv:<question index>:<action>`.
pub const BUTTON: &str = "sv:";
/// The introduction is cut to this many characters in the first message.
const MAX_INTRO: usize = 1500;
/// Buttons of one keyboard at most (Telegram allows 100).
const MAX_BUTTONS: usize = 90;

/// The same lists the web page uses: regions (with the custom places, as
/// `nasvyazi_supporters::regions::load` merges them) and the active OST sites.
struct Lists {
    regions: Vec<Region>,
    region_codes: Vec<String>,
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
    let region_codes = regions.iter().map(|r| r.code.clone()).collect();
    let sites = crate::appeals::sites::list(&bot.db, false, None).await?;
    let site_codes = sites.iter().map(|s| s.code.clone()).collect();
    Ok(Lists {
        regions,
        region_codes,
        sites,
        site_codes,
    })
}

impl Lists {
    fn refs(&self) -> Refs<'_> {
        Refs {
            regions: &self.region_codes,
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
    let bi = crate::bot::store::blind_index(&bot.keys, chat);
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

/// `/forget`: deletes the chat's survey in progress; whether there was one.
pub async fn forget(conn: &mut PgConnection, bot: &Bot, chat: i64) -> sqlx::Result<bool> {
    nasvyazi_surveys::bot::forget(conn, &bot.keys, chat).await
}

fn button(text: impl Into<String>, data: String) -> Value {
    json!({"text": text.into(), "callback_data": data})
}

/// Whether a value's button data fits Telegram's 64 bytes.
fn fits_button(at: usize, value: &str) -> bool {
    format!("{BUTTON}{at}:v:{value}").len() <= 64
}

/// The current question as a message and its keyboard; `note` goes first.
fn render(s: &Session, lists: &Lists, note: Option<&str>) -> (String, Value) {
    let lang = s.lang();
    let l = lang.code();
    let qs = &s.survey().questions.0;
    let at = s.at();
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
                let mark = if s.picked().contains(&o.id) {
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
    if s.can_go_back() {
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

/// The replies for a step: `edit` rewrites the message with the buttons,
/// else a new message.
fn replies(s: &Session, lists: &Lists, step: Step, chat: i64, edit: Option<i64>) -> Vec<Reply> {
    let (html, keyboard) = match step {
        Step::Ask(note) => {
            let note = note.map(|key| t(s.lang(), key));
            let (html, keyboard) = render(s, lists, note.as_deref());
            (html, Some(keyboard))
        }
        Step::Finished(key) => (escape_html(&t(s.lang(), key)), None),
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
    session::purge_expired(conn).await?;
    let current = session::load(conn, &bot.db, &bot.keys, chat).await?;
    let lang = match &current {
        Some(s) if slug.is_none_or(|x| x == s.survey().slug) => s.lang(),
        _ => language(conn, bot, chat, hint).await?,
    };
    let resumable = current.filter(|s| {
        slug.is_none_or(|x| x == s.survey().slug) && (token.is_none() || token == s.token())
    });
    if let Some(s) = resumable {
        let lists = lists(conn, bot).await?;
        let step = Step::Ask(Some("survey_bot.resumed"));
        return Ok(replies(&s, &lists, step, chat, None));
    }
    let Some(slug) = slug else {
        return Ok(say(chat, t(lang, "survey_bot.usage")));
    };
    let s = match steps::begin(conn, &bot.db, &bot.keys, chat, slug, token, lang).await? {
        Ok(s) => s,
        Err(NotStarted::NotFound) => return Ok(say(chat, t(lang, "survey_bot.not_found"))),
        Err(NotStarted::InvitationRequired) => {
            return Ok(say(chat, t(lang, "survey_bot.invitation_required")));
        }
    };
    let lists = lists(conn, bot).await?;
    let l = lang.code();
    let mut intro = format!("<b>{}</b>", escape_html(text_in(&s.survey().title, l)));
    let text = text_in(&s.survey().intro, l);
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

/// What a button's action part (`v:<value>`, `t:<option>`, `done`,
/// `skip`, `back`, `x`) asks for; `None`: nothing known.
fn action(data: &str) -> Option<Action> {
    match data.split_once(':') {
        Some(("v", v)) => Some(Action::Value(v.to_string())),
        Some(("t", id)) => Some(Action::Toggle(id.to_string())),
        Some(_) => None,
        None => match data {
            "done" => Some(Action::Done),
            "skip" => Some(Action::Skip),
            "back" => Some(Action::Back),
            "x" => Some(Action::Cancel),
            _ => None,
        },
    }
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
    let (at, action_data) = rest.split_once(':').unwrap_or((rest, ""));
    let Some(mut s) = session::load(conn, &bot.db, &bot.keys, chat).await? else {
        return Ok(vec![Reply::Edit {
            chat,
            message_id,
            html: t(Lang::Ru, "telegram.stale_button"),
            keyboard: None,
        }]);
    };
    // A button of a question that is not the current one: ignored.
    if at.parse::<usize>().ok() != Some(s.at()) {
        return Ok(Vec::new());
    }
    let lists = lists(conn, bot).await?;
    let Some(action) = action(action_data) else {
        return Ok(Vec::new());
    };
    let refs = lists.refs();
    let Some(step) = steps::apply(conn, &bot.db, &bot.keys, &mut s, &refs, action).await? else {
        return Ok(Vec::new());
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
/// question takes typed input ([`steps::typed_answer`]). Anything else (a
/// cry for help while a choice question waits for its buttons, words where
/// a number was asked) is not swallowed: it goes the consultation way,
/// which always answers with the emergency text.
pub async fn on_text(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    text: &str,
) -> anyhow::Result<TextOutcome> {
    let Some(mut s) = session::load(conn, &bot.db, &bot.keys, chat).await? else {
        return Ok(TextOutcome::NotAnAnswer { reminder: None });
    };
    let lists = lists(conn, bot).await?;
    let Some(value) = steps::typed_answer(s.question().kind, text) else {
        return Ok(TextOutcome::NotAnAnswer {
            reminder: Some(waiting(&s, chat)),
        });
    };
    let refs = lists.refs();
    let step = steps::apply(
        conn,
        &bot.db,
        &bot.keys,
        &mut s,
        &refs,
        Action::Value(value),
    )
    .await?
    .unwrap_or(Step::Ask(None));
    Ok(TextOutcome::Answered(replies(&s, &lists, step, chat, None)))
}

/// The note sent after a message that was not a survey answer: the survey
/// waits at question n, and how to leave it.
fn waiting(s: &Session, chat: i64) -> Reply {
    let note = fill(
        &t(s.lang(), "survey_bot.still_waiting"),
        &[
            ("n", &(s.at() + 1).to_string()),
            ("title", text_in(&s.survey().title, s.lang().code())),
        ],
    );
    let at = s.at();
    Reply::Send {
        chat,
        html: escape_html(&note),
        keyboard: Some(json!({"inline_keyboard": [
            [button(t(s.lang(), "survey_bot.cancel"), format!("{BUTTON}{at}:x"))]
        ]})),
    }
}

/// `/cancel`: leaves the survey in progress; `None` when there was none.
pub async fn cancel(
    conn: &mut PgConnection,
    bot: &Bot,
    chat: i64,
) -> anyhow::Result<Option<Vec<Reply>>> {
    let Some(s) = session::load(conn, &bot.db, &bot.keys, chat).await? else {
        return Ok(None);
    };
    session::end(conn, &s).await?;
    Ok(Some(say(chat, t(s.lang(), "survey_bot.cancelled"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_actions() {
        assert_eq!(action("v:yes"), Some(Action::Value("yes".into())));
        assert_eq!(action("v:"), Some(Action::Value(String::new())));
        assert_eq!(action("t:order"), Some(Action::Toggle("order".into())));
        assert_eq!(action("done"), Some(Action::Done));
        assert_eq!(action("x"), Some(Action::Cancel));
        assert_eq!(action("done:1"), None);
        assert_eq!(action("jump"), None);
    }
}
