//! The HTML parse mode, as Telegram's own parser (TDLib's `parse_html`) reads it.
//!
//! It accepts exactly what Telegram accepts and refuses with Telegram's words
//! (the part after `Bad Request: can't parse entities: `), byte offsets
//! included. Like Telegram it keeps a bare `&` or an unknown entity such as
//! `&nbsp;` as literal text, but refuses any `<` that does not open a
//! supported tag.

use serde_json::{Value, json};

/// A message entity as the Bot API describes it, with UTF-16 offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// The Bot API type: `bold`, `italic`, `text_link`, `pre`, ...
    pub kind: &'static str,
    /// Offset in UTF-16 code units.
    pub offset: usize,
    /// Length in UTF-16 code units.
    pub length: usize,
    /// The URL of a `text_link`, the language of a `pre`, the id of a
    /// `custom_emoji` or the user id of a `text_mention`.
    pub argument: String,
}

impl Entity {
    /// The entity as a Bot API MessageEntity object.
    pub fn to_json(&self) -> Value {
        let mut entity = json!({"offset": self.offset, "length": self.length, "type": self.kind});
        match self.kind {
            "text_link" => entity["url"] = json!(self.argument),
            "pre" if !self.argument.is_empty() => entity["language"] = json!(self.argument),
            "custom_emoji" => entity["custom_emoji_id"] = json!(self.argument),
            "text_mention" => {
                let id: i64 = self.argument.parse().unwrap_or_default();
                entity["user"] = json!({"id": id, "is_bot": false, "first_name": "Test"});
            }
            _ => {}
        }
        entity
    }

    /// Telegram's order among entities at the same place: lower first.
    fn priority(&self) -> u8 {
        match self.kind {
            "blockquote" | "expandable_blockquote" => 0,
            "pre" if !self.argument.is_empty() => 10,
            "pre" => 11,
            "code" => 20,
            "text_link" | "text_mention" => 49,
            "bold" => 90,
            "italic" => 91,
            "underline" => 92,
            "strikethrough" => 93,
            "spoiler" => 94,
            _ => 99,
        }
    }
}

/// The text with its tags taken out and entities decoded, and its entities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The plain text.
    pub text: String,
    /// The entities, sorted as Telegram sorts them.
    pub entities: Vec<Entity>,
}

const SUPPORTED_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

/// Telegram's description when decoding produced a lone surrogate.
const INVALID_UNICODE: &str = "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units";

struct Open {
    tag: String,
    argument: String,
    utf16_offset: usize,
    byte_offset: usize,
}

/// The input as TDLib sees it: a NUL-terminated byte string.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn at(&self, i: usize) -> u8 {
        self.0.get(i).copied().unwrap_or(0)
    }

    fn slice(&self, from: usize, to: usize) -> &str {
        self.0
            .get(from..to)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or("")
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0b | 0x0c)
}

/// Decodes `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric references (the
/// `;` is optional); returns the character and the position after it.
fn decode_entity(input: &Input<'_>, pos: usize) -> Option<(u32, usize)> {
    if input.at(pos) != b'&' {
        return None;
    }
    let mut end = pos + 1;
    let code = if input.at(end) == b'#' {
        end += 1;
        let mut code: u32 = 0;
        if input.at(end) == b'x' {
            end += 1;
            while let Some(digit) = char::from(input.at(end)).to_digit(16) {
                code = code.saturating_mul(16).saturating_add(digit);
                end += 1;
            }
        } else {
            while let Some(digit) = char::from(input.at(end)).to_digit(10) {
                code = code.saturating_mul(10).saturating_add(digit);
                end += 1;
            }
        }
        if code == 0 || code >= 0x10ffff || end - pos >= 10 {
            return None;
        }
        code
    } else {
        while input.at(end).is_ascii_alphabetic() {
            end += 1;
        }
        match input.slice(pos + 1, end) {
            "lt" => u32::from(b'<'),
            "gt" => u32::from(b'>'),
            "amp" => u32::from(b'&'),
            "quot" => u32::from(b'"'),
            _ => return None,
        }
    };
    if input.at(end) == b';' {
        end += 1;
    }
    Some((code, end))
}

/// Appends a decoded character; a surrogate code point is an error, as in
/// Telegram.
fn push_code(out: &mut Vec<u8>, code: u32) -> Result<usize, String> {
    let c = char::from_u32(code).ok_or_else(|| INVALID_UNICODE.to_string())?;
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    Ok(c.len_utf16())
}

/// Parses `text` in the HTML parse mode. The error is Telegram's description
/// without the `Bad Request: can't parse entities: ` prefix.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let input = Input(text.as_bytes());
    let size = text.len();
    let mut out: Vec<u8> = Vec::with_capacity(size);
    let mut utf16 = 0usize;
    let mut open: Vec<Open> = Vec::new();
    let mut entities: Vec<Entity> = Vec::new();
    let mut i = 0usize;
    while i < size {
        let c = input.at(i);
        if c == b'&'
            && let Some((code, next)) = decode_entity(&input, i)
        {
            utf16 += push_code(&mut out, code)?;
            i = next;
            continue;
        }
        if c != b'<' {
            if c & 0xc0 != 0x80 {
                utf16 += 1 + usize::from(c >= 0xf0);
            }
            out.push(c);
            i += 1;
            continue;
        }
        let begin = i;
        i += 1;
        if input.at(i) != b'/' {
            i = start_tag(&input, begin, i, utf16, out.len(), &mut open)?;
        } else {
            i = end_tag(&input, begin, i, utf16, &out, &mut open, &mut entities)?;
        }
        // `i` is at the closing '>'.
        i += 1;
    }
    if let Some(unclosed) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            unclosed.tag
        ));
    }
    for entity in &mut entities {
        if entity.kind == "code" {
            entity.argument.clear();
        }
    }
    entities.sort_by(|a, b| {
        a.offset
            .cmp(&b.offset)
            .then(b.length.cmp(&a.length))
            .then(a.priority().cmp(&b.priority()))
    });
    let text = String::from_utf8(out).map_err(|_| INVALID_UNICODE.to_string())?;
    Ok(Parsed { text, entities })
}

/// Reads a start tag from `<` at `begin`; returns the position of its `>`.
fn start_tag(
    input: &Input<'_>,
    begin: usize,
    mut i: usize,
    utf16: usize,
    byte_offset: usize,
    open: &mut Vec<Open>,
) -> Result<usize, String> {
    while !is_space(input.at(i)) && input.at(i) != b'>' {
        i += 1;
    }
    if input.at(i) == 0 {
        return Err(format!("Unclosed start tag at byte offset {begin}"));
    }
    let tag = input.slice(begin + 1, i).to_ascii_lowercase();
    if !SUPPORTED_TAGS.contains(&tag.as_str()) {
        return Err(format!(
            "Unsupported start tag \"{tag}\" at byte offset {begin}"
        ));
    }
    let unclosed = || format!("Unclosed start tag \"{tag}\" at byte offset {begin}");
    let mut argument = String::new();
    while input.at(i) != b'>' {
        while input.at(i) != 0 && is_space(input.at(i)) {
            i += 1;
        }
        if input.at(i) == b'>' {
            break;
        }
        if input.at(i) == 0 {
            return Err(unclosed());
        }
        let name_begin = i;
        while !is_space(input.at(i)) && input.at(i) != b'=' && input.at(i) != b'>' {
            i += 1;
        }
        let name = input.slice(name_begin, i).to_string();
        if name.is_empty() {
            return Err(format!(
                "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
            ));
        }
        while input.at(i) != 0 && is_space(input.at(i)) {
            i += 1;
        }
        if input.at(i) == 0 {
            return Err(unclosed());
        }
        if input.at(i) != b'=' {
            // An attribute without a value.
            if tag == "blockquote" && name == "expandable" {
                argument = "1".to_string();
            }
            continue;
        }
        i += 1;
        while input.at(i) != 0 && is_space(input.at(i)) {
            i += 1;
        }
        if input.at(i) == 0 {
            return Err(unclosed());
        }
        let value;
        (value, i) = attribute_value(input, i)?;
        if input.at(i) == 0 {
            return Err(format!("Unclosed start tag at byte offset {begin}"));
        }
        match (tag.as_str(), name.as_str()) {
            ("a", "href") | ("tg-emoji", "emoji-id") => argument = value,
            ("code", "class") => {
                if let Some(language) = value.strip_prefix("language-") {
                    argument = language.to_string();
                }
            }
            ("span", "class") => {
                if let Some(class) = value.strip_prefix("tg-") {
                    argument = class.to_string();
                }
            }
            ("blockquote", "expandable") => argument = "1".to_string(),
            _ => {}
        }
    }
    if tag == "span" && argument != "spoiler" {
        return Err(format!(
            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
        ));
    }
    if tag == "tg-emoji" {
        let valid = argument.bytes().all(|b| b.is_ascii_digit())
            && argument.parse::<i64>().is_ok_and(|id| id > 0);
        if !valid {
            return Err("Invalid custom emoji identifier specified".to_string());
        }
    }
    open.push(Open {
        tag,
        argument,
        utf16_offset: utf16,
        byte_offset,
    });
    Ok(i)
}

/// Reads a quoted string or a name token; returns it and the position after.
fn attribute_value(input: &Input<'_>, mut i: usize) -> Result<(String, usize), String> {
    let quote = input.at(i);
    if quote != b'\'' && quote != b'"' {
        let token_begin = i;
        while input.at(i).is_ascii_alphanumeric() || matches!(input.at(i), b'.' | b'-') {
            i += 1;
        }
        if !is_space(input.at(i)) && input.at(i) != b'>' {
            return Err(format!(
                "Unexpected end of name token at byte offset {token_begin}"
            ));
        }
        return Ok((input.slice(token_begin, i).to_ascii_lowercase(), i));
    }
    i += 1;
    let mut value: Vec<u8> = Vec::new();
    while input.at(i) != quote && input.at(i) != 0 {
        if let Some((code, next)) = decode_entity(input, i) {
            push_code(&mut value, code)?;
            i = next;
            continue;
        }
        value.push(input.at(i));
        i += 1;
    }
    if input.at(i) == quote {
        i += 1;
    }
    Ok((String::from_utf8_lossy(&value).into_owned(), i))
}

/// Reads an end tag from `<` at `begin`; returns the position of its `>`.
fn end_tag(
    input: &Input<'_>,
    begin: usize,
    mut i: usize,
    utf16: usize,
    out: &[u8],
    open: &mut Vec<Open>,
    entities: &mut Vec<Entity>,
) -> Result<usize, String> {
    let Some(entry) = open.pop() else {
        return Err(format!("Unexpected end tag at byte offset {begin}"));
    };
    while !is_space(input.at(i)) && input.at(i) != b'>' {
        i += 1;
    }
    let end_name = input.slice(begin + 2, i).to_string();
    while is_space(input.at(i)) && input.at(i) != 0 {
        i += 1;
    }
    if input.at(i) != b'>' {
        return Err(format!("Unclosed end tag at byte offset {begin}"));
    }
    if !end_name.is_empty() && end_name != entry.tag {
        return Err(format!(
            "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_name}>\"",
            entry.tag
        ));
    }
    if utf16 > entry.utf16_offset {
        add_entity(entry, utf16, out, entities);
    }
    Ok(i)
}

fn add_entity(entry: Open, utf16: usize, out: &[u8], entities: &mut Vec<Entity>) {
    let offset = entry.utf16_offset;
    let length = utf16 - offset;
    let simple = |kind| Entity {
        kind,
        offset,
        length,
        argument: String::new(),
    };
    let entity = match entry.tag.as_str() {
        "i" | "em" => simple("italic"),
        "b" | "strong" => simple("bold"),
        "s" | "strike" | "del" => simple("strikethrough"),
        "u" | "ins" => simple("underline"),
        "tg-spoiler" | "span" => simple("spoiler"),
        "blockquote" if entry.argument.is_empty() => simple("blockquote"),
        "blockquote" => simple("expandable_blockquote"),
        "tg-emoji" => Entity {
            argument: entry.argument,
            ..simple("custom_emoji")
        },
        "a" => {
            let url = if entry.argument.is_empty() {
                String::from_utf8_lossy(out.get(entry.byte_offset..).unwrap_or_default())
                    .into_owned()
            } else {
                entry.argument
            };
            if let Some(user_id) = url.strip_prefix("tg://user?id=") {
                if user_id.parse::<i64>().is_ok() {
                    entities.push(Entity {
                        argument: user_id.to_string(),
                        ..simple("text_mention")
                    });
                }
                return;
            }
            match normalize_url(&url) {
                Some(url) => Entity {
                    argument: url,
                    ..simple("text_link")
                },
                None => return,
            }
        }
        "pre" => {
            // <pre><code class="language-x">..</code></pre> is one pre entity
            // with a language.
            if let Some(last) = entities.last_mut()
                && last.kind == "code"
                && last.offset == offset
                && last.length == length
                && !last.argument.is_empty()
            {
                last.kind = "pre";
                return;
            }
            simple("pre")
        }
        _ => {
            // "code"
            if let Some(last) = entities.last_mut()
                && last.kind == "pre"
                && last.offset == offset
                && last.length == length
                && !entry.argument.is_empty()
            {
                last.argument = entry.argument;
                return;
            }
            Entity {
                argument: entry.argument,
                ..simple("code")
            }
        }
    };
    entities.push(entity);
}

/// Telegram's reading of a link: a scheme-less address gets `http://`, and
/// an HTTP URL without a path gets `/`. `None` when it is not a URL at all.
pub fn normalize_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.contains(char::is_whitespace) {
        return None;
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None if url.contains('.') => ("http".to_string(), url),
        None => return None,
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        return None;
    }
    if scheme != "http" && scheme != "https" {
        return Some(format!("{scheme}://{rest}"));
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    if host.is_empty() {
        return None;
    }
    let slash = if tail.starts_with('/') { "" } else { "/" };
    Some(format!(
        "{scheme}://{}{slash}{tail}",
        host.to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(html: &str) -> String {
        parse(html).expect_err(html)
    }

    fn describe(html: &str) -> (String, Vec<String>) {
        let parsed = parse(html).expect(html);
        let entities = parsed
            .entities
            .iter()
            .map(|e| {
                format!("{} {}+{} {}", e.kind, e.offset, e.length, e.argument)
                    .trim_end()
                    .to_string()
            })
            .collect();
        (parsed.text, entities)
    }

    #[test]
    fn refuses_like_telegram() {
        let s = "🏟 🏟&lt;";
        assert_eq!(
            err(&format!("{s}<abacaba")),
            "Unclosed start tag at byte offset 13"
        );
        assert_eq!(
            err(&format!("{s}<abac aba>")),
            "Unsupported start tag \"abac\" at byte offset 13"
        );
        assert_eq!(
            err(&format!("{s}<i   =aba>")),
            "Empty attribute name in the tag \"i\" at byte offset 13"
        );
        assert_eq!(
            err(&format!("{s}<i    aba>")),
            "Can't find end tag corresponding to start tag \"i\""
        );
        assert_eq!(
            err(&format!("{s}<i    aba  =  ")),
            "Unclosed start tag \"i\" at byte offset 13"
        );
        assert_eq!(
            err(&format!("{s}<i    aba  =  190azAz-.,")),
            "Unexpected end of name token at byte offset 27"
        );
        assert_eq!(
            err(&format!("{s}<i    aba  =  \"&lt;&gt;&quot;>")),
            "Unclosed start tag at byte offset 13"
        );
        assert_eq!(
            err(&format!("{s}</")),
            "Unexpected end tag at byte offset 13"
        );
        assert_eq!(
            err(&format!("{s}<b></b></")),
            "Unexpected end tag at byte offset 20"
        );
        assert_eq!(
            err(&format!("{s}<i>a</i   ")),
            "Unclosed end tag at byte offset 17"
        );
        assert_eq!(
            err(&format!("{s}<i>a</em   >")),
            "Unmatched end tag at byte offset 17, expected \"</i>\", found \"</em>\""
        );
        assert_eq!(err("a < b"), "Unsupported start tag \"\" at byte offset 2");
        assert_eq!(err("<a href"), "Unclosed start tag \"a\" at byte offset 0");
        assert_eq!(
            err("<span>x</span>"),
            "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
        );
        assert_eq!(
            err("<tg-emoji emoji-id=\"-5\">x</tg-emoji>"),
            "Invalid custom emoji identifier specified"
        );
        assert!(err("&#57311;").starts_with("Text contains invalid Unicode"));
    }

    #[test]
    fn decodes_entities_and_keeps_unknown_ones() {
        assert_eq!(
            describe("&ge;&lt;&gt;&amp;&quot;&laquo;&#12345678;").0,
            "&ge;<>&\"&laquo;&#12345678;"
        );
        assert_eq!(describe("Tom & Jerry, a > b").0, "Tom & Jerry, a > b");
        assert_eq!(describe("&#65;&#x42;&#67").0, "ABC");
    }

    #[test]
    fn produces_entities_with_utf16_offsets() {
        let (text, entities) = describe("➡️ ➡️<i>➡️ ➡️</i><b>➡️ ➡️</b>");
        assert_eq!(text, "➡️ ➡️➡️ ➡️➡️ ➡️");
        assert_eq!(entities, ["italic 5+5", "bold 10+5"]);
        let (_, entities) = describe("<b>a<i>b</i></b><b>😀</b>");
        assert_eq!(entities, ["bold 0+2", "italic 1+1", "bold 2+2"]);
        let (_, entities) = describe("<code><i><b> </b></i></code>");
        assert_eq!(entities, ["code 0+1", "bold 0+1", "italic 0+1"]);
    }

    #[test]
    fn reads_links_pre_and_blockquotes() {
        let (text, entities) = describe(
            "<a href=\"https://example.com\">site</a> <a>telegram.org</a>\
             <pre><code class=\"language-fift\">x</code></pre>\
             <blockquote expandable>e</blockquote><span class=\"tg-spoiler\">s</span>\
             <tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>",
        );
        assert_eq!(text, "site telegram.orgxes👍");
        assert_eq!(
            entities,
            [
                "text_link 0+4 https://example.com/",
                "text_link 5+12 http://telegram.org/",
                "pre 17+1 fift",
                "expandable_blockquote 18+1",
                "spoiler 19+1",
                "custom_emoji 20+2 5368324170671202286",
            ]
        );
    }
}
