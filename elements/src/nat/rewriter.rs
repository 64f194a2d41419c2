//! The engine behind `IPRewriter`, `TCPRewriter`, `UDPRewriter`, `ICMPPingRewriter`,
//! `IPAddrRewriter` and `IPAddrPairRewriter`: input specifications, mapping creation, packet
//! rewriting with incremental checksums, timeouts, capacity and reaping, and the handlers
//! they share.

use alloc::boxed::Box;
use alloc::collections::BinaryHeap;
use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::any::Any;
use core::cell::RefCell;
use core::fmt::Write;
use core::time::Duration;

use sluice_config::args::{Args, NameLookup};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, Handler, HandlerError, InitContext, Packet,
    BATCH_MAX,
};

use super::pattern::{parse_input_spec, parse_pattern_with_ports, InputSpec, Pattern};
use super::table::{
    apply_delta, click_listing_order, fold, Flow, FlowId, FlowMap, Flows, SeqDeltas, SeqTable,
    S_FORWARD_DATA, S_FORWARD_DONE, S_REPLY_DATA, S_REPLY_DONE, S_SEQ, S_UDP_PACKET, S_UDP_REPLY,
    S_UDP_STREAMING,
};
use crate::wire::checksum::{fix_zero, update16, update32};

const NS: u64 = 1_000_000_000;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Which rewriter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `IPRewriter`: TCP (with connection tracking) and UDP.
    Ip,
    /// `TCPRewriter`: TCP only.
    Tcp,
    /// `UDPRewriter`: UDP, and TCP treated like UDP.
    Udp,
    /// `ICMPPingRewriter`: ICMP echo requests and replies.
    Ping,
    /// `IPAddrRewriter`: source addresses of any IP protocol (Basic NAT); a mapping's keys
    /// are the source address alone (forward) and the destination address alone (reply).
    Addr,
    /// `IPAddrPairRewriter`: addresses of any IP protocol by (source, destination) pair.
    AddrPair,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Ip => "IPRewriter",
            Kind::Tcp => "TCPRewriter",
            Kind::Udp => "UDPRewriter",
            Kind::Ping => "ICMPPingRewriter",
            Kind::Addr => "IPAddrRewriter",
            Kind::AddrPair => "IPAddrPairRewriter",
        }
    }

    /// Whether mappings are keyed by addresses only (ports are zero in every key).
    #[inline]
    fn by_address(self) -> bool {
        matches!(self, Kind::Addr | Kind::AddrPair)
    }

    /// The map that holds flows of protocol `proto`: 0 (TCP, or ICMP echo, or every
    /// protocol for the address rewriters), 1 (UDP).
    #[inline]
    fn map_for(self, proto: u8) -> Option<usize> {
        match (self, proto) {
            (Kind::Ip | Kind::Tcp | Kind::Udp, PROTO_TCP) => Some(0),
            (Kind::Ip | Kind::Udp, PROTO_UDP) => Some(1),
            (Kind::Ping, PROTO_ICMP) => Some(0),
            (Kind::Addr | Kind::AddrPair, _) => Some(0),
            _ => None,
        }
    }
}

/// No lookup hint for a packet (see `push`).
const NO_HINT: u32 = u32::MAX;

/// Map size (slots of 16 bytes: 256 KiB) from which `push` looks a batch up ahead of
/// rewriting it; smaller maps stay in the caches.
const PIPELINE_MIN_SLOTS: usize = 1 << 14;

/// The mapping tables of one rewriter, shared with `ICMPRewriter`s that name it.
pub struct Tables {
    kind: Kind,
    /// Map 0: TCP flows (ICMP echo flows in `ICMPPingRewriter`); map 1: UDP flows.
    maps: [FlowMap; 2],
    flows: Flows,
    /// Per input port: its live mappings.
    counts: Vec<u64>,
    /// The capacity these mappings count against, perhaps with other rewriters'.
    heap: Rc<RefCell<Heap>>,
    /// The sequence-number deltas of the TCP flows marked [`S_SEQ`], by flow.
    seq: SeqTable,
}

/// A mapping capacity and the rewriters whose mappings count against it: one rewriter's
/// own, or several when `MAPPING_CAPACITY` names another rewriter (as Click's rewriters
/// share one flow heap). A new mapping beyond the capacity evicts the best-effort mapping
/// of any member that expires first.
pub struct Heap {
    capacity: usize,
    /// Every member's tables when the capacity is shared; empty when it is not.
    members: Vec<Weak<RefCell<Tables>>>,
}

impl Heap {
    /// The members' tables other than `me` (which the caller has borrowed).
    fn others<'a>(&'a self, me: &'a Tables) -> impl Iterator<Item = Rc<RefCell<Tables>>> + 'a {
        self.members
            .iter()
            .filter_map(Weak::upgrade)
            .filter(move |t| !core::ptr::eq(t.as_ptr(), me))
    }
}

impl Tables {
    /// Removes mapping `fi` and its keys.
    fn destroy(&mut self, fi: u32) {
        let f = self.flows.slots[fi as usize];
        if !f.live() {
            return;
        }
        if let Some(mapi) = self.kind.map_for(f.proto) {
            self.maps[mapi].remove_if(&f.keys[0], fi);
            self.maps[mapi].remove_if(&f.keys[1], fi);
        }
        if f.state & S_SEQ != 0 {
            self.seq.remove(&fi);
        }
        self.flows.remove(fi);
        if let Some(c) = self.counts.get_mut(usize::from(f.input)) {
            *c = c.saturating_sub(1);
        }
    }

    /// Takes every mapping of `old` (a rewriter of the same kind this one replaces), with
    /// its expiry, guarantee, state and sequence-number deltas; `old` is left empty. This
    /// rewriter's capacity and timeouts apply from the next packet on.
    fn take_mappings(&mut self, old: &mut Tables) {
        core::mem::swap(&mut self.maps, &mut old.maps);
        core::mem::swap(&mut self.flows, &mut old.flows);
        core::mem::swap(&mut self.seq, &mut old.seq);
        // Mappings an input made go on counting for that input, even if the new
        // configuration has fewer inputs (they still apply; `clear` removes them).
        let n = self.counts.len().max(old.counts.len());
        self.counts.resize(n, 0);
        for (mine, theirs) in self.counts.iter_mut().zip(old.counts.iter_mut()) {
            *mine = core::mem::take(theirs);
        }
    }

    /// The best-effort mapping (guarantee over at `now`) that expires first, as
    /// (expiry, flow).
    fn first_best_effort(&self, now: u64) -> Option<(u64, u32)> {
        self.flows
            .slots
            .iter()
            .enumerate()
            .filter(|(_, f)| f.live() && f.guarantee <= now)
            .map(|(i, f)| (f.expiry, i as u32))
            .min()
    }
}

impl Tables {
    /// For an ICMP error quoting a packet of protocol `proto` whose flow identifier,
    /// reversed, is `key`: the identifier that packet had before this rewriter changed it,
    /// whether `key` is the mapping's reply entry, and the annotation byte the mapping
    /// gives its replies (`REPLY_ANNO`).
    pub fn original_of_quoted(&self, proto: u8, key: &FlowId) -> Option<(FlowId, bool, u8)> {
        // Address mappings have no ports to translate a quoted TCP/UDP header by.
        if self.kind.by_address() {
            return None;
        }
        let (fi, d) = self.maps[self.kind.map_for(proto)?].get(key)?;
        let f = &self.flows.slots[fi as usize];
        Some((f.keys[1 - d], d == 1, f.reply_anno))
    }

    /// The kind of rewriter these tables belong to.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// Timeouts in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    tcp_data: u64,
    tcp_nodata: u64,
    tcp_done: u64,
    tcp_guarantee: u64,
    udp: u64,
    udp_streaming: u64,
    udp_guarantee: u64,
}

/// Per input port: mapping failures (its live mappings are counted in [`Tables`]).
#[derive(Clone, Copy, Debug, Default)]
struct InputStats {
    failures: u64,
}

/// A rewriter element of any [`Kind`].
pub struct Rewriter {
    kind: Kind,
    specs: Vec<InputSpec>,
    stats: Vec<InputStats>,
    tables: Rc<RefCell<Tables>>,
    t: Timeouts,
    reap_interval: u64,
    /// `MAPPING_CAPACITY` named this rewriter, whose capacity `initialize` joins.
    capacity_of: Option<String>,
    dst_anno: bool,
    /// `REPLY_ANNO`: the annotation a mapping remembers from its first packet and sets on
    /// its replies.
    reply_anno: Option<ReplyAnno>,
    /// Packets too short or malformed to carry a flow, dropped.
    bad_packets: u64,
    /// Eviction candidates (expiry, flow), earliest first, from the last scan.
    evict: Vec<(u64, u32)>,
    evict_pos: usize,
    /// No best-effort mapping outside `evict[evict_pos..]` expires before this.
    evict_floor: u64,
    /// The earliest end of a guarantee outside the candidates.
    evict_guarantees_end: u64,
    /// Output ports (a spec written through a `patternN` handler is checked against them).
    noutputs: usize,
    /// The router time last seen (handlers report expiry relative to it).
    now_seen: u64,
}

/// A one-byte annotation `REPLY_ANNO` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReplyAnno {
    Paint,
}

impl ReplyAnno {
    pub(super) fn parse(name: &str) -> Result<Self, String> {
        match name {
            "PAINT" => Ok(Self::Paint),
            _ => Err(format!(
                "REPLY_ANNO: '{name}' is not a one-byte annotation sluice has (PAINT is)"
            )),
        }
    }

    pub(super) fn get(self, p: &Packet) -> u8 {
        match self {
            Self::Paint => p.anno().paint,
        }
    }

    pub(super) fn set(self, p: &mut Packet, v: u8) {
        match self {
            Self::Paint => p.anno_mut().paint = v,
        }
    }
}

fn secs(d: Option<Duration>, default_s: u64) -> u64 {
    d.map_or(default_s * NS, |d| {
        d.as_nanos().min(u128::from(u64::MAX / 4)) as u64
    })
}

fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Reads a rewriter's keywords and input specifications.
pub fn configure(
    kind: Kind,
    args: &mut Args<'_>,
    cctx: &ConfigContext<'_>,
) -> Option<Box<dyn Element>> {
    let d = |args: &mut Args<'_>, k: &str| args.read_k::<Duration>(k);
    let (mut t, reap, dst_anno);
    match kind {
        Kind::Ip | Kind::Tcp => {
            let nodata = d(args, "TCP_NODATA_TIMEOUT");
            let g = d(args, "TCP_GUARANTEE").or(d(args, "GUARANTEE"));
            let data = d(args, "TCP_TIMEOUT").or(d(args, "TIMEOUT"));
            let done = d(args, "TCP_DONE_TIMEOUT");
            t = Timeouts {
                tcp_data: secs(data, 86_400),
                tcp_nodata: secs(nodata, 300),
                tcp_done: secs(done, 240),
                tcp_guarantee: secs(g, 5),
                udp: 300 * NS,
                udp_streaming: 300 * NS,
                udp_guarantee: 5 * NS,
            };
            if kind == Kind::Ip {
                let udp = d(args, "UDP_TIMEOUT");
                t.udp = secs(udp, 300);
                t.udp_streaming = secs(d(args, "UDP_STREAMING_TIMEOUT"), t.udp / NS);
                if let Some(s) = d(args, "UDP_STREAMING_TIMEOUT") {
                    t.udp_streaming = secs(Some(s), 0);
                } else {
                    t.udp_streaming = t.udp;
                }
                t.udp_guarantee = secs(d(args, "UDP_GUARANTEE"), 5);
            }
        }
        Kind::Addr | Kind::AddrPair => {
            // One timeout for every protocol; the UDP fields carry it.
            let timeout = secs(d(args, "TIMEOUT"), 2 * 60 * 60);
            let g = secs(d(args, "GUARANTEE"), 5);
            t = Timeouts {
                tcp_data: timeout,
                tcp_nodata: timeout,
                tcp_done: timeout,
                tcp_guarantee: g,
                udp: timeout,
                udp_streaming: timeout,
                udp_guarantee: g,
            };
        }
        Kind::Udp | Kind::Ping => {
            let timeout = if kind == Kind::Udp {
                d(args, "UDP_TIMEOUT").or(d(args, "TIMEOUT"))
            } else {
                d(args, "TIMEOUT")
            };
            let g = if kind == Kind::Udp {
                d(args, "UDP_GUARANTEE").or(d(args, "GUARANTEE"))
            } else {
                d(args, "GUARANTEE")
            };
            let udp = secs(timeout, 300);
            let streaming = if kind == Kind::Udp {
                d(args, "UDP_STREAMING_TIMEOUT").or(d(args, "STREAMING_TIMEOUT"))
            } else {
                None
            };
            t = Timeouts {
                tcp_data: udp,
                tcp_nodata: udp,
                tcp_done: udp,
                tcp_guarantee: 0,
                udp,
                udp_streaming: streaming.map_or(udp, |s| secs(Some(s), 0)),
                udp_guarantee: secs(g, 5),
            };
        }
    }
    reap = secs(d(args, "REAP_INTERVAL").or(d(args, "REAP_TIME")), 15 * 60);
    // A number of mappings, or the name of a rewriter whose capacity this one shares.
    let mut capacity_of = None;
    let cap = match (
        args.read_k::<String>("MAPPING_CAPACITY"),
        args.read_k::<String>("CAPACITY"),
    ) {
        (Some(s), _) | (None, Some(s)) => match s.trim().parse::<usize>() {
            Ok(n) => n,
            Err(_) if is_element_name(s.trim()) => {
                capacity_of = Some(s.trim().to_string());
                usize::MAX
            }
            Err(_) => {
                args.error_whole(format!(
                    "bad MAPPING_CAPACITY '{s}' (expected a number of mappings or a rewriter's name)"
                ));
                return None;
            }
        },
        (None, None) => usize::MAX,
    };
    // The address rewriters always set the destination annotation (Click has no keyword).
    dst_anno = kind.by_address() || args.read_k::<bool>("DST_ANNO").unwrap_or(true);
    let reply_anno = match args.read_k::<String>("REPLY_ANNO") {
        Some(name) if kind != Kind::Ping => match ReplyAnno::parse(name.trim()) {
            Ok(a) => Some(a),
            Err(e) => {
                args.error_whole(e);
                return None;
            }
        },
        Some(_) => {
            args.error_whole("ICMPPingRewriter takes no REPLY_ANNO");
            return None;
        }
        None => None,
    };

    let specs_text = args.rest();
    if specs_text.is_empty() {
        args.error_whole("too few arguments; expected INPUTSPEC, ...");
        return None;
    }
    if cctx.ninputs > 0 && specs_text.len() != cctx.ninputs {
        args.error_whole(format!(
            "need {} arguments, one per input port",
            cctx.ninputs
        ));
    }
    let names: &dyn NameLookup = cctx.names;
    let mut specs = Vec::new();
    let seed = name_seed(cctx.name);
    for (i, a) in specs_text.iter().enumerate() {
        match parse_input_spec(a.text, cctx.noutputs, Some(names)) {
            Ok(s) => {
                specs.push(s);
            }
            Err(m) => args.error(a.span, format!("input spec {i}: {m}")),
        }
    }
    if specs.len() != specs_text.len() {
        return None;
    }
    let stats = alloc::vec![InputStats::default(); specs.len()];
    let counts = alloc::vec![0; specs.len()];
    // Size the maps for the capacity when one is set (two keys per flow), within reason;
    // beyond that they grow by doubling.
    // Unlimited tables start small: a VM may have only a few MB of heap.
    let prealloc = if cap == usize::MAX {
        256
    } else {
        cap.min(1 << 16)
    };
    let maps = [
        FlowMap::with_capacity(prealloc * 2, seed),
        FlowMap::with_capacity(prealloc * 2, seed.rotate_left(17)),
    ];
    let evict = if cap == usize::MAX {
        Vec::new()
    } else {
        Vec::with_capacity(cap.min(1 << 20))
    };
    let engine = Rewriter {
        kind,
        specs,
        stats,
        tables: Rc::new(RefCell::new(Tables {
            kind,
            maps,
            flows: Flows::with_capacity(prealloc),
            counts,
            heap: Rc::new(RefCell::new(Heap {
                capacity: cap,
                members: Vec::new(),
            })),
            seq: SeqTable::default(),
        })),
        t,
        reap_interval: reap,
        capacity_of,
        dst_anno,
        reply_anno,
        bad_packets: 0,
        evict,
        evict_pos: 0,
        evict_floor: u64::MAX,
        evict_guarantees_end: u64::MAX,
        noutputs: cctx.noutputs,
        now_seen: 0,
    };
    let tables = Rc::clone(&engine.tables);
    Some(Box::new(RewriterElement {
        kind,
        shared: Rc::new(Shared {
            tables,
            engine: Rc::new(RefCell::new(engine)),
            kind,
        }),
    }))
}

/// The mappings counted against the capacity of `tables`: its own and, when the capacity
/// is shared, the other members'.
fn live_mappings(tables: &Tables) -> usize {
    let heap = tables.heap.borrow();
    let mut live = tables.flows.live();
    for t in heap.others(tables) {
        if let Ok(t) = t.try_borrow() {
            live += t.flows.live();
        }
    }
    live
}

/// Whether `word` can name an element (letters, digits, `_`, `/`, `@`, not starting with a
/// digit).
fn is_element_name(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '@'))
}

/// Reads the patterns of a `RoundRobinIPMapper` configuration.
pub fn parse_mapper(config: &str, noutputs: usize) -> Result<Vec<(Pattern, usize, usize)>, String> {
    let mut out = Vec::new();
    for (i, a) in sluice_config::args::split(config, sluice_config::Span::default())
        .iter()
        .enumerate()
    {
        let words: Vec<&str> = a.text.split_whitespace().collect();
        match parse_pattern_with_ports(&words, noutputs, None) {
            Ok(InputSpec::Pattern(p, f, r)) => out.push((p, f, r)),
            Ok(_) => {
                return Err(format!(
                    "pattern {i}: named patterns are not supported inside a mapper"
                ))
            }
            Err(m) => return Err(format!("pattern {i}: {m}")),
        }
    }
    if out.is_empty() {
        return Err("the mapper has no patterns".into());
    }
    Ok(out)
}

/// Finds pattern `name` in the configuration of an `IPRewriterPatterns` element.
pub fn find_named_pattern(config: &str, name: &str) -> Option<Result<Pattern, String>> {
    for a in sluice_config::args::split(config, sluice_config::Span::default()) {
        let words: Vec<&str> = a.text.split_whitespace().collect();
        if words.first() == Some(&name) {
            return Some(Pattern::parse(&words[1..], None));
        }
    }
    None
}

/// The header length and total length of the IPv4 header at the start of `ip`, or `None`
/// when there is none: fewer than 20 bytes, not version 4, or a header length or total
/// length that does not fit.
#[inline]
fn ipv4_lengths(ip: &[u8]) -> Option<(usize, usize)> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(be16(ip, 2));
    (ihl >= 20 && ihl <= ip.len() && total >= ihl).then_some((ihl, total))
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// What to do with a packet the tables could not map.
enum Unmapped {
    Drop,
    Out(usize),
}

impl Rewriter {
    /// What input `port` does with packets it cannot map (non-flow packets, fragments).
    #[inline]
    fn pass_or_drop(&self, port: usize) -> Option<usize> {
        match self.specs.get(port) {
            Some(InputSpec::Pass(o)) => Some(*o),
            _ => None,
        }
    }

    /// The map index and flow identifier of a TCP or UDP packet `process` would look up,
    /// without side effects (a lookup hint: `process` does the checks that count).
    #[inline]
    fn flow_key(&self, p: &Packet) -> Option<(usize, FlowId)> {
        let ip = p.data().get(p.network_offset().unwrap_or(0)..)?;
        // Fixed-size views: one length check each, none per field.
        let h: &[u8; 20] = ip.get(..20)?.try_into().ok()?;
        if h[0] >> 4 != 4 || u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
            return None;
        }
        let ihl = usize::from(h[0] & 0xf) * 4;
        let mapi = self.kind.map_for(h[9])?;
        let l4: &[u8; 4] = ip.get(ihl..ihl + 4)?.try_into().ok()?;
        Some((
            mapi,
            FlowId {
                saddr: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
                daddr: u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
                sport: u16::from_be_bytes([l4[0], l4[1]]),
                dport: u16::from_be_bytes([l4[2], l4[3]]),
            },
        ))
    }

    #[inline]
    fn process(
        &mut self,
        ctx: &Context<'_>,
        tables: &mut Tables,
        port: usize,
        p: &mut Packet,
        now: u64,
        hint: u32,
    ) -> Option<usize> {
        let off = p.network_offset().unwrap_or(0);
        let anno_in = self.reply_anno.map(|a| a.get(p));
        let Some(ip) = p.data_mut().get_mut(off..) else {
            self.bad_packets += 1;
            return None;
        };
        let Some((ihl, total)) = ipv4_lengths(ip) else {
            self.bad_packets += 1;
            return None;
        };
        let end = total.min(ip.len());
        let tlen = end - ihl;
        let proto = ip[9];
        let first_fragment = be16(ip, 6) & 0x1fff == 0;
        let Some(mapi) = self.kind.map_for(proto) else {
            return self.pass_or_drop(port);
        };
        if !first_fragment || tlen < 8 {
            return self.pass_or_drop(port);
        }
        let (saddr, daddr) = (be32(ip, 12), be32(ip, 16));
        let key = if self.kind == Kind::Ping {
            let (ty, id) = (ip[ihl], be16(ip, ihl + 4));
            let key = FlowId {
                saddr,
                daddr,
                sport: id,
                dport: id,
            };
            // Requests create mappings and follow forward entries; replies only follow
            // reply entries.
            let want = match ty {
                8 => 0,
                0 => 1,
                _ => return self.pass_or_drop(port),
            };
            match tables.maps[0].get(&key) {
                Some((_, d)) if d != want => return self.pass_or_drop(port),
                None if want == 1 => return self.pass_or_drop(port),
                _ => key,
            }
        } else {
            FlowId {
                saddr,
                daddr,
                sport: be16(ip, ihl),
                dport: be16(ip, ihl + 2),
            }
        };

        // The hint from `push` holds if its flow is still live with this key and protocol
        // (a live flow's keys are in its protocol's map, pointing at it); else look up.
        let hinted = (hint != NO_HINT)
            .then_some((hint >> 1, (hint & 1) as usize))
            .filter(|&(fi, dir)| {
                tables
                    .flows
                    .slots
                    .get(fi as usize)
                    .is_some_and(|f| f.live() && f.proto == proto && f.keys[dir] == key)
            });
        let (fi, dir) = match hinted.or_else(|| tables.maps[mapi].get(&key)) {
            Some(x) => x,
            None => match self.create(ctx, tables, port, mapi, proto, key, now) {
                Ok(fi) => {
                    tables.flows.slots[fi as usize].reply_anno = anno_in.unwrap_or(0);
                    (fi, 0)
                }
                Err(Unmapped::Drop) => return None,
                Err(Unmapped::Out(o)) => return Some(o),
            },
        };
        let flow = &mut tables.flows.slots[fi as usize];
        let new = flow.rewritten(dir);

        // IP header: addresses, and the checksum by the precomputed delta (RFC 1624).
        ip[12..16].copy_from_slice(&new.saddr.to_be_bytes());
        ip[16..20].copy_from_slice(&new.daddr.to_be_bytes());
        put16(ip, 10, apply_delta(be16(ip, 10), flow.ip_delta(dir)));

        let (timeout, guarantee) = match proto {
            PROTO_TCP => {
                if tlen >= 18 {
                    put16(ip, ihl, new.sport);
                    put16(ip, ihl + 2, new.dport);
                    put16(
                        ip,
                        ihl + 16,
                        apply_delta(be16(ip, ihl + 16), flow.l4_delta(dir)),
                    );
                }
                if self.kind == Kind::Udp {
                    (self.udp_timeout(flow, dir), self.t.udp_guarantee)
                } else {
                    if tlen >= 18 {
                        track_tcp(flow, dir, ip, ihl, total);
                        // Only flows FTPPortMapper changed carry deltas.
                        if flow.state & S_SEQ != 0 {
                            let th_off = usize::from(ip[ihl + 12] >> 4) * 4;
                            if let (true, Some(sd)) =
                                (ip.len() - ihl >= th_off, tables.seq.get_mut(&fi))
                            {
                                apply_seq(sd, dir, &mut ip[ihl..], th_off);
                            }
                        }
                    }
                    (self.tcp_timeout(flow), self.t.tcp_guarantee)
                }
            }
            PROTO_UDP => {
                put16(ip, ihl, new.sport);
                put16(ip, ihl + 2, new.dport);
                let c = be16(ip, ihl + 6);
                // A zero UDP checksum means "none" and stays zero; a computed zero is sent
                // as all ones (RFC 768).
                if c != 0 {
                    let c = apply_delta(c, flow.l4_delta(dir));
                    put16(ip, ihl + 6, if c == 0 { 0xffff } else { c });
                }
                (self.udp_timeout(flow, dir), self.t.udp_guarantee)
            }
            _ => {
                // ICMP echo: the identifier changes; the ICMP checksum has no pseudo-header.
                // An unchanged identifier leaves the checksum as it is; an all-zero message
                // needs 0xFFFF where the update gives 0x0000.
                let old = be16(ip, ihl + 4);
                if old != new.sport {
                    put16(ip, ihl + 4, new.sport);
                    put16(ip, ihl + 2, update16(be16(ip, ihl + 2), old, new.sport));
                }
                let c = fix_zero(be16(ip, ihl + 2), &ip[ihl..]);
                put16(ip, ihl + 2, c);
                (self.t.udp, self.t.udp_guarantee)
            }
        };
        flow.expiry = now.saturating_add(timeout);
        flow.guarantee = if guarantee > 0 {
            now.saturating_add(guarantee)
        } else {
            0
        };
        let out = usize::from(flow.outputs[dir]);
        if self.dst_anno {
            p.anno_mut().dst_ip = new.daddr.to_be_bytes();
        }
        if let (Some(a), 1) = (self.reply_anno, dir) {
            a.set(p, flow.reply_anno);
        }
        Some(out)
    }

    /// `IPAddrRewriter` and `IPAddrPairRewriter`: finds the packet's mapping by address
    /// (IPAddrRewriter: the source address, else the destination address as a reply;
    /// IPAddrPairRewriter: the address pair), creates one by the input spec when there is
    /// none, and rewrites the addresses with the IP checksum and, in a first fragment, the
    /// TCP or UDP checksum.
    #[inline]
    fn process_addr(
        &mut self,
        ctx: &Context<'_>,
        tables: &mut Tables,
        port: usize,
        p: &mut Packet,
        now: u64,
    ) -> Option<usize> {
        let off = p.network_offset().unwrap_or(0);
        let anno_in = self.reply_anno.map(|a| a.get(p));
        let Some(ip) = p.data_mut().get_mut(off..) else {
            self.bad_packets += 1;
            return None;
        };
        let Some((ihl, total)) = ipv4_lengths(ip) else {
            self.bad_packets += 1;
            return None;
        };
        let tlen = total.min(ip.len()) - ihl;
        let pair = self.kind == Kind::AddrPair;
        let (saddr, daddr) = (be32(ip, 12), be32(ip, 16));
        let key = FlowId {
            saddr,
            daddr: if pair { daddr } else { 0 },
            sport: 0,
            dport: 0,
        };
        let found = tables.maps[0].get(&key).or_else(|| {
            let reply = FlowId {
                saddr: 0,
                daddr,
                sport: 0,
                dport: 0,
            };
            (!pair).then(|| tables.maps[0].get(&reply)).flatten()
        });
        let (fi, dir) = match found {
            Some(x) => x,
            None => match self.create(ctx, tables, port, 0, 0, key, now) {
                Ok(fi) => {
                    tables.flows.slots[fi as usize].reply_anno = anno_in.unwrap_or(0);
                    (fi, 0)
                }
                Err(Unmapped::Drop) => return None,
                Err(Unmapped::Out(o)) => return Some(o),
            },
        };
        let flow = &mut tables.flows.slots[fi as usize];
        let new = flow.rewritten(dir);
        // IPAddrRewriter changes the source going out and the destination coming back;
        // IPAddrPairRewriter both, either way.
        if pair || dir == 0 {
            ip[12..16].copy_from_slice(&new.saddr.to_be_bytes());
        }
        if pair || dir == 1 {
            ip[16..20].copy_from_slice(&new.daddr.to_be_bytes());
        }
        put16(ip, 10, apply_delta(be16(ip, 10), flow.ip_delta(dir)));
        if be16(ip, 6) & 0x1fff == 0 {
            match ip[9] {
                PROTO_TCP if tlen >= 18 => {
                    let c = apply_delta(be16(ip, ihl + 16), flow.l4_delta(dir));
                    put16(ip, ihl + 16, c);
                }
                PROTO_UDP if tlen >= 8 => {
                    let c = be16(ip, ihl + 6);
                    if c != 0 {
                        let c = apply_delta(c, flow.l4_delta(dir));
                        put16(ip, ihl + 6, if c == 0 { 0xffff } else { c });
                    }
                }
                _ => {}
            }
        }
        flow.expiry = now.saturating_add(self.t.udp);
        flow.guarantee = if self.t.udp_guarantee > 0 {
            now.saturating_add(self.t.udp_guarantee)
        } else {
            0
        };
        if pair || dir == 1 {
            p.anno_mut().dst_ip = new.daddr.to_be_bytes();
        }
        if let (Some(a), 1) = (self.reply_anno, dir) {
            a.set(p, flow.reply_anno);
        }
        Some(usize::from(flow.outputs[dir]))
    }

    #[inline]
    fn tcp_timeout(&self, f: &Flow) -> u64 {
        let done = S_FORWARD_DONE | S_REPLY_DONE;
        let data = S_FORWARD_DATA | S_REPLY_DATA;
        if f.state & done == done {
            self.t.tcp_done
        } else if f.state & data == data {
            self.t.tcp_data
        } else {
            self.t.tcp_nodata
        }
    }

    /// Counts a UDP packet of `f` travelling in `dir` and returns the flow's timeout: a
    /// flow streams, as in Click, once a reply was seen and three packets went through.
    #[inline]
    fn udp_timeout(&self, f: &mut Flow, dir: usize) -> u64 {
        if dir == 1 {
            f.state |= S_UDP_REPLY;
        }
        if f.state & S_UDP_STREAMING < S_UDP_PACKET * 3 {
            f.state += S_UDP_PACKET;
        }
        if f.state & S_UDP_STREAMING == S_UDP_STREAMING {
            self.t.udp_streaming
        } else {
            self.t.udp
        }
    }

    /// Creates a mapping for a packet of a new flow, as input `port`'s spec says.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        ctx: &Context<'_>,
        tables: &mut Tables,
        port: usize,
        mapi: usize,
        proto: u8,
        key: FlowId,
        now: u64,
    ) -> Result<u32, Unmapped> {
        let echo = self.kind == Kind::Ping;
        let mut draw = |top: u32| ctx.random_range(0, top);
        let (rewritten, f, r) = match self.specs.get_mut(port) {
            None
            | Some(InputSpec::Drop | InputSpec::NamedPattern(..) | InputSpec::MapperName(_)) => {
                return Err(Unmapped::Drop)
            }
            Some(InputSpec::Pass(o)) => return Err(Unmapped::Out(*o)),
            Some(InputSpec::Keep(f, r)) => (Some(key), *f, *r),
            Some(InputSpec::Pattern(p, f, r)) => {
                (p.rewrite(&key, &tables.maps[mapi], echo, &mut draw), *f, *r)
            }
            Some(InputSpec::Mapper(list, next)) => {
                let n = list.len();
                let mut found = (None, 0, 0);
                for k in 0..n {
                    let i = (*next + k) % n;
                    let (p, f, r) = &mut list[i];
                    if let Some(rw) = p.rewrite(&key, &tables.maps[mapi], echo, &mut draw) {
                        found = (Some(rw), *f, *r);
                        *next = (i + 1) % n;
                        break;
                    }
                }
                found
            }
        };
        let Some(rewritten) = rewritten else {
            self.stats[port].failures += 1;
            return Err(Unmapped::Drop);
        };
        // An address mapping cannot rewrite ports, nor (IPAddrRewriter) the destination:
        // a pattern that would is accepted, as in Click, but maps nothing.
        let unusable = match self.kind {
            Kind::Addr => rewritten.sport | rewritten.dport != 0 || rewritten.daddr != 0,
            Kind::AddrPair => rewritten.sport | rewritten.dport != 0,
            _ => false,
        };
        if unusable {
            self.stats[port].failures += 1;
            return Err(Unmapped::Drop);
        }
        self.add_flow(tables, port, mapi, proto, key, rewritten, (f, r), now)
            .ok_or(Unmapped::Drop)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_flow(
        &mut self,
        tables: &mut Tables,
        port: usize,
        mapi: usize,
        proto: u8,
        key: FlowId,
        rewritten: FlowId,
        (f, r): (usize, usize),
        now: u64,
    ) -> Option<u32> {
        let (timeout, guarantee) = match (self.kind, proto) {
            (Kind::Ip | Kind::Tcp, PROTO_TCP) => (self.t.tcp_nodata, self.t.tcp_guarantee),
            _ => (self.t.udp, self.t.udp_guarantee),
        };
        let expiry = now.saturating_add(timeout);
        if self.is_full(tables) && !self.make_room(tables, now, expiry, guarantee > 0) {
            self.stats[port].failures += 1;
            return None;
        }
        // Growing the tables may fail when memory runs out (a VM has a few MB): that is a
        // mapping failure, not a crash.
        if !tables.flows.try_reserve_one() || !tables.maps[mapi].try_reserve(2) {
            self.stats[port].failures += 1;
            return None;
        }
        let (ip_delta, l4_delta) = FlowId::checksum_deltas(&key, &rewritten);
        let reply = rewritten.reverse();
        let flow = Flow {
            keys: [key, reply],
            expiry,
            guarantee: if guarantee > 0 {
                now.saturating_add(guarantee)
            } else {
                0
            },
            outputs: [f as u16, r as u16],
            ip_delta,
            l4_delta,
            input: port as u16,
            proto,
            state: 0,
            reply_anno: 0,
        };
        self.note_new_expiry(flow.expiry, flow.guarantee);
        let fi = tables.flows.add(flow);
        tables.maps[mapi].insert(key, fi, 0);
        // A reply key already in use belongs to an older mapping, which gives way (as in
        // Click). A flow whose reply key is its own forward key (a host talking to itself
        // through the rewriter) keeps the reply entry: later packets either way travel as
        // replies.
        if let Some((old, _)) = tables.maps[mapi].insert(reply, fi, 1) {
            if old != fi {
                self.destroy(tables, old);
            }
        }
        tables.counts[port] += 1;
        Some(fi)
    }

    fn destroy(&mut self, tables: &mut Tables, fi: u32) {
        tables.destroy(fi);
    }

    /// Whether the mappings counted against this rewriter's capacity fill it.
    #[inline]
    fn is_full(&self, tables: &Tables) -> bool {
        live_mappings(tables) >= tables.heap.borrow().capacity
    }

    /// [`make_room`](Self::make_room) for a capacity shared with other rewriters: evicts
    /// the best-effort mapping of any member that expires first, found by a scan.
    #[cold]
    fn make_room_shared(
        &mut self,
        tables: &mut Tables,
        now: u64,
        new_expiry: u64,
        new_guaranteed: bool,
    ) -> bool {
        let others: Vec<Rc<RefCell<Tables>>> = tables.heap.borrow().others(tables).collect();
        // The member (None: this rewriter) and flow of the earliest best-effort mapping.
        let mut first = tables.first_best_effort(now).map(|(e, fi)| (e, None, fi));
        for (k, t) in others.iter().enumerate() {
            let Ok(t) = t.try_borrow() else { continue };
            if let Some((e, fi)) = t.first_best_effort(now) {
                if first.is_none_or(|(fe, _, _)| e < fe) {
                    first = Some((e, Some(k), fi));
                }
            }
        }
        let Some((exp, member, fi)) = first else {
            return false;
        };
        if !new_guaranteed && new_expiry < exp {
            return false;
        }
        match member {
            None => self.destroy(tables, fi),
            Some(k) => {
                if let Ok(mut t) = others[k].try_borrow_mut() {
                    t.destroy(fi);
                }
            }
        }
        true
    }

    /// Evicts the best-effort mapping that expires first to make room for a new one, as
    /// Click's capacity check does; false when every mapping is guaranteed (or the new one
    /// would be the first to go).
    #[cold]
    fn make_room(
        &mut self,
        tables: &mut Tables,
        now: u64,
        new_expiry: u64,
        new_guaranteed: bool,
    ) -> bool {
        if !tables.heap.borrow().members.is_empty() {
            return self.make_room_shared(tables, now, new_expiry, new_guaranteed);
        }
        let mut rescanned = false;
        loop {
            if self.evict_pos >= self.evict.len() {
                if rescanned {
                    return false;
                }
                self.rescan(tables, now);
                rescanned = true;
                if self.evict.is_empty() {
                    return false;
                }
            }
            let (exp, fi) = self.evict[self.evict_pos];
            let f = &tables.flows.slots[fi as usize];
            // A candidate that died is passed over; one refreshed since the scan is too,
            // but it may still expire before the candidates after it, so its expiry
            // lowers the floor the next candidate is held to.
            if !f.live() || f.expiry != exp || f.guarantee > now {
                if f.live() {
                    self.evict_floor = self.evict_floor.min(f.expiry);
                }
                self.evict_pos += 1;
                continue;
            }
            // The candidate is the earliest best-effort mapping only if nothing outside
            // the batch could expire before it: no mapping made or refreshed since expires
            // earlier, and no guarantee the scan saw has ended. Otherwise scan again.
            if !rescanned && (exp > self.evict_floor || now >= self.evict_guarantees_end) {
                self.evict_pos = self.evict.len();
                continue;
            }
            if !new_guaranteed && new_expiry < exp {
                return false;
            }
            self.evict_pos += 1;
            self.destroy(tables, fi);
            return true;
        }
    }

    /// Collects the best-effort mappings that expire first: a batch of candidates, so a
    /// full table is scanned once per many evictions. Also notes what bounds the batch's
    /// validity: the earliest expiry among the best-effort mappings left out of it, and
    /// the earliest end of a guarantee (when a guaranteed mapping turns best-effort).
    fn rescan(&mut self, tables: &Tables, now: u64) {
        self.evict.clear();
        self.evict_pos = 0;
        self.evict_floor = u64::MAX;
        self.evict_guarantees_end = u64::MAX;
        // The `keep` earliest candidates, in a max-heap whose top is the latest of them
        // (a bounded heap: O(n log keep) and a few hundred bytes of code, where a
        // selection and a slice sort would be kilobytes in the VM image); a candidate
        // left out lowers the floor.
        let keep = (tables.flows.live() / 16).max(64);
        let mut heap = BinaryHeap::from(core::mem::take(&mut self.evict));
        for (i, f) in tables.flows.slots.iter().enumerate() {
            if !f.live() {
                continue;
            }
            if f.guarantee > now {
                self.evict_guarantees_end = self.evict_guarantees_end.min(f.guarantee);
                continue;
            }
            let candidate = (f.expiry, i as u32);
            if heap.len() < keep {
                heap.push(candidate);
            } else if let Some(mut latest) = heap.peek_mut() {
                let left_out = if candidate < *latest {
                    core::mem::replace(&mut *latest, candidate)
                } else {
                    candidate
                };
                self.evict_floor = self.evict_floor.min(left_out.0);
            }
        }
        self.evict = heap.into_sorted_vec();
    }

    /// Notes a mapping made or refreshed after the last scan: it may expire before the
    /// scan's candidates (see [`make_room`](Self::make_room)).
    #[inline]
    fn note_new_expiry(&mut self, expiry: u64, guarantee: u64) {
        if guarantee == 0 {
            self.evict_floor = self.evict_floor.min(expiry);
        } else {
            self.evict_guarantees_end = self.evict_guarantees_end.min(guarantee);
        }
    }

    /// Removes expired mappings, then evicts down to the capacity.
    fn reap(&mut self, tables: &mut Tables, now: u64) {
        for i in 0..tables.flows.slots.len() {
            let f = &tables.flows.slots[i];
            if f.live() && f.expiry <= now && f.guarantee <= now {
                self.destroy(tables, i as u32);
            }
        }
        while live_mappings(tables) > tables.heap.borrow().capacity {
            if !self.make_room(tables, now, u64::MAX, true) {
                break;
            }
        }
    }

    fn clear(&mut self, tables: &mut Tables) {
        tables.maps[0].clear();
        tables.maps[1].clear();
        tables.flows.clear();
        tables.seq.clear();
        self.evict.clear();
        self.evict_pos = 0;
        for c in &mut tables.counts {
            *c = 0;
        }
    }

    /// Click's table text for the flows of `proto`: every entry, in the order Click's hash
    /// table lists them (see [`click_listing_order`]).
    fn table_text(&self, proto: Option<u8>, now: u64) -> String {
        let tables = self.tables.borrow();
        let mut lines: Vec<(FlowId, bool, String)> = Vec::new();
        for fi in tables.flows.by_age() {
            let f = &tables.flows.slots[fi as usize];
            let same = match proto {
                Some(PROTO_TCP) => f.proto == PROTO_TCP && self.kind != Kind::Udp,
                Some(_) => f.proto != PROTO_TCP || self.kind == Kind::Udp,
                None => true,
            };
            if !same {
                continue;
            }
            let exp = (i128::from(f.expiry) + i128::from(NS / 2) - i128::from(now))
                .div_euclid(i128::from(NS));
            for d in 0..2 {
                let (a, b) = if d == 0 { ('*', ' ') } else { (' ', '*') };
                let (this, other) = (f.keys[d], f.keys[1 - d]);
                let ip = core::net::Ipv4Addr::from;
                // Click's text per kind: the address rewriter shows the entry's source
                // address and the other entry's destination (so a reply entry, whose key
                // has only a destination, shows as 0.0.0.0 => 0.0.0.0); the pair rewriter
                // the address pair before and after.
                let entry = match self.kind {
                    Kind::Addr => format!("{} => {}", ip(this.saddr), ip(other.daddr)),
                    Kind::AddrPair => format!(
                        "({}, {}) => ({}, {})",
                        ip(this.saddr),
                        ip(this.daddr),
                        ip(other.daddr),
                        ip(other.saddr)
                    ),
                    // Click keys a ping flow as (source, identifier, destination,
                    // identifier + 1) towards the destination and the other way round back,
                    // the + 1 taken on the identifier in network byte order, and prints
                    // the addresses and the key's first identifier.
                    Kind::Ping => {
                        let id = |x: u16| {
                            if d == 0 {
                                x
                            } else {
                                x.swap_bytes().wrapping_add(1).swap_bytes()
                            }
                        };
                        let rw = f.rewritten(d);
                        format!(
                            "({}, {}, {}) => ({}, {}, {})",
                            ip(this.saddr),
                            ip(this.daddr),
                            id(this.sport),
                            ip(rw.saddr),
                            ip(rw.daddr),
                            id(rw.sport)
                        )
                    }
                    _ => format!("{} => {}", this, f.rewritten(d)),
                };
                // A TCP flow with sequence-number deltas shows its direction's newest.
                let seq = match tables.seq.get(&fi).map(|sd| sd.newest(d)) {
                    Some(n) if n > 0 => format!(" seq +{n}"),
                    Some(n) if n < 0 => format!(" seq {n}"),
                    _ => String::new(),
                };
                let mut line = String::new();
                let _ = writeln!(
                    line,
                    "{}{} [{}{} {}{}] i{} exp{}",
                    entry,
                    seq,
                    if a == '*' { "*" } else { "" },
                    f.outputs[0],
                    if b == '*' { "*" } else { "" },
                    f.outputs[1],
                    f.input,
                    exp
                );
                // The key as Click hashes it: a ping flow's has the identifier plus one
                // (in network byte order) as its second port, or first on the way back.
                let mut key = this;
                if self.kind == Kind::Ping {
                    let bump = |x: u16| x.swap_bytes().wrapping_add(1).swap_bytes();
                    if d == 0 {
                        key.dport = bump(this.sport);
                    } else {
                        key.sport = bump(this.sport);
                    }
                }
                lines.push((key, d == 1, line));
            }
        }
        let keys: Vec<(FlowId, bool)> = lines.iter().map(|(k, end, _)| (*k, *end)).collect();
        click_listing_order(&keys)
            .into_iter()
            .map(|i| lines[i].2.as_str())
            .collect()
    }

    fn patterns_text(&self, only: Option<usize>) -> String {
        let counts = self.tables.borrow().counts.clone();
        let mut s = String::new();
        for (i, spec) in self.specs.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            match spec {
                InputSpec::Drop => s.push_str("<drop>"),
                InputSpec::Pass(_) => s.push_str("<nochange>"),
                InputSpec::Keep(..) => s.push_str("<keep>"),
                InputSpec::Pattern(p, ..) => s.push_str(&p.unparse()),
                InputSpec::NamedPattern(n, ..) => s.push_str(n),
                InputSpec::MapperName(_) | InputSpec::Mapper(..) => s.push_str("<mapper>"),
            }
            if counts[i] > 0 {
                let _ = write!(s, " [{}]", counts[i]);
            }
            s.push('\n');
        }
        s
    }
}

/// Tracks a TCP connection's state as Click does: RST ends both sides, FIN ends one, SYN
/// or payload reopens it; payload marks the side as having sent data.
#[inline]
fn track_tcp(flow: &mut Flow, dir: usize, ip: &[u8], ihl: usize, total: usize) {
    let flags = ip[ihl + 13];
    let th_off = usize::from(ip[ihl + 12] >> 4) * 4;
    let payload = ihl + th_off < total;
    let (done, data) = (S_FORWARD_DONE << dir, S_FORWARD_DATA << dir);
    if flags & 0x04 != 0 {
        flow.state |= S_FORWARD_DONE | S_REPLY_DONE;
    } else if flags & 0x01 != 0 {
        flow.state |= done;
    } else if flags & 0x02 != 0 || payload {
        flow.state &= !done;
    }
    if payload {
        flow.state |= data;
    }
}

/// Moves the sequence number of TCP segment `tcp` (header length `th_off`, all present),
/// travelling in direction `dir`, by that direction's deltas, and its acknowledgement
/// number and SACK blocks back by the other direction's, keeping the checksum right.
fn apply_seq(sd: &mut SeqDeltas, dir: usize, tcp: &mut [u8], th_off: usize) {
    let seq = be32(tcp, 4);
    sd.saw(dir, seq);
    let mut check = be16(tcp, 16);
    if sd.active(dir) {
        let new = sd.new_seq(dir, seq);
        check = update32(check, seq.to_be_bytes(), new.to_be_bytes());
        tcp[4..8].copy_from_slice(&new.to_be_bytes());
    }
    if sd.active(1 - dir) {
        let ack = be32(tcp, 8);
        let new = sd.new_ack(dir, ack);
        check = update32(check, ack.to_be_bytes(), new.to_be_bytes());
        tcp[8..12].copy_from_slice(&new.to_be_bytes());
        // Options that are just the usual aligned timestamp hold no SACK blocks.
        if th_off > 32 || (th_off == 32 && tcp[20..24] != [1, 1, 8, 10]) {
            check = apply_sack(sd, dir, &mut tcp[..th_off], check);
        }
    }
    put16(tcp, 16, check);
}

/// Moves the edges of every SACK block in the options of TCP header `tcp` back by the
/// other direction's deltas; returns checksum `check` updated for the change. Stops at the
/// end of the option list or at an option that does not fit.
fn apply_sack(sd: &SeqDeltas, dir: usize, tcp: &mut [u8], mut check: u16) -> u16 {
    let end = tcp.len();
    let mut i = 20;
    while i < end {
        match tcp[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&len) = tcp.get(i + 1) else { break };
                let len = usize::from(len);
                if kind == 5 {
                    if i + len > end || len % 8 != 2 {
                        break;
                    }
                    // The blocks may sit at any alignment: update the checksum over the
                    // 16-bit words (counted from the header's start) that cover them.
                    let (lo, hi) = ((i + 2) & !1, (i + len + 1) & !1);
                    let mut old = [0u8; 42];
                    old[..hi - lo].copy_from_slice(&tcp[lo..hi]);
                    for b in (i + 2..i + len).step_by(8) {
                        for at in [b, b + 4] {
                            let v = sd.new_ack(dir, be32(tcp, at));
                            tcp[at..at + 4].copy_from_slice(&v.to_be_bytes());
                        }
                    }
                    let mut acc = u32::from(!check);
                    for k in (0..hi - lo).step_by(2) {
                        acc += u32::from(!u16::from_be_bytes([old[k], old[k + 1]]));
                        acc += u32::from(be16(tcp, lo + k));
                    }
                    check = !fold(acc);
                } else if len < 2 {
                    break;
                }
                i += len;
            }
        }
    }
    check
}

const IP_HANDLERS: &[Handler] = &[
    Handler::read("nmappings"),
    Handler::read("mapping_failures"),
    Handler::read("size"),
    Handler::read("table_size"),
    Handler::read_write("capacity"),
    Handler::read("patterns"),
    Handler::read("tcp_table"),
    Handler::read("udp_table"),
    Handler::read("tcp_mappings"),
    Handler::read("udp_mappings"),
    Handler::read("bad_packets"),
    Handler::write("clear"),
];

const ONE_TABLE_HANDLERS: &[Handler] = &[
    Handler::read("nmappings"),
    Handler::read("mapping_failures"),
    Handler::read("size"),
    Handler::read("table_size"),
    Handler::read_write("capacity"),
    Handler::read("patterns"),
    Handler::read("table"),
    Handler::read("mappings"),
    Handler::read("bad_packets"),
    Handler::write("clear"),
];

impl Element for Rewriter {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        let now = ctx.now();
        self.now_seen = now;
        let tables = Rc::clone(&self.tables);
        let mut tables = tables.borrow_mut();
        if self.kind.by_address() {
            for mut p in batch {
                if let Some(out) = self.process_addr(ctx, &mut tables, port, &mut p, now) {
                    ctx.output(out, p);
                }
            }
            return;
        }
        // Software pipelining: look every packet's flow up first, in a tight loop whose
        // iterations do not depend on each other, so the cache misses on the map and the
        // flows of a large table overlap instead of stalling the rewrite one packet at a
        // time. The results are hints: `process` checks each against the flow it names,
        // since an earlier packet of the batch may have created or evicted mappings.
        // A table that fits the caches gains nothing from it, so only larger ones pay for
        // the extra pass.
        let mut hints = [NO_HINT; BATCH_MAX];
        let large = tables
            .maps
            .iter()
            .any(|m| m.slot_count() >= PIPELINE_MIN_SLOTS);
        if large && self.kind != Kind::Ping {
            let mut touched = 0u8;
            for (hint, p) in hints.iter_mut().zip(batch.iter()) {
                let Some((mapi, key)) = self.flow_key(p) else {
                    continue;
                };
                if let Some((fi, dir)) = tables.maps[mapi].get(&key) {
                    *hint = fi << 1 | dir as u32;
                    // Bring the flow into the cache now; the rewrite reads and updates it.
                    touched ^= tables.flows.slots.get(fi as usize).map_or(0, |f| f.state);
                }
            }
            core::hint::black_box(touched);
        }
        for (mut p, hint) in batch.into_iter().zip(hints) {
            if let Some(out) = self.process(ctx, &mut tables, port, &mut p, now, hint) {
                ctx.output(out, p);
            }
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        let noutputs = ctx.noutputs();
        for i in 0..self.specs.len() {
            let resolved = match &self.specs[i] {
                InputSpec::NamedPattern(name, f, r) => {
                    let (f, r) = (*f, *r);
                    // Click resolves a pattern name through every IPRewriterPatterns
                    // element of the configuration.
                    let found = ctx
                        .elements()
                        .filter(|e| e.class == "IPRewriterPatterns")
                        .find_map(|e| find_named_pattern(e.config, name));
                    match found {
                        Some(Ok(p)) => InputSpec::Pattern(p, f, r),
                        Some(Err(m)) => {
                            return Err(format!("input spec {i}: pattern '{name}': {m}"))
                        }
                        None => return Err(format!("input spec {i}: no such pattern '{name}'")),
                    }
                }
                InputSpec::MapperName(name) => {
                    let Some(e) = ctx.element(name) else {
                        return Err(format!("input spec {i}: unknown specification '{name}'"));
                    };
                    if e.class != "RoundRobinIPMapper" {
                        return Err(format!(
                            "input spec {i}: element '{name}' is not an IPMapper"
                        ));
                    }
                    let list = parse_mapper(e.config, noutputs)
                        .map_err(|m| format!("input spec {i}: {m}"))?;
                    InputSpec::Mapper(list, 0)
                }
                _ => continue,
            };
            self.specs[i] = resolved;
        }
        if let Some(name) = self.capacity_of.clone() {
            self.share_capacity(ctx, &name)?;
        }
        if self.reap_interval > 0 {
            ctx.set_timer(ctx.now().saturating_add(self.reap_interval));
        }
        Ok(())
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        self.now_seen = now;
        let tables = Rc::clone(&self.tables);
        self.reap(&mut tables.borrow_mut(), now);
        if self.reap_interval > 0 {
            ctx.set_timer(now.saturating_add(self.reap_interval));
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        let clock = self.now_seen;
        Some(match name {
            "nmappings" => self.tables.borrow().counts.iter().sum::<u64>().to_string(),
            "mapping_failures" => self
                .stats
                .iter()
                .map(|s| s.failures)
                .sum::<u64>()
                .to_string(),
            "size" | "table_size" => self.tables.borrow().flows.live().to_string(),
            "capacity" => {
                let capacity = self.tables.borrow().heap.borrow().capacity;
                if capacity == usize::MAX {
                    i32::MAX.to_string()
                } else {
                    capacity.to_string()
                }
            }
            "patterns" => self.patterns_text(None),
            "bad_packets" => self.bad_packets.to_string(),
            "tcp_table" | "tcp_mappings" if self.kind == Kind::Ip => {
                self.table_text(Some(PROTO_TCP), clock)
            }
            "udp_table" | "udp_mappings" if self.kind == Kind::Ip => {
                self.table_text(Some(PROTO_UDP), clock)
            }
            "table" | "mappings" if self.kind != Kind::Ip => self.table_text(None, clock),
            n => self.patterns_text(Some(pattern_index(n, self.specs.len())?)),
        })
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let now = ctx.now();
        self.now_seen = now;
        let tables = Rc::clone(&self.tables);
        let mut tables = tables.borrow_mut();
        match name {
            "clear" => {
                self.clear(&mut tables);
                Ok(())
            }
            "capacity" => {
                let n: usize = value.trim().parse().map_err(|_| {
                    HandlerError::BadValue(format!("capacity: '{value}' is not a number"))
                })?;
                tables.heap.borrow_mut().capacity = n;
                if self.evict.capacity() == 0 {
                    self.evict.reserve(n.min(1 << 20));
                }
                self.reap(&mut tables, now);
                Ok(())
            }
            n => match pattern_index(n, self.specs.len()) {
                Some(i) => self.replace_spec(&mut tables, i, value),
                None => Err(HandlerError::NoSuchHandler(name.into())),
            },
        }
    }

    fn read_handler_with(
        &mut self,
        _ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        match (self.kind, name) {
            (Kind::Ip, "tcp_lookup") | (Kind::Tcp, "lookup") => Some(self.tcp_lookup(params)),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        if self.kind == Kind::Ip {
            IP_HANDLERS
        } else {
            ONE_TABLE_HANDLERS
        }
    }
}

/// A rewriter as the router holds it: the engine behind a shared cell, so that
/// `FTPPortMapper` can make mappings in it. Every element that names the rewriter keeps a
/// clone of the one handle, so the router sees the coupling.
struct RewriterElement {
    kind: Kind,
    shared: Rc<Shared>,
}

impl Element for RewriterElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        self.shared.engine.borrow_mut().push(ctx, port, batch);
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.shared.engine.borrow_mut().initialize(ctx)
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        self.shared.engine.borrow_mut().run_timer(ctx);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        self.shared.engine.try_borrow().ok()?.read_handler(name)
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        self.shared
            .engine
            .borrow_mut()
            .write_handler(ctx, name, value)
    }

    fn read_handler_with(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        self.shared
            .engine
            .borrow_mut()
            .read_handler_with(ctx, name, params)
    }

    fn handlers(&self) -> &'static [Handler] {
        if self.kind == Kind::Ip {
            IP_HANDLERS
        } else {
            ONE_TABLE_HANDLERS
        }
    }

    fn shared_state(&self) -> Option<Rc<dyn Any>> {
        let s: Rc<Shared> = Rc::clone(&self.shared);
        Some(s)
    }

    fn take_state(&mut self, old: &mut dyn Element, warnings: &mut Vec<String>) {
        let Some(old) = old.downcast_mut::<RewriterElement>() else {
            return;
        };
        if old.kind != self.kind || Rc::ptr_eq(&old.shared.tables, &self.shared.tables) {
            return;
        }
        let (Ok(mut mine), Ok(mut theirs)) = (
            self.shared.tables.try_borrow_mut(),
            old.shared.tables.try_borrow_mut(),
        ) else {
            warnings.push("mappings busy, not carried over".into());
            return;
        };
        mine.take_mappings(&mut theirs);
        if let (Ok(mut engine), Ok(old_engine)) = (
            self.shared.engine.try_borrow_mut(),
            old.shared.engine.try_borrow(),
        ) {
            engine.now_seen = old_engine.now_seen;
            engine.bad_packets = old_engine.bad_packets;
            for (mine, theirs) in engine.stats.iter_mut().zip(&old_engine.stats) {
                *mine = *theirs;
            }
        }
    }
}

/// What a rewriter shares with the elements that name it: its tables (read by
/// `ICMPRewriter`, joined by rewriters sharing its capacity) and its engine (which
/// `FTPPortMapper` asks for mappings). Each call borrows only for its own duration and
/// answers `None` when the rewriter is busy (a packet of its own is being processed).
pub struct Shared {
    /// The rewriter's mapping tables.
    pub tables: Rc<RefCell<Tables>>,
    engine: Rc<RefCell<Rewriter>>,
    kind: Kind,
}

impl Shared {
    /// The rewriter's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The rewriter's number of input specifications.
    pub fn ninputs(&self) -> usize {
        self.engine.try_borrow().map_or(0, |e| e.specs.len())
    }

    /// Whether a mapping holds TCP flow `key` (either way).
    pub fn has_tcp(&self, key: &FlowId) -> bool {
        let Ok(t) = self.tables.try_borrow() else {
            return false;
        };
        t.kind
            .map_for(PROTO_TCP)
            .is_some_and(|m| t.maps[m].contains(key))
    }

    /// The mapping of TCP flow `key`, made by input `input`'s spec as if a packet of the
    /// flow had arrived there when there is none: its flow index and the identifier the
    /// flow is rewritten to. `None` when the spec makes no mapping (`drop`, `pass`, a
    /// pattern with no free port, a full table).
    pub fn tcp_mapping(
        &self,
        ctx: &Context<'_>,
        key: &FlowId,
        input: usize,
    ) -> Option<(u32, FlowId)> {
        let mut engine = self.engine.try_borrow_mut().ok()?;
        let mut tables = self.tables.try_borrow_mut().ok()?;
        if engine.kind.by_address() {
            return None;
        }
        let mapi = engine.kind.map_for(PROTO_TCP)?;
        if let Some((fi, d)) = tables.maps[mapi].get(key) {
            return Some((fi, tables.flows.slots[fi as usize].rewritten(d)));
        }
        if input >= engine.specs.len() {
            return None;
        }
        let now = ctx.now();
        engine.now_seen = now;
        let fi = engine
            .create(ctx, &mut tables, input, mapi, PROTO_TCP, *key, now)
            .ok()?;
        Some((fi, tables.flows.slots[fi as usize].rewritten(0)))
    }

    /// Adds a sequence-number delta to the mapping of TCP flow `key`, in the direction
    /// `key` travels: from `trigger` on, its sequence numbers move by `delta` (see
    /// [`SeqDeltas::add`]). Returns the annotation the mapping gives its replies, or
    /// `None` when no TCP mapping holds `key`.
    pub fn add_seq_delta(&self, key: &FlowId, trigger: u32, delta: i32) -> Option<u8> {
        let mut guard = self.tables.try_borrow_mut().ok()?;
        let t = &mut *guard;
        if !matches!(t.kind, Kind::Ip | Kind::Tcp) {
            return None;
        }
        let (fi, dir) = t.maps[0].get(key)?;
        let f = &mut t.flows.slots[fi as usize];
        if f.proto != PROTO_TCP {
            return None;
        }
        f.state |= S_SEQ;
        // A trigger behind the newest (a retransmitted command) changes nothing.
        t.seq.get_or_default(fi).add(dir, trigger, delta);
        Some(f.reply_anno)
    }

    /// Sets the annotation mapping `fi` gives its replies.
    pub fn set_reply_anno(&self, fi: u32, value: u8) {
        if let Ok(mut t) = self.tables.try_borrow_mut() {
            if let Some(f) = t.flows.slots.get_mut(fi as usize).filter(|f| f.live()) {
                f.reply_anno = value;
            }
        }
    }
}

impl Rewriter {
    /// `MAPPING_CAPACITY name`: this rewriter's mappings count against the capacity of
    /// rewriter `name` (which may itself share another's), as do those of every rewriter
    /// sharing it.
    fn share_capacity(&self, ctx: &InitContext<'_>, name: &str) -> Result<(), String> {
        let e = ctx
            .element(name)
            .ok_or_else(|| format!("bad MAPPING_CAPACITY: no element named '{name}'"))?;
        let other = e
            .shared
            .and_then(|s| s.downcast::<Shared>().ok())
            .map(|s| Rc::clone(&s.tables))
            .ok_or_else(|| {
                format!(
                    "bad MAPPING_CAPACITY: '{name}' is not a rewriter (it is a {})",
                    e.class
                )
            })?;
        if Rc::ptr_eq(&other, &self.tables) {
            return Ok(());
        }
        let heap = Rc::clone(&other.borrow().heap);
        let old = Rc::clone(&self.tables.borrow().heap);
        if Rc::ptr_eq(&heap, &old) {
            return Ok(());
        }
        // Rewriters that already share this one's capacity move along with it.
        let mut moving: Vec<Rc<RefCell<Tables>>> = old
            .borrow()
            .members
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        if moving.is_empty() {
            moving.push(Rc::clone(&self.tables));
        }
        let mut h = heap.borrow_mut();
        if h.members.is_empty() {
            h.members.push(Rc::downgrade(&other));
        }
        for t in moving {
            h.members.push(Rc::downgrade(&t));
            t.borrow_mut().heap = Rc::clone(&heap);
        }
        Ok(())
    }

    /// The kind of rewriter.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// A `patternN` write: input `i` takes the spec `text`; the mappings it made go, as in
    /// Click, and its counts start over.
    fn replace_spec(
        &mut self,
        tables: &mut Tables,
        i: usize,
        text: &str,
    ) -> Result<(), HandlerError> {
        let spec = parse_input_spec(text, self.noutputs, None)
            .map_err(|m| HandlerError::BadValue(format!("input spec {i}: {m}")))?;
        if matches!(spec, InputSpec::NamedPattern(..) | InputSpec::MapperName(_)) {
            return Err(HandlerError::BadValue(format!(
                "input spec {i}: a named pattern or mapper can only be configured, not written"
            )));
        }
        for fi in 0..tables.flows.slots.len() {
            let f = &tables.flows.slots[fi];
            if f.live() && usize::from(f.input) == i {
                self.destroy(tables, fi as u32);
            }
        }
        self.specs[i] = spec;
        self.stats[i] = InputStats::default();
        tables.counts[i] = 0;
        Ok(())
    }

    /// `tcp_lookup SADDR SPORT DADDR DPORT` (`lookup` in `TCPRewriter`): the identifier a
    /// TCP packet of that flow is rewritten to, `SADDR SPORT DADDR DPORT`, or nothing when
    /// no mapping holds it.
    fn tcp_lookup(&self, params: &str) -> Result<String, HandlerError> {
        let bad = || {
            HandlerError::BadValue(format!(
                "expected SADDR SPORT DADDR DPORT, not '{}'",
                params.trim()
            ))
        };
        let w: Vec<&str> = params.split_whitespace().collect();
        let [sa, sp, da, dp] = w[..] else {
            return Err(bad());
        };
        let addr = |t: &str| t.parse::<core::net::Ipv4Addr>().map(u32::from);
        let key = FlowId {
            saddr: addr(sa).map_err(|_| bad())?,
            sport: sp.parse().map_err(|_| bad())?,
            daddr: addr(da).map_err(|_| bad())?,
            dport: dp.parse().map_err(|_| bad())?,
        };
        let tables = self.tables.borrow();
        let Some((fi, dir)) = tables.maps[0].get(&key) else {
            return Ok(String::new());
        };
        let new = tables.flows.slots[fi as usize].rewritten(dir);
        Ok(format!(
            "{} {} {} {}",
            core::net::Ipv4Addr::from(new.saddr),
            new.sport,
            core::net::Ipv4Addr::from(new.daddr),
            new.dport
        ))
    }
}

/// The input a `patternN` handler names, if there is such an input.
fn pattern_index(name: &str, ninputs: usize) -> Option<usize> {
    let i: usize = name.strip_prefix("pattern")?.parse().ok()?;
    (i < ninputs).then_some(i)
}

/// The class name of a kind (for messages).
pub fn class_name(kind: Kind) -> &'static str {
    kind.class()
}
