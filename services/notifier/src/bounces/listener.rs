//! A small inbound SMTP server (RFC 5321) for the bounce domain only: it
//! accepts `RCPT TO` only for a valid VERP address (so it relays nothing
//! and sends no backscatter: anything else is refused at RCPT, before any
//! data), reads the report, applies it, and answers 250 only after the
//! database committed (451 otherwise, so the reporting server retries).
//! No AUTH, no relaying, no TLS: it sits behind the bounce domain's MX on a
//! trusted network, or is the MX of a subdomain that receives nothing else.

use std::sync::Arc;
use std::time::Duration;

use nasvyazi_shared::Config;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::verp;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{apply, parse};

/// Longest command line taken (RFC 5321: 512 octets; some slack).
const MAX_LINE: usize = 2048;
/// Recipients per message.
const MAX_RCPT: usize = 50;
/// Conversations at once; more get 421 and come back later.
const MAX_CONNECTIONS: usize = 64;
/// A silent client is dropped after this.
const IDLE: Duration = Duration::from_secs(60);

pub struct Listener {
    pub db: PgPool,
    pub keys: Arc<Keyring>,
    pub config: Arc<Config>,
}

impl Listener {
    /// Serves until `shutdown`; each connection on its own task.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                accepted = listener.accept() => {
                    let Ok((mut stream, _)) = accepted else { continue };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        // RFC 5321 §3.8: a busy server may refuse with 421.
                        let _ = stream.write_all(b"421 4.3.2 Too busy, try again later\r\n").await;
                        continue;
                    };
                    let me = self.clone();
                    let stop = shutdown.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            r = me.conversation(stream) => {
                                if let Err(e) = r {
                                    tracing::debug!(error = %e.kind(), "bounce listener: connection ended");
                                }
                            }
                        }
                    });
                }
            }
        }
    }

    async fn conversation(&self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write
            .write_all(b"220 nasvyazi bounce listener ESMTP\r\n")
            .await?;
        let mut rcpts: Vec<Uuid> = Vec::new();
        let mut mail = false;
        let max = self.config.bounces.max_message_bytes;
        loop {
            let Some(line) = read_line(&mut read).await? else {
                return Ok(());
            };
            let upper = line.to_ascii_uppercase();
            let verb = upper.split_whitespace().next().unwrap_or("");
            let reply: Vec<u8> = match verb {
                "EHLO" => {
                    format!("250-nasvyazi\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {max}\r\n")
                        .into_bytes()
                }
                "HELO" => b"250 nasvyazi\r\n".to_vec(),
                "MAIL" => {
                    mail = true;
                    rcpts.clear();
                    b"250 2.1.0 OK\r\n".to_vec()
                }
                "RCPT" if !mail => b"503 5.5.1 MAIL first\r\n".to_vec(),
                "RCPT" if rcpts.len() >= MAX_RCPT => b"452 4.5.3 Too many recipients\r\n".to_vec(),
                "RCPT" => match path(&line)
                    .and_then(|a| verp::parse(&self.keys, &self.config.email.return_path, &a))
                {
                    Some(id) => {
                        rcpts.push(id);
                        b"250 2.1.5 OK\r\n".to_vec()
                    }
                    None => b"550 5.1.1 No such mailbox\r\n".to_vec(),
                },
                "DATA" if rcpts.is_empty() => b"503 5.5.1 RCPT first\r\n".to_vec(),
                "DATA" => {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data = read_data(&mut read, max).await?;
                    let reply = match data {
                        None => b"552 5.3.4 Message too big\r\n".to_vec(),
                        Some(data) => self.deliver(&rcpts, &data).await,
                    };
                    mail = false;
                    rcpts.clear();
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
                    return Ok(());
                }
                _ => b"502 5.5.2 Command not recognised\r\n".to_vec(),
            };
            write.write_all(&reply).await?;
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
}

/// The address between `<` and `>` of `MAIL FROM:<...>` / `RCPT TO:<...>`.
fn path(line: &str) -> Option<String> {
    let start = line.find('<')?;
    let end = line[start..].find('>')? + start;
    Some(line[start + 1..end].to_string())
}

async fn read_line<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        IDLE,
        (&mut *r).take(MAX_LINE as u64).read_until(b'\n', &mut buf),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string()))
}

/// The message up to the lone `.`, dot-unstuffed; `None` if it was longer
/// than `max` (read to its end all the same, so the session stays in step).
async fn read_data<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut too_big = false;
    loop {
        let mut line = Vec::new();
        let n = tokio::time::timeout(IDLE, r.read_until(b'\n', &mut line))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(out));
        }
        let line = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        if out.len() + line.len() > max {
            too_big = true;
            out.clear();
        } else if !too_big {
            out.extend_from_slice(line);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths() {
        assert_eq!(
            super::path("RCPT TO:<a@b.kz> SIZE=1").as_deref(),
            Some("a@b.kz")
        );
        assert_eq!(super::path("MAIL FROM:<>").as_deref(), Some(""));
        assert_eq!(super::path("RCPT TO:a@b.kz"), None);
    }
}
