//! The VERP return path: each message's envelope sender names its delivery,
//! so a bounce maps to the delivery without guessing from its text.
//!
//! `email.return_path` is a template such as `bounce+{token}@bounces.example.org`.
//! The token is the delivery id (32 hex digits) followed by a keyed MAC of
//! it (16 hex digits, HMAC-SHA-256 under the blind-index key in its own
//! domain `verp`): it reveals nothing about the address, and nobody
//! without the key can forge a bounce that suppresses someone else.
//!
//! [`parse`] reads untrusted input (a `RCPT TO` from anyone on the
//! internet): it must never panic, never allocate in proportion to the
//! input, and never hand the input on. It works on bytes and takes only
//! exactly 48 lower-case hex digits as a token (we write nothing else;
//! local parts are case-sensitive, RFC 5321 §2.4); the fixed parts of the
//! template compare case-insensitively.

use uuid::Uuid;

use nasvyazi_crypto::Keyring;

const ID_HEX: usize = 32;
const MAC_HEX: usize = 16;
/// Length of a token: the delivery id and its MAC, lower-case hex.
pub const TOKEN_HEX: usize = ID_HEX + MAC_HEX;

/// Why an address is not one of our bounce addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOurs {
    /// Not the template's shape: another length, another prefix or domain,
    /// or a token that is not 48 lower-case hex digits (non-ASCII,
    /// upper-case, too long, too short). Nothing of it was sliced or kept.
    Malformed,
    /// The template's shape, but the MAC does not hold: forged, or made
    /// under another key.
    Forged,
}

fn mac(keys: &Keyring, delivery: Uuid) -> String {
    let full = keys.blind_index("verp", &delivery.simple().to_string());
    hex::encode(&full[..MAC_HEX / 2])
}

/// The token naming `delivery`.
pub fn token(keys: &Keyring, delivery: Uuid) -> String {
    format!("{}{}", delivery.simple(), mac(keys, delivery))
}

/// The envelope sender for `delivery`, or `None` when no template is set
/// (or it has no `{token}`).
pub fn address(keys: &Keyring, template: &str, delivery: Uuid) -> Option<String> {
    let template = template.trim();
    if !template.contains("{token}") {
        return None;
    }
    Some(template.replace("{token}", &token(keys, delivery)))
}

/// The delivery a bounce address names, if it is one of ours and its MAC
/// holds. The length is checked first, then every byte of the token,
/// before anything is sliced as text.
pub fn parse(keys: &Keyring, template: &str, address: &str) -> Result<Uuid, NotOurs> {
    let (prefix, suffix) = template
        .trim()
        .split_once("{token}")
        .ok_or(NotOurs::Malformed)?;
    let a = address.trim().trim_matches(['<', '>']).as_bytes();
    if a.len() != prefix.len() + TOKEN_HEX + suffix.len() {
        return Err(NotOurs::Malformed);
    }
    let (head, rest) = a.split_at(prefix.len());
    let (token, tail) = rest.split_at(TOKEN_HEX);
    let lower_hex = token.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex
        || !head.eq_ignore_ascii_case(prefix.as_bytes())
        || !tail.eq_ignore_ascii_case(suffix.as_bytes())
    {
        return Err(NotOurs::Malformed);
    }
    let (id, given) = token.split_at(ID_HEX);
    let id = Uuid::try_parse_ascii(id).map_err(|_| NotOurs::Malformed)?;
    let expected = mac(keys, id);
    let same = expected
        .bytes()
        .zip(given.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if same == 0 {
        Ok(id)
    } else {
        Err(NotOurs::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nasvyazi_crypto::CryptoConfig;
    use secrecy::SecretString;

    fn keys() -> Keyring {
        let k = || {
            Some(SecretString::from(
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ))
        };
        Keyring::from_config(&CryptoConfig {
            master_key: k(),
            blind_index_key: k(),
            previous_master_keys: vec![],
        })
        .unwrap()
    }

    const T: &str = "bounce+{token}@bounces.example.org";

    #[test]
    fn a_token_round_trips_and_a_forged_one_does_not() {
        let keys = keys();
        let id = Uuid::new_v4();
        let a = address(&keys, T, id).unwrap();
        assert!(a.len() - "@bounces.example.org".len() <= 64);
        assert_eq!(parse(&keys, T, &a), Ok(id));
        assert_eq!(parse(&keys, T, &format!("<{a}>")), Ok(id));
        // The domain and the fixed prefix are case-insensitive.
        let shouted = a
            .replace("bounce+", "BOUNCE+")
            .replace("example", "EXAMPLE");
        assert_eq!(parse(&keys, T, &shouted), Ok(id));
        let other = address(&keys, T, Uuid::new_v4()).unwrap();
        let forged = format!("{}{}", &a[..39], &other[39..]);
        assert_eq!(parse(&keys, T, &forged), Err(NotOurs::Forged));
        assert_eq!(
            parse(&keys, T, "postmaster@bounces.example.org"),
            Err(NotOurs::Malformed)
        );
        assert_eq!(address(&keys, "", id), None);
    }

    /// Issue 24 item 14: what an attacker can put in `RCPT TO` is refused
    /// as malformed before any slicing, and nothing panics.
    #[test]
    fn hostile_tokens_are_malformed_and_never_panic() {
        let keys = keys();
        let good = token(&keys, Uuid::new_v4());
        let at = |t: &str| format!("bounce+{t}@bounces.example.org");
        // 48 bytes with a two-byte character across byte 32 (the old
        // code sliced there and panicked).
        let straddling = format!("{}é{}", &good[..31], &good[33..]);
        assert_eq!(straddling.len(), TOKEN_HEX);
        assert!(!straddling.is_char_boundary(32));
        let cases = [
            straddling,
            format!("{}ж{}", &good[..47], ""),
            "ж".repeat(24),
            "\u{1F600}".repeat(12),
            good.to_uppercase(),
            format!("{}A{}", &good[..10], &good[11..]),
            format!("{good}0"),
            good[..47].to_string(),
            "0".repeat(100_000),
            String::new(),
            format!("{}-{}", &good[..20], &good[21..]),
            format!("{} {}", &good[..20], &good[21..]),
        ];
        for t in &cases {
            assert_eq!(parse(&keys, T, &at(t)), Err(NotOurs::Malformed), "{t:?}");
        }
        // A non-ASCII domain of the right length does not panic either.
        let odd = format!("bounce+{good}@bounces.exampl\u{e9}org");
        assert_eq!(odd.len(), at(&good).len());
        assert_eq!(parse(&keys, T, &odd), Err(NotOurs::Malformed));
        for t in ["", "no token here", "{token}"] {
            assert!(parse(&keys, t, &at(&good)).is_err());
        }
    }
}
