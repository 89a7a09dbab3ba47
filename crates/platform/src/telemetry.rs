//! Tracing: human format on a terminal, JSON lines otherwise. Log ids, never
//! personal data: no address, chat id, name or appeal text in any field.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; a second call (tests, `up`) is a no-op.
pub fn init_tracing(config: &LogConfig) {
    init_tracing_with(config, std::io::stderr);
}

/// As [`init_tracing`], writing to `writer` (tests capture every line).
pub fn init_tracing_with<W>(config: &LogConfig, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    install_panic_hook();
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Panics are logged through tracing (as JSON lines where logs are JSON)
/// with their location, and counted; the message is cut to one short line
/// (our own panic messages name ids, never personal data); then the
/// previous hook runs as before (a backtrace on stderr when asked for).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let message: String = message
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(200)
                .collect();
            metrics::counter!("nasvyazi_panics_total").increment(1);
            tracing::error!(panic.location = %location, panic.message = %message, "a task panicked");
            previous(info);
        }));
    });
}
