//! `sluice run -R` and `sluice ctl SOCKET hotconfig FILE`: a new configuration installed in
//! a running process, with the state of its elements carried over, and refused (the old
//! one running on) when it is in error. Every `sluice run` started here is killed when its
//! guard drops, also when an assertion fails.

use std::time::{Duration, Instant};

mod common;
use common::process::{wait_for_file, Run, Scratch, PATIENCE};
use common::{sluice, text};

/// A steady UDP flow from 10.0.0.2:5000 through a queue into a NAT, counted before the
/// queue and after the NAT. `$PATTERN` is the NAT's rule for new flows.
const NAT: &str = "\
src :: RatedSource(LENGTH 18, RATE 2000)
  -> UDPIPEncap(10.0.0.2, 5000, 8.8.8.8, 53)
  -> c :: Counter
  -> q :: Queue(100)
  -> Unqueue
  -> rw :: IPRewriter(pattern $PATTERN 1024-65535 - - 0 1, drop)
  -> out :: Counter
  -> Discard;
Idle -> [1] rw [1] -> Discard;
";

fn ctl(sock: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["ctl", sock];
    all.extend_from_slice(args);
    sluice(&all)
}

fn read(sock: &str, handler: &str) -> String {
    let out = ctl(sock, &["read", handler]);
    assert!(
        out.status.success(),
        "read {handler}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim_end().to_string()
}

fn count(sock: &str, handler: &str) -> u64 {
    read(sock, handler).parse().expect("a count")
}

/// Waits until `handler` counts more than `n`.
fn wait_past(run: &mut Run, sock: &str, handler: &str, n: u64) -> u64 {
    let start = Instant::now();
    loop {
        run.check_alive();
        let now = count(sock, handler);
        if now > n {
            return now;
        }
        assert!(start.elapsed() < PATIENCE, "{handler} stuck at {now}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The NAT's outbound UDP mapping without its expiry: `(10.0.0.2, 5000, ...) => (...) [*0 1] i0`.
/// The table lists both directions of the one flow, in Click's hash order.
fn mapping(sock: &str) -> String {
    let table = read(sock, "rw.udp_table");
    let line = table
        .lines()
        .find(|line| line.starts_with("(10.0.0.2, 5000, 8.8.8.8, 53) =>"))
        .unwrap_or_else(|| panic!("no outbound mapping in\n{table}"));
    let (entry, _) = line.split_once(" exp").unwrap_or((line, ""));
    entry.to_string()
}

#[test]
fn hotconfig_carries_counts_queues_and_mappings_and_refuses_bad_configurations() {
    let dir = Scratch::new("nat");
    let sock = dir.path("run.sock");
    let sock_s = sock.to_str().unwrap();
    let old = dir.file("old.click", &NAT.replace("$PATTERN", "21.0.0.1"));
    let mut run = Run::start(&[
        "-R",
        "--ctl",
        sock_s,
        old.to_str().unwrap(),
        "-h",
        "c.count",
        "-h",
        "q.length",
        "-h",
        "out.count",
    ]);
    wait_for_file(&mut run, &sock);
    wait_past(&mut run, sock_s, "out.count", 10);
    let before_mapping = mapping(sock_s);
    assert!(
        before_mapping.contains("=> (21.0.0.1, "),
        "{before_mapping}"
    );
    let old_text = read(sock_s, "config");

    // A file with a syntax error is stopped on this side, with `sluice check`'s
    // diagnostics; nothing is sent.
    let bad = dir.file(
        "bad.click",
        "src :: RatedSource(RATE 10)\n  -> -> Discard;\n",
    );
    let out = ctl(sock_s, &["hotconfig", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.click:2:"), "{err}");
    assert!(err.contains('^'), "{err}");
    assert_eq!(read(sock_s, "config"), old_text);

    // A configuration that checks but cannot initialize is refused by the router, which
    // runs on unchanged.
    let broken = dir.file(
        "broken.click",
        "FromDump(/nonexistent/sluice-hotconfig.pcap) -> c :: Counter -> Discard;\n",
    );
    let n = count(sock_s, "c.count");
    let out = ctl(sock_s, &["hotconfig", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("Write handler 'hotconfig' error"), "{err}");
    assert!(err.contains("sluice-hotconfig.pcap"), "{err}");
    assert!(err.contains("broken.click:1:"), "{err}");
    assert_eq!(read(sock_s, "config"), old_text);
    assert_eq!(read(sock_s, "c.class"), "Counter");
    wait_past(&mut run, sock_s, "c.count", n);
    assert_eq!(mapping(sock_s), before_mapping);

    // A changed rule set, given as a parameter: the counters go on, the established flow
    // keeps its mapping.
    let template = dir.file("new.click", &NAT.replace("$PATTERN", "$ADDR"));
    let before = count(sock_s, "c.count");
    let out = ctl(
        sock_s,
        &["hotconfig", template.to_str().unwrap(), "ADDR=21.0.0.9"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = read(sock_s, "config");
    assert!(config.contains("21.0.0.9"), "{config}");
    let after = count(sock_s, "c.count");
    assert!(after >= before, "count reset: {after} < {before}");
    wait_past(&mut run, sock_s, "c.count", after);
    assert_eq!(read(sock_s, "rw.nmappings"), "1");
    assert_eq!(mapping(sock_s), before_mapping);

    // Stopped between slices: every packet counted in is counted out or still queued.
    let out = ctl(sock_s, &["write", "stop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, stdout, stderr) = run.wait();
    assert!(status.success(), "{stderr}");
    let value = |name: &str| -> u64 {
        let mut lines = stdout.lines();
        lines.find(|l| *l == format!("{name}:")).expect(name);
        lines.next().unwrap().parse().unwrap()
    };
    let (c, q, out) = (value("c.count"), value("q.length"), value("out.count"));
    assert!(c > before, "{stdout}");
    assert_eq!(c, q + out, "packets lost: {stdout}");
}

#[test]
fn without_r_there_is_no_hotconfig_handler() {
    let dir = Scratch::new("plain");
    let sock = dir.path("run.sock");
    let sock_s = sock.to_str().unwrap();
    let cfg = dir.file(
        "c.click",
        "src :: RatedSource(RATE 100) -> c :: Counter -> Discard;\n",
    );
    let mut run = Run::start(&["--ctl", sock_s, cfg.to_str().unwrap()]);
    wait_for_file(&mut run, &sock);
    let out = ctl(sock_s, &["hotconfig", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("hotconfig"), "{err}");
    assert!(err.contains("511") || err.contains("No handler"), "{err}");
    run.check_alive();
}

#[test]
fn a_driver_script_can_write_hotconfig() {
    let dir = Scratch::new("script");
    // The new configuration counts on from the old count, and in a new counter `d`.
    let cfg = dir.file(
        "s.click",
        "src :: RatedSource(RATE 1000) -> c :: Counter -> Discard;\n\
         DriverManager(wait 0.2s, write hotconfig src :: RatedSource(RATE 1000) \
         -> c :: Counter -> d :: Counter -> Discard; \
         DriverManager(wait 0.2s, print c.count, print d.count, stop))\n",
    );
    let out = sluice(&["run", "--quiet", "--simtime", "-R", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let counts: Vec<u64> = text(&out.stdout)
        .lines()
        .map(|l| l.parse().expect("a count"))
        .collect();
    let [c, d] = counts[..] else {
        panic!("{counts:?}");
    };
    assert!(d > 0 && c > d, "c {c}, d {d}");

    // Without -R there is no such handler, and the old configuration runs to its end.
    let out = sluice(&["run", "--quiet", "--simtime", cfg.to_str().unwrap()]);
    assert!(
        text(&out.stderr).contains("no 'hotconfig' write handler"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");
}
