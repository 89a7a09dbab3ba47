//! Case numbers and access codes, for appeals (`KZ-…`) and conversations
//! (`NS-…`) alike: characters that cannot be mistaken for each other (no
//! 0/O, 1/I/L), easy to read out over the phone or copy by hand, grouped
//! by four; an access code is stored only as a keyed hash of its
//! canonical form.

use nasvyazi_crypto::Keyring;
use rand::Rng;
use zeroize::Zeroizing;

/// Digits and capitals that cannot be mistaken for each other.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// `n` random characters from the alphabet.
pub fn random_chars(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Groups of four joined by `-`.
pub fn grouped(chars: &str) -> String {
    chars
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("-")
}

/// Upper-cased, separators dropped, only alphabet characters kept; `None`
/// if anything else was there or the length is wrong.
pub fn canonical_chars(input: &str, len: usize) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{a0}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// A fresh number: `prefix`, `-` and 8 random characters (about 40 bits).
pub fn new_number(prefix: &str) -> String {
    format!("{prefix}-{}", grouped(&random_chars(8)))
}

/// A typed number in its canonical form (`kz 7f3k9qx2` -> `KZ-7F3K-9QX2`
/// for the prefix `KZ`, any case), or `None`.
pub fn canonical_number(prefix: &str, input: &str) -> Option<String> {
    let s = input.trim();
    let s = match s.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => &s[prefix.len()..],
        _ => s,
    };
    canonical_chars(s, 8).map(|c| format!("{prefix}-{}", grouped(&c)))
}

/// A fresh access code: 16 random characters (about 79 bits) in groups.
pub fn new_access_code() -> Zeroizing<String> {
    Zeroizing::new(grouped(&random_chars(16)))
}

/// The stored form of an access code: a keyed hash (HMAC under the
/// blind-index key, of the given kind) of its canonical form, so a
/// database dump alone cannot even test a guess. Malformed input hashes to
/// something no code has.
pub fn access_hash(keys: &Keyring, kind: &str, input: &str) -> Vec<u8> {
    let canonical = canonical_chars(input, 16).unwrap_or_else(|| "-".into());
    keys.blind_index(kind, &canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_codes_are_random_and_typo_tolerant() {
        let n = new_number("KZ");
        assert_eq!(n.len(), "KZ-7F3K-9QX2".len());
        assert_ne!(n, new_number("KZ"));
        assert_eq!(canonical_number("KZ", &n.to_lowercase()), Some(n.clone()));
        assert_eq!(
            canonical_number("NS", "ns 7f3k 9qx2"),
            Some("NS-7F3K-9QX2".into())
        );
        assert_eq!(
            canonical_number("KZ", "KZ-7F3K-9QX0"),
            None,
            "0 is not in the alphabet"
        );
        assert_eq!(canonical_number("KZ", "КZ-7F3K-9QX2"), None, "a Cyrillic К");
        let code = new_access_code();
        assert_eq!(
            canonical_chars(&code, 16).map(|c| grouped(&c)),
            Some(code.to_string())
        );
    }
}
