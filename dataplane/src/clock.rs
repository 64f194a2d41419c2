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
    /// Nanoseconds since an arbitrary, fixed origin.
    fn now_ns(&self) -> u64;
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
    fn timestamps_print_as_click_prints_them() {
        assert_eq!(format!("{}", Timestamp(100_123_456_789)), "100.123456789");
        assert_eq!(format!("{}", Timestamp(101_000_005_000)), "101.000005");
        assert_eq!(format!("{}", Timestamp(102_000_000_007)), "102.000000007");
        assert_eq!(format!("{}", Timestamp(0)), "0.000000");
    }
}
