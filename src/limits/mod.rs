//! Rate limits and lockouts, counted in the [`crate::store`].

pub mod limiter;
pub mod refused;

use std::net::{IpAddr, Ipv6Addr};

pub use crate::store::Rule;
pub use limiter::{Denied, Limited, LimitedAction, Limiter, LimitsConfig};

/// The network a client address stands for: an IPv4 address, or an IPv6 /64. An IPv6
/// host is usually given a whole /64 and picks addresses in it at will, so the /64 is
/// what one client owns.
fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}
