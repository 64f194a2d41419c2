//! Host device tests. Opening devices needs root (CAP_NET_ADMIN and CAP_NET_RAW): those
//! tests fail, saying so, when run without it, rather than pass without testing anything.

use std::time::{Duration, Instant};
use std::vec::Vec;

use sluice_dataplane::{Batch, NetDevice, PacketPool, PacketType};

use super::*;

const SECS3: Duration = Duration::from_secs(3);

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        euid, "0",
        "needs root: run as root or in CI (TAP and AF_PACKET devices)"
    );
}

/// A TAP name unique to this process and test.
fn tap_name(tag: &str) -> std::string::String {
    format!("sl{tag}{}", std::process::id() % 100_000)
}

/// A frame of the local experimental EtherType, so kernel chatter (IPv6 router
/// solicitations on a fresh interface) is told apart.
fn test_frame(dst: [u8; 6], src: [u8; 6], marker: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(dst);
    f.extend(src);
    f.extend([0x88, 0xb5]);
    f.extend([marker; 46]);
    f
}

fn wait_for(
    dev: &mut dyn NetDevice,
    pool: &PacketPool,
    marker: u8,
    within: Duration,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let mut b = Batch::new();
        dev.receive(pool, &mut b);
        for p in &b {
            if p.data().get(12..15) == Some(&[0x88, 0xb5, marker][..]) {
                return Some(p.data().to_vec());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn specs_parse() {
    assert_eq!(
        parse_spec("tap:sl0").unwrap(),
        (
            HostDeviceSpec::Tap("sl0".into()),
            HostDeviceOptions::default()
        )
    );
    assert_eq!(
        parse_spec("eth0?promisc").unwrap(),
        (
            HostDeviceSpec::Interface("eth0".into()),
            HostDeviceOptions { promiscuous: true }
        )
    );
    assert_eq!(
        parse_spec("packet:veth1").unwrap().0,
        HostDeviceSpec::Interface("veth1".into())
    );
    assert!(parse_spec("tap:")
        .unwrap_err()
        .contains("empty interface name"));
    assert!(parse_spec("tap:waytoolonginterfacename")
        .unwrap_err()
        .contains("longer than 15"));
    assert!(parse_spec("vhost:x")
        .unwrap_err()
        .contains("unknown kind 'vhost'"));
    assert!(parse_spec("eth0?fast")
        .unwrap_err()
        .contains("unknown option 'fast'"));
}

#[test]
#[ignore = "needs root (TAP devices, network namespaces): run by scripts/test (cargo test -- --include-ignored)"]
fn missing_interface_is_a_clear_error() {
    require_root();
    let e = open_host_device("slnosuch0").err().unwrap();
    assert_eq!(
        e,
        "cannot open interface 'slnosuch0': No such device (no such interface; use tap:NAME to create a TAP device)"
    );
}

#[test]
#[ignore = "needs root (TAP devices, network namespaces): run by scripts/test (cargo test -- --include-ignored)"]
fn tap_and_packet_socket_exchange_frames() {
    require_root();
    let name = tap_name("t");
    let pool = PacketPool::new(256);
    let mut tap = open_host_device(&format!("tap:{name}")).unwrap();
    assert_eq!(tap.name(), format!("tap:{name}"));
    let mut sock = open_host_device(&format!("{name}?promisc")).unwrap();
    assert_eq!(sock.name(), name);
    assert_ne!(
        tap.mac(),
        sock.mac(),
        "the TAP's end of the wire has its own address"
    );

    // Into the kernel through the TAP: the packet socket sees it arrive.
    let f = test_frame(sock.mac(), tap.mac(), 0xa1);
    let mut b = Batch::new();
    b.push(pool.alloc_from(&f).unwrap());
    assert_eq!(tap.transmit(&mut b), 1);
    assert!(b.is_empty());
    let got = wait_for(&mut *sock, &pool, 0xa1, SECS3)
        .expect("frame sent into the TAP reaches the interface");
    assert_eq!(got, f);

    // Out of the interface through the packet socket: the TAP reads it, and the socket does
    // not read back its own outgoing frame.
    let f = test_frame([0xff; 6], sock.mac(), 0xb2);
    let mut b = Batch::new();
    b.push(pool.alloc_from(&f).unwrap());
    assert_eq!(sock.transmit(&mut b), 1);
    let got = wait_for(&mut *tap, &pool, 0xb2, SECS3)
        .expect("frame sent on the interface reaches the TAP");
    assert_eq!(got, f);
    assert!(
        wait_for(&mut *sock, &pool, 0xb2, Duration::from_millis(200)).is_none(),
        "PACKET_OUTGOING frames are ignored"
    );

    assert_eq!(tap.stats().tx_packets, 1);
    assert!(tap.stats().rx_packets >= 1);
    assert_eq!(sock.stats().tx_packets, 1);
    assert_eq!(pool.stats().free, 256, "every buffer is back");
    drop(sock);
    drop(tap);
    let still = std::path::Path::new("/sys/class/net").join(&name);
    assert!(!still.exists(), "the TAP goes away with its device");
}

#[test]
#[ignore = "needs root (TAP devices, network namespaces): run by scripts/test (cargo test -- --include-ignored)"]
fn tap_classifies_destinations() {
    let mac = [2, 0, 0, 0, 0, 9];
    assert_eq!(tap::packet_type(&[0xff; 14], &mac), PacketType::Broadcast);
    assert_eq!(
        tap::packet_type(&[0x33, 0x33, 0, 0, 0, 1], &mac),
        PacketType::Multicast
    );
    assert_eq!(tap::packet_type(&mac, &mac), PacketType::Host);
    assert_eq!(
        tap::packet_type(&[2, 0, 0, 0, 0, 8], &mac),
        PacketType::OtherHost
    );
}
