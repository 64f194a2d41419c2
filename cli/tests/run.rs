//! `sluice run` end to end: the built binary on configurations and capture files in a
//! temporary directory.
//!
//! Two tests need things beyond the build: the tcpdump check needs `tcpdump`
//! (`scripts/setup` installs it), and the TAP test needs root (CI runs as root). Without
//! them those tests fail and say why; they never pass without testing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// An Ethernet/IPv4/UDP frame with `n` payload bytes.
fn frame(n: usize, id: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 8 + n) as u16;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        id,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    ip.extend([10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend(ip);
    let ulen = (8 + n) as u16;
    f.extend([0x30, 0x39, 0, 53, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.extend((0..n).map(|i| i as u8));
    f
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A classic little-endian microsecond pcap file: (seconds, microseconds, frame).
fn pcap(records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(0xa1b2_c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0; 8]);
    f.extend(2000u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    for (s, us, d) in records {
        f.extend(s.to_le_bytes());
        f.extend(us.to_le_bytes());
        f.extend((d.len() as u32).to_le_bytes());
        f.extend((d.len() as u32).to_le_bytes());
        f.extend(d);
    }
    f
}

fn sample_pcap(n: u32) -> Vec<u8> {
    let recs: Vec<_> = (0..n)
        .map(|i| (1_700_000_000 + i, i * 1000, frame(10 + i as usize, i as u8)))
        .collect();
    pcap(&recs)
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("temporary directory"))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write test file");
        p
    }
}

fn sluice(dir: &Dir, args: &[&str]) -> Output {
    Command::new(SLUICE)
        .arg("run")
        .args(args)
        .current_dir(dir.0.path())
        .output()
        .expect("run sluice")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn pcap_round_trip_is_byte_exact() {
    let d = Dir::new();
    let input = d.write("in.pcap", sample_pcap(20));
    d.write(
        "rt.click",
        // NANO false: the input is a microsecond file (ToDump writes nanoseconds by
        // default, as Click does).
        "FromDump(in.pcap, STOP true) -> ToDump(out.pcap, NANO false);\n",
    );
    let out = sluice(&d, &["rt.click"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read(d.path("out.pcap")).unwrap(),
        std::fs::read(input).unwrap()
    );
}

#[test]
fn tcpdump_reads_what_todump_writes() {
    let have = Command::new("tcpdump")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        have.is_ok_and(|s| s.success()),
        "tcpdump is not installed: this test checks that tcpdump reads ToDump's files \
         (apt-get install tcpdump; scripts/setup installs it)"
    );
    let d = Dir::new();
    d.write("in.pcap", sample_pcap(17));
    d.write(
        "td.click",
        "src :: FromDump(in.pcap, STOP true) -> t :: Tee;\n\
         t[0] -> ToDump(us.pcap, SNAPLEN 40, NANO false);\n\
         t[1] -> ToDump(ns.pcap, NANO true);\n",
    );
    let out = sluice(&d, &["td.click"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    for (file, nano) in [("us.pcap", false), ("ns.pcap", true)] {
        let mut cmd = Command::new("tcpdump");
        cmd.args(["-n", "-r"]).arg(d.path(file));
        if nano {
            cmd.args(["--time-stamp-precision", "nano"]);
        }
        let td = cmd.output().expect("run tcpdump");
        assert!(
            td.status.success(),
            "tcpdump -r {file}: {}",
            text(&td.stderr)
        );
        let lines: Vec<String> = text(&td.stdout).lines().map(String::from).collect();
        assert_eq!(lines.len(), 17, "tcpdump saw {lines:?}");
        assert!(
            lines[0].contains("IP 10.0.0.1.12345 > 10.0.0.2.53:"),
            "{}",
            lines[0]
        );
        assert!(
            text(&td.stderr).contains("link-type EN10MB"),
            "{}",
            text(&td.stderr)
        );
    }
}

#[test]
fn counter_handler_is_printed_at_exit() {
    let d = Dir::new();
    d.write("in.pcap", sample_pcap(9));
    d.write(
        "c.click",
        "FromDump(in.pcap, STOP true) -> c :: Counter -> Discard;\n",
    );
    let out = sluice(&d, &["c.click", "-h", "c.count"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "9\n",
        "one handler: its value alone, as click -h prints it"
    );
    let out = sluice(
        &d,
        &["c.click", "-h", "c.count", "--handler", "c.byte_count"],
    );
    let bytes: usize = (0..9).map(|i| frame(10 + i, 0).len()).sum();
    assert_eq!(
        text(&out.stdout),
        format!("c.count:\n9\n\nc.byte_count:\n{bytes}\n\n")
    );
    let out = sluice(&d, &["c.click", "-h", "nosuch.count"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no element named 'nosuch'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn parameters_are_substituted() {
    let d = Dir::new();
    d.write("in.pcap", sample_pcap(3));
    d.write(
        "p.click",
        "define($N 1);\nFromDump($IN, STOP true) -> c :: Counter -> Discard;\n",
    );
    let out = sluice(&d, &["p.click", "IN=in.pcap", "-h", "c.count"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3\n");
}

#[test]
fn missing_configuration_file() {
    let d = Dir::new();
    let out = sluice(&d, &["nowhere.click"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "sluice run: nowhere.click: No such file or directory\n"
    );
}

#[test]
fn missing_capture_file_names_the_element() {
    let d = Dir::new();
    d.write("m.click", "src :: FromDump(gone.pcap) -> Discard;\n");
    let out = sluice(&d, &["m.click"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "m.click:1:1: error: src :: FromDump: gone.pcap: No such file or directory"
        ),
        "{err}"
    );
}

#[test]
fn unknown_class_is_reported_with_line_and_column() {
    let d = Dir::new();
    d.write("in.pcap", sample_pcap(1));
    d.write(
        "u.click",
        "// a firewall\nsrc :: FromDump(in.pcap)\n  -> f :: Firewal(allow all)\n  -> Discard;\n",
    );
    let out = sluice(&d, &["u.click"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    // file:line:column, then the message.
    let loc = err.strip_prefix("u.click:3:").expect(&err);
    let col_end = loc.find(':').expect(&err);
    assert!(loc[..col_end].parse::<u32>().is_ok_and(|c| c >= 1), "{err}");
    assert!(
        loc[col_end..].starts_with(": error: unknown element class 'Firewal'"),
        "{err}"
    );
    assert!(err.contains("  -> f :: Firewal(allow all)\n"), "{err}");
    assert!(err.contains('^'), "{err}");
}

/// Sends SIGINT, as Ctrl-C does.
fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("sluice did not exit within {limit:?}");
}

#[test]
fn ctrl_c_stops_cleanly_and_flushes_outputs() {
    let d = Dir::new();
    // Two packets an hour apart, replayed with their original timing: the run would last an
    // hour, so only the interrupt ends it.
    d.write(
        "in.pcap",
        pcap(&[(100, 0, frame(20, 1)), (3700, 0, frame(20, 2))]),
    );
    d.write(
        "i.click",
        "FromDump(in.pcap, TIMING true) -> c :: Counter -> ToDump(out.pcap, NANO false) -> Discard;\n",
    );
    let child = Command::new(SLUICE)
        .args(["run", "i.click", "-h", "c.count"])
        .current_dir(d.0.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    std::thread::sleep(Duration::from_millis(700));
    interrupt(&child);
    let out = wait_with_timeout(child, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "1\n");
    let written = std::fs::read(d.path("out.pcap")).unwrap();
    assert_eq!(
        written,
        pcap(&[(100, 0, frame(20, 1))]),
        "cleanup flushed the one packet seen"
    );
}

/// A network namespace for one test, deleted (with what runs in it) when dropped, even if
/// the test fails.
struct Netns {
    name: String,
    child: Option<Child>,
}

impl Netns {
    fn new(name: &str) -> Self {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        let st = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        Netns {
            name: name.into(),
            child: None,
        }
    }

    fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn require_root() {
    assert!(
        common::is_root(),
        "needs root: run as root or in CI (creates a network namespace and a TAP device)"
    );
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
#[ignore = "needs root (TAP devices, network namespaces): run by scripts/test (cargo test -- --include-ignored)"]
fn tap_device_receives_what_the_host_sends() {
    require_root();
    let d = Dir::new();
    d.write(
        "tap.click",
        "FromDevice(tap:sl0) -> c :: Counter -> ToDump(seen.pcap) -> Discard;\n",
    );
    let mut ns = Netns::new(&format!("sluice-run-{}", std::process::id()));
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            SLUICE,
            "run",
            "tap.click",
            "-h",
            "c.count",
        ])
        .current_dir(d.0.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice in the namespace");
    ns.child = Some(child);
    wait_until("sluice to create sl0", Duration::from_secs(10), || {
        if let Some(c) = ns.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                let out = ns.child.take().unwrap().wait_with_output().unwrap();
                panic!("sluice exited early ({st}): {}", text(&out.stderr));
            }
        }
        ns.exec(&["ip", "link", "show", "sl0"]).status.success()
    });
    let up = ns.exec(&["ip", "addr", "add", "10.77.0.1/24", "dev", "sl0"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    // Nobody answers: the kernel's ARP requests for 10.77.0.2 go out the TAP, into sluice.
    let _ = ns.exec(&["ping", "-c", "3", "-i", "0.3", "-W", "1", "10.77.0.2"]);
    let child = ns.child.take().unwrap();
    interrupt(&child);
    let out = wait_with_timeout(child, Duration::from_secs(10));
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let count: u64 = text(&out.stdout).trim().parse().expect("a count");
    assert!(count >= 2, "sluice counted {count} frames from the TAP");
    // What it saw includes ARP requests for the pinged address, broadcast from sl0.
    let seen = std::fs::read(d.path("seen.pcap")).unwrap();
    let arp_for_target = seen.windows(6).any(|w| w == [0x08, 0x06, 0, 1, 8, 0])
        && seen.windows(4).any(|w| w == [10, 77, 0, 2]);
    assert!(
        arp_for_target,
        "no ARP request for 10.77.0.2 among {} bytes",
        seen.len()
    );
    drop(ns);
    assert!(!Path::new("/run/netns")
        .join(format!("sluice-run-{}", std::process::id()))
        .exists());
}

/// Whether the router gathers single-packet task runs into batches for `config`, from the
/// global `tasks` handler.
fn gathers(config: &str) -> bool {
    let d = Dir::new();
    d.write("g.click", config);
    let out = sluice(&d, &["--quiet", "-h", "tasks", "g.click"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("runs"), "tasks: {stdout}");
    stdout.contains("gathered")
}

#[test]
fn single_packet_sources_are_gathered_only_where_click_order_is_kept() {
    let chain = "InfiniteSource(LIMIT 100, STOP true) -> Strip(14) -> CheckIPHeader \
                 -> c :: Counter -> IPFilter(allow udp, deny all) -> Discard;";
    assert!(gathers(chain), "a chain of local elements");
    assert!(
        gathers(
            "s1 :: InfiniteSource(LIMIT 50, STOP true) -> d :: Discard; \
                 s2 :: InfiniteSource(LIMIT 50) -> d;"
        ),
        "two sources meeting only in a Discard"
    );
    assert!(
        gathers(
            "RandomSeed(1); InfiniteSource(LIMIT 20, STOP true) -> Strip(14) \
                 -> SetRandIPAddress(10.0.0.0/8, LIMIT 4) -> Discard;"
        ),
        "one element drawing random numbers draws them in Click's order anyway"
    );
    for (why, config) in [
        (
            "two elements draw from one random sequence",
            "InfiniteSource(LIMIT 5, STOP true) -> SetRandIPAddress(10.0.0.0/8) \
             -> rs :: RandomSwitch -> Discard; rs[1] -> Discard;",
        ),
        (
            "Print writes to the console",
            "InfiniteSource(LIMIT 5, STOP true) -> Print(x) -> Discard;",
        ),
        (
            "COUNT_CALL calls a handler",
            "InfiniteSource(LIMIT 5, STOP true) -> Counter(COUNT_CALL 3 s.active false) -> Discard;\n\
             s :: InfiniteSource(LIMIT 5) -> Discard;",
        ),
        (
            "a queue hands packets to another task",
            "InfiniteSource(LIMIT 5, STOP true) -> Queue -> Unqueue -> Discard;",
        ),
        (
            "two paths merge before the sink",
            "s1 :: InfiniteSource(LIMIT 5, STOP true) -> n :: Null -> Discard; \
             s2 :: InfiniteSource(LIMIT 5) -> n;",
        ),
    ] {
        assert!(!gathers(config), "{why}: {config}");
    }
}

#[test]
fn click_command_line_expression_quit_globs_and_flattened_output() {
    let d = Dir::new();
    let config = "i :: InfiniteSource(LIMIT 3, STOP true) -> c :: Counter -> Discard;";
    // -e runs the configuration given on the command line; one -h prints the bare value.
    let out = sluice(&d, &["-e", config, "-h", "c.count"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3\n");
    // -q quits before running (Click's meaning): the counter is still 0.
    let out = sluice(&d, &["-qh", "c.count", "-e", config]);
    assert_eq!(text(&out.stdout), "0\n", "stderr: {}", text(&out.stderr));
    // A glob names every matching handler, element by element, each with its name.
    let out = sluice(&d, &["-e", config, "-h", "*.count"]);
    assert_eq!(
        text(&out.stdout),
        "i.count:\n3\n\nc.count:\n3\n\nDiscard@3.count:\n3\n\n"
    );
    // The global config handler is the configuration as written (Click's `config`).
    let out = sluice(&d, &["-q", "-h", "config", "-e", config]);
    assert_eq!(text(&out.stdout), format!("{config}\n"));
    let out = sluice(&d, &["-e", config, "-h", "nosuch*.count"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no handler matches"),
        "{}",
        text(&out.stderr)
    );
    // -qo- prints the flattened configuration and quits; -f names the file.
    d.write("f.click", config);
    let out = sluice(&d, &["-qo-", "-f", "f.click"]);
    let flat = text(&out.stdout);
    assert!(flat.contains("Discard@3 :: Discard;"), "{flat}");
    assert!(flat.contains("c -> Discard@3;"), "{flat}");
    // Parameters follow -e as they follow a file.
    let out = sluice(
        &d,
        &[
            "-e",
            "InfiniteSource(LIMIT $N, STOP true) -> c :: Counter -> Discard;",
            "N=4",
            "-h",
            "c.count",
        ],
    );
    assert_eq!(text(&out.stdout), "4\n", "stderr: {}", text(&out.stderr));
}

/// On a terminal a run says where its captures went, as absolute paths: relative names are
/// relative to the current directory (as in Click), never to the configuration's folder.
/// A script (standard error not a terminal) sees nothing of it, as it would from Click.
#[test]
fn a_run_on_a_terminal_says_where_it_wrote_its_captures() {
    let d = Dir::new();
    let conf_dir = d.path("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    d.write("in.pcap", sample_pcap(5));
    d.write(
        "conf/p.click",
        "define($OUT out.pcap);\nFromDump(in.pcap, STOP true) -> dump :: ToDump($OUT);\n",
    );
    let (status, _, terminal) = common::on_terminal(
        Command::new(SLUICE)
            .args(["run", "conf/p.click"])
            .current_dir(d.0.path()),
    );
    assert!(status.success(), "{terminal}");
    let written = d.0.path().canonicalize().unwrap().join("out.pcap");
    assert!(
        terminal.contains(&format!(
            "sluice run: dump wrote 5 packets to {}\n",
            written.display()
        )),
        "{terminal}"
    );
    assert!(written.exists() && !conf_dir.join("out.pcap").exists());
    let piped = sluice(&d, &["conf/p.click"]);
    assert!(piped.status.success());
    assert_eq!(text(&piped.stderr), "");
}

/// A `NAME=value` the configuration never uses: Click's driver says nothing, and neither
/// does `sluice run` in a script; at a terminal it warns, naming the parameters it has.
#[test]
fn an_unused_parameter_is_pointed_out_on_a_terminal_only() {
    let d = Dir::new();
    d.write("in.pcap", sample_pcap(2));
    d.write(
        "p.click",
        "define($OUT0 out.pcap);\nFromDump(in.pcap, STOP true) -> ToDump($OUT0);\n",
    );
    let piped = sluice(&d, &["p.click", "OUTO=x.pcap"]);
    assert!(piped.status.success());
    assert_eq!(text(&piped.stderr), "");
    let (status, _, terminal) = common::on_terminal(
        Command::new(SLUICE)
            .args(["run", "p.click", "OUTO=x.pcap"])
            .current_dir(d.0.path()),
    );
    assert!(status.success(), "{terminal}");
    assert!(
        terminal.contains("p.click: warning: OUTO=x.pcap is not used")
            && terminal.contains("did you mean OUT0=...?"),
        "{terminal}"
    );
}
