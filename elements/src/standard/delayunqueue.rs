//! `DelayUnqueue(DELAY)` — pulls packets and pushes each on DELAY after its timestamp.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l/h`: pull input, push output.
//!
//! A task that pulls packets from its input and pushes each on once the current time has
//! reached its timestamp annotation plus DELAY (a packet whose timestamp is less than one
//! second is stamped with the current time first). The packet's timestamp annotation is
//! left at that release time. Packets leave in the order they are pulled: one waiting
//! packet holds back those behind it.
//!
//! **Handlers:** `delay` (rw).
//!
//! **Example:** `FromDevice(0) -> SetTimestamp -> Queue -> DelayUnqueue(10ms) -> ToDevice(1)`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;

use core::time::Duration;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    Packet, TaskStatus, Timestamp,
};

use super::common::parse_value;

/// The element class.
pub static DelayUnqueue: ElementClass = ElementClass {
    name: "DelayUnqueue",
    ports: "1/1",
    processing: "l/h",
    make,
    names: None,
};

pub(super) const SECOND_NS: u64 = 1_000_000_000;

struct DelayUnqueueElement {
    delay_ns: u64,
    /// The packet pulled and waiting for its release time (its timestamp annotation).
    waiting: Option<Packet>,
}

pub(super) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let delay = a.read_mp::<Duration>("DELAY")?;
    Some(Box::new(DelayUnqueueElement {
        delay_ns: duration_ns(delay),
        waiting: None,
    }))
}

/// The `delay` handler both delay elements have (read/write, an interval).
pub(super) const DELAY_HANDLERS: &[Handler] = &[Handler::read_write("delay")];

/// Reads the `delay` handler: `ns` as an interval.
pub(super) fn read_delay(ns: u64, name: &str) -> Option<String> {
    (name == "delay").then(|| unparse_interval(ns))
}

/// Writes the `delay` handler: `value` (an interval) into `ns`.
pub(super) fn write_delay(ns: &mut u64, name: &str, value: &str) -> Result<(), HandlerError> {
    match name {
        "delay" => *ns = duration_ns(parse_value(name, value)?),
        _ => return Err(HandlerError::NoSuchHandler(name.into())),
    }
    Ok(())
}

/// Click's unparsing of a time interval: `500ms`, `100us`, `1234ns` below one second,
/// `1.500000s` from one second up.
pub(super) fn unparse_interval(ns: u64) -> String {
    if ns >= SECOND_NS {
        alloc::format!("{}s", Timestamp(ns))
    } else if ns.is_multiple_of(1_000_000) {
        alloc::format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        alloc::format!("{}us", ns / 1_000)
    } else {
        alloc::format!("{ns}ns")
    }
}

impl Element for DelayUnqueueElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        let mut worked = false;
        loop {
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
            let Some(p) = self.waiting.take() else { break };
            let due = p.anno().timestamp_ns;
            if due > ctx.now() {
                ctx.wake_at(due);
                self.waiting = Some(p);
                break;
            }
            ctx.output(0, p);
            worked = true;
        }
        if worked {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
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
    fn packets_leave_delay_after_their_timestamp_in_order() {
        let b = Bench::new().pool(16, 0);
        let g = graph(
            &[
                ("s", "InfiniteSource", "LIMIT 3, BURST 3, STOP false"),
                ("t", "SetTimestamp", ""),
                ("q", "Queue", ""),
                ("d", "DelayUnqueue", "0.5"),
                ("o", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0), (3, 0, 4, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(3);
        assert!(collected("o").is_empty(), "held for the delay");
        b.clock.advance(499_999_999);
        r.run_rounds(3);
        assert!(collected("o").is_empty(), "not yet due");
        b.clock.advance(1);
        r.run_rounds(3);
        let out = collected("o");
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|o| o.anno.timestamp_ns == 1_500_000_000));
        assert_eq!(r.read_handler("d.delay").unwrap(), "500ms");
        r.write_handler("d.delay", "2ms").unwrap();
        assert_eq!(r.read_handler("d.delay").unwrap(), "2ms");
        r.write_handler("d.delay", "1.5").unwrap();
        assert_eq!(r.read_handler("d.delay").unwrap(), "1.500000s");
        r.write_handler("d.delay", "0.000001234").unwrap();
        assert_eq!(r.read_handler("d.delay").unwrap(), "1234ns");
        assert!(r.write_handler("d.delay", "soon").is_err());
        assert!(config_error(&graph(&[("d", "DelayUnqueue", "")], &[])).contains("DELAY"));
    }
}
