//! Whole pipelines, measured as Click users measure them: packets per second on one core
//! from a source task through a real `Router` built from Click configuration text (parsed,
//! flattened and checked by `sluice_config::load`, instantiated with the full element
//! registry), to a `Discard`.
//!
//! One criterion iteration resets the source (`src.reset`) and runs scheduler rounds until
//! the source has sent its LIMIT of [`PACKETS`] packets and the graph is idle. Everything a
//! packet costs is inside the timed part: taking a buffer from the pool, copying the
//! 60-byte frame in (as `InfiniteSource` does), every element on the path, the router's
//! batch hand-offs and the scheduler round, and `Discard` returning the buffer.
//!
//! Before timing, each pipeline runs once and must deliver every packet to the final
//! `Discard` (`sink.count`), so a mis-configured pipeline cannot look fast by dropping.
//!
//! Pipelines (the exact texts are built by the functions below and printed with
//! `SLUICE_BENCH_PRINT=1`; `SLUICE_BENCH_ONLY=forward` builds and runs only the pipelines
//! whose `group/name` contains `forward`):
//!
//! - `discard`: `InfiniteSource -> Discard`, the cost of the source and the scheduler alone.
//! - `forward`: `InfiniteSource -> Strip(14) -> CheckIPHeader -> Discard`, with BURST 32
//!   (`forward`) and BURST 1 (`forward_per_packet`: one packet per task run, so one push per
//!   element per packet — Click's default).
//! - `firewall_3_rules`, `firewall_100_rules`: `forward` plus an `IPFilter` whose matching
//!   rule is the last one, so every earlier rule is evaluated (see [`rules::firewall_rules`]).
//! - `ipclassifier_10`: an `IPClassifier` with ten patterns; the packet matches the tenth.
//! - `router`: `CheckIPHeader -> RadixIPLookup -> DecIPTTL -> IPFragmenter(1500) ->
//!   EtherEncap`; `router_classic`: the forwarding path of Click's IP router
//!   configuration without ARP (`GetIPAddress`, `DropBroadcasts`, `PaintTee`,
//!   `IPGWOptions`, `FixIPSrc`, `DecIPTTL`, `IPFragmenter`, `EtherEncap`).
//! - `nat/{1,1000,50000,1000000}_flows`: `IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1)`
//!   fed by the bench-only `FlowSource`, which replays one prepared frame per flow
//!   cyclically. Every mapping is installed before timing (an untimed pass over all
//!   flows); the timed part is steady-state forwarding of established flows, each packet a
//!   different flow from the previous one, every flow revisited once per FLOWS packets.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_benches::{click_data, default_frame, router, rules, run_to_idle, FlowSource};
use sluice_dataplane::Router;

/// Packets per criterion iteration (the source's LIMIT).
const PACKETS: u64 = 8192;

fn source(burst: u32) -> String {
    format!(
        "src :: InfiniteSource(DATA {}, LIMIT {PACKETS}, BURST {burst})",
        click_data(&default_frame())
    )
}

fn discard(burst: u32) -> String {
    format!("{} -> sink :: Discard;", source(burst))
}

fn forward(burst: u32) -> String {
    format!(
        "{} -> Strip(14) -> CheckIPHeader -> sink :: Discard;",
        source(burst)
    )
}

fn firewall(rules: usize) -> String {
    format!(
        "{} -> Strip(14) -> CheckIPHeader\n -> IPFilter(\n  {}) -> sink :: Discard;",
        source(32),
        rules::firewall_rules(rules)
    )
}

/// Ten IPClassifier patterns; the bench frame matches only the tenth.
fn ipclassifier() -> String {
    let patterns = [
        "tcp dst port 80",
        "tcp dst port 443",
        "udp dst port 53",
        "icmp type echo",
        "src net 192.168.0.0/16",
        "dst host 192.0.2.1",
        "tcp opt syn",
        "udp dst port 123",
        "ip proto 47",
        "udp",
    ];
    let mut text = format!(
        "{} -> Strip(14) -> CheckIPHeader -> c :: IPClassifier({});\n",
        source(32),
        patterns.join(", ")
    );
    for port in 0..patterns.len() - 1 {
        text.push_str(&format!("c[{port}] -> Discard;\n"));
    }
    text.push_str(&format!("c[{}] -> sink :: Discard;\n", patterns.len() - 1));
    text
}

/// Twelve routes; the bench frame's destination takes the 198.18.0.0/15 route to output 0.
const ROUTES: &str = "10.0.0.0/8 1, 172.16.0.0/12 1, 192.168.0.0/16 1, 198.18.0.0/15 0, \
    198.51.100.0/24 2, 203.0.113.0/24 2, 192.0.2.0/24 2, 100.64.0.0/10 1, \
    93.184.216.0/24 192.0.2.1 2, 8.8.8.0/24 192.0.2.1 2, 1.1.1.0/24 192.0.2.1 2, \
    0.0.0.0/0 192.0.2.1 2";

fn router_minimal() -> String {
    format!(
        "{} -> Strip(14) -> CheckIPHeader -> rt :: RadixIPLookup({ROUTES});\n\
         rt[0] -> dt :: DecIPTTL -> fr :: IPFragmenter(1500)\n \
         -> EtherEncap(0x0800, 2:0:0:0:1:1, 2:0:0:0:1:2) -> sink :: Discard;\n\
         rt[1] -> Discard; rt[2] -> Discard; dt[1] -> Discard; fr[1] -> Discard;",
        source(32)
    )
}

fn router_classic() -> String {
    format!(
        "{} -> Strip(14)\n \
         -> CheckIPHeader(INTERFACES 10.0.0.254/8 198.18.0.254/15)\n \
         -> GetIPAddress(16) -> rt :: RadixIPLookup({ROUTES});\n\
         rt[0] -> DropBroadcasts -> cp :: PaintTee(1) -> gio :: IPGWOptions(198.18.0.254)\n \
         -> FixIPSrc(198.18.0.254) -> dt :: DecIPTTL -> fr :: IPFragmenter(1500)\n \
         -> EtherEncap(0x0800, 2:0:0:0:1:1, 2:0:0:0:1:2) -> sink :: Discard;\n\
         rt[1] -> Discard; rt[2] -> Discard; cp[1] -> Discard; gio[1] -> Discard;\n\
         dt[1] -> Discard; fr[1] -> Discard;",
        source(32)
    )
}

fn nat(flows: u32) -> String {
    format!(
        "src :: FlowSource({flows}, LIMIT {flows}, BURST 32) -> Strip(14) -> CheckIPHeader\n \
         -> rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1);\n\
         rw[0] -> sink :: Discard; rw[1] -> Discard;"
    )
}

/// Whether to build and run `group/name`: all, or those containing `SLUICE_BENCH_ONLY`
/// (building every router, the 1M-flow table included, is slow, and pollutes a profile of
/// one pipeline).
fn selected(id: &str) -> bool {
    std::env::var("SLUICE_BENCH_ONLY").map_or(true, |only| id.contains(&only))
}

fn build(name: &str, text: &str) -> Router {
    if std::env::var_os("SLUICE_BENCH_PRINT").is_some() {
        eprintln!("--- {name}\n{text}\n");
    }
    router(text, &[&FlowSource]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs one LIMIT and checks every packet reached `sink`.
fn check_delivers(name: &str, r: &mut Router) {
    let before: u64 = r.read_handler("sink.count").unwrap().parse().unwrap();
    r.write_handler("src.reset", "").unwrap();
    run_to_idle(r);
    let after: u64 = r.read_handler("sink.count").unwrap().parse().unwrap();
    assert_eq!(
        after - before,
        PACKETS,
        "{name}: {} of {PACKETS} packets reached the sink",
        after - before
    );
}

fn measure(c: &mut Criterion, group: &str, name: &str, r: &mut Router) {
    check_delivers(&format!("{group}/{name}"), r);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function(name, |b| {
        b.iter(|| {
            r.write_handler("src.reset", "").unwrap();
            black_box(run_to_idle(r))
        })
    });
    g.finish();
}

fn bench_pipelines(c: &mut Criterion) {
    let cases: Vec<(&str, String)> = vec![
        ("discard", discard(32)),
        ("discard_per_packet", discard(1)),
        ("forward", forward(32)),
        ("forward_per_packet", forward(1)),
        ("firewall_3_rules", firewall(3)),
        ("firewall_100_rules", firewall(100)),
        ("ipclassifier_10", ipclassifier()),
        ("router", router_minimal()),
        ("router_classic", router_classic()),
    ];
    for (name, text) in cases {
        if !selected(&format!("pipeline/{name}")) {
            continue;
        }
        let mut r = build(name, &text);
        measure(c, "pipeline", name, &mut r);
    }
}

fn bench_nat(c: &mut Criterion) {
    for flows in [1u32, 1_000, 50_000, 1_000_000] {
        let name = format!("{flows}_flows");
        if !selected(&format!("pipeline_nat/{name}")) {
            continue;
        }
        let mut r = build(&name, &nat(flows));
        // Install every mapping: one untimed pass over all the flows.
        run_to_idle(&mut r);
        assert_eq!(r.read_handler("rw.nmappings").unwrap(), flows.to_string());
        r.write_handler("src.limit", &PACKETS.to_string()).unwrap();
        measure(c, "pipeline_nat", &name, &mut r);
        assert_eq!(
            r.read_handler("rw.nmappings").unwrap(),
            flows.to_string(),
            "no flow may be added or expire while measuring"
        );
    }
}

criterion_group!(benches, bench_pipelines, bench_nat);
criterion_main!(benches);
