//! Anti-abuse limits kept in PostgreSQL (table `rate_limits`), so they
//! hold across restarts and are shared by every replica; and the one
//! function that says who a request's client is.
//!
//! Each budget is a GCRA (generic cell rate algorithm): `count` per
//! `period` with a burst of `count`, one row per key holding the
//! "theoretical arrival time". One upsert decides and records a request,
//! under the row's lock, so concurrent requests on any replica never
//! overspend. Keys are HMACs of the purpose and the subject under the
//! blind-index key: no address, email or chat id is ever stored, and rows
//! go away once their budget has refilled.
//!
//! It must never log a client address or a key.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::HeaderMap;
pub use ipnet::IpNet;
use sqlx::PgConnection;

use nasvyazi_crypto::Keyring;

/// A budget: `count` requests per `period`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub count: u32,
    pub period: Duration,
}

impl Budget {
    pub fn per_minute(count: u32) -> Self {
        Budget {
            count: count.max(1),
            period: Duration::from_secs(60),
        }
    }

    pub fn per_hour(count: u32) -> Self {
        Budget {
            count: count.max(1),
            period: Duration::from_secs(3600),
        }
    }

    /// What one request spends.
    fn interval(&self) -> f64 {
        self.period.as_secs_f64() / self.count as f64
    }
}

/// The key of `subject`'s budget for `purpose` (e.g. `post`, `confirm`).
pub fn key(keys: &Keyring, purpose: &str, subject: &[u8]) -> Vec<u8> {
    keys.blind_index(&format!("limit:{purpose}"), &hex::encode(subject))
}

/// The key of a client address's budget: IPv6 counts by its /64 (one
/// household or phone usually holds a whole /64).
pub fn client_key(keys: &Keyring, purpose: &str, addr: IpAddr) -> Vec<u8> {
    match addr.to_canonical() {
        IpAddr::V4(a) => key(keys, purpose, &a.octets()),
        IpAddr::V6(a) => key(keys, purpose, &a.octets()[..8]),
    }
}

/// The key of a process-wide budget (`name` is a constant, never personal).
pub fn global_key(name: &str) -> Vec<u8> {
    format!("global:{name}").into_bytes()
}

/// Spends one request of `key`'s `budget`: `Ok(())`, or `Err(wait)` until
/// one would be allowed (nothing is spent then).
pub async fn take(
    conn: &mut PgConnection,
    key: &[u8],
    budget: Budget,
) -> sqlx::Result<Result<(), Duration>> {
    let taken: Option<i32> = sqlx::query_scalar(
        "INSERT INTO rate_limits AS r (key, tat)
         VALUES ($1, clock_timestamp() + make_interval(secs => $2))
         ON CONFLICT (key) DO UPDATE
             SET tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => $2)
             WHERE greatest(r.tat, clock_timestamp()) + make_interval(secs => $2)
                   <= clock_timestamp() + make_interval(secs => $3)
         RETURNING 1",
    )
    .bind(key)
    .bind(budget.interval())
    .bind(budget.period.as_secs_f64())
    .fetch_optional(&mut *conn)
    .await?;
    if taken.is_some() {
        return Ok(Ok(()));
    }
    let wait: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM tat + make_interval(secs => $2) - make_interval(secs => $3)
                                  - clock_timestamp())::float8
         FROM rate_limits WHERE key = $1",
    )
    .bind(key)
    .bind(budget.interval())
    .bind(budget.period.as_secs_f64())
    .fetch_optional(&mut *conn)
    .await?;
    let wait = wait.unwrap_or(0.0).max(0.001);
    Ok(Err(Duration::from_secs_f64(wait)))
}

/// Deletes budgets that have refilled completely (they mean nothing).
pub async fn delete_refilled(conn: &mut PgConnection) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM rate_limits WHERE tat < now()")
        .execute(conn)
        .await?
        .rows_affected())
}

/// A request's client address: the TCP peer, unless the peer is one of
/// `trusted` proxies; then the right-most `X-Forwarded-For` entry that is
/// not a trusted proxy (each proxy appends the address it saw, so entries
/// to the left of the first untrusted one are whatever the client wrote).
/// Every limiter uses this; the header is never believed otherwise.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |a: &IpAddr| trusted.iter().any(|n| n.contains(a));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        // Garbage can only come from the client's end (the proxies write
        // valid addresses): stop at the nearest hop seen so far.
        let Ok(addr) = entry.parse::<IpAddr>().map(|a| a.to_canonical()) else {
            return nearest;
        };
        if !is_trusted(&addr) {
            return addr;
        }
        nearest = addr;
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn the_header_is_ignored_from_an_untrusted_peer() {
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let h = xff("198.51.100.4");
        assert_eq!(client_addr(peer, &h, &[]), peer);
        assert_eq!(client_addr(peer, &h, &nets(&["10.0.0.0/8"])), peer);
        // Loopback is not trusted unless listed.
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(client_addr(local, &h, &[]), local);
    }

    #[test]
    fn the_right_most_untrusted_entry_from_a_trusted_peer() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let h = xff("6.6.6.6, 198.51.100.4, 10.1.2.3");
        assert_eq!(
            client_addr(peer, &h, &trusted),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_addr(peer, &HeaderMap::new(), &trusted), peer);
        let garbage = xff("junk, 10.1.2.3");
        assert_eq!(
            client_addr(peer, &garbage, &trusted),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            client_addr(mapped, &xff("203.0.113.9"), &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }
}

/// Proof of work for busy times (`limits.proof_of_work`): a challenge the
/// server issues and signs, which a submission presents, solved either in
/// CPU (hashcash: a counter with which SHA-256 of `challenge:counter` has
/// `bits` leading zero bits) or in time (no JavaScript needed: the
/// challenge is at least `wait` old). Single use is the caller's table
/// (`pow_spent`); this part needs no storage.
///
/// A challenge is `v1.<issued unix seconds>.<random>.<mac>`, the MAC an
/// HMAC under the blind-index key: no one else can make one or move its
/// issue time.
pub mod pow {
    use sha2::{Digest, Sha256};

    use nasvyazi_crypto::{Keyring, random_token};

    fn mac(keys: &Keyring, issued: i64, nonce: &str) -> String {
        hex::encode(&keys.blind_index("pow", &format!("{issued}.{nonce}"))[..16])
    }

    /// A fresh challenge issued at `now` (unix seconds).
    pub fn issue(keys: &Keyring, now: i64) -> String {
        let nonce = random_token(12);
        format!("v1.{now}.{nonce}.{}", mac(keys, now, &nonce))
    }

    /// What a presented proof settles.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Valid {
        /// SHA-256 of the challenge: the single-use key.
        pub spent_key: Vec<u8>,
        /// When the challenge expires (unix seconds).
        pub expires: i64,
    }

    /// The rules of one check.
    #[derive(Debug, Clone, Copy)]
    pub struct Rules {
        pub bits: u32,
        pub wait_secs: i64,
        pub ttl_secs: i64,
    }

    /// Checks `presented` (`<challenge>` or `<challenge>:<counter>`) at
    /// `now`: signed by us, not expired, and solved (counter) or old
    /// enough (wait). `None` for anything else, whatever was wrong.
    pub fn check(keys: &Keyring, presented: &str, now: i64, rules: Rules) -> Option<Valid> {
        let (challenge, counter) = match presented.trim().rsplit_once(':') {
            Some((c, n)) => (c, Some(n)),
            None => (presented.trim(), None),
        };
        let mut parts = challenge.split('.');
        let (Some("v1"), Some(issued), Some(nonce), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let issued: i64 = issued.parse().ok()?;
        let expected = mac(keys, issued, nonce);
        let same = expected.len() == tag.len()
            && expected
                .bytes()
                .zip(tag.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same || now < issued || now >= issued + rules.ttl_secs {
            return None;
        }
        let solved = match counter {
            Some(n) if n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()) => {
                leading_zero_bits(&Sha256::digest(format!("{challenge}:{n}"))) >= rules.bits
            }
            Some(_) => false,
            None => false,
        };
        if !solved && now - issued < rules.wait_secs {
            return None;
        }
        Some(Valid {
            spent_key: Sha256::digest(challenge.as_bytes()).to_vec(),
            expires: issued + rules.ttl_secs,
        })
    }

    /// The counter that solves `challenge` for `bits` (what a client or a
    /// test runs; about 2^bits hashes).
    pub fn solve(challenge: &str, bits: u32) -> u64 {
        (0u64..)
            .find(|n| leading_zero_bits(&Sha256::digest(format!("{challenge}:{n}"))) >= bits)
            .expect("some counter solves it")
    }

    fn leading_zero_bits(hash: &[u8]) -> u32 {
        let mut n = 0;
        for b in hash {
            if *b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const RULES: Rules = Rules {
            bits: 8,
            wait_secs: 5,
            ttl_secs: 600,
        };

        #[test]
        fn a_challenge_is_solved_by_work_or_by_waiting_and_is_ours_only() {
            let keys = Keyring::generate();
            let c = issue(&keys, 1000);
            // Too young, no work: refused; old enough: accepted.
            assert!(check(&keys, &c, 1002, RULES).is_none());
            let v = check(&keys, &c, 1005, RULES).unwrap();
            assert_eq!(v.expires, 1600);
            // Worked for: accepted at once; a wrong counter is not.
            let n = solve(&c, RULES.bits);
            assert!(check(&keys, &format!("{c}:{n}"), 1000, RULES).is_some());
            let wrong = (0u64..)
                .find(|m| leading_zero_bits(&Sha256::digest(format!("{c}:{m}"))) < RULES.bits)
                .unwrap();
            assert!(check(&keys, &format!("{c}:{wrong}"), 1001, RULES).is_none());
            // Expired, forged, another key's, moved in time: refused.
            assert!(check(&keys, &c, 1600, RULES).is_none());
            assert!(check(&keys, &c.replace("v1.1000.", "v1.900."), 1005, RULES).is_none());
            assert!(check(&Keyring::generate(), &c, 1005, RULES).is_none());
            assert!(check(&keys, "v1.1000.x.y", 1005, RULES).is_none());
            assert!(check(&keys, "", 1005, RULES).is_none());
            // The single-use key is the challenge's, however it was solved.
            let a = check(&keys, &format!("{c}:{n}"), 1001, RULES).unwrap();
            assert_eq!(a.spent_key, v.spent_key);
        }

        #[test]
        fn leading_zero_bits_counts_across_bytes() {
            assert_eq!(leading_zero_bits(&[0, 0, 0x10]), 19);
            assert_eq!(leading_zero_bits(&[0x80]), 0);
            assert_eq!(leading_zero_bits(&[0, 1]), 15);
        }
    }
}
