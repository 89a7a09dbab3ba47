//! Reading SMTP lines from an untrusted client in bounded pieces: a line
//! is kept only up to its cap (the rest of an over-long line is skipped as
//! it arrives, never buffered), a read stops at a byte budget without
//! waiting for the line to end, and every wait ends at a deadline.
//!
//! Must never grow a buffer past its cap from what a client sends, nor wait
//! past the deadline it was given.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::time::{Instant, timeout_at};

/// What one read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line ended by LF, `wire` bytes long on the wire (LF included).
    /// Its bytes are in the buffer if it fitted the cap (`kept`); if it did
    /// not, the buffer is empty and the line was skipped.
    Complete { wire: usize, kept: bool },
    /// More than the budget arrived without a line end: reading stopped
    /// there, and the rest is left unread.
    OverBudget,
    /// The client closed the connection (mid-line or between lines).
    Closed,
}

/// Reads one line into `line` (cleared first), keeping at most `cap`
/// bytes of it, reading at most `budget` bytes, waiting until `deadline`
/// (then `ErrorKind::TimedOut`). `line` never grows past `cap`.
pub async fn read<R: AsyncBufRead + Unpin>(
    r: &mut R,
    line: &mut Vec<u8>,
    cap: usize,
    budget: usize,
    deadline: Instant,
) -> std::io::Result<Line> {
    line.clear();
    let mut wire = 0usize;
    let mut kept = true;
    loop {
        let buf = match timeout_at(deadline, r.fill_buf()).await {
            Ok(buf) => buf?,
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        };
        if buf.is_empty() {
            return Ok(Line::Closed);
        }
        let (n, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if wire + n > budget {
            return Ok(Line::OverBudget);
        }
        if kept {
            if line.len() + n <= cap {
                line.extend_from_slice(&buf[..n]);
            } else {
                kept = false;
                line.clear();
            }
        }
        r.consume(n);
        wire += n;
        if ended {
            return Ok(Line::Complete { wire, kept });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncWriteExt, BufReader};

    use super::*;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn lines_within_the_cap_are_kept_longer_ones_skipped() {
        let input = format!("short\r\n{}\r\nafter\n", "x".repeat(5000));
        let mut r = BufReader::with_capacity(64, input.as_bytes());
        let mut line = Vec::with_capacity(10);
        let got = read(&mut r, &mut line, 10, usize::MAX, later()).await;
        assert_eq!(
            got.unwrap(),
            Line::Complete {
                wire: 7,
                kept: true
            }
        );
        assert_eq!(line, b"short\r\n");
        let got = read(&mut r, &mut line, 10, usize::MAX, later()).await;
        assert_eq!(
            got.unwrap(),
            Line::Complete {
                wire: 5002,
                kept: false
            }
        );
        assert!(line.is_empty() && line.capacity() <= 10);
        let got = read(&mut r, &mut line, 10, usize::MAX, later()).await;
        assert_eq!(
            got.unwrap(),
            Line::Complete {
                wire: 6,
                kept: true
            }
        );
        assert_eq!(line, b"after\n");
        let got = read(&mut r, &mut line, 10, usize::MAX, later()).await;
        assert_eq!(got.unwrap(), Line::Closed);
    }

    #[tokio::test]
    async fn an_endless_line_stops_at_the_budget() {
        let input = vec![b'a'; 1 << 20];
        let mut r = BufReader::with_capacity(4096, &input[..]);
        let mut line = Vec::with_capacity(1000);
        let got = read(&mut r, &mut line, 1000, 100_000, later()).await;
        assert_eq!(got.unwrap(), Line::OverBudget);
        assert!(line.capacity() <= 1000);
    }

    #[tokio::test]
    async fn a_silent_client_times_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut r = BufReader::new(server);
        let mut client = client;
        client.write_all(b"no end").await.unwrap();
        let mut line = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(50);
        let got = read(&mut r, &mut line, 100, 100, deadline).await;
        assert_eq!(got.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    }
}
