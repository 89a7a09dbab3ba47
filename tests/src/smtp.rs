//! A real SMTP server for tests: plain ESMTP over TCP on `127.0.0.1`, on a
//! port of its own, speaking enough of the protocol for `lettre`'s client
//! (`smtp://127.0.0.1:PORT`, `Tls::None`) and for Postfix-style clients.
//! It records every message it accepts, with its envelope, so tests can
//! look at what the notifier really sent, and it can be told to fail on
//! purpose (temporary and permanent rejections, stalls, dropped
//! connections, refused recipients) to prove retries and error handling.
//!
//! What it must never do: relay or deliver anything anywhere, listen on
//! anything but loopback, speak TLS, outlive the `SmtpServer` that started
//! it, panic on whatever a client sends, or log envelopes, credentials or
//! message contents (tests plant canaries in them and search the logs).
//! It is test support only: nothing in production may depend on it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use mail_parser::{Address, HeaderValue, MessageParser, PartType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The longest command line accepted, CRLF included (RFC 5321 allows 512
/// for commands; 1000 is the text-line limit and is more forgiving).
pub const MAX_LINE: usize = 1000;

/// The largest message accepted (after dot-unstuffing); bigger ones are
/// answered with 552 and not recorded. Advertised with `SIZE`.
pub const MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// The most recipients one transaction may have (RFC 5321's minimum).
const MAX_RECIPIENTS: usize = 100;

/// The name the server gives itself in its greeting and EHLO reply.
const HOSTNAME: &str = "nasvyazi-test-smtp";

/// How the server answers the end of DATA; set with
/// [`SmtpServer::set_behaviour`] at any time, it applies from the next
/// message on (on every connection).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Accept and record every message with `250` (the default).
    #[default]
    Accept,
    /// Answer the end of DATA with `code` (e.g. 451) for the next `times`
    /// messages, then go back to [`Behaviour::Accept`].
    TempFail { code: u16, times: usize },
    /// Answer the end of DATA with `code` (e.g. 550) for every message.
    PermFail { code: u16 },
    /// Wait this long before accepting at the end of DATA. The message is
    /// recorded when the wait ends even if the client has gone away, as a
    /// real server would already have queued it.
    Stall(Duration),
    /// Close the TCP connection instead of answering the end of DATA, for
    /// the next `times` messages, then go back to [`Behaviour::Accept`].
    Drop { times: usize },
}

/// One message the server accepted (answered `250` at the end of DATA).
#[derive(Clone)]
pub struct Received {
    /// The reverse path of `MAIL FROM` (empty for the null sender `<>`).
    pub mail_from: String,
    /// The accepted `RCPT TO` addresses, in order.
    pub rcpt_to: Vec<String>,
    /// The raw RFC 5322 message, dot-unstuffed, line endings as sent.
    pub data: Vec<u8>,
    /// The id of the TCP connection it came on (1 for the first accepted
    /// connection, and so on), to tell pooled connections apart.
    pub connection: u64,
    /// The user name given with `AUTH` on that connection, if any.
    pub auth_user: Option<String>,
    /// The argument of the last `EHLO`/`HELO` on that connection.
    pub helo: String,
    /// When it was recorded (just before the `250` went out): spacing
    /// between messages is measured on these.
    pub received_at: std::time::Instant,
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("mail_from", &self.mail_from)
            .field("rcpt_to", &self.rcpt_to)
            .field("connection", &self.connection)
            .field("auth_user", &self.auth_user)
            .field("helo", &self.helo)
            .field("data", &String::from_utf8_lossy(&self.data))
            .finish()
    }
}

impl Received {
    /// The message parsed by `mail-parser` (headers not known to it are
    /// decoded as unstructured text). Panics if it cannot be parsed at all.
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::new()
            .default_header_text()
            .parse(&self.data)
            .unwrap_or_else(|| panic!("SMTP test server: cannot parse the message: {self:?}"))
    }

    /// The first header called `name` (case-insensitive), decoded: text as
    /// text (RFC 2047 words decoded), address lists as `Name <a@b>, c@d`,
    /// dates in RFC 822 form, anything else as its unfolded raw value.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = self.parsed();
        let value = message.header(name)?;
        Some(match value {
            HeaderValue::Text(text) => text.to_string(),
            HeaderValue::TextList(list) => list.join(", "),
            HeaderValue::Address(address) => format_address(address),
            HeaderValue::DateTime(date) => date.to_rfc822(),
            _ => unfold(message.header_raw(name).unwrap_or_default()),
        })
    }

    /// Every value of the headers called `name`, raw (unfolded, trimmed,
    /// not decoded), in order.
    pub fn header_values_raw(&self, name: &str) -> Vec<String> {
        self.parsed()
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| unfold(v))
            .collect()
    }

    /// The first genuine `text/plain` body, decoded (never one made up
    /// from the HTML part).
    pub fn text_body(&self) -> Option<String> {
        let message = self.parsed();
        message.text_bodies().find_map(|part| match &part.body {
            PartType::Text(text) => Some(text.to_string()),
            _ => None,
        })
    }

    /// The first genuine `text/html` body, decoded (never one made up from
    /// the text part).
    pub fn html_body(&self) -> Option<String> {
        let message = self.parsed();
        message.html_bodies().find_map(|part| match &part.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        })
    }

    /// The raw message as text (lossy), for `contains` checks.
    pub fn data_str(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

fn format_address(address: &Address<'_>) -> String {
    let one = |addr: &mail_parser::Addr<'_>| match (&addr.name, &addr.address) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (None, Some(address)) => address.to_string(),
        (Some(name), None) => name.to_string(),
        (None, None) => String::new(),
    };
    match address {
        Address::List(list) => list.iter().map(one).collect::<Vec<_>>().join(", "),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.addresses.iter().map(one))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn unfold(raw: &str) -> String {
    raw.split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the server and its connections share.
struct State {
    inner: Mutex<Inner>,
    /// The number of recorded messages, to wake [`SmtpServer::wait_for`].
    count: watch::Sender<usize>,
    connections: AtomicU64,
    attempts: AtomicU64,
    /// Commands that arrived with more of the client's bytes behind them.
    pipelined: AtomicU64,
}

#[derive(Default)]
struct Inner {
    messages: Vec<Received>,
    behaviour: Behaviour,
    /// EHLO does not offer PIPELINING.
    no_pipelining: bool,
    /// Lowercased address -> reply code for RCPT TO.
    failing_rcpts: HashMap<String, u16>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not take the server down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running server. It listens on `127.0.0.1` at a port of its own and
/// stops (listener and every connection) when this value is dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    state: Arc<State>,
    _stop: DropGuard,
}

impl SmtpServer {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("SMTP test server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("SMTP test server: local addr");
        let state = Arc::new(State {
            inner: Mutex::new(Inner::default()),
            count: watch::Sender::new(0),
            connections: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            pipelined: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, state.clone(), stop.clone()));
        SmtpServer {
            addr,
            state,
            _stop: stop.drop_guard(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`, for the notifier's configuration.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.addr.port())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message recorded so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        self.state.lock().messages.clone()
    }

    /// Waits until at least `n` messages are recorded and returns them all;
    /// panics with what it did get if that takes longer than `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut count = self.state.count.subscribe();
        let timed_out = tokio::time::timeout(timeout, count.wait_for(|c| *c >= n))
            .await
            .is_err();
        if timed_out {
            let got = self.messages();
            panic!(
                "SMTP test server: timed out after {timeout:?} waiting for {n} message(s); \
                 got {} (DATA attempts: {}, connections: {}); envelopes: {:?}",
                got.len(),
                self.attempts(),
                self.connections(),
                got.iter()
                    .map(|m| (&m.mail_from, &m.rcpt_to))
                    .collect::<Vec<_>>(),
            );
        }
        self.messages()
    }

    /// How many TCP connections were accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// How many DATA transactions were attempted (message sent up to the
    /// final `.`), whatever the answer: accepted, rejected, too big or
    /// dropped.
    pub fn attempts(&self) -> u64 {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// Whether EHLO offers PIPELINING (RFC 2920; it does unless told).
    pub fn set_pipelining(&self, offered: bool) {
        self.state.lock().no_pipelining = !offered;
    }

    /// How many commands (and ends of DATA) arrived with more of the
    /// client's bytes already behind them: a client that pipelines. A
    /// client that waits for each reply never makes this grow.
    pub fn pipelined(&self) -> u64 {
        self.state.pipelined.load(Ordering::SeqCst)
    }

    /// Sets how the end of DATA is answered, from the next message on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.lock().behaviour = behaviour;
    }

    /// The current behaviour (`TempFail`/`Drop` count down to `Accept`).
    pub fn behaviour(&self) -> Behaviour {
        self.state.lock().behaviour.clone()
    }

    /// Makes `RCPT TO` for `address` (case-insensitive) answer `code`
    /// (e.g. 550 gives `550 5.1.1 mailbox unavailable`); other recipients
    /// of the same message are still accepted.
    pub fn fail_rcpt(&self, address: &str, code: u16) {
        self.state
            .lock()
            .failing_rcpts
            .insert(address.to_ascii_lowercase(), code);
    }

    /// Forgets every [`SmtpServer::fail_rcpt`] rule.
    pub fn clear_rcpt_failures(&self) {
        self.state.lock().failing_rcpts.clear();
    }

    /// Forgets the recorded messages (counters are kept).
    pub fn clear_messages(&self) {
        self.state.lock().messages.clear();
        self.state.count.send_replace(0);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let id = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let state = state.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut session = Session::new(stream, id, state);
                    tokio::select! {
                        () = stop.cancelled() => {}
                        result = session.run() => {
                            if let Err(error) = result {
                                tracing::debug!(connection = id, %error, "SMTP test server: connection error");
                            }
                        }
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "SMTP test server: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One line read from the client, line ending included.
enum Read {
    Line(Vec<u8>),
    /// A line longer than the limit (it has been skipped).
    TooLong,
    /// The client closed the connection.
    Eof,
}

/// What to do at the end of DATA.
enum Verdict {
    Accept,
    Reply(u16),
    Stall(Duration),
    Drop,
}

struct Session {
    stream: TcpStream,
    buf: BytesMut,
    /// How much of `buf` is known to hold no `\n`.
    scanned: usize,
    /// Skipping the rest of a line that was too long.
    discarding: bool,
    id: u64,
    state: Arc<State>,
    helo: Option<String>,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn new(stream: TcpStream, id: u64, state: Arc<State>) -> Self {
        Session {
            stream,
            buf: BytesMut::with_capacity(8192),
            scanned: 0,
            discarding: false,
            id,
            state,
            helo: None,
            auth_user: None,
            mail_from: None,
            rcpt_to: Vec::new(),
        }
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        // One write per reply: with Nagle's algorithm a second small write
        // would wait for the client's delayed ACK.
        self.stream
            .write_all(format!("{text}\r\n").as_bytes())
            .await
    }

    /// Reads one line of at most `max` bytes (line ending included).
    async fn read_line(&mut self, max: usize) -> std::io::Result<Read> {
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(self.scanned + pos + 1);
                self.scanned = 0;
                if self.discarding || line.len() > max {
                    self.discarding = false;
                    return Ok(Read::TooLong);
                }
                return Ok(Read::Line(line.to_vec()));
            }
            if self.buf.len() > max {
                self.buf.clear();
                self.discarding = true;
            }
            self.scanned = self.buf.len();
            self.buf.reserve(8192);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Ok(Read::Eof);
            }
        }
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    async fn run(&mut self) -> std::io::Result<()> {
        tracing::debug!(connection = self.id, "SMTP test server: connection opened");
        self.reply(&format!("220 {HOSTNAME} ESMTP ready")).await?;
        loop {
            let line = match self.read_line(MAX_LINE).await? {
                Read::Eof => return Ok(()),
                Read::TooLong => {
                    self.reply("500 5.5.2 Line too long").await?;
                    continue;
                }
                Read::Line(line) => line,
            };
            if !self.buf.is_empty() {
                self.state.pipelined.fetch_add(1, Ordering::SeqCst);
            }
            let line = String::from_utf8_lossy(trim_eol(&line)).into_owned();
            let (verb, arg) = match line.split_once(' ') {
                Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
                None => (line.trim().to_ascii_uppercase(), ""),
            };
            match verb.as_str() {
                "EHLO" | "HELO" => self.hello(&verb, arg).await?,
                "AUTH" => self.auth(arg).await?,
                "MAIL" => self.mail(arg).await?,
                "RCPT" => self.rcpt(arg).await?,
                "DATA" => {
                    if !self.data(arg).await? {
                        tracing::debug!(
                            connection = self.id,
                            "SMTP test server: closing the connection"
                        );
                        return Ok(());
                    }
                }
                "RSET" => {
                    self.reset_transaction();
                    self.reply("250 2.0.0 Ok").await?;
                }
                "NOOP" => self.reply("250 2.0.0 Ok").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye").await?;
                    return Ok(());
                }
                _ => self.reply("500 5.5.2 Command not recognized").await?,
            }
        }
    }

    async fn hello(&mut self, verb: &str, arg: &str) -> std::io::Result<()> {
        if arg.is_empty() {
            return self
                .reply(&format!("501 5.5.4 {verb} needs a domain"))
                .await;
        }
        self.reset_transaction();
        self.helo = Some(arg.to_string());
        if verb == "HELO" {
            return self.reply(&format!("250 {HOSTNAME}")).await;
        }
        let pipelining = if self.state.lock().no_pipelining {
            ""
        } else {
            "250-PIPELINING\r\n"
        };
        let reply = format!(
            "250-{HOSTNAME} Hello\r\n\
             {pipelining}\
             250-8BITMIME\r\n\
             250-SMTPUTF8\r\n\
             250-ENHANCEDSTATUSCODES\r\n\
             250-SIZE {MAX_MESSAGE_SIZE}\r\n\
             250 AUTH PLAIN LOGIN"
        );
        self.reply(&reply).await
    }

    /// Reads one line of an AUTH exchange; `None` if the client cancelled
    /// with `*`, sent garbage, or went away (an answer has been sent).
    async fn auth_line(&mut self) -> std::io::Result<Option<String>> {
        match self.read_line(MAX_LINE).await? {
            Read::Eof => Ok(None),
            Read::TooLong => {
                self.reply("500 5.5.2 Line too long").await?;
                Ok(None)
            }
            Read::Line(line) => {
                let line = String::from_utf8_lossy(trim_eol(&line)).trim().to_string();
                if line == "*" {
                    self.reply("501 5.0.0 Authentication cancelled").await?;
                    return Ok(None);
                }
                Ok(Some(line))
            }
        }
    }

    async fn auth(&mut self, arg: &str) -> std::io::Result<()> {
        if self.helo.is_none() {
            return self.reply("503 5.5.1 Send EHLO first").await;
        }
        if self.auth_user.is_some() {
            return self.reply("503 5.5.1 Already authenticated").await;
        }
        if self.mail_from.is_some() {
            return self
                .reply("503 5.5.1 AUTH not allowed during a transaction")
                .await;
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let user = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(i) if i != "=" => i,
                    Some(_) => String::new(),
                    None => {
                        self.reply("334 ").await?;
                        match self.auth_line().await? {
                            Some(line) => line,
                            None => return Ok(()),
                        }
                    }
                };
                // authzid NUL authcid NUL password
                base64_decode(&response).and_then(|raw| {
                    let mut fields = raw.split(|&b| b == 0);
                    let (_authz, authc, _password) =
                        (fields.next()?, fields.next()?, fields.next()?);
                    String::from_utf8(authc.to_vec()).ok()
                })
            }
            "LOGIN" => {
                let user_b64 = match initial {
                    Some(i) => i,
                    None => {
                        self.reply("334 VXNlcm5hbWU6").await?;
                        match self.auth_line().await? {
                            Some(line) => line,
                            None => return Ok(()),
                        }
                    }
                };
                let user = base64_decode(&user_b64).and_then(|u| String::from_utf8(u).ok());
                if user.is_some() {
                    self.reply("334 UGFzc3dvcmQ6").await?;
                    match self.auth_line().await? {
                        Some(password) if base64_decode(&password).is_some() => user,
                        Some(_) => None,
                        None => return Ok(()),
                    }
                } else {
                    None
                }
            }
            _ => {
                return self
                    .reply("504 5.5.4 Unrecognized authentication type")
                    .await;
            }
        };
        match user {
            Some(user) => {
                self.auth_user = Some(user);
                self.reply("235 2.7.0 Authentication successful").await
            }
            None => self.reply("501 5.5.2 Cannot decode the response").await,
        }
    }

    async fn mail(&mut self, arg: &str) -> std::io::Result<()> {
        if self.helo.is_none() {
            return self.reply("503 5.5.1 Send EHLO first").await;
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Nested MAIL command").await;
        }
        let Some((address, params)) = parse_path(arg, "FROM:") else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        let declared_size = params.iter().find_map(|p| {
            let (key, value) = p.split_once('=')?;
            key.eq_ignore_ascii_case("SIZE")
                .then(|| value.parse::<u64>().ok())
                .flatten()
        });
        if declared_size.is_some_and(|s| s > MAX_MESSAGE_SIZE as u64) {
            return self
                .reply("552 5.3.4 Message size exceeds fixed limit")
                .await;
        }
        self.mail_from = Some(address);
        self.reply("250 2.1.0 Ok").await
    }

    async fn rcpt(&mut self, arg: &str) -> std::io::Result<()> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL before RCPT").await;
        }
        let Some((address, _params)) = parse_path(arg, "TO:") else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if address.is_empty() {
            return self.reply("501 5.1.3 Bad recipient address syntax").await;
        }
        if self.rcpt_to.len() >= MAX_RECIPIENTS {
            return self.reply("452 4.5.3 Too many recipients").await;
        }
        let failing = self
            .state
            .lock()
            .failing_rcpts
            .get(&address.to_ascii_lowercase())
            .copied();
        if let Some(code) = failing {
            let class = enhanced_class(code);
            return self
                .reply(&format!("{code} {class}.1.1 mailbox unavailable"))
                .await;
        }
        self.rcpt_to.push(address);
        self.reply("250 2.1.5 Ok").await
    }

    /// Runs a DATA transaction; `false` means: close the connection now.
    async fn data(&mut self, arg: &str) -> std::io::Result<bool> {
        if !arg.is_empty() {
            self.reply("501 5.5.4 DATA takes no arguments").await?;
            return Ok(true);
        }
        if self.mail_from.is_none() {
            self.reply("503 5.5.1 Need MAIL command").await?;
            return Ok(true);
        }
        if self.rcpt_to.is_empty() {
            self.reply("554 5.5.1 No valid recipients").await?;
            return Ok(true);
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        let mut too_big = false;
        loop {
            let line = match self.read_line(MAX_MESSAGE_SIZE + 2).await? {
                Read::Eof => return Ok(false),
                Read::TooLong => {
                    too_big = true;
                    continue;
                }
                Read::Line(line) => line,
            };
            if trim_eol(&line) == b"." {
                break;
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            if too_big {
                continue;
            }
            if data.len() + unstuffed.len() > MAX_MESSAGE_SIZE {
                too_big = true;
                data = Vec::new();
            } else {
                data.extend_from_slice(unstuffed);
            }
        }
        self.state.attempts.fetch_add(1, Ordering::SeqCst);
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        if too_big {
            self.reply("552 5.3.4 Message size exceeds fixed limit")
                .await?;
            return Ok(true);
        }
        let verdict = {
            let mut inner = self.state.lock();
            let verdict = match &mut inner.behaviour {
                Behaviour::Accept => Verdict::Accept,
                Behaviour::PermFail { code } => Verdict::Reply(*code),
                Behaviour::Stall(wait) => Verdict::Stall(*wait),
                Behaviour::TempFail { code, times } if *times > 0 => {
                    *times -= 1;
                    Verdict::Reply(*code)
                }
                Behaviour::Drop { times } if *times > 0 => {
                    *times -= 1;
                    Verdict::Drop
                }
                Behaviour::TempFail { .. } | Behaviour::Drop { .. } => Verdict::Accept,
            };
            if matches!(
                inner.behaviour,
                Behaviour::TempFail { times: 0, .. } | Behaviour::Drop { times: 0 }
            ) {
                inner.behaviour = Behaviour::Accept;
            }
            verdict
        };
        match verdict {
            Verdict::Drop => Ok(false),
            Verdict::Reply(code) => {
                let class = enhanced_class(code);
                self.reply(&format!("{code} {class}.0.0 Rejected by the test server"))
                    .await?;
                Ok(true)
            }
            Verdict::Accept | Verdict::Stall(_) => {
                if let Verdict::Stall(wait) = verdict {
                    tokio::time::sleep(wait).await;
                }
                let received = Received {
                    mail_from,
                    rcpt_to,
                    data,
                    connection: self.id,
                    auth_user: self.auth_user.clone(),
                    helo: self.helo.clone().unwrap_or_default(),
                    received_at: std::time::Instant::now(),
                };
                let count = {
                    let mut inner = self.state.lock();
                    inner.messages.push(received);
                    inner.messages.len()
                };
                self.state.count.send_replace(count);
                self.reply("250 2.0.0 Ok: queued").await?;
                Ok(true)
            }
        }
    }
}

/// The enhanced status code class (2, 4 or 5) for a reply code.
fn enhanced_class(code: u16) -> u16 {
    match code / 100 {
        c @ (2 | 4 | 5) => c,
        _ => 5,
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses `FROM:<address> PARAM...` (keyword case-insensitive, spaces after
/// the colon tolerated, angle brackets optional) into the address and the
/// ESMTP parameters.
fn parse_path(arg: &str, keyword: &str) -> Option<(String, Vec<String>)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg.get(keyword.len()..)?.trim_start();
    let (address, params) = if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        (&inner[..end], &inner[end + 1..])
    } else {
        match rest.split_once(' ') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        }
    };
    if address.contains(char::is_whitespace) {
        return None;
    }
    // A source route (`@a,@b:user@c`) is ignored, as RFC 5321 allows.
    let address = match address.split_once(':') {
        Some((route, mailbox)) if route.starts_with('@') => mailbox,
        _ => address,
    };
    let params = params.split_whitespace().map(str::to_string).collect();
    Some((address.to_string(), params))
}

/// Decodes standard base64 (padding optional); `None` if it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be padding zeros, and one lone char is invalid.
    (bits < 6 && acc == 0).then_some(out)
}
