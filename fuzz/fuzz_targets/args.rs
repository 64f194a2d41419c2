//! Arbitrary strings as the configuration of every element class (the first byte picks the
//! class and its port counts): `Router::new` on a one-element graph may fail, never panic;
//! accepted elements have every read handler read. See `common::args`.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(
    init: common::enter_scratch_dir(),
    |data: &[u8]| common::args(data)
);
