//! `Discard([keywords ACTIVE, BURST])` — drops all packets.
//!
//! **Ports:** `1/0`: one input, no outputs.
//!
//! **Processing:** `a`: agnostic.
//!
//! Drops every packet it receives. In a pull context Discard runs a task that pulls up to
//! BURST packets each time it is scheduled, while ACTIVE.
//!
//! **Keywords:**
//!
//! - `ACTIVE` — boolean; pull at all (pull context only). Default true.
//! - `BURST` — integer; packets pulled per task run. Default 1, as in Click; 0 means every
//!   packet available.
//!
//! In a pull context the task sleeps while the queues upstream are empty (Click's
//! notifiers), and `scheduled` (r) tells whether it is awake.
//!
//! **Handlers:** `count` (r: packets discarded), `reset_counts` (w), `active` (rw; pull
//! context only has an effect), `scheduled` (r).
//!
//! **Example:** `... -> Queue -> Discard;`
//!
//! ## `Idle()` — never does anything.
//!
//! **Ports:** `-/-`: any number of inputs and outputs.
//!
//! **Processing:** `a`: agnostic.
//!
//! Never pushes and never answers a pull with a packet; packets pushed into it are dropped.
//! Use it to tie off ports. Tasks that pull from it know it is always empty (Click's
//! notifier) and sleep.
//!
//! **Example:** `Idle -> c :: Counter -> Idle`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, Notifier, NotifierKind, Signal, TaskStatus,
};

use super::common::{bool_str, parse_value};

/// `Discard`.
pub static Discard: ElementClass = ElementClass {
    name: "Discard",
    ports: "1/0",
    processing: "a",
    make: make_discard,
    names: None,
};

/// `Idle`.
pub static Idle: ElementClass = ElementClass {
    name: "Idle",
    ports: "-/-",
    processing: "a",
    make: make_idle,
    names: None,
};

struct DiscardElement {
    count: u64,
    active: bool,
    burst: usize,
    /// Pull context: whether the queues upstream may have packets (Click's empty
    /// notifiers).
    signal: Signal,
    /// Pull context: asleep until `signal` is active (the last run found nothing while
    /// the signal was inactive).
    asleep: bool,
    pull: bool,
}

fn make_discard(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let active = a.read_k::<bool>("ACTIVE").unwrap_or(true);
    // Click: one packet per run by default; BURST 0 drains the input.
    let burst = match a.read_k::<u32>("BURST").unwrap_or(1) {
        0 => usize::MAX,
        n => n as usize,
    };
    Some(Box::new(DiscardElement {
        count: 0,
        active,
        burst,
        signal: Signal::Busy,
        asleep: false,
        pull: false,
    }))
}

impl Element for DiscardElement {
    fn effects(&self) -> Effects {
        Effects::OrderFree
    }

    #[inline]
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        self.count += batch.len() as u64;
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        if ctx.input_is_pull(0) {
            ctx.add_task();
            self.signal = ctx.upstream_empty_signal(0);
            self.pull = true;
        }
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if !self.active || (self.asleep && !self.signal.active()) {
            return TaskStatus::Idle;
        }
        let mut left = self.burst;
        let mut any = false;
        while left > 0 {
            let Some(b) = ctx.pull(0, left) else { break };
            left = left.saturating_sub(b.len());
            self.count += b.len() as u64;
            any = true;
        }
        self.asleep = !any && !self.signal.active();
        if any {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "active" => Some(bool_str(self.active)),
            // Click's task handler: asleep on empty queues upstream is not scheduled.
            "scheduled" if self.pull => Some(bool_str(
                self.active && (!self.asleep || self.signal.active()),
            )),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset_counts" => self.count = 0,
            "active" => self.active = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::write("reset_counts"),
            Handler::read_write("active"),
        ];
        H
    }
}

struct IdleElement;

fn make_idle(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(IdleElement))
}

impl Element for IdleElement {
    fn effects(&self) -> Effects {
        Effects::OrderFree
    }

    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn pull(&mut self, _: &mut Context<'_>, _: usize, _: usize) -> Option<Batch> {
        None
    }

    fn notifier(&self, kind: NotifierKind, _: usize) -> Option<Notifier> {
        // Never has packets: the tasks pulling from it may sleep for good.
        (kind == NotifierKind::Empty).then(|| Notifier::new(false))
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn push_discard_counts() {
        let b = Bench::new().pool(8, 2);
        let g = graph(&[("i", "Idle", ""), ("d", "Discard", "")], &[(0, 0, 1, 0)]);
        let mut r = b.router(&g).unwrap();
        r.push_to("d", 0, b.batch(&[b"a", b"bc"])).unwrap();
        assert_eq!(r.read_handler("d.count").unwrap(), "2");
        assert_eq!(b.pool.stats().free, 8, "buffers returned");
        r.write_handler("d.reset_counts", "").unwrap();
        assert_eq!(r.read_handler("d.count").unwrap(), "0");
        r.run_rounds(3);
        assert_eq!(
            r.read_handler("d.count").unwrap(),
            "0",
            "Idle sends nothing"
        );
    }

    #[test]
    fn pull_discard_is_a_task() {
        let b = Bench::new();
        let g = graph(
            &[
                ("s", "InfiniteSource", "LIMIT 20, BURST 20"),
                ("q", "Queue", ""),
                ("d", "Discard", "BURST 4"),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_once();
        assert_eq!(r.read_handler("d.count").unwrap(), "4", "BURST per run");
        r.write_handler("d.active", "false").unwrap();
        r.run_rounds(3);
        assert_eq!(r.read_handler("d.count").unwrap(), "4");
        r.write_handler("d.active", "true").unwrap();
        r.run_rounds(10);
        assert_eq!(r.read_handler("d.count").unwrap(), "20");
        assert_eq!(r.read_handler("q.length").unwrap(), "0");
    }

    #[test]
    fn idle_is_a_pull_source_of_nothing() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[("i", "Idle", ""), ("q", "Queue", ""), ("d", "Discard", "")],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(3);
        assert_eq!(r.read_handler("d.count").unwrap(), "0");
        let g = graph(&[("i", "Idle", ""), ("d", "Discard", "")], &[(0, 0, 1, 0)]);
        assert!(b.router(&g).is_ok(), "Idle may also be pulled from");
    }
}
