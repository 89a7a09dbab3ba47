//! Telegram HTML text: every substituted value escaped, and a message over
//! Telegram's limit split at paragraph boundaries into messages that each
//! parse on their own.
//!
//! Lengths are counted as Telegram counts them after entity parsing (tags
//! do not count, `&amp;` is one character), in UTF-16 code units, which is
//! never less than the number of characters.

/// The longest message text Telegram accepts.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Replaces `{name}` placeholders in a trusted HTML template (a catalog
/// string) with values escaped for HTML.
pub fn fill_html(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), &escape_html(v));
    }
    s
}

/// One piece of HTML as the splitter sees it.
enum Token {
    /// `<b>`, `<a href="...">`: opens (+1) a tag.
    Open,
    /// `</b>`: closes (-1) a tag.
    Close,
    /// Visible text: one character or one entity, with its UTF-16 length.
    Text(usize),
}

/// The token at byte `i` of `html` and the byte after it.
fn token(html: &str, i: usize) -> (Token, usize) {
    let rest = &html[i..];
    if rest.starts_with('<')
        && let Some(end) = rest.find('>')
    {
        let kind = if rest.starts_with("</") {
            Token::Close
        } else {
            Token::Open
        };
        return (kind, i + end + 1);
    }
    if rest.starts_with('&')
        && let Some(end) = rest[1..].find(';').map(|e| e + 1)
        && end <= 12
        && rest[1..end]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '#')
        && end > 1
    {
        // A numeric reference may stand for a character outside the BMP.
        let units = if rest[1..].starts_with('#') { 2 } else { 1 };
        return (Token::Text(units), i + end + 1);
    }
    let c = rest
        .chars()
        .next()
        .expect("i is a char boundary inside html");
    (Token::Text(c.len_utf16()), i + c.len_utf8())
}

/// The visible length of a Telegram HTML text, in UTF-16 code units.
pub fn visible_len(html: &str) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < html.len() {
        let (t, next) = token(html, i);
        if let Token::Text(units) = t {
            n += units;
        }
        i = next;
    }
    n
}

/// The text without its tags (entities kept, so it stays valid HTML).
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while i < html.len() {
        let (t, next) = token(html, i);
        if let Token::Text(_) = t {
            out.push_str(&html[i..next]);
        }
        i = next;
    }
    out
}

/// Splits `html` into messages of at most `max` visible characters each:
/// at a blank line (paragraph) if one fits, else at a line break, else
/// at a space, never inside a tag's content when that can be avoided (a
/// paragraph too long and all inside one tag loses its formatting rather
/// than the message failing).
pub fn split(html: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest = html.trim().to_string();
    while visible_len(&rest) > max {
        match cut(&rest, max) {
            Some(at) => {
                let head = rest[..at].trim_end().to_string();
                rest = rest[at..].trim_start().to_string();
                if !head.is_empty() {
                    out.push(head);
                }
            }
            // Only inside one tag could it be cut: drop the formatting.
            None => rest = strip_tags(&rest),
        }
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The longest caption of a photo, animation, video or document.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// A text sent with media: the caption (at most `caption_max` visible
/// characters, cut at a paragraph boundary if one fits, as [`split`]
/// cuts) and the rest as text messages of at most [`MAX_MESSAGE_CHARS`]
/// each. A text that fits is all caption.
pub fn split_caption(html: &str, caption_max: usize) -> (String, Vec<String>) {
    let caption_max = caption_max.max(1);
    let mut html = html.trim().to_string();
    if visible_len(&html) <= caption_max {
        return (html, Vec::new());
    }
    let at = match cut(&html, caption_max) {
        Some(at) => at,
        None => {
            // Only inside one tag could it be cut: drop the formatting.
            html = strip_tags(&html);
            cut(&html, caption_max).unwrap_or(html.len())
        }
    };
    let caption = html[..at].trim_end().to_string();
    let rest = split(&html[at..], MAX_MESSAGE_CHARS);
    (caption, rest)
}

/// Where to cut `html` so that the head holds at most `max` visible units:
/// the best break outside every tag, or `None` if there is none.
fn cut(html: &str, max: usize) -> Option<usize> {
    let (mut paragraph, mut line, mut space, mut any) = (None, None, None, None);
    let (mut depth, mut seen, mut i) = (0usize, 0usize, 0usize);
    let bytes = html.as_bytes();
    while i < html.len() {
        let (t, next) = token(html, i);
        match t {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Text(units) => {
                // A break before this character leaves a head of `seen`.
                if depth == 0 {
                    match bytes[i] {
                        b'\n' if i > 0 && bytes[i - 1] == b'\n' => paragraph = Some(i),
                        b'\n' => line = Some(i),
                        b' ' | b'\t' => space = Some(i),
                        _ => {}
                    }
                }
                if seen + units > max {
                    break;
                }
                seen += units;
            }
        }
        i = next;
        if depth == 0 && i > 0 {
            any = Some(i);
        }
    }
    paragraph
        .or(line)
        .or(space)
        .or(any)
        .filter(|at| *at > 0 && *at < html.len())
}

/// Escapes text for HTML and Telegram HTML: `&`, `<`, `>`, `"`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_escapes_values_not_the_template() {
        assert_eq!(
            fill_html("<b>{org}</b>: {x}", &[("org", "A & <B>"), ("x", "\"q\"")]),
            "<b>A &amp; &lt;B&gt;</b>: &quot;q&quot;"
        );
    }

    #[test]
    fn visible_length_skips_tags_and_counts_entities_once() {
        assert_eq!(visible_len("<b>ab</b> &amp; <a href=\"x\">c</a>"), 6);
        assert_eq!(visible_len("Қазақша"), 7);
        assert_eq!(visible_len("😀"), 2);
    }

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(split("  <b>hi</b> \n", 4096), vec!["<b>hi</b>"]);
    }

    #[test]
    fn splits_at_paragraphs_then_lines_then_spaces() {
        let p = |c: char| format!("<b>{}</b>", c.to_string().repeat(30));
        let html = format!("{}\n\n{}\n\n{}", p('a'), p('b'), p('c'));
        let parts = split(&html, 70);
        assert_eq!(parts, vec![format!("{}\n\n{}", p('a'), p('b')), p('c')]);

        let lines = "aaaa bbbb\ncccc dddd\neeee";
        assert_eq!(split(lines, 12), vec!["aaaa bbbb", "cccc dddd", "eeee"]);
        assert_eq!(split("aaaa bbbb cccc", 9), vec!["aaaa bbbb", "cccc"]);
        assert_eq!(split("abcdefgh", 3), vec!["abc", "def", "gh"]);
    }

    #[test]
    fn never_cuts_inside_a_tag_or_an_entity() {
        let html = format!("<b>{}</b> tail", "x y ".repeat(10));
        for part in split(&html, 20) {
            assert_eq!(
                part.matches("<b>").count(),
                part.matches("</b>").count(),
                "{part}"
            );
            assert!(visible_len(&part) <= 20);
        }
        let parts = split("&amp;&amp;&amp;&amp;", 3);
        assert_eq!(parts, vec!["&amp;&amp;&amp;", "&amp;"]);
    }

    #[test]
    fn a_long_caption_is_cut_at_a_paragraph_and_the_rest_follows() {
        let p = |c: char, n: usize| format!("<b>{}</b>", c.to_string().repeat(n));
        let html = format!("{}\n\n{}\n\n{}", p('a', 600), p('b', 600), p('c', 5000));
        let (caption, rest) = split_caption(&html, MAX_CAPTION_CHARS);
        assert_eq!(caption, p('a', 600));
        assert_eq!(rest[0], p('b', 600));
        assert!(rest.len() >= 3, "{}", rest.len());
        assert!(rest.iter().all(|r| visible_len(r) <= MAX_MESSAGE_CHARS));
        let short = "<i>кратко</i>";
        assert_eq!(split_caption(short, 1024), (short.to_string(), Vec::new()));
    }

    #[test]
    fn every_part_fits_and_nothing_is_lost() {
        let para = "Слово ".repeat(300);
        let html = [para.as_str(); 5].join("\n\n");
        let parts = split(&html, MAX_MESSAGE_CHARS);
        assert!(parts.len() >= 2);
        for p in &parts {
            assert!(visible_len(p) <= MAX_MESSAGE_CHARS);
        }
        let words = |s: &str| s.split_whitespace().count();
        assert_eq!(parts.iter().map(|p| words(p)).sum::<usize>(), words(&html));
    }
}

/// The tags Telegram's HTML parse mode knows.
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
];

/// Checks text for Telegram's HTML parse mode the way Telegram would refuse
/// it ("can't parse entities"): only its tags, balanced, and only the
/// entities `&lt; &gt; &amp; &quot;` or numeric ones. The error names what
/// is wrong, never quotes the text.
pub fn check_html(html: &str) -> Result<(), &'static str> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if c == b'&' {
            let end = after.find(';').ok_or("an unescaped & (write &amp;)")?;
            let name = &after[..end];
            let ok = matches!(name, "lt" | "gt" | "amp" | "quot")
                || name
                    .strip_prefix("#x")
                    .map(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                    .or_else(|| {
                        name.strip_prefix('#')
                            .map(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                    })
                    .unwrap_or(false);
            if !ok {
                return Err("an unknown entity or an unescaped & (write &amp;)");
            }
            rest = &after[end + 1..];
            continue;
        }
        let end = after.find('>').ok_or("an unescaped < (write &lt;)")?;
        let tag = &after[..end];
        let (closing, body) = match tag.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, tag),
        };
        let name: String = body
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !TAGS.contains(&name.as_str()) {
            return Err(
                "a tag Telegram does not support (b, i, u, s, a, code, pre, blockquote, tg-spoiler)",
            );
        }
        if closing {
            if stack.pop().as_deref() != Some(name.as_str()) {
                return Err("a closing tag that does not match the open one");
            }
        } else {
            stack.push(name);
        }
        rest = &after[end + 1..];
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err("a tag left open")
    }
}

#[cfg(test)]
mod check_html_tests {
    use super::check_html;

    #[test]
    fn accepts_telegram_html_and_refuses_the_rest() {
        assert!(
            check_html("<b>Налоксон</b> &amp; <a href=\"https://e.kz\">сайт</a> &#8212;").is_ok()
        );
        assert!(check_html("plain 1 > 0").is_ok());
        assert!(check_html("a < b").is_err());
        assert!(check_html("<script>x</script>").is_err());
        assert!(check_html("<b>open").is_err());
        assert!(check_html("<b><i>x</b></i>").is_err());
        assert!(check_html("R&D").is_err());
    }
}
