//! Small-cell disclosure control for every count the system publishes
//! (appeals' statistics, surveys' results, consultations' statistics):
//! the threshold under which a count is never shown ([`SMALL_CELL`]), a
//! count as published ([`Count`]: exact or `"<5"`), and complementary
//! suppression ([`suppress`]) so that no hidden count can be worked out
//! from the totals shown beside it.
//!
//! It owns no table and does no I/O. What it must never do: show a count
//! under the threshold, or let one be recomputed from what it shows.

mod count;
mod suppression;

pub use count::{Count, SMALL_CELL};
pub use suppression::{Relation, suppress};
