//! Click's gap rate: a counter of events that must not run ahead of a steady rate, as
//! `Shaper` uses it. Time is split into whole seconds; within a second, the counter may
//! reach the number of events the rate allows up to the current microsecond. A counter
//! behind the rate may catch up within its second; at a new second the allowance starts
//! over, carrying the surplus of the last second (never a deficit).

/// Fixed-point bits of the gap between events, in microseconds.
const UGAP_SHIFT: u32 = 12;
/// The highest rate, in events per second.
pub(super) const MAX_RATE: u32 = 1_000_000 << UGAP_SHIFT;

/// A rate of events per second and the events counted against it.
#[derive(Clone, Debug)]
pub(super) struct GapRate {
    rate: u32,
    /// Microseconds between events, shifted left by [`UGAP_SHIFT`].
    ugap: u32,
    /// Events counted in the current second.
    sec_count: i64,
    /// The current second, or `None` after a reset.
    sec: Option<u64>,
}

impl GapRate {
    /// A counter for `rate` events per second (at most [`MAX_RATE`]).
    pub(super) fn new(rate: u32) -> Self {
        let mut g = Self {
            rate: 0,
            ugap: 0,
            sec_count: 0,
            sec: None,
        };
        g.init_rate(rate.min(MAX_RATE));
        g
    }

    fn init_rate(&mut self, rate: u32) {
        self.rate = rate;
        self.ugap = MAX_RATE.checked_div(rate).unwrap_or(MAX_RATE + 1);
    }

    /// The rate, in events per second.
    pub(super) fn rate(&self) -> u32 {
        self.rate
    }

    /// Changes the rate (at most [`MAX_RATE`]), keeping the current second's place at
    /// time `now_ns`.
    pub(super) fn set_rate(&mut self, rate: u32, now_ns: u64) {
        let rate = rate.min(MAX_RATE);
        if rate != self.rate {
            self.init_rate(rate);
            if self.sec.is_some() && rate != 0 {
                self.sec_count = i64::from(usec_shifted(now_ns) / self.ugap);
            }
        }
    }

    /// Forgets the counted events: the next check starts afresh.
    pub(super) fn reset(&mut self) {
        self.sec = None;
    }

    /// Whether the counter is behind the rate at time `now_ns`: an event may happen now
    /// (then call [`update`](Self::update)).
    pub(super) fn need_update(&mut self, now_ns: u64) -> bool {
        let shifted = usec_shifted(now_ns);
        let need = shifted / self.ugap;
        let sec = now_ns / 1_000_000_000;
        match self.sec {
            None => {
                self.sec = Some(sec);
                let round_up = shifted - need * self.ugap > self.ugap / 2;
                self.sec_count = i64::from(need) + i64::from(round_up);
            }
            Some(s) if sec > s => {
                self.sec = Some(sec);
                if self.sec_count > 0 {
                    self.sec_count -= i64::from(self.rate);
                }
            }
            Some(_) => {}
        }
        i64::from(need) >= self.sec_count
    }

    /// Counts one event.
    pub(super) fn update(&mut self) {
        self.sec_count += 1;
    }
}

/// The microseconds of `ns` within its second, shifted left by [`UGAP_SHIFT`].
fn usec_shifted(ns: u64) -> u32 {
    ((ns % 1_000_000_000 / 1_000) as u32) << UGAP_SHIFT
}

#[cfg(test)]
mod tests {
    use super::GapRate;

    /// Events allowed when checking every `step_ns` for `secs` seconds.
    fn allowed(rate: u32, step_ns: u64, secs: u64) -> u64 {
        let mut g = GapRate::new(rate);
        let mut n = 0;
        let mut t = 1_000_000_000;
        while t < (1 + secs) * 1_000_000_000 {
            if g.need_update(t) {
                g.update();
                n += 1;
            }
            t += step_ns;
        }
        n
    }

    #[test]
    fn events_keep_to_the_rate() {
        assert_eq!(allowed(1000, 100_000, 2), 2000);
        assert_eq!(allowed(250, 1_000_000, 1), 250);
        assert_eq!(allowed(0, 1_000_000, 1), 1, "rate 0 lets one event through");
        let n = allowed(3, 10_000_000, 4);
        assert!((11..=13).contains(&n), "{n}");
    }

    #[test]
    fn reset_and_rate_changes() {
        let mut g = GapRate::new(10);
        assert!(g.need_update(1_000_000_000));
        g.update();
        assert!(!g.need_update(1_050_000_000), "one per 100ms");
        assert!(g.need_update(1_100_000_000));
        g.set_rate(20, 1_100_000_000);
        assert_eq!(g.rate(), 20);
        g.reset();
        assert!(g.need_update(1_120_000_000));
        g.set_rate(u32::MAX, 0);
        assert_eq!(g.rate(), super::MAX_RATE);
    }
}
