//! Smoke runs of `sluice bench boot|density|e2e|click` with tiny counts: the commands work end to
//! end under QEMU, print JSON of the documented shape, and their numbers are sane. Timing
//! targets live in BENCHMARKS.md, never here.
//!
//! These tests need `qemu-system-x86_64` and the `x86_64-unknown-none` Rust target. Without
//! them they fail, loudly: CI installs both.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod common;
use common::{require_qemu, sluice, text};

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
