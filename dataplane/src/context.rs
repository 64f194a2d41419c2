//! What an element sees of the router: [`Ctx`] while it handles packets, tasks and
//! timers, [`InitCtx`] while it initializes. Both are generic over the element type so
//! that this module needs nothing of [`Element`](crate::Element); elements name them
//! through the aliases [`Context`](crate::Context) and [`InitContext`](crate::InitContext),
//! and the calls that reach other elements (pulls, handler calls, element lookups) are
//! the router's.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::{RefCell, RefMut};

use sluice_config::args::{self, NameLookup};

use crate::batch::Batch;
use crate::clock::Clock;
use crate::device::NetDevice;
use crate::device::{DeviceId, DeviceOpener};
use crate::graph::{Core, Node, Work};
use crate::packet::{Packet, PacketPool};
use crate::random::ClickRandom;

/// What an element sees during `push`, `pull`, `run_task` and `run_timer` (elements
/// name it [`Context`](crate::Context)).
pub struct Ctx<'a, E: ?Sized> {
    pub(crate) core: &'a Core<E>,
    pub(crate) me: usize,
    pub(crate) out: &'a mut [Batch],
}

impl<E: ?Sized> Ctx<'_, E> {
    /// Sends `packet` out of output `port`. A full output batch is handed downstream first,
    /// so an element may emit any number of packets.
    #[inline]
    pub fn output(&mut self, port: usize, packet: Packet) {
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
    fn output_slow(&mut self, port: usize, packet: Packet) {
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

    /// Sends the packets emitted so far, on every push output from port 0 up, on their way
    /// ahead of anything this call emits later. Click pushes each packet as it is emitted;
    /// an element whose packets on different outputs must keep their interleaving (a query
    /// sent between two data packets) calls this where the order matters. Cold: each call
    /// hands its batches to the router one by one.
    pub fn send_ahead(&mut self) {
        for port in 0..self.out.len() {
            if !self.out[port].is_empty() {
                self.flush(port, true);
            }
        }
    }

    /// Packets waiting in the fullest output batch.
    #[inline]
    pub fn fill(&self) -> usize {
        self.out.iter().map(|b| b.len()).max().unwrap_or(0)
    }

    /// Whether the router stops at the end of this round (a stop request went through).
    #[inline]
    pub fn stopping(&self) -> bool {
        self.core.stopped.get()
    }

    /// Takes what was sent to output `port` so far (pull processing).
    pub fn take_output(&mut self, port: usize) -> Option<Batch> {
        let b = self.out.get_mut(port)?;
        (!b.is_empty()).then(|| core::mem::take(b))
    }

    /// Queues output `port`'s edge for delivery; `spill` moves the batch out instead (the
    /// element is still emitting into a full batch).
    pub(crate) fn flush(&mut self, port: usize, spill: bool) {
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

    pub(crate) fn flush_all(&mut self) {
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

    /// Reads the clock afresh (Click's `Timestamp::now()`; see
    /// [`Clock::fresh_ns`]).
    pub fn now_precise(&self) -> u64 {
        let t = self.core.clock.fresh_ns();
        self.core.now.set(t);
        t
    }

    /// Stands for `n` fresh reads of the clock that Click makes and sluice has no use for
    /// (a `Counter`'s rate epochs, an ARP table's entry ages): on simulated time each moves
    /// the clock on by a nanosecond, as Click's simulated `Timestamp::now()` does, so the
    /// times read later are the ones Click reads; on a real clock it does nothing.
    #[inline]
    pub fn clock_reads(&self, n: u64) {
        if self.core.simulated {
            for _ in 0..n {
                self.now_precise();
            }
        }
    }

    /// The packet pool, to create packets.
    #[inline]
    pub fn pool(&self) -> &PacketPool {
        &self.core.pool
    }

    /// The configuration's address names (`AddressInfo`), for values written to
    /// handlers.
    pub fn names(&self) -> &dyn NameLookup {
        &*self.core.names
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

    /// This element's name.
    pub fn name(&self) -> &str {
        &self.core.nodes[self.me].name
    }
}

/// What an element sees while initializing (elements name it
/// [`InitContext`](crate::InitContext)).
pub struct InitCtx<'a, E: ?Sized> {
    pub(crate) me: usize,
    pub(crate) name: &'a str,
    pub(crate) ninputs: usize,
    pub(crate) noutputs: usize,
    pub(crate) in_pull: &'a [bool],
    pub(crate) out_pull: &'a [bool],
    pub(crate) devices: &'a mut Vec<RefCell<Box<dyn NetDevice>>>,
    pub(crate) opener: &'a mut Option<DeviceOpener>,
    pub(crate) pool: &'a PacketPool,
    pub(crate) now: u64,
    pub(crate) task: bool,
    pub(crate) timer: Option<u64>,
    pub(crate) driver_manager: bool,
    pub(crate) nodes: &'a [Node<E>],
    /// The elements of the configuration this one replaces (a `hotconfig`); empty when
    /// there is none.
    pub(crate) previous: &'a [Node<E>],
    pub(crate) random: &'a RefCell<ClickRandom>,
    pub(crate) clock: &'a dyn Clock,
}

/// Another element of the configuration, as [`InitContext::element`](crate::InitContext::element)
/// finds it.
pub struct ElementInfo<'a> {
    /// Its full (flattened) name.
    pub name: &'a str,
    /// Its class name.
    pub class: &'static str,
    /// Its configuration string, verbatim.
    pub config: &'a str,
    /// What it shares with elements that name it
    /// ([`Element::shared_state`](crate::Element::shared_state)).
    pub shared: Option<alloc::rc::Rc<dyn core::any::Any>>,
}

impl<E: ?Sized> InitCtx<'_, E> {
    /// Schedules this element's [`Element::run_task`](crate::Element::run_task).
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

    /// Stands for `n` fresh reads of the clock that Click makes while it configures an
    /// element (see [`Context::clock_reads`](crate::Context::clock_reads)).
    pub fn clock_reads(&self, n: u64) {
        if self.clock.simulated() {
            for _ in 0..n {
                self.clock.fresh_ns();
            }
        }
    }

    /// The next number of the router's random sequence (see [`Context::random`](crate::Context::random)).
    pub fn random(&self) -> u32 {
        self.random.borrow_mut().draw()
    }

    /// A number from `low` to `high` inclusive (see [`Context::random_range`](crate::Context::random_range)).
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
