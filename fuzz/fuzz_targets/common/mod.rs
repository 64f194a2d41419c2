//! Robustness harness shared by the packet, pcap and argument fuzz targets and by the
//! `proptest` suite in `elements/tests/robustness.rs` (which includes this file by path), so
//! CI checks the same invariants on every run that the fuzzers check for hours.
//!
//! Every entry point takes arbitrary bytes, drives real elements in a real [`Router`], and
//! panics only when an invariant breaks (or an element panics):
//!
//! - [`firewall`]: frames through `Classifier -> Strip -> CheckIPHeader -> IPFilter ->
//!   DecIPTTL -> SetIPChecksum -> IPClassifier`; what leaves `SetIPChecksum` must carry a
//!   valid IP header checksum.
//! - [`nat`]: frames into every rewriter, both directions, with the clock moved by the input;
//!   after each batch `table_size` is an integer within `capacity` and no buffer is held.
//! - [`router`]: frames into the routing elements (`ARPQuerier`, `ICMPError`,
//!   `IPFragmenter`, ...), directly and through a Click-style IP router.
//! - [`pcap`]: the bytes as a capture file read by `FromDump` to the end.
//! - [`args`]: the bytes as the configuration string of every element class.
//!
//! The packet inputs are a sequence of records (see [`Records`]): an entry-point selector,
//! annotations, a length-prefixed frame; consecutive records for one entry form a batch.
//! Every target ends by dropping the router and checking that every buffer came back.
#![allow(dead_code)]

use std::boxed::Box;
use std::cell::Cell;
use std::string::{String, ToString};
use std::vec::Vec;

use sluice_config::args::Args;
use sluice_config::{FlatConnection, FlatElement, FlatGraph, PortSpec, Source, Span};
use sluice_dataplane::console::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, ManualClock, Packet,
    PacketPool, Router, BATCH_MAX,
};

/// Buffers in each target's pool: small, so exhaustion paths run too.
pub const POOL_BUFFERS: usize = 96;

/// Largest frame a record carries (a pool buffer minus its headroom).
pub const MAX_FRAME: usize = 2048 - 128;

/// Reads the fuzzer's bytes front to back; running out yields zeros and empty slices.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

/// One record of a packet input.
pub enum Record<'a> {
    /// A frame for entry point `entry` (an index into the target's entry list).
    Frame {
        entry: usize,
        /// Network header offset annotation to set, if any.
        network: Option<usize>,
        /// Destination IP annotation.
        dst_ip: Option<[u8; 4]>,
        /// Paint annotation.
        paint: u8,
        bytes: &'a [u8],
    },
    /// Move the clock forward by this many milliseconds and run one scheduler round (timers:
    /// reaping, ARP expiry and retries).
    Tick(u32),
}

/// Splits an input into [`Record`]s.
///
/// Layout of a record: a selector byte `s`; `s == 0xff` is a tick of `u16` milliseconds
/// (scaled by 16 when the next byte is odd, so hours pass in a few records). Otherwise the
/// entry is `s % entries`, then a flags byte (bits 0-1: no network annotation / offset 0 /
/// offset 14 / offset from the next byte; bit 2: a destination IP annotation from the next
/// four bytes; bit 3: the paint annotation from the next byte), then a `u16` length
/// (modulo [`MAX_FRAME`] + 1) and the frame bytes.
pub struct Records<'a> {
    cursor: Cursor<'a>,
    entries: usize,
}

impl<'a> Records<'a> {
    pub fn new(data: &'a [u8], entries: usize) -> Self {
        Self {
            cursor: Cursor::new(data),
            entries,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let c = &mut self.cursor;
        if c.is_empty() {
            return None;
        }
        let s = c.u8();
        if s == 0xff {
            let ms = u32::from(c.u16());
            let scale = if c.u8() & 1 == 1 { 16 } else { 1 };
            return Some(Record::Tick(ms * scale));
        }
        let entry = usize::from(s) % self.entries;
        let flags = c.u8();
        let network = match flags & 3 {
            0 => None,
            1 => Some(0),
            2 => Some(14),
            _ => Some(usize::from(c.u8())),
        };
        let dst_ip = (flags & 4 != 0).then(|| c.u32().to_be_bytes());
        let paint = if flags & 8 != 0 { c.u8() } else { 0 };
        let len = usize::from(c.u16()) % (MAX_FRAME + 1);
        let bytes = c.bytes(len);
        Some(Record::Frame {
            entry,
            network,
            dst_ip,
            paint,
            bytes,
        })
    }
}

/// Encodes a frame record (the inverse of [`Records`]), for structured generators.
pub fn encode_frame(
    out: &mut Vec<u8>,
    entry: u8,
    network: Option<u8>,
    dst_ip: Option<[u8; 4]>,
    bytes: &[u8],
) {
    assert!(entry != 0xff && bytes.len() <= MAX_FRAME);
    out.push(entry);
    let mut flags = match network {
        None => 0,
        Some(0) => 1,
        Some(14) => 2,
        Some(_) => 3,
    };
    if dst_ip.is_some() {
        flags |= 4;
    }
    out.push(flags);
    if let Some(n @ 1..) = network {
        if n != 14 {
            out.push(n);
        }
    }
    if let Some(ip) = dst_ip {
        out.extend_from_slice(&u32::from_be_bytes(ip).to_le_bytes());
    }
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes a tick record of `ms` milliseconds (times 16 when `long`).
pub fn encode_tick(out: &mut Vec<u8>, ms: u16, long: bool) {
    out.push(0xff);
    out.extend_from_slice(&ms.to_le_bytes());
    out.push(u8::from(long));
}

thread_local! {
    /// Packets whose checksum [`IpSumCheck`] verified, so tests can see the check ran.
    pub static CHECKED: Cell<u64> = const { Cell::new(0) };
}

/// A sink that checks the IPv4 header checksum of every packet it receives (the header at
/// the network annotation, else at the data start), then drops it.
struct IpSumCheck;

impl Element for IpSumCheck {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            let ip = p.network_data().unwrap_or(p.data());
            assert!(
                ip.len() >= 20,
                "a packet shorter than an IP header left SetIPChecksum"
            );
            let hl = usize::from(ip[0] & 15) * 4;
            assert!(
                hl >= 20 && ip.len() >= hl,
                "bad IP header length left SetIPChecksum"
            );
            let mut acc: u32 = 0;
            for w in ip[..hl].chunks(2) {
                acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            assert_eq!(
                acc, 0xffff,
                "SetIPChecksum emitted a bad IP checksum: {ip:02x?}"
            );
            CHECKED.with(|c| c.set(c.get() + 1));
        }
    }
}

fn make_ipsum_check(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(IpSumCheck))
}

static IP_SUM_CHECK: ElementClass = ElementClass {
    name: "FuzzIPSumCheck",
    ports: "1/0",
    processing: "h",
    make: make_ipsum_check,
    names: None,
};

/// Every class of the element library, plus the harness's own.
pub fn classes() -> Vec<&'static ElementClass> {
    let mut v = sluice_elements::all_classes();
    v.push(&IP_SUM_CHECK);
    v
}

thread_local! {
    /// Flattened graphs of the targets' fixed configurations: parsing is not what these
    /// targets test, and a graph is immutable, so each is built once per process.
    static GRAPHS: std::cell::RefCell<std::collections::HashMap<&'static str, FlatGraph>> =
        std::cell::RefCell::default();
}

/// The flattened graph of `config` (Click syntax, ours, so it must load).
fn flat(config: &str) -> FlatGraph {
    let src = Source::new("fuzz.click", config.to_string());
    let render = |d: sluice_config::Diagnostics| d.render(std::slice::from_ref(&src));
    let ast = sluice_config::parse(&src, 0).unwrap_or_else(|d| panic!("{}", render(d)));
    sluice_config::flatten(&ast, &[]).unwrap_or_else(|d| panic!("{}", render(d)))
}

/// A router for one of the targets' fixed configurations on `pool` and `clock`.
pub fn build(config: &'static str, pool: &PacketPool, clock: &ManualClock) -> Router {
    let graph = GRAPHS.with(|g| {
        g.borrow_mut()
            .entry(config)
            .or_insert_with(|| flat(config))
            .clone()
    });
    instantiate(&graph, pool, clock).unwrap_or_else(|e| panic!("{e}"))
}

/// A router for `config`, or the rendered configuration errors.
pub fn try_build(config: &str, pool: &PacketPool, clock: &ManualClock) -> Result<Router, String> {
    instantiate(&flat(config), pool, clock)
}

fn instantiate(
    graph: &FlatGraph,
    pool: &PacketPool,
    clock: &ManualClock,
) -> Result<Router, String> {
    let render = |d: sluice_config::Diagnostics| {
        d.0.iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(clock.clone()),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    Router::new(graph, &classes(), env).map_err(render)
}

/// A packet holding `bytes` with the record's annotations, or `None` when the pool is empty.
fn packet(
    pool: &PacketPool,
    network: Option<usize>,
    dst_ip: Option<[u8; 4]>,
    paint: u8,
    bytes: &[u8],
) -> Option<Packet> {
    let mut p = pool.alloc_from(bytes)?;
    if let Some(o) = network {
        // Offsets past the end are legal annotations (a packet cut after it was marked).
        p.set_network_offset(o);
    }
    if let Some(ip) = dst_ip {
        p.anno_mut().dst_ip = ip;
    }
    p.anno_mut().paint = paint;
    Some(p)
}

/// Pushes `batch` (if any) into `entry`, then calls `after`.
fn flush(
    router: &mut Router,
    batch: &mut Batch,
    (name, port): (&str, usize),
    after: &mut impl FnMut(&Router),
) {
    if !batch.is_empty() {
        router
            .push_to(name, port, core::mem::take(batch))
            .expect("entry element exists");
        after(router);
    }
}

/// Feeds `data`'s records to `entries` (element, input port) of `router`, calling `after`
/// after each batch.
fn drive(
    data: &[u8],
    router: &mut Router,
    pool: &PacketPool,
    clock: &ManualClock,
    entries: &[(&str, usize)],
    mut after: impl FnMut(&Router),
) {
    // The router reads the clock at the start of a round.
    router.run_once();
    let mut batch = Batch::new();
    let mut current = 0;
    for rec in Records::new(data, entries.len()) {
        match rec {
            Record::Tick(ms) => {
                flush(router, &mut batch, entries[current], &mut after);
                clock.advance(u64::from(ms) * 1_000_000);
                router.run_once();
                after(router);
            }
            Record::Frame {
                entry,
                network,
                dst_ip,
                paint,
                bytes,
            } => {
                if entry != current || batch.len() == BATCH_MAX {
                    flush(router, &mut batch, entries[current], &mut after);
                    current = entry;
                }
                if let Some(p) = packet(pool, network, dst_ip, paint, bytes) {
                    batch.push(p);
                }
            }
        }
    }
    flush(router, &mut batch, entries[current], &mut after);
}

/// Reads every readable handler of every element: handler code sees the state the packets
/// left behind and must not panic on it.
pub fn read_all_handlers(router: &Router) {
    let names: Vec<String> = router.element_names().map(String::from).collect();
    for e in names {
        let list = router
            .read_handler(&format!("{e}.handlers"))
            .expect("every element has a handler list");
        for line in list.lines() {
            let Some((h, mode)) = line.split_once('\t') else {
                continue;
            };
            if mode.contains('r') {
                let _ = router.read_handler(&format!("{e}.{h}"));
            }
        }
    }
}

/// Drops the router and checks that every buffer is back in the pool.
fn finish(router: Router, pool: &PacketPool) {
    read_all_handlers(&router);
    drop(router);
    let s = pool.stats();
    assert_eq!(s.free, s.capacity, "buffers leaked: {s:?}");
}

// ---------------------------------------------------------------------------------------
// 1. Firewall

const FIREWALL: &str = r#"
cls :: Classifier(12/0800, 12/0806 20/0001, 12/86dd, 12/8100 16/0800, 0/ffffffffffff, -);
fw :: Strip(14);
chk :: CheckIPHeader;
filt :: IPFilter(allow tcp && syn && dst port 80,
                 1 udp && src port 53 && dst port > 1023,
                 allow icmp type echo,
                 2 ip frag,
                 deny ip unfrag && ip hl > 5,
                 allow tcp opt ack && win > 100,
                 allow ip ttl < 10 || ip tos 4,
                 allow src net 10.0.0.0/8 && !(dst host 10.0.0.1),
                 1 tcp src port 1-1023 or udp dst port 0,
                 deny all);
ttl :: DecIPTTL;
sum :: SetIPChecksum;
ipc :: IPClassifier(tcp, udp, icmp type echo-reply, ip frag, -);
raw :: IPClassifier(tcp port 22 && tcp opt syn, udp && len > 100, icmp, dst 10.0.0.0/24, -);
rawf :: IPFilter(allow tcp, 1 udp, deny all);

cls[0] -> fw -> chk -> filt -> ttl -> sum -> ipc -> check :: FuzzIPSumCheck;
cls[1] -> Discard; cls[2] -> Discard; cls[3] -> Discard; cls[4] -> Discard; cls[5] -> Discard;
chk[1] -> Discard;
filt[1] -> ttl;
filt[2] -> Discard;
ttl[1] -> Discard;
ipc[1] -> FuzzIPSumCheck; ipc[2] -> FuzzIPSumCheck; ipc[3] -> FuzzIPSumCheck;
ipc[4] -> FuzzIPSumCheck;
raw[0] -> Discard; raw[1] -> Discard; raw[2] -> Discard; raw[3] -> Discard; raw[4] -> Discard;
rawf[0] -> Discard; rawf[1] -> Discard;
"#;

const FIREWALL_ENTRIES: &[(&str, usize)] = &[
    ("cls", 0),
    ("fw", 0),
    ("chk", 0),
    ("filt", 0),
    ("raw", 0),
    ("rawf", 0),
    ("ttl", 0),
];

/// Frames through the firewall pipeline and the classifiers.
pub fn firewall(data: &[u8]) {
    let pool = PacketPool::new(POOL_BUFFERS);
    let clock = ManualClock::new(1_000_000_000);
    let mut router = build(FIREWALL, &pool, &clock);
    drive(data, &mut router, &pool, &clock, FIREWALL_ENTRIES, |r| {
        // Nothing in this graph holds packets.
        let s = r.pool().stats();
        assert_eq!(
            s.free, s.capacity,
            "a firewall element kept a buffer: {s:?}"
        );
    });
    finish(router, &pool);
}

// ---------------------------------------------------------------------------------------
// 2. NAT

const NAT: &str = r#"
IPRewriterPatterns(NAT 21.0.0.9 3000-3002 - -);
rr :: RoundRobinIPMapper(- - 10.0.0.1 - 0 1, - - 10.0.0.2 - 0 1);
rw :: IPRewriter(pattern 21.0.0.1 1024-1031 - - 0 1, drop,
                 MAPPING_CAPACITY 12, TCP_TIMEOUT 30, TCP_NODATA_TIMEOUT 10,
                 TCP_DONE_TIMEOUT 5, UDP_TIMEOUT 10, UDP_STREAMING_TIMEOUT 20,
                 TCP_GUARANTEE 2, UDP_GUARANTEE 1, REAP_INTERVAL 3);
rw2 :: IPRewriter(pattern 21.0.0.0/30 1024-1025# 10.9.9.9 - 0 1, pass 1, REAP_INTERVAL 1,
                  CAPACITY 6);
rwk :: IPRewriter(keep 0 1, pattern NAT 0 1);
rwm :: IPRewriter(rr, drop, MAPPING_CAPACITY 64);
trw :: TCPRewriter(pattern 21.0.0.1 2000-2003? - - 0 1, drop, MAPPING_CAPACITY 4, REAP_INTERVAL 2);
urw :: UDPRewriter(pattern 22.0.0.1 - 0 1, pass 1, UDP_TIMEOUT 4, REAP_INTERVAL 2,
                   MAPPING_CAPACITY 32);
ping :: ICMPPingRewriter(pattern 21.0.0.1 1024-1027 - - 0 1, drop, REAP_INTERVAL 2,
                         MAPPING_CAPACITY 8);
icmp :: ICMPRewriter(rw ping trw urw);

src0 :: Idle; src1 :: Idle;
rw[0] -> Discard; rw[1] -> Discard;
rw2[0] -> Discard; rw2[1] -> Discard;
rwk[0] -> Discard; rwk[1] -> Discard;
rwm[0] -> Discard; rwm[1] -> Discard;
trw[0] -> Discard; trw[1] -> Discard;
urw[0] -> Discard; urw[1] -> Discard;
ping[0] -> Discard; ping[1] -> Discard;
icmp[0] -> Discard; icmp[1] -> Discard;
Idle -> [1]rw; Idle -> [1]rw2; Idle -> [1]rwk; Idle -> [1]rwm;
Idle -> [1]trw; Idle -> [1]urw; Idle -> [1]ping;
"#;

const NAT_REWRITERS: &[&str] = &["rw", "rw2", "rwk", "rwm", "trw", "urw", "ping"];

const NAT_ENTRIES: &[(&str, usize)] = &[
    ("rw", 0),
    ("rw", 1),
    ("rw2", 0),
    ("rw2", 1),
    ("rwk", 0),
    ("rwk", 1),
    ("rwm", 0),
    ("rwm", 1),
    ("trw", 0),
    ("trw", 1),
    ("urw", 0),
    ("urw", 1),
    ("ping", 0),
    ("ping", 1),
    ("icmp", 0),
];

/// Checks the rewriters' tables after a batch.
fn nat_invariants(router: &Router) {
    for rw in NAT_REWRITERS {
        let size = router
            .read_handler(&format!("{rw}.table_size"))
            .expect("table_size handler");
        let size: u64 = size
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{rw}.table_size is not an integer: {size:?}"));
        let cap: u64 = router
            .read_handler(&format!("{rw}.capacity"))
            .expect("capacity handler")
            .trim()
            .parse()
            .expect("capacity is an integer");
        assert!(size <= cap, "{rw}: {size} mappings over capacity {cap}");
    }
    // Every rewriter output goes to Discard: no buffer may stay behind.
    let s = router.pool().stats();
    assert_eq!(s.free, s.capacity, "a rewriter kept a buffer: {s:?}");
}

/// Frames through every rewriter, both directions, with time moving.
pub fn nat(data: &[u8]) {
    let pool = PacketPool::new(POOL_BUFFERS);
    let clock = ManualClock::new(10_000_000_000);
    let mut router = build(NAT, &pool, &clock);
    drive(
        data,
        &mut router,
        &pool,
        &clock,
        NAT_ENTRIES,
        nat_invariants,
    );
    nat_invariants(&router);
    finish(router, &pool);
}

// ---------------------------------------------------------------------------------------
// 3. Routing elements

const ROUTER: &str = r#"
arpq :: ARPQuerier(10.0.0.1/24, 02:00:00:00:00:01, CAPACITY 16, ENTRY_CAPACITY 8,
                   TIMEOUT 60, POLL_TIMEOUT 20);
arpr :: ARPResponder(10.0.0.1 02:00:00:00:00:01, 10.0.1.0/24 02:00:00:00:00:02);
vlan :: VLANDecap;
cls :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);
mir :: EtherMirror;
ipin :: Strip(14);
chk :: CheckIPHeader;
gw :: IPGWOptions(10.0.0.1);
rt :: RadixIPLookup(10.0.0.1/32 0, 10.0.0.255/32 0, 10.0.0.0/24 1,
                    192.168.0.0/16 10.0.0.254 2, 0/0 10.0.0.253 1);
ipc :: IPClassifier(icmp type echo, tcp, udp, icmp, -);
pingr :: ICMPPingResponder;
dec :: DecIPTTL;
frag :: IPFragmenter(576);
frag2 :: IPFragmenter(68, HONOR_DF false);
errp :: ICMPError(10.0.0.1, parameterproblem);
errt :: ICMPError(10.0.0.1, timeexceeded);
erru :: ICMPError(10.0.0.1, unreachable, needfrag, PMTU 576);
errr :: ICMPError(10.0.0.1, redirect, host);
ctcp :: CheckTCPHeader; cudp :: CheckUDPHeader; cicmp :: CheckICMPHeader;
cicmp2 :: CheckICMPHeader;
encap :: EtherEncap(0x0800, 02:00:00:00:00:01, 02:00:00:00:00:02);
sev :: StripEtherVLANHeader(-1);
eve :: EtherVLANEncap(0x0800, 02:00:00:00:00:01, 02:00:00:00:00:02, ANNO, NATIVE_VLAN 5);

vlan -> cls;
sev[0] -> eve -> Discard; sev[1] -> Discard;
cls[0] -> arpr -> mir -> Discard;
cls[1] -> [1]arpq;
cls[2] -> ipin -> chk -> gw -> rt;
cls[3] -> Discard;
arpq[0] -> Discard; arpq[1] -> Discard;
arpr[1] -> Discard;
chk[1] -> Discard;
gw[1] -> errp -> Discard;
rt[0] -> ipc;
rt[1] -> dec -> frag -> [0]arpq;
rt[2] -> encap -> Discard;
dec[1] -> errt -> Discard;
frag[1] -> erru -> Discard;
frag2[0] -> Discard; frag2[1] -> Discard;
ipc[0] -> cicmp -> pingr -> Discard;
ipc[1] -> ctcp -> Discard;
ipc[2] -> cudp -> Discard;
ipc[3] -> cicmp2 -> Discard;
ipc[4] -> errr -> Discard;
cicmp[1] -> Discard; ctcp[1] -> Discard; cudp[1] -> Discard; cicmp2[1] -> Discard;
pingr[1] -> Discard;
"#;

const ROUTER_ENTRIES: &[(&str, usize)] = &[
    ("vlan", 0),
    ("cls", 0),
    ("arpq", 0),
    ("arpq", 1),
    ("arpr", 0),
    ("mir", 0),
    ("ipin", 0),
    ("gw", 0),
    ("rt", 0),
    ("pingr", 0),
    ("dec", 0),
    ("frag", 0),
    ("frag2", 0),
    ("errp", 0),
    ("errt", 0),
    ("erru", 0),
    ("errr", 0),
    ("ctcp", 0),
    ("cudp", 0),
    ("cicmp", 0),
    ("encap", 0),
    ("sev", 0),
];

/// Frames through the routing elements, directly and along a Click IP router's paths.
pub fn router(data: &[u8]) {
    let pool = PacketPool::new(POOL_BUFFERS);
    let clock = ManualClock::new(1_000_000_000);
    let mut router = build(ROUTER, &pool, &clock);
    drive(data, &mut router, &pool, &clock, ROUTER_ENTRIES, |_| {});
    // Queued packets must come back when the router goes.
    finish(router, &pool);
}

// ---------------------------------------------------------------------------------------
// 4. Capture files

thread_local! {
    static SEQ: Cell<u64> = const { Cell::new(0) };
}

/// A file name of this process that no other run uses.
fn scratch_file() -> std::path::PathBuf {
    let n = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    std::env::temp_dir().join(format!("sluice-fuzz-{}-{n}.pcap", std::process::id()))
}

/// The bytes as a capture file, read by `FromDump` to the end. The first byte picks the
/// options (FORCE_IP, a second output, sampling, START_AFTER/END_AFTER); the rest is the
/// file.
pub fn pcap(data: &[u8]) {
    let (opts, file) = data.split_first().unwrap_or((&0, &[]));
    let path = scratch_file();
    std::fs::write(&path, file).expect("write scratch capture");
    let mut config = format!("fd :: FromDump({}, STOP true", path.display());
    if opts & 1 != 0 {
        config.push_str(", FORCE_IP true");
    }
    if opts & 2 != 0 {
        config.push_str(", SAMPLE 0.5");
    }
    match (opts >> 2) & 3 {
        1 => config.push_str(", START_AFTER 0.000001"),
        2 => config.push_str(", END_AFTER 1"),
        3 => config.push_str(", START 1, INTERVAL 0.5"),
        _ => {}
    }
    config.push_str(") -> Discard;\n");
    if opts & 16 != 0 {
        config.push_str("fd[1] -> Discard;\n");
    }
    let pool = PacketPool::new(POOL_BUFFERS);
    let clock = ManualClock::new(1_000_000_000);
    // A file that is no capture at all is a configuration error: fine.
    let Ok(mut router) = try_build(&config, &pool, &clock) else {
        let _ = std::fs::remove_file(&path);
        return;
    };
    // A file of n bytes holds fewer than n packets; every round emits at least one or ends.
    let rounds = file.len() + 8;
    for _ in 0..rounds {
        if !router.run_once().active {
            break;
        }
    }
    let stopped = router.is_stopped();
    router.cleanup();
    let _ = std::fs::remove_file(&path);
    assert!(
        stopped,
        "FromDump(STOP true) did not stop within {rounds} rounds"
    );
    finish(router, &pool);
}

// ---------------------------------------------------------------------------------------
// 5. Element arguments

/// Classes that name files: their arguments must not reach outside the scratch directory.
const FILE_CLASSES: &[&str] = &["FromDump", "ToDump"];

/// The first byte picks a class and a port count; the rest, read as UTF-8 (lossily), is that
/// class's configuration string. Errors are fine; panics are not. Accepted configurations
/// have every readable handler read.
///
/// File-naming classes only see strings without path separators, with the process working in
/// a scratch directory (see [`enter_scratch_dir`]).
pub fn args(data: &[u8]) {
    let (sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let classes = classes();
    let class = classes[usize::from(*sel) % classes.len()];
    let config = String::from_utf8_lossy(rest).into_owned();
    if FILE_CLASSES.contains(&class.name) && (config.contains('/') || config.contains('\\')) {
        return;
    }
    let spec = PortSpec::parse(class.ports).expect("class port spec");
    let extra = usize::from(*sel >> 6);
    let pick = |r: sluice_config::PortRange| {
        let n = r.min + extra;
        r.max.map_or(n, |m| n.min(m))
    };
    let ninputs = pick(spec.inputs);
    let noutputs = if spec.outputs_equal_inputs {
        ninputs
    } else {
        pick(spec.outputs)
    };
    let el = |name: &str, class: &str, config: &str| FlatElement {
        name: name.to_string(),
        class: class.to_string(),
        config: config.to_string(),
        span: Span::default(),
        config_span: Span::default(),
    };
    let mut graph = FlatGraph {
        elements: std::vec![el("e", class.name, &config)],
        connections: Vec::new(),
        requirements: Vec::new(),
    };
    for i in 0..ninputs {
        graph.elements.push(el(&format!("in{i}"), "Idle", ""));
        graph.connections.push(FlatConnection {
            from: graph.elements.len() - 1,
            from_port: 0,
            to: 0,
            to_port: i,
        });
    }
    for o in 0..noutputs {
        graph.elements.push(el(&format!("out{o}"), "Idle", ""));
        graph.connections.push(FlatConnection {
            from: 0,
            from_port: o,
            to: graph.elements.len() - 1,
            to_port: 0,
        });
    }
    let pool = PacketPool::new(8);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(ManualClock::new(1_000_000_000)),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    if let Ok(router) = Router::new(&graph, &classes, env) {
        read_all_handlers(&router);
    }
}

/// Moves the process into a fresh scratch directory, so file names from [`args`] land there.
pub fn enter_scratch_dir() {
    let dir = std::env::temp_dir().join(format!("sluice-fuzz-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::env::set_current_dir(&dir).expect("enter scratch dir");
}
