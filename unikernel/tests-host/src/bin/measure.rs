//! Boot measurements of the unikernel under QEMU/TCG: stripped image size, kernel entry ->
//! ready, launcher (QEMU spawn) -> ready line on the host, the cost and accuracy of each clock
//! calibration, and the least guest memory that boots.
//!
//! Run with `cargo run --release --bin measure` in `unikernel/tests-host` (runs in series; a
//! few seconds). `RUNS=<n>` changes the number of boots per figure (default 20).

use std::process::Command;
use std::time::Duration;

use sluice_unikernel_tests::{host_tsc_khz, kernel_image, median, Boot, STATUS_SUCCESS};

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let image = kernel_image();
    println!("image: {}", image.display());
    println!("  unstripped: {} bytes", file_size(image));
    let stripped = std::env::temp_dir().join("sluice-unikernel.stripped");
    let strip = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(image)
        .status();
    match strip {
        Ok(status) if status.success() => println!("  stripped:   {} bytes", file_size(&stripped)),
        _ => println!("  stripped:   (no `strip` on PATH)"),
    }
    println!(
        "host TSC: {} kHz (measured against CLOCK_MONOTONIC)",
        host_tsc_khz()
    );

    for (label, boot) in [
        ("tsc_khz= on the command line, pit=off", Boot::new("")),
        (
            "PIT calibration (pit=on, clock=pit)",
            Boot::new("clock=pit").with_pit(),
        ),
    ] {
        println!("\n{label}, {runs} boots, -m 8M:");
        let mut entry_to_ready = Vec::new();
        let mut spawn_to_ready = Vec::new();
        let mut vm_to_entry = Vec::new();
        let mut calibration = Vec::new();
        let mut khz = Vec::new();
        for _ in 0..runs {
            let outcome = boot.clone().stop_at("ready entry->ready=").run();
            let Some(ready) = outcome.ready() else {
                println!("  no ready line:\n{}", outcome.output());
                continue;
            };
            entry_to_ready.push(ready.micros("entry->ready").unwrap_or_default());
            vm_to_entry.push(ready.micros("vm->entry").unwrap_or_default());
            let before = ready.micros("heap").unwrap_or_default();
            calibration.push(
                ready
                    .micros("clock")
                    .unwrap_or_default()
                    .saturating_sub(before),
            );
            khz.push(
                ready
                    .field("tsc_khz")
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0),
            );
            spawn_to_ready.push(ready.arrived);
        }
        report("kernel entry -> ready", &mut entry_to_ready);
        report("QEMU start -> kernel entry (guest TSC)", &mut vm_to_entry);
        report("launcher start -> ready line", &mut spawn_to_ready);
        report("clock calibration step", &mut calibration);
        let host = host_tsc_khz() as f64;
        let worst = khz
            .iter()
            .map(|k| ((k - host) / host).abs())
            .fold(0.0, f64::max);
        println!(
            "  {:<40} {:.4}% worst of {}",
            "TSC frequency error vs host",
            worst * 100.0,
            khz.len()
        );
    }

    println!("\nclock self-test (guest busy-waits 100 ms and 300 ms; host times both):");
    for _ in 0..3 {
        let wait = |ms: u64| {
            let outcome = Boot::new(&format!("selftest=clock clock_ms={ms}")).run();
            let (start, _) = outcome.line("selftest clock: start").expect("start line");
            let (waited, _) = outcome.line("selftest clock: waited").expect("waited line");
            (outcome.exited_after.expect("exit") - start, waited - start)
        };
        let ((short, short_line), (long, long_line)) = (wait(100), wait(300));
        let error = ((long - short).as_secs_f64() - 0.2) / 0.2;
        let line_error = ((long_line - short_line).as_secs_f64() - 0.2) / 0.2;
        println!(
            "  start->exit: 100 ms -> {short:.2?}, 300 ms -> {long:.2?}: difference {:+.2}%; \
             start->waited line: {short_line:.2?}, {long_line:.2?}: difference {:+.2}%",
            error * 100.0,
            line_error * 100.0
        );
    }

    println!("\nguest memory (-m) with selftest=heap:");
    for memory in ["8M", "4M", "3M", "2M", "1536K", "1280K", "1M"] {
        let outcome = Boot::new("selftest=heap").memory(memory).run();
        let verdict = match outcome.status {
            Some(STATUS_SUCCESS) => outcome
                .line("KiB heap")
                .map_or("ok".to_owned(), |(_, line)| line.to_owned()),
            Some(status) => format!("fails: status {status}: {}", last_line(&outcome.output())),
            None => "fails: no exit (timeout)".into(),
        };
        println!("  -m {memory:<6} {verdict}");
    }
}

fn report(label: &str, values: &mut [Duration]) {
    if values.is_empty() {
        return;
    }
    let med = median(values);
    println!(
        "  {label:<40} min {:>8.2?}  median {:>8.2?}",
        values[0], med
    );
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}
