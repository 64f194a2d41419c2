//! The router: owns the elements of a flattened graph, moves batches between them, runs
//! tasks and timers, and answers handler reads and writes.
//!
//! Push is run-to-completion without recursion: an element's outputs are collected in
//! per-port batches, and the router hands each non-empty batch to the downstream element from
//! a worklist, so no element ever holds two `&mut` borrows into the graph and the stack stays
//! as shallow as one element call. Pull (`Queue -> ... -> ToDevice`) is the one place where a
//! sink asks upstream: [`Context::pull`] walks up the chain of pull connections.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell, RefMut};

use sluice_config::args::{self, Args, NameLookup};
use sluice_config::{Diagnostic, Diagnostics, FlatGraph, Processing, ProcessingCode};

use crossbeam_utils::CachePadded;

use crate::batch::{Batch, BATCH_MAX};
use crate::clock::Clock;
use crate::device::NetDevice;
use crate::element::{ConfigContext, Effects, Element, ElementClass, HandlerError, TaskStatus};
use crate::packet::PacketPool;
use crate::random::ClickRandom;

/// Where `Print`-style elements write their lines (stderr on the host, the serial console in
/// the VM).
pub trait Console {
    /// Writes one line (without its newline): messages, `Print`, `IPPrint`.
    fn write_line(&mut self, line: &str);

    /// Writes `text` as it is to the standard output, where Click's `Script` prints. A
    /// console with one stream (the VM's serial line, tests) writes it as lines.
    fn write_out(&mut self, text: &str) {
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            self.write_line(line);
        }
    }
}

/// A console that keeps every line: tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryConsole(pub alloc::rc::Rc<RefCell<Vec<String>>>);

impl Console for MemoryConsole {
    fn write_line(&mut self, line: &str) {
        self.0.borrow_mut().push(line.into());
    }
}

/// Writes lines to standard error and `Script` output to standard output, as Click does.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrConsole;

#[cfg(feature = "std")]
impl Console for StderrConsole {
    fn write_line(&mut self, line: &str) {
        std::eprintln!("{line}");
    }

    fn write_out(&mut self, text: &str) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Opens a device by name when an element asks for one that is not open yet (host mode:
/// TAP and AF_PACKET devices).
pub type DeviceOpener = Box<dyn FnMut(&str) -> Result<Box<dyn NetDevice>, String>>;

/// What the router runs on: buffers, time, devices, a console.
pub struct Environment {
    /// Buffers for every packet in the graph.
    pub pool: PacketPool,
    /// Time source.
    pub clock: Box<dyn Clock>,
    /// Devices already open (the VM's NICs, in order).
    pub devices: Vec<Box<dyn NetDevice>>,
    /// Opens further devices by name, if the platform can.
    pub device_opener: Option<DeviceOpener>,
    /// Output of `Print` and friends.
    pub console: Box<dyn Console>,
}

/// Index of a device in the router's device table.
pub type DeviceId = usize;

/// Names declared with `AddressInfo`: `NAME ADDRESS...`.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    entries: BTreeMap<String, Vec<String>>,
}

impl AddressBook {
    /// Adds the addresses of one `AddressInfo` argument (`NAME ADDR [ADDR...]`).
    pub fn add(&mut self, arg: &str) -> Result<(), String> {
        let mut words = arg.split_whitespace();
        let name = words.next().ok_or("AddressInfo: empty argument")?;
        let addrs: Vec<String> = words.map(String::from).collect();
        if addrs.is_empty() {
            return Err(format!("AddressInfo: '{name}' has no addresses"));
        }
        self.entries.insert(name.into(), addrs);
        Ok(())
    }
}

impl AddressBook {
    /// `NAME:ipnet`'s network as (address with host bits cleared, netmask).
    fn network(&self, name: &str) -> Option<(u32, u32)> {
        let text = self.lookup_plain(name, "ipprefix")?;
        let (addr, len) = text.split_once('/')?;
        let addr = u32::from(addr.parse::<core::net::Ipv4Addr>().ok()?);
        let mask = match len.parse::<u32>() {
            Ok(0) => 0,
            Ok(l) if l <= 32 => u32::MAX << (32 - l),
            Ok(_) => return None,
            Err(_) => u32::from(len.parse::<core::net::Ipv4Addr>().ok()?),
        };
        Some((addr & mask, mask))
    }

    fn lookup_plain(&self, name: &str, kind: &str) -> Option<String> {
        let addrs = self.entries.get(name)?;
        // Click writes Ethernet addresses with colons or dashes, one or two digits a part.
        let is_ether = |a: &str| {
            let parts: Vec<&str> = a.split([':', '-']).collect();
            parts.len() == 6
                && parts
                    .iter()
                    .all(|p| (1..=2).contains(&p.len()) && u8::from_str_radix(p, 16).is_ok())
        };
        let fits = |a: &&String| match kind {
            "ip" => a.parse::<core::net::Ipv4Addr>().is_ok(),
            "ip6" => a.parse::<core::net::Ipv6Addr>().is_ok(),
            "ether" => is_ether(a),
            "ipprefix" => a.contains('/') && !a.contains(':'),
            _ => true,
        };
        if let Some(a) = addrs.iter().find(fits) {
            return Some(a.clone());
        }
        // An address with a prefix also names the address itself (Click: `1.0.0.1/8`
        // serves as `1.0.0.1` where an address is wanted).
        if kind == "ip" {
            return addrs
                .iter()
                .find_map(|a| a.split_once('/').map(|(ip, _)| ip.to_string()));
        }
        None
    }
}

impl NameLookup for AddressBook {
    fn lookup(&self, name: &str, kind: &str) -> Option<String> {
        if let Some(v) = self.lookup_plain(name, kind) {
            return Some(v);
        }
        // Click's suffixes name one kind of a name's addresses: `NAME:ip`, `NAME:ipnet`
        // (the network, host bits cleared), `NAME:bcast` (its broadcast address), `NAME:gw`
        // (the network's lowest host), `NAME:ip6`, `NAME:eth`.
        let (base, suffix) = name.rsplit_once(':')?;
        let ip = |a: u32| core::net::Ipv4Addr::from(a).to_string();
        match (suffix, kind) {
            ("ip", "ip") | ("ip6", "ip6") | ("eth", "ether") => self.lookup_plain(base, kind),
            ("ipnet", "ipprefix") => self
                .network(base)
                .map(|(a, m)| format!("{}/{}", ip(a), m.count_ones())),
            ("bcast", "ip") => self.network(base).map(|(a, m)| ip(a | !m)),
            ("gw", "ip") => self.network(base).map(|(a, _)| ip(a | 1)),
            _ => None,
        }
    }
}

/// A batch that had to leave its edge buffer: pushed in from outside the graph, or emitted
/// past a full output batch within one call.
struct Work {
    element: usize,
    port: usize,
    batch: Batch,
}

struct Node {
    name: String,
    class: &'static ElementClass,
    config: String,
    element: RefCell<Box<dyn Element>>,
    /// Per output port, the packets on their way downstream: the edge buffer. A push output's
    /// batch stays here until the router hands it to the downstream element, so batches move
    /// once per hop instead of through the worklist.
    out: RefCell<Box<[Batch]>>,
    /// Per output port: whether the edge is on the worklist already.
    queued: Box<[Cell<bool>]>,
    /// Per output port: the downstream (element, input port) for push connections.
    downstream: Box<[Option<(usize, usize)>]>,
    /// Per input port: the upstream (element, output port) for pull connections.
    upstream: Box<[Option<(usize, usize)>]>,
    out_pull: Box<[bool]>,
    in_pull: Box<[bool]>,
    timer: Cell<Option<u64>>,
    has_timer: Cell<bool>,
    task: bool,
    /// Another element kept this one's shared state after initializing (`ICMPRewriter`
    /// reading a rewriter's table): the two are coupled, whatever each declares.
    referenced: bool,
    /// See [`Element::high_ports_first`].
    high_ports_first: bool,
}

/// The parts of the router that element calls reach through their context.
pub struct Core {
    nodes: Vec<Node>,
    /// Edges `(element, output port)` whose buffered batch awaits delivery; LIFO, so a batch
    /// runs to completion depth-first.
    pending: RefCell<Vec<(u32, u32)>>,
    /// Batches not held in an edge buffer (see [`Work`]), oldest first. They are delivered
    /// before any edge buffer: a batch spills only when its producer kept emitting, so on
    /// its edge it is older than what the edge buffer holds, and first-in first-out keeps
    /// every edge in order.
    spill: RefCell<VecDeque<Work>>,
    /// Element calls in progress (handler writes from inside an element do not drain).
    depth: Cell<u32>,
    pool: PacketPool,
    clock: Box<dyn Clock>,
    /// The clock is simulated (see [`Context::event_time`]).
    simulated: bool,
    now: Cell<u64>,
    devices: Vec<RefCell<Box<dyn NetDevice>>>,
    console: RefCell<Box<dyn Console>>,
    stopped: Cell<bool>,
    stop_requests: Cell<u32>,
    driver_manager: Option<usize>,
    timer_nodes: RefCell<Vec<usize>>,
    /// The earliest time an element asked, during the current slice, to be looked at again
    /// without a timer (see [`Context::wake_at`]).
    wake: Cell<Option<u64>>,
    /// Packets dropped because they were sent to an unconnected port or re-entered a busy
    /// element.
    unrouted_drops: Cell<u64>,
    /// The scheduler's tasks, in scheduling order.
    tasks: Vec<CachePadded<Task>>,
    /// Whether each pass may run the tasks several times before their packets travel on,
    /// gathering single-packet runs into batches (see [`coalescable`]).
    gather: bool,
    /// The random sequence every element draws from.
    random: RefCell<ClickRandom>,
}

/// One task's scheduler state. Each sits on its own cache line: a task's counters are
/// written on every run, and tasks are the unit that may move to separate cores.
struct Task {
    element: usize,
    done: Cell<bool>,
    /// Times the task ran.
    runs: Cell<u64>,
    /// Runs that moved packets.
    busy: Cell<u64>,
}

/// What an element sees during `push`, `pull`, `run_task` and `run_timer`.
pub struct Context<'a> {
    core: &'a Core,
    me: usize,
    out: &'a mut [Batch],
}

impl<'a> Context<'a> {
    /// Sends `packet` out of output `port`. A full output batch is handed downstream first,
    /// so an element may emit any number of packets.
    #[inline]
    pub fn output(&mut self, port: usize, packet: crate::packet::Packet) {
        // Common case: a connected port with room. One bounds check, one length check.
        if let Some(batch) = self.out.get_mut(port) {
            if !batch.is_full() {
                batch.push(packet);
                return;
            }
        }
        self.output_slow(port, packet);
    }

    /// `output` when the port is unknown or its batch is full.
    #[cold]
    #[inline(never)]
    fn output_slow(&mut self, port: usize, packet: crate::packet::Packet) {
        if port >= self.out.len() {
            self.core
                .unrouted_drops
                .set(self.core.unrouted_drops.get() + 1);
            return;
        }
        self.flush(port, true);
        if let Err(e) = self.out[port].try_push(packet) {
            // A pull output that nobody pulled: the packet has nowhere to go.
            drop(e);
            self.core
                .unrouted_drops
                .set(self.core.unrouted_drops.get() + 1);
        }
    }

    /// Sends a whole batch out of `port`.
    #[inline]
    pub fn output_batch(&mut self, port: usize, batch: Batch) {
        if let Some(o) = self.out.get_mut(port) {
            if o.is_empty() {
                *o = batch;
                return;
            }
        }
        self.output_batch_slow(port, batch);
    }

    /// `output_batch` when the port already holds packets (or does not exist). A full
    /// batch goes downstream first, as in `output`; a partial one is topped up packet by
    /// packet, so packets keep their order.
    #[cold]
    #[inline(never)]
    fn output_batch_slow(&mut self, port: usize, batch: Batch) {
        if self.out.get(port).is_some_and(|o| o.is_full()) && !batch.is_empty() {
            self.flush(port, true);
            if self.out[port].is_empty() {
                self.out[port] = batch;
                return;
            }
        }
        for p in batch {
            self.output(port, p);
        }
    }

    /// Packets waiting in the fullest output batch.
    #[inline]
    fn fill(&self) -> usize {
        self.out.iter().map(|b| b.len()).max().unwrap_or(0)
    }

    /// Takes what was sent to output `port` so far (pull processing).
    pub fn take_output(&mut self, port: usize) -> Option<Batch> {
        let b = self.out.get_mut(port)?;
        (!b.is_empty()).then(|| core::mem::take(b))
    }

    /// Queues output `port`'s edge for delivery; `spill` moves the batch out instead (the
    /// element is still emitting into a full batch).
    fn flush(&mut self, port: usize, spill: bool) {
        let node = &self.core.nodes[self.me];
        if node.out_pull.get(port).copied().unwrap_or(false) {
            return;
        }
        match node.downstream.get(port).copied().flatten() {
            Some((element, to_port)) if spill => {
                let batch = core::mem::take(&mut self.out[port]);
                self.core.spill.borrow_mut().push_back(Work {
                    element,
                    port: to_port,
                    batch,
                });
            }
            Some(_) => {
                if !node.queued[port].replace(true) {
                    self.core
                        .pending
                        .borrow_mut()
                        .push((self.me as u32, port as u32));
                }
            }
            None => {
                let n = self.out[port].len() as u64;
                self.out[port].clear();
                self.core
                    .unrouted_drops
                    .set(self.core.unrouted_drops.get() + n);
            }
        }
    }

    fn flush_all(&mut self) {
        // The worklist is LIFO: the port queued last is processed first, so queue from the
        // highest port down for port 0 to go first (or up, see `high_ports_first`).
        let n = self.out.len();
        let reverse = self.core.nodes[self.me].high_ports_first;
        for k in 0..n {
            let port = if reverse { k } else { n - 1 - k };
            if !self.out[port].is_empty() {
                if self.core.nodes[self.me].out_pull[port] {
                    let n = self.out[port].len() as u64;
                    self.out[port].clear();
                    self.core
                        .unrouted_drops
                        .set(self.core.unrouted_drops.get() + n);
                } else {
                    self.flush(port, false);
                }
            }
        }
    }

    /// Pulls up to `max` packets from the element connected to input `port`.
    pub fn pull(&mut self, port: usize, max: usize) -> Option<Batch> {
        self.core.pull(self.me, port, max)
    }

    /// Number of output ports in use.
    pub fn noutputs(&self) -> usize {
        self.out.len()
    }

    /// Number of input ports in use.
    pub fn ninputs(&self) -> usize {
        self.core.nodes[self.me].in_pull.len()
    }

    /// The time, in nanoseconds, as of the start of this scheduler step.
    #[inline]
    pub fn now(&self) -> u64 {
        self.core.now.get()
    }

    /// The next number of the router's random sequence, 0 to
    /// [`RAND_MAX`](crate::random::RAND_MAX) (Click's `click_random()`).
    #[inline]
    pub fn random(&self) -> u32 {
        self.core.random.borrow_mut().draw()
    }

    /// A number from `low` to `high` inclusive from the router's random sequence (Click's
    /// `click_random(low, high)`).
    #[inline]
    pub fn random_range(&self, low: u32, high: u32) -> u32 {
        self.core.random.borrow_mut().range(low, high)
    }

    /// Restarts the router's random sequence from `seed` (Click's `click_srandom`).
    pub fn seed_random(&self, seed: u32) {
        self.core.random.borrow_mut().seed(seed);
    }

    /// The time of one event, a packet a source makes (Click's `Timestamp::now()` there):
    /// the slice's time on a real clock, where reading it for every packet would cost more
    /// than the packet; a fresh read on simulated time, which then moves as Click's does.
    #[inline]
    pub fn event_time(&self) -> u64 {
        if self.core.simulated {
            self.now_precise()
        } else {
            self.core.now.get()
        }
    }

    /// Reads the clock afresh (Click's `Timestamp::now()`; see [`Clock::fresh_ns`]).
    pub fn now_precise(&self) -> u64 {
        let t = self.core.clock.fresh_ns();
        self.core.now.set(t);
        t
    }

    /// The packet pool, to create packets.
    #[inline]
    pub fn pool(&self) -> &PacketPool {
        &self.core.pool
    }

    /// Arms this element's timer to fire at `at_ns` (replacing any earlier setting).
    pub fn set_timer(&mut self, at_ns: u64) {
        self.core.set_timer(self.me, Some(at_ns));
    }

    /// Disarms this element's timer.
    pub fn clear_timer(&mut self) {
        self.core.set_timer(self.me, None);
    }

    /// Tells the router that this element, idle now, will have work at `at_ns` without
    /// being pushed or timed: a rate-limited source or shaper whose next packet is due then.
    /// A driver loop that sleeps while idle (the VM's) wakes by then. Holds for the current
    /// scheduler slice only: an element that is still waiting says so again on its next run.
    pub fn wake_at(&mut self, at_ns: u64) {
        let wake = &self.core.wake;
        if wake.get().is_none_or(|w| at_ns < w) {
            wake.set(Some(at_ns));
        }
    }

    /// Asks the router to stop, as Click's `STOP true` does. With a `DriverManager` the
    /// request is counted and delivered to it instead.
    pub fn request_stop(&mut self) {
        self.core.request_stop();
    }

    /// Stops the router now (the `DriverManager` uses this).
    pub fn stop_router(&mut self) {
        self.core.stopped.set(true);
    }

    /// Takes the count of stop requests made since the last call (`DriverManager`).
    pub fn take_stop_requests(&mut self) -> u32 {
        self.core.stop_requests.replace(0)
    }

    /// The device with id `id`, borrowed for the duration of the call.
    pub fn device(&self, id: DeviceId) -> Option<RefMut<'_, Box<dyn NetDevice>>> {
        self.core.devices.get(id)?.try_borrow_mut().ok()
    }

    /// Writes a line to the console.
    pub fn print(&self, text: &str) {
        self.core.console.borrow_mut().write_out(text);
    }

    /// Writes a line to the console (standard error on the host, the serial console in the
    /// VM).
    pub fn log(&self, line: &str) {
        if let Ok(mut c) = self.core.console.try_borrow_mut() {
            c.write_line(line);
        }
    }

    /// Reads another element's handler (`DriverManager`, `Script`).
    pub fn read_handler(&self, path: &str) -> Result<String, HandlerError> {
        self.core.read_handler(path)
    }

    /// Reads another element's handler with parameters (`s.run 1 2`, `t.lookup 10.0.0.1`).
    pub fn read_handler_with(&self, path: &str, params: &str) -> Result<String, HandlerError> {
        self.core.read_handler_with(path, params)
    }

    /// Writes another element's handler.
    pub fn write_handler(&self, path: &str, value: &str) -> Result<(), HandlerError> {
        self.core.write_handler(path, value)
    }

    /// This element's name.
    pub fn name(&self) -> &str {
        &self.core.nodes[self.me].name
    }
}

/// What an element sees while initializing.
pub struct InitContext<'a> {
    name: &'a str,
    ninputs: usize,
    noutputs: usize,
    in_pull: &'a [bool],
    out_pull: &'a [bool],
    devices: &'a mut Vec<RefCell<Box<dyn NetDevice>>>,
    opener: &'a mut Option<DeviceOpener>,
    pool: &'a PacketPool,
    now: u64,
    task: bool,
    timer: Option<u64>,
    driver_manager: bool,
    nodes: &'a [Node],
    random: &'a RefCell<ClickRandom>,
}

/// Another element of the configuration, as [`InitContext::element`] finds it.
pub struct ElementInfo<'a> {
    /// Its full (flattened) name.
    pub name: &'a str,
    /// Its class name.
    pub class: &'static str,
    /// Its configuration string, verbatim.
    pub config: &'a str,
    /// What it shares with elements that name it ([`Element::shared_state`]).
    pub shared: Option<alloc::rc::Rc<dyn core::any::Any>>,
}

impl InitContext<'_> {
    /// Every element of the configuration except this one, in declaration order (an
    /// element looks up names that other elements declare, as `IPRewriterPatterns` does).
    pub fn elements(&self) -> impl Iterator<Item = ElementInfo<'_>> {
        self.nodes.iter().filter_map(|n| {
            let shared = n.element.try_borrow().ok()?.shared_state();
            Some(ElementInfo {
                name: &n.name,
                class: n.class.name,
                config: &n.config,
                shared,
            })
        })
    }

    /// Finds the element that `name` refers to, as Click resolves element names written in
    /// a configuration: inside compound `a/b`, `x` means `a/b/x`, then `a/x`, then `x`.
    /// `None` when there is no such element (or `name` is this element itself).
    pub fn element(&self, name: &str) -> Option<ElementInfo<'_>> {
        let mut prefix = self.name;
        loop {
            prefix = prefix.rsplit_once('/').map_or("", |(p, _)| p);
            let node = self.nodes.iter().find(|n| {
                if prefix.is_empty() {
                    n.name == name
                } else {
                    n.name.len() == prefix.len() + 1 + name.len()
                        && n.name.starts_with(prefix)
                        && n.name.as_bytes()[prefix.len()] == b'/'
                        && n.name.ends_with(name)
                }
            });
            if let Some(n) = node {
                let shared = n.element.try_borrow().ok()?.shared_state();
                return Some(ElementInfo {
                    name: &n.name,
                    class: n.class.name,
                    config: &n.config,
                    shared,
                });
            }
            if prefix.is_empty() {
                return None;
            }
        }
    }

    /// Schedules this element's [`Element::run_task`].
    pub fn add_task(&mut self) {
        self.task = true;
    }

    /// Arms the timer for `at_ns`.
    pub fn set_timer(&mut self, at_ns: u64) {
        self.timer = Some(at_ns);
    }

    /// The time now.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The next number of the router's random sequence (see [`Context::random`]).
    pub fn random(&self) -> u32 {
        self.random.borrow_mut().draw()
    }

    /// A number from `low` to `high` inclusive (see [`Context::random_range`]).
    pub fn random_range(&self, low: u32, high: u32) -> u32 {
        self.random.borrow_mut().range(low, high)
    }

    /// Restarts the router's random sequence from `seed`.
    pub fn seed_random(&self, seed: u32) {
        self.random.borrow_mut().seed(seed);
    }

    /// This element's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Input ports in use.
    pub fn ninputs(&self) -> usize {
        self.ninputs
    }

    /// Output ports in use.
    pub fn noutputs(&self) -> usize {
        self.noutputs
    }

    /// Whether input `port` is pull (after agnostic ports are resolved).
    pub fn input_is_pull(&self, port: usize) -> bool {
        self.in_pull.get(port).copied().unwrap_or(false)
    }

    /// Whether output `port` is pull.
    pub fn output_is_pull(&self, port: usize) -> bool {
        self.out_pull.get(port).copied().unwrap_or(false)
    }

    /// The packet pool.
    pub fn pool(&self) -> &PacketPool {
        self.pool
    }

    /// Finds a device by name, by index (`0`, `1`, ...) or by Ethernet address, opening it
    /// through the platform's opener when it is not open yet.
    pub fn device(&mut self, spec: &str) -> Result<DeviceId, String> {
        let mac = <args::EtherAddr as args::FromArg>::from_arg(spec, None).ok();
        for (i, d) in self.devices.iter().enumerate() {
            let d = d.borrow();
            if d.name() == spec || mac.is_some_and(|m| m.0 == d.mac()) {
                return Ok(i);
            }
        }
        if let Ok(i) = spec.parse::<usize>() {
            if i < self.devices.len() {
                return Ok(i);
            }
        }
        match self.opener {
            Some(open) => {
                let dev = open(spec)?;
                self.devices.push(RefCell::new(dev));
                Ok(self.devices.len() - 1)
            }
            None => {
                let have: Vec<String> = self
                    .devices
                    .iter()
                    .map(|d| d.borrow().name().to_string())
                    .collect();
                Err(format!(
                    "no device '{spec}' (this platform has {})",
                    if have.is_empty() {
                        "no devices".into()
                    } else {
                        have.join(", ")
                    }
                ))
            }
        }
    }

    /// Whether a `DriverManager` receives the router's stop requests.
    pub fn has_driver_manager(&self) -> bool {
        self.driver_manager
    }
}

impl Core {
    fn set_timer(&self, me: usize, at: Option<u64>) {
        let node = &self.nodes[me];
        node.timer.set(at);
        if at.is_some() && !node.has_timer.replace(true) {
            self.timer_nodes.borrow_mut().push(me);
        }
    }

    fn request_stop(&self) {
        match self.driver_manager {
            None => self.stopped.set(true),
            Some(dm) => {
                self.stop_requests.set(self.stop_requests.get() + 1);
                self.set_timer(dm, Some(self.now.get()));
            }
        }
    }

    fn pull(&self, me: usize, port: usize, max: usize) -> Option<Batch> {
        let (up, up_port) = self.nodes[me].upstream.get(port).copied().flatten()?;
        let node = &self.nodes[up];
        let mut element = node.element.try_borrow_mut().ok()?;
        let mut out = node.out.try_borrow_mut().ok()?;
        let mut ctx = Context {
            core: self,
            me: up,
            out: &mut out,
        };
        let batch = element.pull(&mut ctx, up_port, max.min(crate::batch::BATCH_MAX));
        ctx.flush_all();
        batch
    }

    /// Calls `f` on element `i` with a fresh context, then routes what it sent.
    #[inline(always)]
    fn with_element<R>(
        &self,
        i: usize,
        f: impl FnOnce(&mut dyn Element, &mut Context<'_>) -> R,
    ) -> Option<R> {
        let node = &self.nodes[i];
        let (Ok(mut element), Ok(mut out)) =
            (node.element.try_borrow_mut(), node.out.try_borrow_mut())
        else {
            return None;
        };
        self.depth.set(self.depth.get() + 1);
        let mut ctx = Context {
            core: self,
            me: i,
            out: &mut out,
        };
        let r = f(&mut **element, &mut ctx);
        ctx.flush_all();
        self.depth.set(self.depth.get() - 1);
        Some(r)
    }

    /// Hands `batch` to input `port` of `element`.
    #[inline]
    fn deliver(&self, element: usize, port: usize, batch: Batch) {
        let n = batch.len() as u64;
        if self
            .with_element(element, |e, ctx| e.push(ctx, port, batch))
            .is_none()
        {
            // The element is mid-call (a push cycle back into a pulling element).
            self.unrouted_drops.set(self.unrouted_drops.get() + n);
        }
    }

    /// Runs the worklist until every pushed batch has reached its end.
    fn drain(&self) {
        loop {
            let work = self.spill.borrow_mut().pop_front();
            if let Some(w) = work {
                self.deliver(w.element, w.port, w.batch);
                continue;
            }
            let edge = self.pending.borrow_mut().pop();
            if let Some((from, port)) = edge {
                let (from, port) = (from as usize, port as usize);
                let node = &self.nodes[from];
                node.queued[port].set(false);
                let Some((to, to_port)) = node.downstream[port] else {
                    continue;
                };
                // Checked before the call so that an empty or busy edge costs nothing; the
                // batch itself is taken inside the call, so it is moved once, straight into
                // the argument, rather than through temporaries.
                match node.out.try_borrow() {
                    Ok(out) if !out[port].is_empty() => {}
                    // Nothing to send, or the producer is mid-call (its own flush will queue
                    // the edge again).
                    _ => continue,
                }
                if to == from {
                    // A loop back into the producer: its edge buffer is the one the call
                    // borrows, so move the batch out first.
                    let batch = node
                        .out
                        .try_borrow_mut()
                        .map_or_else(|_| Batch::new(), |mut out| core::mem::take(&mut out[port]));
                    self.deliver(to, to_port, batch);
                    continue;
                }
                let delivered = self.with_element(to, |e, ctx| {
                    let batch = match node.out.try_borrow_mut() {
                        Ok(mut out) => core::mem::take(&mut out[port]),
                        Err(_) => Batch::new(),
                    };
                    e.push(ctx, to_port, batch);
                });
                if delivered.is_none() {
                    // The element is mid-call (a push cycle back into a pulling element).
                    let n = node.out.try_borrow_mut().map_or(0, |mut out| {
                        let n = out[port].len() as u64;
                        out[port].clear();
                        n
                    });
                    self.unrouted_drops.set(self.unrouted_drops.get() + n);
                }
                continue;
            }
            break;
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn read_handler(&self, path: &str) -> Result<String, HandlerError> {
        let Some((elem, h)) = path.rsplit_once('.') else {
            return self.read_global(path);
        };
        let i = self
            .find(elem)
            .ok_or_else(|| HandlerError::NoSuchElement(elem.into()))?;
        match self.read_plain(i, h) {
            Err(HandlerError::NoSuchHandler(_)) => self
                .read_acting(i, h, "")
                .unwrap_or_else(|| Err(HandlerError::NoSuchHandler(path.into()))),
            r => r,
        }
    }

    /// A read handler with parameters: the element's own (`read_handler_with`); with no
    /// parameters, any read handler.
    fn read_handler_with(&self, path: &str, params: &str) -> Result<String, HandlerError> {
        if params.trim().is_empty() {
            return self.read_handler(path);
        }
        let takes_none = || {
            Err(HandlerError::BadValue(format!(
                "read handler '{path}' takes no parameters"
            )))
        };
        let Some((elem, h)) = path.rsplit_once('.') else {
            return match self.read_global(path) {
                Ok(_) => takes_none(),
                Err(e) => Err(e),
            };
        };
        let i = self
            .find(elem)
            .ok_or_else(|| HandlerError::NoSuchElement(elem.into()))?;
        match self.read_acting(i, h, params) {
            Some(r) => r,
            None => match self.read_plain(i, h) {
                Ok(_) => takes_none(),
                Err(HandlerError::NoSuchHandler(_)) => {
                    Err(HandlerError::NoSuchHandler(path.into()))
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Element `i`'s read handler `h` that takes parameters or acts; `None` when it has
    /// none of that name.
    fn read_acting(&self, i: usize, h: &str, params: &str) -> Option<Result<String, HandlerError>> {
        let r = match self.with_element(i, |e, ctx| e.read_handler_with(ctx, h, params)) {
            Some(r) => r?,
            None => Err(HandlerError::BadValue(format!(
                "{} is busy",
                self.nodes[i].name
            ))),
        };
        // From inside another element's call, the outermost drain delivers what was sent.
        if self.depth.get() == 0 {
            self.drain();
        }
        Some(r)
    }

    /// Element `i`'s plain read handler `h`, or one the router gives every element.
    fn read_plain(&self, i: usize, h: &str) -> Result<String, HandlerError> {
        let node = &self.nodes[i];
        let elem = node.name.as_str();
        let element = node
            .element
            .try_borrow()
            .map_err(|_| HandlerError::BadValue(format!("{elem} is busy")))?;
        if let Some(v) = element.read_handler(h) {
            return Ok(v);
        }
        Ok(match h {
            "name" => node.name.clone(),
            "class" => node.class.name.into(),
            "config" => node.config.clone(),
            "ports" => format!(
                "{} input{}\n{} output{}",
                node.in_pull.len(),
                if node.in_pull.len() == 1 { "" } else { "s" },
                node.out_pull.len(),
                if node.out_pull.len() == 1 { "" } else { "s" },
            ),
            // Click's task handler: whether the element's task is still scheduled.
            "scheduled" if node.task => self
                .tasks
                .iter()
                .find(|t| t.element == i)
                .map_or("false", |t| if t.done.get() { "false" } else { "true" })
                .into(),
            "handlers" => {
                let mut s = String::from("name\tr\nclass\tr\nconfig\tr\nports\tr\nhandlers\tr\n");
                if node.task {
                    s.push_str("scheduled\tr\n");
                }
                for hd in element.handlers() {
                    let mode = match (hd.read, hd.write) {
                        (true, true) => "rw",
                        (true, false) => "r",
                        _ => "w",
                    };
                    s.push_str(&format!("{}\t{}\n", hd.name, mode));
                }
                s
            }
            _ => return Err(HandlerError::NoSuchHandler(format!("{elem}.{h}"))),
        })
    }

    fn read_global(&self, h: &str) -> Result<String, HandlerError> {
        Ok(match h {
            "version" => env!("CARGO_PKG_VERSION").into(),
            "list" => {
                let mut s = format!("{}\n", self.nodes.len());
                for n in &self.nodes {
                    s.push_str(&n.name);
                    s.push('\n');
                }
                s
            }
            "classes" => {
                let mut names: Vec<&str> = self.nodes.iter().map(|n| n.class.name).collect();
                names.sort_unstable();
                names.dedup();
                names.join("\n") + "\n"
            }
            "pool_free" => self.pool.stats().free.to_string(),
            "pool_capacity" => self.pool.stats().capacity.to_string(),
            "pool_alloc_failures" => self.pool.stats().alloc_failures.to_string(),
            "unrouted_drops" => self.unrouted_drops.get().to_string(),
            "tasks" => {
                let mut s = String::new();
                for t in &self.tasks {
                    s.push_str(&format!(
                        "{} runs {} busy {}{}{}\n",
                        self.nodes[t.element].name,
                        t.runs.get(),
                        t.busy.get(),
                        if self.gather { " gathered" } else { "" },
                        if t.done.get() { " done" } else { "" }
                    ));
                }
                s
            }
            _ => return Err(HandlerError::NoSuchHandler(h.into())),
        })
    }

    fn write_handler(&self, path: &str, value: &str) -> Result<(), HandlerError> {
        let Some((elem, h)) = path.rsplit_once('.') else {
            return match path {
                "stop" => {
                    self.stopped.set(true);
                    Ok(())
                }
                _ => Err(HandlerError::NoSuchHandler(path.into())),
            };
        };
        let i = self
            .find(elem)
            .ok_or_else(|| HandlerError::NoSuchElement(elem.into()))?;
        let r = self
            .with_element(i, |e, ctx| e.write_handler(ctx, h, value))
            .unwrap_or_else(|| Err(HandlerError::BadValue(format!("{elem} is busy"))));
        // From inside another element's call, the outermost drain delivers what was sent.
        if self.depth.get() == 0 {
            self.drain();
        }
        r
    }
}

/// Element instances as their constructors built them, before initialization.
type Configured = Vec<Option<(&'static ElementClass, Box<dyn Element>)>>;

/// Builds every element from its arguments (address names first: every element's
/// arguments may use them), reporting every argument error of every element.
fn configure(
    graph: &FlatGraph,
    classes: &[&'static ElementClass],
) -> Result<Configured, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut book = AddressBook::default();
    for e in graph.elements.iter().filter(|e| e.class == "AddressInfo") {
        for a in args::split(&e.config, e.config_span) {
            if let Err(m) = book.add(a.text) {
                diags.push(Diagnostic::error(a.span, m));
            }
        }
    }
    let mut made: Configured = Vec::with_capacity(graph.elements.len());
    for (i, e) in graph.elements.iter().enumerate() {
        let Some(class) = classes.iter().copied().find(|c| c.name == e.class) else {
            diags.push(Diagnostic::error(
                e.span,
                format!("unknown element class '{}' (not in this build)", e.class),
            ));
            made.push(None);
            continue;
        };
        let cctx = ConfigContext {
            name: &e.name,
            ninputs: graph.ninputs(i),
            noutputs: graph.noutputs(i),
            span: e.span,
            names: &book,
        };
        let mut args = Args::new(&e.config, e.config_span).with_names(&book);
        let el = (class.make)(&mut args, &cctx);
        if let Err(errs) = args.finish() {
            for mut d in errs {
                d.message = format!("{} :: {}: {}", e.name, e.class, d.message);
                diags.push(d);
            }
        }
        made.push(el.map(|el| (class, el)));
    }
    if diags.is_empty() {
        Ok(made)
    } else {
        Err(diags)
    }
}

/// Checks every element's arguments as the router would when starting, without opening
/// files or devices: what `sluice check` and `sluice build` report beyond the graph checks,
/// so a configuration that checks clean also starts.
pub fn check_arguments(graph: &FlatGraph, classes: &[&'static ElementClass]) -> Diagnostics {
    configure(graph, classes).err().unwrap_or_default()
}

/// Task runs between two clock reads and timer checks of [`Router::run_slice`]: Click's
/// userlevel `RouterThread` runs 128 tasks per driver iteration.
pub const TASK_RUNS_PER_SLICE: u32 = 128;

/// Whether the packets of several runs of task element `task` may travel as one batch:
/// the task and every element its pushed packets reach are [`Effects::Local`] (or
/// [`Effects::OrderFree`] sinks), no other element shares their state, and each of them
/// (but an order-free sink) has exactly one input connection, so no element sees the
/// packets of two paths or two tasks interleaved. When every task passes, the router
/// gathers: each element sees the same packets in the same order as under Click's
/// packet-at-a-time scheduling, and the tasks keep their share of runs.
fn coalescable(graph: &FlatGraph, nodes: &[Node], task: usize) -> bool {
    let effects = |i: usize| {
        if nodes[i].referenced {
            return Effects::Global;
        }
        nodes[i]
            .element
            .try_borrow()
            .map_or(Effects::Global, |e| e.effects())
    };
    if effects(task) == Effects::Global || nodes[task].in_pull.iter().any(|&p| p) {
        return false;
    }
    let mut indegree = alloc::vec![0u32; nodes.len()];
    for c in &graph.connections {
        indegree[c.to] += 1;
    }
    let mut seen = alloc::vec![false; nodes.len()];
    seen[task] = true;
    let mut stack = alloc::vec![task];
    while let Some(i) = stack.pop() {
        for &(to, _) in nodes[i].downstream.iter().flatten() {
            let node = &nodes[to];
            let sink = node.downstream.iter().all(Option::is_none);
            let ok = match effects(to) {
                Effects::Global => false,
                Effects::OrderFree if sink => true,
                Effects::OrderFree | Effects::Local | Effects::Random => indegree[to] == 1,
            };
            if !ok || to == task || node.task || node.out_pull.iter().any(|&p| p) {
                return false;
            }
            if !seen[to] {
                seen[to] = true;
                stack.push(to);
            }
        }
    }
    true
}

/// A running configuration.
pub struct Router {
    core: Core,
}

/// What one scheduler round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// Some task moved packets.
    pub busy: bool,
    /// The router still has work that may produce packets (tasks, timers or devices).
    pub active: bool,
}

/// Resolves agnostic ports to push or pull, as Click does: a port takes the processing of
/// the port it connects to, and an element's agnostic ports all share one processing.
fn resolve_processing(
    graph: &FlatGraph,
    codes: &[ProcessingCode],
) -> (Vec<Vec<Processing>>, Vec<Vec<Processing>>) {
    let n = graph.elements.len();
    let mut ins: Vec<Vec<Processing>> = (0..n)
        .map(|i| (0..graph.ninputs(i)).map(|p| codes[i].input(p)).collect())
        .collect();
    let mut outs: Vec<Vec<Processing>> = (0..n)
        .map(|i| (0..graph.noutputs(i)).map(|p| codes[i].output(p)).collect())
        .collect();
    loop {
        let mut changed = false;
        for c in &graph.connections {
            let (o, i) = (outs[c.from][c.from_port], ins[c.to][c.to_port]);
            match (o, i) {
                (Processing::Agnostic, Processing::Push | Processing::Pull) => {
                    outs[c.from][c.from_port] = i;
                    changed = true;
                }
                (Processing::Push | Processing::Pull, Processing::Agnostic) => {
                    ins[c.to][c.to_port] = o;
                    changed = true;
                }
                _ => {}
            }
        }
        // An element's agnostic ports move together.
        for e in 0..n {
            let decided = ins[e]
                .iter()
                .zip(0..)
                .filter(|(_, p)| codes[e].input(*p) == Processing::Agnostic)
                .map(|(x, _)| *x)
                .chain(
                    outs[e]
                        .iter()
                        .zip(0..)
                        .filter(|(_, p)| codes[e].output(*p) == Processing::Agnostic)
                        .map(|(x, _)| *x),
                )
                .find(|x| *x != Processing::Agnostic);
            if let Some(d) = decided {
                for (p, x) in ins[e].iter_mut().enumerate() {
                    if *x == Processing::Agnostic && codes[e].input(p) == Processing::Agnostic {
                        *x = d;
                        changed = true;
                    }
                }
                for (p, x) in outs[e].iter_mut().enumerate() {
                    if *x == Processing::Agnostic && codes[e].output(p) == Processing::Agnostic {
                        *x = d;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Whatever is still undecided is push.
    for v in ins.iter_mut().chain(outs.iter_mut()) {
        for x in v.iter_mut() {
            if *x == Processing::Agnostic {
                *x = Processing::Push;
            }
        }
    }
    (ins, outs)
}

impl Router {
    /// Instantiates `graph` with classes from `classes`. Every element's argument errors and
    /// every initialization error are reported together.
    pub fn new(
        graph: &FlatGraph,
        classes: &[&'static ElementClass],
        env: Environment,
    ) -> Result<Router, Diagnostics> {
        let Environment {
            pool,
            clock,
            devices,
            mut device_opener,
            console,
        } = env;
        let made = configure(graph, classes)?;
        let n = graph.elements.len();
        let mut diags = Diagnostics::default();

        let codes: Vec<ProcessingCode> = made
            .iter()
            .map(|m| {
                ProcessingCode::parse(m.as_ref().map_or("a", |(c, _)| c.processing))
                    .unwrap_or_else(|_| ProcessingCode::parse("a").expect("literal"))
            })
            .collect();
        let (ins, outs) = resolve_processing(graph, &codes);

        let driver_manager = graph
            .elements
            .iter()
            .position(|e| e.class == "DriverManager");
        let mut devices: Vec<RefCell<Box<dyn NetDevice>>> =
            devices.into_iter().map(RefCell::new).collect();
        let now = clock.now_ns();
        let mut nodes = Vec::with_capacity(n);
        for (i, m) in made.into_iter().enumerate() {
            let (class, element) = m.expect("constructed");
            let high_ports_first = element.high_ports_first();
            let mut downstream = alloc::vec![None; outs[i].len()];
            let mut upstream = alloc::vec![None; ins[i].len()];
            for c in &graph.connections {
                if c.from == i && outs[i][c.from_port] == Processing::Push {
                    downstream[c.from_port] = Some((c.to, c.to_port));
                }
                if c.to == i && ins[i][c.to_port] == Processing::Pull {
                    upstream[c.to_port] = Some((c.from, c.from_port));
                }
            }
            let out: Box<[Batch]> = (0..outs[i].len()).map(|_| Batch::new()).collect();
            nodes.push(Node {
                name: graph.elements[i].name.clone(),
                class,
                config: graph.elements[i].config.clone(),
                element: RefCell::new(element),
                queued: (0..outs[i].len()).map(|_| Cell::new(false)).collect(),
                out: RefCell::new(out),
                downstream: downstream.into(),
                upstream: upstream.into(),
                out_pull: outs[i].iter().map(|p| *p == Processing::Pull).collect(),
                in_pull: ins[i].iter().map(|p| *p == Processing::Pull).collect(),
                timer: Cell::new(None),
                has_timer: Cell::new(false),
                task: false,
                referenced: false,
                high_ports_first,
            });
        }

        // Initialize in declaration order, the elements that ask to go first before the
        // rest. The random sequence starts from the clock, as Click seeds it afresh for every
        // router; `RandomSeed` (initialized first) fixes it.
        let random = RefCell::new(ClickRandom::new(crate::random::clock_seed(now)));
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by_key(|&i| !nodes[i].element.borrow().initialize_first());
        let mut tasks = Vec::new();
        let mut timers = Vec::new();
        for i in order {
            let node = &nodes[i];
            let mut ictx = InitContext {
                name: &node.name,
                ninputs: node.in_pull.len(),
                noutputs: node.out_pull.len(),
                in_pull: &node.in_pull,
                out_pull: &node.out_pull,
                devices: &mut devices,
                opener: &mut device_opener,
                pool: &pool,
                now,
                task: false,
                timer: None,
                driver_manager: driver_manager.is_some(),
                nodes: &nodes,
                random: &random,
            };
            // Other elements are reachable through `ictx.element` meanwhile, so borrow this
            // one through its cell.
            let result = node.element.borrow_mut().initialize(&mut ictx);
            if let Err(m) = result {
                diags.push(Diagnostic::error(
                    graph.elements[i].span,
                    format!("{} :: {}: {}", node.name, node.class.name, m),
                ));
                continue;
            }
            let (task, timer) = (ictx.task, ictx.timer);
            if task {
                tasks.push(i);
            }
            if let Some(t) = timer {
                node.timer.set(Some(t));
                node.has_timer.set(true);
                timers.push(i);
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        for &i in &tasks {
            nodes[i].task = true;
        }
        // An element whose shared state another element kept (beyond the element's own
        // handle and this probe) is coupled to that element.
        for n in &mut nodes {
            let shared = n.element.get_mut().shared_state();
            n.referenced = shared.is_some_and(|s| alloc::rc::Rc::strong_count(&s) > 2);
        }
        tasks.sort_unstable();
        timers.sort_unstable();
        let drawers = nodes
            .iter()
            .filter(|n| n.element.borrow().effects() == Effects::Random)
            .count();
        let gather = !tasks.is_empty()
            && drawers <= 1
            && tasks.iter().all(|&t| coalescable(graph, &nodes, t));
        Ok(Router {
            core: Core {
                nodes,
                pending: RefCell::new(Vec::with_capacity(64)),
                spill: RefCell::new(VecDeque::with_capacity(8)),
                depth: Cell::new(0),
                pool,
                simulated: clock.simulated(),
                clock,
                now: Cell::new(now),
                devices,
                console: RefCell::new(console),
                stopped: Cell::new(false),
                stop_requests: Cell::new(0),
                driver_manager,
                timer_nodes: RefCell::new(timers),
                wake: Cell::new(None),
                unrouted_drops: Cell::new(0),
                tasks: tasks
                    .into_iter()
                    .map(|element| {
                        CachePadded::new(Task {
                            element,
                            done: Cell::new(false),
                            runs: Cell::new(0),
                            busy: Cell::new(0),
                        })
                    })
                    .collect(),
                gather,
                random,
            },
        })
    }

    /// One scheduler round: read the clock, poll devices, run every task once (a task
    /// whose packets may be gathered runs until it fills a batch, see [`Effects`]), fire
    /// due timers.
    pub fn run_once(&mut self) -> Round {
        let core = &self.core;
        core.now.set(core.clock.now_ns());
        let busy = self.run_pass().0;
        let any_timer = self.fire_timers();
        Round {
            busy,
            active: self.active(any_timer),
        }
    }

    /// What the driver loop runs between two looks at the clock and the timers, as Click's
    /// `RouterThread` does: one clock read, then passes over the task list until
    /// [`TASK_RUNS_PER_SLICE`] task runs are spent, a pass moves nothing, or the router
    /// stops; then the due timers. Timestamps taken meanwhile are the slice's start time.
    pub fn run_slice(&mut self) -> Round {
        let core = &self.core;
        core.now.set(core.clock.now_ns());
        core.wake.set(None);
        let mut busy = false;
        let mut runs = 0;
        loop {
            let (pass_busy, pass_runs) = self.run_pass();
            busy |= pass_busy;
            runs += pass_runs;
            if !pass_busy || runs >= TASK_RUNS_PER_SLICE || self.core.stopped.get() {
                break;
            }
        }
        let any_timer = self.fire_timers();
        Round {
            busy,
            active: self.active(any_timer),
        }
    }

    /// Whether the router may still produce packets.
    fn active(&self, any_timer: bool) -> bool {
        let core = &self.core;
        !core.stopped.get()
            && (core.tasks.iter().any(|t| !t.done.get()) || any_timer || !core.devices.is_empty())
    }

    /// Polls the devices and runs every task once, each run's packets travelling all the
    /// way downstream before the next task runs. When the router may gather (see
    /// [`coalescable`]), the tasks instead run round after round, each once per round as
    /// before, until their output batches would overflow, a round moves nothing or
    /// [`BATCH_MAX`] rounds have run; then the gathered batches travel. Returns whether any
    /// task moved packets, and how many task runs there were.
    fn run_pass(&self) -> (bool, u32) {
        let core = &self.core;
        for d in &core.devices {
            if let Ok(mut d) = d.try_borrow_mut() {
                d.poll();
            }
        }
        let mut busy = false;
        let mut runs = 0;
        let rounds = if core.gather { BATCH_MAX as u32 } else { 1 };
        // A task running alone may take all of a pass's rounds in one call.
        let solo = core.gather && core.tasks.iter().filter(|t| !t.done.get()).count() == 1;
        let mut round = 0;
        while round < rounds {
            let mut round_busy = false;
            let mut full = false;
            for task in &core.tasks {
                if task.done.get() || core.stopped.get() {
                    continue;
                }
                let reps = if solo { rounds - round } else { 1 };
                let (status, n, overflow) = core
                    .with_element(task.element, |e, ctx| {
                        let mut n = 0;
                        loop {
                            let before = ctx.fill();
                            let status = e.run_task(ctx);
                            n += 1;
                            let after = ctx.fill();
                            // Would another run overflow the output batches?
                            let overflow = after + after.saturating_sub(before).max(1) > BATCH_MAX;
                            if n == reps
                                || overflow
                                || status != TaskStatus::Busy
                                || ctx.core.stopped.get()
                            {
                                return (status, n, overflow);
                            }
                        }
                    })
                    .unwrap_or((TaskStatus::Idle, 1, false));
                // Every run before the last was busy.
                let busy_runs = n - 1 + u32::from(status == TaskStatus::Busy);
                runs += n;
                round += n - 1;
                task.runs.set(task.runs.get() + u64::from(n));
                task.busy.set(task.busy.get() + u64::from(busy_runs));
                round_busy |= busy_runs > 0;
                if status == TaskStatus::Done {
                    task.done.set(true);
                }
                if core.gather {
                    full |= overflow;
                } else {
                    core.drain();
                }
            }
            round += 1;
            busy |= round_busy;
            if !round_busy || full || core.stopped.get() {
                break;
            }
        }
        if core.gather {
            core.drain();
        }
        (busy, runs)
    }

    /// Fires due timers; returns whether any timer is still armed.
    fn fire_timers(&self) -> bool {
        let core = &self.core;
        let now = core.now.get();
        let mut armed = false;
        let count = core.timer_nodes.borrow().len();
        for k in 0..count {
            let i = core.timer_nodes.borrow()[k];
            match core.nodes[i].timer.get() {
                Some(at) if at <= now => {
                    core.nodes[i].timer.set(None);
                    core.with_element(i, |e, ctx| e.run_timer(ctx));
                    core.drain();
                    armed |= core.nodes[i].timer.get().is_some();
                }
                Some(_) => armed = true,
                None => {}
            }
        }
        armed
    }

    /// When the router next has work of its own, in clock nanoseconds: its earliest armed
    /// timer or the earliest [`Context::wake_at`] of the last slice. `None`: only packets
    /// arriving from a device (or a handler call) can give it work. A driver loop calls this
    /// after a slice that moved nothing, to sleep until then.
    pub fn next_deadline(&self) -> Option<u64> {
        let core = &self.core;
        let timers = core.timer_nodes.borrow();
        let timer = timers
            .iter()
            .filter_map(|&i| core.nodes[i].timer.get())
            .min();
        match (timer, core.wake.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Prepares every device for the CPU to sleep until one interrupts (see
    /// [`NetDevice::arm_wakeup`]). `false`: some device has work already or cannot wake the
    /// CPU, so the caller must keep polling.
    pub fn arm_wakeups(&self) -> bool {
        let mut armed = true;
        for d in &self.core.devices {
            // Every device is armed, even after one said no, so that all are in the same
            // state when the caller polls again.
            armed &= d.try_borrow_mut().is_ok_and(|mut d| d.arm_wakeup());
        }
        armed
    }

    /// Runs until the configuration stops itself (or nothing is left to run). `idle` is
    /// called after each round that moved no packets, so the host can sleep briefly and the
    /// VM can pause; it may return `false` to stop.
    pub fn run(&mut self, mut idle: impl FnMut(&Router) -> bool) {
        loop {
            let round = self.run_slice();
            if !round.active {
                break;
            }
            if !round.busy && !idle(self) {
                break;
            }
        }
        self.cleanup();
    }

    /// Runs `rounds` scheduler rounds at most, stopping early if the router stops.
    pub fn run_rounds(&mut self, rounds: usize) {
        for _ in 0..rounds {
            if !self.run_once().active {
                break;
            }
        }
    }

    /// Calls every element's cleanup (flush outputs). Idempotent in effect: elements must
    /// tolerate a second call.
    pub fn cleanup(&mut self) {
        for i in 0..self.core.nodes.len() {
            self.core.with_element(i, |e, ctx| e.cleanup(ctx));
            self.core.drain();
        }
    }

    /// Whether a stop was requested and honoured.
    pub fn is_stopped(&self) -> bool {
        self.core.stopped.get()
    }

    /// Stops the router at the end of the current round.
    pub fn stop(&self) {
        self.core.stopped.set(true);
    }

    /// Reads a handler: `element.handler`, or a global one (`version`, `list`, `classes`,
    /// `pool_free`, ...).
    pub fn read_handler(&self, path: &str) -> Result<String, HandlerError> {
        self.core.read_handler(path)
    }

    /// Reads a handler with parameters (Click's `READ handler params`).
    pub fn read_handler_with(&self, path: &str, params: &str) -> Result<String, HandlerError> {
        self.core.read_handler_with(path, params)
    }

    /// Writes a handler.
    pub fn write_handler(&self, path: &str, value: &str) -> Result<(), HandlerError> {
        self.core.write_handler(path, value)
    }

    /// Element names, in declaration order.
    pub fn element_names(&self) -> impl Iterator<Item = &str> {
        self.core.nodes.iter().map(|n| n.name.as_str())
    }

    /// The packet pool.
    pub fn pool(&self) -> &PacketPool {
        &self.core.pool
    }

    /// Devices, in id order.
    pub fn devices(&self) -> impl Iterator<Item = core::cell::Ref<'_, Box<dyn NetDevice>>> {
        self.core.devices.iter().filter_map(|d| d.try_borrow().ok())
    }

    /// Packets dropped for want of a connection.
    pub fn unrouted_drops(&self) -> u64 {
        self.core.unrouted_drops.get()
    }

    /// Injects a batch into input `port` of `element` and runs it to completion (tests,
    /// benchmarks).
    pub fn push_to(
        &mut self,
        element: &str,
        port: usize,
        batch: Batch,
    ) -> Result<(), HandlerError> {
        let i = self
            .core
            .find(element)
            .ok_or_else(|| HandlerError::NoSuchElement(element.into()))?;
        self.core.spill.borrow_mut().push_back(Work {
            element: i,
            port,
            batch,
        });
        self.core.drain();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
