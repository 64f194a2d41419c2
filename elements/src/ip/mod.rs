//! IP and Ethernet header elements: checking, marking, stripping and encapsulating headers,
//! TTL and checksums, addresses, printing, VLAN tags.
//!
//! | file | elements |
//! |---|---|
//! | [`checkipheader`] | `CheckIPHeader`, `CheckIPHeader2` |
//! | [`headers`] | `MarkIPHeader`, `Strip`, `StripIPHeader`, `Unstrip` |
//! | [`markmacheader`] | `MarkMACHeader` |
//! | [`ether`] | `EtherEncap`, `EtherRewrite`, `StoreEtherAddress`, `EtherMirror`, `HostEtherFilter`, `DropBroadcasts` |
//! | [`decipttl`] | `DecIPTTL` |
//! | [`checksums`] | `SetIPChecksum`, `SetTCPChecksum`, `SetUDPChecksum` |
//! | [`ipaddress`] | `GetIPAddress`, `SetIPAddress`, `SetRandIPAddress`, `StoreIPAddress` |
//! | [`checktransport`] | `CheckICMPHeader`, `CheckTCPHeader`, `CheckUDPHeader` |
//! | [`vlan`] | `VLANEncap`, `VLANDecap` |
//! | [`ethervlan`] | `EtherVLANEncap`, `StripEtherVLANHeader`, `SetVLANAnno` |
//! | [`ipprint`] | `IPPrint` |
//! | [`checkip6header`] | `CheckIP6Header` |
//! | [`fastudpsource`] | `FastUDPSource` |
//! | [`encap`] | `IPEncap`, `UDPIPEncap` |
//! | [`icmpipencap`] | `ICMPIPEncap`, `ICMPPingEncap` |
//! | [`striptonetworkheader`] | `StripToNetworkHeader` |
//! | [`unstripipheader`] | `UnstripIPHeader` |
//! | [`tos`] | `SetIPDSCP`, `MarkIPCE` |
#![allow(non_upper_case_globals)]

use sluice_dataplane::ElementClass;

pub mod checkip6header;
pub mod checkipheader;
pub mod checksums;
pub mod checktransport;
pub(crate) mod common;
pub mod decipttl;
pub mod encap;
pub mod ether;
pub mod ethervlan;
pub mod fastudpsource;
pub mod headers;
pub mod icmpipencap;
pub mod ipaddress;
pub mod ipprint;
pub mod markmacheader;
#[cfg(test)]
mod proptests;
pub mod striptonetworkheader;
#[cfg(test)]
pub(crate) mod testutil;
pub mod tos;
pub mod unstripipheader;
pub mod vlan;

/// The classes of this family, each a `static` named as Click names it.
pub mod classes {
    pub use super::checkip6header::CheckIP6Header;
    pub use super::checkipheader::{CheckIPHeader, CheckIPHeader2};
    pub use super::checksums::{SetIPChecksum, SetTCPChecksum, SetUDPChecksum};
    pub use super::checktransport::{CheckICMPHeader, CheckTCPHeader, CheckUDPHeader};
    pub use super::decipttl::DecIPTTL;
    pub use super::encap::{IPEncap, UDPIPEncap};
    pub use super::ether::{
        DropBroadcasts, EtherEncap, EtherMirror, EtherRewrite, HostEtherFilter, StoreEtherAddress,
    };
    pub use super::ethervlan::{EtherVLANEncap, SetVLANAnno, StripEtherVLANHeader};
    pub use super::fastudpsource::FastUDPSource;
    pub use super::headers::{MarkIPHeader, Strip, StripIPHeader, Unstrip};
    pub use super::icmpipencap::{ICMPIPEncap, ICMPPingEncap};
    pub use super::ipaddress::{GetIPAddress, SetIPAddress, SetRandIPAddress, StoreIPAddress};
    pub use super::ipprint::IPPrint;
    pub use super::markmacheader::MarkMACHeader;
    pub use super::striptonetworkheader::StripToNetworkHeader;
    pub use super::tos::{MarkIPCE, SetIPDSCP};
    pub use super::unstripipheader::UnstripIPHeader;
    pub use super::vlan::{VLANDecap, VLANEncap};
}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &classes::FastUDPSource,
    &classes::IPEncap,
    &classes::UDPIPEncap,
    &classes::ICMPIPEncap,
    &classes::ICMPPingEncap,
    &classes::SetIPDSCP,
    &classes::MarkIPCE,
    &classes::CheckIPHeader,
    &classes::CheckIPHeader2,
    &classes::MarkIPHeader,
    &classes::MarkMACHeader,
    &classes::Strip,
    &classes::StripIPHeader,
    &classes::Unstrip,
    &classes::StripToNetworkHeader,
    &classes::UnstripIPHeader,
    &classes::EtherEncap,
    &classes::EtherRewrite,
    &classes::StoreEtherAddress,
    &classes::EtherMirror,
    &classes::HostEtherFilter,
    &classes::DropBroadcasts,
    &classes::DecIPTTL,
    &classes::SetIPChecksum,
    &classes::SetTCPChecksum,
    &classes::SetUDPChecksum,
    &classes::GetIPAddress,
    &classes::SetIPAddress,
    &classes::SetRandIPAddress,
    &classes::StoreIPAddress,
    &classes::CheckICMPHeader,
    &classes::CheckTCPHeader,
    &classes::CheckUDPHeader,
    &classes::VLANEncap,
    &classes::VLANDecap,
    &classes::EtherVLANEncap,
    &classes::StripEtherVLANHeader,
    &classes::SetVLANAnno,
    &classes::IPPrint,
    &classes::CheckIP6Header,
];
