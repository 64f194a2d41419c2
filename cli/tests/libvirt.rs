//! `sluice deploy libvirt`: the domain XML and its errors, and (with libvirt, QEMU and root)
//! an NF deployed as a libvirt domain on a host bridge answering pings from a network
//! namespace, driven by `sluice ps`, `ctl`, `logs` and `stop`.
//!
//! The libvirt test needs `virsh`, a running libvirtd on `qemu:///system` and root; without
//! them it fails, loudly: CI installs libvirt (`scripts/setup --libvirt`) and starts its
//! daemons.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    let cases: [(&[&str], &str); 5] = [
        (
            &["--nic", "dgram:1:2"],
            "bad --nic 'dgram:1:2': expected network:NAME, bridge:BRIDGE or tap:IFNAME",
        ),
        (&["--nic", "bridge:"], "bad --nic 'bridge:'"),
        (&["--mem", "8X"], "bad --mem '8X'"),
        (
            &["--machine", "q35"],
            "--machine q35: sluice images drive virtio-mmio NICs only",
        ),
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

/// A host bridge with a veth into a network namespace, and the libvirt domain on it;
/// everything is removed on drop, the domain destroyed and undefined.
struct Lab {
    bridge: String,
    netns: String,
    domain: String,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let n = std::process::id() % 100_000;
        let lab = Lab {
            bridge: format!("slvbr{n}"),
            netns: format!("sluice-lv-{tag}-{n}"),
            domain: format!("sluice-test-{tag}-{n}"),
        };
        let veth = format!("slvv{n}");
        must(&["ip", "link", "add", &lab.bridge, "type", "bridge"]);
        // The host answers ARP for its own addresses on every interface unless told not
        // to: on the bridge, only the VM answers.
        must(&[
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv4.conf.{}.arp_ignore=8", lab.bridge),
        ]);
        must(&["ip", "link", "set", &lab.bridge, "up"]);
        must(&["ip", "netns", "add", &lab.netns]);
        must(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &lab.netns,
        ]);
        must(&["ip", "link", "set", &veth, "master", &lab.bridge, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &lab.netns];
            all.extend_from_slice(args);
            must(&all);
        };
        inside(&["ip", "addr", "add", "198.51.100.1/24", "dev", "eth0"]);
        inside(&["ip", "link", "set", "eth0", "up"]);
        inside(&["ip", "link", "set", "lo", "up"]);
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(&["virsh", "-c", URI, "destroy", &self.domain]);
        let _ = run(&["virsh", "-c", URI, "undefine", &self.domain]);
        let _ = run(&["ip", "netns", "del", &self.netns]);
        let _ = run(&["ip", "link", "del", &self.bridge]);
    }
}

const PING_RESPONDER: &str = "\
// Answers ARP for 198.51.100.2 and pings to it, on eth0.
out :: Queue(64) -> ToDevice(0);
FromDevice(0) -> cl :: Classifier(12/0806 20/0001, 12/0800, -);
cl[0] -> arp :: ARPResponder(198.51.100.2 52:54:00:12:34:50) -> out;
cl[1] -> Strip(14) -> CheckIPHeader -> ping :: ICMPPingResponder -> Unstrip(14) -> EtherMirror -> out;
cl[2] -> Discard;
";

#[test]
#[ignore = "needs root, QEMU and libvirtd: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn an_nf_deployed_on_libvirt_answers_pings_and_sluice_manages_it() {
    require_qemu("the libvirt test");
    assert!(
        common::is_root(),
        "this test creates a bridge and a network namespace and needs root"
    );
    let version = run(&["virsh", "-c", URI, "version"]);
    assert!(
        version.status.success(),
        "libvirt is not usable at {URI} ({}): install libvirt-daemon-system and \
         libvirt-clients and start libvirtd (`scripts/setup --libvirt` does both)",
        text(&version.stderr).trim()
    );
    let dir = work_dir();
    let config = dir.join("ping.click");
    std::fs::write(&config, PING_RESPONDER).unwrap();
    let image = dir.join("ping.elf");
    let build = sluice(&[
        "build",
        config.to_str().unwrap(),
        "-o",
        image.to_str().unwrap(),
    ]);
    assert!(build.status.success(), "{}", text(&build.stderr));

    let lab = Lab::new("ping");
    let nic = format!("bridge:{}", lab.bridge);
    let deploy = sluice(&[
        "deploy",
        "libvirt",
        image.to_str().unwrap(),
        "--name",
        &lab.domain,
        "--nic",
        &nic,
        "-c",
        URI,
        "--start",
        "--ready-timeout",
        "60s",
    ]);
    let said = text(&deploy.stdout);
    assert!(deploy.status.success(), "{said}{}", text(&deploy.stderr));
    assert!(
        said.starts_with(&format!("ready name={} libvirt={URI} ", lab.domain)),
        "{said}"
    );
    // libvirt knows it as a running domain, with the image as its kernel.
    let state = must(&["virsh", "-c", URI, "domstate", &lab.domain]);
    assert_eq!(text(&state.stdout).trim(), "running");
    let xml = text(&must(&["virsh", "-c", URI, "dumpxml", &lab.domain]).stdout);
    assert!(xml.contains("machine='microvm'"), "{xml}");
    assert!(xml.contains(image.to_str().unwrap()), "{xml}");

    let ps = text(&sluice(&["ps"]).stdout);
    let line = ps
        .lines()
        .find(|l| l.starts_with(&lab.domain))
        .unwrap_or_else(|| panic!("not in sluice ps:\n{ps}"));
    assert!(line.contains(" libvirt ") && line.contains(&nic), "{line}");

    let ping = run(&[
        "ip",
        "netns",
        "exec",
        &lab.netns,
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "5",
        "198.51.100.2",
    ]);
    let report = format!("{}{}", text(&ping.stdout), text(&ping.stderr));
    assert!(
        report.contains("3 received"),
        "ping through libvirt:\n{report}"
    );

    // The control channel is libvirt's UNIX socket chardev, reached by the domain's name.
    let tx = sluice(&["ctl", &lab.domain, "read", "eth0.tx_packets"]);
    assert!(tx.status.success(), "{}", text(&tx.stderr));
    let tx: u64 = text(&tx.stdout).trim().parse().unwrap();
    assert!(tx >= 4, "3 echo replies and an ARP reply, got {tx}");
    let logs = text(&sluice(&["logs", &lab.domain]).stdout);
    assert!(logs.starts_with("ready "), "{logs}");

    let stop = sluice(&["stop", &lab.domain]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert_eq!(text(&stop.stdout).trim(), format!("stopped {}", lab.domain));
    let state = must(&["virsh", "-c", URI, "domstate", &lab.domain]);
    assert_eq!(
        text(&state.stdout).trim(),
        "shut off",
        "stopped, still defined"
    );
    assert!(!text(&sluice(&["ps"]).stdout).contains(&lab.domain));
    let again = sluice(&["ctl", &lab.domain, "read", "eth0.tx_packets"]);
    assert!(!again.status.success());
    drop(lab);
}
