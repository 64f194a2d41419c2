//! A driver for instruction-count profiling of the hot elements: builds one pipeline, runs
//! a warm-up (which also fills a NAT's flow table), then sends PACKETS more packets inside
//! [`measured`], a function that `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect=*measured*` counts alone. Prints packets per second of the measured
//! part (wall clock: a rough figure on a shared machine; compare instruction counts).
//!
//! ```text
//! cargo run --release -p sluice-benches --example hotpath -- <scenario> [PACKETS]
//! ```
//!
//! Scenarios: `fwd` (InfiniteSource -> Strip(14) -> CheckIPHeader -> Discard), `source`
//! (InfiniteSource -> Discard), `ipf3`, `ipf100` (a 32-frame TCP/UDP mix -> Strip ->
//! CheckIPHeader -> IPFilter -> Discard, the rule sets of the `classify` bench), `fw100`
//! (InfiniteSource -> Strip(14) -> CheckIPHeader -> IPFilter -> Discard with the rule list
//! and frame of the `firewall_100_rules` pipeline bench), `mix`
//! (the same without IPFilter), `nat1k`, `nat50k`, `nat1m` (FlowSource -> Strip ->
//! CheckIPHeader -> IPRewriter -> Discard, every flow mapped by the warm-up), `flows1k`
//! (the same without IPRewriter).

use std::hint::black_box;
use std::time::Instant;

use sluice_benches::rules::{firewall_rules, hundred_rules, three_rules, traffic};
use sluice_benches::{click_data, default_frame, router, run_to_idle, FlowSource};
use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    Router, TaskStatus,
};

/// `MixSource(LIMIT)`: cycles the 32 frames of [`traffic`], BURST 32 per task run.
#[allow(non_upper_case_globals)]
static MixSource: ElementClass = ElementClass {
    name: "MixSource",
    ports: "0/1",
    processing: "h",
    make: make_mix,
    names: None,
};

struct Mix {
    frames: Vec<Vec<u8>>,
    next: usize,
    limit: u64,
    count: u64,
}

fn make_mix(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let limit = a.read_mp::<u64>("LIMIT")?;
    Some(Box::new(Mix {
        frames: traffic(),
        next: 0,
        limit,
        count: 0,
    }))
}

impl Element for Mix {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        let n = 32.min(self.limit - self.count);
        if n == 0 {
            return TaskStatus::Idle;
        }
        for _ in 0..n {
            let Some(p) = ctx.pool().alloc_from(&self.frames[self.next]) else {
                break;
            };
            ctx.output(0, p);
            self.count += 1;
            self.next = (self.next + 1) % self.frames.len();
        }
        TaskStatus::Busy
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::write("reset")];
        H
    }

    fn write_handler(&mut self, _: &mut Context<'_>, _: &str, _: &str) -> Result<(), HandlerError> {
        self.count = 0;
        Ok(())
    }
}

fn config(scenario: &str, n: u64) -> (String, u64) {
    let inf = |n: u64| {
        format!(
            "src :: InfiniteSource(DATA {}, LIMIT {n}, BURST 32)",
            click_data(&default_frame())
        )
    };
    let mix = |tail: &str| {
        format!(
            "src :: MixSource({n}) -> Strip(14) -> CheckIPHeader -> c :: Counter {tail} -> Discard;"
        )
    };
    let nat = |flows: u64, rw: bool| {
        let tail = if rw {
            "-> rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1); rw[1] -> Discard; rw[0]"
        } else {
            ""
        };
        (
            format!(
                "src :: FlowSource({flows}, LIMIT {flows}, BURST 32) -> Strip(14) \
                 -> CheckIPHeader {tail} -> c :: Counter -> Discard;"
            ),
            flows,
        )
    };
    match scenario {
        "source" => (format!("{} -> c :: Counter -> Discard;", inf(n)), 0),
        "fwd" => (
            format!(
                "{} -> Strip(14) -> CheckIPHeader -> c :: Counter -> Discard;",
                inf(n)
            ),
            0,
        ),
        "mix" => (mix(""), 0),
        "ipf3" => (
            mix(&format!(
                "-> f :: IPFilter({}); f[1] -> Discard; f",
                three_rules()
            )),
            0,
        ),
        "ipf100" => (
            mix(&format!(
                "-> f :: IPFilter({}); f[1] -> Discard; f",
                hundred_rules()
            )),
            0,
        ),
        "fw100" => (
            format!(
                "{} -> Strip(14) -> CheckIPHeader -> f :: IPFilter({}) -> c :: Counter -> Discard;",
                inf(n),
                firewall_rules(100)
            ),
            0,
        ),
        "flows1k" => nat(1000, false),
        "nat1k" => nat(1000, true),
        "nat50k" => nat(50_000, true),
        "nat1m" => nat(1_000_000, true),
        _ => panic!("unknown scenario {scenario}"),
    }
}

#[inline(never)]
fn measured(r: &mut Router) {
    run_to_idle(r);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).map_or("fwd", String::as_str);
    let n: u64 = args
        .get(2)
        .map_or(1_000_000, |s| s.parse().expect("PACKETS"));
    let (text, warm_flows) = config(scenario, n);
    let mut r = router(&text, &[&FlowSource, &MixSource]).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("HOTPATH_PROGRAM").is_some() {
        println!("{}", r.read_handler("f.program").unwrap());
    }
    // Warm-up: one LIMIT's worth (for the NAT, every flow once).
    run_to_idle(&mut r);
    if warm_flows > 0 {
        r.write_handler("src.limit", &n.to_string()).unwrap();
    }
    r.write_handler("src.reset", "").unwrap();
    let before: u64 = r.read_handler("c.count").unwrap().parse().unwrap();
    let t = Instant::now();
    measured(black_box(&mut r));
    let dt = t.elapsed().as_secs_f64();
    let after: u64 = r.read_handler("c.count").unwrap().parse().unwrap();
    let sent = after - before;
    assert_eq!(
        sent, n,
        "{scenario}: {sent} of {n} packets reached the counter"
    );
    println!(
        "{scenario}: {n} packets in {:.3} ms: {:.2} Mpps ({:.1} ns/packet)",
        dt * 1e3,
        n as f64 / dt / 1e6,
        dt * 1e9 / n as f64
    );
}
