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
//! **Hot reconfiguration:** a queue that replaces one of the same name through `hotconfig`
//! (any of `Queue`, `SimpleQueue`, `NotifierQueue`, `FullNoteQueue`, `FrontDropQueue`,
//! `MixedQueue`) takes its packets, in order, as Click's queues do. The new capacity
//! applies: the oldest packets that fit are kept, the rest are dropped, counted in `drops`
//! and reported (`N packets lost (old length L, new capacity C)`). `highwater_length`
//! starts at the new length.
//!
//! **Example:** `FromDevice(eth0) -> Queue(200) -> ToDevice(eth1)`
//!
//! The queue reports to the tasks around it (Click's notifiers): while it is empty, pullers
//! that wait on it (`Unqueue`, `RatedUnqueue`) skip their runs; while it is full, sources
//! that wait on it (`InfiniteSource`) do. A `capacity` written below the current length
//! drops the packets beyond it, as Click's live reconfiguration does.
//!
//! ## `SimpleQueue([CAPACITY])` — stores packets in a FIFO queue.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/lh`: push input; pull output 0, push output 1.
//!
//! `Queue` without its reports: the tasks around a `SimpleQueue` run whether it is empty or
//! full.
//!
//! **Handlers:** as `Queue`: `length`, `highwater_length`, `capacity`, `drops`,
//! `reset_counts`, `reset`.
//!
//! ## `NotifierQueue([CAPACITY])` — stores packets in a FIFO queue.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/lh`: push input; pull output 0, push output 1.
//!
//! `Queue` that reports only whether it is empty: pullers downstream wait while it is, but
//! sources upstream run on while it is full (their packets drop).
//!
//! **Handlers:** as `Queue`: `length`, `highwater_length`, `capacity`, `drops`,
//! `reset_counts`, `reset`.
//!
//! ## `FullNoteQueue([CAPACITY])` — stores packets in a FIFO queue.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h/lh`: push input; pull output 0, push output 1.
//!
//! Another name for `Queue`: it reports both whether it is empty and whether it is full.
//!
//! **Handlers:** as `Queue`: `length`, `highwater_length`, `capacity`, `drops`,
//! `reset_counts`, `reset`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, Notifier,
    NotifierKind, Packet,
};

use super::common::parse_value;
use super::frontdropqueue::{take_packets, Shrink};

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
    make: make_simple,
    names: None,
};

/// `NotifierQueue`.
pub static NotifierQueue: ElementClass = ElementClass {
    name: "NotifierQueue",
    ports: "1/1-2",
    processing: "h/lh",
    make: make_notifier,
    names: None,
};

/// `FullNoteQueue`.
pub static FullNoteQueue: ElementClass = ElementClass {
    name: "FullNoteQueue",
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
    /// Active while packets are queued, when the class reports it.
    nonempty: Option<Notifier>,
    /// Active while there is room, when the class reports it.
    nonfull: Option<Notifier>,
    /// A `capacity` was written: the configuration now reads `CAPACITY n`, as Click's
    /// reconfiguration writes it.
    reconfigured: bool,
}

/// Which of the empty and full states the class reports.
fn make_with(a: &mut Args<'_>, empty: bool, full: bool) -> Option<Box<dyn Element>> {
    let capacity = a
        .read_p::<u32>("CAPACITY")
        .map_or(DEFAULT_CAPACITY, |c| c as usize);
    // Reserved up front: enqueueing never allocates.
    Some(Box::new(QueueElement {
        q: VecDeque::with_capacity(capacity),
        capacity,
        drops: 0,
        highwater: 0,
        nonempty: empty.then(|| Notifier::new(false)),
        nonfull: full.then(|| Notifier::new(capacity > 0)),
        reconfigured: false,
    }))
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make_with(a, true, true)
}

fn make_simple(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make_with(a, false, false)
}

fn make_notifier(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make_with(a, true, false)
}

impl QueueElement {
    /// Brings the notifiers up to date with the queue's length.
    #[inline]
    fn report(&self) {
        if let Some(n) = &self.nonempty {
            n.set_active(!self.q.is_empty());
        }
        if let Some(n) = &self.nonfull {
            n.set_active(self.q.len() < self.capacity);
        }
    }
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
        self.report();
    }

    #[inline]
    fn pull(&mut self, _: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        if self.q.is_empty() {
            return None;
        }
        let n = max.min(self.q.len()).min(sluice_dataplane::BATCH_MAX);
        let batch = self.q.drain(..n).collect();
        self.report();
        Some(batch)
    }

    fn notifier(&self, kind: NotifierKind, port: usize) -> Option<Notifier> {
        match kind {
            NotifierKind::Empty if port == 0 => self.nonempty.clone(),
            NotifierKind::Full => self.nonfull.clone(),
            NotifierKind::Empty => None,
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "length" => self.q.len().to_string(),
            "highwater_length" => self.highwater.to_string(),
            "capacity" => self.capacity.to_string(),
            "drops" => self.drops.to_string(),
            "config" if self.reconfigured => format!("CAPACITY {}", self.capacity),
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
                self.reconfigured = true;
                self.q.truncate(self.capacity);
                self.q.reserve(self.capacity.saturating_sub(self.q.len()));
            }
            "reset_counts" => {
                self.drops = 0;
                self.highwater = self.q.len();
            }
            "reset" => self.q.clear(),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        self.report();
        Ok(())
    }

    fn take_state(&mut self, old: &mut dyn Element, warnings: &mut Vec<String>) {
        let Some(from) = stored_packets(old) else {
            return;
        };
        let (lost, warning) = take_packets(&mut self.q, self.capacity, Shrink::KeepHead, from);
        self.drops += lost;
        warnings.extend(warning);
        self.highwater = self.q.len();
        self.report();
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

/// The packets `e` holds, if it is one of Click's queues (`Queue` and its kin,
/// `FrontDropQueue`, `MixedQueue`): what a queue that replaces it takes.
pub(super) fn stored_packets(e: &mut dyn Element) -> Option<&mut VecDeque<Packet>> {
    if e.downcast_ref::<QueueElement>().is_some() {
        return e.downcast_mut::<QueueElement>().map(|q| &mut q.q);
    }
    if super::frontdropqueue::stored(e).is_some() {
        return super::frontdropqueue::stored(e);
    }
    super::mixedqueue::stored(e)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    /// A router with queue `q` of `class` holding five packets `1`..`5`, nobody pulling.
    fn five_queued(b: &Bench, class: &str, config: &str) -> sluice_dataplane::Router {
        let g = graph(&[("q", class, config), ("i", "Idle", "")], &[(1, 0, 0, 0)]);
        let mut r = b.router(&g).unwrap();
        r.push_to("q", 0, b.batch(&[b"1", b"2", b"3", b"4", b"5"]))
            .unwrap();
        r
    }

    /// The new configuration: queue `q` of `class` behind an `Idle`, drained by `u`.
    fn drained(class: &str, config: &str) -> sluice_config::FlatGraph {
        graph(
            &[
                ("q", class, config),
                ("u", "Unqueue", "BURST 10"),
                ("o", "Collect", ""),
                ("i", "Idle", ""),
            ],
            &[(3, 0, 0, 0), (0, 0, 1, 0), (1, 0, 2, 0)],
        )
    }

    fn payloads() -> Vec<u8> {
        collected("o").iter().map(|o| o.data[0]).collect()
    }

    #[test]
    fn hotconfig_moves_the_packets_into_the_new_queue() {
        let b = Bench::new();
        for (from, to) in [
            ("Queue", "Queue"),
            ("SimpleQueue", "NotifierQueue"),
            ("FrontDropQueue", "Queue"),
            ("Queue", "MixedQueue"),
        ] {
            let mut r = five_queued(&b, from, "10");
            let warnings = hotswap(&mut r, &drained(to, "10")).unwrap();
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(r.read_handler("q.length").unwrap(), "5", "{from} -> {to}");
            assert_eq!(r.read_handler("q.highwater_length").unwrap(), "5");
            for _ in 0..4 {
                r.run_slice();
            }
            assert_eq!(payloads(), b"12345", "{from} -> {to}");
            assert_eq!(b.pool.stats().in_use(), 0);
        }
    }

    #[test]
    fn hotconfig_into_a_smaller_queue_drops_and_counts_the_rest() {
        let b = Bench::new();
        let mut r = five_queued(&b, "Queue", "10");
        let warnings = hotswap(&mut r, &drained("Queue", "3")).unwrap();
        assert_eq!(
            warnings,
            ["q :: Queue: 2 packets lost (old length 5, new capacity 3)"]
        );
        assert_eq!(r.read_handler("q.drops").unwrap(), "2");
        for _ in 0..4 {
            r.run_slice();
        }
        // A Queue keeps the oldest, a FrontDropQueue the newest.
        assert_eq!(payloads(), b"123");
        let mut r = five_queued(&b, "Queue", "10");
        hotswap(&mut r, &drained("FrontDropQueue", "3")).unwrap();
        for _ in 0..4 {
            r.run_slice();
        }
        assert_eq!(payloads(), b"345");
        assert_eq!(b.pool.stats().in_use(), 0);
    }

    #[test]
    fn hotconfig_takes_nothing_from_an_element_that_is_no_queue() {
        let b = Bench::new();
        let g = graph(&[("q", "Counter", ""), ("i", "Idle", "")], &[(1, 0, 0, 0)]);
        let mut r = b.router(&g).unwrap();
        hotswap(&mut r, &drained("Queue", "10")).unwrap();
        assert_eq!(r.read_handler("q.length").unwrap(), "0");
    }

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

    /// A source before `class` with nothing pulling: how many packets it made in a while.
    fn made_before(class: &str) -> u64 {
        let b = Bench::new().pool(64, 2);
        let g = graph(
            &[
                ("s", "InfiniteSource", ""),
                ("q", class, "5"),
                ("i", "Idle", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(20);
        r.read_handler("s.count").unwrap().parse().unwrap()
    }

    #[test]
    fn a_full_queue_puts_the_source_before_it_to_sleep() {
        assert_eq!(
            made_before("Queue"),
            5,
            "the source waits on the full queue"
        );
        assert_eq!(made_before("FullNoteQueue"), 5);
        assert!(
            made_before("SimpleQueue") > 5,
            "no report: the source runs on"
        );
        assert!(made_before("NotifierQueue") > 5, "reports only emptiness");
    }

    #[test]
    fn room_made_by_pulls_or_capacity_wakes_the_source() {
        let b = Bench::new().pool(64, 2);
        let g = graph(
            &[
                ("s", "InfiniteSource", ""),
                ("q", "Queue", "4"),
                ("u", "Unqueue", "ACTIVE false"),
                ("o", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(10);
        assert_eq!(r.read_handler("s.scheduled").unwrap(), "false");
        r.write_handler("q.capacity", "2").unwrap();
        assert_eq!(
            r.read_handler("q.length").unwrap(),
            "2",
            "cut to the capacity"
        );
        assert_eq!(r.read_handler("q.config").unwrap(), "CAPACITY 2");
        r.write_handler("q.capacity", "6").unwrap();
        r.run_rounds(10);
        assert_eq!(
            r.read_handler("s.count").unwrap(),
            "8",
            "4, then 4 more to fill 6"
        );
        r.write_handler("u.active", "true").unwrap();
        r.run_once();
        assert_eq!(collected("o").len(), 1);
        assert_eq!(
            r.read_handler("s.count").unwrap(),
            "8",
            "the source ran first"
        );
        r.run_once();
        assert_eq!(
            r.read_handler("s.count").unwrap(),
            "9",
            "the pull made room"
        );
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
