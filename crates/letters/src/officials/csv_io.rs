//! The officials directory as CSV (RFC 4180, UTF-8, header row):
//! `name,position,organisation,email,language,time_zone,office_hours,daily_cap`
//! (`id` is written on export and ignored on import). Parsing checks every
//! row and reports each bad one by line, column and reason; the caller
//! stores nothing unless every row is good.
//!
//! It must never quote a value in a [`RowError`] (line, column, reason
//! only), nor write a cell a spreadsheet would run as a formula.

use nasvyazi_platform::Config;
use nasvyazi_platform::csv_cell;
use serde::Serialize;
use utoipa::ToSchema;

use super::{OfficialInput, Valid};
use crate::Official;

/// The columns, in export order.
pub const COLUMNS: [&str; 9] = [
    "id",
    "name",
    "position",
    "organisation",
    "email",
    "language",
    "time_zone",
    "office_hours",
    "daily_cap",
];

const REQUIRED: [&str; 4] = ["name", "position", "organisation", "email"];

/// Rows in one import at most.
pub const MAX_ROWS: usize = 5000;

/// One bad row: its line in the file (the header is line 1), the column,
/// and why. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    pub row: u64,
    pub column: String,
    pub reason: String,
}

fn row_error(row: u64, column: &str, reason: &str) -> RowError {
    RowError {
        row,
        column: column.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses and validates a whole file: every row, or every error.
pub fn parse(config: &Config, bytes: &[u8]) -> Result<Vec<Valid>, Vec<RowError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(_) => {
            return Err(vec![row_error(
                1,
                "",
                "the header row is not valid UTF-8 CSV",
            )]);
        }
    };
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if !COLUMNS.contains(&name.as_str()) {
            errors.push(row_error(1, name, "unknown column"));
        } else if header[..i].contains(name) {
            errors.push(row_error(1, name, "column given twice"));
        }
    }
    for required in REQUIRED {
        if !header.iter().any(|h| h == required) {
            errors.push(row_error(1, required, "required column missing"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut valid: Vec<Valid> = Vec::new();
    // (normalised-address blind index is not available here: compare the
    // normalised address itself, in memory only.)
    let mut seen: Vec<(String, u64)> = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(row_error(line, "", "not valid UTF-8 CSV"));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if valid.len() + errors.len() >= MAX_ROWS {
            errors.push(row_error(line, "", "too many rows (at most 5000 per file)"));
            break;
        }
        if record.len() != header.len() {
            errors.push(row_error(line, "", "wrong number of fields"));
            continue;
        }
        let get = |col: &str| -> String {
            header
                .iter()
                .position(|h| h == col)
                .and_then(|i| record.get(i))
                .map(csv_cell::restore)
                .unwrap_or("")
                .to_string()
        };
        let opt = |col: &str| Some(get(col)).filter(|s| !s.is_empty());
        let daily_cap = match opt("daily_cap").map(|s| s.parse::<u32>()) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                errors.push(row_error(
                    line,
                    "daily_cap",
                    "a whole number of at least 1, or empty",
                ));
                continue;
            }
        };
        let input = OfficialInput {
            name: get("name"),
            position: get("position"),
            organisation: get("organisation"),
            email: get("email"),
            language: opt("language"),
            time_zone: opt("time_zone"),
            office_hours: opt("office_hours"),
            daily_cap,
        };
        match input.validate(config) {
            Ok(v) => {
                let normalised = v.email.normalised();
                if let Some((_, first)) = seen.iter().find(|(a, _)| *a == normalised) {
                    errors.push(row_error(
                        line,
                        "email",
                        &format!("the same address as row {first}"),
                    ));
                    continue;
                }
                seen.push((normalised, line));
                valid.push(v);
            }
            Err(e) => errors.push(row_error(line, e.column, e.reason)),
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(errors)
    }
}

/// The directory as CSV, with the header.
pub fn export(officials: &[Official]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for o in officials {
        // Every cell neutralised (no live formula in a spreadsheet); the
        // import restores them exactly.
        w.write_record(
            [
                o.id.to_string().as_str(),
                &o.name,
                &o.position,
                &o.organisation,
                o.email.expose(),
                o.language.code(),
                o.time_zone.name(),
                &o.hours.to_string(),
                &o.daily_cap.map(|c| c.to_string()).unwrap_or_default(),
            ]
            .map(csv_cell::neutralise)
            .iter()
            .map(|c| c.as_ref()),
        )?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("CSV: {}", e.error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_row_is_reported_by_line_and_column() {
        let config = Config::from_toml("").unwrap();
        let file = "name,position,organisation,email,language,time_zone,office_hours,daily_cap\n\
                    A,Minister,MoH,a@gov.kz,ru,Asia/Almaty,Mon-Fri 09:00-18:00,20\n\
                    B,Deputy,MoH,not-an-address,kk,,,\n\
                    C,Head,Narcology,c@gov.kz,en,Asia/Oral,,\n\
                    D,Head,Narcology,C@GOV.KZ,,,,\n";
        let errors = parse(&config, file.as_bytes()).err().unwrap();
        assert_eq!(
            errors,
            vec![
                row_error(3, "email", "not a valid email address"),
                row_error(5, "email", "the same address as row 4"),
            ]
        );
        let good = "Name,Position,Organisation,Email\nA,Minister,MoH,a@gov.kz\n\n";
        let rows = parse(&config, good.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].hours.to_string(), "Mon-Fri 09:00-18:00");
        let errors = parse(&config, b"name,mail\nx,y\n").err().unwrap();
        assert_eq!(errors[0], row_error(1, "mail", "unknown column"));
    }
}
