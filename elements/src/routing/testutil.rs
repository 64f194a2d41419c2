//! A one-element router for golden tests: packets pushed into the element under test, what
//! it emits collected per output port.

#![allow(dead_code)]

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use sluice_config::args::Args;
use sluice_config::{FlatConnection, FlatElement, FlatGraph, Span};
use sluice_dataplane::router::MemoryConsole;
use sluice_dataplane::{
    Annotations, Batch, ConfigContext, Context, Element, ElementClass, Environment, ManualClock,
    Packet, PacketPool, Router,
};

/// One packet the element emitted.
#[derive(Clone, Debug)]
pub struct Out {
    /// Output port.
    pub port: usize,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its annotations.
    pub anno: Annotations,
    /// Network header offset, if set.
    pub network_offset: Option<usize>,
}

type Store = Rc<RefCell<Vec<Out>>>;

std::thread_local! {
    static STORE: RefCell<Option<Store>> = const { RefCell::new(None) };
}

struct Collect {
    port: usize,
    store: Store,
}

impl Element for Collect {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            self.store.borrow_mut().push(Out {
                port: self.port,
                data: p.data().to_vec(),
                anno: *p.anno(),
                network_offset: p.network_offset(),
            });
        }
    }
}

fn make_collect(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let port = a.read_mp::<usize>("PORT")?;
    let store = STORE.with(|s| s.borrow().clone())?;
    Some(Box::new(Collect { port, store }))
}

struct Idle;
impl Element for Idle {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}
fn make_idle(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Idle))
}

static COLLECT: ElementClass = ElementClass {
    name: "TestCollect",
    ports: "1/0",
    processing: "h",
    make: make_collect,
    names: None,
};
static IDLE: ElementClass = ElementClass {
    name: "TestIdle",
    ports: "0/1",
    processing: "h",
    make: make_idle,
    names: None,
};

/// The element under test (`dut`) with `ninputs` inputs fed by idle sources and `noutputs`
/// outputs each into a collector.
pub struct Harness {
    /// The router.
    pub router: Router,
    /// Its clock.
    pub clock: ManualClock,
    /// Its pool.
    pub pool: PacketPool,
    store: Store,
}

fn element(name: &str, class: &str, config: &str) -> FlatElement {
    FlatElement {
        name: name.to_string(),
        class: class.to_string(),
        config: config.to_string(),
        span: Span::default(),
        config_span: Span::default(),
    }
}

/// Builds the graph; `Err` holds the configuration errors' messages.
pub fn try_harness(
    class: &'static ElementClass,
    config: &str,
    ninputs: usize,
    noutputs: usize,
    pool_size: usize,
) -> Result<Harness, Vec<String>> {
    let store: Store = Rc::default();
    STORE.with(|s| *s.borrow_mut() = Some(store.clone()));
    let mut g = FlatGraph::default();
    g.elements.push(element("dut", class.name, config));
    for i in 0..ninputs {
        g.elements
            .push(element(&alloc::format!("in{i}"), "TestIdle", ""));
        let from = g.elements.len() - 1;
        g.connections.push(FlatConnection {
            from,
            from_port: 0,
            to: 0,
            to_port: i,
        });
    }
    for o in 0..noutputs {
        g.elements.push(element(
            &alloc::format!("out{o}"),
            "TestCollect",
            &o.to_string(),
        ));
        let to = g.elements.len() - 1;
        g.connections.push(FlatConnection {
            from: 0,
            from_port: o,
            to,
            to_port: 0,
        });
    }
    let pool = PacketPool::new(pool_size);
    let clock = ManualClock::new(1_000_000_000);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(clock.clone()),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    let classes: &[&'static ElementClass] = &[class, &COLLECT, &IDLE];
    let router = Router::new(&g, classes, env)
        .map_err(|d| d.0.into_iter().map(|d| d.message).collect::<Vec<_>>())?;
    Ok(Harness {
        router,
        clock,
        pool,
        store,
    })
}

/// [`try_harness`], panicking on configuration errors.
pub fn harness(
    class: &'static ElementClass,
    config: &str,
    ninputs: usize,
    noutputs: usize,
) -> Harness {
    match try_harness(class, config, ninputs, noutputs, 64) {
        Ok(h) => h,
        Err(e) => panic!("configuration failed: {e:?}"),
    }
}

impl Harness {
    /// A packet holding `bytes`.
    pub fn packet(&self, bytes: &[u8]) -> Packet {
        self.pool.alloc_from(bytes).expect("pool has room")
    }

    /// Pushes one packet into input `port`.
    pub fn push(&mut self, port: usize, p: Packet) {
        let mut b = Batch::new();
        b.push(p);
        self.router.push_to("dut", port, b).expect("dut exists");
    }

    /// Pushes `bytes` with the network header at `offset` and `f` applied to the
    /// annotations.
    pub fn push_ip(
        &mut self,
        port: usize,
        bytes: &[u8],
        offset: usize,
        f: impl FnOnce(&mut Annotations),
    ) {
        let mut p = self.packet(bytes);
        p.set_network_offset(offset);
        f(p.anno_mut());
        self.push(port, p);
    }

    /// Takes what the element emitted so far.
    pub fn take(&self) -> Vec<Out> {
        core::mem::take(&mut *self.store.borrow_mut())
    }

    /// Reads a handler of the element under test.
    pub fn read(&self, h: &str) -> String {
        self.router
            .read_handler(&alloc::format!("dut.{h}"))
            .expect("handler")
    }

    /// Writes a handler of the element under test.
    pub fn write(&self, h: &str, v: &str) -> Result<(), sluice_dataplane::HandlerError> {
        self.router.write_handler(&alloc::format!("dut.{h}"), v)
    }

    /// Advances the clock by `ns` and runs a scheduler round (timers fire).
    pub fn advance(&mut self, ns: u64) {
        self.clock.advance(ns);
        self.router.run_once();
    }
}

/// Builds an IPv4 packet with etherparse: `src`, `dst`, TTL 64, DF clear, `payload` after a
/// header of protocol `proto`, checksum valid.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let h = etherparse::Ipv4Header::new(
        payload.len() as u16,
        64,
        etherparse::IpNumber(proto),
        src,
        dst,
    )
    .expect("payload fits");
    let mut h = h;
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}
