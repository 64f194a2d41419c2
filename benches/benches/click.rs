//! The shipped run loop on Click's configurations: each `benches/click/*.click`, as
//! `sluice bench click` runs it, but in-process and with a smaller LIMIT, so criterion can
//! time many runs. One iteration builds the router from the configuration text (parse,
//! flatten, check, instantiate) and runs `Router::run_slice` on the system clock until the
//! router stops — the loop `sluice run` and the VM run, clock reads, scheduler passes and
//! `STOP true` included. Only process start-up and exit are outside, which is what sets
//! this apart from `sluice bench click`'s whole-process figures; never compare these with
//! Click's whole-process times.
//!
//! `SLUICE_BENCH_ONLY=firewall` runs only the configurations whose name contains it.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_benches::router;

/// Packets per iteration (the configurations' LIMIT is rewritten to this).
const PACKETS: u64 = 200_000;

/// A configuration of `benches/click` with LIMIT `PACKETS` and its statistics file left out.
fn adapted(text: &str) -> String {
    text.replace("LIMIT 10000000", &format!("LIMIT {PACKETS}"))
        .lines()
        .map(|l| {
            if l.starts_with("DriverManager(") {
                "DriverManager(wait_stop)"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn configs() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("click");
    let only = std::env::var("SLUICE_BENCH_ONLY").unwrap_or_default();
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("benches/click")
        .map(|e| e.expect("benches/click entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "click"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("configuration");
            (name, adapted(&text))
        })
        .filter(|(name, _)| name.contains(only.as_str()))
        .collect();
    out.sort();
    out
}

fn shipped_loop(c: &mut Criterion) {
    let mut group = c.benchmark_group("click");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PACKETS));
    for (name, text) in configs() {
        // Each must run to its stop and send every packet, or it measures nothing.
        let mut r = router(&text, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        while r.run_slice().active {}
        let sent = r.read_handler("src.count").expect("src.count");
        assert_eq!(sent, PACKETS.to_string(), "{name}: packets sent");
        group.bench_function(&name, |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut r = router(&text, &[]).expect("configures");
                    while r.run_slice().active {}
                    r
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, shipped_loop);
criterion_main!(benches);
