//! Test scaffolding for the rewriters: a router around one element under test, recording
//! sinks, packet builders and independent checksum checks (etherparse).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use etherparse::{Icmpv4Header, Ipv4Header, PacketBuilder, TcpHeader, UdpHeader};
use sluice_config::args::Args;
use sluice_config::{FlatConnection, FlatElement, FlatGraph, Span};
use sluice_dataplane::router::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, ManualClock, PacketPool,
    Router,
};

std::thread_local! {
    static GOT: RefCell<BTreeMap<String, Vec<Vec<u8>>>> = const { RefCell::new(BTreeMap::new()) };
}

struct Sink(String);
impl Element for Sink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        GOT.with(|g| {
            g.borrow_mut()
                .entry(self.0.clone())
                .or_default()
                .extend(batch.iter().map(|p| p.data().to_vec()))
        });
    }
}
struct Idle;
impl Element for Idle {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}
fn mk_sink(_: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Sink(c.name.to_string())))
}
fn mk_idle(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Idle))
}
static SINK: ElementClass = ElementClass {
    name: "TestSink",
    ports: "1/0",
    processing: "h",
    make: mk_sink,
    names: None,
};
static IDLE: ElementClass = ElementClass {
    name: "TestIdle",
    ports: "0/1",
    processing: "h",
    make: mk_idle,
    names: None,
};

/// A router around element `el` (named by the first of `elems`) with `ninputs` fed inputs
/// and `noutputs` outputs into sinks `el.outN`; further `elems` are extra elements.
pub struct Rig {
    pub router: Router,
    pub clock: ManualClock,
    pub pool: PacketPool,
    name: String,
}

/// Ten seconds past an arbitrary origin, in ns.
pub const T0: u64 = 10_000_000_000;

impl Rig {
    pub fn try_new(
        elems: &[(&str, &str, &str)],
        ninputs: usize,
        noutputs: usize,
    ) -> Result<Rig, String> {
        let mut all: Vec<(&str, &str, &str, usize, usize)> = Vec::new();
        for (k, (n, c, cfg)) in elems.iter().enumerate() {
            let (i, o) = if k == 0 { (ninputs, noutputs) } else { (0, 0) };
            all.push((n, c, cfg, i, o));
        }
        Self::multi(&all)
    }

    /// Several elements, each `(name, class, config, ninputs, noutputs)` with fed inputs
    /// and recorded outputs; the first is the default for [`Rig::push`].
    pub fn multi(elems: &[(&str, &str, &str, usize, usize)]) -> Result<Rig, String> {
        let mut g = FlatGraph::default();
        let el = |n: &str, c: &str, cfg: &str| FlatElement {
            name: n.into(),
            class: c.into(),
            config: cfg.into(),
            span: Span::default(),
            config_span: Span::default(),
        };
        for (n, c, cfg, ..) in elems {
            g.elements.push(el(n, c, cfg));
        }
        let name = elems[0].0.to_string();
        for (k, (n, _, _, ninputs, noutputs)) in elems.iter().enumerate() {
            for i in 0..*ninputs {
                g.elements
                    .push(el(&alloc::format!("{n}.src{i}"), "TestIdle", ""));
                let from = g.elements.len() - 1;
                g.connections.push(FlatConnection {
                    from,
                    from_port: 0,
                    to: k,
                    to_port: i,
                });
            }
            for o in 0..*noutputs {
                g.elements
                    .push(el(&alloc::format!("{n}.out{o}"), "TestSink", ""));
                let to = g.elements.len() - 1;
                g.connections.push(FlatConnection {
                    from: k,
                    from_port: o,
                    to,
                    to_port: 0,
                });
            }
        }
        let mut classes: Vec<&'static ElementClass> = super::ALL.to_vec();
        classes.push(&SINK);
        classes.push(&IDLE);
        let clock = ManualClock::new(T0);
        let pool = PacketPool::new(256);
        let env = Environment {
            pool: pool.clone(),
            clock: Box::new(clock.clone()),
            devices: Vec::new(),
            device_opener: None,
            console: Box::new(MemoryConsole::default()),
        };
        let router = Router::new(&g, &classes, env).map_err(|d| {
            d.0.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        GOT.with(|g| g.borrow_mut().clear());
        Ok(Rig {
            router,
            clock,
            pool,
            name,
        })
    }

    pub fn new(class: &str, config: &str, ninputs: usize, noutputs: usize) -> Rig {
        Self::try_new(&[("rw", class, config)], ninputs, noutputs).expect("configuration accepted")
    }

    /// Pushes `frames` into input `port`, then returns what each output received.
    pub fn push(&mut self, port: usize, frames: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let name = self.name.clone();
        self.push_into(&name, port, frames)
    }

    /// Pushes `frames` into input `port` of element `name`; returns its outputs.
    pub fn push_into(&mut self, name: &str, port: usize, frames: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let batch: Batch = frames
            .iter()
            .map(|f| self.pool.alloc_from(f).expect("room"))
            .collect();
        // The router time is read at the start of a round; run one so `now` is current.
        self.router.run_rounds(1);
        self.router
            .push_to(name, port, batch)
            .expect("element exists");
        self.take_of(name)
    }

    /// Pushes one frame into element `name`; returns (output, bytes) if it came out.
    pub fn one_into(&mut self, name: &str, port: usize, frame: &[u8]) -> Option<(usize, Vec<u8>)> {
        let outs = self.push_into(name, port, &[frame]);
        outs.into_iter()
            .enumerate()
            .find_map(|(o, v)| v.into_iter().next().map(|b| (o, b)))
    }

    /// Pushes one frame; returns (output, bytes) if it came out.
    pub fn one(&mut self, port: usize, frame: &[u8]) -> Option<(usize, Vec<u8>)> {
        let outs = self.push(port, &[frame]);
        outs.into_iter()
            .enumerate()
            .find_map(|(o, v)| v.into_iter().next().map(|b| (o, b)))
    }

    fn take_of(&mut self, name: &str) -> Vec<Vec<Vec<u8>>> {
        let mut outs = Vec::new();
        for o in 0.. {
            let key = alloc::format!("{name}.out{o}");
            let exists = self.router.element_names().any(|n| n == key);
            if !exists {
                break;
            }
            outs.push(GOT.with(|g| g.borrow_mut().remove(&key).unwrap_or_default()));
        }
        outs
    }

    pub fn h(&self, handler: &str) -> String {
        self.router
            .read_handler(&alloc::format!("{}.{handler}", self.name))
            .expect("handler")
    }

    /// Advances the clock by `secs` seconds and runs the timers.
    pub fn advance(&mut self, secs: u64) {
        self.clock.advance(secs * 1_000_000_000);
        self.router.run_rounds(1);
    }
}

pub fn tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, 1000, 4096);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'F' => b.fin(),
            'R' => b.rst(),
            'A' => b.ack(1),
            _ => b,
        };
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

pub fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn echo(src: [u8; 4], dst: [u8; 4], id: u16, request: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv4(src, dst, 64);
    let b = if request {
        b.icmpv4_echo_request(id, 7)
    } else {
        b.icmpv4_echo_reply(id, 7)
    };
    b.write(&mut v, b"pingdata").unwrap();
    v
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
