//! The element tests' harness: graphs, an environment over a manual clock and a memory
//! console, a recording sink, routers over every class, and frames with valid checksums.
//!
//! Each family's `testutil` is a thin layer over this one, shaped for its tests.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use etherparse::PacketBuilder;
use sluice_config::args::Args;
use sluice_config::{FlatConnection, FlatElement, FlatGraph, Span};
use sluice_dataplane::console::MemoryConsole;
use sluice_dataplane::{
    Annotations, Batch, ConfigContext, Context, Element, ElementClass, Environment, HandlerError,
    InitContext, ManualClock, NetDevice, Packet, PacketPool, Router, TaskStatus,
};

/// One element of a test graph. Its configuration span covers the configuration text, so
/// error spans are offsets into it.
fn element(name: &str, class: &str, config: &str) -> FlatElement {
    FlatElement {
        name: name.to_string(),
        class: class.to_string(),
        config: config.to_string(),
        span: Span::default(),
        config_span: Span::new(0, 0, config.len()),
    }
}

/// Swaps `g` into the running router `r` as a `hotconfig` write does, with the classes of
/// [`Bench::router`]. `Ok` holds the state transfer's warnings, `Err` the errors as
/// [`Bench::router`] gives them.
pub fn hotswap(r: &mut Router, g: &FlatGraph) -> Result<Vec<String>, String> {
    let mut classes = crate::all_classes();
    classes.extend([&COLLECT, &PULL_COLLECT]);
    r.hotswap(g, &classes).map_err(|d| {
        d.0.iter()
            .map(|d| format!("{}@{}..{}", d.message, d.span.start, d.span.end))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A graph from `(name, class, config)` triples and `(from, port, to, port)` connections.
pub fn graph(
    elements: &[(&str, &str, &str)],
    connections: &[(usize, usize, usize, usize)],
) -> FlatGraph {
    let mut g = FlatGraph::from_parts(&[], connections);
    g.elements = elements
        .iter()
        .map(|&(n, c, cfg)| element(n, c, cfg))
        .collect();
    g
}

/// One packet a [`COLLECT`] or [`PULL_COLLECT`] element received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    /// The recording element.
    pub sink: String,
    /// The input port it arrived on.
    pub port: usize,
    pub data: Vec<u8>,
    pub anno: Annotations,
    pub network_offset: Option<usize>,
    pub transport_offset: Option<usize>,
    /// The buffer's bytes in front of the data (what `Unstrip` would take back); their
    /// number is the packet's headroom.
    pub headroom: Vec<u8>,
}

impl Out {
    /// A packet in `pool` as this one arrived: the same buffer bytes up to the end of the
    /// data, the same annotations (header offsets included). Feeds one harness's output to
    /// another.
    pub fn packet(&self, pool: &PacketPool) -> Packet {
        let mut p = pool.alloc(0).expect("pool has room");
        let head = self.headroom.len();
        p.set_range(head, self.data.len()).expect("buffer has room");
        p.buffer_mut()[..head].copy_from_slice(&self.headroom);
        p.data_mut().copy_from_slice(&self.data);
        *p.anno_mut() = self.anno;
        p
    }
}

std::thread_local! {
    // Each test runs on its own thread, so tests never see each other's packets.
    static RECORDED: RefCell<Vec<Out>> = const { RefCell::new(Vec::new()) };
}

fn record(sink: &str, port: usize, batch: &Batch) {
    RECORDED.with(|r| {
        r.borrow_mut().extend(batch.iter().map(|p| Out {
            sink: sink.to_string(),
            port,
            data: p.data().to_vec(),
            anno: *p.anno(),
            network_offset: p.network_offset(),
            transport_offset: p.transport_offset(),
            headroom: p.buffer()[..p.headroom()].to_vec(),
        }))
    });
}

/// Takes what the element called `sink` recorded, in arrival order.
pub fn collected(sink: &str) -> Vec<Out> {
    RECORDED.with(|r| {
        let (mine, others) = r.take().into_iter().partition(|o| o.sink == sink);
        *r.borrow_mut() = others;
        mine
    })
}

/// The bytes of [`collected`].
pub fn collected_bytes(sink: &str) -> Vec<Vec<u8>> {
    collected(sink).into_iter().map(|o| o.data).collect()
}

/// Takes what every recording element received, in arrival order.
pub fn take_collected() -> Vec<Out> {
    RECORDED.with(RefCell::take)
}

/// Records every packet pushed into any of its inputs.
struct Collect(String);

impl Element for Collect {
    fn push(&mut self, _: &mut Context<'_>, port: usize, batch: Batch) {
        record(&self.0, port, &batch);
    }
}

/// Pulls up to three packets per task run and records them.
struct PullCollect(String);

impl Element for PullCollect {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        match ctx.pull(0, 3) {
            Some(batch) => {
                record(&self.0, 0, &batch);
                TaskStatus::Busy
            }
            None => TaskStatus::Idle,
        }
    }
}

/// `Collect`: a push sink with any number of inputs that records what it receives.
pub static COLLECT: ElementClass = ElementClass {
    name: "Collect",
    ports: "-/0",
    processing: "h",
    make: |_: &mut Args<'_>, c: &ConfigContext<'_>| Some(Box::new(Collect(c.name.to_string()))),
    names: None,
};

/// `PullCollect`: a pull sink that records what it pulls.
pub static PULL_COLLECT: ElementClass = ElementClass {
    name: "PullCollect",
    ports: "1/0",
    processing: "l",
    make: |_: &mut Args<'_>, c: &ConfigContext<'_>| Some(Box::new(PullCollect(c.name.to_string()))),
    names: None,
};

/// What a test router runs on, kept so the test can drive time and read the console.
pub struct Bench {
    pub pool: PacketPool,
    pub clock: ManualClock,
    pub console: MemoryConsole,
}

impl Bench {
    /// 64 buffers and 2 large ones, the clock at one second.
    pub fn new() -> Self {
        Self {
            pool: PacketPool::with_large(64, 2),
            clock: ManualClock::new(1_000_000_000),
            console: MemoryConsole::default(),
        }
    }

    /// A pool of `buffers` regular buffers and `large` large ones.
    pub fn pool(mut self, buffers: usize, large: usize) -> Self {
        self.pool = match large {
            0 => PacketPool::new(buffers),
            _ => PacketPool::with_large(buffers, large),
        };
        self
    }

    /// The clock starting at `ns`.
    pub fn clock_at(self, ns: u64) -> Self {
        self.clock.set(ns);
        self
    }

    /// A router over `g` with every class plus the recording sinks; nothing is recorded yet.
    /// `Err` holds every configuration error, one `message@start..end` per line.
    pub fn router(&self, g: &FlatGraph) -> Result<Router, String> {
        self.router_with(g, Vec::new())
    }

    /// [`Bench::router`] with devices already open.
    pub fn router_with(
        &self,
        g: &FlatGraph,
        devices: Vec<Box<dyn NetDevice>>,
    ) -> Result<Router, String> {
        let mut classes = crate::all_classes();
        classes.extend([&COLLECT, &PULL_COLLECT]);
        let env = Environment {
            pool: self.pool.clone(),
            clock: Box::new(self.clock.clone()),
            devices,
            device_opener: None,
            console: Box::new(self.console.clone()),
        };
        take_collected();
        Router::new(g, &classes, env).map_err(|d| {
            d.0.iter()
                .map(|d| format!("{}@{}..{}", d.message, d.span.start, d.span.end))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Console lines so far (taken).
    pub fn lines(&self) -> Vec<String> {
        self.console.0.take()
    }

    /// A packet holding `bytes`.
    pub fn packet(&self, bytes: &[u8]) -> Packet {
        self.pool.alloc_from(bytes).expect("pool has room")
    }

    /// A batch of packets with the given contents.
    pub fn batch(&self, frames: &[&[u8]]) -> Batch {
        frames.iter().map(|f| self.packet(f)).collect()
    }
}

/// The error text of a router that fails to build.
pub fn config_error(g: &FlatGraph) -> String {
    match Bench::new().router(g) {
        Ok(_) => panic!("configuration was accepted"),
        Err(e) => e,
    }
}

/// Elements under test, each `(name, class, config, ninputs, noutputs)`: input `i` fed by
/// an `Idle` called `name/in<i>`, output `k` into input `k` of a `Collect` called
/// `name/out`. The first element is the one [`Harness::push`], [`Harness::take`],
/// [`Harness::read`] and [`Harness::write`] address.
pub struct Harness {
    pub bench: Bench,
    pub router: Router,
    /// Name and number of outputs of each element under test.
    wired: Vec<(String, usize)>,
}

impl Harness {
    pub fn new(
        bench: Bench,
        elements: &[(&str, &str, &str, usize, usize)],
    ) -> Result<Self, String> {
        let mut g = FlatGraph {
            elements: elements
                .iter()
                .map(|&(n, c, cfg, ..)| element(n, c, cfg))
                .collect(),
            ..FlatGraph::default()
        };
        for (k, &(name, _, _, ninputs, noutputs)) in elements.iter().enumerate() {
            for i in 0..ninputs {
                let from = g.elements.len();
                g.elements
                    .push(element(&format!("{name}/in{i}"), "Idle", ""));
                g.connections.push(FlatConnection {
                    from,
                    from_port: 0,
                    to: k,
                    to_port: i,
                });
            }
            if noutputs > 0 {
                let to = g.elements.len();
                g.elements
                    .push(element(&format!("{name}/out"), "Collect", ""));
                g.connections.extend((0..noutputs).map(|o| FlatConnection {
                    from: k,
                    from_port: o,
                    to,
                    to_port: o,
                }));
            }
        }
        let router = bench.router(&g)?;
        let wired = elements.iter().map(|e| (e.0.to_string(), e.4)).collect();
        Ok(Self {
            bench,
            router,
            wired,
        })
    }

    /// The name of the element under test.
    pub fn dut(&self) -> &str {
        &self.wired[0].0
    }

    /// A packet holding `bytes`.
    pub fn packet(&self, bytes: &[u8]) -> Packet {
        self.bench.packet(bytes)
    }

    /// Pushes one packet into input `port` of the element under test.
    pub fn push(&mut self, port: usize, p: Packet) {
        let dut = self.dut().to_string();
        let mut batch = Batch::new();
        batch.push(p);
        self.router
            .push_to(&dut, port, batch)
            .expect("element exists");
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

    /// Takes what the element under test emitted so far, in order.
    pub fn take(&self) -> Vec<Out> {
        collected(&format!("{}/out", self.dut()))
    }

    /// Takes what element `name` emitted so far, by output.
    pub fn outputs(&self, name: &str) -> Vec<Vec<Out>> {
        let n = self.wired.iter().find(|w| w.0 == name).map_or(0, |w| w.1);
        let mut outs: Vec<Vec<Out>> = (0..n).map(|_| Vec::new()).collect();
        for o in collected(&format!("{name}/out")) {
            outs[o.port].push(o);
        }
        outs
    }

    /// Reads a handler of the element under test.
    pub fn read(&self, handler: &str) -> String {
        self.router
            .read_handler(&format!("{}.{handler}", self.dut()))
            .expect("handler")
    }

    /// Writes a handler of the element under test.
    pub fn write(&self, handler: &str, value: &str) -> Result<(), HandlerError> {
        self.router
            .write_handler(&format!("{}.{handler}", self.dut()), value)
    }

    /// Advances the clock by `ns` and runs a scheduler round (timers fire).
    pub fn advance(&mut self, ns: u64) {
        self.bench.clock.advance(ns);
        self.router.run_once();
    }
}

/// Source and destination of [`ethernet`] frames.
pub const MAC_SRC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const MAC_DST: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// An IPv4 `packet` behind an Ethernet header from [`MAC_SRC`] to [`MAC_DST`].
pub fn ethernet(packet: &[u8]) -> Vec<u8> {
    let mut f = [MAC_DST, MAC_SRC].concat();
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(packet);
    f
}

/// An IPv4 header (TTL 64, DF clear, checksum valid) of protocol `proto` before `payload`.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("payload fits");
    let mut h = etherparse::Ipv4Header::new(len, 64, etherparse::IpNumber(proto), src, dst)
        .expect("payload fits");
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

// The transport builders below produce IPv4 packets as etherparse does: TTL 64, DF set,
// every checksum valid.

/// An IPv4/UDP packet.
pub fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .expect("packet fits");
    v
}

/// An IPv4/TCP packet (sequence 0, window 65535) with `flags` from "SAFRPU".
pub fn tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, 0, 65535);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(1),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            'U' => b.urg(1),
            _ => b,
        };
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("packet fits");
    v
}

/// An IPv4/ICMP echo request (or reply), sequence number 7.
pub fn icmp_echo(src: [u8; 4], dst: [u8; 4], id: u16, request: bool, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src, dst, 64);
    let b = if request {
        b.icmpv4_echo_request(id, 7)
    } else {
        b.icmpv4_echo_reply(id, 7)
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("packet fits");
    v
}

/// A broadcast Ethernet ARP request: who has `tpa`? Tell `spa` at `sha`.
pub fn arp_request(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = [[0xff; 6], sha].concat();
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f
}

/// A router over `g` (every class plus the recording sinks) on simulated time from zero,
/// as `--simtime` runs one, with its clock: every fresh read Click would make moves it on
/// by a nanosecond, so a test counts an element's reads by watching it.
pub fn simtime_router(g: &FlatGraph, pool: &PacketPool) -> (Router, sluice_dataplane::SimClock) {
    use sluice_dataplane::Clock;
    let clock = sluice_dataplane::SimClock::new(0);
    let mut classes = crate::all_classes();
    classes.extend([&COLLECT, &PULL_COLLECT]);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(clock.clone()),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    take_collected();
    let router = Router::new(g, &classes, env).unwrap_or_else(|_| panic!("configuration"));
    assert!(clock.now_ns() >= sluice_dataplane::SimClock::STARTUP_READS);
    (router, clock)
}
