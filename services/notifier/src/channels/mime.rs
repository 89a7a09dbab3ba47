//! Turns an [`EmailMessage`] into the bytes we hand to the SMTP server:
//! multipart text + HTML built by lettre (with inline images:
//! `multipart/alternative` of the text and a `multipart/related` of the
//! HTML and its `cid:` images, as mail clients expect), Message-ID, Date,
//! From, Reply-To, Content-Language, List-Unsubscribe and the other extra headers, then
//! DKIM signatures over exactly those bytes (`shared::email::dkim`), and
//! the envelope (the VERP return path when the composer set one).

use crate::channels::{EmailMessage, InlineImage, SendError};
use lettre::Message;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use nasvyazi_shared::config::EmailConfig;
use nasvyazi_shared::email::dkim::DkimSigner;

/// A pseudo-header the composers add to [`EmailMessage::headers`] to ask
/// for an envelope sender (the VERP address). It is never written into the
/// message: the receiving server records the envelope sender as
/// `Return-Path` itself.
pub const ENVELOPE_FROM: &str = "Return-Path";

/// DKIM signing, if configured.
pub struct Dkim(DkimSigner);

impl Dkim {
    pub fn from_config(c: &EmailConfig) -> anyhow::Result<Option<Dkim>> {
        Ok(DkimSigner::from_config(c)?.map(Dkim))
    }
}

/// A message ready for the wire.
pub struct Built {
    pub envelope: Envelope,
    /// Headers and body, CRLF, signed.
    pub bytes: Vec<u8>,
}

impl Built {
    /// The bytes as sent (for sizes in the bench).
    pub fn formatted(&self) -> Vec<u8> {
        self.bytes.clone()
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

/// The HTML part and the images it shows by `cid:` (base64, `Content-ID:
/// <cid>`, `Content-Disposition: inline`).
fn related(html: &str, images: &[InlineImage]) -> Result<MultiPart, SendError> {
    let mut related = MultiPart::related().singlepart(part(ContentType::TEXT_HTML, html));
    for image in images {
        let mime =
            ContentType::parse(&image.mime).map_err(|_| permanent("invalid inline image type"))?;
        related = related
            .singlepart(Attachment::new_inline(image.cid.clone()).body(image.bytes.to_vec(), mime));
    }
    Ok(related)
}

/// Builds the message; a malformed one is a permanent failure (never
/// worth a retry) whose reason does not quote the address.
pub fn build(msg: &EmailMessage, dkim: Option<&Dkim>) -> Result<Built, SendError> {
    let from: Mailbox = msg.from.parse().map_err(|_| permanent("invalid From"))?;
    let to: Mailbox = msg
        .to
        .expose()
        .parse()
        .map_err(|_| permanent("invalid recipient address"))?;
    let mut envelope_from = from.email.clone();
    let mut builder = Message::builder()
        .from(from)
        .to(to.clone())
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
        Some(html) if !msg.inline.is_empty() => MultiPart::alternative()
            .singlepart(part(ContentType::TEXT_PLAIN, &msg.text))
            .multipart(related(html, &msg.inline)?),
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
        if name.eq_ignore_ascii_case(ENVELOPE_FROM) {
            envelope_from = value
                .parse()
                .map_err(|_| permanent("invalid return path"))?;
            continue;
        }
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| permanent("invalid header name"))?;
        message
            .headers_mut()
            .insert_raw(HeaderValue::new(name, value.clone()));
    }
    let envelope = Envelope::new(Some(envelope_from), vec![to.email])
        .map_err(|_| permanent("invalid envelope"))?;
    let formatted = message.formatted();
    let bytes = match dkim {
        Some(Dkim(signer)) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            signer.sign(&formatted, now)
        }
        None => formatted,
    };
    Ok(Built { envelope, bytes })
}
