//! A driver for instruction-count profiling of classifier configuration: builds the
//! firewall scenario's `Classifier`s and `IPClassifier`s, a 3-rule and a 100-rule
//! `IPFilter` (the rule sets of the `hotpath` example), ROUNDS times each, inside
//! [`measured`], a function that `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect=*measured*` counts alone.
//!
//! ```text
//! cargo run --release -p sluice-benches --example classify_config -- [all|fw|ipf3|ipf100|fw100] [ROUNDS]
//! ```
//!
//! `fw100` is the 100-rule `IPFilter` of the `firewall_100_rules` pipeline bench (not in
//! `all`).
//!
//! `classify_config -- values K` instead weighs a switch against a chain of comparisons:
//! K rules `dst tcp port P` and a catch-all, compiled plain and with switches; a mix of
//! TCP packets (every listed port and one other) runs through each, in
//! `measured_plain` and `measured_switched`.

use std::hint::black_box;
use std::time::Instant;

use sluice_benches::rules::{firewall_rules, hundred_rules, three_rules};
use sluice_config::args::{Args, NameLookup};
use sluice_config::span::Span;
use sluice_dataplane::{ConfigContext, ElementClass};
use sluice_elements::classify::classes::{Classifier, IPClassifier, IPFilter};
use sluice_elements::classify::lang::{parse_pattern, tokenize};
use sluice_elements::classify::program::{Outcome, Program, View};

struct NoNames;

impl NameLookup for NoNames {
    fn lookup(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

const LAN_FILTER: &str = "dst tcp port 80 or dst tcp port 443 or dst tcp port 22,
    dst udp port 53,
    icmp type echo,
    tcp or udp,
    icmp type unreachable or icmp type timeexceeded or icmp type parameterproblem
      or icmp type sourcequench,
    -";

const WAN_FILTER: &str = "dst host 192.168.1.20 and dst tcp port 80,
    tcp or udp,
    icmp type echo-reply,
    icmp type unreachable or icmp type timeexceeded or icmp type parameterproblem
      or icmp type sourcequench,
    -";

fn configs(which: &str) -> Vec<(&'static ElementClass, String, usize)> {
    let mut v = Vec::new();
    if matches!(which, "all" | "fw") {
        v.push((&Classifier, "12/0806, 12/0800, -".to_string(), 3));
        v.push((&Classifier, "12/0806, 12/0800, -".to_string(), 3));
        v.push((&IPClassifier, LAN_FILTER.to_string(), 6));
        v.push((&IPClassifier, WAN_FILTER.to_string(), 5));
    }
    if matches!(which, "all" | "ipf3") {
        v.push((&IPFilter, three_rules(), 2));
    }
    if matches!(which, "all" | "ipf100") {
        v.push((&IPFilter, hundred_rules(), 2));
    }
    if which == "fw100" {
        v.push((&IPFilter, firewall_rules(100), 1));
    }
    v
}

#[inline(never)]
fn configure(class: &ElementClass, config: &str, noutputs: usize) {
    let names = NoNames;
    let cx = ConfigContext {
        name: "c",
        ninputs: 1,
        noutputs,
        span: Span::default(),
        names: &names,
        prepared: None,
    };
    let mut args = Args::new(config, Span::default()).with_names(&names);
    let e = (class.make)(&mut args, &cx).expect("configures");
    black_box(e);
}

#[inline(never)]
fn measured(configs: &[(&'static ElementClass, String, usize)], rounds: u32) {
    for _ in 0..rounds {
        for (class, config, n) in configs {
            configure(class, config, *n);
        }
    }
}

/// A 54-byte IPv4/TCP packet (no link header) to `dport`.
fn tcp_packet(dport: u16) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[32] = 0x50;
    p
}

#[inline(never)]
fn run(prog: &Program, pkts: &[Vec<u8>], rounds: u32) -> u64 {
    let mut n = 0u64;
    for _ in 0..rounds {
        for p in pkts {
            if let Outcome::Port(o) = prog.classify(&View::of_bytes(black_box(p))) {
                n += u64::from(o);
            }
        }
    }
    n
}

#[inline(never)]
fn measured_plain(prog: &Program, pkts: &[Vec<u8>], rounds: u32) -> u64 {
    run(prog, pkts, rounds)
}

#[inline(never)]
fn measured_switched(prog: &Program, pkts: &[Vec<u8>], rounds: u32) -> u64 {
    // Not the same body as `measured_plain`, so the two stay apart in a profile.
    run(prog, pkts, rounds) + u64::from(black_box(0u8))
}

fn values(k: u16, rounds: u32) {
    let rules: Vec<_> = (0..k)
        .map(|i| format!("dst tcp port {}", 1000 + i))
        .chain(["-".to_string()])
        .enumerate()
        .map(|(i, p)| {
            let e = parse_pattern(&tokenize(&p), None).expect("parses");
            (e, Outcome::Port(i as u16))
        })
        .collect();
    let plain = Program::compile(&rules);
    let mut switched = plain.clone();
    switched.add_switches_any_size(2);
    let pkts: Vec<Vec<u8>> = (0..=k).map(|i| tcp_packet(1000 + i)).collect();
    let a = measured_plain(&plain, &pkts, rounds);
    let b = measured_switched(&switched, &pkts, rounds);
    assert_eq!(a, b);
    println!(
        "values {k}: plain {} insns, switched {} insns, {} packets each",
        plain.len(),
        switched.len(),
        pkts.len() as u64 * u64::from(rounds)
    );
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let which = argv.next().unwrap_or_else(|| "all".into());
    if which == "values" {
        let k = argv.next().and_then(|s| s.parse().ok()).unwrap_or(8);
        values(k, 1000);
        return;
    }
    let rounds: u32 = argv.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let configs = configs(&which);
    assert!(
        !configs.is_empty(),
        "scenarios: all, fw, ipf3, ipf100, fw100"
    );
    let start = Instant::now();
    measured(&configs, rounds);
    let dt = start.elapsed();
    println!(
        "{which}: {rounds} rounds of {} elements in {:.3} ms ({:.1} us a round)",
        configs.len(),
        dt.as_secs_f64() * 1e3,
        dt.as_secs_f64() * 1e6 / f64::from(rounds)
    );
}
