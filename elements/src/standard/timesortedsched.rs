//! `TimeSortedSched([keywords STOP, BUFFER])` — merges timestamp-sorted streams in timestamp order.
//!
//! **Ports:** `-/1`: any number of inputs, one output.
//!
//! **Processing:** `l`: pull.
//!
//! Answers each pull on its output with the earliest-timestamped packet among those it
//! holds, after topping up what it holds from its inputs: up to BUFFER packets per input
//! (default 1), pulled from each input whose upstream signal is active. Packets with equal
//! timestamps leave in the order they were pulled. The inputs are expected to arrive each
//! sorted by timestamp; if a packet ever leaves with an earlier timestamp than one before
//! it, `well_ordered` turns false (a larger BUFFER copes with small reorderings).
//!
//! It reports whether it may have packets (Click's empty notifier): while it holds any, or
//! while any input's upstream signal is active. With STOP true, a pull that finds nothing
//! held and every upstream signal inactive asks the router to stop.
//!
//! **Keywords:**
//!
//! - `STOP`: bool, default false.
//! - `BUFFER`: integer, at least 1; default 1.
//!
//! **Handlers:** `well_ordered` (r).
//!
//! **Example:**
//!
//! ```text
//! FromDump(a.pcap) -> [0] tss :: TimeSortedSched(STOP true);
//! FromDump(b.pcap) -> [1] tss;
//! tss -> ToDump(merged.pcap);
//! ```

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, InitContext, Notifier,
    NotifierKind, Packet, Signal,
};

use super::common::bool_str;

/// `TimeSortedSched`: see the module docs.
pub static TimeSortedSched: ElementClass = ElementClass {
    name: "TimeSortedSched",
    ports: "-/1",
    processing: "l",
    make,
    names: None,
};

struct Held {
    timestamp: u64,
    /// Pull order, which breaks ties.
    seq: u64,
    input: usize,
    packet: Packet,
}

struct TimeSortedSchedElement {
    stop: bool,
    buffer: usize,
    /// Packets held, at most `buffer` per input; capacity reserved at initialization.
    held: Vec<Held>,
    /// Room left per input.
    space: Vec<usize>,
    signals: Vec<Signal>,
    notifier: Notifier,
    seq: u64,
    last: Option<u64>,
    well_ordered: bool,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let stop = a.read_k::<bool>("STOP").unwrap_or(false);
    let buffer = a.read_k::<u32>("BUFFER").unwrap_or(1);
    if buffer == 0 {
        a.error_whole("BUFFER must be at least 1");
        return None;
    }
    Some(Box::new(TimeSortedSchedElement {
        stop,
        buffer: buffer as usize,
        held: Vec::new(),
        space: Vec::new(),
        signals: Vec::new(),
        notifier: Notifier::new(false),
        seq: 0,
        last: None,
        well_ordered: true,
    }))
}

/// One signal active while any of `signals` is.
fn any_of(signals: &[Signal]) -> Signal {
    let mut notifiers = Vec::new();
    for s in signals {
        match s {
            Signal::Busy => return Signal::Busy,
            Signal::Any(n) => notifiers.extend(n.iter().cloned()),
        }
    }
    if notifiers.is_empty() {
        // No inputs: never anything to pull.
        return Signal::Any(Box::new([Notifier::new(false)]));
    }
    Signal::any(notifiers)
}

impl TimeSortedSchedElement {
    /// Tops up every input with room whose signal is on; whether any signal was on.
    fn fill(&mut self, ctx: &mut Context<'_>) -> bool {
        let mut signals_on = false;
        for i in 0..self.signals.len() {
            if !self.signals[i].active() {
                continue;
            }
            signals_on = true;
            while self.space[i] > 0 {
                let Some(batch) = ctx.pull(i, self.space[i]) else {
                    break;
                };
                for packet in batch {
                    self.space[i] -= 1;
                    self.seq += 1;
                    self.held.push(Held {
                        timestamp: packet.anno().timestamp_ns,
                        seq: self.seq,
                        input: i,
                        packet,
                    });
                }
            }
        }
        signals_on
    }

    fn take_earliest(&mut self) -> Option<Packet> {
        let k = (0..self.held.len()).min_by_key(|&k| (self.held[k].timestamp, self.held[k].seq))?;
        let h = self.held.swap_remove(k);
        self.space[h.input] += 1;
        if h.timestamp != 0 {
            if self.last.is_some_and(|l| h.timestamp < l) {
                self.well_ordered = false;
            }
            self.last = Some(h.timestamp);
        }
        Some(h.packet)
    }
}

impl Element for TimeSortedSchedElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        let n = ctx.ninputs();
        self.signals = (0..n).map(|i| ctx.upstream_empty_signal(i)).collect();
        self.space = alloc::vec![self.buffer; n];
        self.held.reserve_exact(n * self.buffer);
        self.notifier.follow(Some(any_of(&self.signals)));
        Ok(())
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let mut out = Batch::new();
        let mut signals_on = false;
        while out.len() < max {
            signals_on = self.fill(ctx);
            let Some(p) = self.take_earliest() else { break };
            out.push(p);
        }
        // As Click's: a signal seen on during this pull keeps the puller coming back once
        // more, so the pull that finds every input dry (and stops the router) happens.
        self.notifier
            .set_active(!self.held.is_empty() || signals_on);
        if out.is_empty() {
            if self.stop && !signals_on {
                ctx.request_stop();
            }
            return None;
        }
        Some(out)
    }

    fn notifier(&self, kind: NotifierKind, port: usize) -> Option<Notifier> {
        (kind == NotifierKind::Empty && port == 0).then(|| self.notifier.clone())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "well_ordered").then(|| bool_str(self.well_ordered))
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("well_ordered")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    /// Queues `q0`, `q1` into a TimeSortedSched(`config`) pulled by `sink`.
    fn rig(config: &str) -> (Bench, sluice_dataplane::Router) {
        let b = Bench::new();
        let g = graph(
            &[
                ("q0", "Queue", ""),
                ("q1", "Queue", ""),
                ("t", "TimeSortedSched", config),
                ("sink", "PullCollect", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0)],
        );
        let r = b.router(&g).unwrap();
        (b, r)
    }

    fn feed(b: &Bench, r: &mut sluice_dataplane::Router, queue: &str, stamps: &[u64]) {
        let mut batch = sluice_dataplane::Batch::new();
        for &t in stamps {
            let mut p = b.packet(&t.to_be_bytes());
            p.anno_mut().timestamp_ns = t;
            batch.push(p);
        }
        r.push_to(queue, 0, batch).unwrap();
    }

    fn stamps() -> Vec<u64> {
        collected("sink")
            .iter()
            .map(|o| o.anno.timestamp_ns)
            .collect()
    }

    #[test]
    fn sorted_streams_merge_in_timestamp_order() {
        let (b, mut r) = rig("");
        feed(&b, &mut r, "q0", &[10, 30, 50, 50]);
        feed(&b, &mut r, "q1", &[20, 40, 50, 60]);
        r.run_rounds(10);
        assert_eq!(stamps(), [10, 20, 30, 40, 50, 50, 50, 60]);
        assert_eq!(r.read_handler("t.well_ordered").unwrap(), "true");
    }

    #[test]
    fn disorder_is_reported_and_buffer_absorbs_it() {
        let (b, mut r) = rig("");
        feed(&b, &mut r, "q0", &[30, 10]);
        feed(&b, &mut r, "q1", &[20]);
        r.run_rounds(10);
        assert_eq!(stamps(), [20, 30, 10]);
        assert_eq!(r.read_handler("t.well_ordered").unwrap(), "false");

        let (b, mut r) = rig("BUFFER 2");
        feed(&b, &mut r, "q0", &[30, 10]);
        feed(&b, &mut r, "q1", &[20]);
        r.run_rounds(10);
        assert_eq!(stamps(), [10, 20, 30]);
        assert_eq!(r.read_handler("t.well_ordered").unwrap(), "true");
    }

    #[test]
    fn stop_when_every_input_is_dry() {
        let (b, mut r) = rig("STOP true");
        feed(&b, &mut r, "q0", &[1, 2]);
        r.run_rounds(10);
        assert_eq!(stamps(), [1, 2]);
        assert!(r.is_stopped());
    }

    #[test]
    fn bad_arguments_are_errors() {
        for cfg in ["BUFFER 0", "BUFFER x", "STOP maybe", "5"] {
            let g = graph(&[("t", "TimeSortedSched", cfg)], &[]);
            assert!(!config_error(&g).is_empty(), "{cfg}");
        }
    }
}
