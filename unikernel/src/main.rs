//! The sluice unikernel image: bring-up in order, then the main loop.

#![no_std]
#![no_main]

extern crate alloc;

mod nf;
mod selftest;

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt::Display;

use sluice_unikernel::control::{ControlChannel, Handlers};
use sluice_unikernel::exit::{exit, ExitCode};
use sluice_unikernel::idle::Idle;
use sluice_unikernel::pvh::{self, BootInfo};
use sluice_unikernel::{arch, checkpoint, clock, heap, net, println, serial};

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

/// The machine is up: build the packet pool, bring up the NICs, instantiate the router,
/// report readiness, then run the graph and serve the control channel until the router stops.
fn main_loop(boot: &'static BootInfo) -> ! {
    if let Some(test) = boot.cmdline.get("selftest") {
        print_ready(&[]);
        selftest::run(test, &boot.cmdline);
    }
    let pool = nf::packet_pool(&boot.cmdline).unwrap_or_else(|e| fail("packet pool", e));
    checkpoint::record("pool");
    let nics = net::discover(&boot.cmdline, boot.acpi, &pool);
    checkpoint::record("nics");
    let config = nf::configuration(boot).unwrap_or_else(|e| fail("configuration", e));
    let Some(config) = config else {
        // A generic image booted without a configuration: nothing to run.
        print_ready(&nics.info);
        println!("no configuration (boot a generic image with -initrd FILE.click)");
        arch::halt_forever()
    };
    let info = nics.info.clone();
    let mut router = nf::router(&config, pool, nics.devices).unwrap_or_else(|report| {
        println!("configuration error:\n{report}");
        exit(ExitCode::ConfigError)
    });
    checkpoint::record("router");
    let hotconfig = nf::ImageHotconfig {
        classes: nf::classes(),
        last_swap: Default::default(),
    };
    let mut control = ControlChannel::new(clock::calibration().map_or(0, |c| c.tsc_khz));
    let mut idle = Idle::new(&boot.cmdline, &info);
    let mut rx_seen = 0u64;
    checkpoint::record("idle");
    print_ready(&info);
    loop {
        let round = router.run_slice();
        // A `hotconfig` replaces the router here, between slices.
        let served = control.poll(&Handlers {
            router: RefCell::new(&mut router),
            nics: &info,
            classes: &hotconfig.classes,
            hotconfig: &hotconfig,
            idle: &idle,
            last_hotconfig: &hotconfig.last_swap,
        });
        if !round.active {
            break;
        }
        if round.busy || served {
            // A handler call may have given the router work (or stopped it): run a slice
            // before sleeping.
            let received: u64 = info.iter().map(|n| n.stats().rx_packets).sum();
            idle.busy(core::mem::replace(&mut rx_seen, received) != received);
        } else if idle.idle(&router, control.has_input()) {
            control.look_now();
        }
    }
    router.cleanup();
    println!("router stopped");
    exit(ExitCode::Success)
}

/// Prints the one `ready` line the launcher waits for.
fn print_ready(nics: &[Rc<net::NicInfo>]) {
    let ready = clock::Instant::now();
    let checkpoints = checkpoint::snapshot();
    let calibration = clock::calibration();
    println!(
        "ready entry->ready={}us vm->entry={}us tsc_khz={} tsc_source={} nics={} {}",
        ready.since_boot().as_micros(),
        clock::ticks_to_duration(checkpoints.entry_tsc()).as_micros(),
        calibration.map_or(0, |c| c.tsc_khz),
        calibration.map_or("none", |c| c.source.name()),
        nics.len(),
        checkpoints
    );
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
