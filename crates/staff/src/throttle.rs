//! Lock-out with back-off after repeated sign-in failures, per client
//! address (per user it is in `console_users`, shared by every front).
//!
//! After [`ADDRESS_FREE`] failures from one address, each further failure
//! locks the address for twice as long as the one before (30 s, 1 min,
//! 2 min ... at most an hour). Addresses are never stored: the key is an
//! HMAC of the address under a random key that lives only in this process
//! and is replaced, with every count, every hour (as for the appeals rate
//! limit). Offices share addresses behind NAT, hence the larger allowance
//! than per user. The state is per process: several front replicas each count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Failures from one address before back-off starts.
pub const ADDRESS_FREE: u32 = 10;
/// Failures of one user before back-off starts.
pub const USER_FREE: i32 = 5;

/// The first lock-out; each further failure doubles it.
const FIRST: Duration = Duration::from_secs(30);
/// The longest lock-out.
const LONGEST: Duration = Duration::from_secs(3600);
const EPOCH: Duration = Duration::from_secs(3600);

/// How long to lock after the `failures`-th failure, given `free` failures
/// without a lock.
pub fn backoff(failures: u32, free: u32) -> Option<Duration> {
    if failures < free {
        return None;
    }
    let doublings = (failures - free).min(10);
    Some((FIRST * 2u32.pow(doublings)).min(LONGEST))
}

struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
}

struct Epoch {
    key: Zeroizing<[u8; 32]>,
    started: Instant,
    entries: HashMap<[u8; 16], Entry>,
}

impl Epoch {
    fn new() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Epoch {
            key,
            started: Instant::now(),
            entries: HashMap::new(),
        }
    }

    fn bucket(&self, addr: IpAddr) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref())
            .expect("HMAC takes keys of any length");
        match addr {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => mac.update(&v4.octets()),
                None => mac.update(&a.octets()[..8]),
            },
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        out
    }
}

/// The per-address lock-out of console sign-ins.
pub struct AddressThrottle {
    epoch: Mutex<Epoch>,
}

impl Default for AddressThrottle {
    fn default() -> Self {
        AddressThrottle {
            epoch: Mutex::new(Epoch::new()),
        }
    }
}

impl AddressThrottle {
    fn with<T>(&self, f: impl FnOnce(&mut Epoch) -> T) -> T {
        let mut e = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        if e.started.elapsed() >= EPOCH {
            *e = Epoch::new();
        }
        f(&mut e)
    }

    /// Whether the address is locked out now.
    pub fn locked(&self, addr: IpAddr) -> bool {
        self.with(|e| {
            let b = e.bucket(addr);
            e.entries
                .get(&b)
                .and_then(|x| x.locked_until)
                .is_some_and(|t| t > Instant::now())
        })
    }

    /// Counts a failure (and locks the address if it is time).
    pub fn failed(&self, addr: IpAddr) {
        self.with(|e| {
            let b = e.bucket(addr);
            let entry = e.entries.entry(b).or_insert(Entry {
                failures: 0,
                locked_until: None,
            });
            entry.failures += 1;
            if let Some(d) = backoff(entry.failures, ADDRESS_FREE) {
                entry.locked_until = Some(Instant::now() + d);
            }
        })
    }

    /// A success forgets the address's failures.
    pub fn succeeded(&self, addr: IpAddr) {
        self.with(|e| {
            let b = e.bucket(addr);
            e.entries.remove(&b);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(4, 5), None);
        assert_eq!(backoff(5, 5), Some(Duration::from_secs(30)));
        assert_eq!(backoff(6, 5), Some(Duration::from_secs(60)));
        assert_eq!(backoff(8, 5), Some(Duration::from_secs(240)));
        assert_eq!(backoff(40, 5), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn an_address_is_locked_after_its_allowance() {
        let t = AddressThrottle::default();
        let a: IpAddr = "203.0.113.9".parse().unwrap();
        let b: IpAddr = "203.0.113.10".parse().unwrap();
        for _ in 0..ADDRESS_FREE - 1 {
            t.failed(a);
        }
        assert!(!t.locked(a));
        t.failed(a);
        assert!(t.locked(a));
        assert!(!t.locked(b));
        t.succeeded(a);
        assert!(!t.locked(a));
    }
}
