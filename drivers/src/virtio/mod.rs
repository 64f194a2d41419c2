//! virtio-net: a polling, zero-copy driver over `virtio-drivers`'
//! [`VirtIONetRaw`](virtio_drivers::device::net::VirtIONetRaw).
//!
//! Receive buffers are packet-pool buffers posted to the device's RX ring; the device writes
//! each frame (after its virtio-net header) straight into one, and the driver hands that very
//! buffer to the graph as a [`Packet`](sluice_dataplane::Packet). Transmit goes the other way: the virtio-net header is
//! written into the packet's headroom in front of the frame and the same buffer is posted to
//! the TX ring. No frame is ever copied. A token → packet table keeps each buffer owned while
//! the device holds it; completed transmissions drop their packet, which returns the buffer to
//! the pool, and the RX ring is refilled from the pool as frames are consumed.
//!
//! The driver never waits and never takes interrupts: the router polls it every round.
//!
//! Platform duties (the unikernel's): a [`virtio_drivers::Hal`] whose DMA addresses are the
//! buffers' own addresses (an identity-mapped guest), MMIO regions mapped before a transport
//! is created, and a packet pool in DMA-capable memory.
//!
//! **The device is not trusted.** What it writes to the used rings is checked before it is
//! believed: a receive length beyond the posted buffer or short of the virtio-net header
//! drops the frame, and a used entry naming a buffer that is not in flight stops that queue
//! (Linux's `BAD_RING`); each case is counted in [`VirtioNetMetrics`], never a panic.

mod device;
mod metrics;

#[cfg(all(test, feature = "std"))]
mod fake;
#[cfg(all(test, feature = "std"))]
mod tests;

pub use device::{InitError, VirtioNet, QUEUE_SIZE};
pub use metrics::VirtioNetMetrics;
