//! The scenarios in `scenarios/` as VMs between real Linux hosts: each test boots a
//! scenario's image with two TAP NICs, puts the host side of each TAP into its own network
//! namespace with exactly the addresses and MACs of the scenario's README, and drives
//! traffic through the VM with unmodified tools: `ping`, `nc`, `curl`, `python3 -m
//! http.server` and a small Python TCP server. What the hosts' kernels do (ARP, TCP, ICMP
//! errors, fragment reassembly) is real, so a network function that only passes its own
//! golden files cannot pass these.
//!
//! The wiring, per test (names carry the test process's id and a counter):
//!
//! ```text
//!  netns sl-P-N-lan           netns sl-P-N-vm                    netns sl-P-N-wan
//!  TAP sl-lan  <---- QEMU (sluice boot, eth0 = sl-lan, eth1 = sl-wan) ---->  TAP sl-wan
//! ```
//!
//! QEMU opens a TAP by name in its own namespace, so both TAPs are created in the VM's
//! namespace, the VM boots there, and once it is ready each TAP is moved (`ip link set
//! ... netns`) into its host namespace, which keeps QEMU's open file: frames the VM sends
//! on eth0 arrive on `sl-lan` in the LAN namespace and vice versa. Each host TAP takes the
//! MAC the scenario gives that host, and IPv6 is off so the drop counters only see the
//! tests' traffic. All traffic stays inside the namespaces; every namespace, server and VM
//! is removed by a guard's `Drop`, also when a test fails.
//!
//! The tests need root, `ip` (iproute2), `qemu-system-x86_64`, `ping`, `nc`
//! (netcat-openbsd), `curl` and `python3`; without them they fail and say what is missing
//! (CI installs them with `scripts/setup` and runs as root). They run one at a time: each
//! keeps a TCG VM busy, and the tools' timeouts are short.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod common;
use common::{is_root, SLUICE};

/// One test at a time: every test runs a VM under TCG and times real tools against it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn report(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario-tools");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails, saying what to do, unless this runs as root with every tool the tests use.
fn require_root_and_tools() {
    assert!(
        is_root(),
        "the real-tools scenario tests create network namespaces and TAP devices: run them \
         as root (CI does)"
    );
    let tools: [(&str, &[&str], &str); 6] = [
        ("ip", &["-V"], "iproute2"),
        ("qemu-system-x86_64", &["--version"], "qemu-system-x86"),
        ("ping", &["-V"], "iputils-ping"),
        ("nc", &["-h"], "netcat-openbsd"),
        ("curl", &["--version"], "curl"),
        ("python3", &["--version"], "python3"),
    ];
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(tool, args, _)| {
            Command::new(tool)
                .args(*args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|(_, _, package)| *package)
        .collect();
    assert!(
        missing.is_empty(),
        "the real-tools scenario tests need {}: apt-get install {} (or run scripts/setup)",
        missing.join(", "),
        missing.join(" ")
    );
}

/// Runs a command in the root namespace and returns its output, failing on error.
fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed:\n{}", report(&out));
    out
}

/// Builds a scenario's image once per test run.
fn scenario_image(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let image = work_dir().join(format!("{name}.elf"));
    if built.contains(name) {
        return image;
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
        .join(format!("{name}.click"));
    let out = Command::new(SLUICE)
        .arg("build")
        .arg(&config)
        .arg("-o")
        .arg(&image)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice build");
    assert!(
        out.status.success(),
        "sluice build {}:\n{}",
        config.display(),
        report(&out)
    );
    built.insert(name.to_string());
    image
}

/// One host namespace: the TAP's MAC and MTU, its addresses (with prefix) and routes
/// (`ip route add` arguments).
struct Host<'a> {
    mac: &'a str,
    mtu: Option<u32>,
    addrs: &'a [&'a str],
    routes: &'a [&'a str],
}

/// The namespaces, the VM between them and the servers started in them; all removed on
/// drop.
struct Lab {
    prefix: String,
    lan: String,
    wan: String,
    vm_ns: String,
    vm_name: String,
    control: PathBuf,
    vm: Option<Child>,
    servers: Vec<Child>,
    _serial: MutexGuard<'static, ()>,
}

/// The TAP names (each lives in its own namespace, so they need not be unique).
const LAN_TAP: &str = "sl-lan";
const WAN_TAP: &str = "sl-wan";

impl Lab {
    /// Boots `scenario` with eth0 on the LAN host's TAP and eth1 on the WAN host's.
    fn new(scenario: &str, lan: Host<'_>, wan: Host<'_>) -> Lab {
        let serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        require_root_and_tools();
        remove_leftovers();
        let image = scenario_image(scenario);
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "sl-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let vm_name = format!("{prefix}-{scenario}");
        let mut lab = Lab {
            lan: format!("{prefix}-lan"),
            wan: format!("{prefix}-wan"),
            vm_ns: format!("{prefix}-vm"),
            control: work_dir().join(format!("{vm_name}.ctl")),
            vm_name,
            prefix,
            vm: None,
            servers: Vec::new(),
            _serial: serial,
        };
        for ns in [&lab.vm_ns, &lab.lan, &lab.wan] {
            run(&["ip", "netns", "add", ns]);
            for key in ["all", "default"] {
                lab.exec_ok(
                    ns,
                    &[
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                    ],
                );
            }
            lab.exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
        }
        for tap in [LAN_TAP, WAN_TAP] {
            run(&[
                "ip", "-n", &lab.vm_ns, "tuntap", "add", "dev", tap, "mode", "tap",
            ]);
        }
        lab.boot(&image);
        for (tap, ns, host) in [
            (LAN_TAP, lab.lan.clone(), lan),
            (WAN_TAP, lab.wan.clone(), wan),
        ] {
            run(&["ip", "-n", &lab.vm_ns, "link", "set", tap, "netns", &ns]);
            run(&["ip", "-n", &ns, "link", "set", tap, "address", host.mac]);
            if let Some(mtu) = host.mtu {
                run(&["ip", "-n", &ns, "link", "set", tap, "mtu", &mtu.to_string()]);
            }
            for addr in host.addrs {
                run(&["ip", "-n", &ns, "addr", "add", addr, "dev", tap]);
            }
            run(&["ip", "-n", &ns, "link", "set", tap, "up"]);
            for route in host.routes {
                let mut args = vec!["ip", "-n", &ns, "route", "add"];
                args.extend(route.split_whitespace());
                run(&args);
            }
        }
        lab
    }

    /// Starts `sluice boot` in the VM's namespace and waits for its ready line.
    fn boot(&mut self, image: &Path) {
        // 32 MiB: the rewriters' flow tables want more than the 8 MiB default leaves.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.vm_ns, SLUICE, "boot"])
            .arg(image)
            .args(["--mem", "32M", "--name", &self.vm_name, "--control"])
            .arg(&self.control)
            .args(["--nic", &format!("tap:{LAN_TAP}")])
            .args(["--nic", &format!("tap:{WAN_TAP}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice boot");
        self.vm = Some(child);
        common::wait_for_ready(self.vm.as_mut().unwrap());
    }

    fn command(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs a tool in namespace `ns` and returns its output, whatever its status.
    fn exec(&self, ns: &str, args: &[&str]) -> Output {
        self.command(ns, args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {args:?}: {e}"))
    }

    /// Runs a tool in namespace `ns`; it must succeed.
    fn exec_ok(&self, ns: &str, args: &[&str]) -> Output {
        let out = self.exec(ns, args);
        assert!(
            out.status.success(),
            "in {ns}: {args:?} failed ({}):\n{}",
            out.status,
            report(&out)
        );
        out
    }

    /// Starts a server in namespace `ns` whose stdout and stderr go to a log file, and
    /// waits until something listens on TCP `addr:port` there. Returns the log's path.
    fn server(&mut self, ns: &str, args: &[&str], addr: &str, port: u16) -> PathBuf {
        let log = work_dir().join(format!("{}-server{}.log", self.prefix, self.servers.len()));
        let file = File::create(&log).unwrap();
        let child = self
            .command(ns, args)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {args:?} in {ns}: {e}"));
        self.servers.push(child);
        let want = format!("{addr}:{port}");
        let start = Instant::now();
        loop {
            let out = self.exec_ok(ns, &["ss", "-Hltn"]);
            if text(&out.stdout)
                .split_whitespace()
                .any(|field| field == want)
            {
                return log;
            }
            if let Ok(Some(status)) = self.servers.last_mut().unwrap().try_wait() {
                panic!(
                    "{args:?} in {ns} ended ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{args:?} in {ns} does not listen on {want} after 30 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A handler's value, read with `sluice ctl`.
    fn read(&self, handler: &str) -> String {
        let out = Command::new(SLUICE)
            .arg("ctl")
            .arg(&self.control)
            .args(["read", handler])
            .output()
            .expect("run sluice ctl");
        assert!(
            out.status.success(),
            "sluice ctl read {handler}:\n{}",
            report(&out)
        );
        text(&out.stdout).trim().to_string()
    }

    fn read_u64(&self, handler: &str) -> u64 {
        let v = self.read(handler);
        v.parse()
            .unwrap_or_else(|_| panic!("{handler} = {v:?} is not a number"))
    }

    /// `ping -c COUNT` from `ns`; returns ping's whole output and whether it succeeded.
    fn ping(&self, ns: &str, extra: &[&str], dst: &str) -> (bool, String) {
        let mut args = vec!["ping", "-n", "-i", "0.2", "-W", "3"];
        args.extend(extra);
        args.push(dst);
        let out = self.exec(ns, &args);
        (out.status.success(), report(&out))
    }

    /// Pings must all be answered.
    fn ping_ok(&self, ns: &str, count: u32, dst: &str) -> String {
        let count = count.to_string();
        let (ok, out) = self.ping(ns, &["-c", &count], dst);
        assert!(
            ok && out.contains(&format!("{count} received")),
            "ping {dst} from {ns}:\n{out}"
        );
        out
    }

    /// `curl` from `ns`; returns (exit code, stdout + stderr).
    fn curl(&self, ns: &str, url: &str, max_time: u32) -> (i32, String) {
        let out = self.exec(
            ns,
            &[
                "curl",
                "-sS",
                "--max-time",
                &max_time.to_string(),
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                url,
            ],
        );
        (out.status.code().unwrap_or(-1), report(&out))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        if let Some(mut vm) = self.vm.take() {
            let _ = Command::new(SLUICE)
                .args(["stop", &self.vm_name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !matches!(vm.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = vm.kill();
            let _ = vm.wait();
        }
        // Deleting a namespace destroys the TAPs in it.
        for ns in [&self.lan, &self.wan, &self.vm_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Deletes namespaces this file's tests left behind in runs that were killed before their
/// guards could run (their names carry the process id of a process that is gone).
fn remove_leftovers() {
    let out = run(&["ip", "netns", "list"]);
    for line in text(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let mut parts = name.split('-');
        if parts.next() != Some("sl") {
            continue;
        }
        let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let is_ours = ["-lan", "-wan", "-vm"].iter().any(|s| name.ends_with(s));
        if is_ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// How long a tool may take for what must work (it returns as soon as it does; the machine
/// may be busy). What must fail is given 2 s.
const SUCCESS_SECS: u32 = 10;

/// curl's exit code when `--max-time` runs out.
const CURL_TIMEOUT: i32 = 28;

// ---- firewall --------------------------------------------------------------------------

/// LAN: the client 192.168.1.10 and the published server 192.168.1.20 share one host (the
/// firewall bridges, so which MAC answers for which address does not matter to it); WAN:
/// the upstream router 192.168.1.1.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn firewall_real_tools() {
    let mut lab = Lab::new(
        "firewall",
        Host {
            mac: "02:00:00:01:00:0a",
            mtu: None,
            addrs: &["192.168.1.10/24", "192.168.1.20/24"],
            routes: &[],
        },
        Host {
            mac: "02:00:00:02:00:01",
            mtu: None,
            addrs: &["192.168.1.1/24"],
            routes: &[],
        },
    );
    let (lan, wan) = (lab.lan.clone(), lab.wan.clone());
    let web = |port: &'static str, addr: &'static str| {
        ["python3", "-u", "-m", "http.server", port, "--bind", addr]
    };
    let wan_web = lab.server(&wan, &web("80", "192.168.1.1"), "192.168.1.1", 80);
    let wan_other = lab.server(&wan, &web("8080", "192.168.1.1"), "192.168.1.1", 8080);
    let lan_web = lab.server(&lan, &web("80", "192.168.1.20"), "192.168.1.20", 80);
    let lan_other = lab.server(&lan, &web("8080", "192.168.1.10"), "192.168.1.10", 8080);

    // LAN -> WAN: ICMP echo is allowed (ARP is bridged on the way).
    lab.ping_ok(&lan, 3, "192.168.1.1");

    // LAN -> WAN TCP 80 is allowed: curl gets the page, the server saw the LAN client.
    let (code, out) = lab.curl(&lan, "http://192.168.1.1/", SUCCESS_SECS);
    assert_eq!((code, out.as_str()), (0, "200"), "curl LAN -> WAN:80");
    let log = std::fs::read_to_string(&wan_web).unwrap();
    assert!(
        log.contains("192.168.1.10 - - ") && log.contains("\"GET / HTTP/1.1\" 200"),
        "the WAN web server's log:\n{log}"
    );

    // LAN -> WAN TCP 8080 is not: the SYNs are dropped, curl times out.
    let lan_denied = lab.read_u64("fw/lan_denied.count");
    let (code, out) = lab.curl(&lan, "http://192.168.1.1:8080/", 2);
    assert_eq!(
        code, CURL_TIMEOUT,
        "curl LAN -> WAN:8080 must time out: {out}"
    );
    let now = lab.read_u64("fw/lan_denied.count");
    assert!(
        now > lan_denied,
        "fw/lan_denied.count {lan_denied} -> {now}"
    );
    // nc agrees.
    let out = lab.exec(&lan, &["nc", "-z", "-w", "2", "192.168.1.1", "8080"]);
    assert!(
        !out.status.success(),
        "nc LAN -> WAN:8080:\n{}",
        report(&out)
    );
    let log = std::fs::read_to_string(&wan_other).unwrap();
    assert!(
        !log.contains("GET"),
        "the blocked server was reached:\n{log}"
    );

    // WAN -> the published server 192.168.1.20:80 is allowed.
    let (code, out) = lab.curl(&wan, "http://192.168.1.20/", SUCCESS_SECS);
    assert_eq!(
        (code, out.as_str()),
        (0, "200"),
        "curl WAN -> 192.168.1.20:80"
    );
    let log = std::fs::read_to_string(&lan_web).unwrap();
    assert!(
        log.contains("192.168.1.1 - - "),
        "the LAN web server's log:\n{log}"
    );

    // WAN -> a LAN host's other port, and WAN pings, are not.
    let wan_denied = lab.read_u64("fw/wan_denied.count");
    let (code, out) = lab.curl(&wan, "http://192.168.1.10:8080/", 2);
    assert_eq!(
        code, CURL_TIMEOUT,
        "curl WAN -> LAN:8080 must time out: {out}"
    );
    let out = lab.exec(&wan, &["nc", "-z", "-w", "2", "192.168.1.20", "22"]);
    assert!(!out.status.success(), "nc WAN -> LAN:22:\n{}", report(&out));
    let (ok, out) = lab.ping(&wan, &["-c", "1", "-W", "1"], "192.168.1.10");
    assert!(!ok && out.contains("0 received"), "ping WAN -> LAN:\n{out}");
    let now = lab.read_u64("fw/wan_denied.count");
    assert!(
        now >= wan_denied + 3,
        "fw/wan_denied.count {wan_denied} -> {now}: a SYN to :8080, a SYN to :22 and a ping"
    );
    let log = std::fs::read_to_string(&lan_other).unwrap();
    assert!(
        !log.contains("GET"),
        "the blocked server was reached:\n{log}"
    );

    // The flow table holds the connections that were allowed.
    assert!(lab.read_u64("fw/flows.nmappings") >= 2);
}

// ---- nat -------------------------------------------------------------------------------

/// LAN: the client 10.0.0.10 and the server 10.0.0.20 on one host, default route via the
/// gateway 10.0.0.1. WAN: the upstream router 203.0.113.254, which also holds an outside
/// server's address, 198.51.100.10.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn nat_real_tools() {
    let mut lab = Lab::new(
        "nat",
        Host {
            mac: "02:00:00:01:00:0a",
            mtu: None,
            addrs: &["10.0.0.10/24", "10.0.0.20/24"],
            routes: &["default via 10.0.0.1"],
        },
        Host {
            mac: "02:00:00:02:00:fe",
            mtu: None,
            addrs: &["203.0.113.254/24", "198.51.100.10/32"],
            routes: &[],
        },
    );
    let (lan, wan) = (lab.lan.clone(), lab.wan.clone());

    // The gateway answers pings on both sides; a ping to the outside goes through the NAT.
    lab.ping_ok(&lan, 2, "10.0.0.1");
    lab.ping_ok(&wan, 2, "203.0.113.1");
    lab.ping_ok(&lan, 3, "198.51.100.10");
    assert!(lab.read_u64("nat/pings.nmappings") >= 1);

    // TCP out: the outside server sees the public address and a port from 50000-65535.
    let nc_log = lab.server(
        &wan,
        &["nc", "-n", "-v", "-l", "198.51.100.10", "7000"],
        "198.51.100.10",
        7000,
    );
    let out = lab
        .command(
            &lan,
            &[
                "sh",
                "-c",
                "echo hello from the LAN | nc -N -w 10 198.51.100.10 7000",
            ],
        )
        .output()
        .expect("run nc");
    assert!(
        out.status.success(),
        "nc LAN -> 198.51.100.10:7000:\n{}",
        report(&out)
    );
    let log = wait_for_log(&nc_log, "hello from the LAN");
    let peer = log
        .lines()
        .find_map(|l| l.strip_prefix("Connection received on "))
        .unwrap_or_else(|| panic!("nc printed no peer:\n{log}"));
    let (addr, port) = peer.trim().split_once(' ').expect("ADDRESS PORT");
    assert_eq!(addr, "203.0.113.1", "the outside server's peer: {log}");
    let port: u16 = port.parse().expect("a port number");
    assert!(port >= 50000, "translated source port {port}: {log}");

    // HTTP out: curl gets the page, http.server logs the public address.
    let web = lab.server(
        &wan,
        &[
            "python3",
            "-u",
            "-m",
            "http.server",
            "8000",
            "--bind",
            "198.51.100.10",
        ],
        "198.51.100.10",
        8000,
    );
    let (code, out) = lab.curl(&lan, "http://198.51.100.10:8000/", SUCCESS_SECS);
    assert_eq!((code, out.as_str()), (0, "200"), "curl LAN -> outside");
    let log = wait_for_log(&web, "\"GET / HTTP/1.1\" 200");
    assert!(
        log.contains("203.0.113.1 - - ") && !log.contains("10.0.0."),
        "the outside server must see only the public address:\n{log}"
    );

    // The port forward: 203.0.113.1:8080 from outside reaches 10.0.0.20:80, which sees the
    // real client address.
    let inside = lab.server(
        &lan,
        &[
            "python3",
            "-u",
            "-m",
            "http.server",
            "80",
            "--bind",
            "10.0.0.20",
        ],
        "10.0.0.20",
        80,
    );
    let (code, out) = lab.curl(&wan, "http://203.0.113.1:8080/", SUCCESS_SECS);
    assert_eq!(
        (code, out.as_str()),
        (0, "200"),
        "curl outside -> 203.0.113.1:8080"
    );
    let log = wait_for_log(&inside, "\"GET / HTTP/1.1\" 200");
    assert!(
        log.contains("203.0.113.254 - - "),
        "the LAN server's log:\n{log}"
    );

    // Nothing else from outside gets in: another public port times out and is counted.
    let dropped = lab.read_u64("nat/wan_dropped.count");
    let (code, out) = lab.curl(&wan, "http://203.0.113.1:80/", 2);
    assert_eq!(code, CURL_TIMEOUT, "curl outside -> 203.0.113.1:80: {out}");
    let now = lab.read_u64("nat/wan_dropped.count");
    assert!(now > dropped, "nat/wan_dropped.count {dropped} -> {now}");
    assert!(lab.read_u64("nat/rw.nmappings") >= 3);
}

/// Waits (a few seconds at most) until a server's log contains `what`; returns the log.
fn wait_for_log(log: &Path, what: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} has no {what:?}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- router ----------------------------------------------------------------------------

/// eth0: the host 10.1.0.10 on 10.1.0.0/24; eth1: the host 10.2.0.20 on 10.2.0.0/24, whose
/// link has the router's eth1 MTU, 1400. Each host's default route is the router.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn router_real_tools() {
    let mut lab = Lab::new(
        "router",
        Host {
            mac: "02:00:00:01:00:0a",
            mtu: None,
            addrs: &["10.1.0.10/24"],
            routes: &["default via 10.1.0.1"],
        },
        Host {
            mac: "02:00:00:02:00:14",
            mtu: Some(1400),
            addrs: &["10.2.0.20/24"],
            routes: &["default via 10.2.0.1"],
        },
    );
    let (lan, wan) = (lab.lan.clone(), lab.wan.clone());

    // Across the router both ways, one hop: TTL 64 arrives as 63.
    let out = lab.ping_ok(&lan, 3, "10.2.0.20");
    assert!(out.contains("ttl=63"), "{out}");
    let out = lab.ping_ok(&wan, 3, "10.1.0.10");
    assert!(out.contains("ttl=63"), "{out}");
    // The router's own addresses answer, the far one too.
    lab.ping_ok(&lan, 1, "10.1.0.1");
    lab.ping_ok(&lan, 1, "10.2.0.1");

    // TTL 1 expires at the router: time exceeded from its address on the sender's subnet.
    let (ok, out) = lab.ping(&lan, &["-c", "1", "-t", "1"], "10.2.0.20");
    assert!(!ok, "ping -t 1 must not be answered:\n{out}");
    let from = out
        .lines()
        .find(|l| l.contains("Time to live exceeded"))
        .unwrap_or_else(|| panic!("no time exceeded in ping's output:\n{out}"));
    assert!(from.starts_with("From 10.1.0.1 "), "{from}");
    assert!(lab.read_u64("rt/dt1.drops") >= 1);

    // Larger than eth1's MTU: the router fragments (the LAN host sends 1500-byte
    // fragments, the router cuts them to 1400, the far host reassembles and answers).
    let (ok, out) = lab.ping(&lan, &["-c", "2", "-s", "2000"], "10.2.0.20");
    assert!(ok && out.contains("2 received"), "ping -s 2000:\n{out}");
    // With DF set, the router says fragmentation is needed instead.
    let (ok, out) = lab.ping(&lan, &["-c", "1", "-s", "1400", "-M", "do"], "10.2.0.20");
    assert!(!ok, "ping -M do -s 1400 must not be answered:\n{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("From 10.1.0.1 ") && l.contains("Frag needed")),
        "no fragmentation needed from 10.1.0.1:\n{out}"
    );

    // TCP across the router: 200 kB arrive whole.
    let sink = lab.server(
        &wan,
        &["sh", "-c", "nc -l 10.2.0.20 5000 | wc -c"],
        "10.2.0.20",
        5000,
    );
    let out = lab
        .command(
            &lan,
            &[
                "sh",
                "-c",
                "head -c 200000 /dev/zero | nc -N -w 10 10.2.0.20 5000",
            ],
        )
        .output()
        .expect("run nc");
    assert!(
        out.status.success(),
        "nc LAN -> 10.2.0.20:5000:\n{}",
        report(&out)
    );
    let log = wait_for_log(&sink, "\n");
    assert_eq!(log.trim(), "200000", "bytes the far host received");
}

// ---- load-balancer ---------------------------------------------------------------------

/// A TCP server for one backend address: for every line a connection sends, prints
/// `BACKEND PEER_ADDR PEER_PORT LINE` and answers `BACKEND LINE`.
const BACKEND: &str = r#"
import socket, sys, threading
addr, port = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((addr, port))
listener.listen(64)
def serve(conn, peer):
    with conn, conn.makefile("r") as lines:
        for line in lines:
            with lock:
                print(addr, peer[0], peer[1], line.strip(), flush=True)
            conn.sendall(("%s %s\n" % (addr, line.strip())).encode())
while True:
    conn, peer = listener.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"#;

/// Front: the client 192.0.2.10. Back: both backends, 10.0.0.11 and 10.0.0.12, on one
/// host whose default route is the balancer's 10.0.0.1.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn load_balancer_real_tools() {
    const CONNECTIONS: usize = 20;
    let mut lab = Lab::new(
        "load-balancer",
        Host {
            mac: "02:00:00:01:00:0a",
            mtu: None,
            addrs: &["192.0.2.10/24"],
            routes: &[],
        },
        Host {
            mac: "02:00:00:02:00:0b",
            mtu: None,
            addrs: &["10.0.0.11/24", "10.0.0.12/24"],
            routes: &["default via 10.0.0.1"],
        },
    );
    let (front, back) = (lab.lan.clone(), lab.wan.clone());
    let logs: Vec<PathBuf> = ["10.0.0.11", "10.0.0.12"]
        .iter()
        .map(|addr| {
            lab.server(
                &back,
                &["python3", "-u", "-c", BACKEND, addr, "80"],
                addr,
                80,
            )
        })
        .collect();

    // The VIP answers pings.
    lab.ping_ok(&front, 2, "192.0.2.100");

    // CONNECTIONS clients at once, each from its own source port, each sending two lines
    // a moment apart (two segments) and printing what the backend answers.
    let clients: Vec<(usize, Child)> = (0..CONNECTIONS)
        .map(|i| {
            let script = format!(
                "{{ echo c{i} first; sleep 0.3; echo c{i} second; }} | nc -N -w 10 192.0.2.100 80"
            );
            let child = lab
                .command(&front, &["sh", "-c", &script])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start nc");
            (i, child)
        })
        .collect();
    let mut answered_by = BTreeMap::new();
    for (i, child) in clients {
        let out = child.wait_with_output().expect("wait for nc");
        let answers = text(&out.stdout);
        assert!(out.status.success(), "client c{i}:\n{}", report(&out));
        let backends: BTreeSet<&str> = answers
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            answers.lines().count(),
            2,
            "client c{i} must get both answers:\n{answers}"
        );
        assert_eq!(
            backends.len(),
            1,
            "client c{i} answered by two backends:\n{answers}"
        );
        answered_by.insert(i, backends.into_iter().next().unwrap().to_string());
    }

    // What the backends saw: every line of a connection at one backend, from one client
    // port; the real client address; the connections shared out in turn.
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new(); // "cI" -> (backend, port)
    let mut per_backend: BTreeMap<String, usize> = BTreeMap::new();
    let mut ports = BTreeSet::new();
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [backend, peer, port, conn, which] = f[..] else {
                panic!("unexpected backend output {line:?}");
            };
            assert_eq!(
                peer, "192.0.2.10",
                "backends see the client's address: {line}"
            );
            let at = (backend.to_string(), port.to_string());
            if which == "first" {
                *per_backend.entry(backend.to_string()).or_default() += 1;
                ports.insert(port.to_string());
            }
            if let Some(before) = seen.insert(conn.to_string(), at.clone()) {
                assert_eq!(before, at, "{conn}'s two lines went to different places");
            }
        }
    }
    assert_eq!(
        seen.len(),
        CONNECTIONS,
        "connections the backends saw: {seen:?}"
    );
    assert_eq!(ports.len(), CONNECTIONS, "distinct client ports: {ports:?}");
    for (conn, (backend, _)) in &seen {
        let i: usize = conn[1..].parse().unwrap();
        assert_eq!(
            &answered_by[&i], backend,
            "{conn}: answered by another backend"
        );
    }
    let counts: Vec<usize> = ["10.0.0.11", "10.0.0.12"]
        .iter()
        .map(|b| per_backend.get(*b).copied().unwrap_or(0))
        .collect();
    println!("connections per backend: {per_backend:?}");
    assert_eq!(
        counts,
        [CONNECTIONS / 2, CONNECTIONS / 2],
        "round robin over two backends"
    );

    // Another port on the VIP is not served.
    let dropped = lab.read_u64("lb/front_dropped.count");
    let out = lab.exec(&front, &["nc", "-z", "-w", "2", "192.0.2.100", "81"]);
    assert!(!out.status.success(), "nc VIP:81:\n{}", report(&out));
    let now = lab.read_u64("lb/front_dropped.count");
    assert!(now > dropped, "lb/front_dropped.count {dropped} -> {now}");
}
