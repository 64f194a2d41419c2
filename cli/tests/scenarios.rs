//! The scenarios in `scenarios/` end to end: each network function's configuration is
//! valid, and its input traffic through `sluice run` gives the expected frames on each
//! interface, byte for byte, and the expected handler values.
//!
//! The expected files are written by `scenarios/gen/gen.py` from what each network
//! function must do, not by running sluice; on top of that, each test checks the output
//! independently here (addresses, ports, TTLs, checksums decoded with etherparse), so a
//! wrong golden file cannot pass unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

mod common;
use common::SLUICE;

fn scenario_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

/// One pcap record: timestamp in microseconds, frame.
type Record = (u64, Vec<u8>);

/// Reads a classic pcap file (either byte order, micro- or nanosecond stamps).
fn read_pcap(path: &Path) -> Vec<Record> {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(d.len() >= 24, "{}: not a pcap file", path.display());
    let magic = u32::from_le_bytes(d[0..4].try_into().unwrap());
    let (le, nano) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => panic!("{}: bad pcap magic {m:#x}", path.display()),
    };
    let word = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        u64::from(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= d.len() {
        let sec = word(&d[o..o + 4]);
        let frac = word(&d[o + 4..o + 8]);
        let caplen = word(&d[o + 8..o + 12]) as usize;
        let usec = if nano { frac / 1000 } else { frac };
        out.push((sec * 1_000_000 + usec, d[o + 16..o + 16 + caplen].to_vec()));
        o += 16 + caplen;
    }
    assert_eq!(o, d.len(), "{}: trailing bytes", path.display());
    out
}

/// What one host-mode run produced.
struct HostRun {
    input: Vec<Record>,
    eth0: Vec<Vec<u8>>,
    eth1: Vec<Vec<u8>>,
    handlers: String,
}

/// The handler names listed in a scenario's `expected-handlers.txt` (the exact output
/// of `sluice run -h A -h B ...`: `name:` lines, each followed by its value).
fn expected_handlers(name: &str) -> (Vec<String>, String) {
    let text = std::fs::read_to_string(scenario_dir(name).join("expected-handlers.txt"))
        .expect("expected-handlers.txt");
    let names = text
        .lines()
        .filter_map(|l| l.strip_suffix(':'))
        .filter(|l| l.contains('.'))
        .map(String::from)
        .collect();
    (names, text)
}

/// Runs `<name>-pcap.click` on the scenario's `in.pcap` and reads what it wrote.
fn run_host(name: &str) -> HostRun {
    let dir = scenario_dir(name);
    let tmp = tempfile::tempdir().expect("temporary directory");
    let out0 = tmp.path().join("out-eth0.pcap");
    let out1 = tmp.path().join("out-eth1.pcap");
    let (handlers, _) = expected_handlers(name);
    let mut cmd = Command::new(SLUICE);
    cmd.current_dir(&dir)
        .arg("run")
        .arg("--quiet")
        .arg(format!("{name}-pcap.click"))
        .arg("IN=in.pcap")
        .arg(format!("OUT0={}", out0.display()))
        .arg(format!("OUT1={}", out1.display()));
    for h in &handlers {
        cmd.arg("-h").arg(h);
    }
    let out = cmd.output().expect("run sluice");
    assert!(
        out.status.success(),
        "sluice run {name}-pcap.click failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    HostRun {
        input: read_pcap(&dir.join("in.pcap")),
        eth0: read_pcap(&out0).into_iter().map(|r| r.1).collect(),
        eth1: read_pcap(&out1).into_iter().map(|r| r.1).collect(),
        handlers: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Compares output frames with an expected file. The expected records carry the time of
/// the input frame that caused them; frames caused by one input may come in any order
/// (they leave by different paths through the graph), everything else must match in order.
fn assert_frames(name: &str, iface: &str, got: &[Vec<u8>]) {
    let expected = read_pcap(&scenario_dir(name).join(format!("expected-{iface}.pcap")));
    let mut at = 0;
    let mut groups: Vec<Vec<&Vec<u8>>> = Vec::new();
    for (i, (t, f)) in expected.iter().enumerate() {
        if i > 0 && expected[i - 1].0 == *t {
            groups.last_mut().unwrap().push(f);
        } else {
            groups.push(vec![f]);
        }
    }
    for group in groups {
        let end = (at + group.len()).min(got.len());
        let mut want: Vec<&Vec<u8>> = group.clone();
        let mut have: Vec<&Vec<u8>> = got[at..end].iter().collect();
        want.sort();
        have.sort();
        assert_eq!(
            have.iter().map(hex).collect::<Vec<_>>(),
            want.iter().map(hex).collect::<Vec<_>>(),
            "{name}: frames {at}.. on {iface} differ from expected-{iface}.pcap"
        );
        at = end;
    }
    assert_eq!(
        got.len(),
        at,
        "{name}: {} more frames on {iface} than expected",
        got.len() - at
    );
}

fn hex(f: &&Vec<u8>) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

fn run_scenario(name: &str) -> HostRun {
    let run = run_host(name);
    assert_frames(name, "eth0", &run.eth0);
    assert_frames(name, "eth1", &run.eth1);
    let (_, want) = expected_handlers(name);
    assert_eq!(run.handlers, want, "{name}: handler values");
    for f in run.eth0.iter().chain(&run.eth1) {
        assert_checksums(f);
    }
    run
}

// ---- independent checks ----------------------------------------------------------------

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Every IPv4 frame has a valid header checksum, and (unfragmented or first fragments of
/// whole datagrams) valid TCP, UDP and ICMP checksums.
fn assert_checksums(frame: &[u8]) {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    assert_eq!(
        fold(sum16(&ip[..ihl])),
        0xffff,
        "bad IP checksum: {frame:02x?}"
    );
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if frag & 0x3fff != 0 {
        return; // a fragment: the transport checksum covers the whole datagram
    }
    let seg = &ip[ihl..total];
    let pseudo = sum16(&ip[12..20]) + u32::from(ip[9]) + seg.len() as u32;
    match ip[9] {
        1 => assert_eq!(fold(sum16(seg)), 0xffff, "bad ICMP checksum: {frame:02x?}"),
        6 => assert_eq!(
            fold(pseudo + sum16(seg)),
            0xffff,
            "bad TCP checksum: {frame:02x?}"
        ),
        17 if seg[6..8] != [0, 0] => assert_eq!(
            fold(pseudo + sum16(seg)),
            0xffff,
            "bad UDP checksum: {frame:02x?}"
        ),
        _ => {}
    }
}

/// The decoded fields the tests look at.
#[derive(Debug, Default, Clone, PartialEq)]
struct Fields {
    arp: bool,
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    ttl: u8,
    proto: u8,
    sport: u16,
    dport: u16,
    icmp_type: Option<u8>,
    echo_id: Option<u16>,
    fragment: bool,
}

fn decode(frame: &[u8]) -> Fields {
    let mut f = Fields::default();
    // Inputs include deliberately broken frames; they decode to nothing.
    let Ok(p) = SlicedPacket::from_ethernet(frame) else {
        return f;
    };
    match &p.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            f.src = Some(h.source_addr());
            f.dst = Some(h.destination_addr());
            f.ttl = h.ttl();
            f.proto = h.protocol().0;
            f.fragment = h.more_fragments() || h.fragments_offset().value() != 0;
        }
        Some(NetSlice::Arp(_)) => f.arp = true,
        _ => {}
    }
    match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            (f.sport, f.dport) = (t.source_port(), t.destination_port())
        }
        Some(TransportSlice::Udp(u)) => {
            (f.sport, f.dport) = (u.source_port(), u.destination_port())
        }
        Some(TransportSlice::Icmpv4(i)) => {
            f.icmp_type = Some(i.type_u8());
            let b = i.slice();
            if matches!(b[0], 0 | 8) {
                f.echo_id = Some(u16::from_be_bytes([b[4], b[5]]));
            }
        }
        _ => {}
    }
    f
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

// ---- configurations --------------------------------------------------------------------

const SCENARIOS: [&str; 4] = ["firewall", "nat", "router", "load-balancer"];

#[test]
fn every_scenario_config_passes_check() {
    for name in SCENARIOS {
        let dir = scenario_dir(name);
        for file in [format!("{name}.click"), format!("{name}-pcap.click")] {
            let out = Command::new(SLUICE)
                .current_dir(&dir)
                .arg("check")
                .arg(&file)
                .output()
                .expect("run sluice check");
            assert!(
                out.status.success(),
                "sluice check {name}/{file}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `<name>-pcap.click` carries the network function of `<name>.click` verbatim: everything
/// from the first line that is not a comment up to the device lines.
#[test]
fn pcap_configs_are_copies_of_the_device_configs() {
    for name in SCENARIOS {
        let dir = scenario_dir(name);
        let device = std::fs::read_to_string(dir.join(format!("{name}.click"))).unwrap();
        let pcap = std::fs::read_to_string(dir.join(format!("{name}-pcap.click"))).unwrap();
        let start = device
            .lines()
            .scan(0, |off, l| {
                let at = *off;
                *off += l.len() + 1;
                Some((at, l))
            })
            .find(|(_, l)| !l.is_empty() && !l.starts_with("//"))
            .map(|(at, _)| at)
            .unwrap();
        let end = device.find("\nFromDevice(").expect("device lines");
        let end = device[..end]
            .rfind("\n\n")
            .expect("blank line before the instance");
        let body = &device[start..end];
        assert!(
            pcap.contains(body),
            "{name}-pcap.click differs from {name}.click; regenerate it with \
             python3 scenarios/gen/mkpcap.py"
        );
        assert!(device.contains("FromDevice(eth0") && device.contains("ToDevice(eth1)"));
    }
}

// ---- host mode -------------------------------------------------------------------------

#[test]
fn firewall_host_mode() {
    let run = run_scenario("firewall");
    // A bridge: everything it sends is a frame it received, unchanged, on the other side.
    let from = |side: u8| -> BTreeSet<Vec<u8>> {
        run.input
            .iter()
            .filter(|(_, f)| f[9] == side)
            .map(|(_, f)| f.clone())
            .collect()
    };
    let (lan_in, wan_in) = (from(1), from(2));
    assert!(run.eth1.iter().all(|f| lan_in.contains(f)));
    assert!(run.eth0.iter().all(|f| wan_in.contains(f)));
    // Nothing unsolicited from the WAN reaches the LAN: every TCP/UDP packet let in is a
    // reply to a flow the LAN started, or goes to the published server.
    let lan_flows: BTreeSet<_> = run
        .eth1
        .iter()
        .map(|f| decode(f))
        .filter(|f| f.sport != 0)
        .map(|f| (f.src, f.sport, f.dst, f.dport))
        .collect();
    for f in run.eth0.iter().map(|f| decode(f)) {
        if f.sport == 0 {
            continue;
        }
        let published = f.dst == Some(ip("192.168.1.20")) && f.dport == 80;
        let reply = lan_flows.contains(&(f.dst, f.dport, f.src, f.sport));
        assert!(published || reply, "let in: {f:?}");
    }
    // Outbound services are only the allowed ones (or replies of the published server).
    for f in run.eth1.iter().map(|f| decode(f)) {
        if f.proto == 6 {
            assert!([80, 443, 22].contains(&f.dport) || f.sport == 80, "{f:?}");
        } else if f.proto == 17 {
            assert_eq!(f.dport, 53);
        }
    }
    // The one ICMP error let in quotes the DNS query the LAN sent.
    assert_eq!(
        run.eth0
            .iter()
            .filter(|f| decode(f).icmp_type == Some(3))
            .count(),
        1
    );
}

#[test]
fn nat_host_mode() {
    let run = run_scenario("nat");
    let public = ip("203.0.113.1");
    // Outside, every IP packet comes from the public address.
    let out: Vec<Fields> = run.eth1.iter().map(|f| decode(f)).collect();
    assert!(out.iter().filter(|f| !f.arp).all(|f| f.src == Some(public)));
    assert!(out.iter().all(|f| f.dst != Some(ip("10.0.0.10"))));
    // The client's connections got distinct public ports from the range.
    let ports: BTreeSet<u16> = out
        .iter()
        .filter(|f| f.proto == 6 && f.dport == 80)
        .map(|f| f.sport)
        .collect();
    assert_eq!(ports, BTreeSet::from([50000, 50001]));
    // The port forward: the server's reply leaves from 8080.
    assert!(out
        .iter()
        .any(|f| f.sport == 8080 && f.dst == Some(ip("192.0.2.7"))));
    // Ping: the identifier is rewritten on the way out and restored on the way back.
    assert!(out.iter().any(|f| f.echo_id == Some(50000)));
    let inside: Vec<Fields> = run.eth0.iter().map(|f| decode(f)).collect();
    assert!(inside
        .iter()
        .any(|f| f.icmp_type == Some(0) && f.echo_id == Some(0x0777)));
    // Inside, nothing is addressed to the public address; the forwarded SYN keeps the
    // client's source and reaches 10.0.0.20:80.
    assert!(inside.iter().all(|f| f.dst != Some(public)));
    assert!(inside.iter().any(|f| f.src == Some(ip("192.0.2.7"))
        && f.dst == Some(ip("10.0.0.20"))
        && f.dport == 80));
    // The ICMP error's quote was translated back to the client's own flow.
    let err = run
        .eth0
        .iter()
        .find(|f| decode(f).icmp_type == Some(3))
        .expect("translated ICMP error");
    let quoted = &err[14 + 20 + 8..];
    assert_eq!(&quoted[12..16], &[10, 0, 0, 10]);
    assert_eq!(&quoted[20..22], &50000u16.to_be_bytes());
}

#[test]
fn router_host_mode() {
    let run = run_scenario("router");
    let input: Vec<Fields> = run.input.iter().map(|(_, f)| decode(f)).collect();
    // Forwarded packets lose exactly one hop of TTL.
    for f in run.eth1.iter().map(|f| decode(f)).filter(|f| !f.arp) {
        let orig = input
            .iter()
            .find(|i| i.src == f.src && i.dst == f.dst && i.sport == f.sport && !i.arp)
            .unwrap_or_else(|| panic!("no input for {f:?}"));
        assert_eq!(f.ttl + 1, orig.ttl, "{f:?}");
    }
    let eth0: Vec<Fields> = run.eth0.iter().map(|f| decode(f)).collect();
    // TTL expiry and DF both produce ICMP errors from the incoming interface's address.
    for t in [11, 3, 5] {
        let e = eth0
            .iter()
            .find(|f| f.icmp_type == Some(t))
            .unwrap_or_else(|| panic!("no ICMP type {t}"));
        assert_eq!(e.src, Some(ip("10.1.0.1")));
        assert_eq!(e.dst, Some(ip("10.1.0.10")));
    }
    // Fragments fit eth1's MTU of 1400.
    let frags: Vec<&Vec<u8>> = run.eth1.iter().filter(|f| decode(f).fragment).collect();
    assert_eq!(frags.len(), 2);
    assert!(frags.iter().all(|f| f.len() - 14 <= 1400));
    // The router answers pings to both its addresses.
    assert_eq!(
        eth0.iter()
            .filter(|f| f.icmp_type == Some(0) && f.ttl == 254)
            .count(),
        2
    );
}

#[test]
fn load_balancer_host_mode() {
    let run = run_scenario("load-balancer");
    let vip = ip("192.0.2.100");
    // Each client connection lands on one backend, and both backends are used.
    let mut backend_of: BTreeMap<(Option<Ipv4Addr>, u16), Option<Ipv4Addr>> = BTreeMap::new();
    for f in run.eth1.iter().map(|f| decode(f)).filter(|f| f.proto == 6) {
        assert_eq!(f.dport, 80);
        let prev = backend_of.insert((f.src, f.sport), f.dst);
        assert!(prev.is_none() || prev == Some(f.dst), "{f:?} moved backend");
    }
    let used: BTreeSet<_> = backend_of.values().collect();
    assert_eq!(
        used,
        BTreeSet::from([&Some(ip("10.0.0.11")), &Some(ip("10.0.0.12"))])
    );
    assert_eq!(backend_of.len(), 4);
    // Replies reach the clients from the VIP.
    let front: Vec<Fields> = run.eth0.iter().map(|f| decode(f)).collect();
    assert!(front.iter().filter(|f| !f.arp).all(|f| f.src == Some(vip)));
}

// ---- as a VM ---------------------------------------------------------------------------
//
// The same traffic through each scenario's VM: `sluice build <name>.click`, booted under
// QEMU with two dgram NICs (UDP on 127.0.0.1). Each input frame is sent as one datagram to
// the NIC of the link it belongs to; the test then waits for the frames that input must
// cause (known from the expected files) before sending the next, so state builds up in the
// same order as in host mode. These tests need qemu-system-x86_64 and the
// x86_64-unknown-none target; without them they fail, and say so.

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn vm_work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario-vms");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds a scenario's image (one build at a time: they share the unikernel's target).
fn build_image(name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    common::require_qemu("the VM scenario tests");
    let image = vm_work_dir().join(format!("{name}.elf"));
    let out = Command::new(SLUICE)
        .arg("build")
        .arg(scenario_dir(name).join(format!("{name}.click")))
        .arg("-o")
        .arg(&image)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice build");
    assert!(
        out.status.success(),
        "sluice build {name}.click failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

/// A booted VM, stopped (and its QEMU ended) on drop.
struct ScenarioVm {
    name: String,
    control: PathBuf,
    child: Option<std::process::Child>,
}

impl ScenarioVm {
    fn boot(image: &Path, nics: &[String], netns: Option<&str>) -> ScenarioVm {
        common::require_qemu("the VM scenario tests");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "scen{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let control = vm_work_dir().join(format!("{name}.ctl"));
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, SLUICE]);
                c
            }
            None => Command::new(SLUICE),
        };
        // 32 MiB: the rewriters' flow tables want more than the 8 MiB default leaves.
        cmd.arg("boot")
            .arg(image)
            .args(["--mem", "32M", "--name", &name, "--control"])
            .arg(&control);
        for nic in nics {
            cmd.args(["--nic", nic]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice boot");
        let mut vm = ScenarioVm {
            name,
            control,
            child: Some(child),
        };
        common::wait_for_ready(vm.child.as_mut().unwrap());
        vm
    }

    fn read(&self, handler: &str) -> String {
        let out = Command::new(SLUICE)
            .arg("ctl")
            .arg(&self.control)
            .args(["read", handler])
            .output()
            .expect("run sluice ctl");
        assert!(
            out.status.success(),
            "sluice ctl read {handler}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for ScenarioVm {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new(SLUICE)
                .args(["stop", &self.name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How many frames each input frame (by its timestamp) causes on an interface.
fn caused_per_input(name: &str, iface: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for (t, _) in read_pcap(&scenario_dir(name).join(format!("expected-{iface}.pcap"))) {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

/// Receives exactly `n` datagrams (or fails after `timeout`).
fn receive(socket: &UdpSocket, n: usize, timeout: Duration, what: &str) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < n {
        assert!(
            start.elapsed() < timeout,
            "{what}: got {} of {n} frames in {timeout:?}",
            got.len()
        );
        if let Ok(len) = socket.recv(&mut buf) {
            got.push(buf[..len].to_vec());
        }
    }
    got
}

fn vm_scenario(name: &str) {
    let image = build_image(name);
    // NIC i: the VM reads datagrams sent to in_port[i] and sends its frames to out[i].
    let out: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for s in &out {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    let in_port: Vec<u16> = (0..2)
        .map(|_| {
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let nics: Vec<String> = (0..2)
        .map(|i| {
            format!(
                "dgram:{}:{}",
                in_port[i],
                out[i].local_addr().unwrap().port()
            )
        })
        .collect();
    let vm = ScenarioVm::boot(&image, &nics, None);
    let feed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let want = [
        caused_per_input(name, "eth0"),
        caused_per_input(name, "eth1"),
    ];
    let mut got: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for (t, frame) in read_pcap(&scenario_dir(name).join("in.pcap")) {
        let link = usize::from(frame[9] - 1);
        feed.send_to(&frame, ("127.0.0.1", in_port[link])).unwrap();
        for i in 0..2 {
            let n = want[i].get(&t).copied().unwrap_or(0);
            let what = format!("{name} VM, eth{i}, after the input frame at {t}");
            got[i].extend(receive(&out[i], n, Duration::from_secs(20), &what));
        }
    }
    // Nothing more may come.
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..2 {
        let mut buf = [0u8; 4096];
        while let Ok(len) = out[i].recv(&mut buf) {
            got[i].push(buf[..len].to_vec());
        }
    }
    assert_frames(name, "eth0", &got[0]);
    assert_frames(name, "eth1", &got[1]);
    // The handler values match host mode.
    let (handlers, text) = expected_handlers(name);
    let values: Vec<&str> = text
        .split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|b| b.split_once('\n').map_or("", |(_, v)| v.trim()))
        .collect();
    for (h, v) in handlers.iter().zip(values) {
        assert_eq!(vm.read(h), v, "{name} VM: handler {h}");
    }
    // The configuration reads as `sluice build` compiled it: the global `config` handler is
    // the flat configuration (`sluice flatten`), every element's `config` its arguments as
    // written, comments included.
    let flat = Command::new(SLUICE)
        .arg("flatten")
        .arg(scenario_dir(name).join(format!("{name}.click")))
        .output()
        .expect("run sluice flatten");
    assert!(flat.status.success(), "sluice flatten {name}.click");
    let flat = String::from_utf8(flat.stdout).expect("UTF-8");
    assert_eq!(vm.read("config"), flat.trim(), "{name} VM: config");
    let source = sluice_config::Source::new("flat.click", flat.as_str());
    let graph = sluice_config::parse(&source, 0)
        .and_then(|c| sluice_config::flatten(&c, &[]))
        .expect("the flat configuration parses");
    for e in graph.elements.iter().filter(|e| !e.config.is_empty()) {
        let handler = format!("{}.config", e.name);
        assert_eq!(vm.read(&handler), e.config.trim(), "{name} VM: {handler}");
    }
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn firewall_vm_gives_the_host_mode_result() {
    vm_scenario("firewall");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn nat_vm_gives_the_host_mode_result() {
    vm_scenario("nat");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn router_vm_gives_the_host_mode_result() {
    vm_scenario("router");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn load_balancer_vm_gives_the_host_mode_result() {
    vm_scenario("load-balancer");
}

// ---- the firewall's traffic and what traffic.txt says of it ---------------------------

/// One line of a scenario's `traffic.txt`: the NIC a frame goes in, the NICs it must leave
/// by (empty: dropped), and the note (for a drop: `why, ..., side_denied`).
struct TrafficLine {
    into: usize,
    out: Vec<usize>,
    note: String,
}

fn traffic(name: &str) -> Vec<TrafficLine> {
    let text = std::fs::read_to_string(scenario_dir(name).join("traffic.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let nic = |w: &str| w.trim_start_matches("eth").parse::<usize>().unwrap();
            let out = if words[3] == "(dropped)" {
                Vec::new()
            } else {
                words[3].split(',').map(nic).collect()
            };
            TrafficLine {
                into: nic(words[1]),
                out,
                note: words[4..].join(" "),
            }
        })
        .collect()
}

/// The firewall's drop counters traffic.txt names for a frame: none for one it passes,
/// what follows the last `: ` of the note for a drop (`lan_no_flow, lan_denied`).
fn drop_counters(line: &TrafficLine) -> BTreeSet<String> {
    if !line.out.is_empty() {
        return BTreeSet::new();
    }
    line.note
        .rsplit_once(": ")
        .map(|(_, c)| c.split(", ").map(|c| format!("fw/{c}.count")).collect())
        .unwrap_or_default()
}

/// Every drop counter of the firewall: one per reason and side, and the two totals.
fn firewall_counters() -> Vec<String> {
    let mut all = Vec::new();
    for side in ["lan", "wan"] {
        for why in [
            "denied",
            "not_ip",
            "bad_ip",
            "no_rule",
            "no_flow",
            "bad_error",
        ] {
            all.push(format!("fw/{side}_{why}.count"));
        }
    }
    all
}

/// The frames are what the protocols they name put on a wire: DNS with its question and
/// answer, NTP, Linux ping's payload, HTTP, an IPv6 router solicitation with a valid
/// checksum; tcpdump and Wireshark read them as such.
#[test]
fn firewall_traffic_speaks_the_real_protocols() {
    let frames = read_pcap(&scenario_dir("firewall").join("in.pcap"));
    let (mut dns, mut ntp, mut ping, mut http, mut ipv6) = (0, 0, 0, 0, 0);
    for (_, f) in &frames {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        match (&p.net, &p.transport) {
            (Some(NetSlice::Ipv4(_)), Some(TransportSlice::Udp(u))) => {
                let d = u.payload();
                if u.source_port() == 53 || u.destination_port() == 53 {
                    // Header: one question; a response (QR) carries one answer.
                    let flags = u16::from_be_bytes([d[2], d[3]]);
                    assert_eq!(u16::from_be_bytes([d[4], d[5]]), 1, "qdcount");
                    let answers = u16::from_be_bytes([d[6], d[7]]);
                    assert_eq!(answers, flags >> 15, "one answer in responses only");
                    assert_eq!(&d[12..29], b"\x03www\x07example\x03com\x00");
                    dns += 1;
                } else if u.destination_port() == 123 {
                    assert_eq!((d.len(), d[0]), (48, 0x23), "NTPv4 client request");
                    ntp += 1;
                }
            }
            (Some(NetSlice::Ipv4(_)), Some(TransportSlice::Icmpv4(i)))
                if matches!(i.type_u8(), 0 | 8) =>
            {
                // Echo: after the 8-byte timestamp pair, bytes count up from 0x10.
                let d = i.payload();
                assert_eq!(d.len(), 56);
                assert!(d[16..].iter().zip(0x10u8..).all(|(a, b)| *a == b));
                ping += 1;
            }
            (Some(NetSlice::Ipv4(_)), Some(TransportSlice::Tcp(t))) if !t.payload().is_empty() => {
                let d = t.payload();
                assert!(
                    d.starts_with(b"GET / HTTP/1.0\r\n") || d.starts_with(b"HTTP/1.0 200 OK\r\n")
                );
                http += 1;
            }
            (Some(NetSlice::Ipv6(v6)), Some(TransportSlice::Icmpv6(i))) => {
                assert_eq!(i.type_u8(), 133, "router solicitation");
                let h = v6.header();
                let pseudo_sum = sum16(&h.source())
                    + sum16(&h.destination())
                    + sum16(&(i.slice().len() as u32).to_be_bytes())
                    + 58;
                assert_eq!(
                    fold(pseudo_sum + sum16(i.slice())),
                    0xffff,
                    "ICMPv6 checksum"
                );
                ipv6 += 1;
            }
            _ => {}
        }
    }
    assert_eq!((dns, ntp, ping, http, ipv6), (3, 1, 4, 2, 1));
}

/// Every drop traffic.txt attributes to a counter is counted there, and nowhere else.
#[test]
fn firewall_drop_counters_add_up_to_traffic_txt() {
    let mut expected: BTreeMap<String, u64> =
        firewall_counters().into_iter().map(|c| (c, 0)).collect();
    for line in traffic("firewall").iter().filter(|l| l.out.is_empty()) {
        for c in drop_counters(line) {
            *expected
                .get_mut(&c)
                .unwrap_or_else(|| panic!("no counter {c}")) += 1;
        }
    }
    let dir = scenario_dir("firewall");
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(SLUICE);
    cmd.current_dir(&dir)
        .args(["run", "--quiet", "firewall-pcap.click", "IN=in.pcap"])
        .arg(format!("OUT0={}", tmp.path().join("0.pcap").display()))
        .arg(format!("OUT1={}", tmp.path().join("1.pcap").display()));
    for c in expected.keys() {
        cmd.args(["-h", c]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let got: BTreeMap<String, u64> = printed
        .split("\n\n")
        .filter_map(|b| b.split_once(":\n"))
        .map(|(h, v)| (h.trim().to_string(), v.trim().parse().unwrap()))
        .collect();
    assert_eq!(got, expected);
}

/// `sluice replay --watch` on the firewall VM (what scripts/demo shows): each frame leaves
/// by the NICs traffic.txt names, and each dropped one moves exactly the counters it names.
#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn firewall_vm_drops_each_frame_where_traffic_txt_says() {
    let image = build_image("firewall");
    let tmp = tempfile::tempdir().unwrap();
    let (mut lan, mut wan) = (Vec::new(), Vec::new());
    for rec in read_pcap(&scenario_dir("firewall").join("in.pcap")) {
        if rec.1[9] == 1 {
            lan.push(rec)
        } else {
            wan.push(rec)
        }
    }
    let write = |name: &str, recs: &[Record]| {
        let mut d = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        for (t, f) in recs {
            let (s, us) = ((t / 1_000_000) as u32, (t % 1_000_000) as u32);
            for v in [s, us, f.len() as u32, f.len() as u32] {
                d.extend_from_slice(&v.to_le_bytes());
            }
            d.extend_from_slice(f);
        }
        let p = tmp.path().join(name);
        std::fs::write(&p, d).unwrap();
        p
    };
    let (lan, wan) = (write("lan.pcap", &lan), write("wan.pcap", &wan));
    let ports: Vec<u16> = (0..4)
        .map(|_| {
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let nics = [
        format!("dgram:{}:{}", ports[0], ports[1]),
        format!("dgram:{}:{}", ports[2], ports[3]),
    ];
    let vm = ScenarioVm::boot(&image, &nics, None);
    let mut cmd = Command::new(SLUICE);
    cmd.arg("replay")
        .arg(format!("eth0={}", lan.display()))
        .arg(format!("eth1={}", wan.display()))
        .args(["--vm", &vm.name, "--json"]);
    let counters = firewall_counters();
    for c in &counters {
        cmd.args(["--watch", c]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    let frames: Vec<&str> = json.split("{\"in\":").skip(1).collect();
    let lines = traffic("firewall");
    assert_eq!(frames.len(), lines.len(), "{json}");
    for (k, (fate, line)) in frames.iter().zip(&lines).enumerate() {
        let n = k + 1;
        assert!(
            fate.starts_with(&line.into.to_string()),
            "frame {n}: {fate}"
        );
        let out_at = fate.find("\"out\":[").unwrap() + 7;
        let out: Vec<usize> = fate[out_at..fate[out_at..].find(']').unwrap() + out_at]
            .split(',')
            .map(|c| c.parse().unwrap())
            .collect();
        let left: Vec<usize> = (0..2).filter(|&i| out[i] > 0).collect();
        assert_eq!(left, line.out, "frame {n} ({}): {fate}", line.note);
        let changed: BTreeSet<String> = counters
            .iter()
            .filter(|c| fate.contains(&format!("\"{c}\":\"+1\"")))
            .cloned()
            .collect();
        assert_eq!(
            changed,
            drop_counters(line),
            "frame {n} ({}): {fate}",
            line.note
        );
        assert!(fate.contains("\"seen\":true"), "frame {n}: {fate}");
    }
}
