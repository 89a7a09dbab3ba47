//! The Telegram preview: the message as the app would show it. Telegram's
//! HTML is a small set of tags; this keeps exactly those (links only to
//! http(s), with no other attribute) and escapes everything else, so a
//! template can never put markup of its own into the console page.

/// A post with media as the console shows it: how many files, their kind,
/// the caption (safe HTML) and the messages that follow (safe HTML).
pub fn post(
    p: &nasvyazi_campaigns::input::telegram_media::TelegramPostPreview,
) -> minijinja::Value {
    minijinja::context! {
        media => p.media.len(),
        kind => &p.kind,
        caption => telegram_html(&p.caption),
        following => p.following.iter().map(|f| telegram_html(f)).collect::<Vec<_>>(),
    }
}

/// Tags Telegram's HTML parse mode knows, as we show them.
const SIMPLE: &[(&str, &str)] = &[
    ("b", "b"),
    ("strong", "b"),
    ("i", "i"),
    ("em", "i"),
    ("u", "u"),
    ("ins", "u"),
    ("s", "s"),
    ("strike", "s"),
    ("del", "s"),
    ("code", "code"),
    ("pre", "pre"),
    ("blockquote", "blockquote"),
    ("tg-spoiler", "mark"),
];

fn escape(s: &str) -> String {
    nasvyazi_campaigns::escape_html(s)
}

/// One tag as written: `Some(safe)` if Telegram would take it.
fn tag(inner: &str) -> Option<String> {
    let inner = inner.trim();
    if let Some(name) = inner.strip_prefix('/') {
        let name = name.trim().to_ascii_lowercase();
        if name == "a" {
            return Some("</a>".into());
        }
        return SIMPLE
            .iter()
            .find(|(t, _)| *t == name)
            .map(|(_, out)| format!("</{out}>"));
    }
    let lower = inner.to_ascii_lowercase();
    if let Some((_, out)) = SIMPLE.iter().find(|(t, _)| *t == lower) {
        return Some(format!("<{out}>"));
    }
    let rest = lower.strip_prefix("a ")?.trim();
    let value = rest.strip_prefix("href")?.trim().strip_prefix('=')?.trim();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = value[1..].find(quote)? + 1;
    // The original case of the URL, from the same span.
    let offset = inner.len() - value.len();
    let href = &inner[offset + 1..offset + end];
    let decoded = href.replace("&amp;", "&");
    if !(decoded.starts_with("https://") || decoded.starts_with("http://")) {
        return None;
    }
    Some(format!(
        "<a href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\">",
        escape(&decoded)
    ))
}

/// Telegram HTML to HTML safe to put in a page: tags balanced (a closing
/// tag without its opening one is dropped, open ones are closed).
pub fn telegram_html(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let mut open: Vec<String> = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find('<') {
        out.push_str(&text(&rest[..start]));
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&escape(&rest[start..]));
            rest = "";
            break;
        };
        match tag(&after[..end]) {
            Some(t) => {
                let name: String = t
                    .trim_start_matches(['<', '/'])
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if t.starts_with("</") {
                    if let Some(pos) = open.iter().rposition(|o| *o == name) {
                        for o in open.drain(pos..).rev() {
                            out.push_str(&format!("</{o}>"));
                        }
                    }
                } else {
                    open.push(name);
                    out.push_str(&t);
                }
            }
            None => out.push_str(&escape(&rest[start..start + end + 2])),
        }
        rest = &after[end + 1..];
    }
    out.push_str(&text(rest));
    for o in open.iter().rev() {
        out.push_str(&format!("</{o}>"));
    }
    out
}

/// Text between tags: Telegram's entities (`&lt;`, `&amp;` ...) stay as
/// they are; a bare `&` or a quote is escaped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '&' => {
                let tail = &s[i..];
                let entity = tail
                    .find(';')
                    .filter(|e| *e <= 10)
                    .map(|e| &tail[1..e])
                    .filter(|name| {
                        matches!(*name, "lt" | "gt" | "amp" | "quot")
                            || name.strip_prefix('#').is_some_and(|n| {
                                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                            })
                    });
                match entity {
                    Some(name) => {
                        out.push('&');
                        out.push_str(name);
                        out.push(';');
                        for _ in 0..name.len() + 1 {
                            chars.next();
                        }
                    }
                    None => out.push_str("&amp;"),
                }
            }
            '"' => out.push_str("&quot;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::telegram_html;

    #[test]
    fn keeps_telegram_tags_and_escapes_the_rest() {
        assert_eq!(
            telegram_html("<b>День</b> &amp; <i>ночь</i>"),
            "<b>День</b> &amp; <i>ночь</i>"
        );
        assert_eq!(
            telegram_html("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            telegram_html("<a href=\"https://e.kz/?a=1&amp;b=2\">x</a>"),
            "<a href=\"https://e.kz/?a=1&amp;b=2\" rel=\"noreferrer noopener\" target=\"_blank\">x</a>"
        );
        assert_eq!(
            telegram_html("<a href=\"javascript:alert(1)\">x</a>"),
            "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x"
        );
        assert_eq!(telegram_html("<b>open"), "<b>open</b>");
        assert_eq!(telegram_html("x</pre><i>y"), "x<i>y</i>");
        assert_eq!(telegram_html("a < b & c"), "a &lt; b &amp; c");
        assert_eq!(
            telegram_html("<b onclick=\"x\">y</b>"),
            "&lt;b onclick=&quot;x&quot;&gt;y"
        );
    }
}
