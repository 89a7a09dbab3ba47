//! The bot's one sending budget, with people first (issue 26).
//!
//! Telegram allows a bot about 30 messages a second in all, one a second
//! to one private chat and 20 a minute to one group or channel. Every
//! message a bot sends passes one [`Gate`] (the sending lease makes one
//! process the sender of a bot), and what waits is served in [`Class`]
//! order: answers to what a person just did (and the automatic answer with
//! the emergency text), then consultants' replies, then alerts to staff,
//! then broadcasts and channel posts. A broadcast therefore yields each
//! slot a person needs instead of competing for it, and never loses one
//! otherwise: the budget stays full.
//!
//! Limits, layered (each a little under Telegram's, [`MARGIN`], because
//! Telegram counts when a request arrives and we when we let it go):
//! - per bot: at most `per_second` sends in any sliding window of 1.02 s,
//!   a log of recent sends (a GCRA with burst 1 loses the timer's lateness
//!   on every send, about 3% of the rate);
//! - per chat: the next send to a chat no sooner than its interval after
//!   the previous one *finished* (its answer came back), so that a request
//!   delayed on the way cannot make two arrive too close together.
//!
//! Only a waiter whose chat is ready competes for the bot's window: a
//! person's second answer waiting its second for their chat never holds
//! up a broadcast to others. Nothing here knows a chat id beyond the key
//! of its own map; nothing is logged.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every limit is kept this much under Telegram's.
pub const MARGIN: f64 = 1.02;

/// Who waits for a slot, in the order they are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// An answer to what a person just did: a command, a button, the
    /// automatic answer with the emergency text to someone who writes.
    Answer = 0,
    /// A consultant's reply, a message about a person's own case.
    Reply = 1,
    /// An alert to staff.
    Alert = 2,
    /// A broadcast or a channel post.
    Broadcast = 3,
}

impl Class {
    const ALL: usize = 4;

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Answer => "answer",
            Class::Reply => "reply",
            Class::Alert => "alert",
            Class::Broadcast => "broadcast",
        }
    }
}

tokio::task_local! {
    static CLASS: Class;
}

/// Runs `fut` with sends classed as `class` (the delivery worker sets a
/// row's class around the channel's `send`).
pub async fn with_class<F: std::future::Future>(class: Class, fut: F) -> F::Output {
    CLASS.scope(class, fut).await
}

/// The class of the send being made: set by [`with_class`], else a
/// broadcast.
pub fn current_class() -> Class {
    CLASS.try_with(|c| *c).unwrap_or(Class::Broadcast)
}

/// A granted slot, to report back with [`Gate::finished`] or
/// [`Gate::forget`].
#[derive(Debug, Clone)]
pub struct Slot {
    stamp: Instant,
    chat: String,
    class: Class,
}

impl Slot {
    pub fn class(&self) -> Class {
        self.class
    }
}

struct State {
    /// When each send of the last window went (or came back).
    sends: VecDeque<Instant>,
    /// Waiters whose chat is ready, per class.
    ready: [usize; Class::ALL],
    /// The earliest next send to each chat.
    chats: HashMap<String, Instant>,
    /// Sends since the chat map was last pruned.
    since_prune: u32,
}

/// One bot's budget.
pub struct Gate {
    per_second: usize,
    window: Duration,
    private_interval: Duration,
    group_interval: Duration,
    state: Mutex<State>,
}

/// How often a waiter that yields to a higher class looks again.
const YIELD_POLL: Duration = Duration::from_millis(2);

fn chat_key(chat: &str) -> String {
    chat.trim().to_ascii_lowercase()
}

impl Gate {
    /// `per_second` sends a second in all; one send to a private chat per
    /// `private_interval`, `group_per_minute` to a group or channel.
    pub fn new(per_second: u32, private_interval: Duration, group_per_minute: u32) -> Gate {
        Gate {
            per_second: per_second.max(1) as usize,
            window: Duration::from_secs(1).mul_f64(MARGIN),
            private_interval: private_interval.mul_f64(MARGIN),
            group_interval: (Duration::from_secs(60) / group_per_minute.max(1)).mul_f64(MARGIN),
            state: Mutex::new(State {
                sends: VecDeque::new(),
                ready: [0; Class::ALL],
                chats: HashMap::new(),
                since_prune: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn interval(&self, chat: &str) -> Duration {
        if super::is_private_chat(chat) {
            self.private_interval
        } else {
            self.group_interval
        }
    }

    /// Waits for a slot to send one message to `chat` as `class`, and
    /// takes it.
    pub async fn until_ready(&self, class: Class, chat: &str) -> Slot {
        let key = chat_key(chat);
        let mut registered = Registration {
            gate: self,
            class,
            on: false,
        };
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                while s
                    .sends
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    s.sends.pop_front();
                }
                let chat_wait = s
                    .chats
                    .get(&key)
                    .map(|t| t.saturating_duration_since(now))
                    .filter(|d| !d.is_zero());
                if let Some(chat_wait) = chat_wait {
                    // Not competing while the chat itself is not ready.
                    registered.set(&mut s, false);
                    chat_wait
                } else {
                    registered.set(&mut s, true);
                    let higher = s.ready[..class as usize].iter().any(|n| *n > 0);
                    let room = s.sends.len() < self.per_second;
                    if room && !higher {
                        s.sends.push_back(now);
                        let next = now + self.interval(&key);
                        s.chats.insert(key.clone(), next);
                        registered.set(&mut s, false);
                        s.since_prune += 1;
                        if s.since_prune >= 1000 {
                            s.since_prune = 0;
                            s.chats.retain(|_, t| *t > now);
                        }
                        return Slot {
                            stamp: now,
                            chat: key,
                            class,
                        };
                    }
                    if room {
                        YIELD_POLL
                    } else {
                        let oldest = s.sends[s.sends.len() - self.per_second];
                        (oldest + self.window)
                            .saturating_duration_since(now)
                            .max(Duration::from_millis(1))
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// A granted send came back: its stamp moves to now (the server counted
    /// it somewhere between start and answer), and the chat's next send
    /// waits its interval from now.
    pub fn finished(&self, slot: &Slot) {
        let mut s = self.lock();
        let now = Instant::now();
        if let Some(i) = s.sends.iter().rposition(|t| *t == slot.stamp) {
            s.sends[i] = now;
            s.sends.make_contiguous().sort();
        }
        let next = now + self.interval(&slot.chat);
        let entry = s.chats.entry(slot.chat.clone()).or_insert(next);
        if *entry < next {
            *entry = next;
        }
    }

    /// A granted send that did not happen after all.
    pub fn forget(&self, slot: &Slot) {
        let mut s = self.lock();
        if let Some(i) = s.sends.iter().rposition(|t| *t == slot.stamp) {
            s.sends.remove(i);
        }
    }
}

/// A waiter's place among those whose chat is ready (undone on drop, so a
/// cancelled wait never blocks the classes below it).
struct Registration<'a> {
    gate: &'a Gate,
    class: Class,
    on: bool,
}

impl Registration<'_> {
    fn set(&mut self, s: &mut State, on: bool) {
        if self.on != on {
            let n = &mut s.ready[self.class as usize];
            if on {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
            }
            self.on = on;
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if self.on {
            let mut s = self.gate.lock();
            let n = &mut s.ready[self.class as usize];
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A flood of broadcast waiters and then one answer: the answer takes
    /// the very next slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_takes_the_next_slot_before_any_waiting_broadcast() {
        let gate = Arc::new(Gate::new(10, Duration::from_millis(1000), 20));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let slot = gate
                    .until_ready(Class::Broadcast, &(1000 + i).to_string())
                    .await;
                order.lock().unwrap().push(format!("b{i}"));
                gate.finished(&slot);
            }));
        }
        // Let the first window fill with broadcasts.
        while order.lock().unwrap().len() < 10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sent_before = order.lock().unwrap().len();
        let (g, o) = (gate.clone(), order.clone());
        let answer = tokio::spawn(async move {
            let slot = g.until_ready(Class::Answer, "77").await;
            o.lock().unwrap().push("answer".to_string());
            g.finished(&slot);
        });
        answer.await.unwrap();
        let order = order.lock().unwrap().clone();
        let at = order.iter().position(|x| x == "answer").unwrap();
        assert!(
            at <= sent_before + 1,
            "the answer waited behind broadcasts: at {at}, {sent_before} sent before it"
        );
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// A higher class waiting for its own chat does not hold up others.
    #[tokio::test]
    async fn a_waiter_blocked_on_its_chat_does_not_block_the_budget() {
        let gate = Arc::new(Gate::new(30, Duration::from_millis(1000), 20));
        let first = gate.until_ready(Class::Answer, "5").await;
        gate.finished(&first);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (g, o) = (gate.clone(), order.clone());
        let second = tokio::spawn(async move {
            let slot = g.until_ready(Class::Answer, "5").await;
            o.lock().unwrap().push("answer to the same chat");
            slot
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let other = gate.until_ready(Class::Broadcast, "6").await;
        order.lock().unwrap().push("broadcast to another chat");
        gate.finished(&other);
        let second = second.await.unwrap();
        assert_eq!(second.class(), Class::Answer);
        assert_eq!(
            *order.lock().unwrap(),
            ["broadcast to another chat", "answer to the same chat"]
        );
    }

    /// (Moved from the notifier's adapter.) No sliding window of 1.02 s
    /// ever holds more sends than the limit.
    #[tokio::test]
    async fn the_window_never_holds_more_than_the_limit() {
        let gate = Gate::new(5, Duration::from_millis(1000), 20);
        let start = Instant::now();
        let mut times = Vec::new();
        for chat in 0..12 {
            gate.until_ready(Class::Broadcast, &(100 + chat).to_string())
                .await;
            times.push(start.elapsed());
        }
        for i in 5..times.len() {
            assert!(
                times[i] - times[i - 5] >= Duration::from_millis(1020),
                "{times:?}"
            );
        }
    }

    #[test]
    fn classes_are_served_people_first() {
        assert!(Class::Answer < Class::Reply);
        assert!(Class::Reply < Class::Alert);
        assert!(Class::Alert < Class::Broadcast);
    }
}
