//! `DelayShaper(DELAY)` — holds pulled packets until DELAY after their timestamps.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l`: pull.
//!
//! Answers each pull on its output by pulling from its input, and hands a packet on only
//! once the current time has reached its timestamp annotation plus DELAY (a time); a
//! packet whose timestamp is less than one second is stamped with the current time first.
//! The packet leaves with its timestamp set to the time it left. At most one packet waits
//! at a time: pulls that come before it is due get nothing. Unlike `DelayUnqueue`, both
//! sides are pull, so it sits between a queue and a pulling sink.
//!
//! It reports whether it may have a packet (Click's empty notifier): while a packet waits,
//! not until it is due (a timer wakes the puller then); otherwise whenever its upstream
//! signal is active. So a sink downstream sleeps while the packet waits, and simulated time
//! moves on to its release.
//!
//! **Handlers:** `delay` (rw).
//!
//! **Example:** `src -> SetTimestamp -> Queue -> DelayShaper(50ms) -> ToDevice(eth0)`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;
use core::time::Duration;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    Notifier, NotifierKind, Packet, Signal,
};

use super::delayunqueue::{duration_ns, read_delay, write_delay, DELAY_HANDLERS, SECOND_NS};

/// `DelayShaper`: see the module docs.
pub static DelayShaper: ElementClass = ElementClass {
    name: "DelayShaper",
    ports: "1/1",
    processing: "l",
    make,
    names: None,
};

struct DelayShaperElement {
    delay_ns: u64,
    /// The packet pulled and waiting for its release time (its timestamp annotation).
    waiting: Option<Packet>,
    notifier: Notifier,
    upstream: Signal,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let delay = a.read_mp::<Duration>("DELAY")?;
    Some(Box::new(DelayShaperElement {
        delay_ns: duration_ns(delay),
        waiting: None,
        notifier: Notifier::new(false),
        upstream: Signal::Busy,
    }))
}

impl DelayShaperElement {
    /// Active while upstream is: nothing is waiting.
    fn follow_upstream(&self) {
        self.notifier.set_active(false);
        self.notifier.follow(Some(self.upstream.clone()));
    }

    /// Inactive until the timer raises the flag at the waiting packet's release.
    fn sleep(&self) {
        self.notifier.follow(None);
        self.notifier.set_active(false);
    }
}

impl Element for DelayShaperElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.upstream = ctx.upstream_empty_signal(0);
        self.follow_upstream();
        Ok(())
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let mut out = Batch::new();
        while out.len() < max {
            if self.waiting.is_none() {
                let Some(mut p) = ctx.pull(0, 1).and_then(|mut b| b.pop()) else {
                    break;
                };
                let a = p.anno_mut();
                if a.timestamp_ns < SECOND_NS {
                    a.timestamp_ns = ctx.now();
                }
                a.timestamp_ns = a.timestamp_ns.saturating_add(self.delay_ns);
                self.waiting = Some(p);
            }
            let Some(mut p) = self.waiting.take() else {
                break;
            };
            let now = ctx.now();
            let due = p.anno().timestamp_ns;
            if due > now {
                ctx.set_timer(due);
                self.sleep();
                self.waiting = Some(p);
                break;
            }
            p.anno_mut().timestamp_ns = now;
            out.push(p);
        }
        if self.waiting.is_none() {
            self.follow_upstream();
        }
        (!out.is_empty()).then_some(out)
    }

    fn run_timer(&mut self, _: &mut Context<'_>) {
        self.notifier.set_active(true);
    }

    fn notifier(&self, kind: NotifierKind, port: usize) -> Option<Notifier> {
        (kind == NotifierKind::Empty && port == 0).then(|| self.notifier.clone())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        read_delay(self.delay_ns, name)
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        write_delay(&mut self.delay_ns, name, value)
    }

    fn handlers(&self) -> &'static [Handler] {
        DELAY_HANDLERS
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn packets_leave_delay_after_their_timestamps() {
        let b = Bench::new();
        let g = graph(
            &[
                ("q", "Queue", ""),
                ("d", "DelayShaper", "50ms"),
                ("sink", "PullCollect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let mut batch = b.batch(&[b"one", b"two"]);
        for (k, p) in batch.iter_mut().enumerate() {
            p.anno_mut().timestamp_ns = 1_000_000_000 + k as u64 * 10_000_000;
        }
        r.push_to("q", 0, batch).unwrap();
        r.run_rounds(3);
        assert!(collected("sink").is_empty());
        b.clock.advance(50_000_000);
        r.run_rounds(3);
        let got = collected("sink");
        assert_eq!(got.len(), 1, "only the first is due");
        assert_eq!(got[0].data, b"one");
        assert_eq!(
            got[0].anno.timestamp_ns, 1_050_000_000,
            "stamped as it leaves"
        );
        b.clock.advance(9_000_000);
        r.run_rounds(3);
        assert!(collected("sink").is_empty(), "second due at 1.060 s");
        b.clock.advance(1_000_000);
        r.run_rounds(3);
        assert_eq!(collected_bytes("sink"), [b"two".to_vec()]);
        assert_eq!(r.read_handler("d.delay").unwrap(), "50ms");
        r.write_handler("d.delay", "1.5").unwrap();
        assert_eq!(r.read_handler("d.delay").unwrap(), "1.500000s");
        assert!(r.write_handler("d.delay", "later").is_err());
    }

    #[test]
    fn the_puller_sleeps_while_a_packet_waits() {
        let b = Bench::new();
        let g = graph(
            &[
                ("q", "Queue", ""),
                ("d", "DelayShaper", "1"),
                ("sink", "Discard", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let scheduled = |r: &sluice_dataplane::Router| r.read_handler("sink.scheduled").unwrap();
        r.run_rounds(2);
        assert_eq!(scheduled(&r), "false", "empty queue");
        r.push_to("q", 0, b.batch(&[b"x", b"y"])).unwrap();
        assert_eq!(scheduled(&r), "true", "the queue has packets");
        r.run_rounds(2);
        assert_eq!(scheduled(&r), "false", "x waits a second");
        b.clock.advance(1_000_000_000);
        r.run_rounds(3);
        assert_eq!(r.read_handler("sink.count").unwrap(), "1");
        assert_eq!(scheduled(&r), "false", "y waits its second");
        b.clock.advance(1_000_000_000);
        r.run_rounds(3);
        assert_eq!(r.read_handler("sink.count").unwrap(), "2");
        assert_eq!(scheduled(&r), "false", "drained");
    }

    #[test]
    fn bad_arguments_are_errors() {
        for cfg in ["", "soon", "1, 2"] {
            let g = graph(&[("d", "DelayShaper", cfg)], &[]);
            assert!(!config_error(&g).is_empty(), "{cfg}");
        }
    }
}
