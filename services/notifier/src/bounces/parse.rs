//! What a report says: a delivery status notification (RFC 3464,
//! `multipart/report; report-type=delivery-status`) or an abuse report
//! (RFC 5965 ARF, `report-type=feedback-report`), read with `mail-parser`.
//! Only the class and the status code are kept; the report's text (which
//! quotes the address) goes nowhere.

use mail_parser::{MessageParser, MimeHeaders};

/// The class of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// `Action: failed` with a 5.x.x status (or none): the address is dead.
    Hard { status: Option<String> },
    /// `Action: failed` with a 4.x.x status: full mailbox, for instance.
    Soft { status: Option<String> },
    /// A feedback report (someone pressed "spam").
    Complaint { feedback_type: String },
    /// A warning (`Action: delayed`), a success notice, or not a report.
    Ignored,
}

impl Report {
    /// The label in metrics and `bounce_events.kind`.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Report::Hard { .. } => Some("hard"),
            Report::Soft { .. } => Some("soft"),
            Report::Complaint { .. } => Some("complaint"),
            Report::Ignored => None,
        }
    }

    pub fn status(&self) -> Option<&str> {
        match self {
            Report::Hard { status } | Report::Soft { status } => status.as_deref(),
            Report::Complaint { feedback_type } => Some(feedback_type),
            Report::Ignored => None,
        }
    }
}

/// `Name: value` fields of a report body (continuation lines joined),
/// names lower-cased.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    out
}

/// A status code `class.subject.detail`, or nothing usable.
fn status_code(value: &str) -> Option<String> {
    let code = value.split_whitespace().next()?;
    let parts: Vec<&str> = code.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| code.to_string())
}

fn delivery_status(text: &str) -> Report {
    let f = fields(text);
    let failed = f
        .iter()
        .any(|(n, v)| n == "action" && v.eq_ignore_ascii_case("failed"));
    if !failed {
        return Report::Ignored;
    }
    let status = f
        .iter()
        .filter(|(n, _)| n == "status")
        .find_map(|(_, v)| status_code(v));
    match status.as_deref().and_then(|s| s.chars().next()) {
        Some('4') => Report::Soft { status },
        _ => Report::Hard { status },
    }
}

/// Reads one report.
pub fn parse(raw: &[u8]) -> Report {
    let Some(message) = MessageParser::new().parse(raw) else {
        return Report::Ignored;
    };
    for part in &message.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        if !ct.ctype().eq_ignore_ascii_case("message") {
            continue;
        }
        let text = String::from_utf8_lossy(part.contents());
        match ct.subtype().map(str::to_ascii_lowercase).as_deref() {
            Some("delivery-status") | Some("global-delivery-status") => {
                return delivery_status(&text);
            }
            Some("feedback-report") => {
                let feedback_type = fields(&text)
                    .into_iter()
                    .find(|(n, _)| n == "feedback-type")
                    .map(|(_, v)| v.to_ascii_lowercase())
                    .unwrap_or_else(|| "abuse".into());
                // "not-spam" is the opposite of a complaint.
                if feedback_type == "not-spam" {
                    return Report::Ignored;
                }
                let feedback_type: String = feedback_type
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .take(32)
                    .collect();
                return Report::Complaint { feedback_type };
            }
            _ => {}
        }
    }
    Report::Ignored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(action: &str, status: &str) -> Vec<u8> {
        format!(
            "From: MAILER-DAEMON@mx.example.kz\r\nTo: bounce+x@bounces.example.org\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nSorry, <a@example.kz> failed.\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example.kz\r\n\r\n\
Final-Recipient: rfc822; a@example.kz\r\nAction: {action}\r\nStatus: {status}\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <a@example.kz>: Recipient address rejected\r\n\r\n\
--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <x@example.org>\r\n\r\n--b1--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn dsn_classes() {
        assert_eq!(
            parse(&dsn("failed", "5.1.1")),
            Report::Hard {
                status: Some("5.1.1".into())
            }
        );
        assert_eq!(
            parse(&dsn("failed", "4.2.2 (mailbox full)")),
            Report::Soft {
                status: Some("4.2.2".into())
            }
        );
        assert_eq!(parse(&dsn("delayed", "4.4.1")), Report::Ignored);
        assert_eq!(
            parse(b"Subject: hello\r\n\r\nnot a report\r\n"),
            Report::Ignored
        );
    }

    #[test]
    fn arf_is_a_complaint() {
        let arf = b"From: fbl@isp.example\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"q\"\r\n\r\n\
--q\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n\
--q\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: x/1.0\r\nVersion: 1\r\n\r\n\
--q\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b.kz\r\nSubject: x\r\n\r\nbody\r\n--q--\r\n";
        assert_eq!(
            parse(arf),
            Report::Complaint {
                feedback_type: "abuse".into()
            }
        );
    }
}
