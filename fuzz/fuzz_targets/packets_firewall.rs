//! Arbitrary bytes as records of Ethernet frames (a selector, annotations, a length prefix,
//! the frame) through `Classifier -> Strip(14) -> CheckIPHeader -> IPFilter -> DecIPTTL ->
//! SetIPChecksum -> IPClassifier` and into each of those elements directly. No panic, valid
//! IP checksums out of SetIPChecksum, every buffer returned. See `common::firewall`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::firewall(data));
