//! `InfiniteSource([DATA, LIMIT, BURST, ACTIVE, keywords])` — generates packets whenever scheduled.
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `a`: agnostic (a task pushes when the output is push; a pull answers each
//! pull when it is pull).
//!
//! Creates packets holding DATA and pushes BURST of them out of its output every time its
//! task runs. Stops after LIMIT packets; a negative LIMIT (the default, -1) sends forever.
//! Sends only while ACTIVE (default true). The default DATA is Click's: a 69-byte text
//! "at least 64 bytes long".
//!
//! **Keywords:**
//!
//! - `DATA` — data; as the positional argument (Click strings: `"text"`, `\<08 00>`).
//! - `LENGTH` — integer; the packets' length: DATA is truncated, or repeated to fill.
//! - `LIMIT` — integer; as the positional argument.
//! - `BURST` — integer ≥ 1; packets per task run. Default 1, as in Click.
//! - `ACTIVE` — boolean; as the positional argument.
//! - `STOP` — boolean; ask the router to stop once LIMIT packets are sent (default false).
//! - `END_CALL` — `HANDLER [VALUE]`: a write handler called once LIMIT packets are sent.
//!   Mutually exclusive with STOP.
//! - `TIMESTAMP` — boolean; set the timestamp annotation to the router clock (default true).
//!
//! **Handlers:** `count` (r), `reset` (w: count back to 0, so another LIMIT packets go out),
//! `data`, `length`, `limit`, `burst`, `active` (rw).
//!
//! **Example:** `InfiniteSource(\<0800>, LIMIT 1000, STOP true) -> Queue -> ...`
//!
//! **Differences from Click:** a task run emits BURST packets in batches of up to 32 (one
//! dispatch per batch downstream). Full-queue notification does not exist: the source keeps
//! producing and the queue drops. A packet the pool cannot supply ends the burst early and is
//! counted in the router's `pool_alloc_failures`.
//!
//! ## `RandomSource(LENGTH [, LIMIT, BURST, ACTIVE, keywords])` — generates random packets whenever scheduled.
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `a`: agnostic, as `InfiniteSource`.
//!
//! The same source as `InfiniteSource`, sending packets of LENGTH bytes (0 to 65535) filled
//! with random bytes instead of DATA: each 4 bytes are the next number of the router's random
//! sequence, low byte first, as Click fills them, so after `RandomSeed` the packets equal
//! Click's.
//!
//! **Keywords:**
//!
//! - `LIMIT`, `BURST`, `ACTIVE`, `STOP`, `END_CALL`, `TIMESTAMP` — as for `InfiniteSource`.
//!
//! **Handlers:** `count` (r), `reset` (w), `length`, `limit`, `burst`, `active` (rw).
//!
//! **Differences from Click:** those of `InfiniteSource`: batches of up to 32 per dispatch, no
//! full-queue notification, and a burst ended early when the pool is empty.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{Args, Bytes};
use sluice_dataplane::element::{next_run_overflows, run_task_repeatedly};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, Notifier, NotifierKind, Signal, TaskStatus,
};

use super::common::{bool_str, packet_bytes, parse_value, unparse_data, HandlerCall, DEFAULT_DATA};

/// The element class.
pub static InfiniteSource: ElementClass = ElementClass {
    name: "InfiniteSource",
    ports: "0/1",
    processing: "a",
    make,
    names: None,
};

/// `RandomSource`.
pub static RandomSource: ElementClass = ElementClass {
    name: "RandomSource",
    ports: "0/1",
    processing: "a",
    make: make_random,
    names: None,
};

pub(crate) struct SourceData {
    pub data: Vec<u8>,
    pub length: Option<usize>,
    /// The packet every emission copies: DATA fitted to LENGTH.
    pub packet: Vec<u8>,
}

impl SourceData {
    pub fn new(data: Vec<u8>, length: Option<usize>) -> Self {
        let packet = packet_bytes(&data, length);
        Self {
            data,
            length,
            packet,
        }
    }

    pub fn set_data(&mut self, data: Vec<u8>) {
        *self = Self::new(data, self.length);
    }

    pub fn set_length(&mut self, length: Option<usize>) {
        *self = Self::new(core::mem::take(&mut self.data), length);
    }

    /// Checks the packet fits a pool buffer.
    pub fn check(&self, ctx: &InitContext<'_>) -> Result<(), String> {
        let room = ctx.pool().buffer_size() - ctx.pool().headroom();
        if self.packet.len() > room {
            return Err(format!(
                "packet of {} bytes does not fit a {room}-byte buffer",
                self.packet.len()
            ));
        }
        Ok(())
    }

    pub fn read(&self, name: &str) -> Option<String> {
        match name {
            "data" => Some(unparse_data(&self.data)),
            "length" => Some(self.length.map_or("-1".into(), |l| l.to_string())),
            _ => None,
        }
    }

    /// Handles `data` and `length` writes; `Ok(false)` for any other handler.
    pub fn write(&mut self, name: &str, value: &str) -> Result<bool, HandlerError> {
        match name {
            "data" => self.set_data(parse_value::<Bytes>(name, value)?.0),
            "length" => {
                let l: i64 = parse_value(name, value)?;
                self.set_length(usize::try_from(l).ok());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// One packet, stamped with `now` when `timestamp` is set.
    #[inline]
    pub fn emit(&self, ctx: &Context<'_>, timestamp: bool) -> Option<sluice_dataplane::Packet> {
        let mut p = ctx.pool().alloc_from(&self.packet)?;
        if timestamp {
            p.anno_mut().timestamp_ns = ctx.event_time();
        }
        Some(p)
    }
}

struct Source {
    data: SourceData,
    /// `RandomSource`: packets of `data.length` random bytes instead of DATA.
    random: bool,
    limit: i64,
    burst: usize,
    active: bool,
    stop: bool,
    end_call: Option<HandlerCall>,
    timestamp: bool,
    count: u64,
    /// The end of LIMIT was already signalled (STOP or END_CALL), until `reset`.
    ended: bool,
    /// Whether the queues downstream have room (Click's full notifiers): the task skips
    /// its runs while they have none.
    nonfull: Signal,
    /// Pull context: whether a pull may get a packet (Click's empty notifier), lowered at
    /// LIMIT or while inactive.
    nonempty: Notifier,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let data = a
        .read_p::<Bytes>("DATA")
        .map_or_else(|| DEFAULT_DATA.to_vec(), |b| b.0);
    let length = a.read_k::<i64>("LENGTH");
    let data = SourceData::new(data, length.and_then(|l| usize::try_from(l).ok()));
    make_source(a, data, false)
}

fn make_random(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let length = a.read_mp::<i64>("LENGTH")?;
    if !(0..65536).contains(&length) {
        a.error_whole(format!("bad length {length}"));
        return None;
    }
    make_source(a, SourceData::new(Vec::new(), Some(length as usize)), true)
}

/// The arguments both sources share after their first: `LIMIT`, `BURST`, `ACTIVE` and the
/// keywords.
fn make_source(a: &mut Args<'_>, data: SourceData, random: bool) -> Option<Box<dyn Element>> {
    let limit = a.read_p::<i64>("LIMIT").unwrap_or(-1);
    let burst = a.read_p::<i64>("BURST").unwrap_or(1);
    let active = a.read_p::<bool>("ACTIVE").unwrap_or(true);
    let stop = a.read_k::<bool>("STOP").unwrap_or(false);
    let end_call = a.read_k::<HandlerCall>("END_CALL");
    let timestamp = a.read_k::<bool>("TIMESTAMP").unwrap_or(true);
    if burst < 1 {
        a.error_whole("BURST must be >= 1");
        return None;
    }
    if stop && end_call.is_some() {
        a.error_whole("END_CALL and STOP are mutually exclusive");
        return None;
    }
    Some(Box::new(Source {
        data,
        random,
        limit,
        burst: burst as usize,
        active,
        stop,
        end_call,
        timestamp,
        count: 0,
        ended: false,
        nonfull: Signal::Busy,
        nonempty: Notifier::new(true),
    }))
}

impl Source {
    /// One packet: DATA, or LENGTH random bytes for `RandomSource`.
    #[inline]
    fn emit(&self, ctx: &Context<'_>) -> Option<sluice_dataplane::Packet> {
        if !self.random {
            return self.data.emit(ctx, self.timestamp);
        }
        let len = self.data.length.unwrap_or(0);
        let mut p = ctx.pool().alloc(len)?;
        for chunk in p.data_mut().chunks_mut(4) {
            let r = ctx.random().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        if self.timestamp {
            p.anno_mut().timestamp_ns = ctx.event_time();
        }
        Some(p)
    }

    /// Packets still allowed by LIMIT, capped at `want`.
    fn allowed(&self, want: usize) -> usize {
        match u64::try_from(self.limit) {
            Ok(limit) => want.min(limit.saturating_sub(self.count) as usize),
            Err(_) => want,
        }
    }

    fn at_limit(&self) -> bool {
        u64::try_from(self.limit).is_ok_and(|l| self.count >= l)
    }

    fn signal_end(&mut self, ctx: &mut Context<'_>) {
        if self.ended || !self.at_limit() {
            return;
        }
        self.ended = true;
        if self.stop {
            ctx.request_stop();
        } else if let Some(h) = &self.end_call {
            let _ = h.call(ctx);
        }
    }
}

impl Element for Source {
    fn effects(&self) -> Effects {
        if self.end_call.is_some() {
            Effects::Global
        } else if self.random {
            Effects::Random
        } else {
            Effects::Local
        }
    }

    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        if !self.active || self.at_limit() {
            self.nonempty.set_active(false);
            self.signal_end(ctx);
            return None;
        }
        let n = self.allowed(max);
        let mut batch = Batch::new();
        for _ in 0..n {
            match self.emit(ctx) {
                Some(p) => batch.push(p),
                None => break,
            }
        }
        self.count += batch.len() as u64;
        if batch.is_empty() {
            self.signal_end(ctx);
            return None;
        }
        Some(batch)
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.data.check(ctx)?;
        if !ctx.output_is_pull(0) {
            ctx.add_task();
            self.nonfull = ctx.downstream_full_signal(0);
        }
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if !self.active || !self.nonfull.active() {
            return TaskStatus::Idle;
        }
        let n = self.allowed(self.burst);
        if n == 0 {
            self.signal_end(ctx);
            return TaskStatus::Idle;
        }
        for _ in 0..n {
            let Some(p) = self.emit(ctx) else {
                // The pool ran dry; try again next time.
                break;
            };
            self.count += 1;
            ctx.output(0, p);
        }
        TaskStatus::Busy
    }

    /// The scheduler's repeated runs as one loop: the same packets, counts and stops as
    /// `run_task` called run after run, without a call per run.
    fn run_task_runs(&mut self, ctx: &mut Context<'_>, runs: u32) -> (TaskStatus, u32, bool) {
        if self.random || !self.active {
            return run_task_repeatedly(self, ctx, runs);
        }
        let mut n = 0;
        let mut before = ctx.fill();
        loop {
            if !self.nonfull.active() {
                return (TaskStatus::Idle, n + 1, false);
            }
            let want = self.allowed(self.burst);
            if want == 0 {
                self.signal_end(ctx);
                return (TaskStatus::Idle, n + 1, false);
            }
            let mut sent = 0;
            while sent < want {
                let Some(p) = self.data.emit(ctx, self.timestamp) else {
                    break;
                };
                ctx.output(0, p);
                sent += 1;
            }
            self.count += sent as u64;
            n += 1;
            let after = ctx.fill();
            let overflow = next_run_overflows(before, after);
            if n >= runs || overflow || ctx.stopping() {
                return (TaskStatus::Busy, n, overflow);
            }
            before = after;
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "limit" => Some(self.limit.to_string()),
            "burst" => Some(self.burst.to_string()),
            "active" => Some(bool_str(self.active)),
            // Click's task handler: a source asleep on full queues is not scheduled.
            "scheduled" => Some(bool_str(
                self.active && self.nonfull.active() && !self.at_limit(),
            )),
            "data" if self.random => None,
            _ => self.data.read(name),
        }
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset" => {
                self.count = 0;
                self.ended = false;
            }
            "limit" => {
                self.limit = parse_value(name, value)?;
                self.ended = false;
            }
            "burst" => {
                let b: i64 = parse_value(name, value)?;
                if b < 1 {
                    return Err(HandlerError::BadValue("burst: must be >= 1".into()));
                }
                self.burst = b as usize;
            }
            "active" => self.active = parse_value(name, value)?,
            "data" if self.random => return Err(HandlerError::NoSuchHandler(name.into())),
            "length" if self.random => {
                let l: i64 = parse_value(name, value)?;
                let room = ctx.pool().buffer_size() - ctx.pool().headroom();
                if !(0..65536).contains(&l) || l as usize > room {
                    return Err(HandlerError::BadValue(format!(
                        "bad length {l} (at most {room}, a pool buffer)"
                    )));
                }
                self.data.length = Some(l as usize);
            }
            _ => {
                if !self.data.write(name, value)? {
                    return Err(HandlerError::NoSuchHandler(name.into()));
                }
            }
        }
        if self.active && !self.at_limit() {
            self.nonempty.set_active(true);
        }
        Ok(())
    }

    fn notifier(&self, kind: NotifierKind, _: usize) -> Option<Notifier> {
        // An upstream search reaches a source only through a pull output.
        (kind == NotifierKind::Empty).then(|| self.nonempty.clone())
    }

    fn handlers(&self) -> &'static [Handler] {
        const RANDOM: &[Handler] = &[
            Handler::read("count"),
            Handler::write("reset"),
            Handler::read_write("length"),
            Handler::read_write("limit"),
            Handler::read_write("burst"),
            Handler::read_write("active"),
        ];
        if self.random {
            return RANDOM;
        }
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::write("reset"),
            Handler::read_write("data"),
            Handler::read_write("length"),
            Handler::read_write("limit"),
            Handler::read_write("burst"),
            Handler::read_write("active"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn the_repeated_run_loop_schedules_as_run_after_run_does() {
        // InfiniteSource runs its own loop of runs; RandomSource runs the scheduler's
        // default one. Both must give the same runs, busy runs, packets and stop.
        for (limit, burst) in [(100, 1), (77, 3), (1000, 40), (5, 1)] {
            let tasks = |class: &str, data: &str| {
                let b = Bench::new().pool(256, 2);
                let config = format!("{data}, LIMIT {limit}, BURST {burst}, STOP true");
                let g = graph(
                    &[
                        ("s", class, config.as_str()),
                        ("c", "Counter", ""),
                        ("d", "Discard", ""),
                    ],
                    &[(0, 0, 1, 0), (1, 0, 2, 0)],
                );
                let mut r = b.router(&g).unwrap();
                r.run(|_| true);
                assert!(r.is_stopped());
                assert_eq!(r.read_handler("c.count").unwrap(), limit.to_string());
                r.read_handler("tasks").unwrap()
            };
            let own = tasks("InfiniteSource", "LENGTH 60");
            assert!(own.contains("gathered"), "{own}");
            assert_eq!(
                own,
                tasks("RandomSource", "60"),
                "LIMIT {limit} BURST {burst}"
            );
        }
    }

    #[test]
    fn default_packet_and_limit() {
        let b = Bench::new();
        let g = graph(
            &[
                ("s", "InfiniteSource", "LIMIT 5, STOP true"),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run(|_| true);
        assert!(r.is_stopped());
        let got = collected("c");
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].data, super::DEFAULT_DATA);
        assert_eq!(got[0].anno.timestamp_ns, 1_000_000_000);
        assert_eq!(r.read_handler("s.count").unwrap(), "5");
    }

    #[test]
    fn burst_data_length_and_handlers() {
        let b = Bench::new();
        let g = graph(
            &[
                (
                    "s",
                    "InfiniteSource",
                    "\\<0a0b0c>, 7, 3, LENGTH 5, TIMESTAMP false",
                ),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_once();
        let got = collected("c");
        assert_eq!(got.len(), 3, "one run emits BURST packets");
        assert_eq!(got[0].data, [10, 11, 12, 10, 11]);
        assert_eq!(got[0].anno.timestamp_ns, 0);
        drop(got);
        r.run_rounds(10);
        assert_eq!(collected("c").len(), 4, "then stops at LIMIT");
        assert!(!r.is_stopped(), "STOP defaults to false");
        r.write_handler("s.reset", "").unwrap();
        r.write_handler("s.burst", "10").unwrap();
        r.write_handler("s.data", "\"xy\"").unwrap();
        r.write_handler("s.length", "-1").unwrap();
        r.run_once();
        let got = collected_bytes("c");
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], b"xy");
        assert_eq!(r.read_handler("s.data").unwrap(), "\"xy\"");
        r.write_handler("s.active", "false").unwrap();
        r.write_handler("s.reset", "").unwrap();
        r.run_rounds(3);
        assert!(collected("c").is_empty());
        assert_eq!(r.read_handler("s.active").unwrap(), "false");
        assert!(r.write_handler("s.burst", "0").is_err());
    }

    #[test]
    fn end_call_fires_once() {
        let b = Bench::new();
        let g = graph(
            &[
                ("s", "InfiniteSource", "LIMIT 2, END_CALL t.active false"),
                ("t", "InfiniteSource", "LIMIT 100"),
                ("c", "Collect", ""),
                ("d", "Collect", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(5);
        assert_eq!(r.read_handler("t.active").unwrap(), "false");
        assert_eq!(collected("c").len(), 2);
        let t = collected("d").len();
        assert!((2..=3).contains(&t), "{t}");
    }

    #[test]
    fn bad_arguments() {
        assert!(config_error(&graph(&[("s", "InfiniteSource", "BURST 0")], &[])).contains("BURST"));
        assert!(config_error(&graph(
            &[("s", "InfiniteSource", "STOP true, END_CALL x.y")],
            &[]
        ))
        .contains("exclusive"));
        assert!(config_error(&graph(
            &[("s", "InfiniteSource", "LENGTH 5000"), ("c", "Collect", "")],
            &[(0, 0, 1, 0)]
        ))
        .contains("does not fit"));
    }
}
