//! Small-cell suppression for published statistics (appeals, surveys,
//! consultations), with complementary suppression: no hidden count can be
//! worked out from the totals published beside it. It must never leave a
//! relation with exactly one hidden member.
//!
//! A table is a list of counts and a list of relations "this total is the
//! sum of those counts" (a row total and its cells, the grand total and
//! the row totals, ...). Counts under the threshold are hidden (primary
//! suppression). A relation with exactly one hidden member gives it away
//! (total minus the others), so one more member of it is hidden, the
//! smallest shown one (secondary suppression); hiding it may expose
//! another relation, so this repeats until every relation hides none or at
//! least two of its members.

/// "`total` is the sum of `parts`" (indexes into the counts).
#[derive(Debug, Clone)]
pub struct Relation {
    pub total: usize,
    pub parts: Vec<usize>,
}

/// Which counts to hide: `true` at index `i` hides `counts[i]`. Counts of
/// zero are never hidden first (an absent cell is a known zero).
pub fn suppress(counts: &[i64], relations: &[Relation], threshold: i64) -> Vec<bool> {
    let mut hidden: Vec<bool> = counts.iter().map(|&n| n > 0 && n < threshold).collect();
    loop {
        let mut changed = false;
        for r in relations {
            let members = || std::iter::once(r.total).chain(r.parts.iter().copied());
            if members().filter(|&i| hidden[i]).count() != 1 {
                continue;
            }
            // The smallest shown member; a positive one before a zero (a
            // hidden zero protects nothing the reader does not already
            // know from the other relations).
            let pick = members()
                .filter(|&i| !hidden[i])
                .min_by_key(|&i| (counts[i] == 0, counts[i], i));
            if let Some(i) = pick {
                hidden[i] = true;
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2 x 2 table with row, column and grand totals: indexes 0-3 the
    /// cells (a b / c d), 4-5 the rows, 6-7 the columns, 8 the total.
    fn two_by_two(a: i64, b: i64, c: i64, d: i64) -> (Vec<i64>, Vec<Relation>) {
        let counts = vec![a, b, c, d, a + b, c + d, a + c, b + d, a + b + c + d];
        let rel = |total, parts: &[usize]| Relation {
            total,
            parts: parts.to_vec(),
        };
        let relations = vec![
            rel(4, &[0, 1]),
            rel(5, &[2, 3]),
            rel(6, &[0, 2]),
            rel(7, &[1, 3]),
            rel(8, &[4, 5]),
            rel(8, &[6, 7]),
        ];
        (counts, relations)
    }

    #[test]
    fn no_hidden_cell_is_alone_in_a_relation() {
        let (counts, relations) = two_by_two(3, 20, 30, 40);
        let hidden = suppress(&counts, &relations, 5);
        assert!(hidden[0], "the primary cell");
        for r in &relations {
            let n = std::iter::once(r.total)
                .chain(r.parts.iter().copied())
                .filter(|&i| hidden[i])
                .count();
            assert!(n != 1, "relation {r:?} gives a hidden count away");
        }
        // The smallest complements: b in the row, c in the column, then d.
        assert_eq!(
            hidden,
            vec![true, true, true, true, false, false, false, false, false]
        );
    }

    #[test]
    fn nothing_small_nothing_hidden() {
        let (counts, relations) = two_by_two(10, 20, 30, 40);
        assert!(suppress(&counts, &relations, 5).iter().all(|h| !h));
    }
}
