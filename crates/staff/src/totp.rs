//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1,
//! 30-second steps, six digits, what every authenticator app speaks. Written
//! by hand on the RustCrypto `hmac` and `sha1` crates (about forty lines)
//! rather than with a TOTP crate, which would bring QR and URL dependencies
//! we do not use.
//!
//! A code is accepted for the current step and one step either side (clock
//! drift), and only for a step later than the last one accepted, so a code
//! overheard once cannot be replayed. The secret is sealed at rest under
//! the user's data key and never logged.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per step.
pub const STEP: u64 = 30;
/// Bytes of secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// HOTP (RFC 4226): the six-digit code for `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 1_000_000
}

/// The step of a Unix time.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP
}

/// The code at a Unix time, as six digits (tests and the enrolment check).
pub fn code(secret: &[u8], unix_secs: u64) -> String {
    format!("{:06}", hotp(secret, step_of(unix_secs)))
}

/// The step `typed` belongs to, if it is valid at `unix_secs` (one step of
/// drift either way) and later than `last_step`.
pub fn verify(secret: &[u8], typed: &str, unix_secs: u64, last_step: u64) -> Option<u64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    // Check every candidate (no early exit), then compare in constant time.
    for step in now.saturating_sub(1)..=now + 1 {
        let candidate = format!("{:06}", hotp(secret, step));
        if nasvyazi_crypto::ct_eq(candidate.as_bytes(), typed.as_bytes()) && step > last_step {
            found = Some(step);
        }
    }
    found
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how apps take a secret typed by hand.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The secret in groups of four, for reading off a screen.
pub fn grouped(secret: &[u8]) -> String {
    base32(secret)
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` link authenticator apps open (tap it on the phone).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP}",
        enc(issuer).replace('+', "%20"),
        enc(account).replace('+', "%20"),
        base32(secret),
        enc(issuer).replace('+', "%20"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors() {
        // Appendix B, SHA-1, the last six of the eight digits.
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code(secret, t), want, "t = {t}");
        }
    }

    #[test]
    fn drift_and_replay() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let previous = code(&secret, now - 30);
        let step = verify(&secret, &previous, now, 0).expect("one step late is fine");
        assert!(verify(&secret, &previous, now, step).is_none(), "no replay");
        assert!(verify(&secret, &code(&secret, now - 90), now, 0).is_none());
        assert!(verify(&secret, "12345", now, 0).is_none());
        let spaced = code(&secret, now);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert!(verify(&secret, &spaced, now, 0).is_some());
    }

    #[test]
    fn base32_of_rfc_4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(
            otpauth_uri(b"foobar", "Forum KZ", "Aigerim"),
            "otpauth://totp/Forum%20KZ:Aigerim?secret=MZXW6YTBOI&issuer=Forum%20KZ&algorithm=SHA1&digits=6&period=30"
        );
    }
}
