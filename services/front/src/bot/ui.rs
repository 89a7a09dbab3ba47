//! What the bot says and the buttons it shows, in the contact's language.
//! Catalog strings are trusted Telegram HTML; every value put into them
//! (the organisation's name and contact) is escaped.

use nasvyazi_shared::Config;
use nasvyazi_shared::i18n::{Lang, t};
use nasvyazi_shared::telegram::text::{escape_html, fill_html};
use nasvyazi_supporters::contacts::topics;
use serde_json::{Value, json};

/// Callback data: `lang:<code>` during sign-up, `setlang:<code>` from
/// `/lang`, `topic:<key>` toggles, `done` finishes.
pub mod data {
    pub const LANG: &str = "lang:";
    pub const SET_LANG: &str = "setlang:";
    pub const TOPIC: &str = "topic:";
    pub const DONE: &str = "done";
}

fn button(text: impl Into<String>, data: impl Into<String>) -> Value {
    json!({"text": text.into(), "callback_data": data.into()})
}

/// One row of language buttons, each in its own language.
pub fn language_keyboard(prefix: &str) -> Value {
    let row: Vec<Value> = Lang::ALL
        .iter()
        .map(|l| {
            button(
                t(*l, &format!("lang.{}", l.code())),
                format!("{prefix}{}", l.code()),
            )
        })
        .collect();
    json!({"inline_keyboard": [row]})
}

/// One topic per row, ticked if chosen, then "done".
pub fn topics_keyboard(lang: Lang, chosen: &[String]) -> Value {
    let mut rows: Vec<Value> = topics()
        .iter()
        .map(|key| {
            let mark = if chosen.contains(key) {
                "✅"
            } else {
                "▫️"
            };
            let name = t(lang, &format!("topic.{key}"));
            json!([button(
                format!("{mark} {name}"),
                format!("{}{key}", data::TOPIC)
            )])
        })
        .collect();
    rows.push(json!([button(t(lang, "telegram.done_button"), data::DONE)]));
    json!({"inline_keyboard": rows})
}

/// The answer to `/start`.
pub fn welcome(config: &Config, lang: Lang) -> String {
    format!(
        "{}\n\n{}",
        fill_html(
            &t(lang, "telegram.welcome"),
            &[("org", &config.organisation.name)]
        ),
        t(lang, "telegram.choose_language")
    )
}

pub fn choose_topics(lang: Lang) -> String {
    t(lang, "telegram.choose_topics")
}

/// After "done": subscribed (or saved) and the topics chosen.
pub fn finished(lang: Lang, newly_active: bool, chosen: &[String]) -> String {
    let head = if newly_active {
        t(lang, "telegram.subscribed")
    } else {
        t(lang, "telegram.saved")
    };
    let names = if chosen.is_empty() {
        t(lang, "telegram.topics_none")
    } else {
        chosen
            .iter()
            .map(|k| t(lang, &format!("topic.{k}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{head}\n\n{}",
        fill_html(&t(lang, "telegram.your_topics"), &[("topics", &names)])
    )
}

/// `/help`: who we are, what we do, how to reach us, the commands.
pub fn help(config: &Config, lang: Lang) -> String {
    let org = &config.organisation;
    let mut parts = vec![
        fill_html(&t(lang, "telegram.help_title"), &[("org", &org.name)]),
        t(lang, "telegram.help_services"),
    ];
    if !org.contact.trim().is_empty() {
        parts.push(fill_html(
            &t(lang, "telegram.help_contact"),
            &[("contact", org.contact.trim())],
        ));
    }
    parts.push(escape_html(&t(lang, "telegram.help_commands")));
    parts.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_exist_in_every_language_and_escape_values() {
        let config = Config::from_toml(
            "[organisation]\nname = \"Forum <KZ> & Co\"\ncontact = \"+7 700 000 00 00, <help@forum.kz>\"\n",
        )
        .unwrap();
        for lang in Lang::ALL {
            for text in [
                welcome(&config, lang),
                help(&config, lang),
                finished(lang, true, &["ost".into()]),
                choose_topics(lang),
            ] {
                assert!(!text.contains("telegram."), "{text}");
                assert!(!text.contains("<KZ>") && !text.contains("<help@"), "{text}");
            }
            assert!(help(&config, lang).contains("Forum &lt;KZ&gt; &amp; Co"));
            let kb = topics_keyboard(lang, &["hiv".into()]);
            let rows = kb["inline_keyboard"].as_array().unwrap();
            assert_eq!(rows.len(), topics().len() + 1);
            for row in rows {
                let data = row[0]["callback_data"].as_str().unwrap();
                assert!(data.len() <= 64, "{data}");
            }
        }
    }
}
