//! The `outbox` email adapter: every message becomes an `.eml` file in a
//! folder, plus a JSON line in `messages.jsonl` (file, Message-ID, subject,
//! time; no address). The demo's default: no mail account needed, and a
//! person can open the files in any mail program.
//!
//! The files are the emails in plain text, addresses and links included:
//! the adapter says so at start-up (for development only), and [`sweep`]
//! (every few minutes, and at start) deletes every file older than
//! `email.outbox_retention_days` and, at once, the files of a person who
//! was erased. A file is named after its Message-ID (opaque, stable per
//! delivery, stored as the delivery's `provider_message_id`), so a
//! person's files are those of their deliveries: a subscriber's
//! (`confirmation`, `campaign`) once the contact row is gone, an
//! appellant's (`appeal_ack`, `appeal_status`) once the appeal holds no
//! contact, a signer's (`signature_confirmation`) once the signature holds
//! no address. Lines of `messages.jsonl` whose file is gone go too.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nasvyazi_shared::Infra;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::channels::{Channel, Outgoing, SendError, Sent};
use tokio::io::AsyncWriteExt;

use super::mime::{self, Dkim};

pub struct FolderOutbox {
    dir: PathBuf,
    dkim: Option<Dkim>,
}

/// Serialises appends to the index file and its pruning.
static INDEX: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl FolderOutbox {
    pub fn new(dir: PathBuf, dkim: Option<Dkim>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!("email.outbox_dir: cannot create {}: {e}", dir.display())
        })?;
        tracing::warn!(
            dir = %dir.display(),
            "email transport `outbox`: every email is written to a folder in plain text \
             (addresses and links included), for development and demos only; \
             set email.transport = \"smtp\" in production"
        );
        Ok(FolderOutbox { dir, dkim })
    }
}

fn transient(reason: String) -> SendError {
    SendError::Transient {
        reason,
        retry_after: None,
    }
}

#[async_trait::async_trait]
impl Channel for FolderOutbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError> {
        let Outgoing::Email(msg) = message else {
            return Err(SendError::Permanent {
                reason: "the outbox folder takes email only".into(),
                suppress: false,
            });
        };
        let built = mime::build(msg, self.dkim.as_ref())?;
        let now = chrono::Utc::now();
        let name = file_name(now, &msg.message_id);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, &built.bytes)
            .await
            .map_err(|e| transient(format!("cannot write to the outbox folder: {}", e.kind())))?;
        tokio::fs::rename(&tmp, self.dir.join(&name))
            .await
            .map_err(|e| transient(format!("cannot write to the outbox folder: {}", e.kind())))?;
        let line = serde_json::json!({
            "file": name,
            "message_id": msg.message_id,
            "subject": msg.subject,
            "language": msg.language,
            "written_at": now,
        });
        let _guard = INDEX.lock().await;
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("messages.jsonl"))
            .await
            .map_err(|e| transient(format!("cannot open messages.jsonl: {}", e.kind())))?;
        f.write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| transient(format!("cannot append to messages.jsonl: {}", e.kind())))?;
        Ok(Sent {
            provider_message_id: Some(msg.message_id.clone()),
            reply: format!("written {name}"),
            uploaded: Vec::new(),
            poll_id: None,
        })
    }
}

/// The part of a Message-ID that names its file (`<time>-<this>.eml`).
fn file_key(message_id: &str) -> String {
    let local = message_id.split('@').next().unwrap_or("message");
    local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn file_name(now: chrono::DateTime<chrono::Utc>, message_id: &str) -> String {
    format!(
        "{}-{}.eml",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        file_key(message_id)
    )
}

/// How often [`spawn`]'s task sweeps the folder.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// With the `outbox` transport, sweeps the folder at start and every
/// [`SWEEP_EVERY`] until shutdown.
pub fn spawn(
    infra: &Infra,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) {
    if infra.config.email.transport != nasvyazi_shared::config::EmailTransport::Outbox {
        return;
    }
    let dir = infra.config.email.outbox_dir.clone();
    let days = infra.config.email.outbox_retention_days;
    let db = infra.db.clone();
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        loop {
            match sweep(&dir, &db, days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "outbox folder swept"),
                Err(e) => tracing::warn!(error = %e, "outbox folder: sweep failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
        }
    });
}

/// Message-IDs of emails sent to people erased since: see the module docs.
const ERASED: &str = "SELECT d.provider_message_id FROM deliveries d
     WHERE d.channel = 'email' AND d.provider_message_id IS NOT NULL
       AND d.updated_at > now() - make_interval(days => $1)
       AND CASE d.kind
           WHEN 'confirmation' THEN NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = d.contact_id)
           WHEN 'campaign' THEN NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = d.contact_id)
           WHEN 'appeal_ack' THEN NOT EXISTS
               (SELECT 1 FROM appeals a WHERE a.id = d.contact_id AND a.contact_ct IS NOT NULL)
           WHEN 'appeal_status' THEN NOT EXISTS
               (SELECT 1 FROM appeals a WHERE a.id = d.contact_id AND a.contact_ct IS NOT NULL)
           WHEN 'signature_confirmation' THEN NOT EXISTS
               (SELECT 1 FROM letter_signatures s WHERE s.id = d.contact_id AND s.email_ct IS NOT NULL)
           ELSE false END";

/// Deletes the files older than `retention_days` and those of erased
/// people, and their lines in `messages.jsonl`. Returns how many files.
pub async fn sweep(dir: &Path, db: &PgPool, retention_days: u32) -> anyhow::Result<usize> {
    let erased: Vec<String> = sqlx::query_scalar(ERASED)
        .bind(retention_days.max(1) as i32 + 1)
        .fetch_all(db)
        .await?;
    let erased: std::collections::HashSet<String> = erased.iter().map(|m| file_key(m)).collect();
    let cutoff = SystemTime::now()
        .checked_sub(Duration::from_secs(u64::from(retention_days) * 86_400))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut deleted = 0;
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".eml") else {
            continue;
        };
        let key = stem.split_once('-').map_or("", |(_, k)| k);
        let old = entry
            .metadata()
            .await
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old || erased.contains(key) {
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if deleted > 0 {
        prune_index(dir).await?;
    }
    Ok(deleted)
}

/// Drops the lines of `messages.jsonl` whose file is gone (written anew,
/// then renamed over the old one).
async fn prune_index(dir: &Path) -> anyhow::Result<()> {
    let _guard = INDEX.lock().await;
    let index = dir.join("messages.jsonl");
    let text = match tokio::fs::read_to_string(&index).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut kept = String::new();
    for line in text.lines() {
        let file = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("file").and_then(|f| f.as_str()).map(str::to_string));
        if let Some(file) = file
            && !file.contains('/')
            && tokio::fs::try_exists(dir.join(&file))
                .await
                .unwrap_or(false)
        {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let tmp = dir.join(".messages.jsonl.tmp");
    tokio::fs::write(&tmp, kept).await?;
    tokio::fs::rename(&tmp, &index).await?;
    Ok(())
}
