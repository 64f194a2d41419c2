//! `NetDevice` implementations for sluice.
//!
//! - [`virtio`]: virtio-net for the unikernel, polling and zero-copy, over any
//!   `virtio-drivers` transport (MMIO or PCI);
//! - `host` (`std` feature): Linux TAP devices and AF_PACKET sockets for `sluice run`.
//!
//! The in-memory loopback device used by tests lives with the trait, in
//! `sluice_dataplane::device`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod virtio;

#[cfg(feature = "std")]
pub mod host;
