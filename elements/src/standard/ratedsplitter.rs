//! `RatedSplitter(RATE [, keywords BURST_SIZE, BURST_DURATION])` — splits packets at a packet rate: up to RATE per second to output 0, the rest to output 1.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sends up to RATE packets per second out of output 0 and the others out of output 1
//! (dropped when it is not connected). Unlike a meter, RATE packets per second keep leaving
//! on output 0 however fast packets arrive. The rate is kept by a token bucket that starts
//! full and is refilled on the router clock, as `RatedUnqueue`'s: a packet takes output 0
//! when a token is there.
//!
//! **Keywords:**
//!
//! - `BURST_SIZE`: tokens the bucket holds. Default RATE × BURST_DURATION, at least one.
//! - `BURST_DURATION`: a time; default 20 ms. At most one of BURST_SIZE and
//!   BURST_DURATION.
//!
//! **Handlers:** `rate` (rw; writing it refills the bucket).
//!
//! **Example:**
//!
//! ```text
//! rs :: RatedSplitter(2000);
//! in -> rs -> sampled; rs[1] -> rest;
//! ```
//!
//! Tokens are counted as `RatedUnqueue` counts them (Click's fixed point, refilled by whole
//! milliseconds).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::parse_value;
use super::rated::{rate_and_burst, Bucket};
use super::ratedsource::parse_bandwidth;

/// `RatedSplitter`.
pub static RatedSplitter: ElementClass = ElementClass {
    name: "RatedSplitter",
    ports: "1/1-2",
    processing: "h",
    make,
    names: None,
};

/// A splitter by packet rate or (`bytes`) by bandwidth; `BandwidthRatedSplitter` is the
/// second.
pub(super) struct Splitter {
    bytes: bool,
    rate: u64,
    burst: u64,
    bucket: Bucket,
}

impl Splitter {
    /// Reads the arguments of a `RatedSplitter` or, with `bytes`, a
    /// `BandwidthRatedSplitter`.
    pub(super) fn configure(a: &mut Args<'_>, bytes: bool) -> Option<Box<dyn Element>> {
        let (rate, burst) = rate_and_burst(a, bytes)?;
        Some(Box::new(Splitter {
            bytes,
            rate,
            burst,
            bucket: Bucket::new(rate, burst, bytes),
        }))
    }

    /// Whether `len` bytes (or one packet) may take output 0; if so they are paid for.
    #[inline]
    fn admit(&mut self, len: usize) -> bool {
        // A packet passes while the bucket holds a token or (bytes) is not in debt, and
        // takes its length from a bandwidth bucket, so one larger than the bucket still
        // passes, paid for afterwards.
        if !self.bucket.ready() {
            return false;
        }
        self.bucket.take(if self.bytes { len as u64 } else { 1 });
        true
    }
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Splitter::configure(a, false)
}

impl Element for Splitter {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        self.bucket.refill(ctx.now());
        let mut pass = Batch::new();
        let mut over = Batch::new();
        for p in batch {
            if self.admit(p.len()) {
                pass.push(p);
            } else {
                over.push(p);
            }
        }
        if !pass.is_empty() {
            ctx.output_batch(0, pass);
        }
        if !over.is_empty() && ctx.noutputs() > 1 {
            ctx.output_batch(1, over);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "rate" if self.bytes => Some(format!("{}Bps", self.rate)),
            "rate" => Some(self.rate.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "rate" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.rate = if self.bytes {
            parse_bandwidth(value).map_err(|e| HandlerError::BadValue(format!("rate: {e}")))?
        } else {
            parse_value(name, value)?
        };
        self.bucket = Bucket::new(self.rate, self.burst, self.bytes);
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("rate")];
        H
    }
}

#[cfg(test)]
pub(super) mod tests {
    use crate::testutil::*;

    /// Counts out of output 0 of `class(config)` fed by `InfiniteSource(LENGTH length) ->
    /// Queue(10) -> unqueue(unqueue_config)` within `secs` seconds of router time.
    pub(in crate::standard) fn passed(
        unqueue: &str,
        unqueue_config: &str,
        class: &str,
        config: &str,
        length: usize,
        secs: u64,
    ) -> (u64, u64) {
        let b = Bench::new();
        let g = graph(
            &[
                ("src", "InfiniteSource", &alloc::format!("LENGTH {length}")),
                ("q", "Queue", "10"),
                ("u", unqueue, unqueue_config),
                ("s", class, config),
                ("c", "Counter", ""),
                ("d", "Discard", ""),
                ("c1", "Counter", ""),
                ("d1", "Discard", ""),
            ],
            &[
                (0, 0, 1, 0),
                (1, 0, 2, 0),
                (2, 0, 3, 0),
                (3, 0, 4, 0),
                (4, 0, 5, 0),
                (3, 1, 6, 0),
                (6, 0, 7, 0),
            ],
        );
        let mut r = b.router(&g).unwrap();
        // Steps of 1 ms of router time.
        for _ in 0..secs * 1000 {
            r.run_rounds(2);
            b.clock.advance(1_000_000);
        }
        let count = |h: &str| r.read_handler(h).unwrap().parse().unwrap();
        (count("c.count"), count("c1.count"))
    }

    #[test]
    fn splits_at_the_rate_with_bursts() {
        // Click's RatedSplitter-01: 10 packets per second in, 2 per second out of output 0.
        let (a, rest) = passed("RatedUnqueue", "10", "RatedSplitter", "RATE 2", 60, 10);
        assert_eq!(a, 20);
        assert!(rest >= 79, "{rest}");
        let burst = passed(
            "RatedUnqueue",
            "10",
            "RatedSplitter",
            "RATE 2, BURST_SIZE 50",
            60,
            10,
        );
        assert_eq!(burst.0, 69);
        let d = passed(
            "RatedUnqueue",
            "10",
            "RatedSplitter",
            "RATE 2, BURST_DURATION 25",
            60,
            10,
        );
        assert_eq!(d.0, 69);
        let fast = passed(
            "RatedUnqueue",
            "200",
            "RatedSplitter",
            "RATE 100, BURST_SIZE 2",
            60,
            10,
        );
        assert_eq!(fast.0, 1001);
    }

    #[test]
    fn rate_handler_and_bad_arguments() {
        let h = Harness::new(Bench::new(), &[("s", "RatedSplitter", "RATE 5", 1, 2)]).unwrap();
        assert_eq!(h.read("rate"), "5");
        h.write("rate", "7").unwrap();
        assert_eq!(h.read("rate"), "7");
        assert!(h.write("rate", "fast").is_err());
        for cfg in ["", "RATE 2, BURST_SIZE 1, BURST_DURATION 1", "RATE x"] {
            assert!(
                Harness::new(Bench::new(), &[("s", "RatedSplitter", cfg, 1, 2)]).is_err(),
                "{cfg}"
            );
        }
    }

    #[test]
    fn without_output_1_the_rest_is_dropped() {
        let mut h = Harness::new(
            Bench::new().pool(8, 0),
            &[("s", "RatedSplitter", "1", 1, 1)],
        )
        .unwrap();
        for _ in 0..3 {
            let p = h.packet(b"x");
            h.push(0, p);
        }
        assert_eq!(h.take().len(), 1);
        assert_eq!(h.bench.pool.stats().free, 8);
    }
}
