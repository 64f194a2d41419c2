//! `MixedQueue([CAPACITY])` — stores packets in a queue that is FIFO for input 0 and LIFO for input 1.
//!
//! **Ports:** `2/1-2`: two inputs, one or two outputs.
//!
//! **Processing:** `h/lh`: push inputs; pull output 0, push output 1.
//!
//! One queue of at most CAPACITY packets (default 1000), pulled from its head. A packet
//! pushed on input 0 joins at the tail (first in, first out); one pushed on input 1 joins
//! at the head, so it is the next to leave (last in, first out). When the queue is full, a
//! packet arriving on input 0 is dropped, and one arriving on input 1 makes room by
//! dropping the packet at the tail, the one that would leave last. Dropped packets are
//! counted and, with a second output, leave there.
//!
//! For example, after pushing A on input 0, B on 0, C on 1, D on 0 and E on 1, the queue
//! holds E C A B D, head first.
//!
//! A smaller `capacity` written while the queue holds more packets keeps those at the head
//! and discards the rest (not counted as drops), as Click's reconfiguration does.
//!
//! **Handlers:** `length` (r: packets now queued), `highwater_length` (r: the most ever
//! queued at once), `capacity` (rw), `drops` (r), `reset_counts` (w: clears `drops` and sets
//! `highwater_length` to the current length), `reset` (w: discards every queued packet).
//!
//! **Hot reconfiguration:** a `MixedQueue` that replaces a queue of the same name through
//! `hotconfig` takes its packets, in order, keeping the oldest that fit its capacity; the
//! rest are dropped, counted in `drops` and reported.
//!
//! **Example:**
//!
//! ```text
//! c :: IPClassifier(tcp, -);
//! c[0] -> [1]m :: MixedQueue(100);   // TCP first, the newest first
//! c[1] -> [0]m;
//! m -> ToDevice(eth0);
//! ```
//!
//! **Differences from Click:** no empty/full notification: pullers poll every round. The
//! first drop is not reported on the console.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError,
};

use super::frontdropqueue::{QueueCore, Shrink};

/// `MixedQueue`.
pub static MixedQueue: ElementClass = ElementClass {
    name: "MixedQueue",
    ports: "2/1-2",
    processing: "h/lh",
    make,
    names: None,
};

struct Mixed(QueueCore);

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Mixed(QueueCore::configure(a, Shrink::KeepHead))))
}

impl Element for Mixed {
    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        let core = &mut self.0;
        for p in batch {
            let full = core.q.len() >= core.capacity;
            if port == 0 {
                if full {
                    core.drop_packet(ctx, p);
                } else {
                    core.q.push_back(p);
                }
            } else if core.capacity == 0 {
                core.drop_packet(ctx, p);
            } else {
                let old = if full { core.q.pop_back() } else { None };
                core.q.push_front(p);
                core.highwater = core.highwater.max(core.q.len());
                if let Some(old) = old {
                    core.drop_packet(ctx, old);
                }
            }
        }
        core.highwater = core.highwater.max(core.q.len());
    }

    #[inline]
    fn pull(&mut self, _: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        self.0.pull(max)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        self.0.read(name)
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        self.0.write(name, value)
    }

    fn take_state(&mut self, old: &mut dyn Element, warnings: &mut alloc::vec::Vec<String>) {
        self.0.take_state(old, warnings);
    }

    fn handlers(&self) -> &'static [Handler] {
        QueueCore::HANDLERS
    }
}

/// The packets a `MixedQueue` holds, if `e` is one.
pub(super) fn stored(
    e: &mut dyn Element,
) -> Option<&mut alloc::collections::VecDeque<sluice_dataplane::Packet>> {
    e.downcast_mut::<Mixed>().map(|m| &mut m.0.q)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn rig(config: &str) -> (Bench, sluice_dataplane::Router) {
        let b = Bench::new().pool(32, 0);
        let g = graph(
            &[
                ("m", "MixedQueue", config),
                ("u", "Unqueue", "BURST 20, ACTIVE false"),
                ("o", "Collect", ""),
                ("d", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (0, 1, 3, 0)],
        );
        let r = b.router(&g).unwrap();
        (b, r)
    }

    #[test]
    fn fifo_and_lifo_inputs_share_one_queue() {
        let (b, mut r) = rig("");
        for (port, name) in [(0, b"A"), (0, b"B"), (1, b"C"), (0, b"D"), (1, b"E")] {
            r.push_to("m", port, b.batch(&[name])).unwrap();
        }
        assert_eq!(r.read_handler("m.length").unwrap(), "5");
        r.write_handler("u.active", "true").unwrap();
        r.run_once();
        assert_eq!(collected_bytes("o"), [b"E", b"C", b"A", b"B", b"D"]);
    }

    #[test]
    fn full_queue_drops_the_new_fifo_packet_or_the_tail() {
        // Click's MixedQueue-02.
        let (b, mut r) = rig("5");
        let pushes: [(usize, &[u8]); 7] = [
            (0, b"1"),
            (0, b"2"),
            (1, b"3"),
            (0, b"4"),
            (1, b"5"),
            (0, b"6"),
            (1, b"7"),
        ];
        for (port, name) in pushes {
            r.push_to("m", port, b.batch(&[name])).unwrap();
        }
        assert_eq!(collected_bytes("d"), [b"6", b"4"]);
        assert_eq!(r.read_handler("m.drops").unwrap(), "2");
        assert_eq!(r.read_handler("m.highwater_length").unwrap(), "5");
        // A smaller capacity keeps the head.
        r.write_handler("m.capacity", "3").unwrap();
        r.write_handler("u.active", "true").unwrap();
        r.run_once();
        assert_eq!(collected_bytes("o"), [b"7", b"5", b"3"]);
        assert_eq!(b.pool.stats().free, 32);
    }

    #[test]
    fn capacity_zero_drops_everything() {
        let (b, mut r) = rig("CAPACITY 0");
        r.push_to("m", 0, b.batch(&[b"a"])).unwrap();
        r.push_to("m", 1, b.batch(&[b"b"])).unwrap();
        assert_eq!(collected_bytes("d"), [b"a", b"b"]);
        assert_eq!(r.read_handler("m.length").unwrap(), "0");
        r.write_handler("m.reset_counts", "").unwrap();
        assert_eq!(r.read_handler("m.drops").unwrap(), "0");
    }
}
