//! `BandwidthRatedSplitter(RATE [, keywords BURST_BYTES, BURST_DURATION])` — splits packets at a bandwidth: up to RATE to output 0, the rest to output 1.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h`: push.
//!
//! `RatedSplitter` by bytes: RATE is a bandwidth (`200Bps`, `384kbps`; a bare number is
//! bytes per second) and the token bucket counts bytes. A packet leaves on output 0 while
//! the bucket is not in debt and takes its length from it (so a packet larger than the
//! bucket still passes, paid for afterwards), as `BandwidthRatedUnqueue` does; otherwise it
//! leaves on output 1 (dropped when it is not connected). The bucket starts full.
//!
//! **Keywords:**
//!
//! - `BURST_BYTES`: bytes the bucket holds. Default RATE × BURST_DURATION.
//! - `BURST_DURATION`: a time; default 20 ms. At most one of BURST_BYTES and
//!   BURST_DURATION.
//!
//! **Handlers:** `rate` (rw, in bytes per second, `2000Bps`; writing it refills the
//! bucket).
//!
//! **Example:** `in -> bs :: BandwidthRatedSplitter(1Mbps) -> fast; bs[1] -> slow;`
//!
//! **Differences from Click:** `rate` reads in bytes per second (`125000Bps`, where Click writes `1Mbps`).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::ratedsplitter::Splitter;

/// `BandwidthRatedSplitter`.
pub static BandwidthRatedSplitter: ElementClass = ElementClass {
    name: "BandwidthRatedSplitter",
    ports: "1/1-2",
    processing: "h",
    make,
    names: None,
};

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Splitter::configure(a, true)
}

#[cfg(test)]
mod tests {
    use super::super::ratedsplitter::tests::passed;
    use crate::testutil::{Bench, Harness};

    #[test]
    fn splits_at_the_bandwidth_with_bursts() {
        // Click's BandwidthRatedSplitter-01: 2000 bytes per second of 100-byte packets in,
        // 200 bytes per second out of output 0.
        let run = |unq: &str, cfg: &str| {
            passed(
                "BandwidthRatedUnqueue",
                unq,
                "BandwidthRatedSplitter",
                cfg,
                100,
                10,
            )
            .0
        };
        // 20, not 21: the bucket refills by whole milliseconds in Click's fixed point, so
        // the packet that arrives just as the debt is paid off goes to output 1.
        assert_eq!(run("RATE 2000Bps", "RATE 200Bps"), 20);
        assert_eq!(run("RATE 2000Bps", "RATE 200Bps, BURST_BYTES 5000"), 70);
        assert_eq!(run("RATE 2000Bps", "RATE 200Bps, BURST_DURATION 25"), 70);
        assert_eq!(run("RATE 20000Bps", "RATE 10000Bps, BURST_BYTES 100"), 1001);
    }

    #[test]
    fn rate_handler() {
        let h = Harness::new(
            Bench::new(),
            &[("s", "BandwidthRatedSplitter", "1.6kbps", 1, 2)],
        )
        .unwrap();
        assert_eq!(h.read("rate"), "200Bps");
        h.write("rate", "1000Bps").unwrap();
        assert_eq!(h.read("rate"), "1000Bps");
        assert!(h.write("rate", "quick").is_err());
    }
}
