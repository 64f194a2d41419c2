//! [`KernelHal`]: the platform side of `virtio-drivers` for this identity-mapped kernel.
//!
//! DMA memory is heap memory ([`heap::dma_alloc`]), whose physical address is its virtual
//! address, so sharing a buffer with a device is just taking its address: nothing is copied or
//! bounced. Device registers found in PCI BARs are mapped uncached with
//! [`paging::map_mmio`](crate::arch::paging::map_mmio).

use core::alloc::Layout;
use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

use crate::arch::paging;
use crate::heap;

/// The `virtio-drivers` HAL of the unikernel.
pub struct KernelHal;

fn pages_layout(pages: usize) -> Layout {
    Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE).expect("page-aligned layout")
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned heap memory that nothing else uses until
// `dma_dealloc`; physical and virtual addresses are equal everywhere in this kernel, so the
// addresses returned by `dma_alloc` and `share` are the ones the device must use; and
// `mmio_phys_to_virt` returns an uncached identity mapping of the requested registers.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(ptr) = heap::dma_alloc(pages_layout(pages)) else {
            panic!("out of DMA memory: {pages} pages for a virtqueue (give the VM more --mem)");
        };
        (heap::phys_addr(ptr.as_ptr()), ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: `vaddr` came from `dma_alloc` above with the same page count (the trait's
        // contract), and the device no longer uses it.
        unsafe { heap::dma_dealloc(vaddr, pages_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        match paging::map_mmio(paddr, size as u64) {
            Ok(ptr) => ptr,
            Err(e) => panic!("cannot map device registers at {paddr:#x}+{size:#x}: {e}"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        heap::phys_addr(buffer.as_ptr())
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
