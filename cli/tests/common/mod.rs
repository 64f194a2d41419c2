//! Helpers shared by the integration tests that run `sluice` and boot VMs.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

pub mod process;

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

/// Runs `command` with its standard error on a pseudo-terminal and its standard output
/// piped, as a person at a terminal runs it: what only a terminal is shown (progress lines,
/// where outputs went) shows. Returns the exit status, standard output, and everything the
/// terminal received.
pub fn on_terminal(command: &mut Command) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new file descriptors to the pointers; the name, termios
    // and window-size arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: `master` was just opened by openpty and is owned by nothing else.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: as `master`: `slave` is openpty's, and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawn on a terminal");
    // The command holds the terminal's other end until it is dropped: replace it, so the
    // terminal closes when the child exits.
    command.stderr(Stdio::null());
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Reading fails (EIO) once the child's end is closed.
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).replace("\r\n", "\n")
    });
    let out = child.wait_with_output().expect("wait");
    let terminal = reader.join().expect("terminal reader");
    (out.status, text(&out.stdout), terminal)
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}
