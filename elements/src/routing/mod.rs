//! IP routing elements: ARP, ICMP errors and echo, route lookup, fragmentation, gateway
//! options, paint checks. With the `ip` family they make Click's classic IP router
//! configuration runnable.
//!
//! | element | what it does |
//! |---|---|
//! | [`ARPQuerier`](arpquerier) | encapsulates IP in Ethernet, resolving next hops with ARP |
//! | [`ARPTable`](arptable) | holds IP-to-Ethernet mappings that `ARPQuerier`s share |
//! | [`ARPResponder`](arpresponder) | answers ARP requests for configured prefixes |
//! | [`ARPPrint`](arpprint) | prints ARP packets, tcpdump style |
//! | [`ICMPPingResponder`](icmppingresponder) | turns echo requests into echo replies |
//! | [`ICMPError`](icmperror) | builds ICMP error messages quoting the offending packet |
//! | [`LinearIPLookup`, `StaticIPLookup`](lineariplookup) | longest-prefix match, linear scan |
//! | [`RadixIPLookup`](radixiplookup) | longest-prefix match, multibit trie |
//! | [`DirectIPLookup`](directiplookup) | longest-prefix match, served by the multibit trie |
//! | [`RangeIPLookup`](rangeiplookup) | longest-prefix match, served by the multibit trie |
//! | [`IPFragmenter`](ipfragmenter) | splits packets larger than the MTU |
//! | [`IPReassembler`](ipreassembler) | reassembles fragmented packets |
//! | [`IPGWOptions`](ipgwoptions) | Record Route and Timestamp options |
//! | [`FixIPSrc`](fixipsrc) | sets the source address of locally generated errors |
//! | [`PaintTee`, `CheckPaint`](paint) | decisions on the paint annotation |

#![allow(non_upper_case_globals)]

use sluice_dataplane::ElementClass;

pub mod addr;
pub mod arpmsg;
pub mod arpprint;
pub mod arpquerier;
pub mod arpresponder;
pub mod arptable;
pub mod directiplookup;
pub mod fixipsrc;
pub mod icmperror;
pub mod icmppingresponder;
pub mod ipfragmenter;
pub mod ipgwoptions;
pub mod ipreassembler;
pub mod iproute;
pub mod lineariplookup;
pub mod paint;
pub mod radixiplookup;
pub mod rangeiplookup;
#[cfg(test)]
mod testutil;

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use super::arpprint::ARPPrint;
    pub use super::arpquerier::ARPQuerier;
    pub use super::arpresponder::ARPResponder;
    pub use super::arptable::ARPTable;
    pub use super::directiplookup::DirectIPLookup;
    pub use super::fixipsrc::FixIPSrc;
    pub use super::icmperror::ICMPError;
    pub use super::icmppingresponder::ICMPPingResponder;
    pub use super::ipfragmenter::IPFragmenter;
    pub use super::ipgwoptions::IPGWOptions;
    pub use super::ipreassembler::IPReassembler;
    pub use super::lineariplookup::{LinearIPLookup, StaticIPLookup};
    pub use super::paint::{CheckPaint, PaintTee};
    pub use super::radixiplookup::RadixIPLookup;
    pub use super::rangeiplookup::RangeIPLookup;
}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &classes::ARPQuerier,
    &classes::ARPTable,
    &classes::ARPResponder,
    &classes::ARPPrint,
    &classes::ICMPPingResponder,
    &classes::ICMPError,
    &classes::LinearIPLookup,
    &classes::StaticIPLookup,
    &classes::RadixIPLookup,
    &classes::DirectIPLookup,
    &classes::RangeIPLookup,
    &classes::IPFragmenter,
    &classes::IPReassembler,
    &classes::IPGWOptions,
    &classes::FixIPSrc,
    &classes::PaintTee,
    &classes::CheckPaint,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_class_is_listed_once() {
        let mut names: alloc::vec::Vec<&str> = super::ALL.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(n, 17);
    }
}
