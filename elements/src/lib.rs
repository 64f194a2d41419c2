//! sluice's element library: Click's elements, with Click's arguments, ports, handlers and
//! behaviour.
//!
//! Elements are grouped in families, one file per element (or per small family):
//!
//! | module | elements |
//! |---|---|
//! | [`standard`] | sources, sinks, queues, counters, switches, `Tee`, `DriverManager`, `FromDevice`/`ToDevice` |
//! | [`classify`] | `Classifier`, `IPClassifier`, `IPFilter` |
//! | [`ip`] | IP and Ethernet header elements: `CheckIPHeader`, `Strip`, `EtherEncap`, `DecIPTTL`, checksums, ... |
//! | [`routing`] | `ARPResponder`, `ARPQuerier`, `ICMPPingResponder`, `ICMPError`, lookups, `IPFragmenter`, ... |
//! | [`nat`] | `IPRewriter`, `TCPRewriter`, `UDPRewriter`, `ICMPPingRewriter`, `ICMPRewriter`, `IPAddrRewriter`, `IPAddrPairRewriter`, `FTPPortMapper`, mappers |
//! | [`host`] | host-only elements (`std` feature): `FromDump`, `ToDump`, `ControlSocket` |
//!
//! Every class is a `static` [`ElementClass`] named exactly as Click names it, reachable as
//! `sluice_elements::classes::IPFilter`; [`all_classes`] lists them all. A unikernel image
//! refers only to the statics its configuration uses, so the linker drops the rest.
//!
//! Each file's module documentation is the manual of the classes it defines, in one format
//! modelled on Click's manual pages (see [`manual`], which `sluice doc` prints them from).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use sluice_dataplane::ElementClass;

pub mod classify;
#[cfg(feature = "std")]
pub mod host;
pub mod ip;
pub mod manual;
pub mod nat;
pub mod routing;
pub mod standard;
#[cfg(test)]
mod testutil;
pub mod wire;

/// Every element class, by its Click name.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use crate::classify::classes::*;
    #[cfg(feature = "std")]
    pub use crate::host::classes::*;
    pub use crate::ip::classes::*;
    pub use crate::nat::classes::*;
    pub use crate::routing::classes::*;
    pub use crate::standard::classes::*;
}

/// Every element class in this build.
pub fn all_classes() -> Vec<&'static ElementClass> {
    let mut v: Vec<&'static ElementClass> = Vec::new();
    v.extend_from_slice(standard::ALL);
    v.extend_from_slice(classify::ALL);
    v.extend_from_slice(ip::ALL);
    v.extend_from_slice(routing::ALL);
    v.extend_from_slice(nat::ALL);
    #[cfg(feature = "std")]
    v.extend_from_slice(host::ALL);
    v
}

/// The class called `name`.
pub fn find_class(name: &str) -> Option<&'static ElementClass> {
    all_classes().into_iter().find(|c| c.name == name)
}
