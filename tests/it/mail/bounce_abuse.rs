//! The bounce listener under attack (issue 24, items 12-14). Anyone we
//! ever wrote to holds a valid bounce address, so each attack here uses
//! one: an endless line in DATA, connections held open with NOOP from one
//! address while a second address (127.0.0.2) brings a real DSN, a
//! session kept busy past its deadline, and hostile `RCPT TO` local parts
//! (non-ASCII across the token's byte 32, upper case, too long). Real TCP
//! from the test's own sockets (lettre for the real reports); what the
//! server held is read from its `/metrics`, never from the clock.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{NewContact, TestApp, spawn_app_with};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use uuid::Uuid;

use super::bounces::{delivery_status, dsn, free_port};
use super::email_config;

/// The app with the bounce listener on `127.0.0.1:port` and `bounces`
/// settings from `extra` (the defaults otherwise).
async fn app(smtp: &SmtpServer, port: u16, extra: &str) -> TestApp {
    spawn_app_with(&email_config(
        smtp,
        &format!("[bounces]\nlisten = \"127.0.0.1:{port}\"\n{extra}"),
    ))
    .await
}

/// A campaign delivery marked sent to a new contact, and its bounce
/// address (what the contact's mail server saw as the Return-Path).
async fn delivery(app: &TestApp, keys: &Keyring, address: &str) -> (Uuid, String) {
    let contact = app.insert_contact(NewContact::email(address)).await;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, status) VALUES ($1, 'campaign', $2, $3, 'email', 'sent')",
    )
    .bind(id)
    .bind(Uuid::now_v7())
    .bind(contact)
    .execute(&app.infra.db)
    .await
    .unwrap();
    let verp =
        nasvyazi_shared::email::verp::address(keys, &app.config.email.return_path, id).unwrap();
    (id, verp)
}

/// A TCP connection to the listener from `source` (any 127/8 address is
/// on loopback).
async fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

/// A hand-driven SMTP client: says exactly what a test wants, reads the
/// replies.
struct Raw {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Raw {
    async fn connect(source: &str, port: u16) -> (Raw, Option<String>) {
        let (r, w) = connect_from(source, port).await.into_split();
        let mut raw = Raw {
            r: BufReader::new(r),
            w,
        };
        let greeting = raw.reply().await;
        (raw, greeting)
    }

    async fn reply(&mut self) -> Option<String> {
        reply_from(&mut self.r).await
    }

    async fn cmd(&mut self, line: &str) -> Option<String> {
        if self
            .w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .is_err()
        {
            return None;
        }
        self.reply().await
    }

    /// `cmd`, expecting a reply starting with `code`.
    async fn expect(&mut self, line: &str, code: &str) {
        let got = self.cmd(line).await;
        assert!(
            got.as_deref().is_some_and(|r| r.starts_with(code)),
            "{code} expected, got {got:?}"
        );
    }
}

/// One reply (all lines of a multi-line one), or `None` once the server
/// closed the connection. A hang fails the test.
async fn reply_from(r: &mut BufReader<OwnedReadHalf>) -> Option<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(60), r.read_line(&mut line))
            .await
            .expect("the server answers or closes");
        match n {
            Ok(0) | Err(_) => return (!all.is_empty()).then_some(all),
            Ok(_) => {}
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Some(all);
        }
    }
}

/// Writes `line` every 100 ms until the connection breaks.
fn trickle(mut w: OwnedWriteHalf, line: &'static [u8]) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(line).await.is_err() {
                return;
            }
        }
    })
}

/// One sample of `/metrics` (the process-wide registry; nextest runs each
/// test in its own process).
async fn metric(app: &TestApp, series: &str) -> f64 {
    let body = app
        .http
        .get(format!("http://{}/metrics", app.notifier))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// The test process's resident memory now, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn limited(limit: &str) -> String {
    format!("nasvyazi_bounce_listener_limited_total{{limit=\"{limit}\"}}")
}

/// Item 12: 64 MiB with no newline after DATA, from a client holding a
/// valid bounce address. Before, every byte was buffered until a newline
/// that never came; now the server holds at most one 1000-octet line,
/// stops reading at `bounces.max_message_bytes`, answers 552 and closes.
#[tokio::test]
async fn an_endless_line_in_data_is_cut_off_without_being_held() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, "").await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let (id, verp) = delivery(&app, &keys, "victim@example.kz").await;
    let max = app.config.bounces.max_message_bytes;
    assert_eq!(max, 1 << 20, "the default cap");

    let (mut c, greeting) = Raw::connect("127.0.0.1", port).await;
    assert!(greeting.unwrap().starts_with("220"));
    c.expect("EHLO attacker.example", "250").await;
    c.expect("MAIL FROM:<>", "250").await;
    c.expect(&format!("RCPT TO:<{verp}>"), "250").await;
    c.expect("DATA", "354").await;
    const TOTAL: usize = 64 << 20;
    // The figure for the closing note (printed, never asserted on time or
    // size of the process): how much the process grew while it was fed.
    let rss_before = rss_kib();
    let sampling = tokio::spawn(async {
        let mut peak = 0;
        for _ in 0..200 {
            peak = peak.max(rss_kib());
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        peak
    });
    let Raw { mut r, mut w } = c;
    let writer = tokio::spawn(async move {
        let chunk = vec![b'a'; 64 << 10];
        let mut sent = 0;
        while sent < TOTAL {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    // The reply may be lost to the reset that closing on unread data
    // causes; the close itself is not.
    let reply = reply_from(&mut r).await;
    let sent = writer.await.unwrap();
    let rss_peak = sampling.await.unwrap();
    eprintln!(
        "endless line: {} MiB sent with no newline, resident memory grew {} KiB",
        sent >> 20,
        rss_peak.saturating_sub(rss_before)
    );
    assert!(
        sent < TOTAL,
        "the server closed the connection before the client was done ({sent} bytes sent)"
    );
    if let Some(reply) = &reply {
        assert!(reply.starts_with("552 "), "{reply}");
    }
    assert_eq!(reply_from(&mut r).await, None, "and closed");
    assert!(metric(&app, "nasvyazi_bounce_listener_line_bytes_max").await <= 1000.0);
    assert_eq!(metric(&app, &limited("message_too_big")).await, 1.0);
    assert_eq!(
        metric(&app, "nasvyazi_bounce_listener_message_bytes_max").await,
        0.0,
        "no message was kept"
    );
    assert_eq!(delivery_status(&app, id).await, "sent", "nothing applied");

    // A report with an over-long line (5000 octets in its text part) is
    // taken with that line skipped, never held: the report still applies.
    let (mut c, _) = Raw::connect("127.0.0.1", port).await;
    c.expect("EHLO mx.example.kz", "250").await;
    c.expect("MAIL FROM:<> SIZE=9999999", "552").await;
    c.expect("MAIL FROM:<>", "250").await;
    c.expect(&format!("RCPT TO:<{verp}>"), "250").await;
    c.expect("DATA", "354").await;
    let report = String::from_utf8(dsn(&verp, "victim@example.kz", "5.1.1"))
        .unwrap()
        .replace(
            "I'm sorry",
            &format!("{}\r\nI'm sorry", "long ".repeat(1000)),
        );
    // A line of exactly 1000 octets (CRLF included) is kept.
    let report = report.replace(
        "Subject: x\r\n",
        &format!("Subject: x\r\nX-Exactly: {}\r\n", "y".repeat(1000 - 13)),
    );
    c.w.write_all(report.as_bytes()).await.unwrap();
    c.expect(".", "250").await;
    c.expect("QUIT", "221").await;
    assert_eq!(delivery_status(&app, id).await, "bounced");
    assert_eq!(metric(&app, &limited("line_too_long")).await, 1.0);
    assert_eq!(
        metric(&app, "nasvyazi_bounce_listener_line_bytes_max").await,
        1000.0,
        "the longest line held is the 1000-octet one"
    );
    let held = metric(&app, "nasvyazi_bounce_listener_message_bytes_max").await;
    assert!(
        held > 0.0 && held < report.len() as f64 - 4000.0,
        "the message was held without its long line: {held}"
    );
    assert_eq!(metric(&app, "nasvyazi_panics_total").await, 0.0);
    app.stop().await;
}

/// Item 12, in time: DATA trickled a line at a time ends at
/// `bounces.data_timeout_secs` with 451, however lively the client.
#[tokio::test]
async fn data_trickled_past_its_deadline_is_cut_off() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, "data_timeout_secs = 1\n").await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let (id, verp) = delivery(&app, &keys, "slow@example.kz").await;
    let (mut c, _) = Raw::connect("127.0.0.1", port).await;
    c.expect("EHLO slow.example", "250").await;
    c.expect("MAIL FROM:<>", "250").await;
    c.expect(&format!("RCPT TO:<{verp}>"), "250").await;
    c.expect("DATA", "354").await;
    let Raw { mut r, w } = c;
    let writer = trickle(w, b"X-Slow: x\r\n");
    let reply = reply_from(&mut r).await;
    writer.abort();
    let reply = reply.expect("the server answers before it closes");
    assert!(reply.starts_with("451 4.4.2 DATA took too long"), "{reply}");
    assert_eq!(reply_from(&mut r).await, None, "and closed");
    assert_eq!(metric(&app, &limited("data_timeout")).await, 1.0);
    assert_eq!(delivery_status(&app, id).await, "sent");
    app.stop().await;
}

/// Item 13: one address opens as many connections as it can and keeps
/// them alive with NOOP; a real DSN from a second address still gets 250.
/// Before, the first 64 connections from anyone held every slot and the
/// DSN got 421 for as long as they liked.
#[tokio::test]
async fn connections_held_by_one_address_do_not_keep_out_a_real_bounce() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, "").await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let c = &app.config.bounces;
    let (per_address, total, commands) = (
        c.max_connections_per_address,
        c.max_connections,
        c.max_commands_per_message as usize,
    );
    assert_eq!((per_address, total, commands), (8, 64, 20), "the defaults");
    let (id, verp) = delivery(&app, &keys, "real@example.kz").await;
    // The attacker also holds a valid bounce address of its own.
    let (_, own) = delivery(&app, &keys, "attacker@example.kz").await;

    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..total + 6 {
        let (mut conn, greeting) = Raw::connect("127.0.0.1", port).await;
        let greeting = greeting.unwrap_or_default();
        if greeting.starts_with("220") {
            conn.expect("EHLO attacker.example", "250").await;
            conn.expect("MAIL FROM:<>", "250").await;
            conn.expect(&format!("RCPT TO:<{own}>"), "250").await;
            held.push(conn);
        } else {
            assert!(
                greeting.starts_with("421 4.7.0 Too many connections from your address"),
                "{greeting}"
            );
            assert_eq!(conn.reply().await, None, "and closed");
            refused += 1;
        }
    }
    assert_eq!(held.len(), per_address, "one address holds only its share");
    assert_eq!(refused, total + 6 - per_address);
    // Kept alive: every held connection still answers.
    for conn in &mut held {
        conn.expect("NOOP", "250").await;
        conn.expect("NOOP", "250").await;
    }
    assert_eq!(
        metric(&app, "nasvyazi_bounce_listener_connections").await,
        per_address as f64
    );

    // The real report from a second address, by a real SMTP client.
    let asked = std::time::Instant::now();
    let stream = connect_from("127.0.0.2", port).await;
    stream.set_nodelay(true).unwrap();
    let mut mx = AsyncSmtpConnection::connect_with_transport(
        Box::new(stream),
        &ClientId::Domain("mx.example.kz".into()),
    )
    .await
    .expect("220 for the second address");
    let envelope = Envelope::new(None, vec![verp.parse().unwrap()]).unwrap();
    let r = mx
        .send(&envelope, &dsn(&verp, "real@example.kz", "5.1.1"))
        .await
        .expect("250 for the real DSN");
    assert!(r.is_positive());
    eprintln!(
        "second address, with {} connections held by the first: {r:?} after {:?}",
        held.len(),
        asked.elapsed()
    );
    mx.quit().await.unwrap();
    assert_eq!(delivery_status(&app, id).await, "bounced");

    // NOOP does not keep a connection forever: past
    // max_commands_per_message commands without a message, 421 and close.
    // (EHLO, MAIL, two NOOPs so far; the accepted RCPT is not counted.)
    let conn = &mut held[0];
    for _ in 4..commands {
        conn.expect("NOOP", "250").await;
    }
    conn.expect("NOOP", "421 4.7.0").await;
    assert_eq!(conn.reply().await, None, "and closed");
    assert_eq!(metric(&app, &limited("per_address")).await, refused as f64);
    assert_eq!(metric(&app, &limited("too_many_commands")).await, 1.0);
    assert_eq!(metric(&app, &limited("busy")).await, 0.0);
    app.stop().await;
}

/// Item 13, in time: a conversation kept busy (NOOP well under the
/// command limit) ends at `bounces.session_timeout_secs`; a silent one at
/// `bounces.idle_timeout_secs`.
#[tokio::test]
async fn a_session_ends_at_its_deadline_however_busy() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(
        &smtp,
        port,
        "session_timeout_secs = 2\nidle_timeout_secs = 1\nmax_commands_per_message = 100000\n",
    )
    .await;
    let (mut busy, _) = Raw::connect("127.0.0.1", port).await;
    let (mut silent, _) = Raw::connect("127.0.0.1", port).await;
    let mut last = None;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = busy.cmd("NOOP").await;
        if !last.as_deref().is_some_and(|r| r.starts_with("250")) {
            break;
        }
    }
    let last = last.expect("the server answers before it closes");
    assert!(last.starts_with("421 4.4.2 Session too long"), "{last}");
    assert_eq!(busy.reply().await, None, "and closed");
    let said = silent.reply().await.expect("an answer before closing");
    assert!(said.starts_with("421 4.4.2 Idle too long"), "{said}");
    assert_eq!(silent.reply().await, None, "and closed");
    assert_eq!(metric(&app, &limited("session_deadline")).await, 1.0);
    assert_eq!(metric(&app, &limited("idle_timeout")).await, 1.0);
    app.stop().await;
}

/// Item 14: hostile local parts in `RCPT TO`. A token with a two-byte
/// character across its byte 32 used to panic the connection task (and
/// the panic hook logged the string); an upper-cased token used to be
/// accepted. Now each gets 553, the conversation goes on, and no log line
/// holds what the attacker sent.
#[tokio::test]
async fn a_hostile_bounce_address_is_refused_and_nothing_panics_or_is_logged() {
    let smtp = SmtpServer::start().await;
    let port = free_port();
    let app = app(&smtp, port, "").await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let (id, verp) = delivery(&app, &keys, "target@example.kz").await;
    let domain = "@bounces.forum.example.kz";
    let token = verp
        .strip_prefix("bounce+")
        .unwrap()
        .strip_suffix(domain)
        .unwrap();
    // 48 bytes: byte 32 falls inside the second byte of "Ж".
    let straddling = format!("attacker-canary-{}xЖ-canary-9999999", "Ж".repeat(7));
    assert_eq!(straddling.len(), 48);
    assert!(!straddling.is_char_boundary(32));
    let hostile = [
        format!("bounce+{straddling}{domain}"),
        format!("bounce+{}{domain}", token.to_uppercase()),
        format!("bounce+{token}{}{domain}", "0deadbeef".repeat(60)),
        format!("bounce+{}{domain}", "é".repeat(24)),
    ];

    let (mut c, _) = Raw::connect("127.0.0.1", port).await;
    c.expect("EHLO attacker.example", "250").await;
    c.expect("MAIL FROM:<>", "250").await;
    for address in &hostile {
        c.expect(&format!("RCPT TO:<{address}>"), "553 5.1.3").await;
        c.expect("NOOP", "250").await;
    }
    // The same connection still carries a real report.
    c.expect(&format!("RCPT TO:<{verp}>"), "250").await;
    c.expect("DATA", "354").await;
    c.w.write_all(&dsn(&verp, "target@example.kz", "5.1.1"))
        .await
        .unwrap();
    c.expect(".", "250").await;
    c.expect("QUIT", "221").await;
    assert_eq!(delivery_status(&app, id).await, "bounced");

    // A command line past 2048 octets is refused and ends the conversation.
    let (mut c, _) = Raw::connect("127.0.0.1", port).await;
    c.expect("EHLO attacker.example", "250").await;
    c.expect("MAIL FROM:<>", "250").await;
    let endless = format!("bounce+{}{domain}", "ЖcanaryЖ".repeat(400));
    c.expect(&format!("RCPT TO:<{endless}>"), "500 5.5.2").await;
    assert_eq!(c.reply().await, None, "and closed");

    assert_eq!(metric(&app, "nasvyazi_panics_total").await, 0.0);
    assert_eq!(
        metric(&app, &limited("malformed_address")).await,
        hostile.len() as f64
    );
    assert_eq!(metric(&app, &limited("command_too_long")).await, 1.0);
    let logs = nasvyazi_tests::logs::captured();
    assert!(logs.contains("bounce report applied"), "the capture works");
    for needle in [
        "canary",
        straddling.as_str(),
        &token.to_uppercase(),
        "0deadbeef",
        "ééé",
        token,
    ] {
        assert!(!logs.contains(needle), "{needle:?} reached the log");
    }
    app.stop().await;
}
