//! Arbitrary frame records into the routing elements (ARPQuerier on both inputs,
//! ARPResponder, ICMPPingResponder, ICMPError, IPFragmenter, IPGWOptions, RadixIPLookup, the
//! transport header checks, VLANDecap, StripEtherVLANHeader into EtherVLANEncap, EtherMirror),
//! directly and along a Click IP router's paths, with clock ticks for ARP timers. No panic;
//! every buffer returned. See `common::router`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::router(data));
