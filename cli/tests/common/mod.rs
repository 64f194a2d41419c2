//! Helpers shared by the integration tests that run `sluice` and boot VMs.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `sluice` binary under test.
pub const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// Fails the test, saying how to install it, when QEMU is missing: VM tests never pass
/// silently without a VM. `who` names what needs it.
pub fn require_qemu(who: &str) {
    let found = Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "qemu-system-x86_64 is not installed: {who} need(s) it (apt-get install qemu-system-x86)"
    );
}

/// Runs `sluice ARGS` to completion.
pub fn sluice(args: &[&str]) -> Output {
    Command::new(SLUICE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice")
}

/// Output bytes as text.
pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Reads a `sluice boot` child's standard output and error (both piped) until its `ready`
/// line; panics with everything it printed if it exits first or is not ready within 90 s.
/// Keeps draining the pipes afterwards, so the VM never blocks on a full pipe.
pub fn wait_for_ready(child: &mut Child) {
    let (tx, rx) = std::sync::mpsc::channel();
    for out in [
        Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.starts_with("ready name=") => break,
            Ok(line) => seen.push(line),
            Err(_) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            seen.extend(rx.try_iter());
            panic!(
                "sluice boot ended ({status}) before ready:\n{}",
                seen.join("\n")
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no ready line after 90 s:\n{}",
            seen.join("\n")
        );
    }
    std::thread::spawn(move || for _ in rx {});
}
