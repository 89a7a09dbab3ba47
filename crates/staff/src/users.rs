//! The people who sign in to the console (`console_users`): creation (the
//! CLI's `nasvyazi user create` and the admin's users page), passwords
//! (argon2id), the per-user lock-out, TOTP secrets, the language.
//!
//! The email address is sealed under the row's data key and found by its
//! blind index; passwords and TOTP secrets never leave this module in a log
//! line, an error or an audit row.

use std::sync::OnceLock;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use crate::auth::{self, Role};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use chrono::{DateTime, Utc};
use nasvyazi_crypto::Keyring;
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::i18n::Lang;
use rand::Rng;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::throttle;

/// The blind-index kind of a console user's address (its own domain: users
/// cannot be joined with supporters).
pub const BLIND_KIND: &str = crate::console::USER_BLIND_KIND;

/// Passwords: at least this many characters...
pub const MIN_PASSWORD: usize = 10;
/// ... and at most this many (argon2 takes any length; a bound keeps the
/// work per request bounded).
pub const MAX_PASSWORD: usize = 200;

/// Associated data of a sealed user field.
pub fn aad(id: Uuid, field: &str) -> Vec<u8> {
    crate::console::user_aad(id, field)
}

/// The blind index of an address.
pub fn email_bi(keys: &Keyring, email: &EmailAddress) -> Vec<u8> {
    keys.blind_index(BLIND_KIND, &email.normalised())
}

/// A new user as given.
pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: &'a EmailAddress,
    pub role: Role,
    pub language: Lang,
}

/// Why a user was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("name: 1 to 100 characters")]
    Name,
    #[error("password: 10 to 200 characters")]
    Password,
    #[error("a console user with this address exists")]
    Duplicate,
}

/// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's
/// recommendation) as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| anyhow::anyhow!("argon2: cannot hash"))
}

/// The most memory a stored hash may ask for (argon2's `m`, KiB): far
/// above ours (19 MiB), so a hash made elsewhere still verifies, but
/// bounded.
const MAX_MEMORY_KIB: u32 = 64 * 1024;

thread_local! {
    /// argon2's working memory, kept by each hashing thread: a hash
    /// allocates nothing, so memory stays one block set per thread (with a
    /// fresh allocation per hash the process grew by 19 MiB a hash).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::Salt;
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (h.hash, h.salt) else {
        return false;
    };
    let (Ok(params), Ok(alg)) = (
        argon2::Params::try_from(&h),
        argon2::Algorithm::try_from(h.algorithm),
    ) else {
        return false;
    };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let need = params.block_count();
    let hashed = BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        Argon2::new(alg, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut blocks[..need],
            )
            .is_ok()
    });
    hashed && nasvyazi_crypto::ct_eq(&out, expected.as_bytes())
}

/// A hash no password matches, verified against when there is no user (or
/// no password), so that the answer takes as long either way.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_password()).expect("argon2 hashes"))
}

/// argon2 (19 MiB each) runs on its own threads, one per core, never on
/// the blocking pool; at most [`HASH_QUEUE`] more hashes wait for one, and
/// beyond that a request is refused without hashing. Unbounded, a hundred
/// parallel sign-ins took the process from 249 MB to 1.9 GB, and even a
/// bound on how many run at once is not enough on the blocking pool: each
/// of its many threads keeps its own allocator arena with a freed 19 MiB
/// in it. (One pool per process, as the CPU: a static.)
struct Hashing {
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// The last hash's duration in microseconds: what an answer that skips
    /// the hash (a locked account) waits instead, so it takes as long.
    last_micros: AtomicU64,
    started: AtomicU64,
    running: AtomicUsize,
    peak: AtomicUsize,
}

type Job = Box<dyn FnOnce() + Send>;

/// Hashes waiting for a hashing thread, at most.
pub const HASH_QUEUE: usize = 16;

fn hashing() -> &'static Hashing {
    static H: OnceLock<Hashing> = OnceLock::new();
    H.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(HASH_QUEUE);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let q = queue.lock().unwrap_or_else(|p| p.into_inner());
                            q.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("a hashing thread starts");
        }
        Hashing {
            jobs,
            last_micros: AtomicU64::new(50_000),
            started: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    })
}

/// How many hashes this process has started, and the most that ever ran
/// at once (what the tests read).
pub fn hash_stats() -> (u64, usize) {
    let h = hashing();
    (h.started.load(Relaxed), h.peak.load(Relaxed))
}

/// Runs `f` (an argon2 hash) on a hashing thread; `None` when too many
/// are waiting already.
pub async fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let h = hashing();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let h = hashing();
        h.started.fetch_add(1, Relaxed);
        let now = h.running.fetch_add(1, Relaxed) + 1;
        h.peak.fetch_max(now, Relaxed);
        let started = std::time::Instant::now();
        let out = f();
        h.last_micros.store(
            started.elapsed().as_micros().min(u64::MAX as u128) as u64,
            Relaxed,
        );
        h.running.fetch_sub(1, Relaxed);
        let _ = tx.send(out);
    });
    h.jobs.try_send(job).ok()?;
    rx.await.ok()
}

/// Waits about as long as a hash takes, without hashing (a locked account
/// costs no memory or CPU, and answers no faster than an open one).
pub async fn hash_delay() {
    let micros = hashing().last_micros.load(Relaxed);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// Verifies under the hashing bound (argon2 is meant to be slow). Unknown
/// addresses are checked against a decoy hash, so they take as long. Busy
/// (too many waiting) counts as a mismatch.
pub async fn verify_blocking(hash: Option<String>, password: Zeroizing<String>) -> bool {
    let real = hash.is_some();
    let ok = bounded(move || {
        // The decoy is made (once) on a hashing thread too.
        let hash = hash.as_deref().unwrap_or_else(|| decoy_hash());
        verify_password(hash, &password)
    })
    .await
    .unwrap_or(false);
    ok && real
}

/// Hashes a new password under the hashing bound; `None` when busy.
pub async fn hash_bounded(password: Zeroizing<String>) -> Option<anyhow::Result<String>> {
    bounded(move || hash_password(&password)).await
}

/// A generated password: 16 characters that cannot be mistaken for one
/// another, in groups of four (about 79 bits).
pub fn generate_password() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    Zeroizing::new(
        chars
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-"),
    )
}

pub fn valid_password(p: &str) -> bool {
    (MIN_PASSWORD..=MAX_PASSWORD).contains(&p.chars().count())
}

/// Creates a user in the caller's transaction and audits it as `actor`.
/// `password: None` makes a user who signs in with emailed links.
pub async fn create(
    conn: &mut PgConnection,
    keys: &Keyring,
    user: &NewUser<'_>,
    password: Option<&str>,
    actor: &str,
    actor_role: Option<Role>,
) -> anyhow::Result<Result<Uuid, Refused>> {
    let name = user.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Ok(Err(Refused::Name));
    }
    if password.is_some_and(|p| !valid_password(p)) {
        return Ok(Err(Refused::Password));
    }
    let bi = email_bi(keys, user.email);
    let taken: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM console_users WHERE email_bi = $1)")
            .bind(&bi)
            .fetch_one(&mut *conn)
            .await?;
    if taken {
        return Ok(Err(Refused::Duplicate));
    }
    let hash = match password {
        Some(p) => Some(
            hash_bounded(Zeroizing::new(p.to_string()))
                .await
                .ok_or_else(|| anyhow::anyhow!("argon2: too many hashes waiting"))??,
        ),
        None => None,
    };
    let id = Uuid::now_v7();
    let (key, wrapped) = keys.new_data_key();
    sqlx::query(
        "INSERT INTO console_users (id, name, role, language, email_bi, data_key, email_ct, password_hash, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(name)
    .bind(user.role.as_str())
    .bind(user.language.code())
    .bind(&bi)
    .bind(&wrapped)
    .bind(key.seal(user.email.expose().as_bytes(), &aad(id, "email")))
    .bind(hash)
    .bind(actor)
    .execute(&mut *conn)
    .await?;
    auth::audit(
        conn,
        actor,
        actor_role,
        "user.create",
        Some(&id.to_string()),
        serde_json::json!({ "role": user.role.as_str() }),
    )
    .await?;
    tracing::info!(user_id = %id, role = user.role.as_str(), "console user created");
    Ok(Ok(id))
}

/// What sign-in needs to know about an account.
pub struct Account {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub has_totp: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled: bool,
}

impl Account {
    pub fn locked(&self) -> bool {
        self.disabled || self.locked_until.is_some_and(|t| t > Utc::now())
    }
}

/// The account with this address, if any.
pub async fn find_by_email(
    db: &PgPool,
    keys: &Keyring,
    email: &EmailAddress,
) -> sqlx::Result<Option<Account>> {
    find_by_bi(db, &email_bi(keys, email)).await
}

/// The account with this blind index of its address, if any.
pub async fn find_by_bi(db: &PgPool, bi: &[u8]) -> sqlx::Result<Option<Account>> {
    type Row = (Uuid, Option<String>, bool, Option<DateTime<Utc>>, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, password_hash, totp_ct IS NOT NULL, locked_until, disabled_at IS NOT NULL
         FROM console_users WHERE email_bi = $1",
    )
    .bind(bi)
    .fetch_optional(db)
    .await?;
    Ok(row.map(
        |(id, password_hash, has_totp, locked_until, disabled)| Account {
            id,
            password_hash,
            has_totp,
            locked_until,
            disabled,
        },
    ))
}

/// Counts a failed password or code in the caller's transaction; locks the
/// account with back-off once the allowance is used up, and then ends
/// every session still waiting for its code. Returns whether it is now
/// locked (`false` when no user has the id: the sign-in runs the same
/// statement for an unknown address).
pub async fn record_failure(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let failures: Option<i32> = sqlx::query_scalar(
        "UPDATE console_users SET failed_attempts = failed_attempts + 1, updated_at = now()
         WHERE id = $1 RETURNING failed_attempts",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(failures) = failures else {
        return Ok(false);
    };
    let lock = throttle::backoff(failures.max(0) as u32, throttle::USER_FREE as u32);
    if let Some(d) = lock {
        sqlx::query("UPDATE console_users SET locked_until = $2 WHERE id = $1")
            .bind(id)
            .bind(Utc::now() + chrono::Duration::from_std(d).unwrap_or_default())
            .execute(&mut *conn)
            .await?;
        // A guess per waiting session would otherwise go on while locked.
        crate::sessions::end_waiting(&mut *conn, id).await?;
        tracing::warn!(user_id = %id, failures, "console account locked after repeated failures");
    }
    Ok(lock.is_some())
}

/// Whether the account is locked (or disabled) now, holding its row until
/// the caller's transaction ends: a code or password is then checked and
/// its failure counted one request at a time, so a burst of parallel
/// guesses cannot all pass before the lock. While locked a second factor
/// or an account change is refused, whatever the code or password.
pub async fn lock_row(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(locked_until > now(), false) OR disabled_at IS NOT NULL
         FROM console_users WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .unwrap_or(true))
}

/// Whether the account is disabled.
pub async fn is_disabled(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT disabled_at IS NOT NULL FROM console_users WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .unwrap_or(true),
    )
}

/// Makes every unused sign-in link of the user unusable (a new password).
pub async fn revoke_links(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE console_sign_in_links SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A complete sign-in: failures forgotten.
pub async fn record_success(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE console_users SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The user's address, decrypted (test sends to oneself, sign-in links).
pub async fn email_of(db: &PgPool, keys: &Keyring, id: Uuid) -> anyhow::Result<EmailAddress> {
    let (wrapped, ct): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT data_key, email_ct FROM console_users WHERE id = $1")
            .bind(id)
            .fetch_one(db)
            .await?;
    let key = keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("console user {id}: data key: {e}"))?;
    let s = key
        .open_string(&ct, &aad(id, "email"))
        .map_err(|e| anyhow::anyhow!("console user {id}: email: {e}"))?;
    EmailAddress::parse(&s)
        .map_err(|_| anyhow::anyhow!("console user {id}: stored address unreadable"))
}

/// The confirmed TOTP secret (`pending: false`) or the one being set up,
/// and the last accepted step.
pub async fn totp_secret(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
    pending: bool,
) -> anyhow::Result<Option<(Zeroizing<Vec<u8>>, u64)>> {
    let (wrapped, ct, last): (Vec<u8>, Option<Vec<u8>>, i64) = sqlx::query_as(if pending {
        "SELECT data_key, totp_pending_ct, totp_last_step FROM console_users WHERE id = $1"
    } else {
        "SELECT data_key, totp_ct, totp_last_step FROM console_users WHERE id = $1"
    })
    .bind(id)
    .fetch_one(db)
    .await?;
    let Some(ct) = ct else { return Ok(None) };
    let key = keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("console user {id}: data key: {e}"))?;
    let secret = key
        .open(&ct, &aad(id, "totp"))
        .map_err(|e| anyhow::anyhow!("console user {id}: totp: {e}"))?;
    Ok(Some((Zeroizing::new(secret.to_vec()), last.max(0) as u64)))
}

/// Seals a TOTP secret for the user (same associated data for the pending
/// and the confirmed column: confirming moves the ciphertext).
pub async fn seal_totp(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
    secret: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT data_key FROM console_users WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await?;
    let key = keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("console user {id}: data key: {e}"))?;
    Ok(key.seal(secret, &aad(id, "totp")))
}

/// Records the accepted step (a code is never accepted twice). `false` if
/// another request took this step first.
pub async fn take_step(conn: &mut PgConnection, id: Uuid, step: u64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE console_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
    )
    .bind(id)
    .bind(step as i64)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// One line of the users page: no address.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct UserLine {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub language: String,
    pub has_password: bool,
    pub has_totp: bool,
    pub locked: bool,
    pub disabled: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

pub async fn list(db: &PgPool) -> sqlx::Result<Vec<UserLine>> {
    sqlx::query_as(
        "SELECT id, name, role, language, password_hash IS NOT NULL AS has_password,
                totp_ct IS NOT NULL AS has_totp, coalesce(locked_until > now(), false) AS locked,
                disabled_at IS NOT NULL AS disabled, last_sign_in_at
         FROM console_users ORDER BY disabled_at NULLS FIRST, name",
    )
    .fetch_all(db)
    .await
}
