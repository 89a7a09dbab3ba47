//! Letter templates (minijinja, plain text) per language with fallback
//! kk -> ru -> en field by field, and their rendering for one official and
//! one signer (`each`) or for the list of signatories (`collective`).
//!
//! Placeholders: `{{ official.name }}`, `{{ official.position }}`,
//! `{{ official.organisation }}`, `{{ signer.name }}`, `{{ signer.city }}`,
//! `{{ signer.note }}`, `{{ signatories }}` (a list of `{name, city}`),
//! `{{ count }}`, `{{ org }}`, `{{ letter }}`. A collective body that does
//! not use `signatories` gets the list appended.
//!
//! It must never log a context or a rendered letter (both carry names and
//! notes: their `Debug` prints `[redacted]`), nor render without the
//! limits on organisers' templates.

use std::collections::BTreeMap;

use minijinja::{Environment, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use nasvyazi_platform::i18n::{self, Lang};
use nasvyazi_platform::template_limits;

/// The texts of one language.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterTemplate {
    pub subject: Option<String>,
    pub body: Option<String>,
    /// Shown on the public signing page above the form (plain text).
    pub page_text: Option<String>,
}

/// Templates per language code (`ru`, `kk`, `en`).
pub type LetterTemplates = BTreeMap<String, LetterTemplate>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Subject,
    Body,
    PageText,
}

/// The template of `field` in `lang`, falling back kk -> ru -> en.
pub fn pick(templates: &LetterTemplates, lang: Lang, field: Field) -> Option<&str> {
    lang.fallbacks().iter().find_map(|l| {
        let t = templates.get(l.code())?;
        match field {
            Field::Subject => t.subject.as_deref(),
            Field::Body => t.body.as_deref(),
            Field::PageText => t.page_text.as_deref(),
        }
        .filter(|s| !s.trim().is_empty())
    })
}

/// The official a letter is addressed to.
#[derive(Clone, Serialize)]
pub struct OfficialCtx {
    pub name: String,
    pub position: String,
    pub organisation: String,
}

/// One signer (or one line of the collective list).
#[derive(Clone, Serialize)]
pub struct SignerCtx {
    pub name: String,
    pub city: String,
    /// Empty when the signer wrote none.
    pub note: String,
}

/// Everything a letter template can use.
#[derive(Clone, Serialize)]
pub struct LetterContext {
    pub org: String,
    pub letter: String,
    pub official: OfficialCtx,
    /// `each`: the signer; collective: none (templates see empty fields).
    #[serde(serialize_with = "signer_or_empty")]
    pub signer: Option<SignerCtx>,
    /// collective: every confirmed, non-withdrawn signatory.
    pub signatories: Vec<SignerCtx>,
    pub count: usize,
}

fn signer_or_empty<S: serde::Serializer>(s: &Option<SignerCtx>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => s.serialize(ser),
        None => SignerCtx {
            name: String::new(),
            city: String::new(),
            note: String::new(),
        }
        .serialize(ser),
    }
}

impl std::fmt::Debug for LetterContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LetterContext([redacted])")
    }
}

/// A rendered letter: plain text, as officials' mail systems expect.
#[derive(Clone, Serialize, ToSchema)]
pub struct RenderedLetter {
    pub subject: String,
    pub text: String,
    /// The language it was rendered in (`Content-Language`).
    pub language: String,
}

impl std::fmt::Debug for RenderedLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderedLetter([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no {0} template in any language")]
    Missing(&'static str),
    /// minijinja's message names the template position, not the values.
    #[error("template error: {0}")]
    Template(String),
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    template_limits::limit(&mut env);
    env
}

/// Checks the syntax of every template (at create or edit time).
pub fn check(templates: &LetterTemplates) -> Result<(), String> {
    let env = env();
    for (lang, t) in templates {
        if Lang::parse(lang).is_none() {
            return Err("keys are language codes: ru, kk, en".into());
        }
        for src in [&t.subject, &t.body].into_iter().flatten() {
            env.template_from_str(src)
                .map_err(|e| format!("template syntax ({lang}): {e}"))?;
            template_limits::check(src, &stand_in())
                .map_err(|limit| format!("template ({lang}): {limit}"))?;
        }
    }
    Ok(())
}

/// Stand-in values for the check at save time.
fn stand_in() -> Value {
    let signer = SignerCtx {
        name: "Name".into(),
        city: "City".into(),
        note: "Note".into(),
    };
    Value::from_serialize(LetterContext {
        org: "Organisation".into(),
        letter: "Letter".into(),
        official: OfficialCtx {
            name: "Official".into(),
            position: "Position".into(),
            organisation: "Organisation".into(),
        },
        signer: Some(signer.clone()),
        signatories: vec![signer; 3],
        count: 3,
    })
}

/// Renders the letter in `lang` (the official's language).
pub fn render(
    templates: &LetterTemplates,
    lang: Lang,
    ctx: &LetterContext,
) -> Result<RenderedLetter, RenderError> {
    let subject_src =
        pick(templates, lang, Field::Subject).ok_or(RenderError::Missing("subject"))?;
    let body_src = pick(templates, lang, Field::Body).ok_or(RenderError::Missing("body"))?;
    let env = env();
    let value = Value::from_serialize(ctx);
    let run = |src: &str| {
        template_limits::render(&env, src, &value).map_err(|e| {
            RenderError::Template(match template_limits::limit_of(&e) {
                Some(limit) => limit.to_string(),
                None => e.to_string(),
            })
        })
    };
    let subject = run(subject_src)?
        .replace(['\r', '\n'], " ")
        .trim()
        .to_string();
    let mut text = run(body_src)?;
    if ctx.signer.is_none() && !body_src.contains("signatories") {
        text = format!(
            "{}\n\n{}",
            text.trim_end(),
            signatory_list(lang, &ctx.signatories)
        );
    }
    Ok(RenderedLetter {
        subject,
        text,
        language: lang.code().to_string(),
    })
}

/// "Signatories (N):" and one numbered line per signatory.
pub fn signatory_list(lang: Lang, signatories: &[SignerCtx]) -> String {
    let mut out = i18n::fill(
        &i18n::t(lang, "letters.signatories_heading"),
        &[("n", &signatories.len().to_string())],
    );
    for (i, s) in signatories.iter().enumerate() {
        out.push_str(&format!("\n{}. {}, {}", i + 1, s.name, s.city));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> LetterTemplates {
        let mut t = LetterTemplates::new();
        t.insert(
            "ru".into(),
            LetterTemplate {
                subject: Some("Обращение к {{ official.position }}".into()),
                body: Some("Уважаемый(ая) {{ official.name }}!\n\n{{ signer.note }}\n\n{{ signer.name }}, {{ signer.city }}".into()),
                page_text: None,
            },
        );
        t.insert(
            "kk".into(),
            LetterTemplate {
                subject: Some("Өтініш: {{ official.position }}".into()),
                ..Default::default()
            },
        );
        t
    }

    fn ctx(signer: bool) -> LetterContext {
        let s = SignerCtx {
            name: "Айгерим".into(),
            city: "Павлодар".into(),
            note: "Прошу <обеспечить> ОЗТ".into(),
        };
        LetterContext {
            org: "Forum".into(),
            letter: "ОЗТ".into(),
            official: OfficialCtx {
                name: "А. Б.".into(),
                position: "министру".into(),
                organisation: "МЗ РК".into(),
            },
            signer: signer.then(|| s.clone()),
            signatories: if signer { vec![] } else { vec![s.clone(), s] },
            count: 2,
        }
    }

    #[test]
    fn each_letter_falls_back_field_by_field_and_is_not_escaped() {
        let l = render(&templates(), Lang::Kk, &ctx(true)).unwrap();
        assert_eq!(l.subject, "Өтініш: министру");
        assert!(l.text.starts_with("Уважаемый(ая) А. Б.!"), "{}", l.text);
        assert!(l.text.contains("Прошу <обеспечить> ОЗТ"));
        assert_eq!(l.language, "kk");
    }

    #[test]
    fn collective_letter_lists_the_signatories() {
        let l = render(&templates(), Lang::Ru, &ctx(false)).unwrap();
        assert!(
            l.text
                .contains("\n1. Айгерим, Павлодар\n2. Айгерим, Павлодар"),
            "{}",
            l.text
        );
        assert!(check(&templates()).is_ok());
        let mut bad = templates();
        bad.get_mut("ru").unwrap().body = Some("{% if %}".into());
        assert!(check(&bad).is_err());
    }
}
