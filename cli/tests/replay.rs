//! `sluice replay` against a real VM: frames sent into one NIC come out of the other
//! unchanged, in order, and are written to per-NIC capture files. Needs QEMU (CI has it);
//! without it the test fails and says so.

use std::path::{Path, PathBuf};

mod common;
use common::{require_qemu, sluice, text};

/// A classic little-endian microsecond pcap of `frames`, one per millisecond.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [
            1_700_000_000u32,
            i as u32 * 1000,
            f.len() as u32,
            f.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// The frames of a pcap written by `replay -w` (little-endian, microseconds).
fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= d.len() {
        let caplen = u32::from_le_bytes(d[o + 8..o + 12].try_into().unwrap()) as usize;
        out.push(d[o + 16..o + 16 + caplen].to_vec());
        o += 16 + caplen;
    }
    out
}

/// Frames with a recognisable payload, sizes 60 to 1514.
fn sample_frames() -> Vec<Vec<u8>> {
    (0..12u8)
        .map(|i| {
            let len = 60 + usize::from(i) * 132;
            let mut f = vec![i; len];
            f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
            f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
            f[12..14].copy_from_slice(&[0x88, 0xb5]);
            f
        })
        .collect()
}

struct Vm(String);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = sluice(&["stop", &self.0]);
    }
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn frames_cross_the_vm_unchanged_and_are_recorded_per_nic() {
    require_qemu("`sluice replay`'s test");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-test");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("wire.click");
    std::fs::write(&config, "FromDevice(0) -> c :: Counter -> ToDevice(1);\n").unwrap();
    let image = dir.join("wire.elf");
    let out = sluice(&[
        "build",
        config.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "build: {}", text(&out.stderr));

    let name = format!("replay-{}", std::process::id());
    let base = 41000 + (std::process::id() % 1000) as u16 * 4;
    let nic = |k: u16| format!("dgram:{}:{}", base + 2 * k, base + 2 * k + 1);
    let out = sluice(&[
        "boot",
        image.to_str().unwrap(),
        "--name",
        &name,
        "--nic",
        &nic(0),
        "--nic",
        &nic(1),
        "--detach",
    ]);
    assert!(
        out.status.success(),
        "boot: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let _vm = Vm(name.clone());

    let frames = sample_frames();
    let input = dir.join("in.pcap");
    std::fs::write(&input, pcap(&frames)).unwrap();
    let prefix = dir.join("out");
    let out = sluice(&[
        "replay",
        &format!("eth0={}", input.display()),
        "--vm",
        &name,
        "-w",
        prefix.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "replay: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{{\"vm\":\"{name}\",\"sent\":12,\"received\":[0,12]}}")
    );
    assert_eq!(
        frames_of(&dir.join("out-eth1.pcap")),
        frames,
        "eth1 carries the input, in order"
    );
    assert!(frames_of(&dir.join("out-eth0.pcap")).is_empty());
    let count = sluice(&["ctl", &name, "read", "c.count"]);
    assert_eq!(text(&count.stdout).trim(), "12");

    // A NIC the VM does not have is a clear error.
    let out = sluice(&[
        "replay",
        &format!("eth5={}", input.display()),
        "--vm",
        &name,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the VM has 2 NIC(s); there is no eth5"),
        "{}",
        text(&out.stderr)
    );
}
