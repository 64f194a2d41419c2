//! `Counter([keywords COUNT_CALL, BYTE_COUNT_CALL])` — counts packets and measures their rate.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Passes packets unchanged, counting packets and bytes and keeping an exponentially
//! weighted moving average of the arrival rate (1 ms epochs, weight 1/16, as Click's
//! user-level counters).
//!
//! **Keywords:**
//!
//! - `COUNT_CALL` — `N HANDLER [VALUE]`: when the packet count becomes exactly N, call
//!   write handler HANDLER with VALUE before the packet goes on. Fires once until `reset`;
//!   a trigger set below the current count fires only after a `reset`, as in Click.
//! - `BYTE_COUNT_CALL` — `N HANDLER [VALUE]`: the same when the byte count reaches or
//!   exceeds N.
//!
//! **Handlers:** `count`, `byte_count` (r); `rate` (packets/s), `bit_rate`, `byte_rate` (r);
//! `reset`, `reset_counts` (w: counts and rates to zero); `count_call` (r: COUNT_CALL's N,
//! empty when unset; w: a new `N HANDLER [VALUE]`), `byte_count_call` (w: likewise).
//!
//! **Hot reconfiguration:** a `Counter` that replaces one of the same name through
//! `hotconfig` goes on from its counts and rates; its `COUNT_CALL` and `BYTE_COUNT_CALL`
//! are the new configuration's.
//!
//! **Example:** `... -> c :: Counter -> ...; DriverManager(wait_stop, print c.count)`
//!
//! **Differences from Click:** rates are as of the last packet seen (a read does not decay
//! them to the current time). Click's `Counter` starts from zero after a `hotconfig`.
//!
//! ## `AverageCounter([IGNORE])` — counts packets and measures their average rate.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Passes packets unchanged, counting them; the rate is the strict average between the first
//! and the most recent packet. Packets in the first IGNORE seconds after the first one are
//! not counted (default 0).
//!
//! **Handlers:** `count`, `byte_count`, `rate` (packets/s), `byte_rate` (r); `reset` (w).
//!
//! **Hot reconfiguration:** as `Counter`, it goes on from the counts and the first and
//! last packet times of the `AverageCounter` of the same name it replaces (Click's starts
//! from zero).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::time::Duration;

use sluice_config::args::{Args, FromArg, NameLookup};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext,
};

use super::common::{parse_value, unparse_rate, HandlerCall};

/// `Counter`.
pub static Counter: ElementClass = ElementClass {
    name: "Counter",
    ports: "1/1",
    processing: "a",
    make: make_counter,
    names: None,
};

/// `AverageCounter`.
pub static AverageCounter: ElementClass = ElementClass {
    name: "AverageCounter",
    ports: "1/1",
    processing: "a",
    make: make_average,
    names: None,
};

/// Length of one rate epoch.
const EPOCH_NS: u64 = 1_000_000;
/// Epochs per second.
const EPOCHS_PER_SEC: f64 = 1_000.0;
/// EWMA weight of the newest epoch: 1/16.
const WEIGHT: f64 = 1.0 / 16.0;

/// A rate as an exponentially weighted moving average over fixed epochs.
#[derive(Clone, Copy, Debug, Default)]
struct RateEwma {
    /// Average per epoch.
    avg: f64,
    epoch: u64,
    /// Amount seen in the current epoch.
    pending: u64,
}

impl RateEwma {
    #[inline]
    fn update(&mut self, now: u64, amount: u64) {
        let epoch = now / EPOCH_NS;
        if epoch != self.epoch {
            self.roll(epoch);
        }
        self.pending += amount;
    }

    /// Folds the finished epoch in, then decays over the empty ones in between.
    fn roll(&mut self, epoch: u64) {
        let gap = epoch.saturating_sub(self.epoch);
        self.avg += (self.pending as f64 - self.avg) * WEIGHT;
        // After a few hundred empty epochs the average is zero to any printed precision.
        if gap > 400 {
            self.avg = 0.0;
        } else {
            for _ in 1..gap {
                self.avg -= self.avg * WEIGHT;
            }
        }
        self.pending = 0;
        self.epoch = epoch;
    }

    /// Per second, counting the current epoch as finished.
    fn per_second(&self) -> f64 {
        let mut r = *self;
        r.roll(self.epoch + 1);
        r.avg * EPOCHS_PER_SEC
    }
}

/// `N HANDLER [VALUE]`.
#[derive(Clone, Debug)]
struct Trigger {
    at: u64,
    call: HandlerCall,
    fired: bool,
}

impl Trigger {
    /// The call to make now, when `trigger` is armed and `reached(at)` holds for its N;
    /// it then stays quiet until a reset re-arms it.
    fn due(
        trigger: &mut Option<Trigger>,
        reached: impl FnOnce(u64) -> bool,
    ) -> Option<HandlerCall> {
        let t = trigger.as_mut().filter(|t| !t.fired && reached(t.at))?;
        t.fired = true;
        Some(t.call.clone())
    }
}

impl FromArg for Trigger {
    const EXPECTED: &'static str = "'N HANDLER [VALUE]'";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        let text = text.trim();
        let (n, rest) = text
            .split_once(char::is_whitespace)
            .ok_or("expected 'N HANDLER [VALUE]'")?;
        let at = u64::from_arg(n, None)?;
        Ok(Self {
            at,
            call: HandlerCall::parse(rest)?,
            fired: false,
        })
    }
}

struct CounterElement {
    count: u64,
    bytes: u64,
    rate: RateEwma,
    byte_rate: RateEwma,
    count_call: Option<Trigger>,
    byte_call: Option<Trigger>,
}

fn make_counter(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let count_call = a.read_k::<Trigger>("COUNT_CALL");
    let byte_call = a.read_k::<Trigger>("BYTE_COUNT_CALL");
    Some(Box::new(CounterElement {
        count: 0,
        bytes: 0,
        rate: RateEwma::default(),
        byte_rate: RateEwma::default(),
        count_call,
        byte_call,
    }))
}

impl CounterElement {
    fn reset(&mut self) {
        self.count = 0;
        self.bytes = 0;
        self.rate = RateEwma::default();
        self.byte_rate = RateEwma::default();
        for t in [&mut self.count_call, &mut self.byte_call]
            .into_iter()
            .flatten()
        {
            t.fired = false;
        }
    }

    /// Slow path: a trigger is armed, so check every packet.
    #[cold]
    fn count_with_triggers(&mut self, ctx: &mut Context<'_>, batch: &Batch) {
        for p in batch {
            // Click's two rates each read the clock, before a trigger's call.
            ctx.clock_reads(2);
            self.count += 1;
            self.bytes += p.len() as u64;
            // Click compares counts for equality: the packet that makes the count N fires.
            let count = self.count;
            if let Some(call) = Trigger::due(&mut self.count_call, |at| count == at) {
                let _ = call.call_from(Some(self), ctx);
            }
            let bytes = self.bytes;
            if let Some(call) = Trigger::due(&mut self.byte_call, |at| bytes >= at) {
                let _ = call.call_from(Some(self), ctx);
            }
        }
    }
}

impl Element for CounterElement {
    fn effects(&self) -> Effects {
        if self.count_call.is_some() || self.byte_call.is_some() {
            Effects::Global
        } else {
            Effects::Local
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        // Click's two rates each read the clock as they are made.
        ctx.clock_reads(2);
        Ok(())
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let now = ctx.now();
        let bytes: u64 = batch.iter().map(|p| p.len() as u64).sum();
        if self.count_call.is_none() && self.byte_call.is_none() {
            // Click's two rates each read the clock for every packet.
            ctx.clock_reads(2 * batch.len() as u64);
            self.count += batch.len() as u64;
            self.bytes += bytes;
        } else {
            self.count_with_triggers(ctx, &batch);
        }
        self.rate.update(now, batch.len() as u64);
        self.byte_rate.update(now, bytes);
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "count" => self.count.to_string(),
            "byte_count" => self.bytes.to_string(),
            "count_call" => self
                .count_call
                .as_ref()
                .map_or_else(String::new, |t| t.at.to_string()),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset" | "reset_counts" => self.reset(),
            "count_call" => self.count_call = Some(parse_value(name, value)?),
            "byte_count_call" => self.byte_call = Some(parse_value(name, value)?),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn read_handler_with(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        // Reading a rate brings it up to date in Click, which reads the clock.
        let rate = match name {
            "rate" => self.rate.per_second(),
            "byte_rate" => self.byte_rate.per_second(),
            "bit_rate" => self.byte_rate.per_second() * 8.0,
            _ => return None,
        };
        if !params.is_empty() {
            return Some(Err(HandlerError::BadValue(alloc::format!(
                "read handler '{name}' takes no parameters"
            ))));
        }
        ctx.clock_reads(1);
        Some(Ok(unparse_rate(rate)))
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut alloc::vec::Vec<String>) {
        if let Some(old) = old.downcast_mut::<CounterElement>() {
            self.count = old.count;
            self.bytes = old.bytes;
            self.rate = old.rate;
            self.byte_rate = old.byte_rate;
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::read("byte_count"),
            Handler::read("rate"),
            Handler::read("bit_rate"),
            Handler::read("byte_rate"),
            Handler::write("reset"),
            Handler::write("reset_counts"),
            Handler::read_write("count_call"),
            Handler::write("byte_count_call"),
        ];
        H
    }
}

struct Average {
    ignore_ns: u64,
    count: u64,
    bytes: u64,
    first: Option<u64>,
    last: u64,
}

fn make_average(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let ignore = a.read_p::<Duration>("IGNORE").unwrap_or_default();
    let ignore_ns = u64::try_from(ignore.as_nanos()).unwrap_or(u64::MAX);
    Some(Box::new(Average {
        ignore_ns,
        count: 0,
        bytes: 0,
        first: None,
        last: 0,
    }))
}

impl Average {
    fn rate(&self, amount: u64) -> String {
        let Some(first) = self.first else {
            return "0".into();
        };
        // At least one epoch, so a single burst does not divide by zero.
        let span = self
            .last
            .saturating_sub(first)
            .saturating_sub(self.ignore_ns)
            .max(EPOCH_NS);
        unparse_rate(amount as f64 * 1e9 / span as f64)
    }
}

impl Element for Average {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let now = ctx.now();
        let first = *self.first.get_or_insert(now);
        if now - first >= self.ignore_ns {
            self.count += batch.len() as u64;
            self.bytes += batch.iter().map(|p| p.len() as u64).sum::<u64>();
        }
        self.last = now;
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "count" => self.count.to_string(),
            "byte_count" => self.bytes.to_string(),
            "rate" => self.rate(self.count),
            "byte_rate" => self.rate(self.bytes),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        _: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset" => {
                self.count = 0;
                self.bytes = 0;
                self.first = None;
                self.last = 0;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut alloc::vec::Vec<String>) {
        if let Some(old) = old.downcast_mut::<Average>() {
            self.count = old.count;
            self.bytes = old.bytes;
            self.first = old.first;
            self.last = old.last;
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::read("byte_count"),
            Handler::read("rate"),
            Handler::read("byte_rate"),
            Handler::write("reset"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn hotconfig_carries_counts_to_the_counter_of_the_same_name() {
        let b = Bench::new();
        let g = |class: &str, config: &str| {
            graph(
                &[
                    ("c", class, config),
                    ("a", "AverageCounter", ""),
                    ("o", "Collect", ""),
                ],
                &[(0, 0, 1, 0), (1, 0, 2, 0)],
            )
        };
        let mut r = b.router(&g("Counter", "")).unwrap();
        r.push_to("c", 0, b.batch(&[b"abc", b"de"])).unwrap();
        hotswap(&mut r, &g("Counter", "COUNT_CALL 3 c.reset")).unwrap();
        assert_eq!(r.read_handler("c.count").unwrap(), "2");
        assert_eq!(r.read_handler("c.byte_count").unwrap(), "5");
        assert_eq!(r.read_handler("a.count").unwrap(), "2");
        // The new COUNT_CALL is the one that applies.
        r.push_to("c", 0, b.batch(&[b"f"])).unwrap();
        assert_eq!(r.read_handler("c.count").unwrap(), "0");
        assert_eq!(r.read_handler("a.count").unwrap(), "3");
        // Another class of the same name takes nothing.
        r.push_to("c", 0, b.batch(&[b"g"])).unwrap();
        hotswap(&mut r, &g("Null", "")).unwrap();
        hotswap(&mut r, &g("Counter", "")).unwrap();
        assert_eq!(r.read_handler("c.count").unwrap(), "0");
        assert_eq!(r.read_handler("a.count").unwrap(), "4");
    }

    #[test]
    fn counts_and_rates_read_the_simulated_clock_as_clicks_do() {
        use sluice_dataplane::{Clock, PacketPool, SimClock};
        let g = graph(
            &[("c", "Counter", ""), ("o", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let pool = PacketPool::new(8);
        let (mut r, clock) = simtime_router(&g, &pool);
        let start = SimClock::STARTUP_READS;
        assert_eq!(clock.now_ns(), start + 2, "each rate reads as it is made");
        let frames = [0u8; 180];
        let batch = frames
            .chunks(60)
            .map(|f| pool.alloc_from(f).unwrap())
            .collect();
        r.push_to("c", 0, batch).unwrap();
        assert_eq!(
            clock.now_ns(),
            start + 2 + 6,
            "both rates read for every packet"
        );
        r.read_handler("c.count").unwrap();
        r.read_handler("c.rate").unwrap();
        assert_eq!(clock.now_ns(), start + 9, "reading a rate reads the clock");
    }

    #[test]
    fn counts_and_rates() {
        let b = Bench::new();
        let g = graph(
            &[("c", "Counter", ""), ("o", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("c", 0, b.batch(&[&[0; 60], &[0; 40]])).unwrap();
        assert_eq!(collected("o").len(), 2);
        assert_eq!(r.read_handler("c.count").unwrap(), "2");
        assert_eq!(r.read_handler("c.byte_count").unwrap(), "100");
        // Steady 10 packets per 1 ms epoch converges on 10,000 packets/s.
        for _ in 0..300 {
            b.clock.advance(1_000_000);
            r.run_once();
            r.push_to("c", 0, b.batch(&[&[0u8; 10][..]; 10])).unwrap();
            collected("o");
        }
        let rate: f64 = r.read_handler("c.rate").unwrap().parse().unwrap();
        assert!((rate - 10_000.0).abs() < 1.0, "{rate}");
        let bit: f64 = r.read_handler("c.bit_rate").unwrap().parse().unwrap();
        assert!((bit - 800_000.0).abs() < 100.0, "{bit}");
        r.write_handler("c.reset", "").unwrap();
        assert_eq!(r.read_handler("c.count").unwrap(), "0");
        assert_eq!(r.read_handler("c.rate").unwrap(), "0");
    }

    #[test]
    fn count_call_fires_once_at_n() {
        let b = Bench::new();
        let g = graph(
            &[
                (
                    "c",
                    "Counter",
                    "COUNT_CALL 3 s.active false, BYTE_COUNT_CALL 10 t.active false",
                ),
                ("o", "Collect", ""),
                ("s", "InfiniteSource", "ACTIVE false"),
                ("t", "InfiniteSource", "ACTIVE false"),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.write_handler("s.active", "true").unwrap();
        r.write_handler("t.active", "true").unwrap();
        r.push_to("c", 0, b.batch(&[b"ab", b"cd"])).unwrap();
        assert_eq!(r.read_handler("s.active").unwrap(), "true");
        r.push_to("c", 0, b.batch(&[b"ef"])).unwrap();
        assert_eq!(r.read_handler("s.active").unwrap(), "false");
        assert_eq!(r.read_handler("t.active").unwrap(), "true", "6 bytes < 10");
        r.write_handler("s.active", "true").unwrap();
        r.push_to("c", 0, b.batch(&[b"ghijk"])).unwrap();
        assert_eq!(r.read_handler("s.active").unwrap(), "true", "fires once");
        assert_eq!(r.read_handler("t.active").unwrap(), "false");
        assert!(
            config_error(&graph(&[("c", "Counter", "COUNT_CALL x")], &[])).contains("COUNT_CALL")
        );
    }

    #[test]
    fn average_counter() {
        let b = Bench::new();
        let g = graph(
            &[("a", "AverageCounter", "IGNORE 1"), ("o", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("a", 0, b.batch(&[b"x"])).unwrap();
        assert_eq!(r.read_handler("a.count").unwrap(), "0", "inside IGNORE");
        for _ in 0..4 {
            b.clock.advance(500_000_000);
            r.run_once();
            r.push_to("a", 0, b.batch(&[b"abcd", b"efgh"])).unwrap();
        }
        // Counted: the pushes at 1.0, 1.5 and 2.0 s after the first; span 2 s minus 1 s ignored.
        assert_eq!(r.read_handler("a.count").unwrap(), "6");
        assert_eq!(r.read_handler("a.byte_count").unwrap(), "24");
        assert_eq!(r.read_handler("a.rate").unwrap(), "6");
        assert_eq!(r.read_handler("a.byte_rate").unwrap(), "24");
        r.write_handler("a.reset", "").unwrap();
        assert_eq!(r.read_handler("a.rate").unwrap(), "0");
        collected("o");
    }
}
