//! Smoke runs of `sluice bench boot|density|e2e|hotconfig|click|tcp` with tiny counts: the commands work end to
//! end under QEMU, print JSON of the documented shape, and their numbers are sane. Timing
//! targets live in BENCHMARKS.md, never here.
//!
//! These tests need `qemu-system-x86_64` and the `x86_64-unknown-none` Rust target; the
//! `bench tcp` ones also root and iperf3. Without them they fail, loudly: CI installs them
//! (`scripts/setup`) and runs as root.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod common;
use common::{is_root, require_qemu, sluice, text};

/// A firewall that passes the bench's UDP frames (to port 7) from eth0 to eth1.
const FIREWALL: &str = "\
FromDevice(0)
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> IPFilter(allow udp && dst port 7, deny all)
  -> Unstrip(14)
  -> ToDevice(1);
cl[1] -> Discard;
";

/// A firewall that lets only DNS (UDP to port 53) from eth0 out of eth1: the bench's
/// default first port, 7, is dropped.
const DNS_ONLY: &str = "\
FromDevice(0)
  -> cl :: Classifier(12/0800, -)
  -> Strip(14)
  -> CheckIPHeader
  -> IPFilter(allow udp && dst port 53, deny all)
  -> Unstrip(14)
  -> ToDevice(1);
cl[1] -> Discard;
";

/// Builds the firewall image once per test run.
fn image() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    build_once(&BUILT, "firewall", FIREWALL)
}

/// Builds `config` as `NAME.elf` once per test run (builds share the unikernel's target,
/// so one at a time).
fn build_once(slot: &Mutex<Option<PathBuf>>, name: &str, config_text: &str) -> PathBuf {
    static ONE_BUILD: Mutex<()> = Mutex::new(());
    let _one = ONE_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut built = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.as_ref() {
        return p.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join(format!("{name}.click"));
    let image = dir.join(format!("{name}.elf"));
    std::fs::write(&config, config_text).unwrap();
    let out = sluice(&[
        "build",
        config.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "sluice build failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    *built = Some(image.clone());
    image
}

/// Runs `sluice bench ARGS --json` on the firewall and returns the JSON line.
fn bench_json(args: &[&str]) -> String {
    bench_json_on(&image(), args).0
}

/// Runs `sluice bench ARGS --json` on `image`; returns the JSON line and the progress
/// lines (standard error).
fn bench_json_on(image: &Path, args: &[&str]) -> (String, String) {
    require_qemu("`sluice bench`");
    let mut all = vec!["bench", args[0], image.to_str().unwrap()];
    all.extend_from_slice(&args[1..]);
    all.push("--json");
    let out = sluice(&all);
    assert!(
        out.status.success(),
        "sluice {}: {}\n{}",
        all.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in:\n{stdout}"))
        .to_string();
    println!("{line}");
    (line, text(&out.stderr))
}

/// The number after `"key": ` (the first occurrence after `after`, if given).
fn number(json: &str, key: &str, after: Option<&str>) -> f64 {
    let from = after.map_or(0, |a| {
        json.find(&format!("\"{a}\""))
            .unwrap_or_else(|| panic!("no {a} in {json}"))
    });
    let pat = format!("\"{key}\": ");
    let at = json[from..]
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + from
        + pat.len();
    let end = json[at..]
        .find([',', '}', ']'])
        .map_or(json.len(), |e| at + e);
    json[at..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_boot_reports_times_size_and_memory() {
    let j = bench_json(&["boot", "--runs", "2"]);
    assert!(j.contains("\"command\": \"boot\""), "{j}");
    assert_eq!(number(&j, "runs", None), 2.0);
    let size = number(&j, "image_bytes", None);
    assert!(size > 10_000.0 && size < 16.0 * 1024.0 * 1024.0, "{size}");
    let launcher = number(&j, "median", Some("launcher_to_ready_ms"));
    assert!(launcher > 0.0 && launcher < 30_000.0, "{launcher}");
    let entry = number(&j, "median", Some("entry_to_ready_us"));
    assert!(
        entry > 0.0 && entry < launcher * 1000.0,
        "{entry} vs {launcher} ms"
    );
    assert_eq!(number(&j, "n", Some("entry_to_ready_us")), 2.0);
    let mem = number(&j, "min_mem_kib", None);
    assert!(
        (64.0..=256.0 * 1024.0).contains(&mem) && mem % 64.0 == 0.0,
        "{mem}"
    );
}

/// A network function that drops the first port tried: the bench finds the one it
/// forwards, says so, and the memory search measures memory, not the filter.
#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_boot_sends_a_flow_the_image_forwards_and_says_which() {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let image = build_once(&BUILT, "dns-only", DNS_ONLY);
    let (j, progress) = bench_json_on(&image, &["boot", "--runs", "1"]);
    assert_eq!(number(&j, "udp_port", None), 53.0, "{j}");
    assert!(
        progress.contains(
            "flow: UDP 192.0.2.1:12345 -> 192.0.2.2:53 into eth0, out of eth1 \
             (the first of ports 7, 53, 443, 80, 123, 5201, 9 the image forwards"
        ),
        "{progress}"
    );
    let mem = number(&j, "min_mem_kib", None);
    assert!((64.0..=64.0 * 1024.0).contains(&mem), "{mem}");
    // A port asked for that the image drops: said plainly, before any memory search.
    let out = sluice(&[
        "bench",
        "boot",
        image.to_str().unwrap(),
        "--runs",
        "1",
        "--udp-port",
        "7",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "the image boots but does not forward the bench's frames (UDP \
             192.0.2.1:12345 -> 192.0.2.2:7 into eth0, out of eth1): pass --udp-port PORT"
        ),
        "{err}"
    );
    assert!(
        !err.contains("MiB") && !err.contains("--mem 8192K"),
        "{err}"
    );
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_density_starts_and_stops_every_vm() {
    let j = bench_json(&["density", "--vms", "3", "--mem", "8M"]);
    assert!(j.contains("\"command\": \"density\""), "{j}");
    assert_eq!(number(&j, "vms", None), 3.0);
    assert_eq!(number(&j, "answered", None), 3.0);
    assert!(j.contains("\"all_answered\": true"), "{j}");
    assert!(number(&j, "start_rate_vms_per_s", None) > 0.0);
    assert!(number(&j, "all_ready_s", None) > 0.0);
    let rss = number(&j, "host_rss_kib_total", None);
    assert!(
        rss > 3.0 * 1024.0,
        "three QEMUs take more than 1 MiB each: {rss}"
    );
    assert_eq!(number(&j, "n", Some("rss_kib_per_vm")), 3.0);
    // Every VM was torn down: none of this test's VMs is still recorded as running.
    let ps = text(&sluice(&["ps"]).stdout);
    let leftover: Vec<&str> = ps
        .lines()
        .filter(|l| l.contains("-d0-") || l.contains("-d1-") || l.contains("-d2-"))
        .collect();
    assert!(leftover.is_empty(), "VMs left running:\n{ps}");
}

#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_e2e_measures_nf_and_echo() {
    let j = bench_json(&[
        "e2e",
        "--packets",
        "200",
        "--latency-packets",
        "50",
        "--sizes",
        "64,512,1500",
    ]);
    assert!(j.contains("\"command\": \"e2e\""), "{j}");
    for size in ["64", "512", "1500"] {
        assert!(j.contains(&format!("\"size\": {size},")), "{size}: {j}");
    }
    let nf = number(&j, "nf_pps", None);
    let echo = number(&j, "echo_pps", None);
    assert!(nf > 0.0 && echo > 0.0, "{j}");
    let received = number(&j, "nf_received", None);
    assert!(received >= 100.0, "most of 200 frames forwarded: {j}");
    let p50 = number(&j, "median", Some("nf"));
    let p99 = number(&j, "p99", Some("nf"));
    assert!(p50 > 0.0 && p50 <= p99 && p99 < 1e6, "{j}");
}

/// `sluice bench hotconfig` on the NAT and firewall pair of benches/vm: every swap
/// succeeds, the stream keeps flowing, and the NAT's mapping of the stream survives.
#[test]
#[ignore = "needs QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_hotconfig_swaps_under_traffic_and_keeps_the_mapping() {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let vm_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/vm");
    let a = vm_dir.join("nat-fw-a.click");
    let b = vm_dir.join("nat-fw-b.click");
    let image = build_once(&BUILT, "nat-fw-a", &std::fs::read_to_string(&a).unwrap());
    let (j, progress) = bench_json_on(
        &image,
        &[
            "hotconfig",
            "--config",
            a.to_str().unwrap(),
            "--config",
            b.to_str().unwrap(),
            "--swaps",
            "3",
            "--rate",
            "300",
        ],
    );
    assert!(j.contains("\"command\": \"hotconfig\""), "{j}");
    assert_eq!(number(&j, "swaps", None), 3.0, "{j}");
    assert_eq!(progress.matches("swap ").count(), 3, "{progress}");
    // Swaps alternate, the second configuration first.
    let per_swap = &j[j.find("\"per_swap\"").expect("per_swap")..];
    let order: Vec<&str> = per_swap
        .match_indices("nat-fw-")
        .map(|(at, _)| &per_swap[at..at + 8])
        .collect();
    assert_eq!(order, ["nat-fw-b", "nat-fw-a", "nat-fw-b"], "{j}");
    let sent = number(&j, "sent", None);
    let received = number(&j, "received", None);
    let lost = number(&j, "lost", None);
    assert!(sent > 300.0, "the stream ran for over a second: {j}");
    assert_eq!(received + lost, sent, "{j}");
    assert!(
        received >= 0.95 * sent,
        "{received} of {sent} frames came out: {j}"
    );
    let in_windows = number(&j, "lost_in_swap_windows", None);
    let baseline = number(&j, "lost", Some("baseline"));
    assert_eq!(in_windows + baseline, lost, "{j}");
    for key in ["median", "p99", "max"] {
        let ms = number(&j, key, Some("swap_ms"));
        assert!(ms > 0.0, "swap_ms.{key}: {j}");
        // The guest's part of a swap is a part of what the client waits for.
        let guest = number(&j, key, Some("guest_swap_ms"));
        assert!(guest > 0.0 && guest < ms, "guest_swap_ms.{key}: {j}");
    }
    // The NAT translated the stream to its pattern's address, once and for all.
    assert!(j.contains("\"source\": \"21.0.0.1:"), "{j}");
    assert_eq!(number(&j, "remapped", None), 0.0, "{j}");
    assert!(
        j.contains("\"entry_before\": \"(192.0.2.1, 12345, 192.0.2.2, 7) => (21.0.0.1, "),
        "{j}"
    );
    assert!(j.contains("\"mappings_kept\": true"), "{j}");
    // The VM is gone.
    let ps = text(&sluice(&["ps"]).stdout);
    assert!(
        !ps.lines().any(|l| l.contains("-hot-")),
        "VM left running:\n{ps}"
    );
}

/// `sluice bench click` runs each configuration as a whole process beside a "Click" (here
/// a stand-in script that writes what Click's DriverManager would), takes the count each
/// wrote, and reports a ratio only when both counted the same packets.
#[test]
fn bench_click_runs_both_side_by_side() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-click");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("tiny.click");
    std::fs::write(
        &config,
        "src :: InfiniteSource(LIMIT 1000, STOP true) -> Discard;\n\
         DriverManager(wait_stop, print >stats.txt \"src.count=$(src.count)\")\n",
    )
    .unwrap();
    let fake = dir.join("click");
    std::fs::write(&fake, "#!/bin/sh\necho src.count=999 > stats.txt\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sluice(&[
        "bench",
        "click",
        config.to_str().unwrap(),
        "--click",
        fake.to_str().unwrap(),
        "--runs",
        "2",
        "--json",
    ]);
    let json = text(&out.stdout);
    assert!(out.status.success(), "{json}{}", text(&out.stderr));
    assert!(json.contains("\"config\": \"tiny\""), "{json}");
    assert!(json.contains("\"packets\": 1000"), "sluice's count: {json}");
    assert!(
        json.contains("\"packets\": 999"),
        "the other's count: {json}"
    );
    // In a scratch directory each time: nothing left beside the configuration.
    assert!(!dir.join("stats.txt").exists());
    let table = sluice(&["bench", "click", config.to_str().unwrap(), "--runs", "1"]);
    let t = text(&table.stdout);
    assert!(table.status.success(), "{t}{}", text(&table.stderr));
    assert!(t.contains("tiny") && t.contains("1000"), "{t}");
    let missing = sluice(&["bench", "click", "/nonexistent.click"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no such file"),
        "{}",
        text(&missing.stderr)
    );
}

// ---- bench tcp ---------------------------------------------------------------------------

/// The 3-rule firewall `sluice bench tcp` is measured with: TCP (except to SSH) and ICMP
/// both ways.
const FIREWALL3_TCP: &str = include_str!("../../benches/vm/firewall3-tcp.click");

/// Lets pings and TCP to port 80 (and the replies) through, nothing else: iperf3's own
/// port, 5201, is dropped.
const WEB_ONLY: &str = "\
FromDevice(0) -> c0 :: Classifier(12/0800, -) -> Strip(14) -> CheckIPHeader
  -> IPFilter(allow tcp && dst port 80, allow icmp type echo) -> Unstrip(14) -> ToDevice(1);
FromDevice(1) -> c1 :: Classifier(12/0800, -) -> Strip(14) -> CheckIPHeader
  -> IPFilter(allow tcp && src port 80, allow icmp type echo-reply) -> Unstrip(14) -> ToDevice(0);
c0[1] -> Discard;
c1[1] -> Discard;
";

/// Lets pings through and no TCP at all.
const PING_ONLY: &str = "\
FromDevice(0) -> c0 :: Classifier(12/0800, -) -> Strip(14) -> CheckIPHeader
  -> IPFilter(allow icmp type echo) -> Unstrip(14) -> ToDevice(1);
FromDevice(1) -> c1 :: Classifier(12/0800, -) -> Strip(14) -> CheckIPHeader
  -> IPFilter(allow icmp type echo-reply) -> Unstrip(14) -> ToDevice(0);
c0[1] -> Discard;
c1[1] -> Discard;
";

/// One `bench tcp` at a time: each keeps two TCG VMs, iperf3 and the hosts' TCP stacks busy.
static TCP_ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Fails, saying what to do, unless this runs as root with iperf3 installed.
fn require_root_and_iperf3() {
    require_qemu("`sluice bench tcp`");
    assert!(
        is_root(),
        "`sluice bench tcp` creates network namespaces and TAP devices: run this test as root \
         (CI does)"
    );
    let found = std::process::Command::new("iperf3")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "iperf3 is not installed: apt-get install iperf3 (or run scripts/setup)"
    );
}

/// What the `sluice bench tcp` process `pid` left behind: its namespaces
/// (`sluice-tcp-PID-N-ROLE`) and live QEMUs of its VMs (their command lines carry the VM
/// names, `benchPID-tcp-nf-N` and `benchPID-tcp-baseline-N`). A QEMU it killed may linger
/// as a zombie for a moment until init reaps it; that one is gone (its command line is
/// empty), so this only waits a few seconds for a live one to go.
fn tcp_leftovers(pid: u32) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut left = Vec::new();
        let netns = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        left.extend(
            text(&netns.stdout)
                .lines()
                .filter(|l| l.starts_with(&format!("sluice-tcp-{pid}-")))
                .map(|l| format!("namespace {l}")),
        );
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = text(&cmdline).replace('\0', " ");
            if cmdline.contains("qemu-system") && cmdline.contains(&format!("bench{pid}-tcp-")) {
                left.push(format!("QEMU {cmdline}"));
            }
        }
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// What one `sluice bench tcp ... --json` did.
struct TcpRun {
    ok: bool,
    /// The JSON line, if any.
    json: String,
    /// Progress and errors (standard error).
    stderr: String,
    /// Its process id, which names its namespaces and VMs.
    pid: u32,
}

/// Runs `sluice bench tcp IMAGE ARGS --json`.
fn bench_tcp(image: &Path, args: &[&str]) -> TcpRun {
    require_root_and_iperf3();
    let child = std::process::Command::new(common::SLUICE)
        .args(["bench", "tcp", image.to_str().unwrap()])
        .args(args)
        .arg("--json")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sluice bench tcp");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for sluice bench tcp");
    let json = text(&out.stdout)
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default()
        .to_string();
    println!("{json}");
    TcpRun {
        ok: out.status.success(),
        json,
        stderr: text(&out.stderr),
        pid,
    }
}

#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_tcp_measures_nf_and_bridge_between_namespaces() {
    let _one = TCP_ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let image = build_once(&BUILT, "firewall3-tcp", FIREWALL3_TCP);
    let run = bench_tcp(&image, &["--seconds", "1", "--pings", "5"]);
    let j = &run.json;
    assert!(run.ok, "sluice bench tcp failed:\n{}", run.stderr);
    assert!(j.contains("\"command\": \"tcp\""), "{j}");
    assert!(j.contains("\"baseline_built\": true"), "{j}");
    assert_eq!(number(j, "port", None), 5201.0, "iperf3's own port: {j}");
    for vm in ["nf", "baseline"] {
        let mbit = number(j, "mbit_s", Some(vm));
        assert!(mbit > 0.0 && mbit < 1e6, "{vm} throughput {mbit}: {j}");
        assert!(number(j, "received_bytes", Some(vm)) > 0.0, "{vm}: {j}");
        assert_eq!(number(j, "pings_sent", Some(vm)), 5.0, "{vm}: {j}");
        assert!(number(j, "pings_received", Some(vm)) >= 1.0, "{vm}: {j}");
        let p50 = number(j, "median", Some(vm));
        let p99 = number(j, "p99", Some(vm));
        assert!(p50 > 0.0 && p50 <= p99 && p99 < 1e7, "{vm} RTT: {j}");
    }
    assert!(number(j, "ratio", None) > 0.0, "{j}");
    let left = tcp_leftovers(run.pid);
    assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
}

/// A firewall that drops iperf3's own port: the bench finds the one it lets through, says
/// so, and measures the baseline over the same port.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_tcp_uses_a_port_the_nf_lets_through_and_says_which() {
    let _one = TCP_ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static WEB: Mutex<Option<PathBuf>> = Mutex::new(None);
    static FW3: Mutex<Option<PathBuf>> = Mutex::new(None);
    let image = build_once(&WEB, "web-only", WEB_ONLY);
    let baseline = build_once(&FW3, "firewall3-tcp", FIREWALL3_TCP);
    let run = bench_tcp(
        &image,
        &[
            "--seconds",
            "1",
            "--pings",
            "3",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
    );
    let (j, progress) = (&run.json, &run.stderr);
    assert!(run.ok, "sluice bench tcp failed:\n{progress}");
    assert_eq!(number(j, "port", None), 80.0, "{j}");
    assert!(j.contains("\"ports_dropped\": [5201]"), "{j}");
    assert!(j.contains("\"baseline_built\": false"), "{j}");
    assert!(number(j, "mbit_s", Some("baseline")) > 0.0, "{j}");
    assert!(
        progress.contains("nf: TCP port 80 (iperf3 -p 80): the network function drops TCP to 5201"),
        "{progress}"
    );
    let left = tcp_leftovers(run.pid);
    assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
}

/// A network function that passes no TCP: the bench says which flow it tried and what to
/// allow, and cleans up.
#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn bench_tcp_says_which_flow_the_nf_drops() {
    let _one = TCP_ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let image = build_once(&BUILT, "ping-only", PING_ONLY);
    let run = bench_tcp(&image, &["--seconds", "1", "--pings", "3"]);
    let err = &run.stderr;
    assert!(
        !run.ok,
        "a network function without TCP must fail the bench:\n{err}"
    );
    assert!(
        err.contains(
            "nf: the network function drops TCP 192.0.2.1 -> 192.0.2.2 on each of ports \
             5201, 80, 443, 22, 8080"
        ) && err.contains("allow TCP from eth0 to that port")
            && err.contains("or pass --port PORT"),
        "{err}"
    );
    let left = tcp_leftovers(run.pid);
    assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
}
