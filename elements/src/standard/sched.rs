//! `RoundRobinSched()` — pulls from its inputs in turn.
//!
//! **Ports:** `-/1`: any number of inputs, one output.
//!
//! **Processing:** `l/l`: pull.
//!
//! Each packet pulled from its output comes from the next input in turn that has one: inputs
//! take turns, one packet each. A pull asking for several packets gets what the same number
//! of Click pulls would, in the same order, when nothing arrives in between.
//!
//! **Hot reconfiguration:** a `RoundRobinSched` that replaces one of the same name through
//! `hotconfig` goes on from the input whose turn is next (Click's starts over at input 0).
//!
//! ## `PrioSched()` — pulls from the first of its inputs that has a packet.
//!
//! **Ports:** `-/1`: any number of inputs, one output.
//!
//! **Processing:** `l/l`: pull.
//!
//! Each packet pulled comes from the lowest-numbered input that has one: input 0 has strict
//! priority over input 1, and so on. A pull asking for several packets gets what the same
//! number of Click pulls would, in the same order, when nothing arrives in between.
//!
//! **Example:**
//!
//! ```text
//! hi :: Queue -> [0] s :: PrioSched -> ToDevice(eth0);
//! lo :: Queue -> [1] s;
//! ```

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Element, ElementClass};

/// `RoundRobinSched`.
pub static RoundRobinSched: ElementClass = ElementClass {
    name: "RoundRobinSched",
    ports: "-/1",
    processing: "l/l",
    make: make_rr,
    names: None,
};
/// `PrioSched`.
pub static PrioSched: ElementClass = ElementClass {
    name: "PrioSched",
    ports: "-/1",
    processing: "l/l",
    make: make_prio,
    names: None,
};

struct RoundRobin {
    next: usize,
}

fn make_rr(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(RoundRobin { next: 0 }))
}

impl Element for RoundRobin {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn take_state(
        &mut self,
        old: &mut dyn Element,
        _: &mut alloc::vec::Vec<alloc::string::String>,
    ) {
        if let Some(old) = old.downcast_mut::<RoundRobin>() {
            self.next = old.next;
        }
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let n = ctx.ninputs();
        let mut out = Batch::new();
        // Stop after a whole round of inputs without a packet.
        let mut misses = 0;
        if self.next >= n {
            // Fewer inputs than the configuration this one replaced.
            self.next = 0;
        }
        while out.len() < max && !out.is_full() && misses < n {
            let i = self.next;
            self.next = (self.next + 1) % n;
            match ctx.pull(i, 1).and_then(|mut b| b.pop()) {
                Some(p) => {
                    out.push(p);
                    misses = 0;
                }
                None => misses += 1,
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

struct Prio;

fn make_prio(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Prio))
}

impl Element for Prio {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let mut out = Batch::new();
        for i in 0..ctx.ninputs() {
            let want = max.min(out.capacity()).saturating_sub(out.len());
            if want == 0 {
                break;
            }
            // An input that gives fewer than asked is empty: the rest come from the next.
            if let Some(b) = ctx.pull(i, want) {
                out.extend(b);
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    /// Pulls `n` packets through `sched` from three queues holding 3, 2 and 1 packets
    /// painted 0, 1 and 2, and returns the paint of each.
    fn order(sched: &str, max: &str) -> alloc::vec::Vec<u8> {
        let b = Bench::new().pool(32, 2);
        let g = graph(
            &[
                ("q0", "Queue", ""),
                ("q1", "Queue", ""),
                ("q2", "Queue", ""),
                ("s", sched, ""),
                ("u", "Unqueue", max),
                ("c", "Collect", ""),
            ],
            &[
                (0, 0, 3, 0),
                (1, 0, 3, 1),
                (2, 0, 3, 2),
                (3, 0, 4, 0),
                (4, 0, 5, 0),
            ],
        );
        let mut r = b.router(&g).unwrap();
        for (q, n) in [("q0", 3u8), ("q1", 2), ("q2", 1)] {
            let paint = q.as_bytes()[1] - b'0';
            let mut batch = b.batch(&alloc::vec![&[0u8; 20][..]; usize::from(n)]);
            for p in &mut batch {
                p.anno_mut().paint = paint;
            }
            r.push_to(q, 0, batch).unwrap();
        }
        r.run_rounds(20);
        collected("c").iter().map(|p| p.anno.paint).collect()
    }

    #[test]
    fn round_robin_keeps_its_turn_across_hotconfig() {
        let b = Bench::new();
        let g = graph(
            &[
                ("q0", "Queue", ""),
                ("q1", "Queue", ""),
                ("s", "RoundRobinSched", ""),
                ("u", "Unqueue", "BURST 1"),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0), (3, 0, 4, 0)],
        );
        let painted = |paint: u8| {
            let mut batch = b.batch(&[&[0u8; 20][..]]);
            for p in &mut batch {
                p.anno_mut().paint = paint;
            }
            batch
        };
        let mut r = b.router(&g).unwrap();
        r.push_to("q0", 0, painted(0)).unwrap();
        r.run_rounds(4);
        assert_eq!(collected("c").len(), 1);
        // Input 1's turn is next, in the new configuration too.
        hotswap(&mut r, &g).unwrap();
        r.push_to("q0", 0, painted(0)).unwrap();
        r.push_to("q1", 0, painted(1)).unwrap();
        r.run_rounds(4);
        let order: alloc::vec::Vec<u8> = collected("c").iter().map(|p| p.anno.paint).collect();
        assert_eq!(order, [1, 0]);
    }

    #[test]
    fn round_robin_takes_turns() {
        assert_eq!(order("RoundRobinSched", "1"), [0, 1, 2, 0, 1, 0]);
        assert_eq!(order("RoundRobinSched", "8"), [0, 1, 2, 0, 1, 0]);
    }

    #[test]
    fn prio_empties_the_first_input_first() {
        assert_eq!(order("PrioSched", "1"), [0, 0, 0, 1, 1, 2]);
        assert_eq!(order("PrioSched", "8"), [0, 0, 0, 1, 1, 2]);
    }
}
