//! `sluice deploy libvirt`: the domain XML and its errors, and (with libvirt, QEMU and root) a
//! service chain of two NF VMs deployed as libvirt domains on host bridges: a client in one
//! network namespace reaches a server in another through the NAT and then the firewall
//! (`scenarios/nat`, `scenarios/firewall`) with ping, curl and iperf3, and `sluice ps`, `ctl`,
//! `logs` and `stop` manage the domains by name.
//!
//! The libvirt test needs `virsh`, a running libvirtd on `qemu:///system` and root; without
//! them it fails, loudly: CI installs libvirt (`scripts/setup --libvirt`) and starts its
//! daemons.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{require_qemu, sluice, text};

const URI: &str = "qemu:///system";

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libvirt-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let out = work_dir().join("never.xml");
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "libvirt", "/nonexistent/fw.elf", "--name", "fw"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-o", out.to_str().unwrap()]);
        sluice(&args)
    };
    let cases: [(&[&str], &str); 4] = [
        (
            &["--nic", "dgram:1:2"],
            "bad --nic 'dgram:1:2': expected network:NAME, bridge:BRIDGE or tap:IFNAME",
        ),
        (&["--nic", "bridge:"], "bad --nic 'bridge:'"),
        (&["--mem", "8X"], "bad --mem '8X'"),
        (&[], "/nonexistent/fw.elf"),
    ];
    for (extra, message) in cases {
        let o = deploy(extra);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{extra:?}");
        assert!(
            err.starts_with("sluice deploy: ") && err.contains(message),
            "{extra:?}: {err}"
        );
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
    // q35 takes the image (it drives virtio-pci NICs) but no more NICs than it has slots.
    let mut many = vec!["--machine", "q35"];
    many.extend(["--nic", "bridge:br0"].repeat(24));
    let o = deploy(&many);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("24 NICs: a q35 domain takes at most 23"),
        "{err}"
    );
    assert!(!out.exists());
    let o = deploy(&["--machine", "q35"]);
    assert!(
        text(&o.stderr).contains("/nonexistent/fw.elf"),
        "only the missing image stops a q35 domain: {}",
        text(&o.stderr)
    );
    let bad_name = sluice(&[
        "deploy",
        "libvirt",
        "/nonexistent/fw.elf",
        "--name",
        "fw;rm",
    ]);
    assert!(text(&bad_name.stderr).contains("bad --name 'fw;rm'"));
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn must(args: &[&str]) -> Output {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    o
}

fn report(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Host bridges, network namespaces on them (one veth each) and libvirt domains; all
/// removed on drop, the domains destroyed and undefined, the servers killed.
struct Lab {
    tag: u32,
    bridges: Vec<String>,
    netns: Vec<String>,
    domains: Vec<String>,
    servers: Vec<Child>,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            tag: std::process::id() % 10_000,
            bridges: Vec::new(),
            netns: Vec::new(),
            domains: Vec::new(),
            servers: Vec::new(),
        }
    }

    fn bridge(&mut self, role: &str) -> String {
        let name = format!("slv{role}{}", self.tag);
        must(&["ip", "link", "add", &name, "type", "bridge"]);
        self.bridges.push(name.clone());
        // The host answers ARP for its own addresses on every interface unless told not
        // to: on these bridges, only the VMs and the namespaces answer.
        let key = format!("net.ipv4.conf.{name}.arp_ignore=8");
        must(&["sysctl", "-q", "-w", &key]);
        must(&["ip", "link", "set", &name, "up"]);
        name
    }

    /// A namespace whose `eth0` (MAC `mac`) is on `bridge`, with addresses and routes.
    fn host(
        &mut self,
        role: &str,
        bridge: &str,
        mac: &str,
        addrs: &[&str],
        routes: &[&str],
    ) -> String {
        let ns = format!("sluice-lv-{role}-{}", self.tag);
        must(&["ip", "netns", "add", &ns]);
        self.netns.push(ns.clone());
        let veth = format!("slv{role}v{}", self.tag);
        must(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        must(&["ip", "link", "set", &veth, "master", bridge, "up"]);
        self.exec_ok(&ns, &["ip", "link", "set", "eth0", "address", mac]);
        for a in addrs {
            self.exec_ok(&ns, &["ip", "addr", "add", a, "dev", "eth0"]);
        }
        self.exec_ok(&ns, &["ip", "link", "set", "eth0", "up"]);
        self.exec_ok(&ns, &["ip", "link", "set", "lo", "up"]);
        for r in routes {
            let mut args = vec!["ip", "route", "add"];
            args.extend(r.split_whitespace());
            self.exec_ok(&ns, &args);
        }
        ns
    }

    fn command(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        self.command(ns, args)
            .output()
            .unwrap_or_else(|e| panic!("{args:?} in {ns}: {e}"))
    }

    /// Three pings from namespace `ns` to `addr`, all answered.
    fn ping3(&self, ns: &str, addr: &str) {
        let ping = self.exec(ns, &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "5", addr]);
        assert!(
            report(&ping).contains("3 received"),
            "ping {addr}:\n{}",
            report(&ping)
        );
    }

    fn exec_ok(&self, ns: &str, args: &[&str]) -> Output {
        let o = self.exec(ns, args);
        assert!(o.status.success(), "{args:?} in {ns}:\n{}", report(&o));
        o
    }

    /// Starts `args` in `ns` and waits until it listens on TCP `addr:port`; returns its log.
    fn server(&mut self, ns: &str, args: &[&str], addr: &str, port: u16) -> PathBuf {
        let log = work_dir().join(format!("server{}-{}.log", self.servers.len(), self.tag));
        let file = File::create(&log).unwrap();
        let child = self
            .command(ns, args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?} in {ns}: {e}"));
        self.servers.push(child);
        let want = format!("{addr}:{port}");
        let start = Instant::now();
        while !text(&self.exec_ok(ns, &["ss", "-Hltn"]).stdout)
            .split_whitespace()
            .any(|f| f == want)
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{args:?} does not listen on {want}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        log
    }

    /// Deploys `image` as domain `role` with NICs on `bridges`, in order, and starts it;
    /// `extra`: more arguments of `sluice deploy libvirt`.
    fn deploy(&mut self, role: &str, image: &Path, bridges: &[&str], extra: &[&str]) -> String {
        let name = format!("sluice-test-{role}-{}", self.tag);
        self.domains.push(name.clone());
        let mut args = vec![
            "deploy".to_string(),
            "libvirt".into(),
            image.display().to_string(),
            "--name".into(),
            name.clone(),
            "-c".into(),
            URI.into(),
            "--start".into(),
            "--ready-timeout".into(),
            "60s".into(),
        ];
        for b in bridges {
            args.push("--nic".into());
            args.push(format!("bridge:{b}"));
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = sluice(&args);
        assert!(o.status.success(), "sluice deploy {name}:\n{}", report(&o));
        let said = text(&o.stdout);
        assert!(
            said.starts_with(&format!("ready name={name} libvirt={URI} ")),
            "{said}"
        );
        name
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        for d in &self.domains {
            let _ = run(&["virsh", "-c", URI, "destroy", d]);
            let _ = run(&["virsh", "-c", URI, "undefine", d]);
        }
        for ns in &self.netns {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        for b in &self.bridges {
            let _ = run(&["ip", "link", "del", b]);
        }
    }
}

fn build(scenario: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let config = root.join(format!("scenarios/{scenario}/{scenario}.click"));
    let image = work_dir().join(format!("{scenario}.elf"));
    let o = sluice(&[
        "build",
        config.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "sluice build {scenario}:\n{}",
        report(&o)
    );
    image
}

fn ctl_u64(domain: &str, handler: &str) -> u64 {
    let o = sluice(&["ctl", domain, "read", handler]);
    assert!(
        o.status.success(),
        "sluice ctl {domain} read {handler}:\n{}",
        report(&o)
    );
    let v = text(&o.stdout);
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{handler} = {v:?} is not a number"))
}

/// Fails, saying what to do, unless QEMU, root and a working libvirtd are there.
fn require_libvirt() {
    require_qemu("the libvirt test");
    assert!(
        common::is_root(),
        "this test creates bridges and network namespaces and needs root"
    );
    let version = run(&["virsh", "-c", URI, "version"]);
    assert!(
        version.status.success(),
        "libvirt is not usable at {URI} ({}): install libvirt-daemon-system and \
         libvirt-clients and start libvirtd (`scripts/setup --libvirt` does both)",
        text(&version.stderr).trim()
    );
}

/// LAN client 192.168.1.10 ── lan ── [firewall on q35] ── wan ── router 192.168.1.1: the
/// addresses and MACs of `scenarios/firewall`, whose policy lets the LAN ping out.
#[test]
#[ignore = "needs root, QEMU and libvirtd: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn a_firewall_on_a_libvirt_q35_domain_passes_ping_and_answers_ctl() {
    require_libvirt();
    let image = build("firewall");
    let mut lab = Lab::new();
    let lan = lab.bridge("ql");
    let wan = lab.bridge("qw");
    let client = lab.host("qc", &lan, "02:00:00:01:00:0a", &["192.168.1.10/24"], &[]);
    lab.host("qr", &wan, "02:00:00:02:00:01", &["192.168.1.1/24"], &[]);
    // libvirt's own PCI placement: each NIC behind a PCI Express root port.
    let fw = lab.deploy("q35fw", &image, &[&lan, &wan], &["--machine", "q35"]);
    let xml = text(&must(&["virsh", "-c", URI, "dumpxml", &fw]).stdout);
    assert!(xml.contains("machine='pc-q35"), "{xml}");
    assert!(xml.matches("model='pcie-root-port'").count() >= 2, "{xml}");
    assert!(!xml.contains("virtio-mmio"), "{xml}");

    // The LAN pings the router through the firewall (ARP bridged, echo allowed, replies
    // let back in): eth0 is the first --nic (lan), eth1 the second.
    lab.ping3(&client, "192.168.1.1");
    assert!(ctl_u64(&fw, "eth0.rx_packets") >= 3);
    assert!(ctl_u64(&fw, "eth1.tx_packets") >= 3);
    assert!(ctl_u64(&fw, "fw/pings.nmappings") >= 1);

    let stop = sluice(&["stop", &fw]);
    assert!(stop.status.success(), "{}", report(&stop));
    let state = must(&["virsh", "-c", URI, "domstate", &fw]);
    assert_eq!(text(&state.stdout).trim(), "shut off");
    drop(lab);
}

/// client 10.0.0.10 ── lan ── [NAT 10.0.0.1 | 203.0.113.1] ── mid ── [firewall, a bridge]
/// ── wan ── router 203.0.113.254, server 198.51.100.10: the addresses and MACs of
/// `scenarios/nat` and the firewall's LAN-side policy (`scenarios/firewall`: new TCP to 80,
/// 443 and 22, ICMP echo; nothing else).
#[test]
#[ignore = "needs root, QEMU and libvirtd: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn a_nat_and_a_firewall_chained_on_libvirt_carry_ping_http_and_iperf3() {
    require_libvirt();
    let nat_image = build("nat");
    let fw_image = build("firewall");

    let mut lab = Lab::new();
    let lan = lab.bridge("l");
    let mid = lab.bridge("m");
    let wan = lab.bridge("w");
    let client = lab.host(
        "c",
        &lan,
        "02:00:00:01:00:0a",
        &["10.0.0.10/24"],
        &["default via 10.0.0.1"],
    );
    let server = lab.host(
        "s",
        &wan,
        "02:00:00:02:00:fe",
        &["203.0.113.254/24", "198.51.100.10/32"],
        &[],
    );
    let nat = lab.deploy("nat", &nat_image, &[&lan, &mid], &[]);
    let fw = lab.deploy("fw", &fw_image, &[&mid, &wan], &[]);

    // Both are libvirt domains to libvirt and to sluice.
    for d in [&nat, &fw] {
        let state = must(&["virsh", "-c", URI, "domstate", d]);
        assert_eq!(text(&state.stdout).trim(), "running", "{d}");
    }
    let ps = text(&sluice(&["ps"]).stdout);
    for (d, nics) in [
        (&nat, format!("bridge:{lan} bridge:{mid}")),
        (&fw, format!("bridge:{mid} bridge:{wan}")),
    ] {
        let line = ps
            .lines()
            .find(|l| l.starts_with(d.as_str()))
            .unwrap_or_else(|| panic!("{d} not in sluice ps:\n{ps}"));
        assert!(line.contains(" libvirt ") && line.contains(&nics), "{line}");
    }

    // ICMP echo through both: the NAT maps the ping, the firewall lets it and its replies by.
    lab.ping3(&client, "198.51.100.10");
    assert!(ctl_u64(&nat, "nat/pings.nmappings") >= 1);

    // HTTP through both: the server sees the NAT's public address.
    let web = lab.server(
        &server,
        &[
            "python3",
            "-u",
            "-m",
            "http.server",
            "80",
            "--bind",
            "198.51.100.10",
        ],
        "198.51.100.10",
        80,
    );
    let curl = lab.exec(
        &client,
        &[
            "curl",
            "-sS",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://198.51.100.10/",
        ],
    );
    assert_eq!(text(&curl.stdout), "200", "curl:\n{}", report(&curl));
    let log = std::fs::read_to_string(&web).unwrap();
    assert!(log.contains("203.0.113.1 - - "), "the server saw:\n{log}");

    // A port the firewall does not allow: curl gets nowhere, the firewall counts it.
    let denied_before = ctl_u64(&fw, "fw/lan_denied.count");
    let blocked = lab.exec(
        &client,
        &[
            "curl",
            "-sS",
            "--max-time",
            "3",
            "-o",
            "/dev/null",
            "http://198.51.100.10:8080/",
        ],
    );
    assert!(
        !blocked.status.success(),
        "TCP 8080 went through:\n{}",
        report(&blocked)
    );
    assert!(ctl_u64(&fw, "fw/lan_denied.count") > denied_before);

    // iperf3 on a port the firewall allows (443): TCP throughput through both VMs.
    lab.server(
        &server,
        &["iperf3", "-s", "-1", "-B", "198.51.100.10", "-p", "443"],
        "198.51.100.10",
        443,
    );
    let iperf = lab.exec(
        &client,
        &[
            "iperf3",
            "-c",
            "198.51.100.10",
            "-p",
            "443",
            "-t",
            "2",
            "-J",
        ],
    );
    let json = text(&iperf.stdout);
    assert!(iperf.status.success(), "iperf3:\n{}", report(&iperf));
    let received = json
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bytes\":").nth(1))
        .and_then(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .find(|d| !d.is_empty())
        })
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no bytes received in iperf3's report:\n{json}"));
    assert!(received > 100_000, "iperf3 moved only {received} bytes");
    println!("iperf3 through NAT + firewall on libvirt: {received} bytes in 2 s");

    let logs = text(&sluice(&["logs", &fw]).stdout);
    assert!(logs.starts_with("ready "), "{logs}");

    for d in [&nat, &fw] {
        let stop = sluice(&["stop", d]);
        assert!(stop.status.success(), "{}", report(&stop));
        assert_eq!(text(&stop.stdout).trim(), format!("stopped {d}"));
        let state = must(&["virsh", "-c", URI, "domstate", d]);
        assert_eq!(
            text(&state.stdout).trim(),
            "shut off",
            "{d}: stopped, still defined"
        );
        assert!(!sluice(&["ctl", d, "read", "list"]).status.success());
    }
    let ps = text(&sluice(&["ps"]).stdout);
    assert!(!ps.contains(&nat) && !ps.contains(&fw), "{ps}");
    drop(lab);
}
