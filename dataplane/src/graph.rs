//! The running graph's state: its nodes with their edge buffers, the worklist, and what
//! the router shares with every element (pool, clock, devices, console, random sequence,
//! tasks). An element reaches it through its [`Context`](crate::Context); the router
//! drives it. Generic over the element type, so this state knows nothing of
//! [`Element`](crate::Element) itself.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use crossbeam_utils::CachePadded;
use sluice_config::args::NameLookup;

use crate::batch::Batch;
use crate::clock::Clock;
use crate::console::Console;
use crate::device::{DeviceOpener, NetDevice};
use crate::packet::PacketPool;
use crate::random::ClickRandom;

/// A batch that had to leave its edge buffer: pushed in from outside the graph, or emitted
/// past a full output batch within one call.
pub(crate) struct Work {
    pub(crate) element: usize,
    pub(crate) port: usize,
    pub(crate) batch: Batch,
}

pub(crate) struct Node<E: ?Sized> {
    pub(crate) name: String,
    /// Its class name.
    pub(crate) class: &'static str,
    pub(crate) config: String,
    /// The configuration last written to the element's `config` handler, if any.
    pub(crate) reconfigured: RefCell<Option<String>>,
    pub(crate) element: RefCell<Box<E>>,
    /// Per output port, the packets on their way downstream: the edge buffer. A push output's
    /// batch stays here until the router hands it to the downstream element, so batches move
    /// once per hop instead of through the worklist.
    pub(crate) out: RefCell<Box<[Batch]>>,
    /// Per output port: whether the edge is on the worklist already.
    pub(crate) queued: Box<[Cell<bool>]>,
    /// Per output port: the downstream (element, input port) for push connections.
    pub(crate) downstream: Box<[Option<(usize, usize)>]>,
    /// Per input port: the upstream (element, output port) for pull connections.
    pub(crate) upstream: Box<[Option<(usize, usize)>]>,
    pub(crate) out_pull: Box<[bool]>,
    pub(crate) in_pull: Box<[bool]>,
    pub(crate) timer: Cell<Option<u64>>,
    pub(crate) has_timer: Cell<bool>,
    pub(crate) task: bool,
    /// Another element kept this one's shared state after initializing (`ICMPRewriter`
    /// reading a rewriter's table): the two are coupled, whatever each declares.
    pub(crate) referenced: bool,
    /// See [`Element::high_ports_first`](crate::Element::high_ports_first).
    pub(crate) high_ports_first: bool,
    /// See [`Element::routes_pulls`](crate::Element::routes_pulls).
    pub(crate) routes_pulls: bool,
}

/// The parts of the router that element calls reach through their context.
pub(crate) struct Core<E: ?Sized> {
    pub(crate) nodes: Vec<Node<E>>,
    /// Edges `(element, output port)` whose buffered batch awaits delivery; LIFO, so a batch
    /// runs to completion depth-first.
    pub(crate) pending: RefCell<Vec<(u32, u32)>>,
    /// Batches not held in an edge buffer (see [`Work`]), oldest first. They are delivered
    /// before any edge buffer: a batch spills only when its producer kept emitting, so on
    /// its edge it is older than what the edge buffer holds, and first-in first-out keeps
    /// every edge in order.
    pub(crate) spill: RefCell<VecDeque<Work>>,
    /// Element calls in progress (handler writes from inside an element do not drain).
    pub(crate) depth: Cell<u32>,
    pub(crate) pool: PacketPool,
    /// The configuration's text as the user wrote it (the global `config` handler).
    pub(crate) configuration: String,
    /// The configuration's address names (`AddressInfo`), for handler writes.
    pub(crate) names: Box<dyn NameLookup>,
    pub(crate) clock: Box<dyn Clock>,
    /// The clock is simulated (see [`Context::event_time`](crate::Context::event_time)).
    pub(crate) simulated: bool,
    pub(crate) now: Cell<u64>,
    pub(crate) devices: Vec<RefCell<Box<dyn NetDevice>>>,
    /// Opens further devices by name (kept for a configuration that replaces this one).
    pub(crate) opener: Option<DeviceOpener>,
    pub(crate) console: RefCell<Box<dyn Console>>,
    pub(crate) stopped: Cell<bool>,
    pub(crate) stop_requests: Cell<u32>,
    pub(crate) driver_manager: Option<usize>,
    pub(crate) timer_nodes: RefCell<Vec<usize>>,
    /// The earliest time an element asked, during the current slice, to be looked at again
    /// without a timer (see [`Context::wake_at`](crate::Context::wake_at)).
    pub(crate) wake: Cell<Option<u64>>,
    /// Packets dropped because they were sent to an unconnected port or re-entered a busy
    /// element.
    pub(crate) unrouted_drops: Cell<u64>,
    /// Whether the global `hotconfig` handler is writable ([`Router::allow_hotconfig`]).
    ///
    /// [`Router::allow_hotconfig`]: crate::Router::allow_hotconfig
    pub(crate) hotconfig: bool,
    /// The configuration last written to `hotconfig` from inside the router (a `Script`'s
    /// `write hotconfig ...`), for the platform to install between slices.
    pub(crate) hotconfig_request: RefCell<Option<String>>,
    /// The scheduler's tasks, in scheduling order.
    pub(crate) tasks: Vec<CachePadded<Task>>,
    /// Whether each pass may run the tasks several times before their packets travel on,
    /// gathering single-packet runs into batches (decided when the router is built).
    pub(crate) gather: bool,
    /// The random sequence every element draws from.
    pub(crate) random: RefCell<ClickRandom>,
}

/// One task's scheduler state, the router's per-core state: each task's sits on its own
/// cache line (`CachePadded`), since the scheduler writes its counters on every run.
pub(crate) struct Task {
    pub(crate) element: usize,
    pub(crate) done: Cell<bool>,
    /// Times the task ran.
    pub(crate) runs: Cell<u64>,
    /// Runs that moved packets.
    pub(crate) busy: Cell<u64>,
}

impl<E: ?Sized> Core<E> {
    pub(crate) fn set_timer(&self, me: usize, at: Option<u64>) {
        let node = &self.nodes[me];
        node.timer.set(at);
        if at.is_some() && !node.has_timer.replace(true) {
            self.timer_nodes.borrow_mut().push(me);
        }
    }

    pub(crate) fn request_stop(&self) {
        match self.driver_manager {
            None => self.stopped.set(true),
            Some(dm) => {
                self.stop_requests.set(self.stop_requests.get() + 1);
                self.set_timer(dm, Some(self.now.get()));
            }
        }
    }
}
