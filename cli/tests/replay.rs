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

/// A detached VM, stopped on drop; its console log (which `sluice stop` keeps) goes too.
struct Vm(String);

impl Drop for Vm {
    fn drop(&mut self) {
        let ps = text(&sluice(&["ps"]).stdout);
        let log = ps
            .lines()
            .find(|l| l.split_whitespace().next() == Some(self.0.as_str()))
            .and_then(|l| l.rsplit_once(" log="))
            .map(|(_, path)| PathBuf::from(path));
        let _ = sluice(&["stop", &self.0]);
        if let Some(log) = log {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// Builds `config` as `NAME.elf` and boots it detached with two dgram NICs whose ports
/// start at `base`; the VM is stopped when the guard drops.
fn boot(name: &str, config: &str, base: u16) -> (Vm, PathBuf) {
    require_qemu("`sluice replay`'s tests");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-test");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.click"));
    std::fs::write(&file, config).unwrap();
    let image = dir.join(format!("{name}.elf"));
    let out = sluice(&[
        "build",
        file.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "build: {}", text(&out.stderr));
    let vm_name = format!("replay-{}-{name}", std::process::id());
    let nic = |k: u16| format!("dgram:{}:{}", base + 2 * k, base + 2 * k + 1);
    let out = sluice(&[
        "boot",
        image.to_str().unwrap(),
        "--name",
        &vm_name,
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
    (Vm(vm_name), dir)
}

/// One frame to port 7 passes from eth0 to eth1; anything else is dropped and counted.
const FILTER: &str = "\
FromDevice(0) -> cl :: Classifier(12/0800, -) -> Strip(14) -> CheckIPHeader
  -> f :: IPFilter(allow udp && dst port 7, deny all) -> Unstrip(14) -> ToDevice(1);
cl[1] -> other :: Counter -> Discard;
";

/// An IPv4/UDP frame to `port`, from eth0's side.
fn udp_frame(port: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];
    let sum = {
        let mut s: u32 = ip
            .chunks(2)
            .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend(ip);
    f.extend([0x30, 0x39]);
    f.extend(port.to_be_bytes());
    f.extend([0, 12, 0, 0, 1, 2, 3, 4]);
    f
}

/// `--watch`: one line per frame with where it went and which watched handlers it moved.
#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn a_watched_replay_tells_each_frames_fate() {
    let base = 43000 + (std::process::id() % 1000) as u16 * 4;
    let (vm, dir) = boot("filter", FILTER, base);
    let mut arp = udp_frame(7);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let input = dir.join("watch.pcap");
    std::fs::write(&input, pcap(&[udp_frame(7), udp_frame(9), arp])).unwrap();
    let out = sluice(&[
        "replay",
        input.to_str().unwrap(),
        "--vm",
        &vm.0,
        "--watch",
        "f.drops",
        "--watch",
        "other.count",
    ]);
    assert!(out.status.success(), "replay: {}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "frame  in     out        changed");
    assert_eq!(lines[1], "    1  eth0   eth1");
    assert_eq!(lines[2], "    2  eth0   -          f.drops +1");
    assert_eq!(lines[3], "    3  eth0   -          other.count +1");
    assert_eq!(lines[4], format!("sent 3 frame(s) into eth0 of {}", vm.0));
    // A handler that does not exist is named.
    let out = sluice(&[
        "replay",
        input.to_str().unwrap(),
        "--vm",
        &vm.0,
        "--watch",
        "f.nope",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--watch f.nope"),
        "{}",
        text(&out.stderr)
    );
}

/// A replay long enough to notice shows how far it got on a terminal, and nothing of it
/// when its standard error is not one.
#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn a_long_replay_shows_progress_on_a_terminal() {
    let base = 45000 + (std::process::id() % 1000) as u16 * 4;
    let (vm, dir) = boot("progress", FILTER, base);
    // 1500 frames, one at a time with a 2 ms pause each: well over the one second before
    // the progress line first shows.
    let frames: Vec<Vec<u8>> = (0..1500).map(|_| udp_frame(7)).collect();
    let input = dir.join("long.pcap");
    std::fs::write(&input, pcap(&frames)).unwrap();
    let (status, stdout, terminal) =
        common::on_terminal(std::process::Command::new(common::SLUICE).args([
            "replay",
            input.to_str().unwrap(),
            "--vm",
            &vm.0,
        ]));
    assert!(status.success(), "{terminal}");
    assert!(stdout.starts_with("sent 1500 frame(s)"), "{stdout}");
    assert!(
        terminal.contains("\r\x1b[Ksluice replay: ") && terminal.contains(" of 1500 frames sent, "),
        "{terminal:?}"
    );
    // The line is cleared before the results.
    assert!(terminal.ends_with("\r\x1b[K"), "{terminal:?}");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn frames_cross_the_vm_unchanged_and_are_recorded_per_nic() {
    let base = 41000 + (std::process::id() % 1000) as u16 * 4;
    let (vm, dir) = boot(
        "wire",
        "FromDevice(0) -> c :: Counter -> ToDevice(1);\n",
        base,
    );
    let name = vm.0.clone();

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
