//! Telegram's flood limits on sending, enforced strictly.
//!
//! Telegram documents about 30 messages a second per bot, one message a
//! second per private chat (short bursts tolerated) and 20 messages a minute
//! per group or channel. The fake answers the first message over any of them
//! with 429 and the whole seconds until it would be allowed; it tolerates no
//! burst, so a sender that passes here passes there.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Messages a bot may send in any one second, to all chats together.
pub const PER_BOT_PER_SECOND: usize = 30;
/// Messages a bot may send to one private chat in any one second.
pub const PER_PRIVATE_CHAT_PER_SECOND: usize = 1;
/// Messages a bot may send to one group or channel in any one minute.
pub const PER_GROUP_PER_MINUTE: usize = 20;

/// The send times in each window, by bot and by (bot, chat).
#[derive(Debug, Default)]
pub struct Limits {
    per_bot: HashMap<i64, VecDeque<Instant>>,
    per_chat: HashMap<(i64, i64), VecDeque<Instant>>,
}

/// How long until one more send fits into a sliding window, if it doesn't now.
fn wait_in(
    sends: Option<&VecDeque<Instant>>,
    limit: usize,
    window: Duration,
    now: Instant,
) -> Option<Duration> {
    let sends = sends?;
    let recent: Vec<&Instant> = sends
        .iter()
        .filter(|t| now.duration_since(**t) < window)
        .collect();
    if recent.len() < limit {
        return None;
    }
    // The send that has to leave the window first.
    let oldest = recent[recent.len() - limit];
    Some((*oldest + window).saturating_duration_since(now))
}

impl Limits {
    /// `Err(retry_after)` in whole seconds (rounded up, at least 1) when a
    /// message from `bot_id` to `chat_id` would go over a limit now.
    pub fn check(&self, bot_id: i64, chat_id: i64, private: bool, now: Instant) -> Result<(), u64> {
        let (chat_limit, chat_window) = chat_window(private);
        let waits = [
            wait_in(
                self.per_bot.get(&bot_id),
                PER_BOT_PER_SECOND,
                Duration::from_secs(1),
                now,
            ),
            wait_in(
                self.per_chat.get(&(bot_id, chat_id)),
                chat_limit,
                chat_window,
                now,
            ),
        ];
        match waits.into_iter().flatten().max() {
            None => Ok(()),
            Some(wait) => Err(wait.as_secs_f64().ceil().max(1.0) as u64),
        }
    }

    /// Counts a message that was sent.
    pub fn record(&mut self, bot_id: i64, chat_id: i64, private: bool, now: Instant) {
        let (_, chat_window) = chat_window(private);
        let per_bot = self.per_bot.entry(bot_id).or_default();
        per_bot.push_back(now);
        prune(per_bot, Duration::from_secs(1), now);
        let per_chat = self.per_chat.entry((bot_id, chat_id)).or_default();
        per_chat.push_back(now);
        prune(per_chat, chat_window, now);
    }

    /// Forgets every send.
    pub fn clear(&mut self) {
        self.per_bot.clear();
        self.per_chat.clear();
    }
}

fn chat_window(private: bool) -> (usize, Duration) {
    if private {
        (PER_PRIVATE_CHAT_PER_SECOND, Duration::from_secs(1))
    } else {
        (PER_GROUP_PER_MINUTE, Duration::from_secs(60))
    }
}

/// Drops the sends that left the window, keeping memory bounded.
fn prune(sends: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while sends
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        sends.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_chat_allows_one_a_second() {
        let mut limits = Limits::default();
        let t0 = Instant::now();
        assert_eq!(limits.check(1, 10, true, t0), Ok(()));
        limits.record(1, 10, true, t0);
        assert_eq!(
            limits.check(1, 10, true, t0 + Duration::from_millis(100)),
            Err(1)
        );
        assert_eq!(limits.check(1, 11, true, t0), Ok(()));
        assert_eq!(
            limits.check(1, 10, true, t0 + Duration::from_millis(1000)),
            Ok(())
        );
    }

    #[test]
    fn per_bot_and_group_windows() {
        let mut limits = Limits::default();
        let t0 = Instant::now();
        for chat in 0..30 {
            limits.record(1, chat, true, t0);
        }
        assert_eq!(limits.check(1, 99, true, t0), Err(1));
        assert_eq!(limits.check(2, 99, true, t0), Ok(()));
        let mut limits = Limits::default();
        for _ in 0..20 {
            limits.record(1, -5, false, t0);
        }
        assert_eq!(
            limits.check(1, -5, false, t0 + Duration::from_millis(500)),
            Err(60)
        );
        assert_eq!(
            limits.check(1, -5, false, t0 + Duration::from_secs(60)),
            Ok(())
        );
    }
}
