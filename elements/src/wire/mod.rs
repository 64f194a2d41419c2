//! Wire formats: header offsets, views and checksums shared by the elements.
//!
//! Reading headers from untrusted packets goes through `etherparse`'s slices or through the
//! checked views here: a view validates the length once, after which no accessor panics.

pub mod checksum;
