//! Boots the unikernel under QEMU (TCG, microvm) and checks its ready line, exit statuses,
//! exception and panic reports, clock accuracy and small-memory boots.

use std::time::Duration;

use sluice_unikernel_tests::{
    host_tsc_khz, Boot, Outcome, STATUS_EXCEPTION, STATUS_PANIC, STATUS_SUCCESS,
};

fn assert_status(outcome: &Outcome, expected: i32) {
    assert_eq!(
        outcome.status,
        Some(expected),
        "output:\n{}",
        outcome.output()
    );
}

#[test]
fn boots_and_prints_the_ready_line() {
    let outcome = Boot::new("").stop_at("ready entry->ready=").run();
    let ready = outcome
        .ready()
        .unwrap_or_else(|| panic!("no ready line:\n{}", outcome.output()));
    let entry_to_ready = ready.micros("entry->ready").expect("entry->ready=<n>us");
    for step in ["serial", "gdt", "idt", "pvh", "paging", "heap", "clock"] {
        assert!(
            ready.micros(step).is_some(),
            "no {step} checkpoint in {:?}",
            ready.text
        );
    }
    assert_eq!(ready.field("tsc_source"), Some("cmdline"));
    println!("{}", ready.text);
    println!(
        "entry->ready {entry_to_ready:?} (generous bound: 50 ms, not asserted); \
         QEMU start -> ready line on the host {:?}",
        ready.arrived
    );
}

#[test]
fn idles_after_ready_without_a_selftest() {
    let mut boot = Boot::new("");
    boot.timeout = Duration::from_secs(2);
    let outcome = boot.run();
    assert!(outcome.ready().is_some(), "output:\n{}", outcome.output());
    assert!(
        outcome.timed_out,
        "the placeholder main loop should idle, not exit"
    );
}

#[test]
fn panic_exits_with_the_panic_status_and_message() {
    let outcome = Boot::new("selftest=panic").run();
    assert_status(&outcome, STATUS_PANIC);
    let (_, line) = outcome.line("PANIC at").expect("panic report");
    assert!(
        line.contains("src/selftest.rs:"),
        "location missing: {line}"
    );
    assert!(
        line.contains("selftest panic requested"),
        "message missing: {line}"
    );
}

#[test]
fn page_fault_exits_with_the_exception_status_and_names_it() {
    let outcome = Boot::new("selftest=fault").run();
    assert_status(&outcome, STATUS_EXCEPTION);
    let output = outcome.output();
    assert!(
        output.contains("EXCEPTION #PF page fault (vector 14) error_code=0x2"),
        "{output}"
    );
    assert!(output.contains("cr2=0x0000008000000000"), "{output}");
    assert!(
        output.contains("non-present page on write in kernel mode"),
        "{output}"
    );
    assert!(output.contains("rip=") && output.contains("rsp=") && output.contains("rax="));
}

#[test]
fn invalid_opcode_exits_with_the_exception_status_and_names_it() {
    let outcome = Boot::new("selftest=ud").run();
    assert_status(&outcome, STATUS_EXCEPTION);
    assert!(outcome
        .output()
        .contains("EXCEPTION #UD invalid opcode (vector 6)"));
}

#[test]
fn heap_selftest_passes_with_8m() {
    let outcome = Boot::new("selftest=heap").run();
    assert_status(&outcome, STATUS_SUCCESS);
    assert!(outcome.line("selftest heap: ok").is_some());
}

#[test]
fn boots_with_4m() {
    let outcome = Boot::new("selftest=heap").memory("4M").run();
    assert_status(&outcome, STATUS_SUCCESS);
    println!("{}", outcome.line("KiB heap").map_or("", |(_, l)| l));
}

#[test]
fn maps_virtio_mmio_windows_from_the_command_line() {
    let outcome = Boot::new("selftest=mmio")
        .arg("-global")
        .arg("virtio-mmio.force-legacy=false")
        .arg("-device")
        .arg("virtio-rng-device")
        .run();
    assert_status(&outcome, STATUS_SUCCESS);
    assert!(
        outcome
            .output()
            .contains("selftest mmio: 0xfeb00e00: magic 0x74726976"),
        "{}",
        outcome.output()
    );
}

/// Busy-waits of 100 ms and 300 ms by the guest's clock, timed on the host from the
/// `selftest clock: start` line to QEMU's exit. Their difference cancels the constant costs
/// (serial latency, QEMU shutdown) and must be 200 ms within 5%.
#[test]
fn clock_selftest_matches_host_wall_time() {
    let wait = |ms: u64| {
        let outcome = Boot::new(&format!("selftest=clock clock_ms={ms}")).run();
        assert_status(&outcome, STATUS_SUCCESS);
        let (start, _) = outcome.line("selftest clock: start").expect("start line");
        outcome.exited_after.expect("exit time") - start
    };
    let mut errors = Vec::new();
    // A loaded host can stretch one run; three tries keep the check about the clock.
    for _ in 0..3 {
        let short = wait(100);
        let long = wait(300);
        let difference = long.as_secs_f64() - short.as_secs_f64();
        let error = (difference - 0.2) / 0.2;
        println!(
            "100 ms -> {short:?}, 300 ms -> {long:?}, difference error {:+.2}%",
            error * 100.0
        );
        if error.abs() < 0.05 {
            return;
        }
        errors.push(error);
    }
    panic!("clock off by more than 5% in every try: {errors:?}");
}

/// The guest halts ten times for 20 ms each and checks it woke within 3 ms of every deadline,
/// at most two halts per wait (a CPU that does not sleep would loop thousands of times).
#[test]
fn the_apic_timer_wakes_a_halted_cpu_on_time() {
    let mut failures = Vec::new();
    // A loaded host can deschedule the vCPU past the deadline; three tries keep the check
    // about the timer.
    for _ in 0..3 {
        let outcome = Boot::new("selftest=timer").run();
        let report = outcome.line("selftest timer: 10 waits");
        println!("{}", report.map_or("", |(_, l)| l));
        if outcome.status == Some(STATUS_SUCCESS) {
            return;
        }
        failures.push(outcome.output());
    }
    panic!(
        "the timer self-test failed in every try:\n{}",
        failures.join("\n---\n")
    );
}

#[test]
fn pit_calibration_agrees_with_the_host_tsc() {
    let outcome = Boot::new("clock=pit")
        .with_pit()
        .stop_at("ready entry->ready=")
        .run();
    let ready = outcome
        .ready()
        .unwrap_or_else(|| panic!("no ready line:\n{}", outcome.output()));
    assert_eq!(ready.field("tsc_source"), Some("pit"));
    let khz: f64 = ready
        .field("tsc_khz")
        .and_then(|v| v.parse().ok())
        .expect("tsc_khz=");
    let host = host_tsc_khz() as f64;
    let error = (khz - host) / host;
    println!("PIT: {khz} kHz, host {host} kHz, {:+.3}%", error * 100.0);
    assert!(
        error.abs() < 0.01,
        "PIT calibration {khz} kHz vs host {host} kHz"
    );
}

#[test]
fn without_any_frequency_source_it_warns_and_still_boots() {
    let outcome = Boot::new("selftest=heap").without_tsc_khz().run();
    assert_status(&outcome, STATUS_SUCCESS);
    assert!(
        outcome.output().contains("no TSC frequency source"),
        "{}",
        outcome.output()
    );
}
