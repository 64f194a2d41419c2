//! Packet buffers: one contiguous region of fixed-size buffers, and the owned handles that
//! move through the graph.
//!
//! A [`PacketPool`] carves a region (on the host, a heap allocation; in the VM, identity-mapped
//! DMA memory) into `count` buffers of `buffer_size` bytes. A [`Packet`] owns one buffer
//! exclusively: its data is the byte range `head..head + len` of that buffer, with headroom in
//! front (so headers and the virtio-net header can be prepended without copying) and tailroom
//! behind. Dropping a packet returns its buffer to the pool. Allocation pops a free-list, so
//! there is no heap allocation on the data path; an empty pool is a counted failure, never a
//! panic.
//!
//! A pool may have a second, small class of [`LARGE_BUFFER_SIZE`] buffers for the rare frame
//! that does not fit a regular buffer (a 9000-byte jumbo frame in a capture, a reassembled
//! datagram): [`PacketPool::alloc`] takes one only when the length asks for it. The host
//! runtime has one (Click carries packets of any size); the VM has none, since its NICs
//! receive at most a standard frame.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::ptr::NonNull;

/// Default bytes per buffer: a full Ethernet frame plus headroom and the virtio-net header.
pub const DEFAULT_BUFFER_SIZE: usize = 2048;
/// Default headroom in front of received or created data.
pub const DEFAULT_HEADROOM: usize = 128;
/// Bytes per buffer of the large class: the most a packet's 16-bit length can describe.
pub const LARGE_BUFFER_SIZE: usize = u16::MAX as usize;

/// Click's packet-type annotation, set by devices and used by `HostEtherFilter`,
/// `DropBroadcasts` and friends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Addressed to this host.
    #[default]
    Host = 0,
    /// Ethernet broadcast.
    Broadcast = 1,
    /// Ethernet multicast.
    Multicast = 2,
    /// Addressed to another host (promiscuous capture).
    OtherHost = 3,
    /// Sent by this host (captured on the way out).
    Outgoing = 4,
}

/// Marker for an unset header annotation.
const NO_HEADER: u16 = u16::MAX;

/// Per-packet metadata that travels with the handle, as Click's packet annotations do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annotations {
    /// Arrival time, nanoseconds on the router's clock (pcap time in host mode).
    pub timestamp_ns: u64,
    /// Destination IP annotation (next hop), network byte order.
    pub dst_ip: [u8; 4],
    /// Paint annotation (`Paint`, `PaintSwitch`, `CheckPaint`).
    pub paint: u8,
    /// Packet type (host, broadcast, ...).
    pub packet_type: PacketType,
    /// Index of the device the packet arrived on, or `u8::MAX`.
    pub device: u8,
    /// Set by `FixIPSrc`'s users (`ICMPError`): rewrite the source address on the way out.
    pub fix_ip_src: bool,
    /// VLAN tag control information, host order (`VLANDecap`, `StripEtherVLANHeader` and
    /// `SetVLANAnno` set it; `VLANEncap(ANNO)` and `EtherVLANEncap(…, ANNO)` read it).
    pub vlan_tci: u16,
    /// Offset of the offending byte in the IP header, for an ICMP parameter problem
    /// (`IPGWOptions` sets it, `ICMPError` reads it; Click's `ICMP_PARAMPROB_ANNO`).
    pub icmp_param_prob: u8,
    /// Network (IP) header: absolute offset in the buffer, or unset.
    network_header: u16,
    /// Transport header: absolute offset in the buffer, or unset.
    transport_header: u16,
    /// Aggregate annotation (flow ids, hash switches).
    pub aggregate: u32,
    /// Bytes the packet had on the wire beyond its data (Click's `EXTRA_LENGTH_ANNO`): what
    /// a capture's snap length cut off (`FromDump`) or `Truncate` took away; `ToDump` adds it
    /// back to the record's wire length and `Pad` restores it as zeros.
    pub extra_length: u32,
}

impl Annotations {
    /// Fresh-packet annotations, as a constant so a reset is one small store.
    const DEFAULT: Self = Self {
        timestamp_ns: 0,
        dst_ip: [0; 4],
        paint: 0,
        packet_type: PacketType::Host,
        device: u8::MAX,
        fix_ip_src: false,
        vlan_tci: 0,
        icmp_param_prob: 0,
        network_header: NO_HEADER,
        transport_header: NO_HEADER,
        aggregate: 0,
        extra_length: 0,
    };
}

impl Default for Annotations {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Copies `n` bytes from `src` to `dst` as `copy_nonoverlapping` does, with the sizes of
/// typical small frames (16 to 64 bytes: a source's 60-byte UDP frame) done inline, as two
/// fixed-size copies that overlap in the middle, instead of a call into the C library.
///
/// # Safety
/// As `copy_nonoverlapping`: `src..src + n` readable, `dst..dst + n` writable, disjoint.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    if (32..=64).contains(&n) {
        // SAFETY: `n >= 32`; the caller's contract covers `0..n`.
        unsafe { copy_ends::<32>(src, dst, n) };
    } else if (16..32).contains(&n) {
        // SAFETY: `n >= 16`; the caller's contract covers `0..n`.
        unsafe { copy_ends::<16>(src, dst, n) };
    } else {
        // SAFETY: the caller's contract, unchanged.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, n) };
    }
}

/// Copies `0..n` as its first `K` and its last `K` bytes, two copies of a size the compiler
/// knows (so it inlines them), which together cover all of it when `K <= n <= 2K`.
///
/// # Safety
/// `K <= n`, and `src..src + n` readable, `dst..dst + n` writable, disjoint.
#[inline(always)]
unsafe fn copy_ends<const K: usize>(src: *const u8, dst: *mut u8, n: usize) {
    use core::ptr::copy_nonoverlapping as copy;
    // SAFETY: `0..K` lies within `0..n` since `K <= n`.
    unsafe { copy(src, dst, K) };
    let tail = n - K;
    // SAFETY: `tail..tail + K` is `n - K..n`, within `0..n` (so are the offset pointers).
    unsafe { copy(src.wrapping_add(tail), dst.wrapping_add(tail), K) };
}

/// Counters of a pool, readable at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers in the pool.
    pub capacity: usize,
    /// Buffers currently free.
    pub free: usize,
    /// Allocations refused because the pool was empty.
    pub alloc_failures: u64,
    /// The most buffers ever in use at once (the pool's high-water mark).
    pub high_water: usize,
}

impl PoolStats {
    /// Buffers in use now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.free
    }
}

struct PoolInner {
    base: NonNull<u8>,
    buffer_size: usize,
    count: usize,
    headroom: usize,
    /// Free-list stack of buffer indices; `top` is the number of entries in use.
    free: Box<[Cell<u32>]>,
    top: Cell<usize>,
    /// The lowest `top` has been: `count - low` is the high-water mark of buffers in use.
    low: Cell<usize>,
    alloc_failures: Cell<u64>,
    /// Annotations of each buffer, kept beside the region rather than in the handle so a
    /// `Packet` stays 16 bytes and batches move cheaply.
    meta: Box<[UnsafeCell<Annotations>]>,
    /// When the pool owns its region (host), the allocation to give back on drop.
    owned: Option<NonNull<[u8]>>,
    /// The large-buffer class, for lengths beyond this pool's buffers.
    large: Option<Rc<PoolInner>>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        if let Some(region) = self.owned.take() {
            // SAFETY: `region` came from `Box::into_raw` in `PacketPool::new`, and every
            // packet holds an `Rc` to this pool, so no buffer is referenced any more.
            drop(unsafe { Box::from_raw(region.as_ptr()) });
        }
    }
}

/// A pool of packet buffers. Cloning the handle shares the pool; packets keep it alive.
#[derive(Clone)]
pub struct PacketPool {
    inner: Rc<PoolInner>,
}

impl fmt::Debug for PacketPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketPool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl PacketPool {
    /// A pool of `count` buffers of [`DEFAULT_BUFFER_SIZE`] bytes on the heap.
    pub fn new(count: usize) -> Self {
        Self::with_geometry(count, DEFAULT_BUFFER_SIZE, DEFAULT_HEADROOM)
    }

    /// A pool of `count` buffers of `buffer_size` bytes with `headroom` bytes reserved in
    /// front of fresh data.
    ///
    /// # Panics
    /// If `headroom >= buffer_size`, `buffer_size > 65535` or `count > u32::MAX`: pool
    /// geometry is configuration, fixed at start.
    pub fn with_geometry(count: usize, buffer_size: usize, headroom: usize) -> Self {
        Self {
            inner: Rc::new(Self::heap_inner(count, buffer_size, headroom, None)),
        }
    }

    /// A pool of `count` regular buffers plus `large` buffers of [`LARGE_BUFFER_SIZE`]
    /// bytes, which packets longer than a regular buffer take (see the module docs).
    pub fn with_large(count: usize, large: usize) -> Self {
        let large = Rc::new(Self::heap_inner(
            large,
            LARGE_BUFFER_SIZE,
            DEFAULT_HEADROOM,
            None,
        ));
        Self {
            inner: Rc::new(Self::heap_inner(
                count,
                DEFAULT_BUFFER_SIZE,
                DEFAULT_HEADROOM,
                Some(large),
            )),
        }
    }

    fn heap_inner(
        count: usize,
        buffer_size: usize,
        headroom: usize,
        large: Option<Rc<PoolInner>>,
    ) -> PoolInner {
        assert!(headroom < buffer_size && buffer_size <= usize::from(u16::MAX));
        let region: Box<[u8]> = alloc::vec![0u8; count * buffer_size].into_boxed_slice();
        let raw = NonNull::from(Box::leak(region));
        let base = raw.cast::<u8>();
        Self::build(base, count, buffer_size, headroom, Some(raw), large)
    }

    /// A pool over a caller-provided region (the VM's DMA memory).
    ///
    /// # Safety
    /// `base..base + count * buffer_size` must be valid, writable memory that nothing else
    /// uses for as long as the pool or any of its packets lives.
    pub unsafe fn from_region(
        base: NonNull<u8>,
        count: usize,
        buffer_size: usize,
        headroom: usize,
    ) -> Self {
        assert!(headroom < buffer_size && buffer_size <= usize::from(u16::MAX));
        Self {
            inner: Rc::new(Self::build(base, count, buffer_size, headroom, None, None)),
        }
    }

    fn build(
        base: NonNull<u8>,
        count: usize,
        buffer_size: usize,
        headroom: usize,
        owned: Option<NonNull<[u8]>>,
        large: Option<Rc<PoolInner>>,
    ) -> PoolInner {
        let count32 = u32::try_from(count).expect("pool of at most 2^32 buffers");
        // Lowest indices on top, so a fresh pool hands out buffers in address order.
        let free: Box<[Cell<u32>]> = (0..count32).rev().map(Cell::new).collect::<Vec<_>>().into();
        PoolInner {
            base,
            buffer_size,
            count,
            headroom,
            free,
            top: Cell::new(count),
            low: Cell::new(count),
            alloc_failures: Cell::new(0),
            meta: (0..count)
                .map(|_| UnsafeCell::new(Annotations::default()))
                .collect(),
            owned,
            large,
        }
    }

    /// A fresh packet of `len` zeroed-or-stale bytes after the default headroom, or `None`
    /// (counted in [`PoolStats::alloc_failures`]) when the pool is empty or `len` does not
    /// fit.
    #[inline]
    pub fn alloc(&self, len: usize) -> Option<Packet> {
        let inner = &*self.inner;
        let top = inner.top.get();
        // One branch for both refusals: an empty pool and an oversized request.
        if top == 0 || len > inner.buffer_size - inner.headroom {
            return self.refuse(len);
        }
        inner.top.set(top - 1);
        inner.low.set(inner.low.get().min(top - 1));
        // SAFETY: the free list has `count` slots and `0 < top <= count` (`release` never
        // pushes past `count`), so `top - 1` is in bounds.
        let index = unsafe { inner.free.get_unchecked(top - 1) }.get();
        // SAFETY: `index < count` (free-list entries are buffer indices), so the offset stays
        // inside `meta`, whose length is `count`.
        let cell = unsafe { inner.meta.as_ptr().add(index as usize) };
        // SAFETY: `index` was just taken off the free list, so no other packet owns its
        // annotations and no reference to them is live. One small store of a constant resets
        // every annotation.
        unsafe { UnsafeCell::raw_get(cell).write(Annotations::DEFAULT) };
        Some(Packet {
            pool: self.inner.clone(),
            index,
            head: inner.headroom as u16,
            len: len as u16,
        })
    }

    /// A length too long for a regular buffer goes to the large class; anything else is a
    /// counted refusal (kept out of line: the hot path never takes it).
    #[cold]
    #[inline(never)]
    fn refuse(&self, len: usize) -> Option<Packet> {
        let inner = &*self.inner;
        if len > inner.buffer_size - inner.headroom {
            if let Some(large) = &inner.large {
                let large = PacketPool {
                    inner: large.clone(),
                };
                if let Some(p) = large.alloc(len) {
                    return Some(p);
                }
            }
        }
        inner.alloc_failures.set(inner.alloc_failures.get() + 1);
        None
    }

    /// The longest packet [`alloc`](Self::alloc) can make: a regular buffer's room after
    /// the headroom, or the large class's.
    pub fn max_len(&self) -> usize {
        let inner = &*self.inner;
        let regular = inner.buffer_size - inner.headroom;
        inner
            .large
            .as_ref()
            .map_or(regular, |l| regular.max(l.buffer_size - l.headroom))
    }

    /// A packet holding a copy of `data`.
    #[inline]
    pub fn alloc_from(&self, data: &[u8]) -> Option<Packet> {
        let p = self.alloc(data.len())?;
        let start = p.buffer_start();
        // SAFETY: `alloc` checked `headroom + data.len() <= buffer_size`, so the destination
        // range lies inside this packet's buffer, which `p` owns exclusively; `data` is a
        // shared borrow and cannot alias a buffer owned by a fresh packet.
        let dst = unsafe { start.add(usize::from(p.head)) };
        // SAFETY: as above: `dst..dst + data.len()` is writable and disjoint from `data`.
        unsafe { copy_short(data.as_ptr(), dst, data.len()) };
        Some(p)
    }

    /// Counters of the regular buffers.
    pub fn stats(&self) -> PoolStats {
        Self::stats_of(&self.inner)
    }

    /// Counters of the large class, if the pool has one.
    pub fn large_stats(&self) -> Option<PoolStats> {
        self.inner.large.as_deref().map(Self::stats_of)
    }

    fn stats_of(inner: &PoolInner) -> PoolStats {
        PoolStats {
            capacity: inner.count,
            free: inner.top.get(),
            alloc_failures: inner.alloc_failures.get(),
            high_water: inner.count - inner.low.get(),
        }
    }

    /// Bytes per buffer.
    pub fn buffer_size(&self) -> usize {
        self.inner.buffer_size
    }

    /// Headroom given to fresh packets.
    pub fn headroom(&self) -> usize {
        self.inner.headroom
    }

    /// Whether two handles share one pool.
    pub fn same_pool(&self, other: &PacketPool) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    #[inline]
    fn release(inner: &PoolInner, index: u32) {
        let top = inner.top.get();
        debug_assert!(top < inner.free.len());
        // SAFETY: every packet came off the free list and is released once, on drop, so
        // `top + live packets == count` and `top < count` here: the slot is in bounds.
        let slot = unsafe { inner.free.get_unchecked(top) };
        slot.set(index);
        inner.top.set(top + 1);
    }
}

/// An owned packet: one pool buffer, the range of it holding data, and annotations.
///
/// Header operations move the data range instead of the bytes: [`Packet::pull`] strips bytes
/// from the front (Click's `pull`), [`Packet::push`] prepends into the headroom, [`Packet::take`]
/// trims the tail and [`Packet::put`] extends into the tailroom.
pub struct Packet {
    pool: Rc<PoolInner>,
    index: u32,
    head: u16,
    len: u16,
}

impl Drop for Packet {
    #[inline]
    fn drop(&mut self) {
        PacketPool::release(&self.pool, self.index);
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("buffer", &self.index)
            .field("head", &self.head)
            .field("len", &self.len)
            .finish()
    }
}

/// Not enough headroom or tailroom for a header operation, or a range beyond the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom;

impl fmt::Display for NoRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not enough room in the packet buffer")
    }
}

impl Packet {
    /// Address of this packet's buffer.
    #[inline]
    fn buffer_start(&self) -> *mut u8 {
        let p = &*self.pool;
        // SAFETY: `index < count` (only the pool creates packets, from its free list), so the
        // offset stays inside the region `base..base + count * buffer_size`.
        unsafe { p.base.as_ptr().add(self.index as usize * p.buffer_size) }
    }

    /// The whole buffer, headroom and tailroom included.
    #[inline]
    pub fn buffer(&self) -> &[u8] {
        let p = &*self.pool;
        let start = self.buffer_start();
        // SAFETY: `start..start + buffer_size` is this packet's buffer inside the region (see
        // `buffer_start`); this packet owns the buffer exclusively (an index is on the free
        // list or in exactly one packet), so no `&mut` to it exists elsewhere.
        unsafe { core::slice::from_raw_parts(start, p.buffer_size) }
    }

    /// The whole buffer, mutable (drivers post it to the device; elements use `data_mut`).
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        let p = &*self.pool;
        let start = self.buffer_start();
        // SAFETY: as in `buffer`; `&mut self` guarantees this is the only live reference.
        unsafe { core::slice::from_raw_parts_mut(start, p.buffer_size) }
    }

    /// Index of the buffer in its pool (drivers use it as a DMA token).
    pub fn buffer_index(&self) -> u32 {
        self.index
    }

    /// The packet's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let (h, l) = (usize::from(self.head), usize::from(self.len));
        &self.buffer()[h..h + l]
    }

    /// The packet's bytes, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (h, l) = (usize::from(self.head), usize::from(self.len));
        &mut self.buffer_mut()[h..h + l]
    }

    /// Length of the data.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there is no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of the data in the buffer (bytes of headroom).
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.head)
    }

    /// Bytes free after the data.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.pool.buffer_size - usize::from(self.head) - usize::from(self.len)
    }

    /// Sets the data range to `head..head + len` of the buffer (drivers, after a receive).
    pub fn set_range(&mut self, head: usize, len: usize) -> Result<(), NoRoom> {
        if head
            .checked_add(len)
            .is_none_or(|end| end > self.pool.buffer_size)
        {
            return Err(NoRoom);
        }
        self.head = head as u16;
        self.len = len as u16;
        Ok(())
    }

    /// Removes `n` bytes from the front (Click's `pull`).
    #[inline]
    pub fn pull(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > usize::from(self.len) {
            return Err(NoRoom);
        }
        self.head += n as u16;
        self.len -= n as u16;
        Ok(())
    }

    /// Prepends `n` bytes (uninitialised: stale buffer contents) into the headroom (Click's
    /// `push`).
    #[inline]
    pub fn push(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > usize::from(self.head) {
            return Err(NoRoom);
        }
        self.head -= n as u16;
        self.len += n as u16;
        Ok(())
    }

    /// Removes `n` bytes from the end.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > usize::from(self.len) {
            return Err(NoRoom);
        }
        self.len -= n as u16;
        Ok(())
    }

    /// Appends `n` bytes (stale contents) into the tailroom.
    #[inline]
    pub fn put(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > self.tailroom() {
            return Err(NoRoom);
        }
        self.len += n as u16;
        Ok(())
    }

    /// Truncates or extends (zero-filled) the data to `len` bytes.
    pub fn resize(&mut self, len: usize) -> Result<(), NoRoom> {
        let old = self.len();
        if len > old {
            self.put(len - old)?;
            self.data_mut()[old..].fill(0);
            Ok(())
        } else {
            self.take(old - len)
        }
    }

    /// Annotations.
    #[inline]
    pub fn anno(&self) -> &Annotations {
        // SAFETY: `index < count` (only the pool creates packets, from its free list), and
        // `meta` has `count` entries.
        let cell = unsafe { self.pool.meta.get_unchecked(self.index as usize) };
        // SAFETY: this packet owns entry `index` exclusively (as it owns the buffer), so no
        // `&mut` to it exists while `&self` is borrowed.
        unsafe { &*cell.get() }
    }

    /// Annotations, mutable.
    #[inline]
    pub fn anno_mut(&mut self) -> &mut Annotations {
        // SAFETY: as in `anno`, `index < count`.
        let cell = unsafe { self.pool.meta.get_unchecked(self.index as usize) };
        // SAFETY: as in `anno`; `&mut self` makes this the only live reference.
        unsafe { &mut *cell.get() }
    }

    /// Offset of the network header relative to the data start, if set and not stripped.
    #[inline]
    pub fn network_offset(&self) -> Option<usize> {
        Self::relative(self.anno().network_header, self.head)
    }

    /// Offset of the network header from the data start, negative when the header lies in
    /// the headroom (a stripped header, which `UnstripIPHeader` puts back); `None` when unset.
    #[inline]
    pub fn network_header_offset(&self) -> Option<isize> {
        let abs = self.anno().network_header;
        (abs != NO_HEADER).then(|| abs as isize - self.head as isize)
    }

    /// Marks the network header at `offset` bytes into the data (`MarkIPHeader`).
    #[inline]
    pub fn set_network_offset(&mut self, offset: usize) {
        let abs = (usize::from(self.head) + offset) as u16;
        self.anno_mut().network_header = abs;
    }

    /// Offset of the transport header relative to the data start, if set.
    #[inline]
    pub fn transport_offset(&self) -> Option<usize> {
        Self::relative(self.anno().transport_header, self.head)
    }

    /// Marks the transport header at `offset` bytes into the data.
    #[inline]
    pub fn set_transport_offset(&mut self, offset: usize) {
        let abs = (usize::from(self.head) + offset) as u16;
        self.anno_mut().transport_header = abs;
    }

    /// Clears the header annotations.
    pub fn clear_headers(&mut self) {
        let anno = self.anno_mut();
        anno.network_header = NO_HEADER;
        anno.transport_header = NO_HEADER;
    }

    fn relative(abs: u16, head: u16) -> Option<usize> {
        (abs != NO_HEADER && abs >= head).then(|| usize::from(abs - head))
    }

    /// The network header onwards (`ip_header` in Click), if marked.
    pub fn network_data(&self) -> Option<&[u8]> {
        self.network_offset().and_then(|o| self.data().get(o..))
    }

    /// The network header onwards, mutable.
    pub fn network_data_mut(&mut self) -> Option<&mut [u8]> {
        let o = self.network_offset()?;
        self.data_mut().get_mut(o..)
    }

    /// A copy in a fresh buffer of the same pool, with the same headroom and annotations
    /// (`Tee`, and elements that keep a packet while sending another). `None` when the pool
    /// is empty.
    pub fn try_clone(&self) -> Option<Packet> {
        let pool = PacketPool {
            inner: self.pool.clone(),
        };
        let mut p = pool.alloc(0)?;
        let (h, l) = (usize::from(self.head), usize::from(self.len));
        p.buffer_mut()[h..h + l].copy_from_slice(self.data());
        p.head = self.head;
        p.len = self.len;
        *p.anno_mut() = *self.anno();
        Some(p)
    }

    /// Extends the data by `n` bytes at the tail (stale contents), as [`put`](Self::put)
    /// does, but when the tailroom is too small moves the packet to a fresh buffer (of the
    /// large class if need be), as Click's `put` reallocates. The data keeps its offset in
    /// the buffer, so header annotations stay valid. `None` when no buffer can hold it.
    pub fn put_or_move(mut self, n: usize) -> Option<Packet> {
        if self.put(n).is_ok() {
            return Some(self);
        }
        let (head, len) = (usize::from(self.head), usize::from(self.len));
        let new_len = len.checked_add(n)?;
        let pool = self.pool();
        let headroom = pool.headroom();
        // Room for everything from the pool's headroom to the new end, so the data can sit
        // at the same offset (it starts at or after the headroom in all but odd cases).
        let front = head.saturating_sub(headroom);
        let mut q = pool.alloc(front + new_len)?;
        let start = if head >= headroom {
            head
        } else {
            usize::from(q.head)
        };
        q.set_range(start, new_len).ok()?;
        q.data_mut()[..len].copy_from_slice(self.data());
        let mut anno = *self.anno();
        if start != head {
            anno.network_header = NO_HEADER;
            anno.transport_header = NO_HEADER;
        }
        *q.anno_mut() = anno;
        Some(q)
    }

    /// The pool this packet's buffer belongs to.
    pub fn pool(&self) -> PacketPool {
        PacketPool {
            inner: self.pool.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_handle_is_small() {
        // Batches move by value between elements; the handle's size is their cost.
        assert_eq!(core::mem::size_of::<Packet>(), 16);
    }

    #[test]
    fn copies_of_every_short_length_are_exact() {
        let src: Vec<u8> = (1..=100u8).collect();
        for n in 0..=100 {
            // A fresh pool's buffer is zeroed: nothing but the frame may be written.
            let pool = PacketPool::with_geometry(1, 256, 32);
            let p = pool.alloc_from(&src[..n]).unwrap();
            assert_eq!(p.data(), &src[..n], "length {n}");
            let buf = p.buffer();
            assert!(buf[..32].iter().all(|&b| b == 0), "headroom, length {n}");
            assert!(buf[32 + n..].iter().all(|&b| b == 0), "tail, length {n}");
        }
    }

    #[test]
    fn long_packets_take_the_large_class_and_return_to_it() {
        let pool = PacketPool::with_large(4, 2);
        assert_eq!(pool.max_len(), LARGE_BUFFER_SIZE - DEFAULT_HEADROOM);
        let jumbo = pool.alloc_from(&[7u8; 9014]).unwrap();
        assert_eq!(jumbo.len(), 9014);
        assert!(jumbo.data().iter().all(|&b| b == 7));
        assert_eq!(pool.stats().free, 4, "no regular buffer taken");
        assert_eq!(pool.large_stats().unwrap().free, 1);
        let copy = jumbo.try_clone().unwrap();
        assert_eq!(copy.data(), jumbo.data());
        drop((jumbo, copy));
        assert_eq!(pool.large_stats().unwrap().free, 2);
        assert!(
            pool.alloc(LARGE_BUFFER_SIZE).is_none(),
            "beyond the large class"
        );
        assert_eq!(pool.stats().alloc_failures, 1);
        let plain = PacketPool::new(2);
        assert!(plain.alloc(9014).is_none(), "no large class: refused");
        assert!(plain.large_stats().is_none());
    }

    #[test]
    fn put_or_move_grows_past_the_buffer_keeping_data_and_headers() {
        let pool = PacketPool::with_large(4, 1);
        let mut p = pool.alloc_from(&[1, 2, 3, 4]).unwrap();
        p.pull(2).unwrap();
        p.set_network_offset(0);
        p.anno_mut().paint = 9;
        let offset = p.network_offset();
        let p = p.put_or_move(3000).unwrap();
        assert_eq!(p.len(), 3002);
        assert_eq!(&p.data()[..2], &[3, 4]);
        assert_eq!((p.anno().paint, p.network_offset()), (9, offset));
        assert_eq!(
            pool.large_stats().unwrap().free,
            0,
            "moved to the large class"
        );
        assert_eq!(pool.stats().free, 4, "the regular buffer came back");
        let small = pool.alloc_from(&[5]).unwrap().put_or_move(10).unwrap();
        assert_eq!(
            (small.len(), small.data()[0]),
            (11, 5),
            "in place when it fits"
        );
    }

    #[test]
    fn alloc_and_drop_return_buffers() {
        let pool = PacketPool::new(4);
        let a = pool.alloc(60).unwrap();
        let b = pool.alloc(60).unwrap();
        assert_ne!(a.buffer_index(), b.buffer_index());
        assert_eq!(pool.stats().free, 2);
        drop(a);
        assert_eq!(pool.stats().free, 3);
        drop(b);
        assert_eq!(pool.stats().free, 4);
    }

    #[test]
    fn the_high_water_mark_keeps_the_most_buffers_ever_in_use() {
        let pool = PacketPool::new(8);
        let held: Vec<Packet> = (0..5).map(|_| pool.alloc(10).unwrap()).collect();
        let stats = pool.stats();
        assert_eq!((stats.in_use(), stats.high_water), (5, 5));
        drop(held);
        let one = pool.alloc(10).unwrap();
        let stats = pool.stats();
        assert_eq!((stats.in_use(), stats.free, stats.high_water), (1, 7, 5));
        drop(one);
        assert_eq!(pool.stats().in_use(), 0);
    }

    #[test]
    fn exhaustion_is_counted_not_fatal() {
        let pool = PacketPool::new(2);
        let held: Vec<Packet> = (0..2).map(|_| pool.alloc(10).unwrap()).collect();
        assert!(pool.alloc(10).is_none());
        assert!(pool.alloc(10).is_none());
        assert_eq!(pool.stats().alloc_failures, 2);
        drop(held);
        assert!(pool.alloc(10).is_some());
    }

    #[test]
    fn oversized_alloc_fails() {
        let pool = PacketPool::with_geometry(2, 256, 64);
        assert!(pool.alloc(192).is_some());
        assert!(pool.alloc(193).is_none());
    }

    #[test]
    fn push_pull_move_the_range_not_the_bytes() {
        let pool = PacketPool::with_geometry(1, 256, 64);
        let mut p = pool.alloc_from(&[1, 2, 3, 4, 5, 6]).unwrap();
        p.pull(2).unwrap();
        assert_eq!(p.data(), &[3, 4, 5, 6]);
        assert_eq!(p.headroom(), 66);
        p.push(2).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(p.pull(7), Err(NoRoom));
        assert_eq!(p.push(65), Err(NoRoom));
        p.take(1).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5]);
        assert_eq!(p.tailroom(), 256 - 64 - 5);
        assert_eq!(p.put(256), Err(NoRoom));
        p.resize(7).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 0, 0]);
    }

    #[test]
    fn header_annotations_survive_strip_and_encap() {
        let pool = PacketPool::new(1);
        let mut p = pool.alloc(34).unwrap();
        p.set_network_offset(14);
        p.pull(14).unwrap();
        assert_eq!(p.network_offset(), Some(0));
        p.push(14).unwrap();
        assert_eq!(p.network_offset(), Some(14));
        p.pull(20).unwrap();
        assert_eq!(p.network_offset(), None, "header stripped away");
    }

    #[test]
    fn clone_copies_bytes_and_annotations() {
        let pool = PacketPool::new(2);
        let mut a = pool.alloc_from(b"hello").unwrap();
        a.anno_mut().paint = 7;
        let mut b = a.try_clone().unwrap();
        b.data_mut()[0] = b'j';
        assert_eq!(a.data(), b"hello");
        assert_eq!(b.data(), b"jello");
        assert_eq!(b.anno().paint, 7);
        assert!(b.try_clone().is_none(), "pool of two is exhausted");
    }

    #[test]
    fn pool_outlives_its_handle_while_packets_live() {
        let p = {
            let pool = PacketPool::new(1);
            pool.alloc_from(b"x").unwrap()
        };
        assert_eq!(p.data(), b"x");
        assert_eq!(p.pool().stats().free, 0);
    }
}
