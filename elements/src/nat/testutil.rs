//! Test scaffolding for the rewriters: a router around the elements under test, packet
//! builders and independent checksum checks (etherparse).

use alloc::string::String;
use alloc::vec::Vec;

use etherparse::{Icmpv4Header, Ipv4Header, TcpHeader, UdpHeader};

use crate::testutil::{icmp_echo, Bench, Harness};
pub use crate::testutil::{tcp, udp};

/// Elements under test with fed inputs and recorded outputs; the first is the default for
/// [`Rig::push`].
pub struct Rig {
    pub harness: Harness,
}

/// Ten seconds past an arbitrary origin, in ns.
pub const T0: u64 = 10_000_000_000;

impl Rig {
    /// The first of `elems` with `ninputs` fed inputs and `noutputs` recorded outputs, the
    /// others unconnected.
    pub fn try_new(
        elems: &[(&str, &str, &str)],
        ninputs: usize,
        noutputs: usize,
    ) -> Result<Rig, String> {
        let all: Vec<_> = elems
            .iter()
            .enumerate()
            .map(|(k, &(n, c, cfg))| match k {
                0 => (n, c, cfg, ninputs, noutputs),
                _ => (n, c, cfg, 0, 0),
            })
            .collect();
        Self::multi(&all)
    }

    /// Several elements, each `(name, class, config, ninputs, noutputs)` with fed inputs
    /// and recorded outputs.
    pub fn multi(elems: &[(&str, &str, &str, usize, usize)]) -> Result<Rig, String> {
        let harness = Harness::new(Bench::new().pool(256, 0).clock_at(T0), elems)?;
        Ok(Rig { harness })
    }

    pub fn new(class: &str, config: &str, ninputs: usize, noutputs: usize) -> Rig {
        Self::try_new(&[("rw", class, config)], ninputs, noutputs).expect("configuration accepted")
    }

    /// Pushes `frames` into input `port`, then returns what each output received.
    pub fn push(&mut self, port: usize, frames: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let name = self.harness.dut().to_string();
        self.push_into(&name, port, frames)
    }

    /// Pushes `frames` into input `port` of element `name`; returns its outputs.
    pub fn push_into(&mut self, name: &str, port: usize, frames: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let h = &mut self.harness;
        let batch = h.bench.batch(frames);
        // The router time is read at the start of a round; run one so `now` is current.
        h.router.run_rounds(1);
        h.router.push_to(name, port, batch).expect("element exists");
        h.outputs(name)
            .into_iter()
            .map(|outs| outs.into_iter().map(|o| o.data).collect())
            .collect()
    }

    /// Pushes one frame into element `name`; returns (output, bytes) if it came out.
    pub fn one_into(&mut self, name: &str, port: usize, frame: &[u8]) -> Option<(usize, Vec<u8>)> {
        let outs = self.push_into(name, port, &[frame]);
        outs.into_iter()
            .enumerate()
            .find_map(|(o, v)| v.into_iter().next().map(|b| (o, b)))
    }

    /// Pushes one frame painted `paint` into element `name`; returns (output, bytes, paint)
    /// of what came out first.
    pub fn painted_into(
        &mut self,
        name: &str,
        port: usize,
        frame: &[u8],
        paint: u8,
    ) -> Option<(usize, Vec<u8>, u8)> {
        let h = &mut self.harness;
        let mut p = h.packet(frame);
        p.set_network_offset(0);
        p.anno_mut().paint = paint;
        let mut batch = sluice_dataplane::Batch::new();
        batch.push(p);
        h.router.run_rounds(1);
        h.router.push_to(name, port, batch).expect("element exists");
        h.outputs(name)
            .into_iter()
            .flatten()
            .next()
            .map(|o| (o.port, o.data, o.anno.paint))
    }

    /// Pushes one frame; returns (output, bytes) if it came out.
    pub fn one(&mut self, port: usize, frame: &[u8]) -> Option<(usize, Vec<u8>)> {
        let name = self.harness.dut().to_string();
        self.one_into(&name, port, frame)
    }

    pub fn h(&self, handler: &str) -> String {
        self.harness.read(handler)
    }

    /// Advances the clock by `secs` seconds and runs the timers.
    pub fn advance(&mut self, secs: u64) {
        self.harness.advance(secs * 1_000_000_000);
    }
}

/// An echo request (or reply) carrying "pingdata".
pub fn echo(src: [u8; 4], dst: [u8; 4], id: u16, request: bool) -> Vec<u8> {
    icmp_echo(src, dst, id, request, b"pingdata")
}

/// Addresses and ports of an IPv4 TCP/UDP packet (ICMP: the identifier as both ports).
pub fn flow_of(p: &[u8]) -> ([u8; 4], u16, [u8; 4], u16) {
    let (ip, rest) = Ipv4Header::from_slice(p).unwrap();
    let (s, d) = match ip.protocol.0 {
        6 | 17 => (
            u16::from_be_bytes([rest[0], rest[1]]),
            u16::from_be_bytes([rest[2], rest[3]]),
        ),
        _ => {
            let id = u16::from_be_bytes([rest[4], rest[5]]);
            (id, id)
        }
    };
    (ip.source, s, ip.destination, d)
}

/// Checks every checksum of an IPv4 packet with etherparse (independently of sluice).
pub fn assert_checksums(p: &[u8]) {
    let (ip, rest) = Ipv4Header::from_slice(p).expect("IPv4 header");
    assert_eq!(
        ip.calc_header_checksum(),
        ip.header_checksum,
        "IP header checksum"
    );
    match ip.protocol.0 {
        6 => {
            let (t, payload) = TcpHeader::from_slice(rest).unwrap();
            assert_eq!(
                t.calc_checksum_ipv4(&ip, payload).unwrap(),
                t.checksum,
                "TCP checksum"
            );
        }
        17 => {
            let (u, payload) = UdpHeader::from_slice(rest).unwrap();
            if u.checksum != 0 {
                assert_eq!(
                    u.calc_checksum_ipv4(&ip, payload).unwrap(),
                    u.checksum,
                    "UDP checksum"
                );
            }
        }
        1 => {
            let (h, payload) = Icmpv4Header::from_slice(rest).unwrap();
            assert_eq!(
                h.icmp_type.calc_checksum(payload),
                h.checksum,
                "ICMP checksum"
            );
        }
        _ => {}
    }
}
