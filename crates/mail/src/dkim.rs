//! DKIM signing (RFC 6376) of the exact bytes we hand to the SMTP server:
//! `relaxed/relaxed`, RSA-SHA256 and Ed25519-SHA256 (RFC 8463) side by
//! side, and two selectors at once during a key rotation.
//!
//! Why our own signer and not lettre's: lettre's `DkimConfig` signs a fixed
//! list of headers whether present or not, replaces an earlier
//! `DKIM-Signature` when asked to sign twice (so no RSA + Ed25519, no two
//! selectors), reads only PKCS#1 keys, and its `simple` header
//! canonicalization did not verify with dkimpy. Signing the formatted
//! message is also what makes the signature cover exactly what is sent.
//! The verifier in the tests is an independent implementation (the
//! `mail-auth` crate), never this code.
//!
//! Signed headers: each of [`SIGNED`] as often as it occurs, so
//! `List-Unsubscribe` and `List-Unsubscribe-Post` are covered on every
//! message that carries them (RFC 8058 §4), `Reply-To` and `List-Id` when
//! present; `From` is signed once more than it occurs, so a second `From`
//! added on the way breaks the signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::EmailConfig;

/// Header names signed when present, lower case (relaxed canonicalization).
pub const SIGNED: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-language",
    "reply-to",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
];

enum Algorithm {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// One signing key and where its public half is published.
struct Key {
    selector: String,
    algorithm: Algorithm,
}

/// Every key the configuration names; each message gets one signature per
/// key.
pub struct DkimSigner {
    domain: String,
    keys: Vec<Key>,
}

/// A TXT record to publish for one selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// `<selector>._domainkey.<domain>`
    pub name: String,
    /// `v=DKIM1; k=rsa; p=...`
    pub value: String,
}

/// A key the configuration holds but cannot use; names the key, never
/// quotes it.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct KeyError {
    pub key: &'static str,
    pub reason: &'static str,
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    B64.decode(body).ok()
}

fn rsa_key(key: &'static str, pem: &str) -> Result<Algorithm, KeyError> {
    let pem = pem.trim();
    let parsed = if pem.contains("BEGIN RSA PRIVATE KEY") {
        rsa::RsaPrivateKey::from_pkcs1_pem(pem).ok()
    } else {
        rsa::RsaPrivateKey::from_pkcs8_pem(pem).ok()
    };
    let k = parsed.ok_or(KeyError {
        key,
        reason: "not an RSA private key in PEM (PKCS#1 or PKCS#8)",
    })?;
    Ok(Algorithm::Rsa(Box::new(k)))
}

/// The PKCS#8 prefix of every Ed25519 private key (RFC 8410): what
/// `openssl genpkey -algorithm ed25519` writes before the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn ed25519_key(key: &'static str, text: &str) -> Result<Algorithm, KeyError> {
    let bad = KeyError {
        key,
        reason: "not an Ed25519 private key (PKCS#8 PEM, or base64 of the 32-byte seed)",
    };
    let bytes = pem_body(text.trim()).ok_or(bad)?;
    let seed: [u8; 32] = match bytes.len() {
        32 => bytes.try_into().expect("32 bytes"),
        48 if bytes[..16] == ED25519_PKCS8_PREFIX => bytes[16..].try_into().expect("32 bytes"),
        _ => {
            return Err(KeyError {
                key,
                reason: "not an Ed25519 private key (PKCS#8 PEM, or base64 of the 32-byte seed)",
            });
        }
    };
    Ok(Algorithm::Ed25519(Box::new(
        ed25519_dalek::SigningKey::from_bytes(&seed),
    )))
}

impl DkimSigner {
    /// The signer the configuration asks for, or `None` when no key is set.
    pub fn from_config(c: &EmailConfig) -> Result<Option<DkimSigner>, KeyError> {
        let mut keys = Vec::new();
        let need_selector = |key: &'static str, selector: &str| {
            if selector.trim().is_empty() {
                Err(KeyError {
                    key,
                    reason: "a selector is needed with this key",
                })
            } else {
                Ok(selector.trim().to_string())
            }
        };
        if let Some(pem) = &c.dkim_private_key {
            keys.push(Key {
                selector: need_selector("email.dkim_selector", &c.dkim_selector)?,
                algorithm: rsa_key("email.dkim_private_key", pem.expose_secret())?,
            });
        }
        if let Some(pem) = &c.dkim_next_private_key {
            keys.push(Key {
                selector: need_selector("email.dkim_next_selector", &c.dkim_next_selector)?,
                algorithm: rsa_key("email.dkim_next_private_key", pem.expose_secret())?,
            });
        }
        if let Some(seed) = &c.dkim_ed25519_key {
            keys.push(Key {
                selector: need_selector("email.dkim_ed25519_selector", &c.dkim_ed25519_selector)?,
                algorithm: ed25519_key("email.dkim_ed25519_key", seed.expose_secret())?,
            });
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let domain = if c.dkim_domain.trim().is_empty() {
            crate::domain_of(&c.from).ok_or(KeyError {
                key: "email.dkim_domain",
                reason: "empty, and email.from has no domain",
            })?
        } else {
            c.dkim_domain.trim().to_ascii_lowercase()
        };
        Ok(Some(DkimSigner { domain, keys }))
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The TXT records that must be published for these keys.
    pub fn records(&self) -> Vec<DnsRecord> {
        self.keys
            .iter()
            .map(|k| {
                let (kind, public) = match &k.algorithm {
                    Algorithm::Rsa(key) => (
                        "rsa",
                        key.to_public_key()
                            .to_public_key_der()
                            .map(|d| d.as_bytes().to_vec())
                            .unwrap_or_default(),
                    ),
                    Algorithm::Ed25519(key) => ("ed25519", key.verifying_key().to_bytes().to_vec()),
                };
                DnsRecord {
                    name: format!("{}._domainkey.{}", k.selector, self.domain),
                    value: format!("v=DKIM1; k={kind}; p={}", B64.encode(public)),
                }
            })
            .collect()
    }

    /// `message` (CRLF line endings, headers then a blank line then the
    /// body) with one `DKIM-Signature` per key put in front. `now` is the
    /// signature time (`t=`, seconds since the epoch).
    pub fn sign(&self, message: &[u8], now: u64) -> Vec<u8> {
        let (head, body) = split(message);
        let headers = parse_headers(head);
        let body_hash = B64.encode(Sha256::digest(relaxed_body(body)));
        let mut names: Vec<&str> = Vec::new();
        for name in SIGNED {
            let n = headers.iter().filter(|h| h.name == *name).count();
            names.extend(std::iter::repeat_n(*name, n + usize::from(*name == "from")));
        }
        let signed = canonical_headers(&headers, &names);
        let mut out = Vec::with_capacity(message.len() + 512 * self.keys.len());
        for key in &self.keys {
            let algorithm = match key.algorithm {
                Algorithm::Rsa(_) => "rsa-sha256",
                Algorithm::Ed25519(_) => "ed25519-sha256",
            };
            let unsigned = format!(
                "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed;\r\n\td={}; s={}; t={now};\r\n\th={};\r\n\tbh={body_hash};\r\n\tb=",
                self.domain,
                key.selector,
                fold_list(&names),
            );
            let mut hasher = Sha256::new();
            hasher.update(&signed);
            hasher.update(relaxed_header(unsigned.as_bytes()));
            let hash = hasher.finalize();
            let signature = match &key.algorithm {
                Algorithm::Rsa(k) => k
                    .sign(Pkcs1v15Sign::new::<Sha256>(), &hash)
                    .expect("an RSA key of a usable size signs a SHA-256 hash"),
                Algorithm::Ed25519(k) => k.sign(&hash).to_bytes().to_vec(),
            };
            out.extend_from_slice(unsigned.as_bytes());
            out.extend_from_slice(B64.encode(signature).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(message);
        out
    }
}

/// `h=` folded every few names, so the header's lines stay short.
fn fold_list(names: &[&str]) -> String {
    names
        .chunks(6)
        .map(|c| c.join(":"))
        .collect::<Vec<_>>()
        .join(":\r\n\t ")
}

fn split(message: &[u8]) -> (&[u8], &[u8]) {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&message[..i + 2], &message[i + 4..]),
        None => (message, &[]),
    }
}

struct RawHeader<'a> {
    /// Lower case, trimmed.
    name: String,
    /// The whole field as it appears, folds included, without the final CRLF.
    raw: &'a [u8],
}

fn parse_headers(head: &[u8]) -> Vec<RawHeader<'_>> {
    let mut out: Vec<RawHeader<'_>> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < head.len() {
        let at_line_end = head[i] == b'\n';
        let continues = head.get(i + 1).is_some_and(|c| *c == b' ' || *c == b'\t');
        if at_line_end && !continues {
            let raw = &head[start..i.saturating_sub(1).max(start)];
            if let Some(colon) = raw.iter().position(|c| *c == b':') {
                out.push(RawHeader {
                    name: String::from_utf8_lossy(&raw[..colon])
                        .trim()
                        .to_ascii_lowercase(),
                    raw,
                });
            }
            start = i + 1;
        }
        i += 1;
    }
    out
}

/// RFC 6376 §3.4.2: name lower-cased, value unfolded, runs of whitespace
/// made one space, whitespace at both ends of the value removed. No CRLF.
fn relaxed_header(raw: &[u8]) -> Vec<u8> {
    let colon = raw.iter().position(|c| *c == b':').unwrap_or(raw.len());
    let name = String::from_utf8_lossy(&raw[..colon])
        .trim()
        .to_ascii_lowercase();
    let mut out = name.into_bytes();
    out.push(b':');
    let mut space = false;
    let mut started = false;
    for &c in raw.get(colon + 1..).unwrap_or_default() {
        match c {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && started {
                    out.push(b' ');
                }
                space = false;
                started = true;
                out.push(c);
            }
        }
    }
    out
}

/// The signed headers in `h=` order; a repeated name takes the next
/// occurrence from the bottom (RFC 6376 §5.4.2), a missing one adds
/// nothing.
fn canonical_headers(headers: &[RawHeader<'_>], names: &[&str]) -> Vec<u8> {
    let mut used: std::collections::HashMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for name in names {
        let n = used.entry(name).or_default();
        if let Some(h) = headers.iter().rev().filter(|h| h.name == *name).nth(*n) {
            out.extend(relaxed_header(h.raw));
            out.extend_from_slice(b"\r\n");
        }
        *n += 1;
    }
    out
}

/// RFC 6376 §3.4.4: whitespace at line ends removed, runs made one space,
/// empty lines at the end removed; a non-empty body ends with CRLF.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        let mut l = Vec::with_capacity(line.len());
        let mut space = false;
        for &c in line {
            if c == b' ' || c == b'\t' {
                space = true;
            } else {
                if space {
                    l.push(b' ');
                }
                space = false;
                l.push(c);
            }
        }
        lines.push(l);
        rest = next;
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::with_capacity(body.len());
    for l in lines {
        out.extend(l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_and_bad_ones_name_their_key() {
        // Made by `openssl genpkey -algorithm ed25519`; the public half by
        // `openssl pkey -pubout` (the last 32 bytes of the DER).
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIO6jVKUmEcdVw6yNm7XWxodzU3BZmnD3YiZcni4bdJ7D\n-----END PRIVATE KEY-----";
        let Ok(Algorithm::Ed25519(k)) = ed25519_key("email.dkim_ed25519_key", pem) else {
            panic!("an Ed25519 PKCS#8 key");
        };
        assert_eq!(
            B64.encode(k.verifying_key().to_bytes()),
            "qAggTBiQ55bNFWI+E2ULOzsV1tkadKl7JBcZ4gvwBm4="
        );
        let e = rsa_key(
            "email.dkim_private_key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        )
        .err()
        .unwrap();
        assert_eq!(e.key, "email.dkim_private_key");
        assert!(ed25519_key("email.dkim_ed25519_key", "bm90IGEga2V5").is_err());
    }

    #[test]
    fn relaxed_header_unfolds_and_collapses() {
        assert_eq!(
            relaxed_header(b"Subject :  a\tb \r\n  c  "),
            b"subject:a b c".to_vec()
        );
    }

    #[test]
    fn relaxed_body_examples() {
        assert_eq!(relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
        assert_eq!(relaxed_body(b"\r\n\r\n"), b"");
        assert_eq!(relaxed_body(b"x"), b"x\r\n");
    }

    #[test]
    fn repeated_names_are_taken_from_the_bottom() {
        let head = b"From: a\r\nX: 1\r\nFrom: b\r\n  c\r\n";
        let h = parse_headers(head);
        assert_eq!(h.len(), 3);
        let c = canonical_headers(&h, &["from", "from", "from"]);
        assert_eq!(c, b"from:b c\r\nfrom:a\r\n".to_vec());
    }
}
