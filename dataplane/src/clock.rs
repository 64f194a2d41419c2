//! Time sources. The router reads the clock once per task run; elements see it through
//! their context.

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

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
