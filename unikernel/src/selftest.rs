//! Self-tests the host-side boot tests select with `selftest=<name>` on the command line.
//!
//! - `clock`: busy-waits `clock_ms` (default 200) milliseconds by the calibrated clock, between
//!   two lines the host timestamps, then exits with success.
//! - `panic`: panics (exit status of [`ExitCode::Panic`]).
//! - `fault`: writes to an unmapped address (page fault, [`ExitCode::Exception`]).
//! - `ud`: executes `ud2` (invalid opcode, [`ExitCode::Exception`]).
//! - `heap`: allocates, checks and frees memory, including DMA buffers, then exits.
//! - `mmio`: maps every virtio-mmio window from the command line and reads its magic value.
//! - `timer`: halts until the local APIC timer fires, [`TIMER_WAITS`] times 20 ms apart, and
//!   checks that each wake-up comes on time: not before its deadline (an early one sleeps
//!   again) and at most [`TIMER_LATE`] after it.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::time::Duration;

use sluice_unikernel::arch::apic::Interrupts;
use sluice_unikernel::arch::{self, paging};
use sluice_unikernel::exit::{exit, ExitCode};
use sluice_unikernel::pvh::Cmdline;
use sluice_unikernel::{clock, heap, println};

/// An address no page table maps: 512 GiB, in the second PML4 slot.
const UNMAPPED_ADDRESS: u64 = 0x80_0000_0000;

pub fn run(test: &str, cmdline: &Cmdline<'_>) -> ! {
    println!("selftest {test}: start");
    let passed = match test {
        "clock" => clock_wait(cmdline),
        "panic" => panic!("selftest panic requested"),
        "fault" => page_fault(),
        "ud" => invalid_opcode(),
        "heap" => heap_roundtrip(),
        "mmio" => map_mmio(cmdline),
        "timer" => timer_wakeups(),
        _ => {
            println!("selftest {test}: unknown self-test");
            false
        }
    };
    println!("selftest {test}: {}", if passed { "ok" } else { "FAILED" });
    exit(if passed {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

fn clock_wait(cmdline: &Cmdline<'_>) -> bool {
    let wait = Duration::from_millis(cmdline.get_u64("clock_ms").unwrap_or(200));
    let start = clock::Instant::now();
    clock::busy_wait(wait);
    let measured = start.elapsed();
    println!("selftest clock: waited {}us", measured.as_micros());
    measured >= wait
}

/// Wake-ups the `timer` self-test waits for.
const TIMER_WAITS: u32 = 10;
/// The latest a timer wake-up may come after its deadline.
const TIMER_LATE: Duration = Duration::from_millis(3);

fn timer_wakeups() -> bool {
    let tsc_khz = clock::calibration().map_or(0, |c| c.tsc_khz);
    let mut interrupts = match Interrupts::init(tsc_khz) {
        Ok(i) => i,
        Err(e) => {
            println!("selftest timer: {e}");
            return false;
        }
    };
    let step = Duration::from_millis(20);
    let mut worst = Duration::ZERO;
    let mut sleeps = 0;
    for _ in 0..TIMER_WAITS {
        let deadline = clock::Instant::now().ticks() + clock::duration_to_ticks(step);
        while arch::rdtsc() < deadline {
            interrupts.sleep(Some(deadline));
            sleeps += 1;
        }
        worst = worst.max(clock::ticks_to_duration(arch::rdtsc() - deadline));
    }
    println!(
        "selftest timer: {TIMER_WAITS} waits of {}ms, {sleeps} sleeps, {} timer, latest wake-up {}us after its deadline",
        step.as_millis(),
        interrupts.timer_mode(),
        worst.as_micros()
    );
    worst <= TIMER_LATE && sleeps <= 2 * TIMER_WAITS
}

fn page_fault() -> bool {
    let ptr = UNMAPPED_ADDRESS as *mut u64;
    // SAFETY: deliberately not safe: the address is unmapped, the write faults and the
    // exception handler ends the VM, which is what this self-test checks.
    unsafe { ptr.write_volatile(0xdead_beef) };
    false
}

fn invalid_opcode() -> bool {
    // SAFETY: `ud2` raises #UD; the exception handler ends the VM, which is what this
    // self-test checks.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    false
}

fn heap_roundtrip() -> bool {
    let Some(region) = heap::region() else {
        return false;
    };
    let mut ok = true;

    let numbers: Vec<u64> = (0..10_000).collect();
    ok &= numbers.iter().sum::<u64>() == 10_000 * 9_999 / 2;
    let boxed = Box::new([0xa5u8; 4096]);
    ok &= boxed.iter().all(|&b| b == 0xa5);
    let inside = |addr: u64| region.contains(&addr);
    ok &= inside(heap::phys_addr(numbers.as_ptr())) && inside(heap::phys_addr(&*boxed));
    drop(numbers);
    drop(boxed);

    // A page-aligned, zeroed DMA buffer, as a virtqueue needs.
    let layout = Layout::from_size_align(16 * 1024, 4096).unwrap_or(Layout::new::<u8>());
    match heap::dma_alloc(layout) {
        Some(buffer) => {
            let paddr = heap::phys_addr(buffer.as_ptr());
            // SAFETY: `buffer` is a live allocation of `layout.size()` bytes.
            let bytes = unsafe { core::slice::from_raw_parts(buffer.as_ptr(), layout.size()) };
            ok &= paddr % 4096 == 0 && inside(paddr) && bytes.iter().all(|&b| b == 0);
            ok &= heap::phys_to_virt(paddr) == buffer.as_ptr();
            // SAFETY: allocated above with this layout; no device saw it.
            unsafe { heap::dma_dealloc(buffer, layout) };
        }
        None => ok = false,
    }

    // Most of the heap in one piece, as the packet pool will take it.
    let big = (region.end - region.start) as usize / 2;
    let mut pool: Vec<u8> = Vec::new();
    ok &= pool.try_reserve_exact(big).is_ok();
    println!(
        "selftest heap: {} KiB heap at {:#x}, {} KiB block ok={ok}",
        (region.end - region.start) / 1024,
        region.start,
        big / 1024
    );
    ok
}

fn map_mmio(cmdline: &Cmdline<'_>) -> bool {
    /// "virt" in little endian: the first register of every virtio-mmio device.
    const VIRTIO_MMIO_MAGIC: u32 = 0x7472_6976;
    let mut ok = true;
    for device in cmdline.virtio_mmio_devices() {
        let Ok(device) = device else { return false };
        match paging::map_mmio(device.base, device.size) {
            Ok(registers) => {
                // SAFETY: the window was just mapped uncached; offset 0 is the magic register.
                let magic = unsafe { registers.cast::<u32>().as_ptr().read_volatile() };
                println!("selftest mmio: {:#x}: magic {magic:#x}", device.base);
                ok &= magic == VIRTIO_MMIO_MAGIC;
            }
            Err(e) => {
                println!("selftest mmio: {:#x}: {e}", device.base);
                ok = false;
            }
        }
    }
    ok
}
