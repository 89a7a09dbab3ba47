//! The `smtp` email adapter: lettre's pooled async transport (plain for
//! loopback, STARTTLS, implicit TLS; AUTH from the URL), global and
//! per-domain rate limits, and the one classification the worker needs:
//! 4xx and connection faults are transient, 5xx permanent (and suppress).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use nasvyazi_shared::channel::{Channel, Outgoing, SendError, Sent};
use nasvyazi_shared::config::EmailConfig;
use secrecy::ExposeSecret;

use super::mime::{self, Dkim};
use super::scrub;

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The whole conversation's deadline: lettre's own timeout bounds the
    /// connect only, and a stalled server must not hold a worker forever.
    timeout: Duration,
    dkim: Option<Dkim>,
    global: DefaultDirectRateLimiter,
    per_domain: DefaultKeyedRateLimiter<String>,
}

impl Smtp {
    pub fn new(c: &EmailConfig, dkim: Option<Dkim>) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(c.smtp_url.expose_secret())
            .map_err(|_| anyhow::anyhow!("email.smtp_url: not a usable SMTP URL"))?
            .pool_config(PoolConfig::new().max_size(c.pool_size))
            .timeout(Some(Duration::from_secs(c.timeout_secs)))
            .build();
        let per_second = NonZeroU32::new(c.max_per_second).unwrap_or(NonZeroU32::MIN);
        let per_minute = NonZeroU32::new(c.max_per_domain_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Smtp {
            transport,
            timeout: Duration::from_secs(c.timeout_secs),
            dkim,
            global: RateLimiter::direct(Quota::per_second(per_second)),
            per_domain: RateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }
}

/// Classifies lettre's error; the reason is scrubbed of addresses.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let reason = scrub(&e.to_string());
    if e.is_permanent() {
        SendError::Permanent {
            reason,
            suppress: true,
        }
    } else {
        SendError::Transient {
            reason,
            retry_after: None,
        }
    }
}

#[async_trait::async_trait]
impl Channel for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError> {
        let Outgoing::Email(msg) = message else {
            return Err(SendError::Permanent {
                reason: "SMTP takes email only".into(),
                suppress: false,
            });
        };
        let built = mime::build(msg, self.dkim.as_ref())?;
        self.global.until_ready().await;
        self.per_domain
            .until_key_ready(&msg.to.domain().to_string())
            .await;
        let sent = tokio::time::timeout(self.timeout, self.transport.send(built)).await;
        let Ok(sent) = sent else {
            // The server may still deliver it: a broadcast may then arrive
            // twice, which is the at-least-once bound we accept.
            return Err(SendError::Transient {
                reason: format!("SMTP conversation timed out after {:?}", self.timeout),
                retry_after: None,
            });
        };
        match sent {
            Ok(response) => {
                let text: Vec<&str> = response.message().collect();
                Ok(Sent {
                    provider_message_id: Some(msg.message_id.clone()),
                    reply: scrub(&format!("{} {}", response.code(), text.join(" "))),
                })
            }
            Err(e) => Err(classify(&e)),
        }
    }
}
