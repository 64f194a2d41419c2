//! Config-language throughput: parse, and parse + flatten, of a generated ~1 MB
//! configuration, in bytes per second.
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

criterion_group!(benches, bench_parse);
criterion_main!(benches);
