//! Turns an [`EmailMessage`] into an RFC 5322 message with lettre:
//! multipart text + HTML, Message-ID, Date, From, Reply-To,
//! Content-Language, List-Unsubscribe headers, optional DKIM signature.

use lettre::Message;
use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use nasvyazi_shared::channel::{EmailMessage, SendError};
use nasvyazi_shared::config::EmailConfig;
use secrecy::ExposeSecret;

/// DKIM signing, if configured.
pub struct Dkim(DkimConfig);

impl Dkim {
    pub fn from_config(c: &EmailConfig) -> anyhow::Result<Option<Dkim>> {
        let Some(key) = &c.dkim_private_key else {
            return Ok(None);
        };
        let pem = key.expose_secret();
        let key = DkimSigningKey::new(pem, DkimSigningAlgorithm::Rsa).map_err(|_| {
            anyhow::anyhow!("email.dkim_private_key: not an RSA private key in PKCS#1 PEM")
        })?;
        Ok(Some(Dkim(DkimConfig::default_config(
            c.dkim_selector.clone(),
            c.dkim_domain.clone(),
            key,
        ))))
    }
}

fn permanent(reason: &str) -> SendError {
    SendError::Permanent {
        reason: reason.to_string(),
        suppress: false,
    }
}

/// A text part sent as 8bit when it can be (UTF-8, lines within RFC 5322's
/// 998 octets, no NUL or bare CR): readable in the raw message and in the
/// outbox folder, links intact. lettre's own choice would base64-encode any
/// Cyrillic line over 76 bytes. Servers without 8BITMIME are refused by
/// lettre with a clear error.
fn part(content_type: ContentType, text: &str) -> SinglePart {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let fits = !crlf.contains('\0')
        && crlf
            .split("\r\n")
            .all(|line| line.len() <= 900 && !line.contains('\r'));
    let body = if fits {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new(text.to_string())
    };
    SinglePart::builder().header(content_type).body(body)
}

/// Builds the message; a malformed one is a permanent failure (never
/// worth a retry) whose reason does not quote the address.
pub fn build(msg: &EmailMessage, dkim: Option<&Dkim>) -> Result<Message, SendError> {
    let from: Mailbox = msg.from.parse().map_err(|_| permanent("invalid From"))?;
    let to: Mailbox = msg
        .to
        .expose()
        .parse()
        .map_err(|_| permanent("invalid recipient address"))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(msg.subject.clone())
        .message_id(Some(format!("<{}>", msg.message_id)))
        .date_now();
    if let Some(reply_to) = &msg.reply_to {
        builder = builder.reply_to(
            reply_to
                .parse()
                .map_err(|_| permanent("invalid Reply-To"))?,
        );
    }
    let body = match &msg.html {
        Some(html) => MultiPart::alternative()
            .singlepart(part(ContentType::TEXT_PLAIN, &msg.text))
            .singlepart(part(ContentType::TEXT_HTML, html)),
        None => MultiPart::mixed().singlepart(part(ContentType::TEXT_PLAIN, &msg.text)),
    };
    let mut message = builder
        .multipart(body)
        .map_err(|_| permanent("cannot build the message"))?;
    let language = [("Content-Language".to_string(), msg.language.clone())];
    for (name, value) in language.iter().chain(&msg.headers) {
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| permanent("invalid header name"))?;
        message
            .headers_mut()
            .insert_raw(HeaderValue::new(name, value.clone()));
    }
    if let Some(Dkim(config)) = dkim {
        message.sign(config);
    }
    Ok(message)
}
