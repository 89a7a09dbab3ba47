//! Tests of the loopback SMTP test server itself, driven by a raw SMTP
//! conversation over `tokio::net::TcpStream`.

use std::time::{Duration, Instant};

use nasvyazi_tests::smtp::{Behaviour, MAX_MESSAGE_SIZE, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any single read may take before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A bare SMTP client: writes command lines, reads (multi-line) replies.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    /// Connects and checks the `220` greeting.
    async fn connect(server: &SmtpServer) -> Client {
        let stream = TcpStream::connect(server.addr()).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut client = Client {
            stream: BufReader::new(stream),
        };
        let (code, text) = client.reply().await;
        assert_eq!(code, 220, "greeting: {text}");
        client
    }

    /// Connects, says EHLO and checks it was accepted.
    async fn ehlo(server: &SmtpServer) -> Client {
        let mut client = Client::connect(server).await;
        client.expect("EHLO client.test", 250).await;
        client
    }

    async fn write(&mut self, raw: &[u8]) {
        self.stream.get_mut().write_all(raw).await.expect("write");
    }

    /// Reads one reply; returns its code and every line of it.
    async fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read_line(&mut line))
                .await
                .expect("reply within the timeout")
                .expect("read reply");
            assert!(
                n > 0,
                "connection closed while waiting for a reply: {all:?}"
            );
            assert!(
                line.ends_with("\r\n"),
                "reply line not CRLF-ended: {line:?}"
            );
            all.push_str(&line);
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("bad reply line {line:?}"));
            if line.as_bytes().get(3) != Some(&b'-') {
                return (code, all);
            }
        }
    }

    /// Sends one command line, returns the reply.
    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends one command line and checks the reply code.
    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line:?} answered {text:?}");
        text
    }

    /// MAIL, RCPTs and DATA up to the `354`, then the (already stuffed)
    /// content and the terminator; returns the reply to the end of DATA.
    async fn send(&mut self, from: &str, to: &[&str], stuffed: &str) -> (u16, String) {
        self.expect(&format!("MAIL FROM:<{from}>"), 250).await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), 250).await;
        }
        self.expect("DATA", 354).await;
        self.write(stuffed.as_bytes()).await;
        self.write(b".\r\n").await;
        self.reply().await
    }

    /// True if the server closed the connection (EOF or reset) without
    /// sending anything more.
    async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) | Err(_) => false,
        }
    }
}

const SIMPLE: &str = "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n";

#[tokio::test]
async fn records_a_dot_stuffed_message_unstuffed_with_its_envelope() {
    let server = SmtpServer::start().await;
    assert!(server.url().starts_with("smtp://127.0.0.1:"));
    assert_eq!(server.url(), format!("smtp://{}", server.addr()));

    let mut client = Client::connect(&server).await;
    let ehlo = client.expect("EHLO client.test", 250).await;
    for extension in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "SIZE",
        "AUTH PLAIN LOGIN",
    ] {
        assert!(ehlo.contains(extension), "EHLO lacks {extension}: {ehlo}");
    }
    // AUTH PLAIN with "\0sender-user\0secret".
    client
        .expect("AUTH PLAIN AHNlbmRlci11c2VyAHNlY3JldA==", 235)
        .await;

    let stuffed = "From: Отправитель <from@example.test>\r\n\
                   To: one@example.test, two@example.test\r\n\
                   Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   \r\n\
                   first line\r\n\
                   ..leading dot\r\n\
                   ..\r\n\
                   ...\r\n\
                   . space after dot\r\n\
                   last line\r\n";
    let (code, text) = client
        .send(
            "from@example.test",
            &["one@example.test", "two@example.test"],
            stuffed,
        )
        .await;
    assert_eq!(code, 250, "{text}");
    client.expect("QUIT", 221).await;

    let messages = server.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.mail_from, "from@example.test");
    assert_eq!(m.rcpt_to, ["one@example.test", "two@example.test"]);
    assert_eq!(m.connection, 1);
    assert_eq!(m.auth_user.as_deref(), Some("sender-user"));
    assert_eq!(m.helo, "client.test");
    let expected = "From: Отправитель <from@example.test>\r\n\
                    To: one@example.test, two@example.test\r\n\
                    Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\
                    \r\n\
                    first line\r\n\
                    .leading dot\r\n\
                    .\r\n\
                    ..\r\n\
                    \x20space after dot\r\n\
                    last line\r\n";
    assert_eq!(m.data_str(), expected);
    assert_eq!(m.header("subject").as_deref(), Some("Привет"));
    assert_eq!(
        m.header("To").as_deref(),
        Some("one@example.test, two@example.test")
    );
    assert_eq!(
        m.header("From").as_deref(),
        Some("Отправитель <from@example.test>")
    );
    assert_eq!(m.header("X-Missing"), None);
    assert_eq!(
        m.header_values_raw("SUBJECT"),
        ["=?UTF-8?B?0J/RgNC40LLQtdGC?="]
    );
    let text = m.text_body().expect("text body");
    assert!(
        text.starts_with("first line\r\n.leading dot\r\n"),
        "{text:?}"
    );
    assert_eq!(m.html_body(), None);
    assert_eq!(m.parsed().subject(), Some("Привет"));
    assert_eq!(server.attempts(), 1);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn two_messages_on_one_connection() {
    let server = SmtpServer::start().await;
    let mut client = Client::ehlo(&server).await;
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);
    client.expect("NOOP", 250).await;
    // An abandoned transaction leaves nothing behind.
    client
        .expect("MAIL FROM:<abandoned@example.test>", 250)
        .await;
    client.expect("RCPT TO:<abandoned@example.test>", 250).await;
    client.expect("RSET", 250).await;
    let html = "From: c@example.test\r\n\
                To: d@example.test\r\n\
                Subject: second\r\n\
                MIME-Version: 1.0\r\n\
                Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
                \r\n\
                --b1\r\n\
                Content-Type: text/plain; charset=utf-8\r\n\
                \r\n\
                plain part\r\n\
                --b1\r\n\
                Content-Type: text/html; charset=utf-8\r\n\
                \r\n\
                <p>html part</p>\r\n\
                --b1--\r\n";
    let (code, _) = client.send("", &["d@example.test"], html).await;
    assert_eq!(code, 250);
    client.expect("QUIT", 221).await;

    let messages = server.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].mail_from, "a@example.test");
    assert_eq!(messages[0].header("Subject").as_deref(), Some("hi"));
    assert_eq!(messages[1].mail_from, "", "null reverse path");
    assert_eq!(messages[1].rcpt_to, ["d@example.test"]);
    assert_eq!(messages[1].header("Subject").as_deref(), Some("second"));
    assert_eq!(messages[1].text_body().as_deref(), Some("plain part"));
    assert_eq!(messages[1].html_body().as_deref(), Some("<p>html part</p>"));
    assert_eq!(messages[0].connection, messages[1].connection);
    assert_eq!(messages[0].auth_user, None);
    assert_eq!(server.connections(), 1);
    assert_eq!(server.attempts(), 2);
}

#[tokio::test]
async fn temp_fail_then_success() {
    let server = SmtpServer::start().await;
    server.set_behaviour(Behaviour::TempFail {
        code: 451,
        times: 1,
    });
    let mut client = Client::ehlo(&server).await;
    let (code, text) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("451 4."), "{text}");
    assert!(server.messages().is_empty());
    assert_eq!(server.behaviour(), Behaviour::Accept);

    let (code, text) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(server.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    assert_eq!(server.attempts(), 2);
}

#[tokio::test]
async fn perm_fail_rejects_every_message_and_records_nothing() {
    let server = SmtpServer::start().await;
    server.set_behaviour(Behaviour::PermFail { code: 550 });
    let mut client = Client::ehlo(&server).await;
    for _ in 0..2 {
        let (code, text) = client
            .send("a@example.test", &["b@example.test"], SIMPLE)
            .await;
        assert_eq!(code, 550, "{text}");
        assert!(text.starts_with("550 5."), "{text}");
    }
    client.expect("QUIT", 221).await;
    assert!(server.messages().is_empty());
    assert_eq!(server.attempts(), 2);

    // Set back at any time.
    server.set_behaviour(Behaviour::Accept);
    let mut client = Client::ehlo(&server).await;
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn drop_closes_the_connection_instead_of_answering() {
    let server = SmtpServer::start().await;
    server.set_behaviour(Behaviour::Drop { times: 1 });
    let mut client = Client::ehlo(&server).await;
    client.expect("MAIL FROM:<a@example.test>", 250).await;
    client.expect("RCPT TO:<b@example.test>", 250).await;
    client.expect("DATA", 354).await;
    client.write(SIMPLE.as_bytes()).await;
    client.write(b".\r\n").await;
    assert!(client.is_closed().await, "the connection should be closed");
    assert!(server.messages().is_empty());
    assert_eq!(server.attempts(), 1);

    // Only the next `times` messages: the one after is accepted.
    let mut client = Client::ehlo(&server).await;
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].connection, 2);
    assert_eq!(server.connections(), 2);
    assert_eq!(server.attempts(), 2);
}

#[tokio::test]
async fn fail_rcpt_refuses_that_recipient_only() {
    let server = SmtpServer::start().await;
    server.fail_rcpt("Gone@Example.test", 550);
    let mut client = Client::ehlo(&server).await;
    client.expect("MAIL FROM:<a@example.test>", 250).await;
    let refused = client.expect("RCPT TO:<gone@example.test>", 550).await;
    assert_eq!(refused, "550 5.1.1 mailbox unavailable\r\n");
    client.expect("RCPT TO:<ok@example.test>", 250).await;
    client.expect("DATA", 354).await;
    client.write(SIMPLE.as_bytes()).await;
    let (code, _) = client.cmd(".").await;
    assert_eq!(code, 250);

    // Only refused recipients: DATA is refused.
    client.expect("MAIL FROM:<a@example.test>", 250).await;
    client.expect("RCPT TO:<gone@example.test>", 550).await;
    client.expect("DATA", 554).await;

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].rcpt_to, ["ok@example.test"]);

    server.clear_rcpt_failures();
    client.expect("RSET", 250).await;
    client.expect("MAIL FROM:<a@example.test>", 250).await;
    client.expect("RCPT TO:<gone@example.test>", 250).await;
}

#[tokio::test]
#[should_panic(expected = "timed out")]
async fn wait_for_panics_when_too_few_messages_arrive() {
    let server = SmtpServer::start().await;
    let mut client = Client::ehlo(&server).await;
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);
    server.wait_for(2, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn wait_for_wakes_up_when_messages_arrive() {
    let server = SmtpServer::start().await;
    let addr = server.addr();
    let senders: Vec<_> = (0..10)
        .map(|i| {
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                let mut client = Client {
                    stream: BufReader::new(stream),
                };
                assert_eq!(client.reply().await.0, 220);
                client.expect("HELO client.test", 250).await;
                let to = format!("user{i}@example.test");
                let (code, _) = client.send("a@example.test", &[to.as_str()], SIMPLE).await;
                assert_eq!(code, 250);
                client.expect("QUIT", 221).await;
            })
        })
        .collect();
    let messages = server.wait_for(10, Duration::from_secs(10)).await;
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(messages.len(), 10);
    assert_eq!(server.connections(), 10);
    let mut connections: Vec<u64> = messages.iter().map(|m| m.connection).collect();
    connections.sort_unstable();
    connections.dedup();
    assert_eq!(connections.len(), 10, "one connection id per connection");
}

#[tokio::test]
async fn stall_delays_the_answer_then_accepts() {
    let server = SmtpServer::start().await;
    server.set_behaviour(Behaviour::Stall(Duration::from_millis(200)));
    let mut client = Client::ehlo(&server).await;
    client.expect("MAIL FROM:<a@example.test>", 250).await;
    client.expect("RCPT TO:<b@example.test>", 250).await;
    client.expect("DATA", 354).await;
    client.write(SIMPLE.as_bytes()).await;
    let started = Instant::now();
    let (code, _) = client.cmd(".").await;
    assert_eq!(code, 250);
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn auth_login_and_auth_plain_with_a_continuation() {
    let server = SmtpServer::start().await;

    let mut client = Client::ehlo(&server).await;
    client.expect("AUTH LOGIN", 334).await;
    client.expect("bG9naW4tdXNlcg==", 334).await; // "login-user"
    client.expect("c2VjcmV0", 235).await; // "secret"
    client.expect("AUTH PLAIN AGEAYg==", 503).await;
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);

    let mut client = Client::ehlo(&server).await;
    client.expect("AUTH CRAM-MD5", 504).await;
    client.expect("AUTH PLAIN not-base64!", 501).await;
    client.expect("AUTH PLAIN", 334).await;
    client.expect("*", 501).await;
    client.expect("AUTH PLAIN", 334).await;
    client.expect("AHBsYWluLXVzZXIAcA==", 235).await; // "\0plain-user\0p"
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);

    let messages = server.messages();
    assert_eq!(messages[0].auth_user.as_deref(), Some("login-user"));
    assert_eq!(messages[1].auth_user.as_deref(), Some("plain-user"));
}

#[tokio::test]
async fn bad_input_gets_errors_and_the_connection_survives() {
    let server = SmtpServer::start().await;
    let mut client = Client::connect(&server).await;
    client.expect("MAIL FROM:<a@example.test>", 503).await;
    client.expect("EHLO", 501).await;
    client.expect("HELO client.test", 250).await;
    client.expect("FROB", 500).await;
    client.expect("", 500).await;
    client.expect("STARTTLS", 500).await;
    client.expect("RCPT TO:<b@example.test>", 503).await;
    client.expect("DATA", 503).await;
    client.expect("MAIL FROM a@example.test", 501).await;
    client.expect("MAIL FROM:<a@example.test", 501).await;
    client
        .expect("MAIL FROM:<a@example.test> SIZE=999999999", 552)
        .await;
    client.expect("mail from:<a@example.test>", 250).await;
    client.expect("MAIL FROM:<a@example.test>", 503).await;
    client.expect("RCPT TO:<>", 501).await;
    client.expect("DATA now", 501).await;
    client.expect("RSET", 250).await;

    // Binary garbage, invalid UTF-8, and a line over 1000 bytes.
    client.write(b"\xff\xfe\x00\x01 \xd0\r\n").await;
    assert_eq!(client.reply().await.0, 500);
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    client.write(long.as_bytes()).await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 500, "{text}");
    // A bare LF is tolerated as a line end.
    client.write(b"NOOP\n").await;
    assert_eq!(client.reply().await.0, 250);

    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);
    client.expect("QUIT", 221).await;
    assert!(client.is_closed().await);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = SmtpServer::start().await;
    let mut client = Client::ehlo(&server).await;
    let mut batch = String::from(
        "MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n",
    );
    batch.push_str(SIMPLE);
    batch.push_str(".\r\nNOOP\r\n");
    client.write(batch.as_bytes()).await;
    for expected in [250, 250, 250, 354, 250, 250] {
        assert_eq!(client.reply().await.0, expected);
    }
    assert_eq!(
        server.messages()[0].rcpt_to,
        ["b@example.test", "c@example.test"]
    );
}

#[tokio::test]
async fn oversized_messages_get_552_and_are_not_recorded() {
    let server = SmtpServer::start().await;
    let mut client = Client::ehlo(&server).await;
    client.expect("MAIL FROM:<a@example.test>", 250).await;
    client.expect("RCPT TO:<b@example.test>", 250).await;
    client.expect("DATA", 354).await;
    let line = format!("{}\r\n", "y".repeat(998));
    let chunk = line.repeat(1024); // 1 MiB
    for _ in 0..=MAX_MESSAGE_SIZE / chunk.len() {
        client.write(chunk.as_bytes()).await;
    }
    let (code, text) = client.cmd(".").await;
    assert_eq!(code, 552, "{text}");
    assert!(server.messages().is_empty());
    assert_eq!(server.attempts(), 1);

    // The connection is still usable.
    let (code, _) = client
        .send("a@example.test", &["b@example.test"], SIMPLE)
        .await;
    assert_eq!(code, 250);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = SmtpServer::start().await;
    let addr = server.addr();
    let mut client = Client::ehlo(&server).await;
    drop(server);
    assert!(client.is_closed().await, "open connections are closed");
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still listening on {addr}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
