//! A letter campaign as an organiser defines it (the JSON API and the
//! console), and its validation: name, slug, mode, templates (their syntax
//! and limits), reply-to, timing and throttles. The OpenAPI shapes of the
//! mode and of the templates are documented here too.
//!
//! It must never put a value an organiser typed in an error: an
//! [`Invalid`] names the field and the rule.

use chrono::{DateTime, Utc};
use nasvyazi_mail::EmailAddress;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::LetterTemplates;
use crate::render::check;

/// A letter campaign as created or edited through the API.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    /// 1 to 200 characters, not only spaces, no NUL.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub name: String,
    /// The public page is `/letters/{slug}`: 2-60 of a-z, 0-9 and `-`, not
    /// starting with `-`; not `confirm` or `withdraw`.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{1,59}$")]
    pub slug: String,
    /// `each` (one letter per signer per official) or `collective` (one
    /// letter per official listing the signatories, at `send_at`).
    #[schema(value_type = LetterMode)]
    pub mode: String,
    /// Per language code: subject, body, page_text.
    #[schema(value_type = LetterTemplatesInput)]
    pub templates: LetterTemplates,
    /// Ids of officials in the directory.
    #[serde(default)]
    pub targets: Vec<Uuid>,
    /// The organisation's address for replies (when a signer's is not used);
    /// blank for none.
    #[schema(
        max_length = 254,
        pattern = "^([\\t\\n\\r ]*|[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]{1,20}\\.){1,3}[A-Za-z]{2,10})$"
    )]
    pub reply_to: Option<String>,
    /// each: not before (optional); collective: when (required).
    pub send_at: Option<DateTime<Utc>>,
    /// Signing ends (collective: at `send_at` at the latest).
    pub closes_at: Option<DateTime<Utc>>,
    /// Minutes between two letters to one official (default from config).
    #[schema(minimum = 0, maximum = 2147483647)]
    pub official_interval_minutes: Option<u32>,
    /// Letters per minute to one recipient domain, at least 1 (default from
    /// config).
    #[schema(minimum = 1, maximum = 2147483647)]
    pub domain_per_minute: Option<u32>,
}

/// How a letter is sent.
#[derive(ToSchema)]
#[schema(as = LetterMode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum LetterMode {
    Each,
    Collective,
}

// Documentation only: the shape `LetterTemplates` accepts.
/// A letter's templates per language (`ru`, `kk`, `en`; each optional).
#[derive(ToSchema)]
#[schema(as = LetterTemplatesInput)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct LetterTemplatesInput {
    #[serde(default)]
    ru: LetterTemplateInput,
    #[serde(default)]
    kk: LetterTemplateInput,
    #[serde(default)]
    en: LetterTemplateInput,
}

// Documentation only: the shape `LetterTemplate` accepts.
/// The texts of one language. `subject` and `body` are minijinja
/// templates (placeholders such as `{{ official.name }}`,
/// `{{ signer.name }}`, `{{ signatories }}`, `{{ count }}`); the pattern
/// shows the plain text and placeholders every such template may hold.
#[derive(ToSchema, Default)]
#[schema(as = LetterTemplateInput)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct LetterTemplateInput {
    #[schema(
        pattern = r"^([^{\x00]|\{[^{%#\x00]|\{\{ ?(official\.(name|position|organisation)|signer\.(name|city|note)|signatories|count|org|letter) ?\}\})*\{?$"
    )]
    subject: Option<String>,
    #[schema(
        pattern = r"^([^{\x00]|\{[^{%#\x00]|\{\{ ?(official\.(name|position|organisation)|signer\.(name|city|note)|signatories|count|org|letter) ?\}\})*\{?$"
    )]
    body: Option<String>,
    /// Shown on the public signing page above the form (plain text).
    #[schema(pattern = r"^[^\x00]*$")]
    page_text: Option<String>,
}

/// A field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// Slugs that are paths of their own.
const RESERVED: [&str; 2] = ["confirm", "withdraw"];

impl LetterInput {
    /// Checks everything but the targets' existence (see [`check_targets`]).
    pub fn validate(&self) -> Result<LetterInput, Invalid> {
        let mut v = self.clone();
        v.name = v.name.trim().to_string();
        if v.name.is_empty() || v.name.chars().count() > 200 {
            return Err(invalid("name", "1 to 200 characters"));
        }
        v.slug = v.slug.trim().to_ascii_lowercase();
        let slug_ok = (2..=60).contains(&v.slug.len())
            && v.slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !v.slug.starts_with('-')
            && !RESERVED.contains(&v.slug.as_str());
        if !slug_ok {
            return Err(invalid(
                "slug",
                "2-60 of a-z, 0-9 and -, not starting with -",
            ));
        }
        if !matches!(v.mode.as_str(), "each" | "collective") {
            return Err(invalid("mode", "each or collective"));
        }
        check(&v.templates).map_err(|e| invalid("templates", e))?;
        if let Some(r) = &v.reply_to {
            let r = r.trim();
            v.reply_to = if r.is_empty() {
                None
            } else {
                EmailAddress::parse(r)
                    .map_err(|_| invalid("reply_to", "not a valid email address"))?;
                Some(r.to_string())
            };
        }
        if v.mode == "collective" {
            let Some(at) = v.send_at else {
                return Err(invalid(
                    "send_at",
                    "a collective letter needs the time it is sent",
                ));
            };
            match v.closes_at {
                Some(c) if c > at => {
                    return Err(invalid("closes_at", "signing must end by send_at"));
                }
                None => v.closes_at = Some(at),
                _ => {}
            }
        }
        if v.domain_per_minute == Some(0) {
            return Err(invalid("domain_per_minute", "at least 1"));
        }
        let mut targets = Vec::new();
        for t in &v.targets {
            if !targets.contains(t) {
                targets.push(*t);
            }
        }
        v.targets = targets;
        Ok(v)
    }
}
