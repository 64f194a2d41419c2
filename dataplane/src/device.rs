//! The device boundary: what `FromDevice` and `ToDevice` talk to. The VM's virtio-net
//! driver, the host's TAP and AF_PACKET sockets, and the in-memory loopback all implement
//! [`NetDevice`].

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::batch::Batch;
use crate::packet::PacketPool;

/// Counters every device keeps; readable as handlers (`rx_packets`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Frames received and handed to the graph.
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames the device had but could not deliver (no pool buffer, malformed).
    pub rx_dropped: u64,
    /// Frames handed to the device for sending.
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames dropped on transmit (device error, oversized).
    pub tx_dropped: u64,
    /// Times a transmit found the ring full and left packets for later.
    pub tx_ring_full: u64,
}

impl DeviceStats {
    /// The counter called `name`, as a handler reads it.
    pub fn get(&self, name: &str) -> Option<u64> {
        Some(match name {
            "rx_packets" => self.rx_packets,
            "rx_bytes" => self.rx_bytes,
            "rx_dropped" => self.rx_dropped,
            "tx_packets" => self.tx_packets,
            "tx_bytes" => self.tx_bytes,
            "tx_dropped" => self.tx_dropped,
            "tx_ring_full" => self.tx_ring_full,
            _ => return None,
        })
    }

    /// Names of all counters.
    pub const NAMES: &'static [&'static str] = &[
        "rx_packets",
        "rx_bytes",
        "rx_dropped",
        "tx_packets",
        "tx_bytes",
        "tx_dropped",
        "tx_ring_full",
    ];
}

/// Index of a device in the router's device table.
pub type DeviceId = usize;

/// Opens a device by name when an element asks for one that is not open yet (host mode:
/// TAP and AF_PACKET devices).
pub type DeviceOpener = Box<dyn FnMut(&str) -> Result<Box<dyn NetDevice>, String>>;

/// A network device polled by the router.
pub trait NetDevice {
    /// The device's name (`eth0`, `tap0`, `virtio0`).
    fn name(&self) -> &str;

    /// Its Ethernet address.
    fn mac(&self) -> [u8; 6];

    /// Receives frames into packets from `pool`, appending to `batch` until it is full or no
    /// frame is ready. Returns how many were added. Never blocks.
    fn receive(&mut self, pool: &PacketPool, batch: &mut Batch) -> usize;

    /// Sends packets from the front of `batch`, removing those it took; packets it could not
    /// take now (ring full) stay in `batch` for a later call. Returns how many were taken.
    fn transmit(&mut self, batch: &mut Batch) -> usize;

    /// Reclaims completed transmissions, refills receive rings: called every scheduler
    /// round even when the graph has nothing to send.
    fn poll(&mut self) {}

    /// Prepares for the CPU to sleep until the device interrupts: acknowledges any interrupt
    /// it raised, asks it to interrupt when it next has work (a received frame, a completed
    /// transmission), then looks once more. Returns `true` when the device is armed and has
    /// no work, so sleeping cannot miss a frame; `false` when it has work already, or (the
    /// default) cannot interrupt at all. Polling again is always correct after either.
    fn arm_wakeup(&mut self) -> bool {
        false
    }

    /// Counters.
    fn stats(&self) -> DeviceStats;
}

/// The frames a [`LoopbackDevice`] has sent, and those queued for it to receive.
#[derive(Debug, Default)]
pub struct LoopbackWire {
    /// Frames waiting to be received by the device.
    pub to_device: VecDeque<Vec<u8>>,
    /// Frames the device transmitted.
    pub from_device: Vec<Vec<u8>>,
}

/// An in-memory device for tests: frames pushed into its wire are received; frames it sends
/// are recorded. Clone the wire handle to feed and inspect it from the test.
#[derive(Debug)]
pub struct LoopbackDevice {
    name: String,
    mac: [u8; 6],
    wire: Rc<RefCell<LoopbackWire>>,
    stats: DeviceStats,
    /// Most frames accepted per transmit call (models a ring).
    pub tx_ring: usize,
}

impl LoopbackDevice {
    /// A device called `name` with address `mac`.
    pub fn new(name: &str, mac: [u8; 6]) -> Self {
        Self {
            name: name.into(),
            mac,
            wire: Rc::default(),
            stats: DeviceStats::default(),
            tx_ring: usize::MAX,
        }
    }

    /// A handle on the device's wire.
    pub fn wire(&self) -> Rc<RefCell<LoopbackWire>> {
        self.wire.clone()
    }
}

impl NetDevice for LoopbackDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn receive(&mut self, pool: &PacketPool, batch: &mut Batch) -> usize {
        let mut wire = self.wire.borrow_mut();
        let mut n = 0;
        while !batch.is_full() {
            let Some(frame) = wire.to_device.front() else {
                break;
            };
            match pool.alloc_from(frame) {
                Some(p) => {
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += frame.len() as u64;
                    batch.push(p);
                    n += 1;
                }
                None => self.stats.rx_dropped += 1,
            }
            wire.to_device.pop_front();
        }
        n
    }

    fn transmit(&mut self, batch: &mut Batch) -> usize {
        let n = batch.len().min(self.tx_ring);
        if n < batch.len() {
            self.stats.tx_ring_full += 1;
        }
        let mut wire = self.wire.borrow_mut();
        for p in batch.drain(..n) {
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += p.len() as u64;
            wire.from_device.push(p.data().to_vec());
        }
        n
    }

    fn stats(&self) -> DeviceStats {
        self.stats
    }
}
