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
