//! The appeals rate limit: `appeals.rate_limit_per_minute` per client
//! address (GCRA, via `governor`), keyed by a short-lived keyed hash of the
//! address, never the address itself.
//!
//! The hash is HMAC-SHA-256 under a random key that lives only in this
//! process's memory and is replaced every hour, together with the limiter
//! state: after an hour nothing in memory links a bucket to an address, and
//! nothing about addresses is ever written anywhere. IPv6 addresses count
//! by their /64 (one household or phone usually holds a whole /64).
//!
//! The client address is the TCP peer; `X-Forwarded-For` is never believed
//! here (a loopback peer may be a tunnel forwarding the client's own
//! header). It must never log an address or its hash.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// How long one hashing key (and the limiter state under it) lives.
const EPOCH: Duration = Duration::from_secs(3600);

/// What a request is trying to do: each has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Submitting an appeal.
    Submit,
    /// Looking up a status or adding information (guessing pairs).
    Status,
}

struct Epoch {
    key: Zeroizing<[u8; 32]>,
    started: Instant,
    limiter: DefaultKeyedRateLimiter<[u8; 16]>,
}

impl Epoch {
    fn new(quota: Quota) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Epoch {
            key,
            started: Instant::now(),
            limiter: RateLimiter::keyed(quota),
        }
    }

    fn bucket(&self, purpose: Purpose, addr: IpAddr) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(&[purpose as u8]);
        match addr {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => mac.update(&v4.octets()),
                None => mac.update(&a.octets()[..8]),
            },
        }
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }
}

/// The limiter every front handler of appeals shares.
pub struct AppealRateLimit {
    quota: Quota,
    epoch: RwLock<Epoch>,
}

impl AppealRateLimit {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"));
        AppealRateLimit {
            quota,
            epoch: RwLock::new(Epoch::new(quota)),
        }
    }

    /// `Ok` if the address may go on, else how long until it may.
    pub fn check(&self, purpose: Purpose, addr: IpAddr) -> Result<(), Duration> {
        self.rotate_if_due();
        let epoch = self.epoch.read().unwrap_or_else(|p| p.into_inner());
        let bucket = epoch.bucket(purpose, addr);
        epoch
            .limiter
            .check_key(&bucket)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// A new key and an empty limiter once the current ones are an hour old.
    fn rotate_if_due(&self) {
        let due = self
            .epoch
            .read()
            .map(|e| e.started.elapsed() >= EPOCH)
            .unwrap_or(true);
        if due {
            let mut epoch = self.epoch.write().unwrap_or_else(|p| p.into_inner());
            if epoch.started.elapsed() >= EPOCH {
                *epoch = Epoch::new(self.quota);
            }
        }
    }
}

/// The client's address (see the module docs) as an extractor. Without a
/// peer address (a router called directly, as in unit tests) every request
/// shares one bucket.
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok(ClientAddr(client_addr(peer, &parts.headers)))
    }
}

/// The client's address: the TCP peer. `X-Forwarded-For` is not believed,
/// not even from loopback (a Tor onion service, stunnel or an SSH tunnel
/// forwards whatever header the client sent); trusted proxies are
/// configured in one place (`http.trusted_proxies`).
pub fn client_addr(peer: SocketAddr, _headers: &HeaderMap) -> IpAddr {
    peer.ip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_address_and_per_purpose() {
        let rl = AppealRateLimit::new(3);
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..3 {
            assert!(rl.check(Purpose::Submit, a).is_ok());
        }
        let wait = rl.check(Purpose::Submit, a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert!(rl.check(Purpose::Submit, b).is_ok());
        assert!(rl.check(Purpose::Status, a).is_ok());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let rl = AppealRateLimit::new(1);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        assert!(rl.check(Purpose::Submit, a).is_ok());
        assert!(rl.check(Purpose::Submit, b).is_err());
    }

    #[test]
    fn forwarded_for_is_not_believed_even_from_loopback() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "10.0.0.1, 198.51.100.4".parse().unwrap());
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert_eq!(client_addr(local, &h), local.ip());
        assert_eq!(client_addr(remote, &h), remote.ip());
        assert_eq!(client_addr(local, &HeaderMap::new()), local.ip());
    }
}
