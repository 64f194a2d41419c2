//! The sluice unikernel image: bring-up in order, then the main loop.

#![no_std]
#![no_main]

extern crate alloc;

mod selftest;

use core::fmt::Display;

use sluice_unikernel::exit::{exit, ExitCode};
use sluice_unikernel::pvh::{self, BootInfo};
use sluice_unikernel::{arch, checkpoint, clock, heap, println, serial};

/// Kernel entry from `boot.S`, in long mode on the boot stack, with the physical address of
/// the PVH start info.
#[no_mangle]
pub extern "C" fn rust_main(start_info_paddr: u32) -> ! {
    serial::init();
    checkpoint::record("serial");
    arch::gdt::init();
    checkpoint::record("gdt");
    arch::idt::init();
    checkpoint::record("idt");

    // SAFETY: `start_info_paddr` is the `%ebx` the loader handed to the PVH entry point, and
    // the heap set up below keeps clear of the structures it points to.
    let boot = unsafe { pvh::init(start_info_paddr) }.unwrap_or_else(|e| fail("PVH start info", e));
    serial::init_logger(log_level(boot));
    checkpoint::record("pvh");

    arch::paging::init();
    checkpoint::record("paging");
    let heap = heap::init(boot).unwrap_or_else(|e| fail("heap", e));
    checkpoint::record("heap");
    let calibration = clock::init(&boot.cmdline);
    checkpoint::record("clock");

    log::debug!("command line: {:?}", boot.cmdline.as_str());
    log::debug!(
        "heap {:#x}..{:#x} ({} KiB), TSC {} kHz from {}",
        heap.start,
        heap.end,
        (heap.end - heap.start) / 1024,
        calibration.tsc_khz,
        calibration.source.name()
    );
    main_loop(boot)
}

/// The machine is up: this is where the router and the device drivers run.
///
/// For now it reports readiness, runs a self-test if the command line asks for one
/// (`selftest=clock|panic|fault|ud|heap`) and otherwise idles.
fn main_loop(boot: &'static BootInfo) -> ! {
    let ready = clock::Instant::now();
    let checkpoints = checkpoint::snapshot();
    let calibration = clock::calibration();
    println!(
        "ready entry->ready={}us vm->entry={}us tsc_khz={} tsc_source={} {}",
        ready.since_boot().as_micros(),
        clock::ticks_to_duration(checkpoints.entry_tsc()).as_micros(),
        calibration.map_or(0, |c| c.tsc_khz),
        calibration.map_or("none", |c| c.source.name()),
        checkpoints
    );
    for device in boot.cmdline.virtio_mmio_devices() {
        match device {
            Ok(d) => log::info!("virtio-mmio {:#x}+{:#x} irq {}", d.base, d.size, d.irq),
            Err(e) => log::warn!("{e}"),
        }
    }
    if let Some(test) = boot.cmdline.get("selftest") {
        selftest::run(test, &boot.cmdline);
    }
    arch::halt_forever()
}

fn log_level(boot: &BootInfo) -> log::LevelFilter {
    boot.cmdline
        .get("loglevel")
        .and_then(|level| level.parse().ok())
        .unwrap_or(log::LevelFilter::Info)
}

fn fail(step: &str, error: impl Display) -> ! {
    println!("boot failed: {step}: {error}");
    exit(ExitCode::Failure)
}
