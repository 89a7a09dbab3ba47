//! The one typed configuration: embedded defaults < the user's TOML file <
//! `NASVYAZI_<SECTION>__<KEY>` environment variables. Validated at load; a bad
//! value is refused with the key's name and the reason, never its content when
//! the key is a secret.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use nasvyazi_crypto::CryptoConfig;
use nasvyazi_crypto::redact::{secret as redact, secret_opt as redact_opt};
pub use nasvyazi_mail::{EmailConfig, EmailTransport};
use nasvyazi_telegram::deserialize_chat_id as chat_id;
pub use nasvyazi_telegram::{TelegramConfig, TelegramMode};

/// The commented defaults file, also what `nasvyazi config --defaults` shows.
pub const DEFAULTS: &str = include_str!("config.default.toml");

/// The environment variable that names a configuration file.
pub const CONFIG_ENV: &str = "NASVYAZI_CONFIG";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub nats: NatsConfig,
    pub http: HttpConfig,
    pub console: ConsoleConfig,
    pub limits: LimitsConfig,
    pub scheduler: SchedulerConfig,
    pub notifier: NotifierConfig,
    pub outbox: OutboxConfig,
    pub crypto: CryptoConfig,
    pub log: LogConfig,
    pub organisation: OrganisationConfig,
    pub subscriptions: SubscriptionsConfig,
    pub email: EmailConfig,
    pub telegram: TelegramConfig,
    pub campaigns: CampaignsConfig,
    pub appeals: AppealsConfig,
    pub letters: LettersConfig,
    #[serde(default)]
    pub bounces: BouncesConfig,
    pub consultations: ConsultationsConfig,
    #[serde(default)]
    pub media: MediaConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection URL; a secret because it may carry a password.
    #[serde(serialize_with = "redact")]
    pub url: SecretString,
    pub max_connections: u32,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    /// Optional auth token for the NATS server.
    #[serde(default, serialize_with = "redact_opt")]
    pub token: Option<SecretString>,
    pub prefix: String,
    pub replicas: usize,
    pub duplicate_window_secs: u64,
    pub max_age_days: u64,
    pub max_deliver: i64,
    pub ack_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// CIDRs of reverse proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The onion address, when the site is also a Tor onion service.
    #[serde(default)]
    pub onion_url: Option<String>,
}

/// The staff listener (console, admin API, metrics).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// Base of links to the console in messages (sign-in links, alerts).
    pub url: String,
}

/// Anti-abuse limits (see `shared::limits`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub confirmations_per_address_per_hour: u32,
    pub confirmation_emails_per_hour: u32,
    pub public_posts_per_minute: u32,
    /// Proof of work on the public forms and their APIs: `off`, `auto`
    /// (while public POSTs exceed `proof_of_work_busy_posts_per_minute`)
    /// or `on`.
    #[serde(default)]
    pub proof_of_work: ProofOfWork,
    /// Leading zero bits a hashcash solution needs.
    #[serde(default = "default_pow_bits")]
    pub proof_of_work_bits: u32,
    /// How old a challenge must be to count without a solution (the no-
    /// JavaScript path: wait, then send).
    #[serde(default = "default_pow_wait")]
    pub proof_of_work_wait_secs: u32,
    /// All clients' public POSTs per minute above which `auto` asks.
    #[serde(default = "default_pow_busy")]
    pub proof_of_work_busy_posts_per_minute: u32,
}

/// `limits.proof_of_work`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProofOfWork {
    #[default]
    Off,
    Auto,
    On,
}

fn default_pow_bits() -> u32 {
    18
}

fn default_pow_wait() -> u32 {
    8
}

fn default_pow_busy() -> u32 {
    300
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub listen: SocketAddr,
    pub grace_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    pub listen: SocketAddr,
    pub batch_size: i64,
    pub concurrency: usize,
    pub lease_secs: u64,
    pub max_attempts: i32,
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignsConfig {
    pub default_time_zone: String,
    pub quiet_hours_start: String,
    pub quiet_hours_end: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppealsConfig {
    pub retention_days: u32,
    pub rate_limit_per_minute: u32,
    pub staff_email: String,
}

/// Peer consultations («На связи»): when consultants answer, what everyone
/// is told at once, how long closed conversations are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsultationsConfig {
    /// When consultants answer, e.g. `Mon-Sun 10:00-22:00`, in `time_zone`.
    pub hours: String,
    /// IANA time zone of `hours`.
    pub time_zone: String,
    /// Closed conversations are erased (crypto-shredded) after this many days.
    pub retention_days: u32,
    /// A private supergroup with forum topics for staff: its numeric id
    /// (-100...), never a `@username` (only public groups have one, and
    /// anyone can join those); empty: off.
    #[serde(deserialize_with = "chat_id")]
    pub staff_group: String,
    /// Where alerts about new and waiting conversations go by email (empty:
    /// none; the staff Telegram chat gets them too when set).
    pub staff_email: String,
    /// A conversation waiting this long for us, in hours, alerts staff.
    pub alert_after_minutes: u32,
    /// Replies are sent with Telegram's `protect_content` (no forwarding,
    /// no saving).
    pub protect_content: bool,
    /// The topic tags consultants may put on a conversation.
    pub tags: Vec<String>,
    /// What a conversation can be referred to (users with that speciality
    /// are alerted).
    pub specialities: Vec<String>,
    /// Messages per minute one person may send before the rest are dropped.
    pub person_messages_per_minute: u32,
    /// New conversations per minute across everyone, for the bot and for
    /// the web each on its own (refused messages are not stored, but the
    /// person still gets the emergency text).
    pub new_conversations_per_minute: u32,
    /// New conversations one client address may open on the web (`/talk`)
    /// per hour. Not applied through the onion address (proof of work is).
    pub web_conversations_per_client_per_hour: u32,
    /// Always sent with the first answer: emergency lines, overdose first
    /// aid, naloxone. Telegram HTML.
    pub emergency_text: PerLanguage,
}

/// A text in each interface language.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PerLanguage {
    pub ru: String,
    pub kk: String,
    pub en: String,
}

impl PerLanguage {
    pub fn get(&self, lang: crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::Ru => &self.ru,
            crate::i18n::Lang::Kk => &self.kk,
            crate::i18n::Lang::En => &self.en,
        }
    }
}

/// Letters to officials: the defaults a letter campaign or an official may
/// override.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LettersConfig {
    /// Office hours of officials imported without any, e.g. `Mon-Fri 09:00-18:00`.
    pub office_hours: String,
    /// Minimum minutes between two letters to one official (0: none).
    pub official_interval_minutes: u32,
    /// Letters per minute to one recipient domain, evenly spaced.
    pub domain_per_minute: u32,
    /// Letters per official per local day, unless the official has a cap (0: none).
    pub official_daily_cap: u32,
    /// A letter still `sending` after this is flagged `unknown`, never resent.
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConfig {
    pub name: String,
    pub contact: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsConfig {
    pub confirm_ttl_hours: u32,
    pub pending_ttl_hours: u32,
    pub resend_after_minutes: u32,
}

/// Bounces and complaints, received by our own SMTP listener for the
/// bounce domain (`notifier::bounces`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BouncesConfig {
    /// Address the bounce listener binds (empty: off).
    pub listen: String,
    /// Soft bounces of one address within `soft_window_days` that suppress it.
    pub soft_limit: i64,
    pub soft_window_days: i64,
    /// Largest message the listener takes (bytes, counted on the wire,
    /// over-long lines included): past it DATA is cut off with 552 and the
    /// connection closed, so no client makes it hold more.
    pub max_message_bytes: usize,
    /// Conversations at once; more get 421 (RFC 5321 §3.8) and come back.
    pub max_connections: usize,
    /// Conversations at once from one client address (an IPv6 /64 counts
    /// as one address), so one client cannot hold every slot.
    pub max_connections_per_address: usize,
    /// A conversation ends (421) this long after it began, however busy.
    pub session_timeout_secs: u64,
    /// A client silent this long (no complete line) is dropped (421).
    pub idle_timeout_secs: u64,
    /// DATA (from 354 to the final dot) must end within this (451 then).
    pub data_timeout_secs: u64,
    /// Commands other than an accepted `RCPT TO` between two messages
    /// (NOOP, RSET, HELO, refused recipients...); past it 421 and close.
    pub max_commands_per_message: u32,
}

impl BouncesConfig {
    /// The key and reason of the first invalid value.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1024..=64 << 20).contains(&self.max_message_bytes) {
            return Err((
                "bounces.max_message_bytes",
                "must be 1024 to 67108864 (64 MiB)",
            ));
        }
        if self.max_connections == 0 {
            return Err(("bounces.max_connections", "must be at least 1"));
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_address) {
            return Err((
                "bounces.max_connections_per_address",
                "must be 1 to bounces.max_connections",
            ));
        }
        if self.session_timeout_secs == 0
            || self.idle_timeout_secs == 0
            || self.data_timeout_secs == 0
        {
            return Err((
                "bounces.session_timeout_secs",
                "session, idle and data timeouts must be at least 1 second",
            ));
        }
        if self.max_commands_per_message < 5 {
            return Err((
                "bounces.max_commands_per_message",
                "must be at least 5 (EHLO, MAIL, DATA, RSET, QUIT)",
            ));
        }
        Ok(())
    }
}

/// The media library (issue 16): upload limits and the total quota. The
/// files themselves are in PostgreSQL (`media.content`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Largest photo (JPEG, PNG, WebP) in bytes; at most Telegram's 10 MB.
    pub photo_max_bytes: usize,
    /// Largest other file (GIF, MP4, PDF) in bytes; at most Telegram's 50 MB.
    pub file_max_bytes: usize,
    /// What the whole library may hold, in bytes.
    pub quota_bytes: u64,
}

impl MediaConfig {
    /// Telegram's bot upload limits (sendPhoto; the other send methods).
    pub const TELEGRAM_PHOTO_MAX: usize = 10 * 1024 * 1024;
    pub const TELEGRAM_FILE_MAX: usize = 50 * 1024 * 1024;

    /// The key and reason of the first invalid value.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1..=Self::TELEGRAM_PHOTO_MAX).contains(&self.photo_max_bytes) {
            return Err(("media.photo_max_bytes", "must be 1 to 10485760 (10 MB)"));
        }
        if !(1..=Self::TELEGRAM_FILE_MAX).contains(&self.file_max_bytes) {
            return Err(("media.file_max_bytes", "must be 1 to 52428800 (50 MB)"));
        }
        if self.quota_bytes == 0 {
            return Err(("media.quota_bytes", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            photo_max_bytes: Self::TELEGRAM_PHOTO_MAX,
            file_max_bytes: Self::TELEGRAM_FILE_MAX,
            quota_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for BouncesConfig {
    fn default() -> Self {
        BouncesConfig {
            listen: String::new(),
            soft_limit: 3,
            soft_window_days: 14,
            max_message_bytes: 1 << 20,
            max_connections: 64,
            max_connections_per_address: 8,
            session_timeout_secs: 300,
            idle_timeout_secs: 60,
            data_timeout_secs: 120,
            max_commands_per_message: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    pub poll_interval_ms: u64,
    pub batch_size: i64,
    pub retention_days: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// A configuration that could not be loaded: names the key and says why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The numeric id of a supergroup (`-100` followed by the channel id, as
/// the Bot API writes it), or `None` for anything else (a `@username`, a
/// basic group, a user).
pub fn staff_group_id(configured: &str) -> Option<i64> {
    configured
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id < -1_000_000_000_000)
}

impl Config {
    /// Defaults, then `file` (or the file named by `NASVYAZI_CONFIG`), then
    /// the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file: Option<PathBuf> = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Parse(format!(
                    "file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(env_provider());
        Self::from_figment(figment)
    }

    /// Defaults plus the given TOML text, without reading the environment:
    /// what tests use to build a configuration that nothing outside changes.
    pub fn from_toml(overrides: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(overrides)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            // figment's messages name the key and the expected type; for a
            // secret key they never quote the value (secrets are strings and
            // every string parses).
            let errors: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            ConfigError::Parse(errors.join("; "))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_string(),
        };
        let url = self.database.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if !valid_prefix(&self.nats.prefix) {
            return Err(invalid(
                "nats.prefix",
                "must be 1-32 characters of letters, digits, '_' or '-'",
            ));
        }
        if !self
            .nats
            .url
            .split(',')
            .all(|u| u.trim().starts_with("nats://") || u.trim().starts_with("tls://"))
        {
            return Err(invalid(
                "nats.url",
                "every URL must start with nats:// or tls://",
            ));
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return Err(invalid("nats.replicas", "must be between 1 and 5"));
        }
        if self.nats.max_deliver < 1 {
            return Err(invalid("nats.max_deliver", "must be at least 1"));
        }
        if self.nats.duplicate_window_secs == 0 {
            return Err(invalid("nats.duplicate_window_secs", "must be at least 1"));
        }
        if self.nats.ack_wait_secs == 0 {
            return Err(invalid("nats.ack_wait_secs", "must be at least 1"));
        }
        let public = &self.http.public_url;
        if !(public.starts_with("http://") || public.starts_with("https://")) || public.len() < 10 {
            return Err(invalid(
                "http.public_url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        if self.trusted_proxies().is_none() {
            return Err(invalid(
                "http.trusted_proxies",
                "every entry must be a CIDR such as 10.0.0.0/8 or an address",
            ));
        }
        if let Some(onion) = &self.http.onion_url
            && !(onion.starts_with("http://") || onion.starts_with("https://"))
        {
            return Err(invalid(
                "http.onion_url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        let console = &self.console.url;
        if !(console.starts_with("http://") || console.starts_with("https://")) {
            return Err(invalid(
                "console.url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        if self.limits.confirmations_per_address_per_hour == 0
            || self.limits.confirmation_emails_per_hour == 0
            || self.limits.public_posts_per_minute == 0
        {
            return Err(invalid(
                "limits.public_posts_per_minute",
                "every limit must be at least 1",
            ));
        }
        if self.http.body_limit_bytes < 1024 {
            return Err(invalid("http.body_limit_bytes", "must be at least 1024"));
        }
        if let Err((key, reason)) = self.media.check() {
            return Err(invalid(key, reason));
        }
        if let Err((key, reason)) = self.bounces.check() {
            return Err(invalid(key, reason));
        }
        if self.outbox.batch_size < 1 {
            return Err(invalid("outbox.batch_size", "must be at least 1"));
        }
        if self.outbox.poll_interval_ms < 10 {
            return Err(invalid("outbox.poll_interval_ms", "must be at least 10"));
        }
        if self.notifier.batch_size < 1 || self.notifier.concurrency < 1 {
            return Err(invalid(
                "notifier.batch_size",
                "batch_size and concurrency must be at least 1",
            ));
        }
        if self.notifier.max_attempts < 1 {
            return Err(invalid("notifier.max_attempts", "must be at least 1"));
        }
        if self.subscriptions.confirm_ttl_hours == 0 {
            return Err(invalid(
                "subscriptions.confirm_ttl_hours",
                "must be at least 1",
            ));
        }
        if nasvyazi_mail::parse_mailbox(&self.email.from).is_none() {
            return Err(invalid(
                "email.from",
                "must be an address like `Name <noreply@example.org>`",
            ));
        }
        let smtp = self.email.smtp_url.expose_secret();
        if !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
            return Err(invalid(
                "email.smtp_url",
                "must start with smtp:// or smtps://",
            ));
        }
        if self.email.pool_size == 0
            || self.email.max_per_second == 0
            || self.email.max_per_domain_per_minute == 0
        {
            return Err(invalid(
                "email.pool_size",
                "pool_size, max_per_second and max_per_domain_per_minute must be at least 1",
            ));
        }
        let dkim = [
            !self.email.dkim_selector.is_empty(),
            !self.email.dkim_domain.is_empty(),
            self.email.dkim_private_key.is_some(),
        ];
        if dkim.iter().any(|x| *x) && !dkim.iter().all(|x| *x) {
            return Err(invalid(
                "email.dkim_selector",
                "DKIM needs dkim_selector, dkim_domain and dkim_private_key together",
            ));
        }
        let tg = &self.telegram;
        if !(tg.api_base.starts_with("http://") || tg.api_base.starts_with("https://")) {
            return Err(invalid(
                "telegram.api_base",
                "must be an http:// or https:// URL",
            ));
        }
        if let Some(t) = &tg.token {
            let t = t.expose_secret();
            let ok = t.split_once(':').is_some_and(|(id, rest)| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
            });
            if !ok {
                return Err(invalid(
                    "telegram.token",
                    "must look like 123456:ABC-DEF (from @BotFather)",
                ));
            }
        }
        if tg.mode == TelegramMode::Webhook && tg.webhook_secret.is_none() {
            return Err(invalid(
                "telegram.webhook_secret",
                "is required in webhook mode",
            ));
        }
        if let Some(s) = &tg.webhook_secret {
            let s = s.expose_secret();
            let ok = (1..=256).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(invalid(
                    "telegram.webhook_secret",
                    "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)",
                ));
            }
        }
        if tg.max_per_second == 0 || tg.group_per_minute == 0 {
            return Err(invalid(
                "telegram.max_per_second",
                "limits must be at least 1",
            ));
        }
        if self
            .campaigns
            .default_time_zone
            .parse::<chrono_tz::Tz>()
            .is_err()
        {
            return Err(invalid(
                "campaigns.default_time_zone",
                "must be an IANA time zone such as Asia/Almaty",
            ));
        }
        for (key, v) in [
            (
                "campaigns.quiet_hours_start",
                &self.campaigns.quiet_hours_start,
            ),
            ("campaigns.quiet_hours_end", &self.campaigns.quiet_hours_end),
        ] {
            if chrono::NaiveTime::parse_from_str(v, "%H:%M").is_err() {
                return Err(invalid(key, "must be a time like 22:00"));
            }
        }
        if self.appeals.rate_limit_per_minute == 0 {
            return Err(invalid(
                "appeals.rate_limit_per_minute",
                "must be at least 1",
            ));
        }
        if !self.appeals.staff_email.is_empty()
            && nasvyazi_mail::EmailAddress::parse(&self.appeals.staff_email).is_err()
        {
            return Err(invalid("appeals.staff_email", "must be an email address"));
        }
        let c = &self.consultations;
        if crate::hours::OfficeHours::parse(&c.hours).is_err() {
            return Err(invalid(
                "consultations.hours",
                "must look like Mon-Sun 10:00-22:00",
            ));
        }
        if c.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(
                "consultations.time_zone",
                "must be an IANA time zone such as Asia/Almaty",
            ));
        }
        if c.retention_days == 0 {
            return Err(invalid(
                "consultations.retention_days",
                "must be at least 1",
            ));
        }
        if !c.staff_email.is_empty() && nasvyazi_mail::EmailAddress::parse(&c.staff_email).is_err()
        {
            return Err(invalid(
                "consultations.staff_email",
                "must be an email address",
            ));
        }
        if !c.staff_group.trim().is_empty() && staff_group_id(&c.staff_group).is_none() {
            return Err(invalid(
                "consultations.staff_group",
                "must be the numeric id of a private supergroup with topics, such as \
                 -1001234567890 (a @username is a public group: anyone could join it, read \
                 every conversation and answer as the organisation)",
            ));
        }
        for (key, value) in [
            (
                "consultations.person_messages_per_minute",
                c.person_messages_per_minute,
            ),
            (
                "consultations.new_conversations_per_minute",
                c.new_conversations_per_minute,
            ),
            (
                "consultations.web_conversations_per_client_per_hour",
                c.web_conversations_per_client_per_hour,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "limits must be at least 1"));
            }
        }
        let word = |w: &String| {
            (1..=32).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        };
        if !c.tags.iter().all(word) || !c.specialities.iter().all(word) {
            return Err(invalid(
                "consultations.tags",
                "tags and specialities are 1-32 of a-z and _",
            ));
        }
        if crate::hours::OfficeHours::parse(&self.letters.office_hours).is_err() {
            return Err(invalid(
                "letters.office_hours",
                "must look like Mon-Fri 09:00-18:00",
            ));
        }
        if self.letters.domain_per_minute == 0 || self.letters.lease_secs < 2 {
            return Err(invalid(
                "letters.domain_per_minute",
                "domain_per_minute must be at least 1 and lease_secs at least 2",
            ));
        }
        if let Some(k) = &self.crypto.master_key {
            check_key(k).map_err(|r| invalid("crypto.master_key", r))?;
        }
        if let Some(k) = &self.crypto.blind_index_key {
            check_key(k).map_err(|r| invalid("crypto.blind_index_key", r))?;
        }
        for k in &self.crypto.previous_master_keys {
            check_key(k).map_err(|r| invalid("crypto.previous_master_keys", r))?;
        }
        nasvyazi_mail::dkim::DkimSigner::from_config(&self.email)
            .map_err(|e| invalid(e.key, e.reason))?;
        let rp = self.email.return_path.trim();
        if !rp.is_empty() && (rp.matches("{token}").count() != 1 || !rp.contains('@')) {
            return Err(invalid(
                "email.return_path",
                "must be an address with one {token}, e.g. bounce+{token}@bounces.example.org",
            ));
        }
        if !self.bounces.listen.trim().is_empty() && rp.is_empty() {
            return Err(invalid(
                "bounces.listen",
                "needs email.return_path, so that bounces come back to it",
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML, every secret shown as `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.http.public_url.trim_end_matches('/')
    }

    /// The base for links in an answer to a request whose `Host` header is
    /// `host`: the onion address when the request came through it (its
    /// host matches `http.onion_url`'s), else the public one.
    pub fn base_for_host(&self, host: Option<&str>) -> &str {
        let onion = self
            .http
            .onion_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'));
        let onion_host = onion.and_then(|u| u.split_once("://")).map(|(_, h)| h);
        match (onion, onion_host, host) {
            (Some(onion), Some(oh), Some(h)) if h.eq_ignore_ascii_case(oh) => onion,
            _ => self.public_base(),
        }
    }

    /// The console's base URL without a trailing slash.
    pub fn console_base(&self) -> &str {
        self.console.url.trim_end_matches('/')
    }

    /// `http.trusted_proxies` parsed (a bare address is a /32 or /128).
    /// `None` if an entry is neither.
    pub fn trusted_proxies(&self) -> Option<Vec<ipnet::IpNet>> {
        self.http
            .trusted_proxies
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .ok()
                    .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
            })
            .collect()
    }
}

fn env_provider() -> Env {
    Env::prefixed("NASVYAZI_")
        .split("__")
        // Only NASVYAZI_<SECTION>__<KEY> is configuration (the split has
        // turned `__` into `.` by the time the filter runs): NASVYAZI_CONFIG
        // names the file, and test variables share the prefix.
        .filter(|k| k.as_str().contains('.'))
}

fn valid_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 32
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_key(k: &SecretString) -> Result<(), &'static str> {
    nasvyazi_crypto::decode_key(k.expose_secret())
        .map(|_| ())
        .map_err(|_| "must be the base64 of exactly 32 bytes (see `nasvyazi keygen`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staff_group_is_a_supergroup_id_never_a_username() {
        for bad in [
            "@forum_staff",
            "forum_staff",
            "-100123",
            "12345",
            "-1001234567890x",
        ] {
            let e = Config::from_toml(&format!("[consultations]\nstaff_group = \"{bad}\"\n"))
                .expect_err(bad)
                .to_string();
            assert!(e.contains("consultations.staff_group"), "{e}");
        }
        let c = Config::from_toml("[consultations]\nstaff_group = -1001234567890\n").unwrap();
        assert_eq!(
            staff_group_id(&c.consultations.staff_group),
            Some(-1_001_234_567_890)
        );
        assert!(Config::from_toml("[consultations]\nstaff_group = \"\"\n").is_ok());
    }

    #[test]
    fn links_follow_the_onion_host() {
        let c = Config::from_toml(
            "[http]\npublic_url = \"https://forum.example.kz/\"\nonion_url = \"http://abcdef.onion/\"\n",
        )
        .unwrap();
        assert_eq!(c.base_for_host(Some("abcdef.onion")), "http://abcdef.onion");
        assert_eq!(
            c.base_for_host(Some("forum.example.kz")),
            "https://forum.example.kz"
        );
        assert_eq!(c.base_for_host(None), "https://forum.example.kz");
        let plain = Config::from_toml("").unwrap();
        assert_eq!(
            plain.base_for_host(Some("abcdef.onion")),
            plain.public_base()
        );
        assert_eq!(plain.console.listen.port(), 8083);
        assert!(plain.http.trusted_proxies.is_empty());
        assert_eq!(plain.limits.confirmations_per_address_per_hour, 3);
        assert_eq!(plain.limits.confirmation_emails_per_hour, 500);
        assert_eq!(plain.limits.public_posts_per_minute, 20);
        assert!(
            Config::from_toml("[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").is_err(),
            "a bad CIDR is refused"
        );
    }

    #[test]
    fn defaults_load_and_validate() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.nats.prefix, "outreach");
        assert_eq!(c.http.listen.port(), 8080);
    }

    #[test]
    fn bad_value_names_the_key() {
        let e = Config::from_toml("[nats]\nprefix = \"a.b\"\n").unwrap_err();
        assert!(e.to_string().contains("nats.prefix"), "{e}");
        let e = Config::from_toml("[nats]\nreplicas = \"three\"\n").unwrap_err();
        assert!(e.to_string().contains("replicas"), "{e}");
        let e = Config::from_toml("[crypto]\nmaster_key = \"hunter2-secret\"\n").unwrap_err();
        assert!(e.to_string().contains("crypto.master_key"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn bounce_listener_limits_are_checked() {
        for (toml, key) in [
            (
                "[bounces]\nmax_connections = 4\nmax_connections_per_address = 5\n",
                "bounces.max_connections_per_address",
            ),
            (
                "[bounces]\nmax_message_bytes = 100\n",
                "bounces.max_message_bytes",
            ),
            (
                "[bounces]\ndata_timeout_secs = 0\n",
                "bounces.session_timeout_secs",
            ),
            (
                "[bounces]\nmax_commands_per_message = 2\n",
                "bounces.max_commands_per_message",
            ),
        ] {
            let e = Config::from_toml(toml).unwrap_err();
            assert!(e.to_string().contains(key), "{toml}: {e}");
        }
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.bounces.max_connections_per_address, 8);
        assert_eq!(c.bounces.session_timeout_secs, 300);
    }

    #[test]
    fn secrets_are_redacted_in_toml_and_debug() {
        let c = Config::from_toml(
            "[database]\nurl = \"postgres://u:canary-pw-81@h/db\"\n[nats]\ntoken = \"canary-tok-81\"\n",
        )
        .unwrap();
        let shown = c.to_redacted_toml();
        let debug = format!("{c:?}");
        for out in [&shown, &debug] {
            assert!(!out.contains("canary-pw-81"), "{out}");
            assert!(!out.contains("canary-tok-81"), "{out}");
        }
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
    fn env_overrides_the_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "nasvyazi.toml",
                "[nats]\nprefix = \"fromfile\"\nreplicas = 3\n[http]\nlisten = \"127.0.0.1:9000\"\n",
            )?;
            jail.set_env("NASVYAZI_NATS__PREFIX", "fromenv");
            jail.set_env("NASVYAZI_HTTP__LISTEN", "127.0.0.1:9100");
            let c = Config::load(Some(Path::new("nasvyazi.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.nats.prefix, "fromenv");
            assert_eq!(c.nats.replicas, 3, "file beats defaults");
            assert_eq!(c.http.listen.port(), 9100);
            assert_eq!(c.scheduler.listen.port(), 8081, "defaults fill the rest");
            jail.set_env("NASVYAZI_NATS__REPLICAS", "many");
            let e = Config::load(Some(Path::new("nasvyazi.toml"))).unwrap_err();
            assert!(
                e.to_string().to_lowercase().contains("nats.replicas"),
                "{e}"
            );
            Ok(())
        });
    }
}
