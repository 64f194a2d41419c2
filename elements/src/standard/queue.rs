//! `Queue([CAPACITY])` — stores packets in a FIFO queue.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/lh`: push input; pull output 0, push output 1.
//!
//! Stores pushed packets in a first-in first-out queue and hands them out when pulled. A
//! packet that arrives when the queue already holds CAPACITY packets (default 1000) is
//! dropped (tail drop) and counted; with a second output, dropped packets leave there
//! instead.
//!
//! **Handlers:** `length` (r: packets now queued), `highwater_length` (r: the most ever
//! queued at once), `capacity` (rw), `drops` (r), `reset_counts` (w: clears `drops` and
//! `highwater_length`), `reset` (w: drops every queued packet).
//!
//! **Example:** `FromDevice(eth0) -> Queue(200) -> ToDevice(eth1)`
//!
//! **Differences from Click:** there is no empty/full notification: pullers poll every
//! round. A smaller `capacity` written while the queue is fuller keeps the packets already
//! queued (new ones drop until it drains), as Click's does.
//!
//! ## `SimpleQueue([CAPACITY])` — stores packets in a FIFO queue.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/lh`: push input; pull output 0, push output 1.
//!
//! The same element as `Queue`: `Queue` and `SimpleQueue` behave the same in sluice.
//!
//! **Handlers:** as `Queue`: `length`, `highwater_length`, `capacity`, `drops`,
//! `reset_counts`, `reset`.
//!
//! **Differences from Click:** those of `Queue`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, Packet,
};

use super::common::parse_value;

/// `Queue`.
pub static Queue: ElementClass = ElementClass {
    name: "Queue",
    ports: "1/1-2",
    processing: "h/lh",
    make,
    names: None,
};

/// `SimpleQueue`.
pub static SimpleQueue: ElementClass = ElementClass {
    name: "SimpleQueue",
    ports: "1/1-2",
    processing: "h/lh",
    make,
    names: None,
};

/// Default capacity, as in Click.
const DEFAULT_CAPACITY: usize = 1000;

struct QueueElement {
    q: VecDeque<Packet>,
    capacity: usize,
    drops: u64,
    highwater: usize,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let capacity = a
        .read_p::<u32>("CAPACITY")
        .map_or(DEFAULT_CAPACITY, |c| c as usize);
    // Reserved up front: enqueueing never allocates.
    Some(Box::new(QueueElement {
        q: VecDeque::with_capacity(capacity),
        capacity,
        drops: 0,
        highwater: 0,
    }))
}

impl Element for QueueElement {
    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            if self.q.len() < self.capacity {
                self.q.push_back(p);
            } else {
                self.drops += 1;
                if ctx.noutputs() > 1 {
                    ctx.output(1, p);
                }
            }
        }
        self.highwater = self.highwater.max(self.q.len());
    }

    #[inline]
    fn pull(&mut self, _: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        if self.q.is_empty() {
            return None;
        }
        let n = max.min(self.q.len()).min(sluice_dataplane::BATCH_MAX);
        Some(self.q.drain(..n).collect())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "length" => self.q.len().to_string(),
            "highwater_length" => self.highwater.to_string(),
            "capacity" => self.capacity.to_string(),
            "drops" => self.drops.to_string(),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "capacity" => {
                let c: u32 = parse_value(name, value)?;
                self.capacity = c as usize;
                self.q.reserve(self.capacity.saturating_sub(self.q.len()));
            }
            "reset_counts" => {
                self.drops = 0;
                self.highwater = self.q.len();
            }
            "reset" => self.q.clear(),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("length"),
            Handler::read("highwater_length"),
            Handler::read_write("capacity"),
            Handler::read("drops"),
            Handler::write("reset_counts"),
            Handler::write("reset"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn fifo_tail_drop_and_handlers() {
        let b = Bench::new();
        let g = graph(
            &[
                ("q", "Queue", "3"),
                ("u", "Unqueue", "BURST 10"),
                ("o", "Collect", ""),
                ("i", "Idle", ""),
            ],
            &[(3, 0, 0, 0), (0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.write_handler("u.active", "false").unwrap();
        r.push_to("q", 0, b.batch(&[b"1", b"2", b"3", b"4", b"5"]))
            .unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "3");
        assert_eq!(r.read_handler("q.drops").unwrap(), "2");
        assert_eq!(r.read_handler("q.highwater_length").unwrap(), "3");
        assert_eq!(b.pool.stats().free, 61, "dropped buffers returned");
        r.write_handler("u.active", "true").unwrap();
        r.run_once();
        assert_eq!(
            collected_bytes("o"),
            [b"1", b"2", b"3"],
            "first in, first out"
        );
        r.write_handler("q.reset_counts", "").unwrap();
        assert_eq!(r.read_handler("q.drops").unwrap(), "0");
        assert_eq!(r.read_handler("q.highwater_length").unwrap(), "0");
        r.write_handler("q.capacity", "1").unwrap();
        assert_eq!(r.read_handler("q.capacity").unwrap(), "1");
        r.write_handler("u.active", "false").unwrap();
        r.push_to("q", 0, b.batch(&[b"6", b"7"])).unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "1");
        r.write_handler("q.reset", "").unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "0");
        assert_eq!(b.pool.stats().free, 64);
    }

    #[test]
    fn drops_leave_on_output_1() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("q", "SimpleQueue", "CAPACITY 1"),
                ("d", "Discard", ""),
                ("o", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.write_handler("d.active", "false").unwrap();
        r.push_to("q", 0, b.batch(&[b"a", b"b", b"c"])).unwrap();
        assert_eq!(collected_bytes("o"), [b"b", b"c"]);
        assert_eq!(r.read_handler("q.drops").unwrap(), "2");
    }
}
