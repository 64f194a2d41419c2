//! Identity paging.
//!
//! `boot.S` maps the first GiB of physical memory with 2 MiB pages, cacheable, virtual ==
//! physical ([`BOOT_IDENTITY_MAP_END`]). The kernel image, the boot information and the heap all
//! live there, so a pointer to any of them is also the physical address a device needs for
//! DMA. Device registers sit above that map (virtio-mmio at `0xfeb0_0000` on microvm, PCI ECAM
//! at `0xb000_0000` on q35); [`map_mmio`] identity maps them with 4 KiB uncached pages, taking
//! page tables from a small static pool.

use core::cell::UnsafeCell;
use core::ptr::NonNull;

use spin::{Mutex, Once};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::{MapToError, TranslateResult};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, PageTable, PageTableFlags, PhysFrame, Size4KiB,
    Translate,
};
use x86_64::{PhysAddr, VirtAddr};

/// End of the physical range `boot.S` identity maps (1 GiB).
pub const BOOT_IDENTITY_MAP_END: u64 = 1 << 30;

/// How many page tables [`map_mmio`] can create in all. Each new 2 MiB-aligned window needs
/// one page table, and a new 1 GiB window one more. On q35 the local APIC, the I/O APIC and
/// each PCI bridge's memory window are windows of their own (three NICs behind root ports,
/// as libvirt places them, take seven tables).
const PAGE_TABLE_POOL_SIZE: usize = 10;

const PAGE_SIZE: u64 = 4096;

/// Why [`map_mmio`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// [`init`] has not run yet.
    NotInitialized,
    /// The range is empty or wraps around the address space.
    InvalidRange,
    /// All page tables of the static pool are in use.
    OutOfPageTables,
    /// A page of the range is already mapped, but not to itself.
    Conflict { addr: u64 },
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotInitialized => f.write_str("paging is not initialized"),
            Self::InvalidRange => f.write_str("empty or wrapping address range"),
            Self::OutOfPageTables => f.write_str("page table pool exhausted"),
            Self::Conflict { addr } => write!(f, "{addr:#x} is already mapped elsewhere"),
        }
    }
}

/// The pool's memory: one page more than the tables it holds, so that they start on a page
/// boundary wherever the static lands. The static itself is not page-aligned: a 4 KiB-aligned
/// section in the data segment would make the linker pad the image file to a page offset.
struct PageTablePool(UnsafeCell<[u8; POOL_BYTES]>);

const POOL_BYTES: usize = (PAGE_TABLE_POOL_SIZE + 1) * PAGE_SIZE as usize;

// SAFETY: the tables are only handed out by `PoolFrameAllocator`, which runs under the
// `PAGING` mutex and hands out each table exactly once; after that only the MMU and the mapper
// (again under the mutex) touch them.
unsafe impl Sync for PageTablePool {}

// In .bss: zero, so every table starts out empty.
static PAGE_TABLE_POOL: PageTablePool = PageTablePool(UnsafeCell::new([0; POOL_BYTES]));

/// Hands out the frames of `PAGE_TABLE_POOL`, in order, each once.
struct PoolFrameAllocator {
    next: usize,
}

// SAFETY: every frame returned is a 4 KiB-aligned, identity-mapped page of the static pool that
// has not been returned before and is used for nothing else.
unsafe impl FrameAllocator<Size4KiB> for PoolFrameAllocator {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        if self.next >= PAGE_TABLE_POOL_SIZE {
            return None;
        }
        // Identity mapped: the virtual address of the static is its physical address. The
        // first page boundary inside the pool, plus whole pages: within the pool's one page
        // of slack.
        let first = (PAGE_TABLE_POOL.0.get() as u64).next_multiple_of(PAGE_SIZE);
        let addr = PhysAddr::new(first + self.next as u64 * PAGE_SIZE);
        self.next += 1;
        PhysFrame::from_start_address(addr).ok()
    }
}

struct Paging {
    mapper: OffsetPageTable<'static>,
    frames: PoolFrameAllocator,
}

static PAGING: Once<Mutex<Paging>> = Once::new();

/// Takes over the page tables `boot.S` built.
pub fn init() {
    PAGING.call_once(|| {
        let (pml4_frame, _) = Cr3::read();
        let pml4_ptr = pml4_frame.start_address().as_u64() as *mut PageTable;
        // SAFETY: CR3 points at the boot PML4 in .bss, which is identity mapped and, from here
        // on, only reached through this mapper, under the mutex.
        let pml4 = unsafe { &mut *pml4_ptr };
        // SAFETY: all physical memory the tables refer to is mapped at offset 0 (identity).
        let mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::zero()) };
        Mutex::new(Paging {
            mapper,
            frames: PoolFrameAllocator { next: 0 },
        })
    });
}

/// Identity maps `[phys, phys + size)` uncached and writable for device registers and returns
/// a pointer to `phys`.
///
/// Pages that are already identity mapped (for instance RAM inside the boot map) are left as
/// they are. Mapping the same range twice is fine.
pub fn map_mmio(phys: u64, size: u64) -> Result<NonNull<u8>, MapError> {
    let end = phys
        .checked_add(size)
        .filter(|_| size > 0)
        .ok_or(MapError::InvalidRange)?;
    let mut paging = PAGING.get().ok_or(MapError::NotInitialized)?.lock();
    let Paging { mapper, frames } = &mut *paging;
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | PageTableFlags::NO_EXECUTE;

    let mut page = phys & !(PAGE_SIZE - 1);
    while page < end {
        match mapper.translate(VirtAddr::new(page)) {
            TranslateResult::Mapped { frame, offset, .. } => {
                if frame.start_address().as_u64() + offset != page {
                    return Err(MapError::Conflict { addr: page });
                }
            }
            TranslateResult::NotMapped | TranslateResult::InvalidFrameAddress(_) => {
                let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(page));
                // SAFETY: the page was not mapped, so no Rust reference can point into it;
                // mapping device memory onto itself creates no aliasing of RAM.
                let result = unsafe { mapper.identity_map(frame, flags, frames) };
                match result {
                    Ok(flush) => flush.flush(),
                    Err(MapToError::FrameAllocationFailed) => {
                        return Err(MapError::OutOfPageTables)
                    }
                    Err(_) => return Err(MapError::Conflict { addr: page }),
                }
            }
        }
        page += PAGE_SIZE;
    }
    NonNull::new(phys as *mut u8).ok_or(MapError::InvalidRange)
}
