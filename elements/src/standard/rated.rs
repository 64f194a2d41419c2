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
//! Tokens are counted as Click counts them: in 32-bit fixed point, refilled by whole
//! milliseconds, so a token can take a millisecond longer than 1/RATE to come back.
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
//! Tokens are counted as for `RatedUnqueue`.

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

/// Click's token bucket, in its arithmetic: a 32-bit fill level where a full bucket is
/// `u32::MAX`, each token worth `scale` of it, refilled by whole milliseconds (Click's
/// jiffies) at `per_ms` a millisecond. The rounding matters: with RATE 2 a token takes
/// 501 ms to come back rather than 500, and Click's counts (its `RatedUnqueue-01` test)
/// depend on that.
///
/// A bandwidth bucket (bytes) holds `THRESHOLD` bytes beyond its burst: a packet may leave
/// while the level is at or above the threshold, that is while the bucket is not in debt,
/// and the debt is bounded by the threshold.
#[derive(Clone, Debug)]
pub(super) struct Bucket {
    /// Bytes rather than packets.
    bytes: bool,
    /// How much of the level one token is.
    scale: u32,
    /// Level gained per millisecond (0: the bucket never refills).
    per_ms: u32,
    /// Milliseconds from empty to full.
    full_after: u64,
    level: u32,
    /// The millisecond of the last refill; `None` before the first, which fills.
    last_ms: Option<u64>,
}

/// Bytes a bandwidth bucket holds beyond its burst (Click's `tb_bandwidth_thresh`).
const THRESHOLD: u64 = 131_072;

/// Nanoseconds per millisecond, the refill tick.
const NS_PER_MS: u64 = NS_PER_SEC / 1000;

impl Bucket {
    /// A bucket of `burst` tokens (packets or bytes) refilled at `rate` a second.
    pub(super) fn new(rate: u64, burst: u64, bytes: bool) -> Self {
        let rate = u32::try_from(rate).unwrap_or(u32::MAX);
        let mut capacity = u32::try_from(burst).unwrap_or(u32::MAX);
        if bytes {
            capacity = capacity.saturating_add(THRESHOLD as u32);
        }
        let mut capacity = capacity.max(1);
        if rate > 0 {
            // Enough tokens that a millisecond's refill fits the level.
            capacity = capacity.max((rate - 1) / 1000 + 1);
        }
        let scale = u32::MAX / capacity;
        let per_ms = if rate == 0 {
            0
        } else {
            u32::try_from(u64::from(rate) * u64::from(scale) / 1000)
                .unwrap_or(u32::MAX)
                .max(1)
        };
        let full_after = (u32::MAX - 1)
            .checked_div(per_ms)
            .map_or(u64::MAX, |t| u64::from(t) + 1);
        Self {
            bytes,
            scale,
            per_ms,
            full_after,
            level: u32::MAX,
            last_ms: None,
        }
    }

    /// Adds the tokens of the whole milliseconds since the last refill.
    pub(super) fn refill(&mut self, now: u64) {
        let ms = now / NS_PER_MS;
        let elapsed = self.last_ms.map_or(u64::MAX, |l| ms.saturating_sub(l));
        if elapsed >= self.full_after {
            self.level = u32::MAX;
        } else if elapsed > 0 {
            let gained = elapsed.saturating_mul(u64::from(self.per_ms));
            self.level =
                u32::try_from(u64::from(self.level).saturating_add(gained)).unwrap_or(u32::MAX);
        }
        self.last_ms = Some(ms);
    }

    /// The level `tokens` are worth, `None` past a full bucket.
    fn worth(&self, tokens: u64) -> Option<u32> {
        u32::try_from(tokens.checked_mul(u64::from(self.scale))?).ok()
    }

    /// What a packet needs before it may leave: one token, or the threshold (no debt).
    fn need(&self) -> u64 {
        if self.bytes {
            THRESHOLD
        } else {
            1
        }
    }

    /// Whether a packet may leave now.
    pub(super) fn ready(&self) -> bool {
        self.worth(self.need()).is_some_and(|f| self.level >= f)
    }

    /// Pays for a packet: one token, or (bytes) its length; the level stops at empty.
    pub(super) fn take(&mut self, tokens: u64) {
        let f = self.worth(tokens).unwrap_or(u32::MAX);
        self.level = self.level.saturating_sub(f);
    }

    /// When a packet may leave, on the millisecond tick after `now`; `None` when it never
    /// may.
    fn due(&self, now: u64) -> Option<u64> {
        let f = self.worth(self.need())?;
        if f <= self.level {
            return Some(now);
        }
        if self.per_ms == 0 {
            return None;
        }
        let ms = u64::from((f - self.level - 1) / self.per_ms) + 1;
        Some(now.saturating_add(ms.saturating_mul(NS_PER_MS)))
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
        bucket: Bucket::new(rate, burst, bytes),
        active,
    }))
}

fn make_packets(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, false)
}

fn make_bytes(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, true)
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
        if !self.bucket.ready() {
            if let Some(at) = self.bucket.due(now) {
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
                self.bucket = Bucket::new(self.rate, self.burst, self.bytes);
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
