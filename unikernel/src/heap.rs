//! The kernel heap, which is also the DMA memory.
//!
//! [`init`] gives the allocator the largest stretch of RAM from the PVH memory map that lies
//! after the kernel image, inside the boot identity map ([`BOOT_IDENTITY_MAP_END`]) and clear
//! of the boot information. With `-m 8M` that is about 6.8 MiB.
//!
//! **Every heap allocation is DMA-capable**: the heap is identity mapped (virtual address ==
//! physical address), cacheable, and its pages never move, so the address of a `Box`, a `Vec`
//! buffer or the packet pool is the address to give a device. [`dma_alloc`] and
//! [`dma_dealloc`] make that explicit for driver code (zeroed memory, any alignment), and
//! [`phys_addr`] / [`phys_to_virt`] convert in both directions.

use core::alloc::{GlobalAlloc, Layout};
use core::ops::Range;
use core::ptr::NonNull;

use spin::Once;
use talc::source::Manual;
use talc::TalcLock;

use crate::arch::paging::BOOT_IDENTITY_MAP_END;
use crate::pvh::BootInfo;

#[global_allocator]
static ALLOCATOR: TalcLock<spin::Mutex<()>, Manual> = TalcLock::new(Manual);

static REGION: Once<Range<u64>> = Once::new();

extern "C" {
    /// End of the kernel image including .bss (from `linker.ld`).
    static __kernel_end: u8;
}

/// Why the heap could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapError {
    /// The memory map has no usable RAM after the kernel image.
    NoFreeRam,
    /// The allocator rejected the region (too small).
    RegionTooSmall { start: u64, end: u64 },
}

impl core::fmt::Display for HeapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoFreeRam => f.write_str("no free RAM after the kernel image in the memory map"),
            Self::RegionTooSmall { start, end } => {
                write!(f, "heap region {start:#x}..{end:#x} is too small")
            }
        }
    }
}

/// Hands the largest free RAM region to the allocator and returns it. Later calls return the
/// first region.
pub fn init(boot: &BootInfo) -> Result<Range<u64>, HeapError> {
    if let Some(region) = REGION.get() {
        return Ok(region.clone());
    }
    let region = largest_free_region(boot).ok_or(HeapError::NoFreeRam)?;
    let size = usize::try_from(region.end - region.start).unwrap_or(usize::MAX);
    // SAFETY: the region is RAM from the memory map, identity mapped by the boot page tables,
    // after the kernel image and outside the boot information, so nothing else uses it; it is
    // claimed once (guarded by `REGION`).
    let claimed = unsafe { ALLOCATOR.lock().claim(region.start as *mut u8, size) };
    if claimed.is_none() {
        return Err(HeapError::RegionTooSmall {
            start: region.start,
            end: region.end,
        });
    }
    Ok(REGION.call_once(|| region).clone())
}

/// The heap's physical (== virtual) address range, once set up.
pub fn region() -> Option<Range<u64>> {
    REGION.get().cloned()
}

fn largest_free_region(boot: &BootInfo) -> Option<Range<u64>> {
    let kernel_end = core::ptr::addr_of!(__kernel_end) as u64;
    boot.memmap
        .iter()
        .filter(|entry| entry.is_ram())
        .filter_map(|entry| {
            let range = entry.range();
            let start = range.start.max(kernel_end);
            let end = range.end.min(BOOT_IDENTITY_MAP_END);
            let mut free = start..end;
            for reserved in &boot.reserved {
                free = avoid(free, reserved);
            }
            (free.start < free.end).then_some(free)
        })
        .max_by_key(|range| range.end - range.start)
}

/// The larger part of `free` that does not overlap `reserved`.
fn avoid(free: Range<u64>, reserved: &Range<u64>) -> Range<u64> {
    if reserved.end <= free.start || reserved.start >= free.end || reserved.is_empty() {
        return free;
    }
    let below = free.start..reserved.start.max(free.start);
    let above = reserved.end.min(free.end)..free.end;
    if below.end - below.start >= above.end - above.start {
        below
    } else {
        above
    }
}

/// Allocates zeroed, identity-mapped memory for a device to read or write.
pub fn dma_alloc(layout: Layout) -> Option<NonNull<u8>> {
    if layout.size() == 0 {
        return None;
    }
    // SAFETY: `layout` has a non-zero size (checked above).
    NonNull::new(unsafe { ALLOCATOR.alloc_zeroed(layout) })
}

/// Frees memory from [`dma_alloc`].
///
/// # Safety
///
/// `ptr` came from [`dma_alloc`] with this `layout`, and the device no longer uses it.
pub unsafe fn dma_dealloc(ptr: NonNull<u8>, layout: Layout) {
    // SAFETY: forwarded from this function's contract.
    unsafe { ALLOCATOR.dealloc(ptr.as_ptr(), layout) }
}

/// The physical address of kernel memory (identity mapped: the pointer's value).
pub fn phys_addr<T: ?Sized>(ptr: *const T) -> u64 {
    ptr.cast::<u8>() as u64
}

/// The pointer through which the kernel reaches physical address `paddr` of RAM.
pub fn phys_to_virt(paddr: u64) -> *mut u8 {
    paddr as *mut u8
}
