//! The device: rings, token tables, counters.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use sluice_dataplane::{Batch, DeviceStats, NetDevice, Packet, PacketPool};
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;
use virtio_drivers::{Error, Hal};

use super::VirtioNetMetrics;

/// Descriptors per virtqueue. 128 keeps 64 receive buffers posted (`rx_target`) and a TX
/// ring deeper than a few batches; 256 forwarded no faster through QEMU's dgram backend
/// (`sluice bench e2e`, 256 frames in flight), and every descriptor costs boot time under
/// TCG (the virtqueues are built descriptor by descriptor).
pub const QUEUE_SIZE: usize = 128;

/// Receive buffers posted by [`VirtioNet::new`]; the rest of the RX ring fills over the
/// first scheduler rounds. Every post is a notification the device (QEMU) handles at once,
/// tens of microseconds each under TCG: a full ring at start would add milliseconds to boot.
const INITIAL_RX_POSTS: usize = 16;

/// Most receive buffers posted per `receive`/`poll` call: as many as one call can consume,
/// so the ring keeps up with traffic while filling up gradually after start.
const RX_POSTS_PER_CALL: usize = 32;

/// `virtio-drivers` refuses receive buffers shorter than this (header + full frame).
const MIN_RX_BUFFER: usize = 1526;

/// A virtio-net device driven by polling.
pub struct VirtioNet<H: Hal, T: Transport> {
    /// Boxed: with its two virtqueues' descriptor tables inline it is kilobytes, and every
    /// move of the driver would copy them (a byte at a time under TCG's `rep movsb`).
    net: Box<VirtIONetRaw<H, T, QUEUE_SIZE>>,
    name: String,
    mac: [u8; 6],
    pool: PacketPool,
    /// Bytes of virtio-net header in front of every frame (12, or 10 for legacy devices).
    header_len: usize,
    /// Packets whose buffers the device holds for receiving, by token.
    rx_slots: Vec<Option<Packet>>,
    /// Packets whose buffers the device holds for sending, by token.
    tx_slots: Vec<Option<Packet>>,
    rx_posted: usize,
    tx_posted: usize,
    /// RX buffers to keep posted (half the ring leaves the pool room for the graph).
    rx_target: usize,
    /// Notifications are on for a sleeping CPU (see `arm_wakeup`); the next poll turns them
    /// off again.
    armed: bool,
    /// The device reported a receive buffer it was never given: the RX queue is no longer
    /// polled (see [`VirtioNetMetrics::rx_bad_id`]).
    rx_stopped: bool,
    /// The same for the TX queue ([`VirtioNetMetrics::tx_bad_id`]).
    tx_stopped: bool,
    stats: DeviceStats,
    metrics: VirtioNetMetrics,
}

/// Why a device could not be brought up.
#[derive(Debug)]
pub enum InitError {
    /// The transport or the device refused initialization.
    Device(Error),
    /// The pool's geometry cannot hold a full frame after the headroom.
    PoolGeometry {
        /// Usable bytes per buffer for the device.
        usable: usize,
    },
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Device(e) => write!(f, "virtio-net initialization failed: {e}"),
            Self::PoolGeometry { usable } => write!(
                f,
                "packet buffers leave {usable} bytes for the device; virtio-net needs {MIN_RX_BUFFER}"
            ),
        }
    }
}

impl<H: Hal, T: Transport> VirtioNet<H, T> {
    /// Initializes the device on `transport`, names it `name`, and posts receive buffers
    /// from `pool` (whose region must be DMA-capable).
    pub fn new(transport: T, name: &str, pool: PacketPool) -> Result<Self, InitError> {
        let mut net =
            Box::new(VirtIONetRaw::<H, T, QUEUE_SIZE>::new(transport).map_err(InitError::Device)?);
        net.disable_interrupts();
        let mut scratch = [0u8; 16];
        let header_len = net
            .fill_buffer_header(&mut scratch)
            .map_err(InitError::Device)?;
        // The device gets the buffer from the header (just before the headroom) to its end.
        let usable = pool
            .headroom()
            .checked_sub(header_len)
            .map_or(0, |unused| pool.buffer_size().saturating_sub(unused));
        if usable < MIN_RX_BUFFER {
            return Err(InitError::PoolGeometry { usable });
        }
        let mac = net.mac_address();
        let rx_target = (QUEUE_SIZE / 2).min(pool.stats().capacity / 4).max(1);
        let mut dev = Self {
            net,
            name: name.into(),
            mac,
            pool,
            header_len,
            rx_slots: (0..QUEUE_SIZE).map(|_| None).collect(),
            tx_slots: (0..QUEUE_SIZE).map(|_| None).collect(),
            rx_posted: 0,
            tx_posted: 0,
            rx_target,
            armed: false,
            rx_stopped: false,
            tx_stopped: false,
            stats: DeviceStats::default(),
            metrics: VirtioNetMetrics::default(),
        };
        dev.refill(INITIAL_RX_POSTS);
        Ok(dev)
    }

    /// Buffers currently held by the device (RX posted + TX in flight): what a buffer
    /// accounting check adds to the pool's free count.
    pub fn buffers_held(&self) -> usize {
        self.rx_posted + self.tx_posted
    }

    /// Contract violations seen so far, by reason.
    pub fn metrics(&self) -> VirtioNetMetrics {
        self.metrics
    }

    /// The part of a packet's buffer handed to the device for receiving: from the virtio-net
    /// header (just before the pool's headroom) to the end of the buffer, so the frame lands
    /// exactly at the headroom.
    fn rx_region(packet: &mut Packet, header_len: usize, headroom: usize) -> &mut [u8] {
        &mut packet.buffer_mut()[headroom - header_len..]
    }

    /// Posts up to `max` pool buffers, until `rx_target` are on the RX ring or the pool runs
    /// dry.
    fn refill(&mut self, max: usize) {
        if self.rx_stopped {
            return;
        }
        let headroom = self.pool.headroom();
        let limit = self.rx_target.min(self.rx_posted + max);
        while self.rx_posted < limit {
            let Some(mut packet) = self.pool.alloc(0) else {
                break;
            };
            let region = Self::rx_region(&mut packet, self.header_len, headroom);
            // SAFETY: the buffer belongs to `packet`, which is stored in `rx_slots` below and
            // neither read nor written until `receive_complete` returns it; the region is
            // DMA-capable because the pool lives in the platform's DMA memory.
            match unsafe { self.net.receive_begin(region) } {
                Ok(token) => {
                    self.rx_slots[usize::from(token)] = Some(packet);
                    self.rx_posted += 1;
                }
                Err(_) => break,
            }
        }
    }

    /// Reclaims completed transmissions: their packets drop, returning buffers to the pool.
    fn reclaim_tx(&mut self) {
        if self.tx_stopped {
            return;
        }
        while let Some(token) = self.net.poll_transmit() {
            let Some(packet) = self
                .tx_slots
                .get_mut(usize::from(token))
                .and_then(Option::take)
            else {
                // A token we never issued: the entry cannot be popped (`virtio-drivers` would
                // recycle descriptors that are not in flight), so the queue stops here.
                self.metrics.tx_bad_id += 1;
                self.tx_stopped = true;
                break;
            };
            // SAFETY: `packet` is the one posted with this token; its data range is unchanged
            // since `transmit_begin`, so this is the same slice.
            let done = unsafe { self.net.transmit_complete(token, packet.data()) };
            self.tx_posted -= 1;
            if done.is_err() {
                self.stats.tx_dropped += 1;
            }
        }
    }
}

impl<H: Hal, T: Transport> NetDevice for VirtioNet<H, T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn receive(&mut self, _pool: &PacketPool, batch: &mut Batch) -> usize {
        if self.rx_stopped {
            return 0;
        }
        let headroom = self.pool.headroom();
        // Frame bytes the device may write: from the headroom to the end of the buffer.
        let frame_room = self.pool.buffer_size() - headroom;
        let mut n = 0;
        while !batch.is_full() {
            let Some(token) = self.net.poll_receive() else {
                break;
            };
            let Some(mut packet) = self
                .rx_slots
                .get_mut(usize::from(token))
                .and_then(Option::take)
            else {
                // Out of the ring or not posted: see `rx_stopped`.
                self.metrics.rx_bad_id += 1;
                self.rx_stopped = true;
                break;
            };
            self.rx_posted -= 1;
            let region = Self::rx_region(&mut packet, self.header_len, headroom);
            // SAFETY: `packet` was posted with this token by `refill` and untouched since;
            // `rx_region` yields the same slice for the same packet and geometry.
            match unsafe { self.net.receive_complete(token, region) } {
                Ok((_, len)) if len > frame_room => {
                    self.metrics.rx_oversized += 1;
                    self.stats.rx_dropped += 1;
                }
                Ok((_, len)) if packet.set_range(headroom, len).is_ok() => {
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    batch.push(packet);
                    n += 1;
                }
                // `virtio-drivers` reports a length below the header as an I/O error.
                Err(Error::IoError) => {
                    self.metrics.rx_runt += 1;
                    self.stats.rx_dropped += 1;
                }
                _ => self.stats.rx_dropped += 1,
            }
        }
        self.refill(RX_POSTS_PER_CALL);
        n
    }

    fn transmit(&mut self, batch: &mut Batch) -> usize {
        self.reclaim_tx();
        if self.tx_stopped {
            // The device cannot be trusted with buffers any more: waiting would stall the graph.
            let dropped = batch.len();
            self.stats.tx_dropped += dropped as u64;
            batch.clear();
            return dropped;
        }
        let mut taken = 0;
        let mut left = Batch::new();
        for mut packet in batch.drain(..) {
            if !left.is_empty() {
                // The ring filled up: keep the rest, in order, for the next call.
                left.push(packet);
                continue;
            }
            let len = packet.len();
            if packet.push(self.header_len).is_err() {
                // Elements consumed the headroom; the header has nowhere to go.
                self.stats.tx_dropped += 1;
                taken += 1;
                continue;
            }
            if self.net.fill_buffer_header(packet.data_mut()).is_err() {
                self.stats.tx_dropped += 1;
                taken += 1;
                continue;
            }
            // SAFETY: the packet is stored in `tx_slots` until `reclaim_tx` completes the
            // token, and nothing touches its buffer meanwhile.
            match unsafe { self.net.transmit_begin(packet.data()) } {
                Ok(token) => {
                    self.tx_slots[usize::from(token)] = Some(packet);
                    self.tx_posted += 1;
                    self.stats.tx_packets += 1;
                    self.stats.tx_bytes += len as u64;
                    taken += 1;
                }
                Err(Error::QueueFull) => {
                    self.stats.tx_ring_full += 1;
                    // Undo the header: the packet goes back to the caller unchanged.
                    let _ = packet.pull(self.header_len);
                    left.push(packet);
                }
                Err(_) => {
                    self.stats.tx_dropped += 1;
                    taken += 1;
                }
            }
        }
        *batch = left;
        taken
    }

    fn poll(&mut self) {
        if core::mem::take(&mut self.armed) {
            self.net.disable_interrupts();
        }
        self.reclaim_tx();
        self.refill(RX_POSTS_PER_CALL);
    }

    /// Acknowledges the device's interrupt (its line drops, so the next used buffer raises
    /// it again), turns used-buffer notifications on (with `VIRTIO_F_EVENT_IDX`, which
    /// QEMU offers, they are on already: the driver publishes `used_event` at every pop),
    /// then looks at both used rings: a frame or a completion that arrived before the
    /// acknowledgement is seen here, one after it interrupts.
    fn arm_wakeup(&mut self) -> bool {
        let _ = self.net.ack_interrupt();
        if !self.armed {
            self.net.enable_interrupts();
            self.armed = true;
        }
        // A stopped queue keeps its offending entry: it is no reason to stay awake.
        (self.rx_stopped || self.net.poll_receive().is_none())
            && (self.tx_stopped || self.net.poll_transmit().is_none())
    }

    fn stats(&self) -> DeviceStats {
        self.stats
    }
}
