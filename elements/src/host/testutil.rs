//! Helpers for the host elements' tests: capture files, frames, routers over a manual clock.

use std::string::String;
use std::vec::Vec;

use sluice_config::FlatGraph;
use sluice_dataplane::Router;

use crate::testutil::{arp_request, ethernet, udp, Bench, MAC_SRC};
pub use crate::testutil::{graph, take_collected, Out};

/// A router over `g` on 64 buffers and 4 large ones, the clock at `now`; the bench holds
/// the clock and the console.
pub fn router(g: &FlatGraph, now: u64) -> Result<(Router, Bench), String> {
    let bench = Bench::new().pool(64, 4).clock_at(now);
    let r = bench.router(g)?;
    Ok((r, bench))
}

/// A classic pcap file (little-endian unless `big`): `records` are (seconds, fraction,
/// data).
pub fn pcap_file(big: bool, nano: bool, linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend(w32(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend(w16(2));
    f.extend(w16(4));
    f.extend([0; 8]);
    f.extend(w32(2000));
    f.extend(w32(linktype));
    for (sec, frac, data) in records {
        f.extend(w32(*sec));
        f.extend(w32(*frac));
        f.extend(w32(data.len() as u32));
        f.extend(w32(data.len() as u32));
        f.extend_from_slice(data);
    }
    f
}

/// An Ethernet + IPv4 + UDP frame from 10.0.0.1 to `dst`, with `payload`.
pub fn udp_frame(dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    ethernet(&udp([10, 0, 0, 1], 1234, dst, 53, payload))
}

/// An Ethernet ARP request (not IP).
pub fn arp_frame() -> Vec<u8> {
    arp_request(MAC_SRC, [10, 0, 0, 1], [10, 0, 0, 2])
}

/// A shared temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// `path` as a configuration argument.
pub fn arg(path: &std::path::Path) -> String {
    format!("\"{}\"", path.display())
}
