//! Encryption at rest and blind indexes for personal data.
//!
//! Envelope encryption: every person (contact, appeal, official) has its own
//! random 32-byte data key; their fields are sealed with XChaCha20-Poly1305
//! under that key, and the data key itself is stored wrapped (sealed) under
//! the master key from config. Erasure deletes the wrapped data key and the
//! ciphertexts (crypto-shredding); rotating the master key re-wraps data keys
//! without touching the contents.
//!
//! Look-ups use a blind index: HMAC-SHA-256 of the normalised value under a
//! separate key, so equality can be tested without decrypting anything.
//!
//! Nothing here logs, and no error carries a plaintext or a key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Version byte in front of every sealed value, so the format can change.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("crypto key is not the base64 of 32 bytes")]
    BadKey,
    #[error("crypto.master_key and crypto.blind_index_key must be set (run `nasvyazi keygen`)")]
    MissingKeys,
    #[error("ciphertext could not be opened (wrong key, erased or corrupted)")]
    Open,
    #[error("sealed value has an unknown format")]
    Format,
}

/// A 32-byte key, wiped from memory when dropped.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Key {
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(k.as_mut());
        Key(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Key(Zeroizing::new(arr)))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_ref())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Seals `plaintext`; `aad` binds the ciphertext to its place (e.g. the
    /// row id and column), so a value cannot be moved to another row.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(CryptoError::Format);
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        self.cipher()
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }

    pub fn open_string(&self, sealed: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
        let bytes = self.open(sealed, aad)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CryptoError::Format)
    }
}

/// Decodes a configured key (base64 of 32 bytes).
pub fn decode_key(b64: &str) -> Result<Key, CryptoError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(b64.trim())
            .map_err(|_| CryptoError::BadKey)?,
    );
    Key::from_bytes(&bytes)
}

/// The keys a service holds: the master key (and older ones for rotation)
/// and the blind-index key.
#[derive(Clone, Debug)]
pub struct Keyring {
    master: Key,
    previous: Vec<Key>,
    blind: Key,
}

const WRAP_AAD: &[u8] = b"nasvyazi:data-key:v1";

impl Keyring {
    pub fn from_config(c: &CryptoConfig) -> Result<Self, CryptoError> {
        let master = c.master_key.as_ref().ok_or(CryptoError::MissingKeys)?;
        let blind = c.blind_index_key.as_ref().ok_or(CryptoError::MissingKeys)?;
        Ok(Keyring {
            master: decode_key(master.expose_secret())?,
            previous: c
                .previous_master_keys
                .iter()
                .map(|k| decode_key(k.expose_secret()))
                .collect::<Result<_, _>>()?,
            blind: decode_key(blind.expose_secret())?,
        })
    }

    /// Fresh keys for tests and `nasvyazi keygen`.
    pub fn generate() -> Self {
        Keyring {
            master: Key::random(),
            previous: Vec::new(),
            blind: Key::random(),
        }
    }

    /// A new per-person data key and its wrapped form for storage.
    pub fn new_data_key(&self) -> (Key, Vec<u8>) {
        let key = Key::random();
        let wrapped = self.master.seal(key.0.as_ref(), WRAP_AAD);
        (key, wrapped)
    }

    /// Unwraps a stored data key with the current master key, or an older one
    /// while a rotation is in progress.
    pub fn unwrap_data_key(&self, wrapped: &[u8]) -> Result<Key, CryptoError> {
        std::iter::once(&self.master)
            .chain(self.previous.iter())
            .find_map(|m| m.open(wrapped, WRAP_AAD).ok())
            .map(|bytes| Key::from_bytes(&bytes))
            .unwrap_or(Err(CryptoError::Open))
    }

    /// Re-wraps a data key under the current master key (rotation): the
    /// contents it protects are never decrypted.
    pub fn rewrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.unwrap_data_key(wrapped)?;
        Ok(self.master.seal(key.0.as_ref(), WRAP_AAD))
    }

    /// HMAC-SHA-256 of the already-normalised value, domain-separated by
    /// `kind` so an email and a chat id never collide.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.blind.0.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The stored form of a high-entropy token sent to a person
    /// (confirmation, unsubscribe and withdrawal links): HMAC-SHA-256 under
    /// a key derived from the blind-index key (domain `token:v1`). Unlike
    /// [`token_hash`], a token found in a seized mailbox does not find its
    /// row in a seized database dump without the key.
    pub fn token_mac(&self, token: &str) -> Vec<u8> {
        self.blind_index("token:v1", token)
    }

    /// An opaque, stable identifier for `value` in the domain `kind` (e.g.
    /// an email's Message-ID for a delivery): 32 hex characters of an HMAC
    /// under the blind-index key, so nothing that sees it can tell which
    /// row it stands for without the key.
    pub fn opaque_id(&self, kind: &str, value: &str) -> String {
        let mac = self.blind_index(&format!("opaque:{kind}"), value);
        hex::encode(&mac[..16])
    }

    pub fn master_base64(&self) -> SecretString {
        self.master.to_base64().into()
    }

    pub fn blind_base64(&self) -> SecretString {
        self.blind.to_base64().into()
    }
}

/// SHA-256 of a high-entropy token (admin tokens, sessions, sign-in
/// links): stored instead of the token itself. Tokens emailed to the
/// public are stored as [`Keyring::token_mac`] instead (rows made before
/// that still hold this form; see `subscriptions`).
pub fn token_hash(token: &str) -> Vec<u8> {
    use sha2::Digest;
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time equality of two secrets (tokens, MACs, hashes): the
/// time taken does not depend on where they differ. Different lengths are
/// unequal (the length itself is not secret here). The one comparison the
/// project uses for secrets (`subtle`).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// A URL-safe random token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_aad_binding() {
        let k = Key::random();
        let s = k.seal(b"hello", b"row-1");
        assert_eq!(&*k.open(&s, b"row-1").unwrap(), b"hello");
        assert!(k.open(&s, b"row-2").is_err());
        assert!(Key::random().open(&s, b"row-1").is_err());
    }

    #[test]
    fn rotation_rewraps_without_losing_data() {
        let old = Keyring::generate();
        let (dk, wrapped) = old.new_data_key();
        let ct = dk.seal(b"secret", b"a");
        let new = Keyring {
            master: Key::random(),
            previous: vec![old.master.clone()],
            blind: old.blind.clone(),
        };
        let rewrapped = new.rewrap(&wrapped).unwrap();
        let only_new = Keyring {
            previous: vec![],
            ..new.clone()
        };
        let dk2 = only_new.unwrap_data_key(&rewrapped).unwrap();
        assert_eq!(&*dk2.open(&ct, b"a").unwrap(), b"secret");
        assert!(only_new.unwrap_data_key(&wrapped).is_err());
    }

    #[test]
    fn blind_index_is_keyed_and_domain_separated() {
        let a = Keyring::generate();
        let b = Keyring::generate();
        assert_eq!(a.blind_index("email", "x@y"), a.blind_index("email", "x@y"));
        assert_ne!(a.blind_index("email", "x@y"), b.blind_index("email", "x@y"));
        assert_ne!(a.blind_index("email", "1"), a.blind_index("telegram", "1"));
    }

    #[test]
    fn token_macs_and_opaque_ids_are_keyed() {
        let a = Keyring::generate();
        let b = Keyring::generate();
        assert_eq!(a.token_mac("t"), a.token_mac("t"));
        assert_ne!(a.token_mac("t"), b.token_mac("t"));
        assert_ne!(a.token_mac("t"), token_hash("t"));
        let id = "0190a6f0-0000-7000-8000-000000000001";
        assert_eq!(a.opaque_id("m", id), a.opaque_id("m", id));
        assert_ne!(a.opaque_id("m", id), b.opaque_id("m", id));
        assert_eq!(a.opaque_id("m", id).len(), 32);
        assert!(!a.opaque_id("m", id).contains("0190a6f0"));
    }
}

/// The keys, as the configuration holds them (`[crypto]`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoConfig {
    #[serde(default, serialize_with = "redact::secret_opt")]
    pub master_key: Option<secrecy::SecretString>,
    #[serde(default, serialize_with = "redact::secret_opt")]
    pub blind_index_key: Option<secrecy::SecretString>,
    #[serde(default, serialize_with = "redact::secret_vec")]
    pub previous_master_keys: Vec<secrecy::SecretString>,
}

/// Serialising secrets: the configuration is printed (`nasvyazi config`)
/// with every secret as `[redacted]`.
pub mod redact {
    use secrecy::SecretString;
    use serde::Serializer;

    const REDACTED: &str = "[redacted]";

    pub fn secret<S: Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }

    pub fn secret_opt<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(_) => s.serialize_str(REDACTED),
            None => s.serialize_none(),
        }
    }

    pub fn secret_vec<S: Serializer>(v: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for _ in v {
            seq.serialize_element(REDACTED)?;
        }
        seq.end()
    }
}
