//! Mail that arrives: DKIM checked by an independent verifier (`mail-auth`,
//! not our signer) on the bytes the loopback SMTP server received, and
//! bounces and complaints sent back to our bounce listener by a real SMTP
//! client (lettre).

mod bounce_abuse;
mod bounces;
mod dkim;
mod inline_images;
mod pipelining;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, ResolverCache, Txt};
use nasvyazi_tests::smtp::{Received, SmtpServer};

pub const FROM: &str = "Қоғамдық қор «Жаңа өмір» — Новая жизнь <noreply@forum.example.kz>";
pub const DOMAIN: &str = "forum.example.kz";
pub const RETURN_PATH: &str = "bounce+{token}@bounces.forum.example.kz";

/// (selector, PEM or seed, public key as published) of the test keys,
/// made with openssl: `genrsa -traditional` (PKCS#1), `genpkey -algorithm
/// RSA` (PKCS#8), `genpkey -algorithm ed25519`; public halves by
/// `openssl pkey -pubout`.
pub const RSA_PKCS1: (&str, &str, &str) = (
    "s2026",
    include_str!("keys/rsa-pkcs1.pem"),
    include_str!("keys/rsa-pkcs1.pub.b64"),
);
pub const RSA_PKCS8: (&str, &str, &str) = (
    "s2027",
    include_str!("keys/rsa-pkcs8.pem"),
    include_str!("keys/rsa-pkcs8.pub.b64"),
);
pub const ED25519: (&str, &str, &str) = (
    "ed2026",
    include_str!("keys/ed25519.pem"),
    include_str!("keys/ed25519.pub.b64"),
);

/// The `[email]` section: SMTP to the loopback server, three DKIM keys
/// (current RSA, next RSA, Ed25519), VERP.
pub fn email_config(smtp: &SmtpServer, extra: &str) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\nfrom = \"{FROM}\"\ntimeout_secs = 5\n\
         max_per_second = 100000\nmax_per_domain_per_minute = 1000000\n\
         unsubscribe_mailto = \"unsubscribe@{DOMAIN}\"\n\
         dkim_domain = \"{DOMAIN}\"\n\
         dkim_selector = \"{s1}\"\ndkim_private_key = '''{k1}'''\n\
         dkim_next_selector = \"{s2}\"\ndkim_next_private_key = '''{k2}'''\n\
         dkim_ed25519_selector = \"{s3}\"\ndkim_ed25519_key = '''{k3}'''\n\
         return_path = \"{RETURN_PATH}\"\n{extra}",
        url = smtp.url(),
        s1 = RSA_PKCS1.0,
        k1 = RSA_PKCS1.1,
        s2 = RSA_PKCS8.0,
        k2 = RSA_PKCS8.1,
        s3 = ED25519.0,
        k3 = ED25519.1,
    )
}

/// The verifier's DNS: the published records, nothing else.
struct Dns(Mutex<HashMap<String, Txt>>);

impl ResolverCache<String, Txt> for Dns {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: String, value: Txt, _: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// The DKIM results of `m` as (selector, algorithm, pass), checked by
/// `mail-auth` against the keys openssl made (published only for
/// `published` selectors).
pub async fn verify(m: &Received, published: &[(&str, &str, &str)]) -> Vec<(String, bool)> {
    let dns = Dns(Mutex::new(HashMap::new()));
    for (selector, _, public) in published {
        let k = if *selector == ED25519.0 {
            "ed25519"
        } else {
            "rsa"
        };
        let record = format!("v=DKIM1; k={k}; p={}", public.trim());
        dns.insert(
            format!("{selector}._domainkey.{DOMAIN}."),
            Txt::from(DomainKey::parse(record.as_bytes()).expect("record")),
            Instant::now() + Duration::from_secs(3600),
        );
    }
    let authenticator = MessageAuthenticator::new_cloudflare().expect("resolver");
    let message = AuthenticatedMessage::parse(&m.data).expect("parsable");
    let out = authenticator
        .verify_dkim(mail_auth::Parameters::new(&message).with_txt_cache(&dns))
        .await;
    out.iter()
        .map(|o| {
            let selector = o.signature().map(|s| s.s.clone()).unwrap_or_default();
            (selector, *o.result() == DkimResult::Pass)
        })
        .collect()
}

/// Every message passes with all three keys, each signature covering
/// the one-click headers when the message has them.
pub async fn assert_verifies(what: &str, m: &Received) {
    let all = [RSA_PKCS1, RSA_PKCS8, ED25519];
    let mut got = verify(m, &all).await;
    got.sort();
    assert_eq!(
        got,
        vec![
            (ED25519.0.to_string(), true),
            (RSA_PKCS1.0.to_string(), true),
            (RSA_PKCS8.0.to_string(), true),
        ],
        "{what}: every signature verifies:\n{}",
        m.data_str()
    );
    let text = m.data_str();
    let sigs: Vec<&str> = text
        .split("DKIM-Signature:")
        .skip(1)
        .map(|s| s.split("bh=").next().unwrap())
        .collect();
    assert_eq!(sigs.len(), 3, "{what}");
    for s in sigs {
        let h: String = s
            .split("h=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .replace(['\r', '\n', '\t', ' '], "");
        assert!(s.contains("c=relaxed/relaxed"), "{what}: {s}");
        for needed in [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "mime-version",
            "content-type",
        ] {
            assert!(
                h.split(':').any(|n| n == needed),
                "{what}: {needed} signed: {h}"
            );
        }
        if m.header("List-Unsubscribe").is_some() {
            for needed in ["list-unsubscribe", "list-unsubscribe-post"] {
                assert!(
                    h.split(':').any(|n| n == needed),
                    "{what}: {needed} signed: {h}"
                );
            }
        }
        if m.header("Reply-To").is_some() {
            assert!(
                h.split(':').any(|n| n == "reply-to"),
                "{what}: reply-to signed"
            );
        }
    }
    assert!(
        m.mail_from.starts_with("bounce+") && m.mail_from.ends_with("@bounces.forum.example.kz"),
        "{what}: VERP envelope sender, got {}",
        m.mail_from
    );
    assert!(
        !m.mail_from
            .contains(&m.rcpt_to[0].split('@').next().unwrap().to_string()),
        "{what}: the return path does not reveal the address"
    );
    assert!(
        m.header("Return-Path").is_none(),
        "{what}: no Return-Path header from us"
    );
}
