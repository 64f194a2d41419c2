//! Test scaffolding for the IP family: run one element on static frames and collect what
//! comes out of each output.
#![allow(dead_code)]

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use sluice_config::args::Args;
use sluice_config::{FlatConnection, FlatElement, FlatGraph, Span};
use sluice_dataplane::router::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, ManualClock, Packet,
    PacketPool, Router,
};

std::thread_local! {
    static SINKS: RefCell<BTreeMap<String, Vec<Packet>>> =
        const { RefCell::new(BTreeMap::new()) };
}

struct Sink {
    name: String,
}

impl Element for Sink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        SINKS.with(|c| {
            c.borrow_mut()
                .entry(self.name.clone())
                .or_default()
                .extend(batch)
        });
    }
}

fn make_sink(_: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Sink {
        name: c.name.to_string(),
    }))
}

static SINK: ElementClass = ElementClass {
    name: "IpTestSink",
    ports: "1/0",
    processing: "h",
    make: make_sink,
    names: None,
};

/// One element under test (`e`), its outputs each connected to a sink.
pub struct Harness {
    pub pool: PacketPool,
    pub router: Router,
    pub console: Rc<RefCell<Vec<String>>>,
    id: String,
    outputs: usize,
}

static NEXT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

impl Harness {
    /// `Class(config)` with `outputs` connected outputs.
    pub fn new(class: &str, config: &str, outputs: usize) -> Result<Self, String> {
        let id = NEXT
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed)
            .to_string();
        let el = |name: String, class: &str, config: &str| FlatElement {
            name,
            class: class.to_string(),
            config: config.to_string(),
            span: Span::default(),
            config_span: Span::default(),
        };
        let mut elements = alloc::vec![el("e".into(), class, config)];
        let mut connections = Vec::new();
        for port in 0..outputs {
            elements.push(el(alloc::format!("out{port}_{id}"), "IpTestSink", ""));
            connections.push(FlatConnection {
                from: 0,
                from_port: port,
                to: port + 1,
                to_port: 0,
            });
        }
        let g = FlatGraph {
            elements,
            connections,
            requirements: Vec::new(),
        };
        let mut classes: Vec<&'static ElementClass> = super::ALL.to_vec();
        classes.push(&SINK);
        let pool = PacketPool::new(256);
        let console: Rc<RefCell<Vec<String>>> = Rc::default();
        let env = Environment {
            pool: pool.clone(),
            clock: Box::new(ManualClock::new(1_000_000_000)),
            devices: Vec::new(),
            device_opener: None,
            console: Box::new(MemoryConsole(console.clone())),
        };
        let router = Router::new(&g, &classes, env).map_err(|d| {
            d.0.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        Ok(Self {
            pool,
            router,
            console,
            id,
            outputs,
        })
    }

    /// Pushes packets (already built) and returns what came out of each output.
    pub fn run_packets(&mut self, packets: Vec<Packet>) -> Vec<Vec<Packet>> {
        let batch: Batch = packets.into_iter().collect();
        self.router
            .push_to("e", 0, batch)
            .expect("element e exists");
        (0..self.outputs)
            .map(|port| {
                let name = alloc::format!("out{port}_{}", self.id);
                SINKS.with(|c| c.borrow_mut().remove(&name).unwrap_or_default())
            })
            .collect()
    }

    /// Pushes frames and returns the bytes out of each output.
    pub fn run(&mut self, frames: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let packets = frames
            .iter()
            .map(|f| self.pool.alloc_from(f).expect("pool room"))
            .collect();
        self.run_packets(packets)
            .into_iter()
            .map(|ps| ps.iter().map(|p| p.data().to_vec()).collect())
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
        self.router
            .read_handler(&alloc::format!("e.{handler}"))
            .expect("handler")
    }

    pub fn write(&self, handler: &str, value: &str) -> Result<(), sluice_dataplane::HandlerError> {
        self.router
            .write_handler(&alloc::format!("e.{handler}"), value)
    }

    pub fn lines(&self) -> Vec<String> {
        core::mem::take(&mut *self.console.borrow_mut())
    }
}

/// The configuration error text of `Class(config)`.
pub fn config_error(class: &str, config: &str) -> String {
    match Harness::new(class, config, 1) {
        Ok(_) => panic!("{class}({config}) was accepted"),
        Err(e) => e,
    }
}

/// An Ethernet + IPv4 frame built with etherparse: UDP 10.0.0.1:1234 -> 10.0.0.2:53.
pub fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1234, 53);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("write");
    v
}

/// An Ethernet + IPv4 + TCP SYN frame built with etherparse.
pub fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([1, 2, 3, 4], [5, 6, 7, 8], 64)
        .tcp(5, 80, 0, 65535)
        .syn();
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("write");
    v
}

/// An Ethernet + IPv4 + ICMP echo request frame built with etherparse.
pub fn icmp_echo_frame(payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(0x1234, 7);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("write");
    v
}
