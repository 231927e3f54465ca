//! Networks refused by a per-network limit (sign-ins, code checks, tokens: one table
//! each), remembered until they may try again.
//!
//! A refusal by a per-network limit says how long until the next attempt from that
//! network could be admitted, and nothing can shorten that wait: GCRA only moves a
//! key's next admission later, whoever admits (another instance sharing the store
//! included). So until then this instance may refuse the network's attempts on its own,
//! without asking the store (and for sign-ins, before the session cookie is read: see
//! `routes::shed`): a flood, nearly all of it refused, costs a lookup here per request.
//!
//! A fixed table of slots, each a network and its time, placed by a hash of the
//! network: O(1), a fixed amount of memory, no scan. Two networks that share a slot
//! take turns; a network whose slot was taken is asked about in the store again,
//! which is only slower, never wrong.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

use super::network;
use std::sync::Mutex;

/// Slots in the table: enough for the networks of a flood from many places at once.
const SLOTS: usize = 1024;

#[derive(Clone, Copy)]
struct Slot {
    network: IpAddr,
    /// Unix milliseconds, by the store's clock: refused until then.
    until_ms: u64,
}

pub struct RefusedNetworks {
    hasher: RandomState,
    // Held for one slot's read or write, never across I/O.
    slots: Mutex<Box<[Option<Slot>]>>,
}

impl Default for RefusedNetworks {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            slots: Mutex::new(vec![None; SLOTS].into_boxed_slice()),
        }
    }
}

impl RefusedNetworks {
    /// How long `ip`'s network is still refused at `now_ms`, in milliseconds.
    pub fn refused_for(&self, ip: IpAddr, now_ms: u64) -> Option<u64> {
        let network = network(ip);
        let slot = self.slots()[self.index(network)]?;
        (slot.network == network && slot.until_ms > now_ms).then(|| slot.until_ms - now_ms)
    }

    /// `ip`'s network is refused until `until_ms`.
    pub fn remember(&self, ip: IpAddr, until_ms: u64) {
        let network = network(ip);
        let index = self.index(network);
        self.slots()[index] = Some(Slot { network, until_ms });
    }

    fn index(&self, network: IpAddr) -> usize {
        (self.hasher.hash_one(network) % SLOTS as u64) as usize
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Box<[Option<Slot>]>> {
        // Slots are written whole: a panic elsewhere can't leave one half-written.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_network_is_refused_until_its_time_and_no_longer() {
        let refused = RefusedNetworks::default();
        refused.remember(ip("203.0.113.7"), 10_000);
        assert_eq!(refused.refused_for(ip("203.0.113.7"), 4_000), Some(6_000));
        assert_eq!(refused.refused_for(ip("203.0.113.7"), 10_000), None);
        assert_eq!(refused.refused_for(ip("203.0.113.8"), 4_000), None);
    }

    #[test]
    fn an_ipv6_network_is_its_64_and_a_mapped_ipv4_address_is_the_address() {
        let refused = RefusedNetworks::default();
        refused.remember(ip("2001:db8:1:2::17"), 10_000);
        assert!(refused.refused_for(ip("2001:db8:1:2:ffff::1"), 0).is_some());
        assert!(refused.refused_for(ip("2001:db8:1:3::17"), 0).is_none());
        refused.remember(ip("::ffff:198.51.100.4"), 10_000);
        assert!(refused.refused_for(ip("198.51.100.4"), 0).is_some());
    }

    #[test]
    fn the_table_stays_its_size_whatever_the_number_of_networks() {
        let refused = RefusedNetworks::default();
        for n in 0..100_000u32 {
            refused.remember(IpAddr::from(n.to_be_bytes()), 10_000);
        }
        assert_eq!(refused.slots().len(), SLOTS);
        // The latest are there (bar the few whose slot a later one took).
        let last = (99_000..100_000u32)
            .filter(|n| {
                refused
                    .refused_for(IpAddr::from(n.to_be_bytes()), 0)
                    .is_some()
            })
            .count();
        assert!(last > 500, "{last}");
    }
}
