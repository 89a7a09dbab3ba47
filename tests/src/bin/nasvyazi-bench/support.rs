//! Bench plumbing: a database of its own, real sealed contacts in bulk, the
//! release `nasvyazi` binary as a child process, and its peak memory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nasvyazi_shared::crypto::{Keyring, random_token, token_hash};
use nasvyazi_supporters::contacts::aad;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

/// A database of its own, migrated, with fresh keys and a NATS prefix.
pub struct BenchDb {
    pub url: String,
    pub name: String,
    pub pool: PgPool,
    pub keys: Keyring,
    pub prefix: String,
}

impl BenchDb {
    pub async fn new() -> anyhow::Result<BenchDb> {
        let (url, name) = nasvyazi_tests::create_database().await;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await?;
        nasvyazi_shared::db::migrate(&pool).await?;
        Ok(BenchDb {
            url,
            name,
            pool,
            keys: Keyring::generate(),
            prefix: nasvyazi_tests::unique_name("bench").replace('_', "-"),
        })
    }

    /// Environment for a child `nasvyazi` process on this database.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("NASVYAZI_DATABASE__URL".into(), self.url.clone()),
            (
                "NASVYAZI_NATS__URL".into(),
                nasvyazi_tests::servers().nats_url,
            ),
            ("NASVYAZI_NATS__PREFIX".into(), self.prefix.clone()),
            (
                "NASVYAZI_CRYPTO__MASTER_KEY".into(),
                self.keys.master_base64().expose_secret().to_string(),
            ),
            (
                "NASVYAZI_CRYPTO__BLIND_INDEX_KEY".into(),
                self.keys.blind_base64().expose_secret().to_string(),
            ),
            ("NASVYAZI_HTTP__LISTEN".into(), "127.0.0.1:0".into()),
            ("NASVYAZI_CONSOLE__LISTEN".into(), "127.0.0.1:0".into()),
            ("NASVYAZI_SCHEDULER__LISTEN".into(), "127.0.0.1:0".into()),
            ("NASVYAZI_NOTIFIER__LISTEN".into(), "127.0.0.1:0".into()),
            ("NASVYAZI_LOG__FILTER".into(), "warn".into()),
            ("NASVYAZI_LOG__FORMAT".into(), "json".into()),
        ]
    }

    /// `n` active email contacts, really sealed, in batches; attributes
    /// from the index: language i % 3, topic overdose for 3 in 4, region
    /// pavlodar for 1 in 5.
    pub async fn insert_contacts(&self, n: usize, domain: &str) -> anyhow::Result<()> {
        let langs = ["ru", "kk", "en"];
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            let (mut ids, mut bis, mut dks, mut cts, mut lg, mut tp, mut rg, mut uh, mut uc) = (
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
            );
            for j in i..end {
                let id = Uuid::now_v7();
                let address = format!("s{j}@{domain}");
                let (key, wrapped) = self.keys.new_data_key();
                let unsub = random_token(32);
                ids.push(id);
                bis.push(self.keys.blind_index("email", &address));
                dks.push(wrapped);
                cts.push(key.seal(address.as_bytes(), &aad(id, "address")));
                lg.push(langs[j % 3].to_string());
                tp.push(if j % 4 == 3 {
                    "{hiv}".to_string()
                } else {
                    "{overdose}".to_string()
                });
                rg.push(if j % 5 == 0 {
                    Some("pavlodar".to_string())
                } else {
                    None
                });
                uh.push(token_hash(&unsub));
                uc.push(key.seal(unsub.as_bytes(), &aad(id, "unsubscribe")));
            }
            sqlx::query(
                "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language, topics, region,
                     unsub_token_hash, unsub_token_ct, confirmed_at)
                 SELECT u.id, 'email', 'active', u.bi, u.dk, u.ct, u.lg, u.tp::text[], u.rg, u.uh, u.uc, now()
                 FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::bytea[], $9::bytea[])
                      AS u(id, bi, dk, ct, lg, tp, rg, uh, uc)",
            )
            .bind(&ids)
            .bind(&bis)
            .bind(&dks)
            .bind(&cts)
            .bind(&lg)
            .bind(&tp)
            .bind(&rg)
            .bind(&uh)
            .bind(&uc)
            .execute(&self.pool)
            .await?;
            i = end;
        }
        sqlx::query("ANALYZE contacts").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn drop(self) {
        self.pool.close().await;
        nasvyazi_tests::drop_database(&self.name).await;
    }
}

/// The release binary (built by `just bench`), or NASVYAZI_BIN.
pub fn nasvyazi_bin() -> PathBuf {
    std::env::var_os("NASVYAZI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/release/nasvyazi"
            ))
        })
}

/// Starts `nasvyazi <service>` with `env`.
pub fn spawn_service(service: &str, env: &[(String, String)]) -> anyhow::Result<Child> {
    let bin = nasvyazi_bin();
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p nasvyazi-cli`",
        bin.display()
    );
    Ok(Command::new(bin)
        .arg(service)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// Peak resident memory of a process so far (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Stops a child with SIGTERM (graceful), then kills it.
pub async fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Percentile (0..=100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Arguments for Postfix's smtp-sink on `port` (as root it must drop to
/// an unprivileged user).
pub fn sink_args(port: u16) -> Vec<String> {
    let mut args = Vec::new();
    if nix_is_root() {
        args.extend(["-u".to_string(), "nobody".to_string()]);
    }
    args.extend([format!("127.0.0.1:{port}"), "1024".to_string()]);
    args
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
