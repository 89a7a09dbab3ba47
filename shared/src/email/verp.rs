//! The VERP return path: each message's envelope sender names its delivery,
//! so a bounce maps to the delivery without guessing from its text.
//!
//! `email.return_path` is a template such as `bounce+{token}@bounces.example.org`.
//! The token is the delivery id (32 hex digits) followed by a keyed MAC of
//! it (16 hex digits, HMAC-SHA-256 under the blind-index key in its own
//! domain `verp`): it reveals nothing about the address, and nobody
//! without the key can forge a bounce that suppresses someone else. Lower
//! case hex only, since some servers lower-case local parts.

use uuid::Uuid;

use crate::crypto::Keyring;

const MAC_HEX: usize = 16;

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
/// holds. Compares the local part case-insensitively.
pub fn parse(keys: &Keyring, template: &str, address: &str) -> Option<Uuid> {
    let (prefix, suffix) = template.trim().split_once("{token}")?;
    let address = address.trim().trim_matches(['<', '>']).to_ascii_lowercase();
    let rest = address.strip_prefix(&prefix.to_ascii_lowercase())?;
    let token = rest.strip_suffix(&suffix.to_ascii_lowercase())?;
    if token.len() != 32 + MAC_HEX {
        return None;
    }
    let id = Uuid::try_parse(&token[..32]).ok()?;
    let expected = mac(keys, id);
    let same = expected
        .bytes()
        .zip(token[32..].bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    (same == 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CryptoConfig;
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

    #[test]
    fn a_token_round_trips_and_a_forged_one_does_not() {
        let keys = keys();
        let t = "bounce+{token}@bounces.example.org";
        let id = Uuid::new_v4();
        let a = address(&keys, t, id).unwrap();
        assert!(a.len() - "@bounces.example.org".len() <= 64);
        assert_eq!(parse(&keys, t, &a), Some(id));
        assert_eq!(parse(&keys, t, &a.to_uppercase()), Some(id));
        let other = address(&keys, t, Uuid::new_v4()).unwrap();
        let forged = format!("{}{}", &a[..39], &other[39..]);
        assert_eq!(parse(&keys, t, &forged), None);
        assert_eq!(parse(&keys, t, "postmaster@bounces.example.org"), None);
        assert_eq!(address(&keys, "", id), None);
    }
}
