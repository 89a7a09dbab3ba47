//! Every stored wrapped data key, in one list: what `nasvyazi keys rewrap`
//! re-wraps after a master-key rotation, and what start-up checks can be
//! opened with the configured keys.
//!
//! A table that holds a wrapped data key and is missing here would keep it
//! under the old master key, and be lost when the old key is dropped; the
//! integration test `security::keys` reads the schema's `*data_key*`
//! columns and fails on one this list does not know.
//!
//! Only data keys are touched: the contents they protect are never
//! decrypted. Errors name the table and a count, never a row's content.

use futures::TryStreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::Keyring;

/// A column holding wrapped data keys, in a table keyed by a `uuid` `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrappedKeyColumn {
    pub table: &'static str,
    pub column: &'static str,
}

const fn col(table: &'static str) -> WrappedKeyColumn {
    WrappedKeyColumn {
        table,
        column: "data_key",
    }
}

/// Every table and column that holds a wrapped data key. NULL values (a
/// withdrawn signature) are skipped.
pub const WRAPPED_KEY_COLUMNS: &[WrappedKeyColumn] = &[
    col("contacts"),
    col("appeals"),
    col("officials"),
    col("letter_signatures"),
    col("console_users"),
    col("campaign_test_sends"),
    col("consultation_people"),
    col("conversations"),
    col("surveys"),
    col("survey_bot_sessions"),
    col("staff_identities"),
    col("bot_answers"),
];

/// Rows re-wrapped per transaction.
const BATCH: i64 = 500;

/// Re-wraps every stored data key under the current master key. Returns
/// how many per table, in [`WRAPPED_KEY_COLUMNS`] order. Stops at the first
/// key that cannot be opened (naming the table), with the batches before it
/// committed: running it again after fixing the keys continues.
pub async fn rewrap_all(db: &PgPool, keys: &Keyring) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut counts = Vec::with_capacity(WRAPPED_KEY_COLUMNS.len());
    for c in WRAPPED_KEY_COLUMNS {
        counts.push((c.table, rewrap_column(db, keys, c).await?));
    }
    Ok(counts)
}

async fn rewrap_column(db: &PgPool, keys: &Keyring, c: &WrappedKeyColumn) -> anyhow::Result<u64> {
    // Table and column names come from the constant list above, never from
    // input.
    let select = format!(
        "SELECT id, {col} FROM {table} WHERE id > $1 AND {col} IS NOT NULL ORDER BY id LIMIT $2 FOR UPDATE",
        col = c.column,
        table = c.table
    );
    let update = format!(
        "UPDATE {table} SET {col} = $2 WHERE id = $1",
        col = c.column,
        table = c.table
    );
    let mut done = 0;
    let mut after = Uuid::nil();
    loop {
        let mut tx = db.begin().await?;
        let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(&select)
            .bind(after)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (id, wrapped) in &rows {
            let rewrapped = keys.rewrap(wrapped).map_err(|e| {
                anyhow::anyhow!(
                    "{}.{}: a data key cannot be re-wrapped: {e}",
                    c.table,
                    c.column
                )
            })?;
            sqlx::query(&update)
                .bind(id)
                .bind(rewrapped)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        done += rows.len() as u64;
    }
    Ok(done)
}

/// Data keys the configured keys cannot open, per table.
#[derive(Debug, thiserror::Error)]
#[error(
    "stored data keys cannot be opened with crypto.master_key or crypto.previous_master_keys ({}); \
     was a previous master key dropped before `nasvyazi keys rewrap` finished?",
    .0.iter().map(|(t, n)| format!("{t}: {n}")).collect::<Vec<_>>().join(", ")
)]
pub struct Unreadable(pub Vec<(&'static str, u64)>);

/// Checks that every stored data key opens with the configured keys (the
/// start-up check: a service refuses to start rather than lose data
/// silently). Reads every key once; contents are not touched.
pub async fn check_all_open(db: &PgPool, keys: &Keyring) -> anyhow::Result<()> {
    let mut bad = Vec::new();
    for c in WRAPPED_KEY_COLUMNS {
        let sql = format!(
            "SELECT {col} FROM {table} WHERE {col} IS NOT NULL",
            col = c.column,
            table = c.table
        );
        let mut rows = sqlx::query_scalar::<_, Vec<u8>>(&sql).fetch(db);
        let mut n = 0u64;
        while let Some(wrapped) = rows.try_next().await? {
            if keys.unwrap_data_key(&wrapped).is_err() {
                n += 1;
            }
        }
        if n > 0 {
            bad.push((c.table, n));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Unreadable(bad).into())
    }
}

/// Columns of the schema whose name contains `data_key` and which this
/// list does not know (`table.column`). Empty when the list is complete.
pub async fn unknown_columns(db: &PgPool) -> sqlx::Result<Vec<String>> {
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND column_name LIKE '%data\\_key%'
         ORDER BY 1, 2",
    )
    .fetch_all(db)
    .await?;
    Ok(found
        .into_iter()
        .filter(|(t, c)| {
            !WRAPPED_KEY_COLUMNS
                .iter()
                .any(|k| k.table == t && k.column == c)
        })
        .map(|(t, c)| format!("{t}.{c}"))
        .collect())
}
