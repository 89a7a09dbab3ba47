//! Email addresses as a type that does not leak: parsed once, normalised for
//! the blind index, `Debug` shows `[redacted]`, and there is no `Display`.
//! Also the pieces of outgoing mail that several services need: DKIM
//! ([`dkim`]) and the VERP return path ([`verp`]).

pub mod dkim;
pub mod verp;

/// A syntactically valid email address (personal data).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl std::fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailAddress([redacted])")
    }
}

/// Why an address was refused. Never quotes the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("email: not a valid email address")]
pub struct InvalidEmail;

impl EmailAddress {
    /// Parses `input` (surrounding whitespace ignored). Deliberately
    /// conservative: one `@`, a local part of printable ASCII without
    /// spaces, a domain of letters, digits, hyphens and at least one dot
    /// (internationalised domains in their `xn--` form).
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let s = input.trim();
        if s.len() > 254 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidEmail);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(InvalidEmail)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(InvalidEmail);
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
        if !(local_ok && domain_ok) {
            return Err(InvalidEmail);
        }
        Ok(EmailAddress(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    /// The address as given (domain lower-cased), for sending only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form the blind index is computed over: lower case throughout
    /// (mailbox providers treat the local part case-insensitively in
    /// practice, and one person must not subscribe twice by capitalising).
    pub fn normalised(&self) -> String {
        self.0.to_lowercase()
    }

    /// The recipient domain, for per-domain rate limits (not personal data
    /// on its own for the providers we throttle; still, never log it with
    /// an id).
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// Splits `Name <addr@host>` or `addr@host` into (name, address).
pub fn parse_mailbox(s: &str) -> Option<(Option<String>, EmailAddress)> {
    let s = s.trim();
    if let Some(start) = s.rfind('<') {
        let end = s.rfind('>')?;
        if end < start {
            return None;
        }
        let addr = EmailAddress::parse(&s[start + 1..end]).ok()?;
        let name = s[..start].trim().trim_matches('"').trim();
        Some(((!name.is_empty()).then(|| name.to_string()), addr))
    } else {
        EmailAddress::parse(s).ok().map(|a| (None, a))
    }
}

/// The domain of `Name <addr@host>` or `addr@host`, lower case.
pub fn domain_of(mailbox: &str) -> Option<String> {
    parse_mailbox(mailbox).map(|(_, a)| a.domain().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_addresses() {
        for ok in [
            "a@b.kz",
            "First.Last+tag@Mail.Example.ORG",
            "x_y-z@xn--80ak6aa92e.com",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.kz", "a@@b.kz", "a b@c.kz", "a@b..kz", "a@-b.kz", ".a@b.kz",
            "a@b.1",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalisation_and_redaction() {
        let a = EmailAddress::parse("  Aigerim@Example.KZ ").unwrap();
        assert_eq!(a.expose(), "Aigerim@example.kz");
        assert_eq!(a.normalised(), "aigerim@example.kz");
        assert_eq!(a.domain(), "example.kz");
        assert!(!format!("{a:?}").contains("igerim"));
    }

    #[test]
    fn mailboxes() {
        let (n, a) = parse_mailbox("Forum KZ <noreply@forum.kz>").unwrap();
        assert_eq!(n.as_deref(), Some("Forum KZ"));
        assert_eq!(a.expose(), "noreply@forum.kz");
        assert!(parse_mailbox("noreply@forum.kz").unwrap().0.is_none());
        assert!(parse_mailbox("Forum <nope>").is_none());
    }
}

/// How email leaves (`[email]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    pub outbox_dir: std::path::PathBuf,
    /// `outbox` files (plain-text emails) older than this many days are
    /// deleted (development only: see `notifier::channels::folder`).
    #[serde(default = "default_outbox_retention_days")]
    pub outbox_retention_days: u32,
    #[serde(serialize_with = "nasvyazi_crypto::redact::secret")]
    pub smtp_url: secrecy::SecretString,
    pub from: String,
    pub unsubscribe_mailto: String,
    pub pool_size: u32,
    pub timeout_secs: u64,
    pub max_per_second: u32,
    pub max_per_domain_per_minute: u32,
    pub dkim_selector: String,
    pub dkim_domain: String,
    #[serde(default, serialize_with = "nasvyazi_crypto::redact::secret_opt")]
    pub dkim_private_key: Option<secrecy::SecretString>,
    /// Key rotation: a second RSA key signed alongside the first (its own
    /// selector) until the first is retired.
    #[serde(default)]
    pub dkim_next_selector: String,
    #[serde(default, serialize_with = "nasvyazi_crypto::redact::secret_opt")]
    pub dkim_next_private_key: Option<secrecy::SecretString>,
    /// Optional Ed25519 key (RFC 8463), signed alongside the RSA one.
    #[serde(default)]
    pub dkim_ed25519_selector: String,
    #[serde(default, serialize_with = "nasvyazi_crypto::redact::secret_opt")]
    pub dkim_ed25519_key: Option<secrecy::SecretString>,
    /// VERP envelope sender template with `{token}`; empty: `from`.
    #[serde(default)]
    pub return_path: String,
}

fn default_outbox_retention_days() -> u32 {
    7
}
