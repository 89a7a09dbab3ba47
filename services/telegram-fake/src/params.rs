//! A method's parameters, read the ways Telegram reads them: the query
//! string, an `application/x-www-form-urlencoded` body, a JSON body, or the
//! fields of a `multipart/form-data` body, whose file parts are kept as
//! [`Upload`]s.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Parameters by name; form and query values are strings, JSON ones keep
/// their type.
#[derive(Clone, Debug, Default)]
pub struct Params(Map<String, Value>, HashMap<String, Upload>);

/// A file part of a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The file name the client gave.
    pub filename: String,
    /// The part's Content-Type, if any.
    pub content_type: Option<String>,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Params {
    /// Reads the query string, then the body (whose values win).
    pub fn read(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut params = Map::new();
        if let Some(query) = query {
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        let original_type = content_type.unwrap_or("");
        let content_type = original_type.to_ascii_lowercase();
        let mut uploads = HashMap::new();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params(params, uploads));
        }
        if content_type.starts_with("application/json") {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(object)) => params.extend(object),
                _ => return Err(ApiError::bad_request("can't parse JSON encoded request")),
            }
        } else if content_type.starts_with("multipart/form-data") {
            let boundary = original_type
                .split(';')
                .find_map(|p| {
                    let p = p.trim();
                    p.get(..9)
                        .filter(|k| k.eq_ignore_ascii_case("boundary="))
                        .map(|_| &p[9..])
                })
                .map(|b| b.trim_matches('"').to_string())
                .unwrap_or_default();
            for part in multipart_parts(body, &boundary) {
                match part.filename {
                    Some(filename) => {
                        uploads.insert(
                            part.name,
                            Upload {
                                filename,
                                content_type: part.content_type,
                                data: part.data,
                            },
                        );
                    }
                    None => {
                        let text = String::from_utf8_lossy(&part.data).into_owned();
                        params.insert(part.name, Value::String(text));
                    }
                }
            }
        } else {
            for (k, v) in form_urlencoded::parse(body) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        Ok(Params(params, uploads))
    }

    /// Parameters from a JSON object (a webhook reply).
    pub fn from_object(object: Map<String, Value>) -> Params {
        Params(object, HashMap::new())
    }

    /// The file part named `name` of a multipart body.
    pub fn upload(&self, name: &str) -> Option<&Upload> {
        self.1.get(name)
    }

    /// A parameter that is present and not null.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A parameter as text (numbers and booleans as they print); an empty
    /// string counts as absent, as in Telegram.
    pub fn string(&self, name: &str) -> Option<String> {
        let text = match self.get(name)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        (!text.is_empty()).then_some(text)
    }

    /// An integer parameter; text that is not a number reads as 0, as in
    /// Telegram.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Number(n) => Some(
                n.as_i64()
                    .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
            ),
            _ => self.string(name).map(|s| s.trim().parse().unwrap_or(0)),
        }
    }

    /// A boolean parameter: `true`, `"true"` or `"1"`.
    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            Some(Value::String(s)) => {
                matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1")
            }
            _ => false,
        }
    }

    /// A JSON-valued parameter: given as JSON in a JSON body, or as JSON text
    /// in a form or query. `Err` when the text is not JSON.
    pub fn json(&self, name: &str) -> Result<Option<Value>, ()> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

/// One part of a multipart body.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}

/// A quoted header parameter, e.g. `name="photo"`.
fn header_param(headers: &str, key: &str) -> Option<String> {
    let lower = headers.to_ascii_lowercase();
    let pattern = format!("{key}=\"");
    let mut from = 0;
    while let Some(at) = lower[from..].find(&pattern).map(|a| a + from) {
        let preceded = at == 0 || matches!(lower.as_bytes()[at - 1], b' ' | b';' | b'\t');
        if preceded {
            let rest = headers.get(at + pattern.len()..)?;
            return rest.split('"').next().map(str::to_string);
        }
        from = at + pattern.len();
    }
    None
}

/// The parts of a multipart body, binary safe.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let Some(mut at) = find(body, delimiter, 0) else {
        return parts;
    };
    loop {
        let start = at + delimiter.len();
        if body.get(start..start + 2) == Some(b"--") {
            break;
        }
        let Some(next) = find(body, delimiter, start) else {
            break;
        };
        let part = &body[start..next];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        if let Some(split) = find(part, b"\r\n\r\n", 0) {
            let headers = String::from_utf8_lossy(&part[..split]);
            let content_type = headers.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            });
            if let Some(name) = header_param(&headers, "name") {
                parts.push(Part {
                    name,
                    filename: header_param(&headers, "filename"),
                    content_type,
                    data: part[split + 4..].to_vec(),
                });
            }
        }
        at = next;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_form_json_and_multipart() {
        let p = Params::read(Some("chat_id=5&text=a%20b"), None, b"").expect("query");
        assert_eq!(p.int("chat_id"), Some(5));
        assert_eq!(p.string("text").as_deref(), Some("a b"));
        let p = Params::read(
            None,
            Some("application/x-www-form-urlencoded"),
            b"text=%3Cb%3E&x=1",
        )
        .expect("form");
        assert_eq!(p.string("text").as_deref(), Some("<b>"));
        let p = Params::read(
            None,
            Some("application/json"),
            br#"{"chat_id":-100,"reply_markup":{"a":1}}"#,
        )
        .expect("json");
        assert_eq!(p.int("chat_id"), Some(-100));
        assert_eq!(p.json("reply_markup"), Ok(Some(serde_json::json!({"a":1}))));
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi there\r\n--XyZ--\r\n";
        let p =
            Params::read(None, Some("multipart/form-data; boundary=XyZ"), body).expect("multipart");
        assert_eq!(p.string("text").as_deref(), Some("hi there"));
        assert!(Params::read(None, Some("application/json"), b"[1]").is_err());
        let body = b"--AbC\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n5\r\n--AbC\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x00\xff\r\n\x01\r\n--AbC--\r\n";
        let p = Params::read(None, Some("multipart/form-data; boundary=AbC"), body).expect("files");
        assert_eq!(p.int("chat_id"), Some(5));
        let upload = p.upload("photo").expect("a file part");
        assert_eq!(upload.filename, "a.png");
        assert_eq!(upload.data, b"\x00\xff\r\n\x01");
        assert_eq!(upload.content_type.as_deref(), Some("image/png"));
    }
}
