//! The driver's own counters: the ways a device can break the virtio contract, by reason.
//!
//! Each of these is also reflected in the generic [`DeviceStats`](sluice_dataplane::DeviceStats)
//! where a frame is lost (`rx_dropped`); these say *why*. The unikernel reads them as the
//! interface handlers `eth0.rx_oversized`, `eth0.rx_bad_id`, ...

/// Contract violations seen on one virtio-net device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtioNetMetrics {
    /// Receive completions whose length is larger than the buffer posted for them: the frame
    /// is dropped (the device wrote at most the posted buffer; its length is not believed).
    pub rx_oversized: u64,
    /// Receive completions shorter than the virtio-net header: the frame is dropped.
    pub rx_runt: u64,
    /// Used receive entries naming a descriptor the driver did not post (out of the ring, or
    /// not in flight). The receive queue is then stopped: the entry cannot be consumed, and a
    /// device that reports buffers it never had cannot be trusted with new ones.
    pub rx_bad_id: u64,
    /// The same on the transmit queue, which then stops: later packets are dropped.
    pub tx_bad_id: u64,
}

impl VirtioNetMetrics {
    /// Names of all counters, as handlers read them.
    pub const NAMES: &'static [&'static str] =
        &["rx_oversized", "rx_runt", "rx_bad_id", "tx_bad_id"];

    /// The counter called `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        Some(match name {
            "rx_oversized" => self.rx_oversized,
            "rx_runt" => self.rx_runt,
            "rx_bad_id" => self.rx_bad_id,
            "tx_bad_id" => self.tx_bad_id,
            _ => return None,
        })
    }
}
