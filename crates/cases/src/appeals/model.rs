//! An appeal request after parsing, and the two secrets it is answered
//! with: the case number (random, not enumerable, safe to say aloud) and
//! the access code (secret, stored only as a keyed hash).
//!
//! What it must never do: print the text or the contact. [`Valid`] has no
//! `Debug` of its contents and no `Display`.

use crate::appeals::stored::{CATEGORIES, Contact, normalise_telegram};
use crate::code;
use nasvyazi_crypto::Keyring;
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::i18n::Lang;
use nasvyazi_supporters::regions::{self, Region};
use serde::Deserialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// The longest text (and addition), in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// What was wrong with a request: the field and a catalog key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Category,
    Place,
    Site,
    Text,
    Contact,
}

impl Invalid {
    pub fn field(self) -> &'static str {
        match self {
            Invalid::Category => "category",
            Invalid::Place => "region/city",
            Invalid::Site => "site",
            Invalid::Text => "text",
            Invalid::Contact => "contact",
        }
    }

    pub fn message_key(self) -> &'static str {
        match self {
            Invalid::Category => "appeal.invalid_category",
            Invalid::Place => "appeal.invalid_place",
            Invalid::Site => "appeal.invalid_site",
            Invalid::Text => "appeal.invalid_text",
            Invalid::Contact => "appeal.invalid_contact",
        }
    }
}

/// How the appellant may be reached, as sent (`{ "email": ... }` or
/// `{ "telegram": ... }`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum ContactInput {
    /// An email address (never echoed, never logged).
    Email(String),
    /// A Telegram `@username` or chat id (never echoed, never logged).
    Telegram(String),
}

// Documentation only: the schema of `ContactInput`, each form with exactly
// its one field.
/// How the appellant may be reached: `{ "email": ... }` or
/// `{ "telegram": ... }`.
#[derive(ToSchema)]
#[schema(as = AppealContact)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum AppealContact {
    Email(ContactByEmail),
    Telegram(ContactByTelegram),
}

/// `{ "email": ... }`
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct ContactByEmail {
    /// An email address (never echoed, never logged).
    #[schema(
        max_length = 254,
        pattern = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]{1,20}\\.){1,3}[A-Za-z]{2,10}$"
    )]
    email: String,
}

/// `{ "telegram": ... }`
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct ContactByTelegram {
    /// A Telegram `@username` (5-32 of a-z, 0-9 and `_`, starting with a
    /// letter), a `t.me/` link to one, or a numeric chat id (never echoed,
    /// never logged).
    #[schema(pattern = r"^(https://t\.me/|t\.me/)?(-?[0-9]{1,20}|@?[A-Za-z][A-Za-z0-9_]{4,31})$")]
    telegram: String,
}

impl std::fmt::Debug for ContactInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactInput([redacted])")
    }
}

/// The raw fields of an appeal, from JSON or from the form.
pub struct Input<'a> {
    pub category: &'a str,
    pub region: &'a str,
    pub city: &'a str,
    pub site: Option<&'a str>,
    pub text: &'a str,
    pub contact: Option<&'a ContactInput>,
    pub consent_to_forward: bool,
    pub language: Lang,
}

/// An active site: its code and region.
pub struct SiteRef {
    pub code: String,
    pub region: String,
}

/// A parsed appeal, ready to store.
pub struct Valid {
    pub category: &'static str,
    pub region: String,
    pub city: String,
    pub site: Option<String>,
    pub text: Zeroizing<String>,
    pub contact: Option<Contact>,
    pub consent_to_forward: bool,
    pub language: Lang,
}

/// Checks a text (the appeal's or an addition): trimmed, not empty, at
/// most [`MAX_TEXT_CHARS`].
pub fn valid_text(text: &str) -> Option<Zeroizing<String>> {
    let t = text.trim();
    (!t.is_empty() && t.chars().count() <= MAX_TEXT_CHARS).then(|| Zeroizing::new(t.to_string()))
}

impl Input<'_> {
    /// Parses against the reference list of places and the active sites.
    pub fn validate(&self, places: &[Region], sites: &[SiteRef]) -> Result<Valid, Invalid> {
        let category = CATEGORIES
            .iter()
            .find(|c| **c == self.category)
            .ok_or(Invalid::Category)?;
        let (region, city) = (self.region.trim(), self.city.trim());
        if region.is_empty() || city.is_empty() || !regions::is_known(places, region, Some(city)) {
            return Err(Invalid::Place);
        }
        let site = self.site.map(str::trim).filter(|s| !s.is_empty());
        if let Some(code) = site
            && !sites.iter().any(|s| s.code == code && s.region == region)
        {
            return Err(Invalid::Site);
        }
        let text = valid_text(self.text).ok_or(Invalid::Text)?;
        let contact = match self.contact {
            None => None,
            Some(ContactInput::Email(e)) => Some(Contact::Email(
                EmailAddress::parse(e).map_err(|_| Invalid::Contact)?,
            )),
            Some(ContactInput::Telegram(t)) => Some(Contact::Telegram(
                normalise_telegram(t).ok_or(Invalid::Contact)?,
            )),
        };
        Ok(Valid {
            category,
            region: region.to_string(),
            city: city.to_string(),
            site: site.map(str::to_string),
            text,
            contact,
            consent_to_forward: self.consent_to_forward,
            language: self.language,
        })
    }
}

/// A fresh case number: `KZ-` and 8 random characters (about 40 bits).
pub fn new_case_number() -> String {
    code::new_number("KZ")
}

/// A typed case number in its canonical form (`kz 7f3k9qx2` ->
/// `KZ-7F3K-9QX2`), or `None`.
pub fn canonical_case_number(input: &str) -> Option<String> {
    code::canonical_number("KZ", input)
}

pub use crate::code::new_access_code;

/// The stored form of an access code: a keyed hash (HMAC under the
/// blind-index key) of its canonical form, so a database dump alone cannot
/// even test a guess. Malformed input hashes to something no code has.
pub fn access_hash(keys: &Keyring, input: &str) -> Vec<u8> {
    code::access_hash(keys, "appeal_access", input)
}

pub use nasvyazi_crypto::ct_eq;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_numbers_and_codes_are_random_and_typo_tolerant() {
        let n = new_case_number();
        assert_eq!(n.len(), "KZ-7F3K-9QX2".len());
        assert_ne!(n, new_case_number());
        let typed = n.to_lowercase().replace('-', " ");
        assert_eq!(canonical_case_number(&typed).as_deref(), Some(n.as_str()));
        assert_eq!(canonical_case_number("KZ-0000-0000"), None);
        let code = new_access_code();
        let keys = Keyring::generate();
        assert!(ct_eq(
            &access_hash(&keys, &code),
            &access_hash(&keys, &code.to_lowercase().replace('-', ""))
        ));
        assert!(!ct_eq(
            &access_hash(&keys, &code),
            &access_hash(&keys, &new_access_code())
        ));
    }

    #[test]
    fn validation() {
        let places = regions::builtin();
        let sites = [SiteRef {
            code: "pavlodar_1".into(),
            region: "pavlodar".into(),
        }];
        let email = ContactInput::Email("a@b.kz".into());
        let base = Input {
            category: "police",
            region: "pavlodar",
            city: "ekibastuz",
            site: Some("pavlodar_1"),
            text: "  text  ",
            contact: Some(&email),
            consent_to_forward: false,
            language: Lang::Kk,
        };
        let v = base.validate(places, &sites).ok().unwrap();
        assert_eq!(v.text.as_str(), "text");
        assert_eq!(v.contact.unwrap().channel(), "email");
        let long = "я".repeat(MAX_TEXT_CHARS + 1);
        let max = "я".repeat(MAX_TEXT_CHARS);
        let tg = ContactInput::Telegram("not a name".into());
        for (input, want) in [
            (
                Input {
                    category: "nope",
                    ..base
                },
                Invalid::Category,
            ),
            (
                Input {
                    city: "taraz",
                    ..base
                },
                Invalid::Place,
            ),
            (
                Input {
                    region: "atlantis",
                    ..base
                },
                Invalid::Place,
            ),
            (
                Input {
                    site: Some("x"),
                    ..base
                },
                Invalid::Site,
            ),
            (
                Input {
                    region: "jambyl",
                    city: "taraz",
                    ..base
                },
                Invalid::Site,
            ),
            (Input { text: " ", ..base }, Invalid::Text),
            (
                Input {
                    text: &long,
                    ..base
                },
                Invalid::Text,
            ),
            (
                Input {
                    contact: Some(&tg),
                    ..base
                },
                Invalid::Contact,
            ),
        ] {
            assert_eq!(input.validate(places, &sites).err(), Some(want));
        }
        assert!(
            Input {
                text: &max,
                site: None,
                contact: None,
                ..base
            }
            .validate(places, &sites)
            .is_ok()
        );
    }
}
