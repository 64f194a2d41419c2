//! Router tests with small purpose-built elements.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use sluice_config::FlatGraph;

use super::*;
use crate::clock::ManualClock;
use crate::console::MemoryConsole;
use crate::element::{ConfigContext, Handler, InitContext, TaskStatus};
use crate::packet::Packet;
use sluice_config::args::Args;

/// Emits `LIMIT` 60-byte packets in bursts, then stops the router.
struct Source {
    left: u64,
    stop: bool,
}
impl Element for Source {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }
    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if self.left == 0 {
            if self.stop {
                ctx.request_stop();
            }
            return TaskStatus::Done;
        }
        for _ in 0..self.left.min(BURST) {
            if let Some(p) = ctx.pool().alloc(60) {
                ctx.output(0, p);
                self.left -= 1;
            }
        }
        TaskStatus::Busy
    }
}
const BURST: u64 = 8;

/// Counts and passes packets; even-length to output 0, odd to output 1 if it exists.
struct Count {
    n: u64,
}
impl Element for Count {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            self.n += 1;
            let port = if ctx.noutputs() > 1 && p.len() % 2 == 1 {
                1
            } else {
                0
            };
            ctx.output(port, p);
        }
    }
    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "count").then(|| self.n.to_string())
    }
    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        _: &str,
    ) -> Result<(), HandlerError> {
        if name == "reset" {
            self.n = 0;
            Ok(())
        } else {
            Err(HandlerError::NoSuchHandler(name.into()))
        }
    }
    fn handlers(&self) -> &'static [Handler] {
        const HANDLERS: &[Handler] = &[Handler::read("count"), Handler::write("reset")];
        HANDLERS
    }
    fn take_state(&mut self, old: &mut dyn Element, _: &mut Vec<String>) {
        if let Some(old) = old.downcast_mut::<Count>() {
            self.n = old.n;
        }
    }
}

struct Fifo {
    q: VecDeque<Packet>,
}
impl Element for Fifo {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        self.q.extend(batch);
    }
    fn pull(&mut self, _: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let mut b = Batch::new();
        while b.len() < max {
            match self.q.pop_front() {
                Some(p) => b.push(p),
                None => break,
            }
        }
        (!b.is_empty()).then_some(b)
    }
    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "length").then(|| self.q.len().to_string())
    }
    fn take_state(&mut self, old: &mut dyn Element, _: &mut Vec<String>) {
        if let Some(old) = old.downcast_mut::<Fifo>() {
            self.q.append(&mut old.q);
        }
    }
}

/// A pull sink that keeps what it pulls' lengths.
struct PullSink {
    got: Rc<Cell<u64>>,
}
impl Element for PullSink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }
    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        match ctx.pull(0, 4) {
            Some(b) => {
                self.got.set(self.got.get() + b.len() as u64);
                TaskStatus::Busy
            }
            None => TaskStatus::Idle,
        }
    }
}

struct Drop_;
impl Element for Drop_ {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}

/// Fails to initialize.
struct Broken;
impl Element for Broken {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
    fn initialize(&mut self, _: &mut InitContext<'_>) -> Result<(), String> {
        Err("cannot start".into())
    }
}
fn mk_broken(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Broken))
}
static BROKEN: ElementClass = ElementClass {
    name: "Broken",
    ports: "1/0",
    processing: "a",
    make: mk_broken,
    names: None,
};

std::thread_local! {
    static PULLED: Rc<Cell<u64>> = Rc::new(Cell::new(0));
}

fn mk_source(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let left = a.read_mp::<u64>("LIMIT")?;
    let stop = a.read_k::<bool>("STOP").unwrap_or(true);
    Some(Box::new(Source { left, stop }))
}
fn mk_count(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Count { n: 0 }))
}
fn mk_fifo(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Fifo { q: VecDeque::new() }))
}
fn mk_pullsink(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(PullSink {
        got: PULLED.with(|p| p.clone()),
    }))
}
fn mk_drop(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Drop_))
}

static SOURCE: ElementClass = ElementClass {
    name: "Src",
    ports: "0/1",
    processing: "h",
    make: mk_source,
    names: None,
};
static COUNT: ElementClass = ElementClass {
    name: "Count",
    ports: "1/1-2",
    processing: "a",
    make: mk_count,
    names: None,
};
static FIFO: ElementClass = ElementClass {
    name: "Fifo",
    ports: "1/1",
    processing: "h/l",
    make: mk_fifo,
    names: None,
};
static PULLSINK: ElementClass = ElementClass {
    name: "PullSink",
    ports: "1/0",
    processing: "l",
    make: mk_pullsink,
    names: None,
};
static DROP: ElementClass = ElementClass {
    name: "Drop",
    ports: "1/0",
    processing: "a",
    make: mk_drop,
    names: None,
};
static CLASSES: &[&ElementClass] = &[&SOURCE, &COUNT, &FIFO, &PULLSINK, &DROP, &BROKEN];

fn graph(elems: &[(&str, &str, &str)], conns: &[(usize, usize, usize, usize)]) -> FlatGraph {
    FlatGraph::from_parts(elems, conns)
}

fn env(pool: &PacketPool) -> Environment {
    Environment {
        pool: pool.clone(),
        clock: Box::new(ManualClock::new(0)),
        devices: vec![],
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    }
}

#[test]
fn push_pipeline_runs_to_completion_and_returns_buffers() {
    let g = graph(
        &[
            ("src", "Src", "100"),
            ("c", "Count", ""),
            ("odd", "Count", ""),
            ("d", "Drop", ""),
            ("d2", "Drop", ""),
        ],
        &[(0, 0, 1, 0), (1, 0, 3, 0), (1, 1, 2, 0), (2, 0, 4, 0)],
    );
    let pool = PacketPool::new(16);
    let mut r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    r.run(|_| true);
    assert!(r.is_stopped());
    assert_eq!(r.read_handler("c.count").unwrap(), "100");
    assert_eq!(
        r.read_handler("odd.count").unwrap(),
        "0",
        "60-byte packets are even"
    );
    assert_eq!(pool.stats().free, 16, "every buffer is back");
    r.write_handler("c.reset", "").unwrap();
    assert_eq!(r.read_handler("c.count").unwrap(), "0");
}

#[test]
fn pull_through_agnostic_element() {
    PULLED.with(|p| p.set(0));
    // Src -> Fifo -> Count (agnostic, resolved to pull) -> PullSink
    let g = graph(
        &[
            ("src", "Src", "10, STOP false"),
            ("q", "Fifo", ""),
            ("c", "Count", ""),
            ("sink", "PullSink", ""),
        ],
        &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
    );
    let pool = PacketPool::new(64);
    let mut r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    r.run_rounds(20);
    assert_eq!(r.read_handler("c.count").unwrap(), "10");
    assert_eq!(PULLED.with(|p| p.get()), 10);
}

#[test]
fn standard_handlers() {
    let g = graph(&[("src", "Src", "1"), ("c", "Count", "")], &[(0, 0, 1, 0)]);
    let pool = PacketPool::new(4);
    let r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    assert_eq!(r.read_handler("c.class").unwrap(), "Count");
    assert_eq!(r.read_handler("src.config").unwrap(), "1");
    assert_eq!(r.read_handler("c.ports").unwrap(), "1 input\n0 outputs");
    assert!(r
        .read_handler("c.handlers")
        .unwrap()
        .contains("count\tr\nreset\tw\n"));
    assert_eq!(r.read_handler("list").unwrap(), "2\nsrc\nc\n");
    assert_eq!(
        r.read_handler("nope.count"),
        Err(HandlerError::NoSuchElement("nope".into()))
    );
    assert_eq!(
        r.read_handler("c.bogus"),
        Err(HandlerError::NoSuchHandler("c.bogus".into()))
    );
}

#[test]
fn configuration_errors_are_all_reported() {
    let g = graph(
        &[("a", "Src", "x"), ("b", "Nope", ""), ("c", "Src", "")],
        &[],
    );
    let pool = PacketPool::new(4);
    let Err(d) = Router::new(&g, CLASSES, env(&pool)) else {
        panic!("must fail")
    };
    let msgs: Vec<&str> = d.0.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs[0].starts_with("a :: Src: LIMIT: 'x' is not an integer"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains("unknown element class 'Nope'"));
    assert!(msgs[2].contains("missing mandatory LIMIT argument"));
}

#[test]
fn a_constructor_that_refuses_without_saying_why_is_still_an_error() {
    fn refuse(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
        None
    }
    static MUTE: ElementClass = ElementClass {
        name: "Mute",
        ports: "0/0",
        processing: "a",
        make: refuse,
        names: None,
    };
    let g = graph(&[("m", "Mute", ""), ("src", "Src", "1")], &[]);
    let pool = PacketPool::new(4);
    let Err(d) = Router::new(&g, &[&MUTE, &SOURCE], env(&pool)) else {
        panic!("an element that was not built must stop the router from starting")
    };
    let msgs: Vec<&str> = d.0.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs, ["m :: Mute: could not be constructed"]);
}

#[test]
fn pool_exhaustion_is_counted_not_fatal() {
    // A Fifo nobody pulls from holds every buffer; the source keeps failing to allocate.
    let g = graph(&[("src", "Src", "100"), ("q", "Fifo", "")], &[(0, 0, 1, 0)]);
    let pool = PacketPool::new(8);
    let mut r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    r.run_rounds(5);
    assert_eq!(pool.stats().free, 0);
    assert!(pool.stats().alloc_failures > 0);
    assert_eq!(r.read_handler("pool_free").unwrap(), "0");
}

#[test]
fn task_handlers_report_scheduling() {
    let g = graph(&[("src", "Src", "3"), ("c", "Count", "")], &[(0, 0, 1, 0)]);
    let pool = PacketPool::new(8);
    let mut r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    assert_eq!(r.read_handler("src.scheduled").unwrap(), "true");
    assert!(r
        .read_handler("src.handlers")
        .unwrap()
        .contains("scheduled\tr\n"));
    assert_eq!(
        r.read_handler("c.scheduled"),
        Err(HandlerError::NoSuchHandler("c.scheduled".into())),
        "an element without a task has no scheduled handler"
    );
    r.run(|_| true);
    assert_eq!(r.read_handler("src.scheduled").unwrap(), "false");
    // One busy run emits the 3 packets; the next finds LIMIT reached and stops.
    assert_eq!(r.read_handler("tasks").unwrap(), "src runs 2 busy 1 done\n");
}

/// Emits `LIMIT` packets, `BURST` (default 1) per run, each carrying its sequence number.
struct Seq {
    next: u32,
    limit: u32,
    burst: u32,
}
impl Element for Seq {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }
    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if self.next == self.limit {
            return TaskStatus::Done;
        }
        for _ in 0..self.burst.min(self.limit - self.next) {
            let Some(mut p) = ctx.pool().alloc(60) else {
                break;
            };
            p.data_mut()[..4].copy_from_slice(&self.next.to_be_bytes());
            self.next += 1;
            ctx.output(0, p);
        }
        TaskStatus::Busy
    }
    fn effects(&self) -> Effects {
        Effects::Local
    }
}

/// What a `Rec` element saw: its push calls and the sequence numbers, in order.
#[derive(Default)]
struct Seen {
    pushes: u32,
    seqs: Vec<u32>,
}

std::thread_local! {
    static SEEN: RefCell<BTreeMap<String, Seen>> = const { RefCell::new(BTreeMap::new()) };
}

fn seen(name: &str) -> (u32, Vec<u32>) {
    SEEN.with(|s| {
        let s = s.borrow();
        let e = s.get(name).expect("element saw packets");
        (e.pushes, e.seqs.clone())
    })
}

/// Records and passes packets on; `Global` unless configured `LOCAL`.
struct Rec {
    name: String,
    effects: Effects,
}
impl Element for Rec {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        SEEN.with(|s| {
            let mut s = s.borrow_mut();
            let e = s.entry(self.name.clone()).or_default();
            e.pushes += 1;
            for p in &batch {
                e.seqs
                    .push(u32::from_be_bytes(p.data()[..4].try_into().unwrap()));
            }
        });
        for p in batch {
            ctx.output(0, p);
        }
    }
    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.name = ctx.name().into();
        Ok(())
    }
    fn effects(&self) -> Effects {
        self.effects
    }
}

/// Drops what it gets; order-free.
struct Sink;
impl Element for Sink {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
    fn effects(&self) -> Effects {
        Effects::OrderFree
    }
}

fn mk_seq(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let limit = a.read_mp::<u32>("LIMIT")?;
    let burst = a.read_k::<u32>("BURST").unwrap_or(1);
    Some(Box::new(Seq {
        next: 0,
        limit,
        burst,
    }))
}
fn mk_rec(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let local = a.read_k::<bool>("LOCAL").unwrap_or(false);
    Some(Box::new(Rec {
        name: String::new(),
        effects: if local {
            Effects::Local
        } else {
            Effects::Global
        },
    }))
}
fn mk_sink(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Sink))
}

static SEQ: ElementClass = ElementClass {
    name: "Seq",
    ports: "0/1",
    processing: "h",
    make: mk_seq,
    names: None,
};
static REC: ElementClass = ElementClass {
    name: "Rec",
    ports: "1-/1",
    processing: "h",
    make: mk_rec,
    names: None,
};
static SINK: ElementClass = ElementClass {
    name: "Sink",
    ports: "1-/0",
    processing: "h",
    make: mk_sink,
    names: None,
};
static GATHER_CLASSES: &[&ElementClass] = &[&SEQ, &REC, &SINK];

/// Runs `g` until it is idle and returns its `tasks` report.
fn run_gather(g: &FlatGraph) -> String {
    SEEN.with(|s| s.borrow_mut().clear());
    let pool = PacketPool::new(256);
    let mut r = Router::new(g, GATHER_CLASSES, env(&pool)).unwrap();
    for _ in 0..1000 {
        if !r.run_slice().busy {
            break;
        }
    }
    assert_eq!(pool.stats().free, 256, "every buffer is back");
    r.read_handler("tasks").unwrap()
}

#[test]
fn single_packet_runs_are_gathered_into_batches_in_order() {
    let g = graph(
        &[
            ("src", "Seq", "100"),
            ("a", "Rec", "LOCAL true"),
            ("b", "Rec", "LOCAL true"),
            ("d", "Sink", ""),
        ],
        &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
    );
    let tasks = run_gather(&g);
    assert!(
        tasks.starts_with("src runs 101 busy 100 gathered done"),
        "{tasks}"
    );
    let want: Vec<u32> = (0..100).collect();
    for e in ["a", "b"] {
        let (pushes, seqs) = seen(e);
        assert_eq!(seqs, want, "{e} sees every packet in order");
        assert_eq!(pushes, 4, "{e}: 100 packets in batches of 32");
    }
}

#[test]
fn a_global_element_downstream_keeps_packet_at_a_time() {
    let g = graph(
        &[
            ("src", "Seq", "50"),
            ("a", "Rec", "LOCAL true"),
            ("g", "Rec", ""),
            ("d", "Sink", ""),
        ],
        &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
    );
    let tasks = run_gather(&g);
    assert!(!tasks.contains("gathered"), "{tasks}");
    for e in ["a", "g"] {
        let (pushes, seqs) = seen(e);
        assert_eq!(pushes, 50, "{e}: one push per packet, as in Click");
        assert_eq!(seqs, (0..50).collect::<Vec<_>>());
    }
}

#[test]
fn paths_that_merge_are_gathered_only_into_an_order_free_sink() {
    // Two sources into one local element: their packets would interleave differently.
    let g = graph(
        &[
            ("s1", "Seq", "10"),
            ("s2", "Seq", "10"),
            ("a", "Rec", "LOCAL true"),
            ("d", "Sink", ""),
        ],
        &[(0, 0, 2, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
    );
    let tasks = run_gather(&g);
    assert!(!tasks.contains("gathered"), "{tasks}");
    let (pushes, seqs) = seen("a");
    assert_eq!(pushes, 20);
    assert_eq!(
        &seqs[..4],
        &[0, 0, 1, 1],
        "the sources alternate packet by packet"
    );

    // Into a sink that only counts, the order does not matter.
    let g = graph(
        &[("s1", "Seq", "10"), ("s2", "Seq", "10"), ("d", "Sink", "")],
        &[(0, 0, 2, 0), (1, 0, 2, 0)],
    );
    let tasks = run_gather(&g);
    assert_eq!(tasks.matches("gathered").count(), 2, "{tasks}");
}

#[test]
fn bursts_larger_than_a_batch_arrive_in_order() {
    for burst in [33, 64, 70, 200] {
        let g = graph(
            &[
                ("src", "Seq", &format!("300, BURST {burst}")),
                ("a", "Rec", ""),
                ("b", "Rec", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        run_gather(&g);
        for e in ["a", "b"] {
            assert_eq!(
                seen(e).1,
                (0..300).collect::<Vec<_>>(),
                "BURST {burst}: {e} sees the packets in order"
            );
        }
    }
}

#[test]
fn gathered_tasks_keep_their_share_of_runs() {
    // Click runs each task once per pass; gathering must not let one source race ahead.
    let g = graph(
        &[
            ("s1", "Seq", "1000"),
            ("s2", "Seq", "1000"),
            ("a", "Rec", "LOCAL true"),
            ("b", "Rec", "LOCAL true"),
            ("d", "Sink", ""),
        ],
        &[(0, 0, 2, 0), (1, 0, 3, 0), (2, 0, 4, 0), (3, 0, 4, 0)],
    );
    SEEN.with(|s| s.borrow_mut().clear());
    let pool = PacketPool::new(256);
    let mut r = Router::new(&g, GATHER_CLASSES, env(&pool)).unwrap();
    for _ in 0..3 {
        r.run_slice();
        let (a, b) = (seen("a").1.len(), seen("b").1.len());
        assert!(a > 0 && a == b, "s1 sent {a}, s2 sent {b}");
    }
    assert!(r.read_handler("tasks").unwrap().contains("gathered"));
}

/// `PaintTee`-like: a fresh packet (first byte 0) is copied, marked 1, to output 1, which
/// is delivered first; everything also goes out of output 0.
struct Fork;
impl Element for Fork {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        for p in batch {
            if p.data()[0] == 0 {
                let mut copy = p.try_clone().unwrap();
                copy.data_mut()[0] = 1;
                ctx.output(1, copy);
            }
            ctx.output(0, p);
        }
    }
    fn high_ports_first(&self) -> bool {
        true
    }
}
fn mk_fork(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Fork))
}
static FORK: ElementClass = ElementClass {
    name: "Fork",
    ports: "1-/2",
    processing: "h",
    make: mk_fork,
    names: None,
};

#[test]
fn a_push_back_into_an_element_goes_before_what_it_still_has_to_send() {
    // fork[1] -> back -> [1]fork: the copy re-enters fork while the original still waits on
    // fork[0]. Click sends the copy's whole path, through fork[0] too, before the original.
    let g = graph(
        &[
            ("fork", "Fork", ""),
            ("back", "Rec", ""),
            ("after", "Rec", ""),
            ("d", "Sink", ""),
        ],
        &[(0, 1, 1, 0), (1, 0, 0, 1), (0, 0, 2, 0), (2, 0, 3, 0)],
    );
    SEEN.with(|s| s.borrow_mut().clear());
    let pool = PacketPool::new(16);
    let classes: &[&ElementClass] = &[&FORK, &REC, &SINK];
    let mut r = Router::new(&g, classes, env(&pool)).unwrap();
    let mut p = pool.alloc(60).unwrap();
    p.data_mut()[..4].copy_from_slice(&7u32.to_be_bytes());
    let mut batch = Batch::new();
    batch.push(p);
    r.push_to("fork", 0, batch).unwrap();
    assert_eq!(seen("back").1, [0x0100_0007]);
    assert_eq!(seen("after").1, [0x0100_0007, 7]);
    assert_eq!(
        seen("after").0,
        2,
        "the copy is sent on before the original"
    );
    assert_eq!(pool.stats().free, 16, "every buffer is back");
}

#[test]
fn hotswap_carries_state_and_a_failed_swap_changes_nothing() {
    // Room for two slices of the source's runs and the new source's packets.
    let pool = PacketPool::new(4096);
    // A source that never ends, a counter, and a queue nobody pulls from (it keeps what
    // arrives until the swap moves it).
    let old = graph(
        &[
            ("s", "Src", "1000000, STOP false"),
            ("c", "Count", ""),
            ("q", "Fifo", ""),
        ],
        &[(0, 0, 1, 0), (1, 0, 2, 0)],
    );
    let mut r = Router::new(&old, CLASSES, env(&pool)).unwrap();
    r.set_configuration("old".into());
    r.run_slice();
    let before: u64 = r.read_handler("c.count").unwrap().parse().unwrap();
    let queued: u64 = r.read_handler("q.length").unwrap().parse().unwrap();
    assert!(before > 0);
    assert_eq!(queued, before);

    // An element that fails to initialize: the old router keeps running.
    let broken = graph(
        &[("s", "Src", "5"), ("c", "Count", ""), ("b", "Broken", "")],
        &[(0, 0, 1, 0), (1, 0, 2, 0)],
    );
    let err = r.hotswap(&broken, CLASSES).unwrap_err();
    assert!(
        err.0.iter().any(|d| d.message.contains("cannot start")),
        "{err:?}"
    );
    assert_eq!(r.read_handler("config").unwrap(), "old");
    // An unknown class fails in configuration, before anything initializes.
    let unknown = graph(&[("s", "Nope", "")], &[]);
    assert!(r.hotswap(&unknown, CLASSES).is_err());
    // The old graph still counts (its clock and devices came back).
    let sliced = r.run_slice();
    assert!(sliced.busy);
    let after_failure: u64 = r.read_handler("c.count").unwrap().parse().unwrap();
    assert!(after_failure > before);
    let in_use = pool.stats().in_use();
    assert_eq!(in_use as u64, after_failure);

    // The new graph adds a pull sink behind the queue: the queued packets move over and
    // drain, the counter goes on from where it was.
    PULLED.with(|p| p.set(0));
    let new = graph(
        &[
            ("s", "Src", "10, STOP false"),
            ("c", "Count", ""),
            ("q", "Fifo", ""),
            ("sink", "PullSink", ""),
        ],
        &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
    );
    let warnings = r.hotswap(&new, CLASSES).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(r.read_handler("config").unwrap(), "old");
    assert_eq!(
        r.read_handler("c.count").unwrap(),
        after_failure.to_string()
    );
    assert_eq!(
        r.read_handler("q.length").unwrap(),
        after_failure.to_string()
    );
    for _ in 0..1000 {
        r.run_slice();
    }
    // The new source's 10 packets joined the old ones; none was lost.
    assert_eq!(
        r.read_handler("c.count").unwrap(),
        (after_failure + 10).to_string()
    );
    assert_eq!(PULLED.with(|p| p.get()), after_failure + 10);
    assert_eq!(pool.stats().in_use(), 0);
}

#[test]
fn hotconfig_writes_from_inside_wait_for_the_platform() {
    let pool = PacketPool::new(8);
    let g = graph(&[("c", "Count", "")], &[]);
    let mut r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    assert_eq!(
        r.write_handler("hotconfig", "x"),
        Err(HandlerError::NoSuchHandler("hotconfig".into()))
    );
    r.allow_hotconfig(true);
    r.write_handler("hotconfig", "a").unwrap();
    r.write_handler("hotconfig", "b").unwrap();
    assert_eq!(
        r.take_hotconfig().as_deref(),
        Some("b"),
        "the last one written"
    );
    assert_eq!(r.take_hotconfig(), None);
    // A router that replaces this one keeps the setting.
    r.hotswap(&g, CLASSES).unwrap();
    r.write_handler("hotconfig", "c").unwrap();
    assert_eq!(r.take_hotconfig().as_deref(), Some("c"));
}

#[test]
fn a_control_session_writes_hotconfig_through_live() {
    use crate::control::{Hotconfig, Live, Session};
    /// Swaps in a queue behind the counter for "queue", refuses anything else.
    struct Swap;
    impl Hotconfig for Swap {
        fn hotconfig(&self, router: &mut Router, text: &str) -> Result<(), String> {
            if text != "queue" {
                return Err("line one\nline two".into());
            }
            let g = graph(&[("c", "Count", ""), ("q", "Fifo", "")], &[(0, 0, 1, 0)]);
            router
                .hotswap(&g, CLASSES)
                .map(|_| ())
                .map_err(|_| "failed".into())
        }
    }
    let pool = PacketPool::new(8);
    let g = graph(&[("c", "Count", "")], &[]);
    let mut r = Router::new(&g, CLASSES, env(&pool)).unwrap();
    let talk = |r: &mut Router, hot: Option<&dyn Hotconfig>, input: &str| {
        let mut s = Session::new(false);
        s.feed(input.as_bytes());
        s.process(&Live::new(r, hot), false);
        String::from_utf8(core::mem::take(s.output())).unwrap()
    };
    assert_eq!(
        talk(&mut r, None, "WRITE hotconfig queue\r\n"),
        "511 No handler named 'hotconfig'\r\n"
    );
    assert_eq!(
        talk(
            &mut r,
            Some(&Swap),
            "WRITE hotconfig nonsense\r\nREAD hotconfig\r\n"
        ),
        "520-Write handler 'hotconfig' error:\r\n520-line one\r\n520 line two\r\n\
         530 Handler 'hotconfig' write-only\r\n"
    );
    assert_eq!(r.read_handler("list").unwrap(), "1\nc\n");
    assert_eq!(
        talk(
            &mut r,
            Some(&Swap),
            "WRITE hotconfig queue\r\nREAD q.length\r\n"
        ),
        "200 Write handler 'hotconfig' OK\r\n200 Read handler 'q.length' OK\r\nDATA 1\r\n0"
    );
    assert_eq!(r.read_handler("list").unwrap(), "2\nc\nq\n");
}
