//! The VM end to end: `sluice build` images, `sluice boot` them under QEMU (TCG), traffic
//! through dgram NICs (UDP on 127.0.0.1) and a TAP device in a network namespace, handlers
//! through `sluice ctl`, guest failures, buffer accounting.
//!
//! These tests need `qemu-system-x86_64` and the `x86_64-unknown-none` Rust target; the
//! namespace test needs root. Without them they fail, loudly: CI installs both and runs as
//! root.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{is_root, require_qemu, sluice, text, SLUICE};

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Held while an image builds: builds share the unikernel's target folder, and the image
/// is copied out of it after cargo releases its lock.
static BUILD: Mutex<()> = Mutex::new(());

/// Builds `config` into an image (once per name per test run; builds run one at a time
/// because they share the unikernel's target folder).
fn image(name: &str, config: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = work_dir();
    let image = dir.join(format!("{name}.elf"));
    let stamp = dir.join(format!("{name}.built-by-{}", std::process::id()));
    if stamp.exists() {
        return image;
    }
    let file = dir.join(format!("{name}.click"));
    std::fs::write(&file, config).unwrap();
    let out = sluice(&[
        "build",
        file.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "sluice build failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    println!("{}", text(&out.stdout).trim());
    std::fs::write(&stamp, "").unwrap();
    image
}

const FIREWALL: &str = "\
// Only UDP to port 7 passes from eth0 to eth1.
FromDevice(0)
  -> c_in :: Counter
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> filter :: IPFilter(allow udp && dst port 7, deny all)
  -> Unstrip(14)
  -> c_out :: Counter
  -> ToDevice(1);
cl[1] -> c_other :: Counter -> Discard;
";

fn firewall() -> PathBuf {
    image("firewall", FIREWALL)
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique_name(what: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "t{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// A VM started with `sluice boot`, stopped when dropped.
struct Vm {
    name: String,
    control: PathBuf,
    child: Option<Child>,
    ready: String,
    /// What the launcher and the guest printed before the ready line.
    boot_log: Vec<String>,
    console: mpsc::Receiver<String>,
}

impl Vm {
    fn boot(image: &Path, nics: &[String], extra: &[&str]) -> Vm {
        Self::boot_in(None, image, nics, extra)
    }

    /// Boots, optionally inside network namespace `netns`, and waits for the ready line.
    fn boot_in(netns: Option<&str>, image: &Path, nics: &[String], extra: &[&str]) -> Vm {
        require_qemu("these tests");
        let name = unique_name("vm");
        let control = work_dir().join(format!("{name}.ctl"));
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, SLUICE]);
                c
            }
            None => Command::new(SLUICE),
        };
        command
            .arg("boot")
            .arg(image)
            .args(["--name", &name, "--control"])
            .arg(&control)
            .args(extra);
        for nic in nics {
            command.args(["--nic", nic]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice boot");
        let (tx, rx) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
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
        let ready = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.starts_with("ready name=") => break line,
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
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("no ready line after 60 s:\n{}", seen.join("\n"));
            }
        };
        println!("{ready}");
        Vm {
            name,
            control,
            child: Some(child),
            ready,
            boot_log: seen,
            console: rx,
        }
    }

    fn read(&self, handler: &str) -> String {
        let out = sluice(&["ctl", self.control.to_str().unwrap(), "read", handler]);
        assert!(
            out.status.success(),
            "sluice ctl read {handler}: {}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }

    fn read_u64(&self, handler: &str) -> u64 {
        let v = self.read(handler);
        v.parse()
            .unwrap_or_else(|_| panic!("{handler} = {v:?} is not a number"))
    }

    /// Stops the VM with `sluice stop`; returns the launcher's exit status and output.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let out = sluice(&["stop", &self.name]);
        assert!(out.status.success(), "sluice stop: {}", text(&out.stderr));
        let mut child = self.child.take().unwrap();
        let status = wait_timeout(&mut child, Duration::from_secs(20));
        let rest: Vec<String> = self.console.try_iter().collect();
        (status, rest.join("\n"))
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new(SLUICE)
                .args(["stop", &self.name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 frame from 192.0.2.1 to 192.0.2.2 carrying `l4` with protocol `proto`.
fn ipv4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x50]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

fn udp_frame(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    udp_frame_from(12345, dst_port, payload)
}

fn udp_frame_from(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = src_port.to_be_bytes().to_vec();
    udp.extend_from_slice(&dst_port.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]); // no checksum (allowed over IPv4)
    udp.extend_from_slice(payload);
    ipv4_frame(17, &udp)
}

fn tcp_frame(dst_port: u16) -> Vec<u8> {
    let mut tcp = vec![0x30, 0x39];
    tcp.extend_from_slice(&dst_port.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0]);
    ipv4_frame(6, &tcp)
}

fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[192, 0, 2, 2]);
    f.resize(60, 0);
    f
}

/// Two dgram NICs: returns the specs, a socket that feeds NIC 0, NIC 0's port, and a
/// socket that receives what NIC 1 sends.
fn two_nics() -> (Vec<String>, UdpSocket, u16, UdpSocket) {
    let out0 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out1 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (in0, in1) = (free_port(), free_port());
    let nics = vec![
        format!("dgram:{in0}:{}", out0.local_addr().unwrap().port()),
        format!("dgram:{in1}:{}", out1.local_addr().unwrap().port()),
    ];
    let feed = UdpSocket::bind("127.0.0.1:0").unwrap();
    out1.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    (nics, feed, in0, out1)
}

fn receive_all(socket: &UdpSocket, expect: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while start.elapsed() < timeout {
        match socket.recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(_) if got.len() >= expect => break,
            Err(_) => {}
        }
    }
    got
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn firewall_passes_exactly_the_allowed_frames_and_counters_match() {
    let image = firewall();
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(&image, &nics, &[]);
    assert!(vm.ready.contains("accel="), "{}", vm.ready);

    let allowed: Vec<Vec<u8>> = (0..5u8)
        .map(|i| udp_frame(7, &vec![i; 40 + 7 * usize::from(i)]))
        .collect();
    let denied = [
        udp_frame(9, b"to the discard port"),
        udp_frame(53, b"dns"),
        tcp_frame(7),
        tcp_frame(80),
    ];
    let other = [arp_frame(), arp_frame()];
    let mut sent = 0;
    for (i, a) in allowed.iter().enumerate() {
        for f in [a].into_iter().chain(denied.get(i)).chain(other.get(i)) {
            feed.send_to(f, ("127.0.0.1", in0)).unwrap();
            sent += 1;
        }
    }
    let got = receive_all(&out1, allowed.len(), Duration::from_secs(10));
    assert_eq!(got.len(), allowed.len(), "frames out of NIC 1");
    assert_eq!(got, allowed, "the allowed frames, in order, bytes intact");

    assert_eq!(vm.read_u64("c_in.count"), sent);
    assert_eq!(vm.read_u64("c_out.count"), allowed.len() as u64);
    assert_eq!(vm.read_u64("c_other.count"), other.len() as u64);
    assert_eq!(vm.read_u64("eth0.rx_packets"), sent);
    assert_eq!(vm.read_u64("eth1.tx_packets"), allowed.len() as u64);
    assert_eq!(vm.read_u64("eth1.rx_packets"), 0);
    assert_eq!(vm.read("eth1.mac"), "52:54:00:12:34:51");
    assert_eq!(vm.read("cl.class"), "Classifier");

    // Unknown names give ControlSocket's error codes.
    let out = sluice(&["ctl", vm.control.to_str().unwrap(), "read", "nosuch.count"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("510"), "{}", text(&out.stderr));
    let out = sluice(&["ctl", vm.control.to_str().unwrap(), "read", "c_in.nosuch"]);
    assert!(text(&out.stderr).contains("511"), "{}", text(&out.stderr));

    // `sluice ps` lists it by name; `sluice ctl NAME` works as well as the socket path.
    let ps = text(&sluice(&["ps"]).stdout);
    assert!(ps.contains(&vm.name), "{ps}");
    let json = text(&sluice(&["ps", "--json"]).stdout);
    // The entry's `pid` is QEMU's, a child of this test's `sluice boot`.
    let head = format!("{{\"name\": \"{}\", \"pid\": ", vm.name);
    let at = json
        .find(&head)
        .unwrap_or_else(|| panic!("{head} in {json}"))
        + head.len();
    let pid: u32 = json[at..]
        .split(',')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a pid in {json}"));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("QEMU's /proc stat");
    let ppid: u32 = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("a parent pid");
    assert_eq!(ppid, vm.child.as_ref().unwrap().id(), "{json}");
    let rest = format!(
        "{pid}, \"state\": \"foreground\", \"accel\": \"tcg\", \"control\": \"{}\"",
        vm.control.display()
    );
    assert!(
        json.starts_with('[') && json.trim_end().ends_with(']') && json[at..].starts_with(&rest),
        "{rest} in {json}"
    );
    let by_name = sluice(&["ctl", &vm.name, "read", "c_out.count"]);
    assert_eq!(text(&by_name.stdout).trim(), allowed.len().to_string());

    let name = vm.name.clone();
    let (status, _) = vm.stop();
    assert!(status.success(), "sluice boot after stop: {status}");
    assert!(!text(&sluice(&["ps"]).stdout).contains(&name));
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn every_pool_buffer_is_accounted_for_after_a_run() {
    let image = firewall();
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(&image, &nics, &["--append", "pool=300"]);
    for i in 0..200u16 {
        let f = if i % 3 == 0 {
            udp_frame(9, &[1; 100])
        } else {
            udp_frame(7, &i.to_be_bytes())
        };
        feed.send_to(&f, ("127.0.0.1", in0)).unwrap();
    }
    let got = receive_all(&out1, 133, Duration::from_secs(15));
    assert_eq!(got.len(), 133);
    // Transmissions complete asynchronously: give the rings a moment.
    std::thread::sleep(Duration::from_millis(300));
    let capacity = vm.read_u64("pool_capacity");
    let free = vm.read_u64("pool_free");
    let held = vm.read_u64("buffers_held");
    assert_eq!(capacity, 300);
    assert_eq!(
        free + held,
        capacity,
        "pool_free {free} + buffers held by the NICs {held} != capacity {capacity}"
    );
    assert_eq!(
        held,
        vm.read_u64("eth0.buffers_held") + vm.read_u64("eth1.buffers_held")
    );
    assert_eq!(vm.read_u64("pool_alloc_failures"), 0);
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn guest_faults_end_the_vm_with_a_report_and_a_failure_status() {
    let image = firewall();
    for (test, marker) in [("fault", "EXCEPTION"), ("panic", "PANIC")] {
        let out = Command::new(SLUICE)
            .arg("boot")
            .arg(&image)
            .args(["--name", &unique_name(test), "--append"])
            .arg(format!("selftest={test}"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "selftest={test} exited 0:\n{all}");
        assert!(all.contains(marker), "no {marker} report:\n{all}");
        assert!(
            text(&out.stderr).contains("sluice boot:"),
            "no launcher summary:\n{all}"
        );
    }
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn boot_refuses_what_it_cannot_run() {
    require_qemu("these tests");
    let dir = work_dir();
    let not_elf = dir.join("not-an-image");
    std::fs::write(&not_elf, "hello").unwrap();
    let out = sluice(&["boot", not_elf.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a 64-bit ELF"),
        "{}",
        text(&out.stderr)
    );

    // A port that is taken.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = sluice(&[
        "boot",
        firewall().to_str().unwrap(),
        "--nic",
        &format!("dgram:{port}:9"),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not free")
            && text(&out.stderr).contains("pick another LOCAL port"),
        "{}",
        text(&out.stderr)
    );

    let out = sluice(&["boot", firewall().to_str().unwrap(), "--nic", "bogus"]);
    assert!(
        text(&out.stderr).contains("bad --nic"),
        "{}",
        text(&out.stderr)
    );

    // More NICs than q35 has root-bus slots for.
    let image = firewall();
    let mut args = vec![
        "boot".to_string(),
        image.display().to_string(),
        "--machine".into(),
        "q35".into(),
    ];
    for i in 0..24 {
        args.extend(["--nic".into(), format!("dgram:{}:9", 40000 + i)]);
    }
    let out = sluice(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("24 NICs: a q35 VM takes at most 23"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_firewall_image_carries_only_its_elements() {
    let bytes = std::fs::read(firewall()).unwrap();
    let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has("IPFilter") && has("Classifier"));
    for absent in [
        "IPRewriter",
        "ICMPPingResponder",
        "RadixIPLookup",
        "ARPQuerier",
    ] {
        assert!(!has(absent), "the firewall image contains {absent}");
    }
    println!("firewall image: {} bytes", bytes.len());
}

#[test]
fn build_reports_configuration_errors_like_check() {
    let dir = work_dir();
    let file = dir.join("broken.click");
    std::fs::write(&file, "FromDevice(0) -> Nonesuch -> ToDevice(1);\n").unwrap();
    let build = sluice(&["build", file.to_str().unwrap(), "-o", "/dev/null"]);
    let check = sluice(&["check", file.to_str().unwrap()]);
    assert!(!build.status.success());
    assert!(!check.status.success());
    assert_eq!(text(&build.stderr), text(&check.stderr));
}

/// A network namespace with a TAP device, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tap: &str, addr: &str) -> Netns {
        assert!(
            is_root(),
            "this test creates a network namespace and needs root"
        );
        let name = unique_name("ns");
        let ns = Netns { name };
        ns.run(&["ip", "netns", "add", &ns.name], false);
        ns.run(&["ip", "tuntap", "add", "dev", tap, "mode", "tap"], true);
        ns.run(&["ip", "addr", "add", addr, "dev", tap], true);
        ns.run(&["ip", "link", "set", tap, "up"], true);
        ns.run(&["ip", "link", "set", "lo", "up"], true);
        ns
    }

    fn run(&self, args: &[&str], inside: bool) -> Output {
        let mut c = if inside {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &self.name]).args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        let out = c.output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        out
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

const PING_RESPONDER: &str = "\
// Answers ARP for 192.0.2.2 and pings to it, on eth0.
out :: Queue(64) -> ToDevice(0);
FromDevice(0) -> cl :: Classifier(12/0806 20/0001, 12/0800, -);
cl[0] -> arp :: ARPResponder(192.0.2.2 52:54:00:12:34:50) -> out;
cl[1] -> Strip(14) -> CheckIPHeader -> ping :: ICMPPingResponder -> Unstrip(14) -> EtherMirror -> out;
cl[2] -> Discard;
";

#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn real_ping_from_a_namespace_gets_replies() {
    let image = image("pingresponder", PING_RESPONDER);
    let ns = Netns::new("sluicetap0", "192.0.2.1/24");
    let vm = Vm::boot_in(Some(&ns.name), &image, &["tap:sluicetap0".into()], &[]);
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "ping", "-c", "3", "-i", "0.2", "-W", "5",
        ])
        .arg("192.0.2.2")
        .output()
        .expect("run ping");
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "ping failed:\n{report}");
    assert!(report.contains("3 received"), "{report}");
    assert!(
        vm.read_u64("eth0.tx_packets") >= 4,
        "3 replies and an ARP reply"
    );
    drop(vm);
}

/// At a terminal, `sluice build` says what it is doing and how long that takes, then shows
/// cargo's progress bar on one line; piped, it prints only its result.
#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn build_shows_cargos_progress_on_a_terminal() {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = work_dir();
    // A configuration of its own, so the unikernel crate compiles anew and cargo has
    // something to show.
    let config = dir.join(format!("progress-{}.click", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "FromDevice(0) -> c{} :: Counter -> ToDevice(1);\n",
            std::process::id()
        ),
    )
    .unwrap();
    let image = dir.join("progress.elf");
    let (status, stdout, terminal) = common::on_terminal(
        Command::new(SLUICE)
            .arg("build")
            .arg(&config)
            .arg("-o")
            .arg(&image),
    );
    assert!(status.success(), "{terminal}");
    assert!(stdout.starts_with("built "), "{stdout}");
    assert!(
        terminal.starts_with("sluice build: compiling the unikernel for x86_64-unknown-none")
            && terminal.contains("about a minute the first time"),
        "{terminal}"
    );
    assert!(
        terminal.contains("\r\x1b[Ksluice build: Building ["),
        "{terminal}"
    );
    // Cargo's own lines stay out of sight.
    assert!(!terminal.contains("Compiling "), "{terminal}");
    let piped = sluice(&[
        "build",
        config.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(piped.status.success());
    assert_eq!(text(&piped.stderr), "");
}

#[test]
fn build_catches_element_argument_errors_before_any_boot() {
    let dir = work_dir();
    let file = dir.join("badargs.click");
    std::fs::write(
        &file,
        "FromDevice(0) -> IPFilter(allow bogus) -> ToDevice(1);\n",
    )
    .unwrap();
    let out = sluice(&["build", file.to_str().unwrap(), "-o", "/dev/null"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("badargs.click:1:") && err.contains("IPFilter"),
        "{err}"
    );
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn a_generic_image_takes_its_configuration_at_boot() {
    static GENERIC: Mutex<Option<PathBuf>> = Mutex::new(None);
    let image = {
        let mut g = GENERIC.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(image_generic).clone()
    };
    let dir = work_dir();
    let config = dir.join("generic-fw.click");
    std::fs::write(&config, FIREWALL).unwrap();
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(&image, &nics, &["--config", config.to_str().unwrap()]);
    let frame = udp_frame(7, b"through a generic image");
    feed.send_to(&frame, ("127.0.0.1", in0)).unwrap();
    feed.send_to(&udp_frame(9, b"denied"), ("127.0.0.1", in0))
        .unwrap();
    assert_eq!(receive_all(&out1, 1, Duration::from_secs(10)), vec![frame]);
    assert_eq!(vm.read_u64("c_in.count"), 2);

    // A configuration error found at boot: rendered, and a failure status.
    let bad = dir.join("generic-bad.click");
    std::fs::write(
        &bad,
        "FromDevice(0) -> IPFilter(allow bogus) -> ToDevice(0);\n",
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .arg("boot")
        .arg(&image)
        .args(["--name", &unique_name("bad"), "--config"])
        .arg(&bad)
        .args(["--nic", &format!("dgram:{}:9", free_port())])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("generic-bad.click:1:") && all.contains("rejected its configuration"),
        "{all}"
    );
}

fn image_generic() -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let image = work_dir().join("generic.elf");
    let out = sluice(&["build", "--generic", "-o", image.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "sluice build --generic failed:\n{}",
        text(&out.stderr)
    );
    image
}

/// Added to the firewall above: two sources that need waking without a frame, a Script
/// whose `wait` is a timer and re-arms a one-packet InfiniteSource, and a RatedSource, whose
/// next packet is a deadline of its own.
const SLEEPERS: &str = "\
beat :: InfiniteSource(LIMIT 1) -> beats :: Counter -> Discard;
Script(label top, wait 100ms, write beat.reset, goto top);
RatedSource(RATE 20) -> rated :: Counter -> Discard;
";

/// QEMU's process id for the VM named `name`, from `sluice ps`.
fn qemu_pid(name: &str) -> u32 {
    let ps = text(&sluice(&["ps"]).stdout);
    ps.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(name)).then(|| f.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("{name} not in sluice ps:\n{ps}"))
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    text(&out.stdout).trim().parse().unwrap_or(100)
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn an_idle_vm_sleeps_yet_timers_frames_and_the_control_channel_wake_it() {
    let image = image("sleeper", &format!("{FIREWALL}{SLEEPERS}"));
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(&image, &nics, &[]);
    assert_eq!(vm.read("idle_mode"), "halt");
    let pid = qemu_pid(&vm.name);

    let (beats0, rated0, sleeps0) = (
        vm.read_u64("beats.count"),
        vm.read_u64("rated.count"),
        vm.read_u64("idle_sleeps"),
    );
    let (cpu0, t0) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (cpu1, elapsed) = (cpu_ticks(pid), t0.elapsed());
    let (beats, rated, sleeps) = (
        vm.read_u64("beats.count") - beats0,
        vm.read_u64("rated.count") - rated0,
        vm.read_u64("idle_sleeps") - sleeps0,
    );
    let cpu = (cpu1 - cpu0) as f64 / clock_ticks_per_second() as f64 / elapsed.as_secs_f64();
    println!(
        "idle over {elapsed:?}: QEMU used {:.1}% of a CPU; {sleeps} sleeps, \
         {beats} timer beats, {rated} rated packets",
        cpu * 100.0
    );
    // A polling guest takes a whole CPU; a sleeping one wakes ~30 times a second here.
    assert!(cpu < 0.30, "an idle VM took {:.0}% of a CPU", cpu * 100.0);
    // Each wake-up for a timer or a rated packet is a sleep of its own.
    assert!(sleeps >= 20, "only {sleeps} sleeps in {elapsed:?}");
    let secs = elapsed.as_secs_f64();
    let expect = |rate: f64| (rate * secs * 0.5) as u64..=(rate * secs * 1.5 + 2.0) as u64;
    assert!(
        expect(10.0).contains(&beats),
        "Script's 100 ms waits fired {beats} times in {elapsed:?}"
    );
    assert!(
        expect(20.0).contains(&rated),
        "RATE 20 gave {rated} packets in {elapsed:?}"
    );

    // A frame that finds the VM asleep wakes it and goes through.
    let frame = udp_frame(7, b"wake up");
    feed.send_to(&frame, ("127.0.0.1", in0)).unwrap();
    let got = receive_all(&out1, 1, Duration::from_secs(5));
    assert_eq!(got, [frame]);
    assert_eq!(vm.read_u64("c_out.count"), 1);
    let (status, _) = vm.stop();
    assert!(status.success(), "sluice boot after stop: {status}");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn q35_runs_the_same_image_on_pci_nics_forwards_and_sleeps_when_idle() {
    // The microvm tests' firewall image, unchanged, on a q35 PC: SeaBIOS starts it, the NICs
    // are virtio-pci functions at 00:02.0 and 00:03.0 (launcher order), and their INTx lines
    // wake the halted CPU.
    let image = firewall();
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(
        &image,
        &nics,
        &["--machine", "q35", "--append", "loglevel=debug"],
    );
    let log = vm.boot_log.join("\n");
    assert!(log.contains("eth0: virtio-pci 00:02.0"), "{log}");
    assert!(log.contains("eth1: virtio-pci 00:03.0"), "{log}");
    assert!(!log.contains("WARN"), "{log}");
    let pid = qemu_pid(&vm.name);
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.contains("q35,"), "{cmdline:?}");

    // Frames sent after the guest has had time to halt (1 ms without frames): only the
    // NIC's interrupt can wake it, nothing reads its control channel until they are out.
    std::thread::sleep(Duration::from_millis(300));
    let allowed: Vec<Vec<u8>> = (0..4u8)
        .map(|i| udp_frame(7, &vec![i; 32 + 9 * usize::from(i)]))
        .collect();
    let denied = [udp_frame(53, b"dns"), tcp_frame(7)];
    let mut sent = 0;
    for (i, a) in allowed.iter().enumerate() {
        for f in [a].into_iter().chain(denied.get(i)) {
            feed.send_to(f, ("127.0.0.1", in0)).unwrap();
            sent += 1;
        }
        if i == 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let got = receive_all(&out1, allowed.len(), Duration::from_secs(10));
    assert_eq!(
        got, allowed,
        "the allowed frames, eth0 -> eth1, in order, bytes intact"
    );
    assert_eq!(vm.read_u64("c_in.count"), sent);
    assert_eq!(vm.read_u64("c_out.count"), allowed.len() as u64);
    assert_eq!(vm.read_u64("eth0.rx_packets"), sent);
    assert_eq!(vm.read_u64("eth1.tx_packets"), allowed.len() as u64);
    assert_eq!(vm.read("eth0.mac"), "52:54:00:12:34:50");
    assert_eq!(vm.read("eth1.mac"), "52:54:00:12:34:51");
    assert_eq!(vm.read("idle_mode"), "halt");

    // Idle, it halts rather than polls: QEMU takes little CPU, the guest sleeps.
    let (asleep0, cpu0, t0) = (vm.read_u64("idle_sleep_us"), cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (cpu1, elapsed) = (cpu_ticks(pid), t0.elapsed());
    let asleep = vm.read_u64("idle_sleep_us") - asleep0;
    let cpu = (cpu1 - cpu0) as f64 / clock_ticks_per_second() as f64 / elapsed.as_secs_f64();
    println!(
        "q35 idle over {elapsed:?}: QEMU used {:.1}% of a CPU, the guest slept {asleep} us",
        cpu * 100.0
    );
    assert!(
        cpu < 0.30,
        "an idle q35 VM took {:.0}% of a CPU",
        cpu * 100.0
    );
    assert!(
        asleep as f64 > elapsed.as_micros() as f64 * 0.5,
        "the guest slept only {asleep} us of {elapsed:?}"
    );

    // A frame that finds it asleep again wakes it and goes through.
    let frame = udp_frame(7, b"wake up");
    feed.send_to(&frame, ("127.0.0.1", in0)).unwrap();
    assert_eq!(receive_all(&out1, 1, Duration::from_secs(5)), [frame]);
    let (status, _) = vm.stop();
    assert!(status.success(), "sluice boot after stop: {status}");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn idle_poll_never_sleeps_and_still_forwards() {
    let image = firewall();
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(&image, &nics, &["--idle", "poll"]);
    assert_eq!(vm.read("idle_mode"), "poll");
    let frame = udp_frame(7, b"polled");
    feed.send_to(&frame, ("127.0.0.1", in0)).unwrap();
    assert_eq!(receive_all(&out1, 1, Duration::from_secs(5)), [frame]);
    assert_eq!(vm.read_u64("idle_sleeps"), 0);
    drop(vm);
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty()
            || stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim().starts_with('Z'))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn qemu_dies_with_a_killed_foreground_launcher() {
    let image = firewall();
    let (nics, ..) = two_nics();
    let mut vm = Vm::boot(&image, &nics, &[]);
    let pid = qemu_pid(&vm.name);
    let ps = text(&sluice(&["ps"]).stdout);
    let line = ps.lines().find(|l| l.starts_with(&vm.name)).unwrap();
    assert!(line.contains("foreground"), "{ps}");
    // SIGKILL: the launcher gets no chance to stop QEMU itself.
    let mut launcher = vm.child.take().unwrap();
    launcher.kill().unwrap();
    launcher.wait().unwrap();
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "QEMU {pid} outlived its killed launcher"
    );
    // Its record is stale now: `sluice ps` drops it.
    assert!(!text(&sluice(&["ps"]).stdout).contains(&vm.name));
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn stop_all_stops_every_vm_and_leaves_only_their_logs() {
    require_qemu("this test");
    let image = firewall();
    let runtime = PrivateRuntime::new();
    let names: Vec<String> = (0..2).map(|_| unique_name("detached")).collect();
    for name in &names {
        let (nics, ..) = two_nics();
        let mut args = vec!["boot", image.to_str().unwrap(), "--detach", "--name", name];
        for nic in &nics {
            args.extend(["--nic", nic]);
        }
        let out = runtime.run(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let ps = text(&runtime.run(&["ps"]).stdout);
    let pids: Vec<u32> = names
        .iter()
        .map(|name| {
            let line = ps.lines().find(|l| l.starts_with(name.as_str())).unwrap();
            assert!(line.contains("detached"), "{ps}");
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    let out = runtime.run(&["stop", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (name, &pid) in names.iter().zip(&pids) {
        assert!(text(&out.stdout).contains(&format!("stopped {name}")));
        assert!(wait_gone(pid, Duration::from_secs(5)), "{name} still runs");
    }
    // No record and no socket stays: only each VM's console log, for `sluice logs`.
    let mut left = runtime.files();
    left.sort();
    let mut logs: Vec<String> = names.iter().map(|n| format!("{n}.log")).collect();
    logs.sort();
    assert_eq!(left, logs, "left in {}", runtime.dir().display());
    assert_eq!(
        runtime
            .run(&["ps"])
            .stdout
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        1
    );
}

/// A runtime directory of a test's own (`XDG_RUNTIME_DIR`), so `sluice stop --all` reaches
/// only that test's VMs; every VM in it is stopped when it is dropped, also on failure.
struct PrivateRuntime(PathBuf);

impl PrivateRuntime {
    fn new() -> Self {
        let path = work_dir().join(unique_name("runtime"));
        std::fs::create_dir_all(&path).unwrap();
        PrivateRuntime(path)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SLUICE);
        c.args(args)
            .env("XDG_RUNTIME_DIR", &self.0)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The runtime directory sluice uses.
    fn dir(&self) -> PathBuf {
        self.0.join("sluice")
    }

    /// What it holds, but the cached TSC frequency.
    fn files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f != "tsc_khz")
            .collect()
    }
}

impl Drop for PrivateRuntime {
    fn drop(&mut self) {
        let _ = self.run(&["stop", "--all"]);
    }
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn logs_shows_a_vms_console_while_it_runs_and_after_it_stopped() {
    require_qemu("this test");
    let image = firewall();
    let runtime = PrivateRuntime::new();
    let name = unique_name("logs");
    let boot = |runtime: &PrivateRuntime| {
        let (nics, ..) = two_nics();
        let mut args = vec!["boot", image.to_str().unwrap(), "--detach", "--name", &name];
        for nic in &nics {
            args.extend(["--nic", nic]);
        }
        let out = runtime.run(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    boot(&runtime);
    let log = runtime.dir().join(format!("{name}.log"));
    let ps = text(&runtime.run(&["ps"]).stdout);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&name) && l.ends_with(&format!("log={}", log.display()))),
        "{ps}"
    );
    let out = runtime.run(&["logs", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ready entry->ready="),
        "{}",
        text(&out.stdout)
    );
    // Following: what the guest writes as it stops arrives, then `logs -f` ends by itself.
    let follow = runtime
        .command(&["logs", "-f", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stop = runtime.run(&["stop", &name]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(follow.wait_with_output());
    });
    let followed = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("logs -f did not end when the VM stopped")
        .unwrap();
    let followed = text(&followed.stdout);
    assert!(
        followed.starts_with("ready ") && followed.contains("router stopped"),
        "{followed}"
    );
    // Stopped: not listed, its socket gone, its log kept and still shown.
    assert!(!text(&runtime.run(&["ps"]).stdout).contains(&name));
    assert_eq!(runtime.files(), vec![format!("{name}.log")]);
    let after = runtime.run(&["logs", &name]);
    assert!(after.status.success());
    assert_eq!(text(&after.stdout), followed);
    // The name taken again: the log is the new VM's alone.
    boot(&runtime);
    let fresh = text(&runtime.run(&["logs", &name]).stdout);
    assert!(!fresh.contains("router stopped"), "{fresh}");
    let missing = runtime.run(&["logs", "no-such-vm"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no VM named 'no-such-vm'"),
        "{}",
        text(&missing.stderr)
    );
}

/// QEMU's own failures (it says so and exits 1, which is also the guest's "router stopped")
/// come back as what QEMU said plus what to do, foreground and detached.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn qemu_failures_say_what_to_do() {
    require_qemu("this test");
    let image = firewall();
    let runtime = PrivateRuntime::new();
    assert!(
        is_root(),
        "this test switches to an unprivileged user and needs root"
    );
    // An unprivileged user may not open TAP devices.
    let scratch = work_dir().join(unique_name("nobody"));
    std::fs::create_dir_all(&scratch).unwrap();
    let copy = scratch.join("fw.elf");
    std::fs::copy(&image, &copy).unwrap();
    for path in [&scratch, &copy] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let tap = format!("sl{}t", std::process::id() % 100_000);
    for detach in [false, true] {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(SLUICE)
            .arg("boot")
            .arg(&copy)
            .args(["--nic", &format!("tap:{tap}")])
            .env("XDG_RUNTIME_DIR", &scratch);
        if detach {
            c.arg("--detach");
        }
        let out = c
            .stdin(Stdio::null())
            .output()
            .expect("setpriv (util-linux)");
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("QEMU stopped before the VM started")
                && err.contains("/dev/net/tun")
                && err.contains("needs root (CAP_NET_ADMIN)")
                && err.contains(&format!("ip tuntap add dev {tap} mode tap user $USER")),
            "{err}"
        );
        assert!(!err.contains("router stopped"), "{err}");
    }
    // One TAP device for two NICs: the second finds it busy.
    struct Tap(String);
    impl Drop for Tap {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let out = Command::new("ip")
        .args(["tuntap", "add", "dev", &tap, "mode", "tap"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _tap = Tap(tap.clone());
    let nic = format!("tap:{tap}");
    let out = runtime.run(&[
        "boot",
        image.to_str().unwrap(),
        "--nic",
        &nic,
        "--nic",
        &nic,
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("TAP device {tap} is in use")),
        "{err}"
    );
    assert!(runtime.files().is_empty(), "{:?}", runtime.files());
}

/// A QEMU process started by hand (not through `sluice boot`), killed when dropped.
struct HandStartedQemu {
    child: Child,
    console: mpsc::Receiver<String>,
}

impl Drop for HandStartedQemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn an_image_finds_its_nics_without_virtio_mmio_entries_on_the_command_line() {
    // What a libvirt `microvm` domain or a hand-written QEMU line gives the guest: ACPI on
    // (so QEMU appends no `virtio_mmio.device=` entries, and microvm has 24 slots on a
    // second I/O APIC), no `tsc_khz=`, idle halting as by default. The guest probes the
    // slots; eth0 is the first -device, as under `sluice boot`, and the NICs' interrupts
    // wake it (after 1 ms without frames it halts).
    require_qemu("this test");
    let image = firewall();
    let (nics, feed, in0, out1) = two_nics();
    let netdev = |i: usize, spec: &str| {
        let ports: Vec<&str> = spec.trim_start_matches("dgram:").split(':').collect();
        format!(
            "dgram,id=n{i},local.type=inet,local.host=127.0.0.1,local.port={},\
             remote.type=inet,remote.host=127.0.0.1,remote.port={}",
            ports[0], ports[1]
        )
    };
    let mut command = Command::new("qemu-system-x86_64");
    command
        .args(["-accel", "tcg"])
        .args(["-M", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off"])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-no-reboot",
            "-display",
            "none",
        ])
        .args(["-m", "64M", "-global", "virtio-mmio.force-legacy=false"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-kernel")
        .arg(&image)
        .args(["-append", "loglevel=debug", "-serial", "stdio"]);
    for (i, spec) in nics.iter().enumerate() {
        command.args(["-netdev", &netdev(i, spec)]).args([
            "-device",
            &format!("virtio-net-device,netdev=n{i},mac=52:54:00:12:34:5{i}"),
        ]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu-system-x86_64");
    let stdout = child.stdout.take().unwrap();
    let (tx, console) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut vm = HandStartedQemu { child, console };
    let mut seen = Vec::new();
    let start = Instant::now();
    while !seen.iter().any(|l: &String| l.starts_with("ready ")) {
        if let Ok(Some(status)) = vm.child.try_wait() {
            seen.extend(vm.console.try_iter());
            panic!("QEMU ended ({status}) before ready:\n{}", seen.join("\n"));
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no ready line after 60 s:\n{}",
            seen.join("\n")
        );
        if let Ok(line) = vm.console.recv_timeout(Duration::from_millis(100)) {
            seen.push(line);
        }
    }
    let log = seen.join("\n");
    // The guest's command line is only what -append gave it.
    assert!(log.contains("command line: \"loglevel=debug\"\n"), "{log}");
    assert!(
        log.contains("no virtio_mmio.device= on the command line: 2 device(s)"),
        "{log}"
    );
    // microvm's 24-slot layout: the first -device sits in the top slot, on GSI 24 + 23.
    assert!(
        log.contains("eth0: virtio-mmio 0xfeb02e00, GSI 47"),
        "{log}"
    );
    assert!(
        log.contains("eth1: virtio-mmio 0xfeb02c00, GSI 46"),
        "{log}"
    );
    assert!(log.contains(" nics=2 "), "{log}");

    // Frames sent after the guest has had time to halt: the NIC's interrupt wakes it.
    std::thread::sleep(Duration::from_millis(200));
    let allowed: Vec<Vec<u8>> = (0..3u8).map(|i| udp_frame(7, &[i; 32])).collect();
    for (i, a) in allowed.iter().enumerate() {
        feed.send_to(a, ("127.0.0.1", in0)).unwrap();
        feed.send_to(&udp_frame(9, b"denied"), ("127.0.0.1", in0))
            .unwrap();
        if i == 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let got = receive_all(&out1, allowed.len(), Duration::from_secs(10));
    assert_eq!(got, allowed, "the allowed frames, eth0 -> eth1, in order");
}

/// A counting firewall with a NAT: UDP to port 7 passes from eth0 to eth1 with its source
/// rewritten to 21.0.0.1; `$RULE` is the filter's. For the `hotconfig` test.
const NAT_FIREWALL: &str = "\
FromDevice(0)
  -> c_in :: Counter
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> filter :: IPFilter(allow $RULE, deny all)
  -> rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop)
  -> Unstrip(14)
  -> c_out :: Counter
  -> ToDevice(1);
cl[1] -> c_other :: Counter -> Discard;
Idle -> [1] rw [1] -> Discard;
";

/// The source port the NAT gave a frame that left eth1 (UDP over IPv4, no options).
fn nat_source(frame: &[u8]) -> ([u8; 4], u16) {
    let ip: [u8; 4] = frame[26..30].try_into().unwrap();
    (ip, u16::from_be_bytes([frame[34], frame[35]]))
}

/// `rw.udp_table`'s entry for the flow from 192.0.2.1:`sport` to 192.0.2.2:`dport`,
/// without its expiry (the table lists in Click's hash order: found by its key).
fn udp_mapping(vm: &Vm, sport: u16, dport: u16) -> String {
    let table = vm.read("rw.udp_table");
    let key = format!("(192.0.2.1, {sport}, 192.0.2.2, {dport}) =>");
    let line = table
        .lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("no mapping {key} in\n{table}"));
    line.split_once(" exp")
        .map_or(line, |(entry, _)| entry)
        .to_string()
}

fn ctl_hotconfig(vm: &Vm, file: &Path) -> Output {
    sluice(&[
        "ctl",
        "--timeout",
        "30s",
        vm.control.to_str().unwrap(),
        "hotconfig",
        file.to_str().unwrap(),
    ])
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn hotconfig_in_a_vm_keeps_counts_mappings_and_traffic_and_refuses_what_it_cannot_run() {
    let image = image(
        "nat-firewall",
        &NAT_FIREWALL.replace("$RULE", "udp && dst port 7"),
    );
    let dir = work_dir();
    let write = |name: &str, text: &str| {
        let p = dir.join(format!("{}-{name}", unique_name("hot")));
        std::fs::write(&p, text).unwrap();
        p
    };
    let (nics, feed, in0, out1) = two_nics();
    let vm = Vm::boot(&image, &nics, &[]);
    let send = |f: &[u8]| {
        feed.send_to(f, ("127.0.0.1", in0)).unwrap();
    };

    // Two flows to port 7, one frame each: two mappings. One to port 9: denied.
    send(&udp_frame_from(4001, 7, b"first flow"));
    send(&udp_frame_from(4002, 7, b"second flow"));
    send(&udp_frame_from(4003, 9, b"denied for now"));
    let got = receive_all(&out1, 2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "the two frames to port 7");
    let second = nat_source(&got[1]);
    assert_eq!(second.0, [21, 0, 0, 1]);
    let mapping = udp_mapping(&vm, 4002, 7);
    assert!(
        mapping.contains(&format!("=> (21.0.0.1, {}, ", second.1)),
        "{mapping}"
    );
    assert_eq!(vm.read_u64("c_in.count"), 3);

    // A steady stream of the second flow while the configuration is replaced: every
    // frame comes out, in order, with the NAT's mapping from before the swap.
    let new = write(
        "new.click",
        &NAT_FIREWALL.replace("$RULE", "udp && (dst port 7 or dst port 9)"),
    );
    const STREAM: usize = 300;
    // Read as they come: a socket buffer holds only a few hundred small datagrams.
    let receiver = {
        let out1 = out1.try_clone().unwrap();
        std::thread::spawn(move || receive_all(&out1, STREAM, Duration::from_secs(30)))
    };
    let (sent_tx, sent_rx) = mpsc::channel();
    let sender = {
        let feed = feed.try_clone().unwrap();
        std::thread::spawn(move || {
            for i in 0..STREAM {
                let payload = format!("stream {i:04}");
                feed.send_to(
                    &udp_frame_from(4002, 7, payload.as_bytes()),
                    ("127.0.0.1", in0),
                )
                .unwrap();
                if i == STREAM / 3 {
                    sent_tx.send(()).unwrap();
                }
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };
    sent_rx.recv().unwrap();
    let start = Instant::now();
    let out = ctl_hotconfig(&vm, &new);
    let took = start.elapsed();
    assert!(out.status.success(), "hotconfig: {}", text(&out.stderr));
    println!("sluice ctl VM hotconfig took {took:?}");
    sender.join().unwrap();
    let got = receiver.join().unwrap();
    let payloads: Vec<String> = got.iter().map(|f| text(&f[42..])).collect();
    let expected: Vec<String> = (0..STREAM).map(|i| format!("stream {i:04}")).collect();
    assert_eq!(payloads, expected, "every frame of the stream, in order");
    for f in &got {
        assert_eq!(nat_source(f), second, "the mapping from before the swap");
    }
    assert_eq!(udp_mapping(&vm, 4002, 7), mapping);
    assert!(
        vm.read("config").contains("dst port 9"),
        "the new configuration runs"
    );
    // Counters went on counting.
    assert_eq!(vm.read_u64("c_in.count"), 3 + STREAM as u64);
    assert_eq!(vm.read_u64("c_out.count"), 2 + STREAM as u64);

    // The new rule: port 9 passes now.
    send(&udp_frame_from(4003, 9, b"allowed now"));
    let got = receive_all(&out1, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "the frame to port 9");
    assert_eq!(text(&got[0][42..]), "allowed now");
    let config = vm.read("config");

    // What the old configuration must survive, each followed by a frame it forwards.
    let forwards = |what: &str| {
        send(&udp_frame_from(4001, 7, what.as_bytes()));
        let got = receive_all(&out1, 1, Duration::from_secs(10));
        assert_eq!(got.len(), 1, "forwarding after {what}");
        assert_eq!(text(&got[0][42..]), what);
        assert_eq!(vm.read("config"), config, "after {what}");
    };
    // A class the image does not carry: refused on the host, naming it.
    let queue = write(
        "queue.click",
        "FromDevice(0) -> c_in :: Counter -> q :: Queue(10) -> ToDevice(1);\n",
    );
    let out = ctl_hotconfig(&vm, &queue);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("the VM's image has no element class Queue (q)") && err.contains("IPRewriter"),
        "{err}"
    );
    forwards("after the class it lacks");
    // A malformed file: refused on the host with `sluice check`'s diagnostics.
    let bad = write("bad.click", "FromDevice(0) -> c_in :: Counter -> ;\n");
    let out = ctl_hotconfig(&vm, &bad);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.click:1:") && err.contains('^'), "{err}");
    forwards("after a malformed file");
    // One that only the guest can refuse (the VM has two NICs): its reason comes back.
    let nic = write(
        "nic.click",
        "FromDevice(0) -> c_in :: Counter -> ToDevice(5);\n",
    );
    let out = ctl_hotconfig(&vm, &nic);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("520") && err.contains("no device '5' (this platform has eth0, eth1)"),
        "{err}"
    );
    forwards("after a configuration the guest refused");
    // Text written to the VM's hotconfig is not a prepared configuration.
    let out = sluice(&[
        "ctl",
        vm.control.to_str().unwrap(),
        "write",
        "hotconfig",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad magic"),
        "{}",
        text(&out.stderr)
    );
    forwards("after text written to hotconfig");
    assert_eq!(vm.read_u64("c_in.count"), 3 + STREAM as u64 + 5);

    let (status, console) = vm.stop();
    assert!(status.success(), "{status}: {console}");
}
