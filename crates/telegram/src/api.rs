//! A small Bot API client: one JSON POST per method at
//! `{api_base}/bot{token}/{method}`, and Telegram's envelope read back:
//! `{"ok":true,"result":...}` or `{"ok":false,"error_code","description",
//! "parameters":{"retry_after"}}`.
//!
//! The token is in every URL, so no error here carries a URL (reqwest's
//! errors do by default: they are stripped); descriptions are Telegram's
//! own words, which name no chat.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::TelegramConfig;

/// How long an ordinary method call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A Bot API client for one bot token. Cheap to clone.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    /// `https://api.telegram.org`, or the fake's address; no trailing `/`.
    base: String,
    token: SecretString,
    bot_id: String,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Telegram answered and refused (`ok: false`), or answered with an
    /// HTTP error and no envelope.
    #[error("Bot API error {code}: {description}")]
    Refused {
        code: u16,
        description: String,
        /// `parameters.retry_after` of a 429.
        retry_after: Option<Duration>,
    },
    /// No usable answer: connection refused or reset, timeout, garbage.
    #[error("Bot API unreachable: {0}")]
    Transport(String),
}

impl BotApi {
    /// A client for `token` at `api_base`.
    pub fn new(api_base: &str, token: SecretString) -> anyhow::Result<BotApi> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("nasvyazi/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Bot API client: {}", e.without_url()))?;
        let bot_id = super::bot_id(token.expose_secret()).to_string();
        Ok(BotApi {
            http,
            base: api_base.trim_end_matches('/').to_string(),
            token,
            bot_id,
        })
    }

    /// The client the configuration asks for; `None` without a token
    /// (Telegram is then off).
    pub fn from_config(c: &TelegramConfig) -> anyhow::Result<Option<BotApi>> {
        c.token
            .as_ref()
            .map(|t| BotApi::new(&c.api_base, t.clone()))
            .transpose()
    }

    /// The bot's public id (the number before `:` in the token).
    pub fn bot_id(&self) -> &str {
        &self.bot_id
    }

    /// Calls `method` with JSON `params`; the `result` on success.
    pub async fn call(&self, method: &str, params: &Value) -> Result<Value, ApiError> {
        self.call_with_timeout(method, params, CALL_TIMEOUT).await
    }

    /// As [`call`](Self::call), with its own deadline (long polls).
    pub async fn call_with_timeout(
        &self,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let response = self
            .http
            .post(url)
            .timeout(timeout)
            .json(params)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        read_envelope(status, &body)
    }
}

/// A file sent with a multipart call: the part `name` (what the method's
/// field, or an `attach://<name>`, names).
#[derive(Clone)]
pub struct Upload {
    pub name: String,
    pub filename: String,
    pub mime: String,
    pub bytes: bytes::Bytes,
}

/// How long an upload may take (a 50 MB video on a slow link).
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(180);

impl BotApi {
    /// Calls `method` as `multipart/form-data`: the scalar `params` as text
    /// fields (objects and arrays as JSON, as the Bot API reads them) and
    /// `files` as file parts; the `result` on success. The body is built
    /// here (the parts are few and their names ours), so no file name or
    /// field comes from outside: names are quoted with `"` and `\` removed.
    pub async fn call_multipart(
        &self,
        method: &str,
        params: &Value,
        files: &[Upload],
    ) -> Result<Value, ApiError> {
        let boundary = format!("nasvyazi-{:032x}", rand::random::<u128>());
        let body = multipart_body(&boundary, params, files);
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let response = self
            .http
            .post(url)
            .timeout(UPLOAD_TIMEOUT)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        read_envelope(status, &body)
    }
}

/// A `multipart/form-data` body (RFC 7578).
fn multipart_body(boundary: &str, params: &Value, files: &[Upload]) -> Vec<u8> {
    let clean = |s: &str| s.replace(['"', '\\', '\r', '\n'], "");
    let mut body = Vec::new();
    if let Value::Object(map) = params {
        for (name, value) in map {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                    clean(name)
                )
                .as_bytes(),
            );
            body.extend_from_slice(text.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
    }
    for f in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                clean(&f.name),
                clean(&f.filename),
                clean(&f.mime)
            )
            .as_bytes(),
        );
        body.extend_from_slice(&f.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

impl BotApi {
    /// Downloads a file `getFile` named (`file_path`), at most `max_bytes`
    /// (the Bot API serves files up to 20 MB). The URL holds the token: it
    /// never leaves this function, nor does any error carry it.
    pub async fn download(&self, file_path: &str, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
        if file_path.is_empty() || file_path.contains("..") || file_path.starts_with('/') {
            return Err(ApiError::Refused {
                code: 400,
                description: "Bad Request: invalid file path".into(),
                retry_after: None,
            });
        }
        let url = format!(
            "{}/file/bot{}/{file_path}",
            self.base,
            self.token.expose_secret()
        );
        let mut response = self
            .http
            .get(url)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        if status >= 400 {
            return Err(ApiError::Refused {
                code: status,
                description: format!("HTTP {status} for the file"),
                retry_after: None,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(ApiError::Refused {
                    code: 400,
                    description: "Bad Request: file is too big".into(),
                    retry_after: None,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reqwest error without its URL (which holds the token), with causes.
fn transport(e: reqwest::Error) -> ApiError {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ApiError::Transport(text)
}

/// Reads Telegram's answer envelope.
pub fn read_envelope(status: u16, body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed {
        Some(Value::Object(mut map)) if map.get("ok") == Some(&Value::Bool(true)) => {
            Ok(map.remove("result").unwrap_or(Value::Null))
        }
        Some(Value::Object(map)) if map.get("ok") == Some(&Value::Bool(false)) => {
            let code = map
                .get("error_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(status);
            let description = map
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("no description")
                .chars()
                .take(300)
                .collect();
            let retry_after = map
                .get("parameters")
                .and_then(|p| p.get("retry_after"))
                .and_then(Value::as_u64)
                .map(Duration::from_secs);
            Err(ApiError::Refused {
                code,
                description,
                retry_after,
            })
        }
        _ if status >= 400 => Err(ApiError::Refused {
            code: status,
            description: format!("HTTP {status} without a Bot API answer"),
            retry_after: None,
        }),
        _ => Err(ApiError::Transport(format!(
            "HTTP {status}: not a Bot API answer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_has_the_fields_and_the_file() {
        let body = multipart_body(
            "B",
            &serde_json::json!({"chat_id": -100, "caption": "x", "skip": null}),
            &[Upload {
                name: "photo".into(),
                filename: "a\".jpg".into(),
                mime: "image/jpeg".into(),
                bytes: bytes::Bytes::from_static(b"\xFF\xD8data"),
            }],
        );
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("name=\"chat_id\"\r\n\r\n-100\r\n"), "{text}");
        assert!(text.contains("name=\"caption\"\r\n\r\nx\r\n"));
        assert!(!text.contains("skip"));
        assert!(text.contains("name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg"));
        assert!(text.ends_with("--B--\r\n"));
    }

    #[test]
    fn envelopes() {
        assert_eq!(
            read_envelope(200, br#"{"ok":true,"result":{"message_id":7}}"#).unwrap()["message_id"],
            7
        );
        match read_envelope(
            429,
            br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
        ) {
            Err(ApiError::Refused {
                code: 429,
                retry_after: Some(d),
                ..
            }) => assert_eq!(d, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_envelope(502, b"<html>Bad Gateway</html>"),
            Err(ApiError::Refused { code: 502, .. })
        ));
        assert!(matches!(
            read_envelope(200, b"nonsense"),
            Err(ApiError::Transport(_))
        ));
    }
}
