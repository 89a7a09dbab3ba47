//! An official as an organiser gives it (the JSON API or one CSV row),
//! and its validation into [`Valid`], ready to seal. The OpenAPI shapes of
//! the language and the time zone are documented here too.
//!
//! It must never put a value in an error: a [`FieldError`] names the
//! column and the reason.

use nasvyazi_crypto::Keyring;
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::Config;
use nasvyazi_platform::i18n::Lang;
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::OfficeHours;

/// An official as given (JSON or one CSV row).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialInput {
    /// One line, 1 to 300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// One line, 1 to 300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub position: String,
    /// One line, 1 to 300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub organisation: String,
    #[schema(
        max_length = 254,
        pattern = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]{1,20}\\.){1,3}[A-Za-z]{2,10}$"
    )]
    pub email: String,
    /// ru, kk or en (blank: ru): the language letters to them are written in.
    #[schema(value_type = Option<OfficialLanguage>)]
    pub language: Option<String>,
    /// IANA time zone (blank: `campaigns.default_time_zone`).
    #[schema(value_type = Option<TimeZoneName>)]
    pub time_zone: Option<String>,
    /// Days (`Mon`..`Sun`, ranges and commas) and a local window, e.g.
    /// `Mon-Fri 09:00-18:00` (default `letters.office_hours`); any window
    /// whose end is after its start is accepted (`24:00` ends at midnight).
    #[schema(
        pattern = r"^([\t\n\r ]*|(Mon(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))?|Tue(-(Tue|Wed|Thu|Fri|Sat|Sun))?|Wed(-(Wed|Thu|Fri|Sat|Sun))?|Thu(-(Thu|Fri|Sat|Sun))?|Fri(-(Fri|Sat|Sun))?|Sat(-(Sat|Sun))?|Sun(-Sun)?)(,(Mon(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))?|Tue(-(Tue|Wed|Thu|Fri|Sat|Sun))?|Wed(-(Wed|Thu|Fri|Sat|Sun))?|Thu(-(Thu|Fri|Sat|Sun))?|Fri(-(Fri|Sat|Sun))?|Sat(-(Sat|Sun))?|Sun(-Sun)?))* (0[0-9]|1[01]):[0-5][0-9]-((1[2-9]|2[0-3]):[0-5][0-9]|24:00))$"
    )]
    pub office_hours: Option<String>,
    /// Letters per local day at most, 1 to 100000 (default
    /// `letters.official_daily_cap`).
    #[schema(minimum = 1, maximum = 100000)]
    pub daily_cap: Option<u32>,
}

/// Documentation only: the language of an official's letters (`kz` is
/// read as `kk`; blank is `ru`).
pub struct OfficialLanguage;

impl PartialSchema for OfficialLanguage {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The language letters are written in: ru, kk or en (`kz` is read as `kk`; blank is `ru`).",
            ))
            .enum_values(Some(["ru", "kk", "kz", "en", ""]))
            .into()
    }
}

impl ToSchema for OfficialLanguage {}

/// Documentation only: an IANA time zone name (the names the server knows),
/// or blank for the default.
pub struct TimeZoneName;

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An IANA time zone, e.g. `Asia/Almaty`; blank for the default.",
            ))
            .enum_values(Some(
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .map(|tz| tz.name())
                    .chain([""]),
            ))
            .into()
    }
}

impl ToSchema for TimeZoneName {}

/// A column that is wrong, and why (no value quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: &'static str,
    pub reason: &'static str,
}

fn err(column: &'static str, reason: &'static str) -> FieldError {
    FieldError { column, reason }
}

/// A validated official, ready to seal.
pub struct Valid {
    pub name: String,
    pub position: String,
    pub organisation: String,
    pub email: EmailAddress,
    pub language: Lang,
    pub time_zone: String,
    pub hours: OfficeHours,
    pub daily_cap: Option<i32>,
}

fn text(column: &'static str, v: &str, max: usize) -> Result<String, FieldError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(|c| c.is_control()) {
        return Err(err(column, "required, one line, at most 300 characters"));
    }
    Ok(v.to_string())
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl OfficialInput {
    pub fn validate(&self, config: &Config) -> Result<Valid, FieldError> {
        let language = match blank(&self.language) {
            None => Lang::Ru,
            Some(l) => Lang::parse(l).ok_or(err("language", "ru, kk or en"))?,
        };
        let time_zone = blank(&self.time_zone)
            .unwrap_or(&config.campaigns.default_time_zone)
            .to_string();
        time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| err("time_zone", "an IANA time zone such as Asia/Almaty"))?;
        let hours =
            OfficeHours::parse(blank(&self.office_hours).unwrap_or(&config.letters.office_hours))
                .map_err(|_| err("office_hours", "days and hours like Mon-Fri 09:00-18:00"))?;
        let daily_cap = match self.daily_cap {
            Some(0) => return Err(err("daily_cap", "a whole number of at least 1, or empty")),
            Some(n) if n > 100_000 => return Err(err("daily_cap", "at most 100000")),
            Some(n) => Some(n as i32),
            None => None,
        };
        Ok(Valid {
            name: text("name", &self.name, 300)?,
            position: text("position", &self.position, 300)?,
            organisation: text("organisation", &self.organisation, 300)?,
            email: EmailAddress::parse(&self.email)
                .map_err(|_| err("email", "not a valid email address"))?,
            language,
            time_zone,
            hours,
            daily_cap,
        })
    }
}

impl Valid {
    /// The email's blind index (duplicates are found with it).
    pub fn email_bi(&self, keys: &Keyring) -> Vec<u8> {
        keys.blind_index("email", &self.email.normalised())
    }
}
