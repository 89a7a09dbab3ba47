//! A small inbound SMTP server (RFC 5321) for the bounce domain only: it
//! accepts `RCPT TO` only for a valid VERP address (so it relays nothing
//! and sends no backscatter: anything else is refused at RCPT, before any
//! data), reads the report, applies it, and answers 250 only after the
//! database committed (451 otherwise, so the reporting server retries).
//! No AUTH, no relaying, no TLS: it sits behind the bounce domain's MX on a
//! trusted network, or is the MX of a subdomain that receives nothing else.
//!
//! Anyone who ever got a message from us holds a valid bounce address, so
//! every limit holds for a client with a valid token too: connections at
//! once and per address ([`admission`](super::admission)), a session
//! deadline, an idle timeout, a DATA deadline, a byte cap on DATA counted
//! on the wire, 1000-octet text lines (longer ones skipped, never held),
//! and a number of commands between two messages. Must never log what a
//! client sent (addresses, tokens, report text) nor its address: ids and
//! limit names only.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nasvyazi_shared::Config;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::verp;
use sqlx::PgPool;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::admission::Admission;
use super::lines::{self, Line};
use super::{apply, parse};

/// Longest command line taken (RFC 5321 §4.5.3.1.4: 512 octets; slack for
/// extensions' parameters). A longer one ends the conversation.
const COMMAND_LINE: usize = 2048;
/// Longest text line in DATA (RFC 5321 §4.5.3.1.6: 1000 octets with the
/// CRLF). A longer one is skipped as it arrives.
pub const TEXT_LINE: usize = 1000;
/// Recipients per message.
const MAX_RCPT: usize = 50;
/// How long past the session deadline a conversation may still be writing
/// its last reply or applying its last report before it is dropped.
const GRACE: Duration = Duration::from_secs(30);

pub struct Listener {
    db: PgPool,
    keys: Arc<Keyring>,
    config: Arc<Config>,
    /// The longest line and the largest message held in memory so far, for
    /// the `..._bytes_max` gauges (and the tests that read them).
    line_max: AtomicUsize,
    message_max: AtomicUsize,
}

/// Counts one limit hit (`nasvyazi_bounce_listener_limited_total{limit}`).
fn limited(limit: &'static str) {
    metrics::counter!("nasvyazi_bounce_listener_limited_total", "limit" => limit).increment(1);
}

/// The limit labels, so that each series exists from the start.
pub const LIMITS: &[&str] = &[
    "per_address",
    "busy",
    "session_deadline",
    "idle_timeout",
    "data_timeout",
    "message_too_big",
    "line_too_long",
    "command_too_long",
    "too_many_commands",
    "malformed_address",
];

/// What DATA gave.
enum Data {
    Message(Vec<u8>),
    TooBig,
    Closed,
}

/// How a conversation ends early: the last reply and the limit it names.
struct Close(&'static [u8], &'static str);

impl Listener {
    pub fn new(db: PgPool, keys: Arc<Keyring>, config: Arc<Config>) -> Self {
        Listener {
            db,
            keys,
            config,
            line_max: AtomicUsize::new(0),
            message_max: AtomicUsize::new(0),
        }
    }

    /// Serves until `shutdown`; each connection on its own task.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let c = &self.config.bounces;
        let admission = Admission::new(c.max_connections, c.max_connections_per_address);
        let session = Duration::from_secs(c.session_timeout_secs);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                accepted = listener.accept() => {
                    let (mut stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors, for instance: do not spin.
                            tracing::debug!(error = %e.kind(), "bounce listener: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let admitted = match admission.admit(peer.ip()) {
                        Ok(a) => a,
                        Err(refused) => {
                            limited(refused.label());
                            // Off the accept loop: a client that does not
                            // read must not stall it.
                            tokio::spawn(async move {
                                let _ = tokio::time::timeout(
                                    Duration::from_secs(2),
                                    stream.write_all(refused.reply()),
                                )
                                .await;
                            });
                            continue;
                        }
                    };
                    let me = self.clone();
                    let stop = shutdown.clone();
                    let hard_end = Instant::now() + session + GRACE;
                    tokio::spawn(async move {
                        let _admitted = admitted;
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            r = timeout_at(hard_end, me.conversation(stream)) => {
                                match r {
                                    Ok(Err(e)) => tracing::debug!(error = %e.kind(), "bounce listener: connection ended"),
                                    Err(_) => limited("session_deadline"),
                                    Ok(Ok(())) => {}
                                }
                            }
                        }
                    });
                }
            }
        }
    }

    async fn conversation(&self, stream: TcpStream) -> std::io::Result<()> {
        let c = &self.config.bounces;
        let session_end = Instant::now() + Duration::from_secs(c.session_timeout_secs);
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write
            .write_all(b"220 nasvyazi bounce listener ESMTP\r\n")
            .await?;
        match self.commands(&mut read, &mut write, session_end).await? {
            None => Ok(()),
            Some(Close(reply, limit)) => {
                limited(limit);
                write.write_all(reply).await?;
                write.shutdown().await
            }
        }
    }

    /// The command loop; `Some` when a limit ends the conversation.
    async fn commands<R: AsyncRead + Unpin>(
        &self,
        read: &mut BufReader<R>,
        write: &mut tokio::net::tcp::OwnedWriteHalf,
        session_end: Instant,
    ) -> std::io::Result<Option<Close>> {
        let c = &self.config.bounces;
        let idle = Duration::from_secs(c.idle_timeout_secs);
        let max = c.max_message_bytes;
        let mut line = Vec::with_capacity(COMMAND_LINE);
        let mut rcpts: Vec<Uuid> = Vec::new();
        let mut mail = false;
        // Commands since the last message, an accepted RCPT not counted.
        let mut spent: u32 = 0;
        loop {
            let deadline = (Instant::now() + idle).min(session_end);
            match lines::read(read, &mut line, COMMAND_LINE, COMMAND_LINE, deadline).await {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Ok(Some(timed_out(session_end, None)));
                }
                Err(e) => return Err(e),
                Ok(Line::Closed) => return Ok(None),
                Ok(Line::OverBudget | Line::Complete { kept: false, .. }) => {
                    return Ok(Some(Close(
                        b"500 5.5.2 Line too long\r\n",
                        "command_too_long",
                    )));
                }
                Ok(Line::Complete { .. }) => {}
            }
            self.held_line(line.len());
            spent += 1;
            if spent > c.max_commands_per_message {
                return Ok(Some(Close(
                    b"421 4.7.0 Too many commands without a message, closing\r\n",
                    "too_many_commands",
                )));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            let upper = text.to_ascii_uppercase();
            let verb = upper.split_whitespace().next().unwrap_or("");
            let reply: Vec<u8> = match verb {
                "EHLO" => {
                    format!("250-nasvyazi\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {max}\r\n")
                        .into_bytes()
                }
                "HELO" => b"250 nasvyazi\r\n".to_vec(),
                // RFC 1870: a declared size past the cap is refused up front.
                "MAIL" if size_param(&upper).is_some_and(|n| n > max as u64) => {
                    b"552 5.3.4 Message size exceeds fixed maximum message size\r\n".to_vec()
                }
                "MAIL" => {
                    mail = true;
                    rcpts.clear();
                    b"250 2.1.0 OK\r\n".to_vec()
                }
                "RCPT" if !mail => b"503 5.5.1 MAIL first\r\n".to_vec(),
                "RCPT" if rcpts.len() >= MAX_RCPT => b"452 4.5.3 Too many recipients\r\n".to_vec(),
                "RCPT" => match path(text)
                    .map(|a| verp::parse(&self.keys, &self.config.email.return_path, a))
                {
                    None => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_vec(),
                    Some(Ok(id)) => {
                        rcpts.push(id);
                        spent -= 1;
                        b"250 2.1.5 OK\r\n".to_vec()
                    }
                    Some(Err(verp::NotOurs::Malformed)) => {
                        limited("malformed_address");
                        b"553 5.1.3 Not a bounce address of ours\r\n".to_vec()
                    }
                    Some(Err(verp::NotOurs::Forged)) => b"550 5.1.1 No such mailbox\r\n".to_vec(),
                },
                "DATA" if rcpts.is_empty() => b"503 5.5.1 RCPT first\r\n".to_vec(),
                "DATA" => {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data_end = (Instant::now() + Duration::from_secs(c.data_timeout_secs))
                        .min(session_end);
                    let data = match self.read_data(read, max, idle, data_end).await {
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            return Ok(Some(timed_out(session_end, Some(data_end))));
                        }
                        other => other?,
                    };
                    let reply = match data {
                        Data::Closed => return Ok(None),
                        Data::TooBig => {
                            // The rest is never read: a client that ignored
                            // SIZE does not get to stream on.
                            return Ok(Some(Close(
                                b"552 5.3.4 Message too big, closing\r\n",
                                "message_too_big",
                            )));
                        }
                        Data::Message(data) => self.deliver(&rcpts, &data).await,
                    };
                    mail = false;
                    rcpts.clear();
                    spent = 0;
                    reply
                }
                "RSET" => {
                    mail = false;
                    rcpts.clear();
                    b"250 2.0.0 OK\r\n".to_vec()
                }
                "NOOP" => b"250 2.0.0 OK\r\n".to_vec(),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(None);
                }
                _ => b"502 5.5.2 Command not recognised\r\n".to_vec(),
            };
            write.write_all(&reply).await?;
        }
    }

    /// The message up to the lone `.`, dot-unstuffed. At most `max` bytes
    /// on the wire (plus the final `.`), over-long lines counted and
    /// skipped; past that [`Data::TooBig`] and nothing more is read.
    async fn read_data<R: AsyncRead + Unpin>(
        &self,
        r: &mut BufReader<R>,
        max: usize,
        idle: Duration,
        data_end: Instant,
    ) -> std::io::Result<Data> {
        let mut out = Vec::new();
        let mut line = Vec::with_capacity(TEXT_LINE);
        let mut wire = 0usize;
        // The final ".\r\n" does not count against the message.
        let budget = max + 3;
        loop {
            let deadline = (Instant::now() + idle).min(data_end);
            let got = lines::read(r, &mut line, TEXT_LINE, budget - wire, deadline).await?;
            let n = match got {
                Line::Closed => return Ok(Data::Closed),
                Line::OverBudget => return Ok(Data::TooBig),
                Line::Complete {
                    wire: n,
                    kept: false,
                } => {
                    limited("line_too_long");
                    wire += n;
                    continue;
                }
                Line::Complete {
                    wire: n,
                    kept: true,
                } => n,
            };
            wire += n;
            self.held_line(line.len());
            if line == b".\r\n" || line == b".\n" {
                self.held_message(out.len());
                return Ok(Data::Message(out));
            }
            if wire > max {
                return Ok(Data::TooBig);
            }
            let unstuffed = if line.starts_with(b"..") {
                &line[1..]
            } else {
                &line[..]
            };
            out.extend_from_slice(unstuffed);
        }
    }

    /// Applies one report for each delivery it was addressed to.
    async fn deliver(&self, rcpts: &[Uuid], data: &[u8]) -> Vec<u8> {
        let report = parse::parse(data);
        for id in rcpts {
            if let Err(e) = apply::apply(&self.db, &self.config.bounces, *id, &report).await {
                tracing::warn!(delivery_id = %id, error = %e, "bounce report not applied; the sender will retry");
                return b"451 4.3.0 Try again later\r\n".to_vec();
            }
        }
        if report.kind().is_none() {
            metrics::counter!("nasvyazi_bounces_total", "kind" => "ignored", "delivery_kind" => "unknown", "outcome" => "ignored").increment(1);
        }
        b"250 2.0.0 OK\r\n".to_vec()
    }

    fn held_line(&self, n: usize) {
        if n > self.line_max.fetch_max(n, Ordering::Relaxed) {
            metrics::gauge!("nasvyazi_bounce_listener_line_bytes_max")
                .set(self.line_max.load(Ordering::Relaxed) as f64);
        }
    }

    fn held_message(&self, n: usize) {
        if n > self.message_max.fetch_max(n, Ordering::Relaxed) {
            metrics::gauge!("nasvyazi_bounce_listener_message_bytes_max")
                .set(self.message_max.load(Ordering::Relaxed) as f64);
        }
    }
}

/// The last words when a wait ran out: the session deadline, the DATA
/// deadline (`data_end`, inside DATA), or a silent client.
fn timed_out(session_end: Instant, data_end: Option<Instant>) -> Close {
    let now = Instant::now();
    if now >= session_end {
        return Close(
            b"421 4.4.2 Session too long, closing\r\n",
            "session_deadline",
        );
    }
    match data_end {
        Some(end) if now >= end => {
            Close(b"451 4.4.2 DATA took too long, closing\r\n", "data_timeout")
        }
        Some(_) => Close(b"451 4.4.2 Idle in DATA, closing\r\n", "idle_timeout"),
        None => Close(b"421 4.4.2 Idle too long, closing\r\n", "idle_timeout"),
    }
}

/// The address between `<` and `>` of `MAIL FROM:<...>` / `RCPT TO:<...>`.
fn path(line: &str) -> Option<&str> {
    let start = line.find('<')?;
    let end = line[start..].find('>')? + start;
    Some(&line[start + 1..end])
}

/// The `SIZE=` parameter of an upper-cased `MAIL FROM:<...> SIZE=n`.
fn size_param(upper: &str) -> Option<u64> {
    let after = &upper[upper.find('>')? + 1..];
    after
        .split_whitespace()
        .find_map(|p| p.strip_prefix("SIZE="))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths() {
        assert_eq!(super::path("RCPT TO:<a@b.kz> SIZE=1"), Some("a@b.kz"));
        assert_eq!(super::path("MAIL FROM:<>"), Some(""));
        assert_eq!(super::path("RCPT TO:a@b.kz"), None);
        assert_eq!(super::path("RCPT TO:<жж>"), Some("жж"));
    }

    #[test]
    fn size_parameters() {
        assert_eq!(super::size_param("MAIL FROM:<> SIZE=1234"), Some(1234));
        assert_eq!(
            super::size_param("MAIL FROM:<> BODY=8BITMIME SIZE=9"),
            Some(9)
        );
        assert_eq!(super::size_param("MAIL FROM:<SIZE=1@X>"), None);
        assert_eq!(super::size_param("MAIL FROM:<> SIZE=x"), None);
    }
}
