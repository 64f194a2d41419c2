//! Network address and port translation: Click's rewriters.
//!
//! | element | what it does |
//! |---|---|
//! | [`iprewriter`] `IPRewriter`, `TCPRewriter`, `UDPRewriter` | rewrite TCP/UDP flows by input spec, both directions |
//! | [`icmppingrewriter`] `ICMPPingRewriter` | rewrite ICMP echo requests (addresses, identifier) and their replies |
//! | [`icmprewriter`] `ICMPRewriter` | translate ICMP errors that quote a rewritten packet |
//! | [`ftpportmapper`] `FTPPortMapper` | map the data connections FTP `PORT` commands announce |
//! | [`ipaddrrewriter`] `IPAddrRewriter` | rewrite source addresses of any protocol, one per host (Basic NAT) |
//! | [`ipaddrpairrewriter`] `IPAddrPairRewriter` | rewrite addresses of any protocol per address pair |
//! | [`iprewriterpatterns`] `IPRewriterPatterns`, `RoundRobinIPMapper` | named patterns, round-robin mapping |
//!
//! The engine (mapping table, patterns, timeouts) is shared: [`table`], [`pattern`],
//! [`rewriter`].

use sluice_dataplane::ElementClass;

pub mod ftpportmapper;
pub mod icmppingrewriter;
pub mod icmprewriter;
pub mod ipaddrpairrewriter;
pub mod ipaddrrewriter;
pub mod iprewriter;
pub mod iprewriterpatterns;
pub mod pattern;
pub mod rewriter;
pub mod table;
#[cfg(test)]
mod testutil;

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use super::ftpportmapper::FTPPortMapper;
    pub use super::icmppingrewriter::ICMPPingRewriter;
    pub use super::icmprewriter::ICMPRewriter;
    pub use super::ipaddrpairrewriter::IPAddrPairRewriter;
    pub use super::ipaddrrewriter::IPAddrRewriter;
    pub use super::iprewriter::{IPRewriter, TCPRewriter, UDPRewriter};
    pub use super::iprewriterpatterns::{IPRewriterPatterns, RoundRobinIPMapper};
}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &classes::IPRewriter,
    &classes::TCPRewriter,
    &classes::UDPRewriter,
    &classes::ICMPPingRewriter,
    &classes::ICMPRewriter,
    &classes::FTPPortMapper,
    &classes::IPAddrRewriter,
    &classes::IPAddrPairRewriter,
    &classes::IPRewriterPatterns,
    &classes::RoundRobinIPMapper,
];
