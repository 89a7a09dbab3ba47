//! Captures every log line of the test process (and still prints them when a
//! test fails, through the test harness's capture), so tests can prove that
//! no personal value ever reached a log.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

static BUFFER: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

fn buffer() -> &'static Mutex<Vec<u8>> {
    BUFFER.get_or_init(|| Mutex::new(Vec::new()))
}

/// Installs the capturing subscriber once per process (JSON lines, debug
/// level for nasvyazi's crates).
pub fn init() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let config = nasvyazi_shared::config::LogConfig {
            format: nasvyazi_shared::config::LogFormat::Json,
            filter: "info,nasvyazi=debug".into(),
        };
        nasvyazi_shared::telemetry::init_tracing_with(&config, Capture);
    });
}

/// Everything logged so far in this process.
pub fn captured() -> String {
    String::from_utf8_lossy(&buffer().lock().unwrap()).into_owned()
}

#[derive(Clone, Copy)]
struct Capture;

struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        buffer().lock().unwrap().extend_from_slice(buf);
        // Also to the harness's captured stdout, shown for failing tests.
        print!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter
    }
}
