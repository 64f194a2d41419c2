//! The x86-64 platform: PVH entry and early paging (`boot.S`), descriptor tables, exception
//! handling and the identity-mapping helper.

pub mod apic;
pub mod gdt;
pub mod idt;
pub mod paging;

use core::arch::global_asm;

/// Size of the stack `rust_main` and everything after it run on.
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

global_asm!(
    include_str!("boot.S"),
    boot_stack_size = const BOOT_STACK_SIZE,
    options(att_syntax),
);

extern "C" {
    /// TSC value read by the first instruction after `cli` at the PVH entry point.
    static BOOT_ENTRY_TSC: u64;
}

/// The TSC at kernel entry, before any other work.
pub fn boot_entry_tsc() -> u64 {
    // SAFETY: `BOOT_ENTRY_TSC` is written once by `boot.S` before any Rust code runs and never
    // again, so a plain read cannot race with a write.
    unsafe { core::ptr::read_volatile(&raw const BOOT_ENTRY_TSC) }
}

/// Reads the time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear so it is allowed at ring 0 (and
    // everywhere else).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stops the CPU for good: interrupts off, then `hlt` in a loop.
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}
