//! Helpers for the host elements' tests: capture files, a recording sink, graphs.

use std::boxed::Box;
use std::cell::RefCell;
use std::string::String;
use std::vec::Vec;

use sluice_config::args::Args;
use sluice_config::FlatGraph;
use sluice_dataplane::router::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, InitContext, ManualClock,
    PacketPool, Router, TaskStatus,
};

/// What a [`SINK`] saw of one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub port: usize,
    pub data: Vec<u8>,
    pub timestamp_ns: u64,
    pub network_offset: Option<usize>,
    pub transport_offset: Option<usize>,
    pub dst_ip: [u8; 4],
}

std::thread_local! {
    pub static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

/// Everything the sinks have recorded since the last call.
pub fn take_seen() -> Vec<Seen> {
    SEEN.with(|s| core::mem::take(&mut *s.borrow_mut()))
}

fn record(port: usize, p: &sluice_dataplane::Packet) {
    SEEN.with(|s| {
        s.borrow_mut().push(Seen {
            port,
            data: p.data().to_vec(),
            timestamp_ns: p.anno().timestamp_ns,
            network_offset: p.network_offset(),
            transport_offset: p.transport_offset(),
            dst_ip: p.anno().dst_ip,
        })
    });
}

/// A push sink with any number of inputs: records packets and the port they came in on.
struct Sink;
impl Element for Sink {
    fn push(&mut self, _: &mut Context<'_>, port: usize, batch: Batch) {
        for p in &batch {
            record(port, p);
        }
    }
}

/// A pull sink: pulls up to 3 packets per turn and records them.
struct PullSink;
impl Element for PullSink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }
    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        match ctx.pull(0, 3) {
            Some(b) => {
                for p in &b {
                    record(0, p);
                }
                TaskStatus::Busy
            }
            None => TaskStatus::Idle,
        }
    }
}

pub static SINK: ElementClass = ElementClass {
    name: "Sink",
    ports: "-/0",
    processing: "h",
    make: |_: &mut Args<'_>, _: &ConfigContext<'_>| Some(Box::new(Sink) as Box<dyn Element>),
    names: None,
};
pub static PULL_SINK: ElementClass = ElementClass {
    name: "PullSink",
    ports: "1/0",
    processing: "l",
    make: |_: &mut Args<'_>, _: &ConfigContext<'_>| Some(Box::new(PullSink) as Box<dyn Element>),
    names: None,
};

pub static CLASSES: &[&ElementClass] = &[
    &super::classes::FromDump,
    &super::classes::ToDump,
    &super::classes::FromIPSummaryDump,
    &super::classes::ToIPSummaryDump,
    &SINK,
    &PULL_SINK,
];

/// A graph from `(name, class, config)` and `(from, port, to, port)`.
pub fn graph(elems: &[(&str, &str, &str)], conns: &[(usize, usize, usize, usize)]) -> FlatGraph {
    FlatGraph::from_parts(elems, conns)
}

/// A router over `g` with a manual clock at `now` and a console the test can read.
pub fn router(g: &FlatGraph, now: u64) -> Result<(Router, ManualClock, MemoryConsole), String> {
    let clock = ManualClock::new(now);
    let console = MemoryConsole::default();
    let env = Environment {
        pool: PacketPool::with_large(64, 4),
        clock: Box::new(clock.clone()),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(console.clone()),
    };
    let _ = take_seen();
    let r = Router::new(g, CLASSES, env).map_err(|d| {
        d.0.iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok((r, clock, console))
}

/// Console lines so far.
pub fn lines(c: &MemoryConsole) -> Vec<String> {
    c.0.borrow().clone()
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
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], dst, 64)
        .udp(1234, 53);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("frame");
    v
}

/// An Ethernet ARP request (not IP).
pub fn arp_frame() -> Vec<u8> {
    let mut v = vec![0xff; 6];
    v.extend([2, 0, 0, 0, 0, 1]);
    v.extend([0x08, 0x06]);
    v.extend([0, 1, 8, 0, 6, 4, 0, 1]);
    v.extend([2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    v
}

/// A shared temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// `path` as a configuration argument.
pub fn arg(path: &std::path::Path) -> String {
    format!("\"{}\"", path.display())
}
