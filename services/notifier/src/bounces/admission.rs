//! Who may talk to the bounce listener at once: at most
//! `bounces.max_connections` conversations, and at most
//! `bounces.max_connections_per_address` from one client address, so one
//! client holding idle connections cannot keep every real report at 421.
//! An IPv6 /64 counts as one address (one subscriber line gets billions of
//! them); an IPv4-mapped IPv6 address counts as its IPv4 address. A slot is
//! given back when its [`Admitted`] guard drops.
//!
//! Must never log or keep a client address: the table holds an address
//! only while it has a connection open.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The connection table: free slots and open connections per address.
pub struct Admission {
    /// Free conversation slots (`bounces.max_connections` in all).
    slots: Arc<Semaphore>,
    total: usize,
    /// Open connections per client address (its /64 for IPv6); an address
    /// leaves the table with its last connection.
    per_address: Mutex<HashMap<IpAddr, usize>>,
    per_address_cap: usize,
}

/// Why a connection was turned away (answered 421 and closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address already has `max_connections_per_address` open.
    PerAddress,
    /// Every slot is taken.
    Busy,
}

impl Refused {
    /// The label in `nasvyazi_bounce_listener_limited_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refused::PerAddress => "per_address",
            Refused::Busy => "busy",
        }
    }

    /// The greeting instead of 220 (RFC 5321 §3.1, §4.2.5: 421 and close).
    pub fn reply(self) -> &'static [u8] {
        match self {
            Refused::PerAddress => b"421 4.7.0 Too many connections from your address\r\n",
            Refused::Busy => b"421 4.3.2 Too busy, try again later\r\n",
        }
    }
}

/// A slot held by one connection; dropping it gives the slot back.
pub struct Admitted {
    table: Arc<Admission>,
    key: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(total: usize, per_address: usize) -> Arc<Self> {
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(total)),
            total,
            per_address: Mutex::new(HashMap::new()),
            per_address_cap: per_address,
        })
    }

    /// A slot for a connection from `ip`, or why not. The per-address cap
    /// is checked first, so refused connections cost no slot.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let key = key(ip);
        let mut table = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
        if table.get(&key).copied().unwrap_or(0) >= self.per_address_cap {
            return Err(Refused::PerAddress);
        }
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        *table.entry(key).or_insert(0) += 1;
        drop(table);
        self.gauge();
        Ok(Admitted {
            table: self.clone(),
            key,
            _slot: slot,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total - self.slots.available_permits()
    }

    fn gauge(&self) {
        metrics::gauge!("nasvyazi_bounce_listener_connections").set(self.open() as f64);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut table = self
            .table
            .per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = table.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                table.remove(&self.key);
            }
        }
        drop(table);
        // The permit is released after this body; count it as gone.
        let open = self.table.open().saturating_sub(1);
        metrics::gauge!("nasvyazi_bounce_listener_connections").set(open as f64);
    }
}

/// The unit an address is counted in: IPv4 as is, IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let t = Admission::new(4, 2);
        let a1 = t.admit(ip("192.0.2.1")).unwrap();
        let _a2 = t.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(t.admit(ip("192.0.2.1")).err(), Some(Refused::PerAddress));
        // The same address written as IPv4-mapped IPv6 is the same client.
        assert_eq!(
            t.admit(ip("::ffff:192.0.2.1")).err(),
            Some(Refused::PerAddress)
        );
        let _b1 = t.admit(ip("192.0.2.2")).unwrap();
        let _b2 = t.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(t.admit(ip("192.0.2.3")).err(), Some(Refused::Busy));
        assert_eq!(t.open(), 4);
        drop(a1);
        assert_eq!(t.open(), 3);
        let _a3 = t.admit(ip("192.0.2.1")).unwrap();
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address() {
        let t = Admission::new(10, 1);
        let _a = t.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            t.admit(ip("2001:db8:1:2:ffff::9")).err(),
            Some(Refused::PerAddress)
        );
        let _b = t.admit(ip("2001:db8:1:3::1")).unwrap();
    }

    #[test]
    fn a_refused_address_leaves_nothing_behind() {
        let t = Admission::new(1, 1);
        let a = t.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(t.admit(ip("192.0.2.9")).err(), Some(Refused::Busy));
        drop(a);
        assert!(t.per_address.lock().unwrap().is_empty());
    }
}
