//! `RatedUnqueue(RATE [, keywords BURST_SIZE, BURST_DURATION, ACTIVE])` — pulls packets and pushes them on at a packet rate.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l/h`: pull input, push output.
//!
//! A task that pulls packets and pushes them on at most RATE packets per second, from a
//! token bucket that starts full: a packet leaves when a token is there. While the bucket is
//! empty the task sleeps until the next token (the router's timers, so simulated time and
//! the VM's idle sleep see it).
//!
//! **Keywords:**
//!
//! - `BURST_SIZE` — tokens the bucket holds. Default RATE × BURST_DURATION, at least one.
//! - `BURST_DURATION` — a time; default 20 ms. At most one of BURST_SIZE and BURST_DURATION.
//! - `ACTIVE` — boolean; default true.
//!
//! **Handlers:** `rate`, `active` (rw).
//!
//! **Differences from Click:** Click's token counts run on its jiffy clock; here on the
//! router's nanoseconds, so packets leave at their exact due times.
//!
//! ## `BandwidthRatedUnqueue(RATE [, keywords BURST_BYTES, BURST_DURATION, ACTIVE])` — pulls packets and pushes them on at a bandwidth.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l/h`: pull input, push output.
//!
//! The same as `RatedUnqueue` with RATE a bandwidth (`200Bps`, `10Mbps`; a bare number is
//! bytes per second) and tokens as bytes: a packet leaves while the bucket is not in debt,
//! and takes its length from it (so a packet larger than the bucket still passes, paid for
//! afterwards), as Click's does.
//!
//! **Keywords:**
//!
//! - `BURST_BYTES` — bytes the bucket holds. Default RATE × BURST_DURATION; at most one of
//!   BURST_BYTES and BURST_DURATION.
//! - `BURST_DURATION`, `ACTIVE` — as for `RatedUnqueue`.
//!
//! **Handlers:** `rate`, `active` (rw).
//!
//! **Differences from Click:** as for `RatedUnqueue`, tokens run on the router's nanoseconds
//! rather than Click's jiffy clock.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::clock::NS_PER_SEC;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    TaskStatus,
};

use super::common::{bool_str, parse_value};
use super::ratedsource::parse_bandwidth;

/// `RatedUnqueue`.
pub static RatedUnqueue: ElementClass = ElementClass {
    name: "RatedUnqueue",
    ports: "1/1",
    processing: "l/h",
    make: make_packets,
    names: None,
};
/// `BandwidthRatedUnqueue`.
pub static BandwidthRatedUnqueue: ElementClass = ElementClass {
    name: "BandwidthRatedUnqueue",
    ports: "1/1",
    processing: "l/h",
    make: make_bytes,
    names: None,
};

/// A token bucket on the router clock. Levels are in token-nanoseconds (tokens × 10^9) so
/// refills are exact integers; the level may go below zero (a byte debt).
#[derive(Clone, Debug)]
pub(super) struct Bucket {
    /// Tokens per second.
    rate: u64,
    /// Most tokens held, × 10^9.
    capacity: i128,
    level: i128,
    last: Option<u64>,
}

impl Bucket {
    pub(super) fn new(rate: u64, capacity: u64) -> Self {
        let capacity = i128::from(capacity.max(1)) * i128::from(NS_PER_SEC);
        Self {
            rate,
            capacity,
            level: capacity,
            last: None,
        }
    }

    pub(super) fn refill(&mut self, now: u64) {
        let last = *self.last.get_or_insert(now);
        let elapsed = i128::from(now.saturating_sub(last));
        self.level = (self.level + elapsed * i128::from(self.rate)).min(self.capacity);
        self.last = Some(now);
    }

    pub(super) fn holds(&self, tokens: u64) -> bool {
        self.level >= i128::from(tokens) * i128::from(NS_PER_SEC)
    }

    pub(super) fn take(&mut self, tokens: u64) {
        self.level -= i128::from(tokens) * i128::from(NS_PER_SEC);
    }

    /// When the bucket will hold `tokens`, `None` when it never refills.
    fn due(&self, now: u64, tokens: u64) -> Option<u64> {
        if self.rate == 0 {
            return None;
        }
        let missing = i128::from(tokens) * i128::from(NS_PER_SEC) - self.level;
        let wait = (missing.max(0) + i128::from(self.rate) - 1) / i128::from(self.rate);
        Some(now.saturating_add(u64::try_from(wait).unwrap_or(u64::MAX)))
    }
}

struct Rated {
    bytes: bool,
    rate: u64,
    burst: u64,
    bucket: Bucket,
    active: bool,
}

/// Reads RATE (packets per second, or with `bytes` a bandwidth in bytes per second) and
/// the bucket size (`BURST_SIZE` or `BURST_BYTES`, or RATE × `BURST_DURATION`, default
/// 20 ms): the arguments every rated element takes.
pub(super) fn rate_and_burst(a: &mut Args<'_>, bytes: bool) -> Option<(u64, u64)> {
    let rate = if bytes {
        let text: String = a.read_mp("RATE")?;
        match parse_bandwidth(&text) {
            Ok(r) => r,
            Err(e) => {
                a.error_whole(format!("RATE: {e}"));
                return None;
            }
        }
    } else {
        a.read_mp::<u64>("RATE")?
    };
    let burst_key = if bytes { "BURST_BYTES" } else { "BURST_SIZE" };
    let duration = a.read_k::<core::time::Duration>("BURST_DURATION");
    let size = a.read_k::<u64>(burst_key);
    let burst = match (duration, size) {
        (Some(_), Some(_)) => {
            a.error_whole(format!(
                "cannot specify both BURST_DURATION and {burst_key}"
            ));
            return None;
        }
        (_, Some(n)) => n,
        (d, None) => {
            let ms = d.map_or(20, |d| d.as_millis());
            u64::try_from(u128::from(rate) * ms / 1000).unwrap_or(u64::MAX)
        }
    };
    Some((rate, burst))
}

fn make(a: &mut Args<'_>, bytes: bool) -> Option<Box<dyn Element>> {
    let active = a.read_k::<bool>("ACTIVE").unwrap_or(true);
    let (rate, burst) = rate_and_burst(a, bytes)?;
    Some(Box::new(Rated {
        bytes,
        rate,
        burst,
        bucket: Bucket::new(rate, burst),
        active,
    }))
}

fn make_packets(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, false)
}

fn make_bytes(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, true)
}

impl Rated {
    /// Tokens a packet needs before it may leave: one, or (bytes) none of debt.
    fn need(&self) -> u64 {
        u64::from(!self.bytes)
    }
}

impl Element for Rated {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if !self.active {
            return TaskStatus::Idle;
        }
        let now = ctx.now();
        self.bucket.refill(now);
        let need = self.need();
        if !self.bucket.holds(need) {
            if let Some(at) = self.bucket.due(now, need) {
                ctx.wake_at(at);
            }
            return TaskStatus::Idle;
        }
        // One packet per run, as Click's does.
        let Some(mut batch) = ctx.pull(0, 1) else {
            return TaskStatus::Idle;
        };
        let Some(p) = batch.pop() else {
            return TaskStatus::Idle;
        };
        self.bucket
            .take(if self.bytes { p.len() as u64 } else { 1 });
        ctx.output(0, p);
        TaskStatus::Busy
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "rate" if self.bytes => Some(format!("{}Bps", self.rate)),
            "rate" => Some(self.rate.to_string()),
            "active" => Some(bool_str(self.active)),
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
            "rate" => {
                self.rate = if self.bytes {
                    parse_bandwidth(value)
                        .map_err(|e| HandlerError::BadValue(format!("rate: {e}")))?
                } else {
                    parse_value(name, value)?
                };
                self.bucket = Bucket::new(self.rate, self.burst);
            }
            "active" => self.active = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("rate"), Handler::read_write("active")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    /// Packets through `class(config)` from a full queue within `secs` seconds of router
    /// time.
    fn passed(class: &str, config: &str, length: usize, secs: u64) -> u64 {
        let b = Bench::new();
        let g = graph(
            &[
                ("src", "InfiniteSource", &alloc::format!("LENGTH {length}")),
                ("q", "Queue", "10"),
                ("u", class, config),
                ("c", "Counter", ""),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0), (3, 0, 4, 0)],
        );
        let mut r = b.router(&g).unwrap();
        // Steps of 1 ms of router time.
        for _ in 0..secs * 1000 {
            r.run_rounds(2);
            b.clock.advance(1_000_000);
        }
        r.read_handler("c.count").unwrap().parse().unwrap()
    }

    #[test]
    fn rated_unqueue_starts_with_a_full_bucket_then_keeps_the_rate() {
        // Click's counts in its own RatedUnqueue-01 test. A bucket of one token: the first
        // packet at once, then one per half second (the one due at 10 s is not counted).
        assert_eq!(passed("RatedUnqueue", "RATE 2", 60, 10), 20);
        // Fifty at once, then the rate.
        assert_eq!(passed("RatedUnqueue", "RATE 2, BURST_SIZE 50", 60, 10), 69);
        assert_eq!(
            passed("RatedUnqueue", "RATE 2, BURST_DURATION 25", 60, 10),
            69
        );
        assert!(config_error(&graph(
            &[(
                "u",
                "RatedUnqueue",
                "RATE 2, BURST_SIZE 1, BURST_DURATION 1"
            )],
            &[]
        ))
        .contains("cannot specify both"));
    }

    #[test]
    fn bandwidth_rated_unqueue_counts_bytes() {
        // 200 bytes per second, 100-byte packets: one at once (the bucket is not in debt),
        // then one per half second as the debt is paid off (21, as Click counts it).
        assert_eq!(passed("BandwidthRatedUnqueue", "RATE 200Bps", 100, 10), 21);
        assert_eq!(passed("BandwidthRatedUnqueue", "RATE 1.6kbps", 100, 10), 21);
    }
}
