//! The `smtp` email adapter: lettre's SMTP client (plain for loopback,
//! STARTTLS, implicit TLS; AUTH from the URL) over a small connection pool
//! of our own, global and per-domain rate limits, and the one
//! classification the worker needs: 4xx and connection faults are
//! transient, 5xx permanent (and suppress).
//!
//! Why our own pool instead of lettre's `AsyncSmtpTransport`: lettre writes
//! the message and its terminating `.` in two writes, and its transport
//! does not set TCP_NODELAY, so every message waits for the server's
//! delayed ACK (~40 ms): 25 messages per second per connection. Our pool
//! opens the TCP connection itself with TCP_NODELAY and hands it to
//! lettre's `AsyncSmtpConnection`.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use nasvyazi_shared::channel::{Channel, Outgoing, SendError, Sent};
use nasvyazi_shared::config::EmailConfig;
use secrecy::ExposeSecret;
use tokio::sync::{Mutex, Semaphore};

use super::mime::{self, Dkim};
use super::scrub;

/// How to reach the server, from `email.smtp_url`.
#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<Credentials>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    None,
    StartTlsRequired,
    StartTlsOpportunistic,
    Implicit,
}

fn parse_url(s: &str) -> anyhow::Result<Target> {
    let bad = || anyhow::anyhow!("email.smtp_url: not a usable SMTP URL");
    let url = url::Url::parse(s).map_err(|_| bad())?;
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_string());
    let tls = match (url.scheme(), tls_param.as_deref()) {
        ("smtp", None | Some("none")) => TlsMode::None,
        ("smtp", Some("required")) => TlsMode::StartTlsRequired,
        ("smtp", Some("opportunistic")) => TlsMode::StartTlsOpportunistic,
        ("smtps", _) => TlsMode::Implicit,
        _ => return Err(bad()),
    };
    let host = url
        .host_str()
        .ok_or_else(bad)?
        .trim_matches(['[', ']'])
        .to_string();
    let port = url
        .port()
        .unwrap_or(if tls == TlsMode::Implicit { 465 } else { 25 });
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = (!url.username().is_empty())
        .then(|| Credentials::new(decode(url.username()), decode(url.password().unwrap_or(""))));
    Ok(Target {
        host,
        port,
        tls,
        credentials,
    })
}

pub struct Smtp {
    target: Target,
    hello: ClientId,
    /// Idle connections (since when), reused last-in first-out.
    idle: Mutex<Vec<(Instant, AsyncSmtpConnection)>>,
    /// At most `pool_size` conversations at once.
    slots: Semaphore,
    /// The whole conversation's deadline.
    timeout: Duration,
    dkim: Option<Dkim>,
    global: DefaultDirectRateLimiter,
    per_domain: DefaultKeyedRateLimiter<String>,
}

enum ConnectError {
    Io(std::io::Error),
    Smtp(lettre::transport::smtp::Error),
}

impl From<lettre::transport::smtp::Error> for ConnectError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        ConnectError::Smtp(e)
    }
}

fn transient(reason: String) -> SendError {
    SendError::Transient {
        reason,
        retry_after: None,
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
        transient(reason)
    }
}

impl Smtp {
    pub fn new(c: &EmailConfig, dkim: Option<Dkim>) -> anyhow::Result<Self> {
        let target = parse_url(c.smtp_url.expose_secret())?;
        let per_second = NonZeroU32::new(c.max_per_second).unwrap_or(NonZeroU32::MIN);
        let per_minute = NonZeroU32::new(c.max_per_domain_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Smtp {
            target,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(c.pool_size.max(1) as usize),
            timeout: Duration::from_secs(c.timeout_secs),
            dkim,
            global: RateLimiter::direct(Quota::per_second(per_second)),
            per_domain: RateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        self.connect_inner().await.map_err(|e| match e {
            ConnectError::Io(e) => {
                transient(format!("cannot connect to the SMTP server: {}", e.kind()))
            }
            ConnectError::Smtp(e) => classify(&e),
        })
    }

    async fn connect_inner(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        let t = &self.target;
        let tls = || TlsParameters::new(t.host.clone());
        let mut conn = if t.tls == TlsMode::Implicit {
            AsyncSmtpConnection::connect_tokio1(
                (t.host.as_str(), t.port),
                Some(self.timeout),
                &self.hello,
                Some(tls()?),
                None,
            )
            .await?
        } else {
            let stream = tokio::time::timeout(
                self.timeout,
                tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
            )
            .await
            .map_err(|_| ConnectError::Io(std::io::ErrorKind::TimedOut.into()))?
            .map_err(ConnectError::Io)?;
            // The point of this pool: no delayed-ACK wait between writes.
            let _ = stream.set_nodelay(true);
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await?;
            match t.tls {
                TlsMode::StartTlsRequired => conn.starttls(tls()?, &self.hello).await?,
                TlsMode::StartTlsOpportunistic if conn.can_starttls() => {
                    conn.starttls(tls()?, &self.hello).await?
                }
                _ => {}
            }
            conn
        };
        if let Some(creds) = &t.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await?;
        }
        Ok(conn)
    }

    /// One conversation on a pooled (or new) connection. A message is never
    /// sent twice here: a pooled connection idle for a while is checked with
    /// NOOP before use, and a failure after that is reported, not retried
    /// (letters to officials are at-most-once; the worker decides).
    async fn send_raw(
        &self,
        message: &mime::Built,
    ) -> Result<lettre::transport::smtp::response::Response, SendError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| transient("pool closed".into()))?;
        let (envelope, bytes) = (&message.envelope, &message.bytes);
        let mut conn = None;
        while let Some((since, mut c)) = self.idle.lock().await.pop() {
            if since.elapsed() < Duration::from_secs(5) || c.test_connected().await {
                conn = Some(c);
                break;
            }
        }
        let mut conn = match conn {
            Some(c) => c,
            None => self.connect().await?,
        };
        match conn.send(envelope, bytes).await {
            Ok(response) => {
                self.idle.lock().await.push((Instant::now(), conn));
                Ok(response)
            }
            Err(e) => {
                if !conn.has_broken() {
                    // A refused message leaves the connection usable.
                    self.idle.lock().await.push((Instant::now(), conn));
                }
                Err(classify(&e))
            }
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
        let Ok(sent) = tokio::time::timeout(self.timeout, self.send_raw(&built)).await else {
            // The server may still deliver it: a broadcast may then arrive
            // twice, which is the at-least-once bound we accept.
            return Err(transient(format!(
                "SMTP conversation timed out after {:?}",
                self.timeout
            )));
        };
        let response = sent?;
        let text: Vec<&str> = response.message().collect();
        Ok(Sent {
            provider_message_id: Some(msg.message_id.clone()),
            reply: scrub(&format!("{} {}", response.code(), text.join(" "))),
            uploaded: Vec::new(),
            poll_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let t = parse_url("smtp://127.0.0.1:2525").unwrap();
        assert!(t.tls == TlsMode::None && t.port == 2525 && t.credentials.is_none());
        let t = parse_url("smtp://user%40x:p%40ss@mail.example.kz:587?tls=required").unwrap();
        assert!(t.tls == TlsMode::StartTlsRequired && t.port == 587 && t.credentials.is_some());
        let t = parse_url("smtps://mail.example.kz").unwrap();
        assert!(t.tls == TlsMode::Implicit && t.port == 465);
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("smtp://x?tls=maybe").is_err());
    }
}
