//! IP routing elements: ARP, ICMP errors and echo, route lookup, fragmentation, gateway
//! options, paint checks. With the `ip` family they make Click's classic IP router
//! configuration runnable.
//!
//! | element | what it does |
//! |---|---|
//! | [`LinearIPLookup`](lineariplookup), `StaticIPLookup` | longest-prefix match, linear scan |
//! | [`RadixIPLookup`](radixiplookup) | longest-prefix match, multibit trie |

#![allow(non_upper_case_globals)]

use sluice_dataplane::ElementClass;

pub mod addr;
pub mod arpmsg;
pub mod arpquerier;
pub mod arpresponder;
pub mod arptable;
pub mod icmperror;
pub mod icmppingresponder;
pub mod iproute;
pub mod lineariplookup;
pub mod radixiplookup;
#[cfg(test)]
mod testutil;

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use super::arpquerier::ARPQuerier;
    pub use super::arpresponder::ARPResponder;
    pub use super::icmperror::ICMPError;
    pub use super::icmppingresponder::ICMPPingResponder;
    pub use super::lineariplookup::{LinearIPLookup, StaticIPLookup};
    pub use super::radixiplookup::RadixIPLookup;
}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &classes::LinearIPLookup,
    &classes::StaticIPLookup,
    &classes::RadixIPLookup,
];
