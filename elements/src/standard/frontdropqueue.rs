//! `FrontDropQueue([CAPACITY])` — stores packets in a FIFO queue that drops from the front.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/lh`: push input; pull output 0, push output 1.
//!
//! Stores pushed packets in a first-in first-out queue and hands them out when pulled, as
//! `Queue` does, but when a packet arrives at a full queue (CAPACITY packets, default 1000)
//! the packet at the head, the oldest, is dropped to make room for it. Dropped packets are
//! counted and, with a second output, leave there. A queue of capacity 0 drops every packet
//! pushed to it.
//!
//! A smaller `capacity` written while the queue holds more packets keeps the newest ones
//! and discards the oldest (not counted as drops), as Click's reconfiguration does.
//!
//! **Handlers:** `length` (r: packets now queued), `highwater_length` (r: the most ever
//! queued at once), `capacity` (rw), `drops` (r), `reset_counts` (w: clears `drops` and sets
//! `highwater_length` to the current length), `reset` (w: discards every queued packet).
//!
//! **Hot reconfiguration:** a `FrontDropQueue` that replaces a queue of the same name
//! through `hotconfig` takes its packets, in order; when the new capacity is smaller, it
//! keeps the newest and drops the rest, counted in `drops` and reported, as Click's does.
//!
//! **Example:** `FromDevice(eth0) -> FrontDropQueue(64) -> ToDevice(eth1)` keeps the
//! freshest packets when the link backs up.
//!
//! **Differences from Click:** no empty/full notification: pullers poll every round. The
//! first drop is not reported on the console.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, Packet, BATCH_MAX,
};

use super::common::parse_value;

/// `FrontDropQueue`.
pub static FrontDropQueue: ElementClass = ElementClass {
    name: "FrontDropQueue",
    ports: "1/1-2",
    processing: "h/lh",
    make,
    names: None,
};

/// Default capacity, as in Click.
const DEFAULT_CAPACITY: usize = 1000;

/// Which packets a smaller capacity keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shrink {
    /// The oldest, at the head (Click's `SimpleQueue`).
    KeepHead,
    /// The newest, at the tail (`FrontDropQueue`).
    KeepTail,
}

/// The storage and counters of a queue whose drop policy is its element's: the packets,
/// the capacity, drops and high-water mark, and the handlers every Click queue has.
pub(super) struct QueueCore {
    pub q: VecDeque<Packet>,
    pub capacity: usize,
    pub drops: u64,
    pub highwater: usize,
    shrink: Shrink,
}

impl QueueCore {
    /// A queue configured by `CAPACITY` (positional or keyword).
    pub fn configure(a: &mut Args<'_>, shrink: Shrink) -> Self {
        let capacity = a
            .read_p::<u32>("CAPACITY")
            .map_or(DEFAULT_CAPACITY, |c| c as usize);
        // Reserved up front: enqueueing never allocates.
        Self {
            q: VecDeque::with_capacity(capacity),
            capacity,
            drops: 0,
            highwater: 0,
            shrink,
        }
    }

    /// Counts a dropped packet and sends it to output 1 when there is one.
    #[inline]
    pub fn drop_packet(&mut self, ctx: &mut Context<'_>, p: Packet) {
        self.drops += 1;
        if ctx.noutputs() > 1 {
            ctx.output(1, p);
        }
    }

    /// Up to `max` packets from the head.
    #[inline]
    pub fn pull(&mut self, max: usize) -> Option<Batch> {
        if self.q.is_empty() {
            return None;
        }
        let n = max.min(self.q.len()).min(BATCH_MAX);
        Some(self.q.drain(..n).collect())
    }

    pub fn read(&self, name: &str) -> Option<String> {
        Some(match name {
            "length" => self.q.len().to_string(),
            "highwater_length" => self.highwater.to_string(),
            "capacity" => self.capacity.to_string(),
            "drops" => self.drops.to_string(),
            _ => return None,
        })
    }

    pub fn write(&mut self, name: &str, value: &str) -> Result<(), HandlerError> {
        match name {
            "capacity" => {
                let c: u32 = parse_value(name, value)?;
                self.capacity = c as usize;
                let extra = self.q.len().saturating_sub(self.capacity);
                match self.shrink {
                    Shrink::KeepHead => self.q.truncate(self.capacity),
                    Shrink::KeepTail => drop(self.q.drain(..extra)),
                }
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

    /// Takes the packets of `old`, any of Click's queues, after a `hotconfig`: as many as
    /// the capacity holds, the oldest (`KeepHead`) or the newest (`KeepTail`); the rest
    /// are dropped, counted in `drops` and reported in `warnings`.
    pub fn take_state(&mut self, old: &mut dyn Element, warnings: &mut Vec<String>) {
        let Some(from) = super::queue::stored_packets(old) else {
            return;
        };
        let lost = take_packets(&mut self.q, self.capacity, self.shrink, from);
        self.highwater = self.q.len();
        self.drops += lost.0;
        if let Some(w) = lost.1 {
            warnings.push(w);
        }
    }

    pub const HANDLERS: &'static [Handler] = &[
        Handler::read("length"),
        Handler::read("highwater_length"),
        Handler::read_write("capacity"),
        Handler::read("drops"),
        Handler::write("reset_counts"),
        Handler::write("reset"),
    ];
}

struct FrontDrop(QueueCore);

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(FrontDrop(QueueCore::configure(
        a,
        Shrink::KeepTail,
    ))))
}

impl Element for FrontDrop {
    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let core = &mut self.0;
        for p in batch {
            if core.capacity == 0 {
                core.drop_packet(ctx, p);
                continue;
            }
            if core.q.len() >= core.capacity {
                if let Some(old) = core.q.pop_front() {
                    core.drop_packet(ctx, old);
                }
            }
            core.q.push_back(p);
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

/// Moves the packets of `from` (an old queue) into the empty queue `to` of `capacity`,
/// keeping the oldest or the newest as `shrink` says. Returns how many were dropped, with
/// the warning that says so.
pub(super) fn take_packets(
    to: &mut VecDeque<Packet>,
    capacity: usize,
    shrink: Shrink,
    from: &mut VecDeque<Packet>,
) -> (u64, Option<String>) {
    let old_len = from.len();
    let extra = old_len.saturating_sub(capacity);
    match shrink {
        Shrink::KeepHead => from.truncate(capacity),
        Shrink::KeepTail => drop(from.drain(..extra)),
    }
    to.append(from);
    let warning = (extra > 0).then(|| {
        alloc::format!("{extra} packets lost (old length {old_len}, new capacity {capacity})")
    });
    (extra as u64, warning)
}

/// The packets a `FrontDropQueue` holds, if `e` is one.
pub(super) fn stored(e: &mut dyn Element) -> Option<&mut VecDeque<Packet>> {
    e.downcast_mut::<FrontDrop>().map(|f| &mut f.0.q)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn a_full_queue_drops_its_oldest_packet() {
        let b = Bench::new().pool(16, 0);
        let g = graph(
            &[
                ("q", "FrontDropQueue", "3"),
                ("u", "Unqueue", "BURST 10, ACTIVE false"),
                ("o", "Collect", ""),
                ("d", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (0, 1, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("q", 0, b.batch(&[b"1", b"2", b"3", b"4", b"5"]))
            .unwrap();
        assert_eq!(
            collected_bytes("d"),
            [b"1", b"2"],
            "the oldest leave on output 1"
        );
        assert_eq!(r.read_handler("q.length").unwrap(), "3");
        assert_eq!(r.read_handler("q.drops").unwrap(), "2");
        assert_eq!(r.read_handler("q.highwater_length").unwrap(), "3");
        // A smaller capacity keeps the newest packets.
        r.write_handler("q.capacity", "2").unwrap();
        assert_eq!(r.read_handler("q.drops").unwrap(), "2");
        r.write_handler("u.active", "true").unwrap();
        r.run_once();
        assert_eq!(collected_bytes("o"), [b"4", b"5"]);
        r.write_handler("q.reset_counts", "").unwrap();
        assert_eq!(r.read_handler("q.drops").unwrap(), "0");
        assert_eq!(r.read_handler("q.highwater_length").unwrap(), "0");
        assert_eq!(b.pool.stats().free, 16);
    }

    #[test]
    fn capacity_zero_and_reset() {
        let b = Bench::new().pool(16, 0);
        let g = graph(
            &[("q", "FrontDropQueue", "CAPACITY 0"), ("i", "Idle", "")],
            &[(1, 0, 0, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("q", 0, b.batch(&[b"1", b"2"])).unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "0");
        assert_eq!(r.read_handler("q.drops").unwrap(), "2");
        r.write_handler("q.capacity", "1000").unwrap();
        r.push_to("q", 0, b.batch(&[b"1", b"2"])).unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "2");
        r.write_handler("q.reset", "").unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "0");
        assert_eq!(r.read_handler("q.capacity").unwrap(), "1000");
        assert_eq!(b.pool.stats().free, 16);
        assert!(r.write_handler("q.capacity", "lots").is_err());
    }
}
