//! Arbitrary frame records into IPRewriter, TCPRewriter, UDPRewriter, ICMPPingRewriter and
//! ICMPRewriter, both directions, with clock ticks that expire and reap mappings. After every
//! batch: `table_size` is an integer within `capacity` and no buffer is held; at the end every
//! buffer is back. See `common::nat`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::nat(data));
