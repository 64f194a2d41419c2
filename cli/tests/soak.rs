//! Buffer accounting over a long run: after every packet of a NAT and filter pipeline has
//! gone through (or been dropped), every pool buffer is back, and the pool's counters
//! (`pool_in_use`, `pool_high_water`) say so. The throughput of the same path is a benchmark
//! (`sluice bench click`), not measured here.

mod common;

use common::{sluice, text};

#[test]
fn every_buffer_comes_back_after_a_nat_and_filter_run() {
    let config = r#"
        src :: InfiniteSource(DATA \<02000000000202000000000108004500002e000000004011aaab0a000001c612000113881389001a53d76162636465666768696a6b6c6d6e6f707172>,
            LIMIT 200000, BURST 8, STOP true);
        RandomSeed(7);
        src -> Strip(14) -> CheckIPHeader
            -> SetRandIPAddress(10.0.0.0/8, LIMIT 5000) -> StoreIPAddress(12)
            -> f :: IPFilter(deny src net 10.0.0.0/24, allow udp)
            -> rw :: IPRewriter(pattern 21.0.0.1 1024-65535 - - 0 1)
            -> q :: Queue(64) -> Unqueue(BURST 4) -> c :: Counter -> Discard;
        rw[1] -> Discard;
        DriverManager(wait_stop, wait 20ms,
            print "in_use=$(pool_in_use) high=$(pool_high_water) cap=$(pool_capacity) counted=$(c.count) dropped=$(q.drops) filtered=$(f.drops) flows=$(rw.nmappings)")
    "#;
    let out = sluice(&["run", "-e", config]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{all}");
    let field = |name: &str| -> u64 {
        let key = format!("{name}=");
        let at = all
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in:\n{all}"))
            + key.len();
        all[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not a number in:\n{all}"))
    };
    assert_eq!(field("in_use"), 0, "every buffer is back:\n{all}");
    let (high, cap) = (field("high"), field("cap"));
    assert!(high > 0 && high <= cap, "high water {high} of {cap}");
    // Each of the 200000 packets is counted once: forwarded, dropped by the full queue, or
    // dropped by the filter.
    assert_eq!(
        field("counted") + field("dropped") + field("filtered"),
        200_000,
        "{all}"
    );
    assert!(field("flows") > 4000, "{all}");
}
