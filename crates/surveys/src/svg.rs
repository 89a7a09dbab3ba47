//! Bar charts of a question's counts as inline SVG, drawn on the server (no
//! JavaScript, no fonts or images from anywhere): one bar per category,
//! its label above it, the count and the percentage after it. A suppressed
//! count is drawn as a short hatched stub labelled "<5", never as a length
//! that would tell its value. Presentation attributes only (no `style`),
//! so the console's Content-Security-Policy is kept; a label must never
//! reach the drawing unescaped.

/// One category of a chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    /// `None`: suppressed.
    pub count: Option<i64>,
    /// Of those who answered the question, when that total is shown.
    pub percent: Option<f64>,
}

/// The drawing's width: a phone shows it about this wide, so the 12-unit
/// text stays readable there; print scales it up.
const WIDTH: f64 = 340.0;
/// Characters per label line, and lines per label (the table under the
/// chart has the whole label).
const LINE_CHARS: usize = 46;
const LABEL_LINES: usize = 2;
const LINE_H: f64 = 14.0;
const BAR_H: f64 = 14.0;
/// The room after the longest bar for "1234 (100%)".
const VALUE_ROOM: f64 = 78.0;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The label in lines of at most [`LINE_CHARS`], broken between words, at
/// most [`LABEL_LINES`] of them (the last one cut with "…").
fn wrap(s: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let word: String = word.chars().take(LINE_CHARS).collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > LINE_CHARS {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.len() > LABEL_LINES {
        lines.truncate(LABEL_LINES);
        let last = lines.last_mut().expect("two lines");
        let cut: String = last.chars().take(LINE_CHARS - 1).collect();
        *last = format!("{}…", cut.trim_end());
    }
    lines
}

/// Formats a percentage: whole numbers, one decimal under 10.
pub fn percent(p: f64) -> String {
    if p > 0.0 && p < 10.0 && (p * 10.0).round() % 10.0 != 0.0 {
        format!("{:.1}%", p)
    } else {
        format!("{:.0}%", p)
    }
}

/// The chart, titled `title` for screen readers.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let labels: Vec<Vec<String>> = bars.iter().map(|b| wrap(&b.label)).collect();
    let height = labels
        .iter()
        .map(|l| l.len().max(1) as f64 * LINE_H + BAR_H + 13.0)
        .sum::<f64>()
        + 4.0;
    let max = bars
        .iter()
        .filter_map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let span = WIDTH - VALUE_ROOM;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"100%\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\
         <title>{}</title>\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" fill=\"#eceff3\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#8a94a3\" stroke-width=\"2\"/></pattern></defs>",
        escape(title),
        escape(title)
    );
    let mut y = 2.0;
    for (b, lines) in bars.iter().zip(&labels) {
        for line in lines {
            y += LINE_H;
            out.push_str(&format!(
                "<text x=\"0\" y=\"{:.1}\" fill=\"#1f2933\">{}</text>",
                y - 3.0,
                escape(line)
            ));
        }
        let bar_y = y + 1.0;
        let (w, fill, value) = match b.count {
            Some(n) => {
                let w = if n == 0 {
                    0.0
                } else {
                    (n as f64 / max * span).max(2.0)
                };
                let value = match b.percent {
                    Some(p) => format!("{n} ({})", percent(p)),
                    None => n.to_string(),
                };
                (w, "#2f6f9f", value)
            }
            None => (18.0, "url(#hatch)", "&lt;5".to_string()),
        };
        out.push_str(&format!(
            "<rect x=\"0\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{fill}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1f2933\" font-weight=\"bold\">{value}</text>",
            w + 5.0,
            bar_y + BAR_H - 3.0,
        ));
        y = bar_y + BAR_H + 12.0;
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressed_bars_do_not_show_their_size_and_labels_are_escaped() {
        let svg = bars(
            "Q1 <script>",
            &[
                Bar {
                    label: "Да & <b>".into(),
                    count: Some(40),
                    percent: Some(80.0),
                },
                Bar {
                    label: "Нет".into(),
                    count: None,
                    percent: None,
                },
                Bar {
                    label: "слово ".repeat(40),
                    count: Some(0),
                    percent: Some(0.0),
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Да &amp; &lt;b&gt;"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("40 (80%)"));
        assert!(svg.contains("&lt;5"));
        assert!(svg.contains('…'));
        assert_eq!(percent(2.5), "2.5%");
        assert_eq!(percent(33.333), "33%");
    }
}
