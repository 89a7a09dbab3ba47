//! The `outbox` email adapter: every message becomes an `.eml` file in a
//! folder, plus a JSON line in `messages.jsonl` (file, Message-ID, subject,
//! time; no address). The demo's default: no mail account needed, and a
//! person can open the files in any mail program.

use std::path::PathBuf;

use nasvyazi_shared::channel::{Channel, Outgoing, SendError, Sent};
use tokio::io::AsyncWriteExt;

use super::mime::{self, Dkim};

pub struct FolderOutbox {
    dir: PathBuf,
    dkim: Option<Dkim>,
    /// Serialises appends to the index file.
    index: tokio::sync::Mutex<()>,
}

impl FolderOutbox {
    pub fn new(dir: PathBuf, dkim: Option<Dkim>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!("email.outbox_dir: cannot create {}: {e}", dir.display())
        })?;
        Ok(FolderOutbox {
            dir,
            dkim,
            index: tokio::sync::Mutex::new(()),
        })
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
        let local = msg.message_id.split('@').next().unwrap_or("message");
        let safe: String = local
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let name = format!("{}-{safe}.eml", now.format("%Y%m%dT%H%M%S%.3fZ"));
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
        let _guard = self.index.lock().await;
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
        })
    }
}
