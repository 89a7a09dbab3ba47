//! A letter to an official: the letter campaign's templates rendered in the
//! official's language for one signer (`each`) or with every confirmed,
//! non-withdrawn signatory (`collective`); From the organisation (never the
//! signer: DMARC), Reply-To the signer only if they allowed it (else the
//! letter's reply_to), a Message-ID stable per (letter, signer, official).
//! Plain text, as officials' mail systems expect. Decrypts only here.

use crate::channels::EmailMessage;
use nasvyazi_letters::records::{LoadError, confirmed_signers, load_official, load_signer};
use nasvyazi_letters::render::{LetterContext, OfficialCtx, SignerCtx, render};
use nasvyazi_letters::{COLLECTIVE, LetterTemplates, message_id};
use nasvyazi_shared::Config;
use nasvyazi_shared::crypto::Keyring;
use sqlx::PgPool;

use super::NotReady;
use crate::letters::claim::Claimed;

fn load_error(e: LoadError) -> NotReady {
    match e {
        LoadError::Db(e) => e.into(),
        LoadError::Crypto(_) => NotReady::Fail("cannot be decrypted (wrong master key?)".into()),
    }
}

fn ctx(s: nasvyazi_letters::Signer) -> SignerCtx {
    SignerCtx {
        name: s.name,
        city: s.city,
        note: s.note.unwrap_or_default(),
    }
}

/// The email of one claimed letter.
pub async fn prepare(
    db: &PgPool,
    keys: &Keyring,
    config: &Config,
    c: &Claimed,
) -> Result<EmailMessage, NotReady> {
    type LetterRow = (String, sqlx::types::Json<LetterTemplates>, Option<String>);
    let letter: Option<LetterRow> =
        sqlx::query_as("SELECT name, templates, reply_to FROM letters WHERE id = $1")
            .bind(c.letter_id)
            .fetch_optional(db)
            .await?;
    let Some((name, templates, letter_reply_to)) = letter else {
        return Err(NotReady::Skip("letter deleted"));
    };
    let Some(official) = load_official(db, keys, c.official_id)
        .await
        .map_err(load_error)?
    else {
        return Err(NotReady::Skip("official deleted"));
    };
    let (signer, signatories, reply_to) = if c.signer_id == COLLECTIVE {
        let all: Vec<SignerCtx> = confirmed_signers(db, keys, c.letter_id)
            .await
            .map_err(load_error)?
            .into_iter()
            .map(ctx)
            .collect();
        if all.is_empty() {
            return Err(NotReady::Skip("no confirmed signatures"));
        }
        (None, all, letter_reply_to)
    } else {
        let Some(s) = load_signer(db, keys, c.signer_id)
            .await
            .map_err(load_error)?
        else {
            return Err(NotReady::Skip("signature withdrawn"));
        };
        let reply_to = if s.allow_reply_to {
            Some(s.email.expose().to_string())
        } else {
            letter_reply_to
        };
        (Some(ctx(s)), Vec::new(), reply_to)
    };
    let context = LetterContext {
        org: config.organisation.name.clone(),
        letter: name,
        official: OfficialCtx {
            name: official.name.clone(),
            position: official.position.clone(),
            organisation: official.organisation.clone(),
        },
        count: signatories.len(),
        signer,
        signatories,
    };
    let rendered = render(&templates, official.language, &context)
        .map_err(|e| NotReady::Fail(e.to_string()))?;
    let mut message = EmailMessage {
        to: official.email,
        from: config.email.from.clone(),
        reply_to,
        subject: rendered.subject,
        text: rendered.text,
        html: None,
        message_id: message_id(c.letter_id, c.signer_id, c.official_id, &config.email.from),
        language: rendered.language,
        headers: Vec::new(),
        inline: Vec::new(),
    };
    super::add_return_path(&mut message, keys, config, c.id);
    Ok(message)
}
