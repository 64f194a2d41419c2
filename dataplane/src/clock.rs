//! Time sources. The router reads the clock once per task run; elements see it through
//! their context.

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A timestamp in nanoseconds, displayed as Click displays its (nanosecond) timestamps:
/// `seconds.microseconds` when the time falls on a whole microsecond, else
/// `seconds.nanoseconds` (`100.123456789`, `101.000005`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub u64);

impl core::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (sec, ns) = (self.0 / NS_PER_SEC, self.0 % NS_PER_SEC);
        if ns % 1000 == 0 {
            write!(f, "{sec}.{:06}", ns / 1000)
        } else {
            write!(f, "{sec}.{ns:09}")
        }
    }
}

/// A monotonic clock in nanoseconds.
pub trait Clock {
    /// Nanoseconds since an arbitrary, fixed origin. The router reads it once per scheduler
    /// slice (Click's `Timestamp::recent()`).
    fn now_ns(&self) -> u64;

    /// The time, read afresh for one event (Click's `Timestamp::now()`): `ToDump` stamping a
    /// packet that has no timestamp. Simulated time moves on by a nanosecond per call.
    fn fresh_ns(&self) -> u64 {
        self.now_ns()
    }

    /// Whether this is simulated time ([`SimClock`]), where each event reads the clock
    /// afresh (see [`Context::event_time`](crate::Context::event_time)).
    fn simulated(&self) -> bool {
        false
    }
}

/// Simulated time, as Click's `--simtime`: it starts at a given instant and moves only when
/// the driver jumps it to the next timer (the router never waits) and by one nanosecond at
/// every fresh read ([`Clock::fresh_ns`]), as Click's simulated `Timestamp::now()` does.
/// Clones share one clock.
#[derive(Clone, Debug, Default)]
pub struct SimClock(alloc::rc::Rc<core::cell::Cell<u64>>);

impl SimClock {
    /// Fresh reads Click's userlevel driver makes while it starts, before the first one an
    /// element makes: the first packet ToDump stamps under `click --simtime` carries the
    /// start time plus this many nanoseconds.
    pub const STARTUP_READS: u64 = 3;

    /// Simulated time starting at `start_ns` (Click's default is 1,000,000,000 seconds).
    pub fn new(start_ns: u64) -> Self {
        Self(alloc::rc::Rc::new(core::cell::Cell::new(
            start_ns.saturating_add(Self::STARTUP_READS),
        )))
    }

    /// Moves the time forward to `ns` (a timer's expiry); never back.
    pub fn advance_to(&self, ns: u64) {
        if ns > self.0.get() {
            self.0.set(ns);
        }
    }
}

impl Clock for SimClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }

    fn fresh_ns(&self) -> u64 {
        let t = self.0.get();
        self.0.set(t.saturating_add(1));
        t
    }

    fn simulated(&self) -> bool {
        true
    }
}

/// A clock that only moves when told to: tests of timeouts and expiry.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(alloc::rc::Rc<core::cell::Cell<u64>>);

impl ManualClock {
    /// A clock at `ns`.
    pub fn new(ns: u64) -> Self {
        Self(alloc::rc::Rc::new(core::cell::Cell::new(ns)))
    }

    /// Sets the time.
    pub fn set(&self, ns: u64) {
        self.0.set(ns);
    }

    /// Moves the time forward.
    pub fn advance(&self, ns: u64) {
        self.0.set(self.0.get() + ns);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

/// Wall-clock time from the operating system (host mode): nanoseconds since the Unix epoch,
/// so timestamps written to pcap files are real dates.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;
    use alloc::format;

    #[test]
    fn simulated_time_moves_by_fresh_reads_and_jumps_only() {
        use super::{Clock, SimClock};
        let c = SimClock::new(1_000);
        assert_eq!(c.now_ns(), 1_003, "Click's three start-up reads");
        assert_eq!(c.now_ns(), 1_003, "slice reads do not move it");
        assert_eq!((c.fresh_ns(), c.fresh_ns()), (1_003, 1_004));
        c.advance_to(5_000);
        assert_eq!(c.clone().now_ns(), 5_000);
        c.advance_to(10);
        assert_eq!(c.now_ns(), 5_000, "never back");
    }

    #[test]
    fn timestamps_print_as_click_prints_them() {
        assert_eq!(format!("{}", Timestamp(100_123_456_789)), "100.123456789");
        assert_eq!(format!("{}", Timestamp(101_000_005_000)), "101.000005");
        assert_eq!(format!("{}", Timestamp(102_000_000_007)), "102.000000007");
        assert_eq!(format!("{}", Timestamp(0)), "0.000000");
    }
}
