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
//!
//! And PIPELINING (RFC 2920), which lettre does not speak. Each of the
//! `pool_size` connections is owned by a task (a "lane") that takes
//! messages from one queue. When the server offers PIPELINING (asked with
//! one more EHLO per connection, before AUTH), a message's `MAIL FROM`,
//! `RCPT TO` and `DATA` go in one write, and once `DATA` is accepted its
//! dot-stuffed content, the final `.` and the *next* waiting message's
//! commands go in the next write (content may open a group, RFC 2920
//! 3.1): one round trip per message instead of four. Any refusal in a
//! group ends the connection as lettre's own `send` does, so a half-open
//! transaction never carries into the next message; a message whose
//! content was never written (its connection lost) is sent on a fresh one;
//! one whose sender stopped waiting is dropped, never sent late. Servers
//! without PIPELINING, and content that is not text, get lettre's `send`.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::channels::{Channel, Outgoing, SendError, Sent};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use nasvyazi_shared::config::EmailConfig;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, mpsc, oneshot};

use super::mime::{self, Dkim};

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
    /// Messages waiting for a connection.
    jobs: mpsc::UnboundedSender<Job>,
    lanes: Arc<Lanes>,
    /// How long a message may wait for its conversation to end.
    timeout: Duration,
    dkim: Option<Dkim>,
    global: DefaultDirectRateLimiter,
    per_domain: DefaultKeyedRateLimiter<String>,
}

/// How to open a connection.
struct Dialer {
    target: Target,
    hello: ClientId,
    /// Each step's deadline (connecting, one write and its replies).
    timeout: Duration,
}

/// The connection tasks ("lanes", at most `pool_size`) and the queue
/// they take messages from.
struct Lanes {
    dialer: Dialer,
    max: usize,
    live: AtomicUsize,
    /// Lanes waiting for a message.
    waiting: AtomicUsize,
    /// Messages in the queue.
    queued: AtomicUsize,
    queue: Mutex<mpsc::UnboundedReceiver<Job>>,
}

/// One message and where its outcome goes.
struct Job {
    built: mime::Built,
    outcome: oneshot::Sender<Result<Response, SendError>>,
}

/// A connection idle this long is checked with NOOP before use.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// A connection idle this long is closed (QUIT); the lane stays.
const IDLE_CLOSE: Duration = Duration::from_secs(30);

/// A pooled connection and whether its server offered PIPELINING.
struct Conn {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
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
        let timeout = Duration::from_secs(c.timeout_secs);
        let (jobs, queue) = mpsc::unbounded_channel();
        Ok(Smtp {
            jobs,
            lanes: Arc::new(Lanes {
                dialer: Dialer {
                    target,
                    hello: ClientId::default(),
                    timeout,
                },
                max: c.pool_size.max(1) as usize,
                live: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                queue: Mutex::new(queue),
            }),
            timeout,
            dkim,
            global: RateLimiter::direct(Quota::per_second(per_second)),
            per_domain: RateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }
}

impl Dialer {
    async fn connect(&self) -> Result<Conn, SendError> {
        let Ok(connected) = tokio::time::timeout(self.timeout, self.connect_inner()).await else {
            return Err(transient(format!(
                "connecting to the SMTP server timed out after {:?}",
                self.timeout
            )));
        };
        connected.map_err(|e| match e {
            ConnectError::Io(e) => {
                transient(format!("cannot connect to the SMTP server: {}", e.kind()))
            }
            ConnectError::Smtp(e) => classify(&e),
        })
    }

    async fn connect_inner(&self) -> Result<Conn, ConnectError> {
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
        // lettre keeps only the extensions it uses; ask once more (before
        // AUTH, on the encrypted channel if there is one) for PIPELINING.
        let ehlo = conn.command(Ehlo::new(self.hello.clone())).await?;
        let pipelining = offers_pipelining(&ehlo);
        if let Some(creds) = &t.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await?;
        }
        Ok(Conn {
            smtp: conn,
            pipelining,
        })
    }
}

/// Whether an EHLO reply offers PIPELINING.
fn offers_pipelining(ehlo: &Response) -> bool {
    ehlo.message().any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
    })
}

/// `MAIL FROM`, every `RCPT TO` and `DATA` as one write (RFC 2920).
struct Group {
    mail: Mail,
    rcpts: Vec<Rcpt>,
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.mail)?;
        for rcpt in &self.rcpts {
            write!(f, "{rcpt}")?;
        }
        f.write_str("DATA\r\n")
    }
}

/// A message's content, dot-stuffed (a line starting with `.` gets one
/// more, RFC 5321 4.5.2), and the final `.` line: one write.
struct Content<'a>(&'a str);

impl std::fmt::Display for Content<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, line) in self.0.split("\r\n").enumerate() {
            if i > 0 {
                f.write_str("\r\n")?;
            }
            if line.starts_with('.') {
                f.write_str(".")?;
            }
            f.write_str(line)?;
        }
        f.write_str("\r\n.\r\n")
    }
}

/// What one step of a conversation came to.
enum Step {
    Reply(Response),
    /// The server refused (a 4xx or 5xx reply): the connection still
    /// speaks SMTP.
    Refused(lettre::transport::smtp::Error),
    /// No reply (a fault or the deadline): the connection is lost.
    Lost(SendError),
}

async fn step(
    deadline: Duration,
    f: impl std::future::Future<Output = Result<Response, lettre::transport::smtp::Error>>,
) -> Step {
    match tokio::time::timeout(deadline, f).await {
        Ok(Ok(r)) => Step::Reply(r),
        Ok(Err(e)) if e.is_transient() || e.is_permanent() => Step::Refused(e),
        Ok(Err(e)) => Step::Lost(classify(&e)),
        Err(_) => Step::Lost(transient(format!(
            "SMTP conversation timed out after {deadline:?}"
        ))),
    }
}

/// Text written as it is.
struct Raw<'a>(&'a str);

impl std::fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Lanes {
    /// Starts a lane if more messages wait than lanes do and the pool has
    /// room (a burst opens as many connections as it needs at once).
    fn ensure(self: &Arc<Self>) {
        if self.queued.load(Ordering::SeqCst) <= self.waiting.load(Ordering::SeqCst) {
            return;
        }
        let live = self.live.load(Ordering::SeqCst);
        if live < self.max
            && self
                .live
                .compare_exchange(live, live + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            tokio::spawn(self.clone().run());
        }
    }

    /// The next message, `Ok(None)` after [`IDLE_CLOSE`] without one, `Err`
    /// when the channel is gone.
    async fn next(&self) -> Result<Option<Job>, ()> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let got = {
            let mut queue = self.queue.lock().await;
            tokio::time::timeout(IDLE_CLOSE, queue.recv()).await
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match got {
            Ok(Some(job)) => {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                Ok(Some(job))
            }
            Ok(None) => Err(()),
            Err(_) => Ok(None),
        }
    }

    /// A message already waiting, if any (never waits: another lane
    /// holding the queue means it is empty).
    fn waiting_job(&self) -> Option<Job> {
        let mut queue = self.queue.try_lock().ok()?;
        loop {
            let job = queue.try_recv().ok()?;
            self.queued.fetch_sub(1, Ordering::SeqCst);
            if !job.outcome.is_closed() {
                return Some(job);
            }
        }
    }

    /// One lane: a connection of its own, opened when a message comes,
    /// checked after a pause, closed after a long one.
    async fn run(self: Arc<Self>) {
        let mut conn: Option<(Conn, Instant)> = None;
        let mut carried: Option<Job> = None;
        loop {
            let job = match carried.take() {
                Some(job) => job,
                None => match self.next().await {
                    Ok(Some(job)) => job,
                    Ok(None) => {
                        if let Some((mut c, _)) = conn.take() {
                            let _ = step(self.dialer.timeout, c.smtp.quit()).await;
                        }
                        continue;
                    }
                    Err(()) => break,
                },
            };
            // Its sender gave up waiting: it must not go out later.
            if job.outcome.is_closed() {
                continue;
            }
            let mut c = match self.ready(conn.take()).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = job.outcome.send(Err(e));
                    continue;
                }
            };
            let (kept, carry) = self.converse(&mut c, job).await;
            carried = carry;
            if kept {
                conn = Some((c, Instant::now()));
            } else {
                // QUIT if it still listens, then close; never wait long.
                let _ = tokio::time::timeout(Duration::from_secs(1), c.smtp.abort()).await;
            }
        }
        if let Some((mut c, _)) = conn {
            let _ = step(self.dialer.timeout, c.smtp.quit()).await;
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
    }

    /// Sends `job` and, while the server pipelines and messages wait,
    /// the ones after it: each message's content and the next one's
    /// commands go in one write, so a message costs one round trip.
    /// Returns whether the connection is still good, and a message taken
    /// from the queue that was not sent (to send on a fresh start).
    async fn converse(&self, c: &mut Conn, mut job: Job) -> (bool, Option<Job>) {
        let deadline = self.dialer.timeout;
        let Some((commands, rcpts)) = group(c, &job.built) else {
            let outcome =
                match step(deadline, c.smtp.send(&job.built.envelope, &job.built.bytes)).await {
                    Step::Reply(r) => Ok(r),
                    Step::Refused(e) => Err(classify(&e)),
                    Step::Lost(e) => Err(e),
                };
            let kept = outcome.is_ok() && !c.smtp.has_broken();
            let _ = job.outcome.send(outcome);
            return (kept, None);
        };
        let first = step(deadline, c.smtp.command(Raw(&commands))).await;
        if let Err(e) = group_replies(c, Some(first), rcpts, deadline).await {
            let _ = job.outcome.send(Err(e));
            return (false, None);
        }
        loop {
            // DATA was accepted: the content, and the next message's
            // commands if one waits that can be pipelined.
            let mut next = self.waiting_job();
            let next_group = next.as_ref().and_then(|n| group(c, &n.built));
            if next_group.is_none()
                && let Some(n) = next.take()
            {
                // Not pipelinable: sent on its own, after this one.
                let kept = self.content(c, job, None).await;
                return (kept, Some(n));
            }
            if !self
                .content(c, job, next_group.as_ref().map(|g| g.0.as_str()))
                .await
            {
                // The next one's content was never written: it goes on a
                // fresh start.
                return (false, next);
            }
            let (Some(n), Some(g)) = (next, next_group) else {
                return (true, None);
            };
            if let Err(e) = group_replies(c, None, g.1, deadline).await {
                let _ = n.outcome.send(Err(e));
                return (false, None);
            }
            job = n;
        }
    }

    /// Writes `job`'s content (followed by the next message's commands,
    /// if given) in one write and reads the content's reply; whether the
    /// connection is still good (a lost one: `job` may or may not have
    /// arrived).
    async fn content(&self, c: &mut Conn, job: Job, then: Option<&str>) -> bool {
        let text = std::str::from_utf8(&job.built.bytes).expect("checked by group()");
        let mut wire = Content(text).to_string();
        wire.push_str(then.unwrap_or(""));
        let (outcome, kept) = match step(self.dialer.timeout, c.smtp.command(Raw(&wire))).await {
            Step::Reply(r) => (Ok(r), true),
            Step::Refused(e) => (Err(classify(&e)), true),
            Step::Lost(e) => (Err(e), false),
        };
        let _ = job.outcome.send(outcome);
        kept
    }

    /// The lane's connection, checked with NOOP after [`IDLE_CHECK`], or a
    /// new one.
    async fn ready(&self, conn: Option<(Conn, Instant)>) -> Result<Conn, SendError> {
        if let Some((mut c, used)) = conn {
            let alive = used.elapsed() < IDLE_CHECK
                || tokio::time::timeout(self.dialer.timeout, c.smtp.test_connected())
                    .await
                    .unwrap_or(false);
            if alive {
                return Ok(c);
            }
        }
        self.dialer.connect().await
    }
}

/// The pipelined commands of a message (`MAIL FROM`, every `RCPT TO`,
/// `DATA`) and how many recipients, or `None` to send it with lettre's
/// own round trips: the server does not pipeline, the content is not
/// text, or it lacks SMTPUTF8 / 8BITMIME where the message needs them
/// (lettre then refuses it as it always has).
fn group(c: &Conn, built: &mime::Built) -> Option<(String, usize)> {
    if !c.pipelining {
        return None;
    }
    let text = std::str::from_utf8(&built.bytes).ok()?;
    let envelope = &built.envelope;
    let info = c.smtp.server_info();
    let mut parameters = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.any(|a| !AsRef::<str>::as_ref(a).is_ascii()) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return None;
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !text.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return None;
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let group = Group {
        mail: Mail::new(envelope.from().cloned(), parameters),
        rcpts: envelope
            .to()
            .iter()
            .map(|a| Rcpt::new(a.clone(), Vec::new()))
            .collect(),
    };
    Some((group.to_string(), group.rcpts.len()))
}

/// Reads a group's replies (MAIL, each RCPT, DATA; the first already read
/// if given). All of them are read; the first refusal is the answer. Any
/// refusal gives the connection up, as lettre's own `send` does, so a
/// half-open transaction never carries into the next message.
async fn group_replies(
    c: &mut Conn,
    mut first: Option<Step>,
    rcpts: usize,
    deadline: Duration,
) -> Result<(), SendError> {
    let mut refused = None;
    for _ in 0..2 + rcpts {
        let reply = match first.take() {
            Some(s) => s,
            None => step(deadline, c.smtp.read_response()).await,
        };
        match reply {
            Step::Reply(_) => {}
            Step::Refused(e) => {
                refused.get_or_insert(e);
            }
            Step::Lost(e) => return Err(refused.map(|r| classify(&r)).unwrap_or(e)),
        }
    }
    match refused {
        // If DATA was accepted anyway, ending the connection (not a bare
        // `.`) is what keeps an empty message from going out.
        Some(e) => Err(classify(&e)),
        None => Ok(()),
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
        let (outcome, waiting) = oneshot::channel();
        self.lanes.queued.fetch_add(1, Ordering::SeqCst);
        self.jobs
            .send(Job { built, outcome })
            .map_err(|_| transient("the SMTP pool is closed".into()))?;
        self.lanes.ensure();
        let Ok(sent) = tokio::time::timeout(self.timeout, waiting).await else {
            // The server may still deliver it: a broadcast may then arrive
            // twice, which is the at-least-once bound we accept. (A
            // message still waiting for a connection is dropped, never
            // sent late.)
            return Err(transient(format!(
                "SMTP conversation timed out after {:?}",
                self.timeout
            )));
        };
        let response = sent.map_err(|_| transient("the SMTP connection task stopped".into()))??;
        let text: Vec<&str> = response.message().collect();
        Ok(Sent {
            provider_message_id: Some(msg.message_id.clone()),
            reply: scrub(&format!("{} {}", response.code(), text.join(" "))),
            uploaded: Vec::new(),
            poll_id: None,
        })
    }
}

/// Replaces every email address in a provider's reply (servers quote the
/// recipient: `550 5.1.1 <a@b.kz>: Recipient address rejected`) so the
/// reason can be stored and logged.
pub fn scrub(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|w| {
            if w.contains('@') {
                let trailing: String = w.chars().rev().take_while(|c| c.is_whitespace()).collect();
                format!("[address]{trailing}")
            } else {
                w.to_string()
            }
        })
        .collect::<String>()
        .chars()
        .take(500)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn scrub_removes_addresses() {
        let s = super::scrub("550 5.1.1 <Aigerim@Mail.kz>: Recipient address rejected");
        assert_eq!(s, "550 5.1.1 [address] Recipient address rejected");
        assert!(!s.to_lowercase().contains("aigerim"));
    }

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

    #[test]
    fn content_is_dot_stuffed_and_ended_in_one_piece() {
        let wire = Content(".hidden\r\nok\r\n..two\r\nmid.dot\r\n.").to_string();
        assert_eq!(wire, "..hidden\r\nok\r\n...two\r\nmid.dot\r\n..\r\n.\r\n");
    }

    #[test]
    fn pipelining_is_read_from_the_ehlo_reply() {
        let reply = |lines: &[&str]| {
            Response::new(
                lettre::transport::smtp::response::Code::new(
                    lettre::transport::smtp::response::Severity::PositiveCompletion,
                    lettre::transport::smtp::response::Category::MailSystem,
                    lettre::transport::smtp::response::Detail::Zero,
                ),
                lines.iter().map(|l| l.to_string()).collect(),
            )
        };
        assert!(offers_pipelining(&reply(&[
            "mx.example.kz",
            "SIZE 100",
            "pipelining"
        ])));
        assert!(!offers_pipelining(&reply(&[
            "mx.example.kz",
            "8BITMIME",
            "X-PIPELINING-NOT"
        ])));
    }
}
