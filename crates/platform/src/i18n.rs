//! Interface strings in ru / kk / en, shared by pages and messages.
//!
//! Catalogs are TOML files embedded in the binary (`crates/platform/i18n/*.toml`). A
//! string missing in the requested language falls back: kk -> ru -> en (and
//! ru -> en, en -> ru), so a half-translated Kazakh catalog still shows
//! every page. Plural forms follow CLDR: Russian has one / few / many,
//! Kazakh and English one / other.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ru,
    Kk,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Ru, Lang::Kk, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::Kk => "kk",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ru" => Some(Lang::Ru),
            "kk" | "kz" => Some(Lang::Kk),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Where a missing string is looked up next, in order.
    pub fn fallbacks(self) -> [Lang; 3] {
        match self {
            Lang::Kk => [Lang::Kk, Lang::Ru, Lang::En],
            Lang::Ru => [Lang::Ru, Lang::En, Lang::Kk],
            Lang::En => [Lang::En, Lang::Ru, Lang::Kk],
        }
    }

    /// The best of ours for an `Accept-Language` header, if any.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let primary = tag.split('-').next()?;
                Lang::parse(primary).map(|l| (l, q))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, _)| l)
    }
}

type Catalog = HashMap<String, String>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalog) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

fn parse_catalog(src: &str) -> Catalog {
    let table: toml::Table = src.parse().expect("embedded catalog is valid TOML");
    let mut out = Catalog::new();
    flatten("", &table, &mut out);
    out
}

/// Every catalog file, by language. A feature may bring its own file
/// (`<feature>.<lang>.toml`); keys must not repeat across files.
const FILES: &[(Lang, &str)] = &[
    (Lang::Ru, include_str!("../i18n/ru.toml")),
    (Lang::Kk, include_str!("../i18n/kk.toml")),
    (Lang::En, include_str!("../i18n/en.toml")),
    (Lang::Ru, include_str!("../i18n/telegram.ru.toml")),
    (Lang::Kk, include_str!("../i18n/telegram.kk.toml")),
    (Lang::En, include_str!("../i18n/telegram.en.toml")),
    (Lang::Ru, include_str!("../i18n/appeals.ru.toml")),
    (Lang::Kk, include_str!("../i18n/appeals.kk.toml")),
    (Lang::En, include_str!("../i18n/appeals.en.toml")),
    (Lang::Ru, include_str!("../i18n/letters.ru.toml")),
    (Lang::Kk, include_str!("../i18n/letters.kk.toml")),
    (Lang::En, include_str!("../i18n/letters.en.toml")),
    (Lang::Ru, include_str!("../i18n/console.ru.toml")),
    (Lang::Kk, include_str!("../i18n/console.kk.toml")),
    (Lang::En, include_str!("../i18n/console.en.toml")),
    (Lang::Ru, include_str!("../i18n/consult.ru.toml")),
    (Lang::Kk, include_str!("../i18n/consult.kk.toml")),
    (Lang::En, include_str!("../i18n/consult.en.toml")),
    (Lang::Ru, include_str!("../i18n/talk.ru.toml")),
    (Lang::Kk, include_str!("../i18n/talk.kk.toml")),
    (Lang::En, include_str!("../i18n/talk.en.toml")),
    (Lang::Ru, include_str!("../i18n/surveys.ru.toml")),
    (Lang::Kk, include_str!("../i18n/surveys.kk.toml")),
    (Lang::En, include_str!("../i18n/surveys.en.toml")),
    (Lang::Ru, include_str!("../i18n/channels.ru.toml")),
    (Lang::Kk, include_str!("../i18n/channels.kk.toml")),
    (Lang::En, include_str!("../i18n/channels.en.toml")),
    (Lang::Ru, include_str!("../i18n/survey_bot.ru.toml")),
    (Lang::Kk, include_str!("../i18n/survey_bot.kk.toml")),
    (Lang::En, include_str!("../i18n/survey_bot.en.toml")),
];

fn catalogs() -> &'static HashMap<Lang, Catalog> {
    static CATALOGS: OnceLock<HashMap<Lang, Catalog>> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        let mut all: HashMap<Lang, Catalog> = HashMap::new();
        for (lang, src) in FILES {
            all.entry(*lang).or_default().extend(parse_catalog(src));
        }
        all
    })
}

/// The string for `key` in `lang`, with fallback; the key itself if no
/// catalog has it (visible in review, never a crash).
pub fn t(lang: Lang, key: &str) -> String {
    lookup(catalogs(), lang, key)
}

fn lookup(catalogs: &HashMap<Lang, Catalog>, lang: Lang, key: &str) -> String {
    lang.fallbacks()
        .iter()
        .find_map(|l| catalogs.get(l).and_then(|c| c.get(key)))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

/// Replaces `{name}` placeholders.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The CLDR plural category of `n` in `lang`: `one`, `few`, `many`, `other`.
pub fn plural_category(lang: Lang, n: u64) -> &'static str {
    match lang {
        Lang::Ru => {
            let (m10, m100) = (n % 10, n % 100);
            if m10 == 1 && m100 != 11 {
                "one"
            } else if (2..=4).contains(&m10) && !(12..=14).contains(&m100) {
                "few"
            } else {
                "many"
            }
        }
        Lang::Kk | Lang::En => {
            if n == 1 {
                "one"
            } else {
                "other"
            }
        }
    }
}

/// `key.<category>` for `n`, with `{n}` filled in.
pub fn plural(lang: Lang, key: &str, n: u64) -> String {
    let cat = plural_category(lang, n);
    let mut s = t(lang, &format!("{key}.{cat}"));
    if s.ends_with(cat) && s.starts_with(key) {
        s = t(lang, &format!("{key}.other"));
    }
    fill(&s, &[("n", &n.to_string())])
}

/// Registers `t(key, **vars)` and `plural(key, n)` in a template
/// environment; both read the language from the context variable `lang`.
pub fn register(env: &mut minijinja::Environment<'static>) {
    use minijinja::value::Kwargs;
    use minijinja::{Error, State};
    fn lang_of(state: &State) -> Lang {
        state
            .lookup("lang")
            .and_then(|v| v.as_str().and_then(Lang::parse))
            .unwrap_or(Lang::Ru)
    }
    env.add_function(
        "t",
        |state: &State, key: &str, kwargs: Kwargs| -> Result<String, Error> {
            let mut s = t(lang_of(state), key);
            for name in kwargs.args() {
                let v: minijinja::Value = kwargs.get(name)?;
                s = s.replace(&format!("{{{name}}}"), &v.to_string());
            }
            Ok(s)
        },
    );
    env.add_function("plural", |state: &State, key: &str, n: u64| {
        plural(lang_of(state), key, n)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_every_language() {
        let c = catalogs();
        for lang in Lang::ALL {
            for key in c[&Lang::Ru].keys() {
                assert!(c[&lang].contains_key(key), "{} lacks {key}", lang.code());
            }
        }
    }

    #[test]
    fn missing_kazakh_string_falls_back_to_russian() {
        let mut c = catalogs().clone();
        c.get_mut(&Lang::Kk).unwrap().remove("subscribe.title");
        assert_eq!(
            lookup(&c, Lang::Kk, "subscribe.title"),
            c[&Lang::Ru]["subscribe.title"]
        );
        assert_eq!(lookup(&c, Lang::Kk, "no.such.key"), "no.such.key");
    }

    #[test]
    fn plural_rules() {
        let cats: Vec<_> = [1, 2, 5, 11, 21, 22, 25, 112]
            .iter()
            .map(|n| plural_category(Lang::Ru, *n))
            .collect();
        assert_eq!(
            cats,
            ["one", "few", "many", "many", "one", "few", "many", "many"]
        );
        assert_eq!(plural_category(Lang::Kk, 1), "one");
        assert_eq!(plural_category(Lang::En, 2), "other");
    }

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language("kk-KZ,ru;q=0.8"), Some(Lang::Kk));
        assert_eq!(
            Lang::from_accept_language("de,en;q=0.5,ru;q=0.9"),
            Some(Lang::Ru)
        );
        assert_eq!(Lang::from_accept_language("de"), None);
    }
}
