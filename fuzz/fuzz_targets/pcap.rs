//! Arbitrary bytes as a capture file (pcap or pcapng) read by `FromDump(FILE, STOP true) ->
//! Discard` to the end: no panic, the router stops, every buffer returned. The first byte
//! picks FromDump's options. See `common::pcap`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::pcap(data));
