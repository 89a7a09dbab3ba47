//! Channel adapters: `outbox` (a folder of `.eml` files, the default),
//! `smtp` (lettre), and `telegram` (the Bot API; on when a bot token is
//! configured). Selected by configuration.

pub mod folder;
pub mod mime;
pub mod smtp;
pub mod telegram;

use std::sync::Arc;

use nasvyazi_shared::channel::Channel;
use nasvyazi_shared::config::{Config, EmailTransport};

/// The email channel the configuration asks for.
pub fn email_channel(config: &Config) -> anyhow::Result<Arc<dyn Channel>> {
    let dkim = mime::Dkim::from_config(&config.email)?;
    Ok(match config.email.transport {
        EmailTransport::Outbox => Arc::new(folder::FolderOutbox::new(
            config.email.outbox_dir.clone(),
            dkim,
        )?),
        EmailTransport::Smtp => Arc::new(smtp::Smtp::new(&config.email, dkim)?),
    })
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
}
