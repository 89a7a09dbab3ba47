//! A count as published: exact, or `"<5"` when it is small (under
//! [`SMALL_CELL`]) or the complement of a small one. It must never carry
//! a hidden count's value.

use serde::Serialize;
use utoipa::ToSchema;

/// Counts below this are never shown exactly.
pub const SMALL_CELL: i64 = 5;

/// A count as published: exact, or `"<5"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Count {
    Exact(i64),
    /// Always `"<5"`.
    Suppressed(String),
}

impl Count {
    /// `n` on its own: hidden if small.
    pub fn of(n: i64) -> Count {
        Count::shown(n, n < SMALL_CELL)
    }

    /// `n`, hidden if `hidden` (small, or the complement of a small one).
    pub fn shown(n: i64, hidden: bool) -> Count {
        if hidden {
            Count::Suppressed(format!("<{SMALL_CELL}"))
        } else {
            Count::Exact(n)
        }
    }

    /// The count as a table cell reads it: `12` or `<5`.
    pub fn text(&self) -> String {
        match self {
            Count::Exact(n) => n.to_string(),
            Count::Suppressed(s) => s.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_published_as_under_five() {
        assert_eq!(Count::of(4), Count::Suppressed("<5".into()));
        assert_eq!(Count::of(5), Count::Exact(5));
        assert_eq!(Count::shown(40, true).text(), "<5");
        assert_eq!(serde_json::to_value(Count::of(7)).unwrap(), 7);
        assert_eq!(serde_json::to_value(Count::of(1)).unwrap(), "<5");
    }
}
