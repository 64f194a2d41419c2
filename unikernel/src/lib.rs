//! The sluice unikernel's platform layer for `x86_64-unknown-none`.
//!
//! The binary (`main.rs`) brings the machine up step by step and then runs the main loop; the
//! modules here are the services that the main loop, the router and the virtio-net driver use:
//!
//! - [`serial`]: console output, [`println!`] and a `log` backend (`log::info!` etc.);
//! - [`clock`]: calibrated monotonic TSC clock ([`clock::Instant`], [`clock::uptime`]);
//! - [`heap`]: the global allocator, whose memory is identity mapped and DMA-capable
//!   ([`heap::dma_alloc`], [`heap::phys_addr`]);
//! - [`pvh`]: boot information, command line parameters and virtio-mmio devices;
//! - [`arch::paging::map_mmio`]: identity mapping of device registers;
//! - [`idle`]: polling under load, halting until an interrupt or a deadline when idle;
//! - [`exit`]: stopping the VM with a status the launcher can read;
//! - [`checkpoint`]: boot-time checkpoints.
//!
//! Physical and virtual addresses are the same everywhere in this kernel.

#![no_std]

extern crate alloc;

pub mod arch;
pub mod checkpoint;
pub mod clock;
pub mod control;
pub mod exit;
pub mod heap;
pub mod idle;
pub mod net;
pub mod pvh;
pub mod serial;
