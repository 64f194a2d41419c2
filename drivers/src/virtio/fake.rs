//! A fake virtio-net device for host tests: a [`Transport`] whose queues live in ordinary
//! heap memory, an identity-mapping [`Hal`], and a [`FakeNet`] handle through which a test
//! plays the device: it takes buffers from the available rings and puts whatever it likes on
//! the used rings, contract violations included.
//!
//! The device side reads and writes the split-virtqueue layout (virtio 1.2, 2.7) directly:
//! descriptor table entries of 16 bytes (`addr`, `len`, `flags`, `next`), the available ring
//! (`flags`, `idx`, `ring[]` of `u16`) and the used ring (`flags`, `idx`, `ring[]` of
//! `{ id: u32, len: u32 }`). It uses descriptors in order and one descriptor per buffer,
//! which is all this driver posts.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::rc::Rc;
use std::vec::Vec;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Error, Hal, PhysAddr, PAGE_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// The receive queue's index (virtio-net: receiveq1).
pub const RX: u16 = 0;
/// The transmit queue's index (transmitq1).
pub const TX: u16 = 1;

/// `VIRTIO_NET_F_MAC`.
const F_MAC: u64 = 1 << 5;
/// `VIRTIO_NET_F_STATUS`.
const F_STATUS: u64 = 1 << 16;
/// `VIRTIO_F_RING_EVENT_IDX`.
const F_EVENT_IDX: u64 = 1 << 29;
/// `VIRTIO_F_VERSION_1`: without it (and without `MRG_RXBUF`) the header is 10 bytes.
const F_VERSION_1: u64 = 1 << 32;

/// The address the fake device gives itself.
pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// What a fake device offers, as QEMU's virtio-net does for a modern or a legacy device.
#[derive(Debug, Clone, Copy)]
pub enum Flavor {
    /// `VERSION_1`: 12-byte virtio-net header.
    Modern,
    /// No `VERSION_1`: 10-byte header.
    Legacy,
}

impl Flavor {
    fn features(self) -> u64 {
        let common = F_MAC | F_STATUS | F_EVENT_IDX;
        match self {
            Self::Modern => common | F_VERSION_1,
            Self::Legacy => common,
        }
    }

    /// Bytes of virtio-net header the driver must strip and prepend.
    pub fn header_len(self) -> usize {
        match self {
            Self::Modern => 12,
            Self::Legacy => 10,
        }
    }
}

/// Where the driver put one queue, and how far the device has read its available ring.
#[derive(Debug, Default, Clone, Copy)]
struct Queue {
    size: u16,
    descriptors: u64,
    avail: u64,
    used: u64,
    /// Available-ring entries the device has taken.
    next_avail: u16,
    /// Used-ring entries the device has written.
    next_used: u16,
}

#[derive(Debug)]
struct State {
    features: u64,
    status: DeviceStatus,
    /// `struct virtio_net_config`: mac, status, max_virtqueue_pairs, mtu.
    config: [u8; 12],
    queues: [Queue; 2],
    notifications: [usize; 2],
}

/// The transport the driver is given.
#[derive(Debug)]
pub struct FakeTransport {
    state: Rc<RefCell<State>>,
}

/// The test's side of the device.
#[derive(Debug, Clone)]
pub struct FakeNet {
    state: Rc<RefCell<State>>,
    flavor: Flavor,
}

/// A fake virtio-net device: the transport for the driver and the handle for the test.
pub fn device(flavor: Flavor) -> (FakeTransport, FakeNet) {
    let mut config = [0u8; 12];
    config[..6].copy_from_slice(&MAC);
    config[6..8].copy_from_slice(&1u16.to_le_bytes()); // VIRTIO_NET_S_LINK_UP
    config[8..10].copy_from_slice(&1u16.to_le_bytes());
    config[10..12].copy_from_slice(&1500u16.to_le_bytes());
    let state = Rc::new(RefCell::new(State {
        features: flavor.features(),
        status: DeviceStatus::empty(),
        config,
        queues: [Queue::default(); 2],
        notifications: [0; 2],
    }));
    (
        FakeTransport {
            state: state.clone(),
        },
        FakeNet { state, flavor },
    )
}

impl Queue {
    fn check(&self) {
        assert!(self.size > 0, "the driver has not set this queue up");
    }

    /// The next buffer the driver made available, as its head descriptor index.
    fn take_avail(&mut self) -> Option<u16> {
        self.check();
        // SAFETY: `avail` is the driver area the driver registered with `queue_set`, a live
        // DMA allocation holding `flags`, `idx` and `size` ring entries, 2-byte aligned.
        let idx = unsafe { read_u16(self.avail + 2) };
        if idx == self.next_avail {
            return None;
        }
        let slot = u64::from(self.next_avail % self.size);
        // SAFETY: as above; `slot < size` keeps the read inside the ring.
        let head = unsafe { read_u16(self.avail + 4 + 2 * slot) };
        self.next_avail = self.next_avail.wrapping_add(1);
        Some(head)
    }

    /// Descriptor `index`: the buffer's address and length.
    fn descriptor(&self, index: u16) -> (u64, u32) {
        assert!(index < self.size, "descriptor {index} is outside the ring");
        let entry = self.descriptors + 16 * u64::from(index);
        // SAFETY: `descriptors` is the table the driver registered, `size` entries of 16
        // bytes, 16-byte aligned; `index < size` (checked above).
        let addr = unsafe { (entry as *const u64).read_volatile() };
        // SAFETY: as above; `len` is at offset 8 of the entry.
        let len = unsafe { ((entry + 8) as *const u32).read_volatile() };
        (addr, len)
    }

    /// Puts `{ id, len }` on the used ring, as the device's answer for a buffer (or not).
    fn push_used(&mut self, id: u32, len: u32) {
        self.check();
        let slot = u64::from(self.next_used % self.size);
        let elem = self.used + 4 + 8 * slot;
        // SAFETY: `used` is the device area the driver registered, `flags`, `idx` and `size`
        // entries of 8 bytes, 4-byte aligned; `slot < size`. The driver only reads it.
        unsafe { (elem as *mut u32).write_volatile(id) };
        // SAFETY: as above; `len` is at offset 4 of the entry.
        unsafe { ((elem + 4) as *mut u32).write_volatile(len) };
        self.next_used = self.next_used.wrapping_add(1);
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: as above; `idx` is at offset 2 of the device area.
        unsafe { ((self.used + 2) as *mut u16).write_volatile(self.next_used) };
    }
}

/// # Safety
/// `addr` is a readable, 2-byte aligned address.
unsafe fn read_u16(addr: u64) -> u16 {
    // SAFETY: forwarded from this function's contract.
    unsafe { (addr as *const u16).read_volatile() }
}

impl FakeNet {
    /// The header length this device's features imply.
    pub fn header_len(&self) -> usize {
        self.flavor.header_len()
    }

    /// Buffers the driver has made available on `queue` that the device has not taken.
    pub fn available(&self, queue: u16) -> usize {
        let state = self.state.borrow();
        let q = &state.queues[usize::from(queue)];
        q.check();
        // SAFETY: see `Queue::take_avail`.
        let idx = unsafe { read_u16(q.avail + 2) };
        usize::from(idx.wrapping_sub(q.next_avail))
    }

    /// Times the driver notified `queue`.
    pub fn notifications(&self, queue: u16) -> usize {
        self.state.borrow().notifications[usize::from(queue)]
    }

    /// Takes the next buffer available on `queue` without answering: its descriptor index and
    /// length.
    pub fn take(&self, queue: u16) -> Option<(u16, u32)> {
        let mut state = self.state.borrow_mut();
        let q = &mut state.queues[usize::from(queue)];
        let head = q.take_avail()?;
        Some((head, q.descriptor(head).1))
    }

    /// Puts an arbitrary `{ id, len }` on the used ring of `queue`.
    pub fn push_used(&self, queue: u16, id: u32, len: u32) {
        self.state.borrow_mut().queues[usize::from(queue)].push_used(id, len);
    }

    /// Receives `frame` from the wire: writes `header` and the frame into the next receive
    /// buffer and completes it with their combined length. False if no buffer is posted.
    pub fn deliver_with_header(&self, header: &[u8], frame: &[u8]) -> bool {
        let mut state = self.state.borrow_mut();
        let q = &mut state.queues[usize::from(RX)];
        let Some(head) = q.take_avail() else {
            return false;
        };
        let (addr, len) = q.descriptor(head);
        let total = header.len() + frame.len();
        assert!(total <= len as usize, "frame larger than the posted buffer");
        let bytes: Vec<u8> = header.iter().chain(frame).copied().collect();
        // SAFETY: the driver posted `addr..addr + len` for the device to write (an
        // identity-mapped pool buffer it does not touch until the completion), and
        // `total <= len`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, total) };
        q.push_used(u32::from(head), total as u32);
        true
    }

    /// Receives `frame` behind a header of non-zero bytes (which the driver must strip).
    pub fn deliver(&self, frame: &[u8]) -> bool {
        let header = std::vec![0xa5; self.header_len()];
        self.deliver_with_header(&header, frame)
    }

    /// Sends the next frame the driver posted: returns its bytes (header included) and
    /// completes it.
    pub fn complete_tx(&self) -> Option<Vec<u8>> {
        let mut state = self.state.borrow_mut();
        let q = &mut state.queues[usize::from(TX)];
        let head = q.take_avail()?;
        let (addr, len) = q.descriptor(head);
        // SAFETY: the driver posted `addr..addr + len` for the device to read and does not
        // write it until the completion below.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len as usize) };
        let bytes = bytes.to_vec();
        q.push_used(u32::from(head), 0);
        Some(bytes)
    }
}

impl Transport for FakeTransport {
    fn device_type(&self) -> DeviceType {
        DeviceType::Network
    }

    fn read_device_features(&mut self) -> u64 {
        self.state.borrow().features
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        let offered = self.state.borrow().features;
        assert_eq!(
            driver_features & !offered,
            0,
            "driver took unoffered features"
        );
    }

    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        256
    }

    fn notify(&mut self, queue: u16) {
        self.state.borrow_mut().notifications[usize::from(queue)] += 1;
    }

    fn get_status(&self) -> DeviceStatus {
        self.state.borrow().status
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.state.borrow_mut().status = status;
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.state.borrow_mut().queues[usize::from(queue)] = Queue {
            size: u16::try_from(size).expect("queue size fits u16"),
            descriptors,
            avail: driver_area,
            used: device_area,
            next_avail: 0,
            next_used: 0,
        };
    }

    fn queue_unset(&mut self, queue: u16) {
        self.state.borrow_mut().queues[usize::from(queue)] = Queue::default();
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.state.borrow().queues[usize::from(queue)].size != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let state = self.state.borrow();
        let bytes = state
            .config
            .get(offset..offset + size_of::<T>())
            .ok_or(Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| Error::ConfigSpaceTooSmall)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
}

/// The host's memory as DMA memory: device addresses are the buffers' own addresses, as in
/// the unikernel.
#[derive(Debug)]
pub struct IdentityHal;

fn pages_layout(pages: usize) -> Layout {
    Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE).expect("page-aligned layout")
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned heap memory used by nothing else until
// `dma_dealloc`; a test process's addresses are what the fake device dereferences, so the
// identity `share` gives it the buffer itself.
unsafe impl Hal for IdentityHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let layout = pages_layout(pages);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            handle_alloc_error(layout)
        };
        (ptr.as_ptr() as PhysAddr, ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: `vaddr` came from `dma_alloc` with the same page count (the trait's contract).
        unsafe { dealloc(vaddr.as_ptr(), pages_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("non-null MMIO address")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
