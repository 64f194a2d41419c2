//! The IP family's harness: one element `e` on static frames, what comes out of each of its
//! outputs collected.

use alloc::string::String;
use alloc::vec::Vec;

use sluice_dataplane::{HandlerError, Packet, PacketPool};

use crate::testutil::{self, ethernet, icmp_echo, tcp, udp, Bench, Out};

/// One element under test (`e`), its outputs each recorded.
pub struct Harness {
    pub pool: PacketPool,
    rig: testutil::Harness,
}

impl Harness {
    /// `Class(config)` with `outputs` connected outputs.
    pub fn new(class: &str, config: &str, outputs: usize) -> Result<Self, String> {
        let rig = testutil::Harness::new(
            Bench::new().pool(256, 0),
            &[("e", class, config, 0, outputs)],
        )?;
        Ok(Self {
            pool: rig.bench.pool.clone(),
            rig,
        })
    }

    /// Pushes packets (already built) and returns what came out of each output.
    pub fn run_packets(&mut self, packets: Vec<Packet>) -> Vec<Vec<Out>> {
        let batch = packets.into_iter().collect();
        self.rig
            .router
            .push_to("e", 0, batch)
            .expect("element e exists");
        self.rig.outputs("e")
    }

    /// Pushes frames and returns the bytes out of each output.
    pub fn run(&mut self, frames: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let packets = frames.iter().map(|f| self.rig.packet(f)).collect();
        self.run_packets(packets)
            .into_iter()
            .map(|outs| outs.into_iter().map(|o| o.data).collect())
            .collect()
    }

    /// Pushes one frame and returns `(port, bytes)` of the single packet that came out, or
    /// `None` when it was dropped.
    pub fn one(&mut self, frame: &[u8]) -> Option<(usize, Vec<u8>)> {
        let out = self.run(&[frame]);
        out.into_iter()
            .enumerate()
            .find_map(|(port, mut ps)| ps.pop().map(|b| (port, b)))
    }

    pub fn read(&self, handler: &str) -> String {
        self.rig.read(handler)
    }

    pub fn write(&self, handler: &str, value: &str) -> Result<(), HandlerError> {
        self.rig.write(handler, value)
    }

    pub fn lines(&self) -> Vec<String> {
        self.rig.bench.lines()
    }
}

/// The configuration error text of `Class(config)`.
pub fn config_error(class: &str, config: &str) -> String {
    match Harness::new(class, config, 1) {
        Ok(_) => panic!("{class}({config}) was accepted"),
        Err(e) => e,
    }
}

/// An Ethernet frame: UDP 10.0.0.1:1234 -> 10.0.0.2:53.
pub fn udp_frame(payload: &[u8]) -> Vec<u8> {
    ethernet(&udp([10, 0, 0, 1], 1234, [10, 0, 0, 2], 53, payload))
}

/// An Ethernet frame: TCP SYN 1.2.3.4:5 -> 5.6.7.8:80.
pub fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    ethernet(&tcp([1, 2, 3, 4], 5, [5, 6, 7, 8], 80, "S", payload))
}

/// An Ethernet frame: ICMP echo request 10.0.0.1 -> 10.0.0.2, identifier 0x1234.
pub fn icmp_echo_frame(payload: &[u8]) -> Vec<u8> {
    ethernet(&icmp_echo(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        0x1234,
        true,
        payload,
    ))
}
