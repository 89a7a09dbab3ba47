//! The consultation pages for people without Telegram: `/talk` (the form,
//! then the conversation number and access code, shown once),
//! `/talk/status` (the conversation with the pair, and a form to write
//! again) and `/talk/status/add`.
//!
//! No JavaScript, nothing from third parties. Every form carries the CSRF
//! token; the first one a honeypot. Every wrong pair gets the same page.
//! Staff replies are shown as from the organisation, never a consultant.
//! Opening a conversation takes proof of work like the other forms and
//! spends a per-client budget of its own (`limits::public_posts`); the
//! other forms here spend the per-client budget of public POSTs. The
//! emergency text is on every page, the refusals included. Nothing here logs what a person typed, and no
//! client address is stored.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use chrono::Utc;
use nasvyazi_shared::i18n::{self, Lang};
use serde::Serialize;

use super::web::{self, OpenError, PublicConversation};
use crate::AppState;
use crate::pages::PostedForm;
use crate::pages::subscribe::LangQuery;
use crate::pages::{csrf_token, field, internal_error, language, render};

/// The public routes of the pages (for the public listener's table).
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/talk", get(talk_form).post(talk_submit)),
        ("/talk/status", get(status_form).post(status_submit)),
        ("/talk/status/add", post(add_submit)),
    ]
}

/// The organisation's hours and, always, its emergency text: shown on the
/// form and on the page with the pair.
#[derive(Serialize)]
struct Notice {
    /// «Our hours: ...», escaped by the template.
    hours: String,
    /// Whether someone answers now, or when they will.
    when: String,
    /// The configured emergency text, reduced to safe HTML.
    emergency_html: String,
}

fn notice(state: &AppState, lang: Lang) -> Notice {
    let c = &state.infra.config.consultations;
    let (hours, tz) = super::hours(c);
    let now = Utc::now();
    let when = if hours.is_open(tz, now) {
        i18n::t(lang, "consult.answer_soon")
    } else {
        let next = hours.next_open(tz, now).with_timezone(&tz);
        i18n::fill(
            &i18n::t(lang, "consult.answer_later"),
            &[("when", &next.format("%d.%m %H:%M").to_string())],
        )
    };
    Notice {
        hours: i18n::fill(
            &i18n::t(lang, "consult.hours"),
            &[("hours", &c.hours), ("zone", &c.time_zone)],
        ),
        when,
        emergency_html: telegram_html(c.emergency_text.get(lang)),
    }
}

/// What the person typed, to show the form again after a mistake.
#[derive(Default, Serialize)]
struct FormValues {
    text: String,
    language: String,
}

fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    form: FormValues,
    error: Option<&str>,
) -> Response {
    let (csrf, set_cookie) = csrf_token(state, headers);
    let language = if form.language.is_empty() {
        lang.code().to_string()
    } else {
        form.language.clone()
    };
    render(
        state,
        lang,
        "talk.html",
        status,
        minijinja::context! {
            csrf, form, error, language,
            languages => Lang::ALL.iter().map(|l| l.code()).collect::<Vec<_>>(),
            max_chars => web::MAX_TEXT_CHARS,
            notice => notice(state, lang),
        },
        set_cookie,
    )
}

pub async fn talk_form(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    form_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        FormValues::default(),
        None,
    )
}

/// The pair, shown once, never cached.
fn created_page(state: &AppState, lang: Lang, number: &str, access_code: &str) -> Response {
    no_store(render(
        state,
        lang,
        "talk_created.html",
        StatusCode::OK,
        minijinja::context! { number, access_code, notice => notice(state, lang) },
        None,
    ))
}

pub async fn talk_submit(posted: PostedForm) -> Response {
    let (state, lang, headers, form) = posted.into_parts();
    // A filled honeypot is a bot: a plausible answer, nothing stored.
    if field(&form, "website").is_some_and(|v| !v.is_empty()) {
        let code = super::new_access_code();
        return created_page(&state, lang, &super::new_number(), &code);
    }
    let values = FormValues {
        text: field(&form, "text").unwrap_or("").to_string(),
        language: field(&form, "language").unwrap_or("").to_string(),
    };
    // The answers' language: the one chosen, else the page's.
    let answers_in = Lang::parse(&values.language).unwrap_or(lang);
    let Some(text) = web::valid_text(&values.text) else {
        return form_page(
            &state,
            &headers,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            Some("talk.invalid_text"),
        );
    };
    match web::create(
        &state.infra.db,
        &state.keys,
        &state.infra.config.consultations,
        text,
        answers_in,
    )
    .await
    {
        Ok(created) => created_page(&state, lang, &created.number, &created.access_code),
        Err(OpenError::Busy) => {
            // The form again, with what was typed and the emergency text.
            let mut res = form_page(
                &state,
                &headers,
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                values,
                Some("talk.busy_body"),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            res
        }
        Err(OpenError::Internal(e)) => internal_error(
            &state,
            lang,
            "web conversation could not be opened",
            &format!("{e:#}"),
        ),
    }
}

fn pair_form(state: &AppState, headers: &HeaderMap, lang: Lang, status: StatusCode) -> Response {
    let (csrf, set_cookie) = csrf_token(state, headers);
    let error = (status == StatusCode::NOT_FOUND).then_some("talk.not_found");
    render(
        state,
        lang,
        "talk_status_form.html",
        status,
        minijinja::context! { csrf, error },
        set_cookie,
    )
}

pub async fn status_form(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    pair_form(&state, &headers, lang, StatusCode::OK)
}

/// The one page every wrong pair gets: the form again, with the same
/// words whatever was wrong (the posted values are not echoed).
fn no_such_pair(state: &AppState, headers: &HeaderMap, lang: Lang) -> Response {
    no_store(pair_form(state, headers, lang, StatusCode::NOT_FOUND))
}

/// One message as the page shows it.
#[derive(Serialize)]
struct ShownMessage {
    /// `person`, `staff` or `system`.
    from: String,
    /// Local time of the organisation, to the minute.
    at: String,
    /// Safe HTML.
    html: String,
}

fn shown(
    state: &AppState,
    conversation: PublicConversation,
) -> (String, String, Vec<ShownMessage>) {
    let (_, tz) = super::hours(&state.infra.config.consultations);
    let messages = conversation
        .messages
        .into_iter()
        .map(|m| ShownMessage {
            html: if m.from == "person" {
                plain_html(&m.text)
            } else {
                telegram_html(&m.text)
            },
            at: m.at.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string(),
            from: m.from,
        })
        .collect();
    (conversation.number, conversation.state, messages)
}

/// The conversation and the form to write again. The access code is
/// carried in the form (as the appeal pages do): never cached.
#[allow(clippy::too_many_arguments)]
async fn conversation_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    id: uuid::Uuid,
    access_code: &str,
    status: StatusCode,
    error: Option<&str>,
    draft: &str,
) -> Response {
    let conversation = match web::read(&state.infra.db, &state.keys, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_such_pair(state, headers, lang),
        Err(e) => {
            return internal_error(state, lang, "web conversation read", &format!("{e:#}"));
        }
    };
    let (number, conversation_state, messages) = shown(state, conversation);
    let (csrf, set_cookie) = csrf_token(state, headers);
    no_store(render(
        state,
        lang,
        "talk_status.html",
        status,
        minijinja::context! {
            csrf, number, access_code, messages, error, draft,
            closed => conversation_state == "closed",
            max_chars => web::MAX_TEXT_CHARS,
            notice => notice(state, lang),
        },
        set_cookie,
    ))
}

pub async fn status_submit(posted: PostedForm) -> Response {
    let (state, lang, headers, form) = posted.into_parts();
    let number = field(&form, "number").unwrap_or("");
    let access_code = field(&form, "access_code").unwrap_or("");
    match web::lookup(&state.infra.db, &state.keys, number, access_code).await {
        Ok(Some(id)) => {
            conversation_page(
                &state,
                &headers,
                lang,
                id,
                access_code,
                StatusCode::OK,
                None,
                "",
            )
            .await
        }
        Ok(None) => no_such_pair(&state, &headers, lang),
        Err(e) => internal_error(&state, lang, "web conversation lookup", &format!("{e:#}")),
    }
}

pub async fn add_submit(posted: PostedForm) -> Response {
    let (state, lang, headers, form) = posted.into_parts();
    let number = field(&form, "number").unwrap_or("");
    let access_code = field(&form, "access_code").unwrap_or("");
    let typed = field(&form, "text").unwrap_or("");
    let id = match web::lookup(&state.infra.db, &state.keys, number, access_code).await {
        Ok(Some(id)) => id,
        Ok(None) => return no_such_pair(&state, &headers, lang),
        Err(e) => {
            return internal_error(&state, lang, "web conversation lookup", &format!("{e:#}"));
        }
    };
    let Some(text) = web::valid_text(typed) else {
        return conversation_page(
            &state,
            &headers,
            lang,
            id,
            access_code,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("talk.invalid_text"),
            typed,
        )
        .await;
    };
    if let Err(e) = web::add(&state.infra.db, &state.keys, id, text).await {
        return internal_error(&state, lang, "web conversation message", &format!("{e:#}"));
    }
    conversation_page(
        &state,
        &headers,
        lang,
        id,
        access_code,
        StatusCode::OK,
        None,
        "",
    )
    .await
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Escapes text for HTML (text and attribute values).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A person's plain text as HTML: escaped, line breaks kept.
fn plain_html(s: &str) -> String {
    escape(s).replace("\r\n", "\n").replace('\n', "<br>")
}

/// Telegram's entities in text (the only ones its HTML mode knows).
fn unescape_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Telegram HTML (the organisation's emergency text, staff replies, the
/// automatic answer) reduced to inline HTML that is safe inside a `<p>`:
/// b / strong, i / em, u, s, code (pre as code) and http(s) links are
/// kept; every other tag is dropped (its text kept); text is escaped; line
/// breaks become `<br>`; whatever is left open is closed.
pub fn telegram_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    // The HTML tags open, in order (None: an opening tag that was dropped).
    let mut open: Vec<Option<&'static str>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut rest = s;
    let text = |t: &str, out: &mut String| {
        out.push_str(&plain_html(&unescape_entities(t)));
    };
    while let Some(start) = rest.find('<') {
        text(&rest[..start], &mut out);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            text(&rest[start..], &mut out);
            rest = "";
            break;
        };
        let inner = after[..end].trim();
        rest = &after[end + 1..];
        let (closing, inner) = match inner.strip_prefix('/') {
            Some(i) => (true, i.trim()),
            None => (false, inner),
        };
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        let html: Option<&'static str> = match name.as_str() {
            "b" | "strong" => Some("b"),
            "i" | "em" => Some("i"),
            "u" | "ins" => Some("u"),
            "s" | "strike" | "del" => Some("s"),
            "code" | "pre" => Some("code"),
            "a" => Some("a"),
            _ => None,
        };
        if closing {
            if let Some(pos) = names.iter().rposition(|n| *n == name) {
                while names.len() > pos {
                    names.pop();
                    if let Some(Some(tag)) = open.pop() {
                        out.push_str(&format!("</{tag}>"));
                    }
                }
            }
            continue;
        }
        let tag = match html {
            Some("a") => link_href(inner).map(|href| {
                out.push_str(&format!(
                    "<a href=\"{}\" rel=\"noreferrer nofollow\">",
                    escape(&href)
                ));
                "a"
            }),
            Some(tag) => {
                out.push_str(&format!("<{tag}>"));
                Some(tag)
            }
            None => None,
        };
        if !name.is_empty() {
            names.push(name);
            open.push(tag);
        }
    }
    text(rest, &mut out);
    while let Some(tag) = open.pop() {
        if let Some(tag) = tag {
            out.push_str(&format!("</{tag}>"));
        }
    }
    out
}

/// The `href` of an `<a ...>` tag's inside, if it is an http(s) URL.
fn link_href(inner: &str) -> Option<String> {
    let at = inner.find("href=")?;
    let v = inner[at + 5..].trim_start();
    let v = match v.chars().next()? {
        q @ ('"' | '\'') => v[1..].split(q).next()?,
        _ => v.split_whitespace().next()?,
    };
    let v = unescape_entities(v);
    let lower = v.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_html_keeps_the_subset_and_escapes_the_rest() {
        assert_eq!(
            telegram_html("<b>Call 103</b> now &amp; <script>alert(1)</script>"),
            "<b>Call 103</b> now &amp; alert(1)"
        );
        assert_eq!(telegram_html("a &lt;b&gt; c"), "a &lt;b&gt; c");
        assert_eq!(telegram_html("<b>open"), "<b>open</b>");
        assert_eq!(telegram_html("x</b>y"), "xy");
        assert_eq!(
            telegram_html("<a href=\"https://x.kz/?a=1&amp;b=2\">site</a>"),
            "<a href=\"https://x.kz/?a=1&amp;b=2\" rel=\"noreferrer nofollow\">site</a>"
        );
        assert_eq!(telegram_html("<a href=\"javascript:alert(1)\">x</a>"), "x");
        assert_eq!(telegram_html("<b onclick=\"x\">1\n2</b>"), "<b>1<br>2</b>");
        assert_eq!(telegram_html("<pre>a\nb</pre>"), "<code>a<br>b</code>");
        assert_eq!(telegram_html("<i><b>x</i>"), "<i><b>x</b></i>");
        assert_eq!(telegram_html("1 < 2"), "1 &lt; 2");
        assert_eq!(telegram_html("\"q\""), "&quot;q&quot;");
        assert_eq!(plain_html("<b>\n"), "&lt;b&gt;<br>");
    }
}
