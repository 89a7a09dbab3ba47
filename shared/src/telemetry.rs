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
