//! Config-language throughput: parse, and parse + flatten, of a generated ~1 MB
//! configuration, in bytes per second; and how the whole load (parse, flatten, check) and
//! router construction scale with the number of elements, on chains of 10k to 200k
//! elements (linear: the elements per second stay flat as the chain grows).
//!
//! The configuration mixes what real files contain: compound element classes with
//! parameters, `define`s, declarations with arguments, long connection chains, ports,
//! anonymous elements and comments.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_config::{flatten, parse, Source};
use std::hint::black_box;

/// A configuration of about `bytes` bytes.
fn generate(bytes: usize) -> String {
    let mut s = String::from(
        "// generated benchmark configuration\n\
         define($MTU 1500, $TTL 64);\n\
         elementclass Path { $ip, $color, MTU $mtu |\n\
         \x20   input -> DropBroadcasts -> cp :: CheckPaint($color)\n\
         \x20         -> gio :: IPGWOptions($ip) -> FixIPSrc($ip)\n\
         \x20         -> dt :: DecIPTTL -> fr :: IPFragmenter($mtu) -> [0] output;\n\
         \x20   dt [1] -> ICMPError($ip, timeexceeded) -> [1] output;\n\
         \x20   fr [1] -> ICMPError($ip, unreachable, needfrag) -> [1] output;\n\
         \x20   gio [1] -> ICMPError($ip, parameterproblem) -> [1] output;\n\
         \x20   cp [1] -> ICMPError($ip, redirect, host) -> [1] output;\n\
         }\n",
    );
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "/* interface {i} */\n\
             c{i} :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);\n\
             FromDevice(eth{i}, SNIFFER false) -> c{i};\n\
             out{i} :: Queue(200) -> ToDevice(eth{i});\n\
             c{i} [0] -> ARPResponder(10.{a}.{b}.1 00:00:c0:ae:67:{b:02x}) -> out{i};\n\
             arpq{i} :: ARPQuerier(10.{a}.{b}.1, 00:00:c0:ae:67:{b:02x}) -> out{i};\n\
             c{i} [1] -> [1] arpq{i};\n\
             c{i} [2] -> Paint({i}) -> Strip(14) -> CheckIPHeader(INTERFACES 10.{a}.{b}.1/24)\n\
             \x20   -> rt{i} :: StaticIPLookup(10.{a}.{b}.0/24 0, 0.0.0.0/0 10.{a}.{b}.254 1);\n\
             rt{i} [0] -> Discard; // local\n\
             rt{i} [1] -> p{i} :: Path(10.{a}.{b}.1, {i}, MTU $MTU) [0] -> arpq{i};\n\
             p{i} [1] -> rt{i};\n\
             c{i} [3] -> Print(\"eth{i} non-IP\", MAXLENGTH 64) -> Discard;\n",
            a = i / 256 % 256,
            b = i % 256,
        ));
        i += 1;
    }
    s
}

fn bench_parse(c: &mut Criterion) {
    let text = generate(1 << 20);
    let src = Source::new("bench.click", text);
    let mut group = c.benchmark_group("config");
    group.throughput(Throughput::Bytes(src.text.len() as u64));
    group.sample_size(20);
    group.bench_function("parse_1MB", |b| {
        b.iter(|| parse(black_box(&src), 0).expect("parses"))
    });
    group.bench_function("parse_flatten_1MB", |b| {
        b.iter(|| {
            let cfg = parse(black_box(&src), 0).expect("parses");
            flatten(&cfg, &[]).expect("flattens")
        })
    });
    group.finish();
}

/// `src -> n0 :: Null -> ... -> n{len-1} :: Null -> Discard`, as generated configurations
/// (a rule or a port per element) grow.
fn chain(len: usize) -> String {
    let mut s = String::from("src :: InfiniteSource(LIMIT 1, STOP true);\nsrc");
    for i in 0..len {
        s.push_str(&format!(" -> n{i} :: Null"));
    }
    s.push_str(" -> Discard;\n");
    s
}

fn bench_scale(c: &mut Criterion) {
    let classes = sluice_elements::all_classes();
    let table = sluice_dataplane::element::class_table(&classes);
    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    for len in [10_000, 50_000, 200_000] {
        let src = Source::new("chain.click", chain(len));
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function(format!("load_{len}"), |b| {
            b.iter(|| sluice_config::load(black_box(&src), &[], &table).expect("loads"))
        });
        let text = src.text.clone();
        group.bench_function(format!("load_and_build_router_{len}"), |b| {
            b.iter(|| sluice_benches::router(black_box(&text), &[]).expect("builds"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_scale);
criterion_main!(benches);
