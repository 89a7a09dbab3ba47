//! A method's parameters, read the ways Telegram reads them: the query
//! string, an `application/x-www-form-urlencoded` body, a JSON body, or the
//! text fields of a `multipart/form-data` body (files are not supported).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Parameters by name; form and query values are strings, JSON ones keep
/// their type.
#[derive(Clone, Debug, Default)]
pub struct Params(Map<String, Value>);

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
        let content_type = content_type.unwrap_or("").to_ascii_lowercase();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params(params));
        }
        if content_type.starts_with("application/json") {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(object)) => params.extend(object),
                _ => return Err(ApiError::bad_request("can't parse JSON encoded request")),
            }
        } else if content_type.starts_with("multipart/form-data") {
            let boundary = content_type
                .split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .map(|b| b.trim_matches('"').to_string())
                .unwrap_or_default();
            for (k, v) in multipart_fields(body, &boundary) {
                params.insert(k, Value::String(v));
            }
        } else {
            for (k, v) in form_urlencoded::parse(body) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        Ok(Params(params))
    }

    /// Parameters from a JSON object (a webhook reply).
    pub fn from_object(object: Map<String, Value>) -> Params {
        Params(object)
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

/// The text fields of a multipart body.
fn multipart_fields(body: &[u8], boundary_lower: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    // Find the boundary as written (the header was lowercased).
    let Some(first_line) = text.lines().next() else {
        return Vec::new();
    };
    let delimiter = first_line.trim_end();
    if !delimiter.to_ascii_lowercase().ends_with(boundary_lower) || !delimiter.starts_with("--") {
        return Vec::new();
    }
    let mut fields = Vec::new();
    for part in text.split(delimiter).skip(1) {
        let Some((headers, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let headers_lower = headers.to_ascii_lowercase();
        if headers_lower.contains("filename=") {
            continue;
        }
        let Some(name) = headers_lower
            .find("name=\"")
            .and_then(|at| headers.get(at + 6..))
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        fields.push((name.to_string(), value.to_string()));
    }
    fields
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
    }
}
