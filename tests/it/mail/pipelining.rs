//! The SMTP adapter's PIPELINING (RFC 2920, issue 26): where the server
//! offers it, a message's commands go in one write and its content carries
//! the next message's commands; where it does not, the client waits for
//! every reply. Either way every message arrives once, intact, and a
//! recipient refused in the middle of a stream costs only its own message.

use std::collections::HashMap;
use std::time::Duration;

use nasvyazi_notifier::channels::smtp::Smtp;
use nasvyazi_notifier::channels::{Channel, EmailMessage, Outgoing, SendError};
use nasvyazi_shared::Config;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_tests::smtp::SmtpServer;

const N: usize = 40;
const REFUSED: usize = 17;

fn message(i: usize) -> Outgoing {
    let to = if i == REFUSED {
        "refused@example.kz".to_string()
    } else {
        format!("p{i}@example.kz")
    };
    Outgoing::Email(EmailMessage {
        to: EmailAddress::parse(&to).unwrap(),
        from: "Forum KZ <noreply@forum.example.kz>".into(),
        reply_to: None,
        subject: format!("Письмо {i}"),
        // A line that starts with a dot must arrive as it was written.
        text: format!("Здравствуйте, {i}.\n.точка в начале строки\n..две\nКонец."),
        html: None,
        message_id: format!("{}@forum.example.kz", uuid::Uuid::new_v4()),
        language: "ru".into(),
        headers: Vec::new(),
        inline: Vec::new(),
    })
}

#[tokio::test]
async fn pipelined_only_where_offered_and_a_refusal_costs_only_its_message() {
    for offered in [true, false] {
        let smtp = SmtpServer::start().await;
        smtp.set_pipelining(offered);
        smtp.fail_rcpt("refused@example.kz", 550);
        let config = Config::from_toml(&format!(
            "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\npool_size = 2\ntimeout_secs = 10\n",
            smtp.url()
        ))
        .unwrap();
        let channel = Smtp::new(&config.email, None).unwrap();
        let messages: Vec<Outgoing> = (0..N).map(message).collect();
        let results = futures::future::join_all(messages.iter().map(|m| channel.send(m))).await;
        for (i, r) in results.iter().enumerate() {
            if i == REFUSED {
                assert!(
                    matches!(r, Err(SendError::Permanent { suppress: true, .. })),
                    "the refused recipient fails for good (offered: {offered})"
                );
            } else {
                assert!(
                    r.is_ok(),
                    "message {i} (offered: {offered}): {:?}",
                    r.as_ref().err()
                );
            }
        }
        let got = smtp.wait_for(N - 1, Duration::from_secs(10)).await;
        let mut per: HashMap<String, usize> = HashMap::new();
        for m in &got {
            assert_eq!(m.rcpt_to.len(), 1);
            *per.entry(m.rcpt_to[0].clone()).or_default() += 1;
            let text = m.text_body().unwrap().replace("\r\n", "\n");
            assert!(
                text.contains("\n.точка в начале строки\n..две\n"),
                "dot-stuffing undone exactly: {text:?}"
            );
        }
        assert_eq!(per.len(), N - 1, "every accepted recipient once");
        assert!(per.values().all(|&n| n == 1), "nothing twice");
        assert!(!per.contains_key("refused@example.kz"));
        if offered {
            assert!(
                smtp.pipelined() >= (N as u64) / 2,
                "pipelined commands: {}",
                smtp.pipelined()
            );
        } else {
            assert_eq!(
                smtp.pipelined(),
                0,
                "never pipelines to a server that does not offer it"
            );
        }
        // Two lanes at most, and the refusal's connection replaced.
        assert!(
            smtp.connections() >= 2 && smtp.connections() <= 4,
            "{}",
            smtp.connections()
        );
    }
}
