//! Leases in PostgreSQL: one holder at a time for work that must not run
//! in two processes at once (the one Telegram poller and the one Telegram
//! sender per bot token). A holder renews its lease well before it
//! expires; a holder that dies lets it expire, and another takes over.
//!
//! A holder trusts its lease only until the expiry it last wrote, measured
//! from before that write, so it stops acting before anyone else may start.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One named lease, as one process sees it.
#[derive(Debug)]
pub struct Lease {
    /// The `leases.name`, e.g. `telegram-send:123456`.
    name: String,
    /// This process's holder id, new at every start.
    holder: Uuid,
    /// How long one acquisition or renewal lasts.
    ttl: Duration,
    /// Until when this process may act, if it holds the lease.
    valid_until: Mutex<Option<Instant>>,
}

impl Lease {
    pub fn new(name: impl Into<String>, ttl: Duration) -> Lease {
        Lease {
            name: name.into(),
            holder: Uuid::new_v4(),
            ttl,
            valid_until: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn holder(&self) -> Uuid {
        self.holder
    }

    /// Whether this process holds the lease right now.
    pub fn is_held(&self) -> bool {
        self.valid_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }

    fn set(&self, until: Option<Instant>) {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }

    /// Takes the lease if it is free or expired, or renews it if this
    /// process holds it. Returns whether it is held now.
    pub async fn acquire(&self, db: &PgPool) -> sqlx::Result<bool> {
        let started = Instant::now();
        let row: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE
                 SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                 WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()
             RETURNING holder",
        )
        .bind(&self.name)
        .bind(self.holder)
        .bind(self.ttl.as_secs_f64())
        .fetch_optional(db)
        .await?;
        let held = row == Some(self.holder);
        let was = self.is_held();
        self.set(held.then(|| started + self.ttl));
        if held != was {
            tracing::info!(lease = %self.name, held, "lease changed hands");
        }
        Ok(held)
    }

    /// Gives the lease up (at shutdown), so another process need not wait
    /// for it to expire.
    pub async fn release(&self, db: &PgPool) -> sqlx::Result<()> {
        self.set(None);
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(&self.name)
            .bind(self.holder)
            .execute(db)
            .await?;
        Ok(())
    }

    /// Acquires and renews every third of the TTL until `shutdown`, then
    /// releases. Database trouble is logged and retried, never fatal: the
    /// lease simply lapses meanwhile.
    pub async fn keep(&self, db: &PgPool, shutdown: &CancellationToken) {
        loop {
            if let Err(e) = self.acquire(db).await {
                tracing::warn!(lease = %self.name, error = %e, "cannot renew the lease");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.ttl / 3) => {}
            }
        }
        if let Err(e) = self.release(db).await {
            tracing::warn!(lease = %self.name, error = %e, "cannot release the lease");
        }
    }
}
