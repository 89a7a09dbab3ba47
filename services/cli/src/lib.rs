//! The `nasvyazi` command line: the all-in-one `up`, one service at a time,
//! migrations, tokens, keys and the effective configuration.
//!
//! A library so tests drive the same commands in-process; `main.rs` only
//! parses arguments and calls [`execute`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use nasvyazi_shared::auth::{self, Role};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::{Config, db, shutdown, telemetry};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "nasvyazi",
    version,
    about = "Notifications and campaign outreach for community organisations"
)]
pub struct Cli {
    /// Configuration file (TOML); also NASVYAZI_CONFIG.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run front, scheduler and notifier in one process.
    Up,
    /// Run only the HTTP front door (crate `nasvyazi-front`). `intake`, its
    /// name before issue 25, is still accepted so deployed units keep running.
    #[command(alias = "intake")]
    Front,
    /// Run only the scheduler.
    Scheduler,
    /// Run only the notifier.
    Notifier,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration, every secret redacted.
    Config {
        /// Print the commented defaults file instead.
        #[arg(long)]
        defaults: bool,
    },
    /// Admin API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// People who sign in to the console (/admin).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print fresh encryption keys (master key and blind-index key).
    Keygen,
    /// Key maintenance.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The officials directory (letters): CSV import and export.
    Officials {
        #[command(subcommand)]
        command: OfficialsCommand,
    },
    /// Erase a supporter for good (crypto-shredding), e.g. on request.
    Erase {
        /// The supporter's email address.
        #[arg(long)]
        email: String,
    },
    /// Run the local Telegram Bot API fake (tests and the demo; never with
    /// a real bot token or real people).
    TelegramFake {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// A bot token it accepts, e.g. 123456:DEMO (repeatable).
        #[arg(long = "token", required = true)]
        tokens: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OfficialsCommand {
    /// Import a CSV file (name,position,organisation,email,language,
    /// time_zone,office_hours,daily_cap): every row, or, if any row is bad,
    /// none, with a report of every bad row.
    Import { file: PathBuf },
    /// Print the directory as CSV (the import's format, with ids).
    Export,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every data key under the current master key (after moving
    /// the old one to crypto.previous_master_keys).
    Rewrap,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a console user (e.g. the first admin). Prints a generated
    /// password once, unless one is read from stdin.
    Create {
        #[arg(long)]
        role: Role,
        /// The name shown in the console.
        #[arg(long)]
        name: String,
        /// The address sign-in links go to (sealed at rest).
        #[arg(long)]
        email: String,
        /// The console language: ru, kk or en.
        #[arg(long, default_value = "ru")]
        language: String,
        /// Read the password from the first line of stdin instead.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
    },
}

/// Runs one command; output meant for the user goes to `out`.
pub async fn execute(cli: Cli, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    // Keys and defaults need no configuration at all.
    match &cli.command {
        Command::Keygen => return keygen(out),
        Command::TelegramFake { listen, tokens } => {
            return telegram_fake(*listen, tokens.clone(), out).await;
        }
        Command::Config { defaults: true } => {
            out.write_all(nasvyazi_shared::config::DEFAULTS.as_bytes())?;
            return Ok(());
        }
        _ => {}
    }
    let config = Arc::new(Config::load(cli.config.as_deref())?);
    telemetry::init_tracing(&config.log);
    match cli.command {
        Command::Up => up(config, out).await,
        Command::Front => one(config, Service::Front).await,
        Command::Scheduler => one(config, Service::Scheduler).await,
        Command::Notifier => one(config, Service::Notifier).await,
        Command::Migrate => {
            let pool = db::connect(&config.database, "nasvyazi-cli").await?;
            db::migrate(&pool).await?;
            writeln!(out, "migrations applied")?;
            Ok(())
        }
        Command::Config { .. } => {
            out.write_all(config.to_redacted_toml().as_bytes())?;
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { role, name },
        } => token_create(&config, role, &name, out).await,
        Command::User {
            command:
                UserCommand::Create {
                    role,
                    name,
                    email,
                    language,
                    password_stdin,
                },
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            user_create(&config, role, &name, &email, &language, password, out).await
        }
        Command::Erase { email } => erase(&config, &email, out).await,
        Command::Officials { command } => officials(&config, command, out).await,
        Command::Keys {
            command: KeysCommand::Rewrap,
        } => {
            let keys = Keyring::from_config(&config.crypto)?;
            let pool = db::connect(&config.database, "nasvyazi-cli").await?;
            db::migrate(&pool).await?;
            let counts = nasvyazi_shared::rewrap::rewrap_all(&pool, &keys).await?;
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            let per_table: serde_json::Map<String, serde_json::Value> = counts
                .iter()
                .map(|(t, n)| (t.to_string(), (*n).into()))
                .collect();
            let mut tx = pool.begin().await?;
            auth::audit(
                &mut tx,
                "cli",
                None,
                "keys.rewrap",
                None,
                serde_json::Value::Object(per_table),
            )
            .await?;
            tx.commit().await?;
            for (table, n) in &counts {
                writeln!(out, "{table}: {n}")?;
            }
            writeln!(out, "re-wrapped {total} data keys")?;
            Ok(())
        }
        Command::Keygen | Command::TelegramFake { .. } => unreachable!("handled above"),
    }
}

/// `nasvyazi telegram-fake`: serves the fake until SIGINT / SIGTERM.
async fn telegram_fake(
    listen: SocketAddr,
    tokens: Vec<String>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let listener = bind(listen, "--listen").await?;
    let bots: Vec<&str> = tokens
        .iter()
        .map(|t| nasvyazi_shared::telegram::bot_id(t))
        .collect();
    writeln!(
        out,
        "Telegram Bot API fake on http://{} (bots {}); control API under /control/",
        listener.local_addr()?,
        bots.join(", ")
    )?;
    out.flush()?;
    let shutdown_token = CancellationToken::new();
    shutdown::cancel_on_signal(shutdown_token.clone());
    let config = nasvyazi_telegram_fake::FakeConfig {
        tokens,
        rate_limits: true,
    };
    nasvyazi_telegram_fake::serve(listener, config, shutdown_token).await
}

fn keygen(out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let keys = Keyring::generate();
    writeln!(
        out,
        "# Fresh keys: keep them secret and back them up; losing the master key loses every contact."
    )?;
    writeln!(
        out,
        "NASVYAZI_CRYPTO__MASTER_KEY={}",
        keys.master_base64().expose_secret()
    )?;
    writeln!(
        out,
        "NASVYAZI_CRYPTO__BLIND_INDEX_KEY={}",
        keys.blind_base64().expose_secret()
    )?;
    Ok(())
}

async fn token_create(
    config: &Config,
    role: Role,
    name: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 100,
        "--name: 1 to 100 characters"
    );
    let pool = db::connect(&config.database, "nasvyazi-cli").await?;
    db::migrate(&pool).await?;
    let mut tx = pool.begin().await?;
    let token = auth::create_token(&mut tx, role, name, "cli").await?;
    auth::audit(
        &mut tx,
        "cli",
        None,
        "token.create",
        Some(&token.id.to_string()),
        serde_json::json!({ "role": role.as_str() }),
    )
    .await?;
    tx.commit().await?;
    writeln!(out, "{}", token.token.expose_secret())?;
    Ok(())
}

async fn officials(
    config: &Config,
    command: OfficialsCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    use nasvyazi_letters::officials;
    let keys = Keyring::from_config(&config.crypto)?;
    let pool = db::connect(&config.database, "nasvyazi-cli").await?;
    db::migrate(&pool).await?;
    match command {
        OfficialsCommand::Import { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match officials::import_csv(&pool, &keys, config, &bytes, "cli").await? {
                Ok(done) => writeln!(
                    out,
                    "imported: {} new, {} updated",
                    done.created, done.updated
                )?,
                Err(rows) => {
                    for r in &rows {
                        writeln!(out, "row {}, column {}: {}", r.row, r.column, r.reason)?;
                    }
                    anyhow::bail!("{} bad row(s); nothing was imported", rows.len());
                }
            }
        }
        OfficialsCommand::Export => {
            let all = officials::list(&pool, &keys).await?;
            out.write_all(&officials::csv_io::export(&all)?)?;
        }
    }
    Ok(())
}

/// `nasvyazi user create`: audited as `cli`; the generated password is
/// printed once (never logged), a given one is not echoed.
async fn user_create(
    config: &Config,
    role: Role,
    name: &str,
    email: &str,
    language: &str,
    password: Option<String>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    use nasvyazi_staff::users;
    let email = nasvyazi_shared::email::EmailAddress::parse(email)
        .map_err(|_| anyhow::anyhow!("--email: not a valid email address"))?;
    let language = nasvyazi_shared::i18n::Lang::parse(language)
        .ok_or_else(|| anyhow::anyhow!("--language: ru, kk or en"))?;
    let generated = password.is_none();
    let password = password.unwrap_or_else(|| users::generate_password().to_string());
    let keys = Keyring::from_config(&config.crypto)?;
    let pool = db::connect(&config.database, "nasvyazi-cli").await?;
    db::migrate(&pool).await?;
    let mut tx = pool.begin().await?;
    let user = users::NewUser {
        name,
        email: &email,
        role,
        language,
    };
    let id = users::create(&mut tx, &keys, &user, Some(&password), "cli", None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    if generated {
        writeln!(out, "{password}")?;
    } else {
        writeln!(out, "created console user {id}")?;
    }
    Ok(())
}

async fn erase(config: &Config, email: &str, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let email = nasvyazi_shared::email::EmailAddress::parse(email)?;
    let keys = nasvyazi_shared::crypto::Keyring::from_config(&config.crypto)?;
    let pool = db::connect(&config.database, "nasvyazi-cli").await?;
    db::migrate(&pool).await?;
    match nasvyazi_supporters::subscriptions::erase_by_email(&pool, &keys, &email, "cli").await? {
        Some(id) => writeln!(out, "erased contact {id}")?,
        None => writeln!(out, "no contact with this address")?,
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Service {
    Front,
    Scheduler,
    Notifier,
}

impl Service {
    fn listen(self, c: &Config) -> SocketAddr {
        match self {
            Service::Front => c.http.listen,
            Service::Scheduler => c.scheduler.listen,
            Service::Notifier => c.notifier.listen,
        }
    }

    /// Starts the service; front also takes `console` (its staff listener).
    fn spawn(
        self,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        config: Arc<Config>,
        listener: TcpListener,
        console: Option<TcpListener>,
        shutdown: CancellationToken,
    ) {
        match self {
            Service::Front => {
                let console = console.expect("front is given its console listener");
                let listeners = nasvyazi_front::Listeners {
                    public: listener,
                    console,
                };
                tasks.spawn(nasvyazi_front::run(config, listeners, shutdown))
            }
            Service::Scheduler => tasks.spawn(nasvyazi_scheduler::run(config, listener, shutdown)),
            Service::Notifier => tasks.spawn(nasvyazi_notifier::run(config, listener, shutdown)),
        };
    }
}

async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{key}: cannot listen on {addr}"))
}

async fn one(config: Arc<Config>, service: Service) -> anyhow::Result<()> {
    let key = match service {
        Service::Front => "http.listen",
        Service::Scheduler => "scheduler.listen",
        Service::Notifier => "notifier.listen",
    };
    let listener = bind(service.listen(&config), key).await?;
    let console = match service {
        Service::Front => Some(bind(config.console.listen, "console.listen").await?),
        _ => None,
    };
    let shutdown_token = CancellationToken::new();
    shutdown::cancel_on_signal(shutdown_token.clone());
    let mut tasks = JoinSet::new();
    service.spawn(
        &mut tasks,
        config,
        listener,
        console,
        shutdown_token.clone(),
    );
    shutdown::supervise(tasks, shutdown_token).await
}

async fn up(config: Arc<Config>, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let front = bind(config.http.listen, "http.listen").await?;
    let console = bind(config.console.listen, "console.listen").await?;
    let scheduler = bind(config.scheduler.listen, "scheduler.listen").await?;
    let notifier = bind(config.notifier.listen, "notifier.listen").await?;
    let shutdown_token = CancellationToken::new();
    shutdown::cancel_on_signal(shutdown_token.clone());
    writeln!(out, "nasvyazi is starting:")?;
    writeln!(
        out,
        "  front      http://{}  (public pages, public API)",
        front.local_addr()?
    )?;
    writeln!(
        out,
        "  console    http://{}/admin  (staff: console, admin API, /metrics, /api/openapi.json)",
        console.local_addr()?
    )?;
    writeln!(
        out,
        "  scheduler  http://{}/readyz",
        scheduler.local_addr()?
    )?;
    writeln!(out, "  notifier   http://{}/readyz", notifier.local_addr()?)?;
    out.flush()?;
    let mut tasks = JoinSet::new();
    Service::Front.spawn(
        &mut tasks,
        config.clone(),
        front,
        Some(console),
        shutdown_token.clone(),
    );
    Service::Scheduler.spawn(
        &mut tasks,
        config.clone(),
        scheduler,
        None,
        shutdown_token.clone(),
    );
    Service::Notifier.spawn(&mut tasks, config, notifier, None, shutdown_token.clone());
    shutdown::supervise(tasks, shutdown_token).await
}
