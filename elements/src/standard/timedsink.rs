//! `TimedSink([INTERVAL])` — pulls one packet every INTERVAL and drops it.
//!
//! **Ports:** `1/0`: one input, no outputs.
//!
//! **Processing:** `l`: pull.
//!
//! A timer that pulls a packet from its input every INTERVAL (a time, default 0.5
//! seconds), and drops it. The first pull happens INTERVAL after the router starts; each
//! later one INTERVAL after the one before, whether or not a packet came.
//!
//! **Handlers:** `interval` (rw; a zero interval is rejected).
//!
//! **Example:** `... -> Queue -> TimedSink(10ms)`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;

use core::time::Duration;

use sluice_config::args::{Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
};

use super::delayunqueue::unparse_interval;

/// The element class.
pub static TimedSink: ElementClass = ElementClass {
    name: "TimedSink",
    ports: "1/0",
    processing: "l",
    make,
    names: None,
};

struct TimedSinkElement {
    interval_ns: u64,
    /// When the timer fires next.
    next: u64,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let interval = a
        .read_p::<Duration>("INTERVAL")
        .unwrap_or(Duration::from_millis(500));
    Some(Box::new(TimedSinkElement {
        interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
        next: 0,
    }))
}

impl Element for TimedSinkElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.next = ctx.now().saturating_add(self.interval_ns);
        ctx.set_timer(self.next);
        Ok(())
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        drop(ctx.pull(0, 1));
        self.next = self.next.saturating_add(self.interval_ns);
        ctx.set_timer(self.next);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "interval").then(|| unparse_interval(self.interval_ns))
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "interval" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        match <Duration as FromArg>::from_arg(value.trim(), None) {
            Ok(d) if !d.is_zero() => {
                self.interval_ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                Ok(())
            }
            _ => Err(HandlerError::BadValue("bad interval".into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("interval")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn pulls_one_packet_per_interval() {
        let b = Bench::new().pool(32, 0);
        let g = graph(
            &[
                ("s", "InfiniteSource", "LIMIT 10, BURST 10, STOP false"),
                ("q", "Queue", ""),
                ("t", "TimedSink", "100ms"),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(2);
        assert_eq!(r.read_handler("q.length").unwrap(), "10");
        b.clock.advance(99_000_000);
        r.run_rounds(2);
        assert_eq!(r.read_handler("q.length").unwrap(), "10", "not yet");
        b.clock.advance(1_000_000);
        r.run_rounds(2);
        assert_eq!(r.read_handler("q.length").unwrap(), "9");
        b.clock.advance(300_000_000);
        r.run_rounds(6);
        assert_eq!(r.read_handler("q.length").unwrap(), "6", "one per interval");
        assert_eq!(r.read_handler("t.interval").unwrap(), "100ms");
        r.write_handler("t.interval", "2").unwrap();
        assert_eq!(r.read_handler("t.interval").unwrap(), "2.000000s");
        assert!(r.write_handler("t.interval", "0").is_err());
        assert!(r.write_handler("t.interval", "soon").is_err());
        let bad = graph(
            &[("i", "Idle", ""), ("t", "TimedSink", "x")],
            &[(0, 0, 1, 0)],
        );
        assert!(config_error(&bad).contains("INTERVAL"));
    }
}
