//! Benchmark support shared by the criterion benches and `sluice bench`.
//!
//! - [`udp_frame`] builds the 60-byte Ethernet/IPv4/UDP frames every pipeline bench sends,
//!   with valid checksums; [`click_data`] renders bytes as a Click `DATA` string.
//! - [`router`] instantiates a Click configuration text exactly as `sluice run` does
//!   (`sluice_config::load`, the full element registry, `Router::new`), plus bench-only classes.
//! - [`FlowSource`] is a bench-only source that replays a prepared set of flows cyclically,
//!   so a stateful element (a NAT) sees many live flows instead of InfiniteSource's one.
//! - [`run_to_idle`] runs scheduler rounds until no task moves packets (a LIMIT is spent).
//! - [`rules`] holds the IPFilter rule lists and the mixed TCP/UDP traffic the classifier
//!   benches and profiling drivers share.
//! - [`element_router`] and [`BENCH_SINK`] measure single elements: a hand-built graph whose
//!   outputs end in a sink that only consumes, driven with `Router::push_to`.

use std::fmt::Write as _;

use sluice_config::args::Args;
use sluice_config::Source;
use sluice_dataplane::clock::SystemClock;
use sluice_dataplane::console::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, Handler, HandlerError,
    InitContext, PacketPool, Router, TaskStatus,
};
use sluice_elements::wire::checksum;

/// Length of every bench frame: the 60-byte Ethernet minimum (64 on the wire with the FCS).
pub const FRAME_LEN: usize = 60;

/// Buffers in the pool of a bench router: far more than a burst needs.
pub const POOL_BUFFERS: usize = 1024;

/// A 60-byte Ethernet/IPv4/UDP frame `src:sport -> dst:dport` with 18 bytes of payload and
/// valid IP and UDP checksums.
pub fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (FRAME_LEN - 14) as u16;
    let udp_len = ip_len - 20;
    {
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let c = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    {
        let udp = &mut f[34..];
        udp[0..2].copy_from_slice(&sport.to_be_bytes());
        udp[2..4].copy_from_slice(&dport.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        for (k, b) in udp[8..].iter_mut().enumerate() {
            *b = b'a' + k as u8;
        }
        let ph = checksum::pseudo_header_v4(src, dst, 17, udp_len);
        let c = checksum::finish(checksum::sum(ph, udp));
        // 0 means "no checksum" in UDP over IPv4; the all-ones form says "checksum is 0".
        let c = if c == 0 { 0xffff } else { c };
        udp[6..8].copy_from_slice(&c.to_be_bytes());
    }
    f
}

/// The frame the single-flow pipelines send: `10.0.0.1:5000 -> 198.18.0.1:5001`.
pub fn default_frame() -> [u8; FRAME_LEN] {
    udp_frame([10, 0, 0, 1], [198, 18, 0, 1], 5000, 5001)
}

/// `bytes` as a Click data string, `\<0203...>`.
pub fn click_data(bytes: &[u8]) -> String {
    let mut s = String::from("\\<");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s.push('>');
    s
}

/// Instantiates a Click configuration text with every element class of this build plus
/// `extra` (bench-only classes), on a pool of [`POOL_BUFFERS`] buffers and the system clock.
pub fn router(config: &str, extra: &[&'static ElementClass]) -> Result<Router, String> {
    let mut classes = sluice_elements::all_classes();
    classes.extend_from_slice(extra);
    let table = sluice_dataplane::element::class_table(&classes);
    let sources = [Source::new("<bench>", config)];
    let graph = sluice_config::load(&sources[0], &[], &table).map_err(|d| d.render(&sources))?;
    let env = Environment {
        pool: PacketPool::new(POOL_BUFFERS),
        clock: Box::new(SystemClock),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    Router::new(&graph, &classes, env).map_err(|d| d.render(&sources))
}

/// `BenchSink`: a push sink with any number of inputs that only consumes its batches, so
/// the work before it cannot be optimised away.
struct Sink;

impl Element for Sink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        std::hint::black_box(batch);
    }
}

fn make_sink(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Sink))
}

/// The `BenchSink` class.
pub static BENCH_SINK: ElementClass = ElementClass {
    name: "BenchSink",
    ports: "-/0",
    processing: "h",
    make: make_sink,
    names: None,
};

/// Instantiates a hand-built graph (`FlatGraph::from_parts`) with `classes` plus
/// [`BENCH_SINK`], on `pool` and a manual clock at `now_ns`: the harness of the per-element
/// benches, which push batches in with `Router::push_to`.
///
/// # Panics
/// When the graph does not configure: a bench with a broken graph must not measure.
pub fn element_router(
    pool: &PacketPool,
    now_ns: u64,
    elements: &[(&str, &str, &str)],
    connections: &[(usize, usize, usize, usize)],
    classes: &[&'static ElementClass],
) -> Router {
    let graph = sluice_config::FlatGraph::from_parts(elements, connections);
    let mut classes = classes.to_vec();
    classes.push(&BENCH_SINK);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(sluice_dataplane::ManualClock::new(now_ns)),
        devices: Vec::new(),
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    Router::new(&graph, &classes, env)
        .unwrap_or_else(|d| panic!("bench graph {elements:?} does not configure: {:?}", d.0))
}

/// Runs scheduler rounds until a round moves no packets (every source spent its LIMIT).
/// Returns the number of rounds.
pub fn run_to_idle(r: &mut Router) -> u64 {
    let mut rounds = 0;
    while r.run_once().busy {
        rounds += 1;
    }
    rounds
}

/// `FlowSource(FLOWS, LIMIT, BURST)` — a bench-only source that replays FLOWS prepared
/// 60-byte UDP frames, one per flow, cyclically: packet *k* belongs to flow *k* mod FLOWS.
///
/// **Ports:** no inputs, one push output. A task sends BURST packets per run (default 32)
/// until LIMIT packets are out (default -1: forever); `reset` (w) starts another LIMIT, and
/// the cycle carries on where it stopped. `count` (r) is packets sent since the last reset.
///
/// Flow *i* (0-based) is `10.(i+1 as 24 bits):1024+(i mod 50000) -> 198.18.(i mod 65536
/// as 16 bits):5001`: every flow has its own source address, and destinations are spread
/// so a NAT's port allocation towards one destination never runs out. The frames are built
/// at configuration time and stored back to back, so emitting a packet is the same copy of
/// 60 bytes into a pool buffer that `InfiniteSource` does — no allocation, no formatting.
#[allow(non_upper_case_globals)]
pub static FlowSource: ElementClass = ElementClass {
    name: "FlowSource",
    ports: "0/1",
    processing: "h",
    make: make_flow_source,
    names: None,
};

/// The frame of flow `i` as [`FlowSource`] sends it.
pub fn flow_frame(i: u32) -> [u8; FRAME_LEN] {
    let s = (i + 1) & 0x00ff_ffff;
    let src = [10, (s >> 16) as u8, (s >> 8) as u8, s as u8];
    let d = i & 0xffff;
    let dst = [198, 18 + (d >> 15) as u8, (d >> 8) as u8 & 0x7f, d as u8];
    udp_frame(src, dst, 1024 + (i % 50_000) as u16, 5001)
}

struct FlowSourceElement {
    frames: Vec<u8>,
    flows: usize,
    next: usize,
    limit: i64,
    burst: usize,
    count: u64,
}

fn make_flow_source(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let flows = a.read_mp::<u32>("FLOWS")?;
    let limit = a.read_p::<i64>("LIMIT").unwrap_or(-1);
    let burst = a.read_p::<u32>("BURST").unwrap_or(32);
    if flows == 0 || flows > 0x00ff_ffff {
        a.error_whole("FLOWS must be between 1 and 16777215");
        return None;
    }
    if burst == 0 {
        a.error_whole("BURST must be >= 1");
        return None;
    }
    let mut frames = Vec::with_capacity(flows as usize * FRAME_LEN);
    for i in 0..flows {
        frames.extend_from_slice(&flow_frame(i));
    }
    Some(Box::new(FlowSourceElement {
        frames,
        flows: flows as usize,
        next: 0,
        limit,
        burst: burst as usize,
        count: 0,
    }))
}

impl Element for FlowSourceElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        let mut n = self.burst;
        if let Ok(limit) = u64::try_from(self.limit) {
            n = n.min(limit.saturating_sub(self.count) as usize);
        }
        if n == 0 {
            return TaskStatus::Idle;
        }
        let now = ctx.now();
        for _ in 0..n {
            let at = self.next * FRAME_LEN;
            let Some(mut p) = ctx.pool().alloc_from(&self.frames[at..at + FRAME_LEN]) else {
                break;
            };
            p.anno_mut().timestamp_ns = now;
            ctx.output(0, p);
            self.count += 1;
            self.next += 1;
            if self.next == self.flows {
                self.next = 0;
            }
        }
        TaskStatus::Busy
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::read("flows"),
            Handler::write("reset"),
            Handler::write("limit"),
        ];
        H
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "flows" => Some(self.flows.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset" => {
                self.count = 0;
                Ok(())
            }
            "limit" => {
                self.limit = value.trim().parse().map_err(|_| {
                    HandlerError::BadValue(format!("limit: expected an integer, not '{value}'"))
                })?;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_valid_checksums() {
        for f in [default_frame(), flow_frame(0), flow_frame(1_000_000)] {
            assert_eq!(checksum::checksum(&f[14..34]), 0);
            let ph = checksum::pseudo_header_v4(
                f[26..30].try_into().unwrap(),
                f[30..34].try_into().unwrap(),
                17,
                26,
            );
            assert_eq!(checksum::finish(checksum::sum(ph, &f[34..])), 0);
        }
    }

    #[test]
    fn flow_source_cycles_through_flows() {
        let text = "src :: FlowSource(3, LIMIT 7, BURST 2) -> c :: Counter -> Discard;";
        let mut r = router(text, &[&FlowSource]).unwrap();
        run_to_idle(&mut r);
        assert_eq!(r.read_handler("src.count").unwrap(), "7");
        assert_eq!(r.read_handler("c.count").unwrap(), "7");
        r.write_handler("src.reset", "").unwrap();
        run_to_idle(&mut r);
        assert_eq!(r.read_handler("c.count").unwrap(), "14");
    }

    #[test]
    fn bad_flow_source_arguments_are_errors() {
        for text in [
            "FlowSource(0) -> Discard",
            "FlowSource(3, BURST 0) -> Discard",
        ] {
            assert!(router(text, &[&FlowSource]).is_err(), "{text}");
        }
    }
}

/// IPFilter rule lists and traffic shared by the classifier benches and profiling drivers.
pub mod rules {
    /// A 60-byte Ethernet/IPv4 frame with a valid IP checksum: TCP (20-byte header, SYN,
    /// 6 bytes of payload) or UDP (8-byte header, 18 bytes of payload).
    pub fn frame(tcp: bool, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&46u16.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = if tcp { 6 } else { 17 };
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let c = super::checksum::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let l4 = &mut ip[20..];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        if tcp {
            l4[12] = 0x50;
            l4[13] = 0x02;
        } else {
            l4[4..6].copy_from_slice(&26u16.to_be_bytes());
        }
        f
    }

    /// A batch of 32 frames: web and DNS from inside, some other TCP and UDP.
    pub fn traffic() -> Vec<Vec<u8>> {
        (0..32u16)
            .map(|i| {
                let src = [10, 0, (i / 8) as u8, i as u8];
                let dst = [93, 184, 216, 34];
                match i % 4 {
                    0 | 1 => frame(true, src, dst, 40000 + i, 80),
                    2 => frame(false, src, [10, 0, 0, 53], 50000 + i, 53),
                    _ => frame(i % 8 == 3, src, dst, 33000, 4000 + i),
                }
            })
            .collect()
    }

    /// Three rules that sort [`traffic`] onto two outputs.
    pub fn three_rules() -> String {
        "allow tcp dst port www, 1 udp dst port domain, deny all".into()
    }

    /// 97 rules that [`traffic`] never matches (other networks, other ports), then
    /// [`three_rules`]: every packet runs the whole rule list.
    pub fn hundred_rules() -> String {
        let mut rules: Vec<String> = (0..97)
            .map(|i| match i % 3 {
                0 => format!(
                    "deny src net 172.16.{i}.0/24 && tcp && dst port {}",
                    1000 + i
                ),
                1 => format!("allow dst host 192.0.2.{i} && udp"),
                _ => format!("1 src net 198.51.{i}.0/24 and (tcp opt syn or icmp type echo)"),
            })
            .collect();
        rules.push(three_rules());
        rules.join(",\n")
    }

    /// The firewall pipeline's rules for [`super::default_frame`] (UDP `10.0.0.1:5000 ->
    /// 198.18.0.1:5001`): with 3 rules, two that fail then the `allow` that matches; with
    /// more, `n - 1` that fail on addresses or ports of UDP traffic (other source networks
    /// with UDP ports, other destination hosts, other source networks with TCP SYN or ICMP
    /// echo), then the same `allow`.
    pub fn firewall_rules(n: usize) -> String {
        let mut rules: Vec<String> = if n == 3 {
            vec![
                "deny src net 192.168.0.0/16".into(),
                "deny tcp && dst port 22".into(),
            ]
        } else {
            (0..n - 1)
                .map(|i| match i % 3 {
                    0 => format!(
                        "deny src net 172.16.{i}.0/24 && udp && dst port {}",
                        1000 + i
                    ),
                    1 => format!("deny dst host 192.0.2.{i} && udp"),
                    _ => format!(
                        "deny src net 10.{}.0.0/16 and (tcp opt syn or icmp type echo)",
                        100 + i
                    ),
                })
                .collect()
        };
        rules.push("allow udp && dst net 198.18.0.0/15".into());
        rules.join(",\n  ")
    }
}
