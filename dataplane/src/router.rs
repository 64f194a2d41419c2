//! The router: owns the elements of a flattened graph, moves batches between them, runs
//! tasks and timers, and answers handler reads and writes.
//!
//! Push is run-to-completion without recursion: an element's outputs are collected in
//! per-port batches, and the router hands each non-empty batch to the downstream element from
//! a worklist, so no element ever holds two `&mut` borrows into the graph and the stack stays
//! as shallow as one element call. Pull (`Queue -> ... -> ToDevice`) is the one place where a
//! sink asks upstream: [`Context::pull`] walks up the chain of pull connections.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use sluice_config::{Diagnostic, Diagnostics, FlatGraph, Processing, ProcessingCode};

use crossbeam_utils::CachePadded;

use crate::batch::Batch;
use crate::clock::Clock;
use crate::console::Console;
use crate::context::InitCtx;
use crate::device::{DeviceOpener, NetDevice};
use crate::element::{Context, Effects, Element, ElementClass, HandlerError};
use crate::graph::{Task, Work};
use crate::packet::PacketPool;
use crate::random::ClickRandom;

/// The running graph of boxed elements.
type Core = crate::graph::Core<dyn Element>;
/// One element of the running graph.
type Node = crate::graph::Node<dyn Element>;

mod configure;
mod context;
mod handlers;
mod hotswap;
mod schedule;

use configure::configure;
pub use configure::{check_arguments, prepare};
use schedule::coalescable;
pub use schedule::TASK_RUNS_PER_SLICE;

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

impl Core {
    fn pull(&self, me: usize, port: usize, max: usize) -> Option<Batch> {
        let (mut up, mut up_port) = self.nodes[me].upstream.get(port).copied().flatten()?;
        // Pulls that elements hand on untouched go straight to the element that answers
        // them; a ring of such elements answers nothing.
        let mut hops = 0;
        while self.nodes[up].routes_pulls {
            let node = &self.nodes[up];
            let Some(input) = node.element.try_borrow().ok()?.pull_route(up_port) else {
                break;
            };
            hops += 1;
            if hops > self.nodes.len() {
                return None;
            }
            (up, up_port) = node.upstream.get(input).copied().flatten()?;
        }
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

    /// Hands `batch` to input `port` of `element`: a spilled batch, or one pushed in from
    /// outside the graph.
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

    /// `with_element` for a push into element `i` along an edge of the worklist.
    ///
    /// The element may still have packets of an earlier call waiting on its output edges:
    /// it is pushed again from downstream of its own outputs (`PaintTee`'s copy reaching it
    /// again through `ICMPError` and the routing table). Click would not have pushed those
    /// packets yet (the earlier call is still sending its first output), so what this call
    /// sends travels on first: the waiting packets are set aside, this call's output is
    /// delivered to the end, and the waiting packets go back on their edges after it. (A
    /// spilled batch is older than what waits on its edge and never takes this path.)
    #[inline(always)]
    fn with_pushed_element(
        &self,
        i: usize,
        f: impl FnOnce(&mut dyn Element, &mut Context<'_>),
    ) -> Option<()> {
        let waiting = self.depth.get() == 0 && self.nodes[i].queued.iter().any(Cell::get);
        if !waiting {
            return self.with_element(i, f);
        }
        let held = self.hold_back(i);
        let r = self.with_element(i, f);
        if let Some(held) = held {
            self.release_held(i, held);
        }
        r
    }

    /// Takes the packets waiting on element `i`'s push output edges out of their edge
    /// buffers, with the worklist's depth to drain back to before they return.
    #[cold]
    #[inline(never)]
    fn hold_back(&self, i: usize) -> Option<(usize, Vec<(usize, Batch)>)> {
        let node = &self.nodes[i];
        let mut out = node.out.try_borrow_mut().ok()?;
        let mark = self.pending.borrow().len();
        let mut held = Vec::new();
        for (port, batch) in out.iter_mut().enumerate() {
            if node.queued[port].get() && !node.out_pull[port] && !batch.is_empty() {
                // The edge keeps its place on the worklist; the flag lets this call's
                // output queue the edge again, above it.
                node.queued[port].set(false);
                held.push((port, core::mem::take(batch)));
            }
        }
        (!held.is_empty()).then_some((mark, held))
    }

    /// Delivers everything queued since [`hold_back`](Self::hold_back), then puts the
    /// packets it took back on their edges, which are still on the worklist below.
    #[cold]
    #[inline(never)]
    fn release_held(&self, i: usize, (mark, held): (usize, Vec<(usize, Batch)>)) {
        self.drain_to(mark);
        let node = &self.nodes[i];
        let Ok(mut out) = node.out.try_borrow_mut() else {
            return;
        };
        for (port, batch) in held {
            // Empty: every edge queued above the mark has been delivered.
            let edge = &mut out[port];
            for p in batch {
                if let Err(e) = edge.try_push(p) {
                    drop(e);
                    self.unrouted_drops.set(self.unrouted_drops.get() + 1);
                }
            }
            node.queued[port].set(true);
        }
    }

    /// Runs the worklist until every pushed batch has reached its end.
    fn drain(&self) {
        self.drain_to(0);
    }

    /// Runs the worklist until the spilled batches are delivered and no more than `mark`
    /// edges remain queued.
    fn drain_to(&self, mark: usize) {
        loop {
            let work = self.spill.borrow_mut().pop_front();
            if let Some(w) = work {
                self.deliver(w.element, w.port, w.batch);
                continue;
            }
            let edge = {
                let mut pending = self.pending.borrow_mut();
                if pending.len() > mark {
                    pending.pop()
                } else {
                    None
                }
            };
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
                    let n = batch.len() as u64;
                    if self
                        .with_pushed_element(to, |e, ctx| e.push(ctx, to_port, batch))
                        .is_none()
                    {
                        self.unrouted_drops.set(self.unrouted_drops.get() + n);
                    }
                    continue;
                }
                let delivered = self.with_pushed_element(to, |e, ctx| {
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
}

/// What a router runs on once it is built: [`Environment`], with its devices in cells.
struct Parts {
    pool: PacketPool,
    clock: Box<dyn Clock>,
    devices: Vec<RefCell<Box<dyn NetDevice>>>,
    opener: Option<DeviceOpener>,
    console: Box<dyn Console>,
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

impl Router {
    /// Instantiates `graph` with classes from `classes`. Every element's argument errors and
    /// every initialization error are reported together.
    pub fn new(
        graph: &FlatGraph,
        classes: &[&'static ElementClass],
        env: Environment,
    ) -> Result<Router, Diagnostics> {
        Self::new_prepared(graph, classes, env, &[])
    }

    /// As [`Router::new`], handing element `i`'s constructor `prepared[i]` (what
    /// [`prepare`] collected on the host) in [`ConfigContext::prepared`].
    ///
    /// [`ConfigContext::prepared`]: crate::ConfigContext::prepared
    pub fn new_prepared(
        graph: &FlatGraph,
        classes: &[&'static ElementClass],
        env: Environment,
        prepared: &[Option<&[u8]>],
    ) -> Result<Router, Diagnostics> {
        let Environment {
            pool,
            clock,
            devices,
            device_opener,
            console,
        } = env;
        let parts = Parts {
            pool,
            clock,
            devices: devices.into_iter().map(RefCell::new).collect(),
            opener: device_opener,
            console,
        };
        Self::build(graph, classes, parts, prepared, &[]).map_err(|(d, _)| d)
    }

    /// Builds and initializes a router over `parts`, to replace the router whose elements
    /// are `previous` (none for a first configuration); on failure, hands `parts` back.
    fn build(
        graph: &FlatGraph,
        classes: &[&'static ElementClass],
        parts: Parts,
        prepared: &[Option<&[u8]>],
        previous: &[Node],
    ) -> Result<Router, (Diagnostics, Parts)> {
        let (made, names) =
            match configure(graph, classes, configure::UnknownClass::Report, prepared) {
                Ok(m) => m,
                Err(d) => return Err((d, parts)),
            };
        let Parts {
            pool,
            clock,
            mut devices,
            opener: mut device_opener,
            console,
        } = parts;
        let n = graph.elements.len();
        let mut diags = Diagnostics::default();

        let codes: Vec<ProcessingCode> = made
            .iter()
            .map(|(c, _)| {
                ProcessingCode::parse(c.processing)
                    .unwrap_or_else(|_| ProcessingCode::parse("a").expect("literal"))
            })
            .collect();
        let ports = sluice_config::resolve_processing(graph, &codes);
        let (ins, outs) = (ports.inputs, ports.outputs);
        // Each push output's downstream input and each pull input's upstream output, in one
        // pass over the connections.
        let mut downstream: Vec<Vec<Option<(usize, usize)>>> =
            outs.iter().map(|o| alloc::vec![None; o.len()]).collect();
        let mut upstream: Vec<Vec<Option<(usize, usize)>>> =
            ins.iter().map(|i| alloc::vec![None; i.len()]).collect();
        for c in &graph.connections {
            if outs[c.from][c.from_port] == Processing::Push {
                downstream[c.from][c.from_port] = Some((c.to, c.to_port));
            }
            if ins[c.to][c.to_port] == Processing::Pull {
                upstream[c.to][c.to_port] = Some((c.from, c.from_port));
            }
        }
        let mut downstream = downstream.into_iter();
        let mut upstream = upstream.into_iter();

        // The driver script takes the router's stop requests; Click allows one.
        let mut drivers = made.iter().enumerate().filter(|(_, (_, e))| e.is_driver());
        let driver_manager = drivers.next().map(|(i, _)| i);
        for (i, _) in drivers {
            let e = &graph.elements[i];
            diags.push(Diagnostic::error(
                e.span,
                format!(
                    "{} :: {}: router has more than one driver script",
                    e.name, e.class
                ),
            ));
        }
        let now = clock.now_ns();
        let mut nodes = Vec::with_capacity(n);
        for (i, (class, element)) in made.into_iter().enumerate() {
            let high_ports_first = element.high_ports_first();
            let routes_pulls = element.routes_pulls();
            let downstream = downstream.next().unwrap_or_default();
            let upstream = upstream.next().unwrap_or_default();
            let out: Box<[Batch]> = (0..outs[i].len()).map(|_| Batch::new()).collect();
            nodes.push(Node {
                name: graph.elements[i].name.clone(),
                class: class.name,
                config: graph.elements[i].config.clone(),
                reconfigured: RefCell::new(None),
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
                routes_pulls,
            });
        }

        // Initialize in declaration order, the elements that ask to go first before the
        // rest. The random sequence starts from the clock, as Click seeds it afresh for every
        // router; `RandomSeed` (initialized first) fixes it.
        let random = RefCell::new(ClickRandom::new(crate::random::clock_seed(now)));
        let (mut order, rest): (Vec<usize>, Vec<usize>) =
            (0..nodes.len()).partition(|&i| nodes[i].element.borrow().initialize_first());
        order.extend(rest);
        let mut tasks = Vec::new();
        let mut timers = Vec::new();
        for i in order {
            let node = &nodes[i];
            let mut ictx = InitCtx {
                me: i,
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
                previous,
                random: &random,
                clock: &*clock,
            };
            // Other elements are reachable through `ictx.element` meanwhile, so borrow this
            // one through its cell.
            let result = node.element.borrow_mut().initialize(&mut ictx);
            if let Err(m) = result {
                diags.push(Diagnostic::error(
                    graph.elements[i].span,
                    format!("{} :: {}: {}", node.name, node.class, m),
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
            // The elements go first: what they opened is closed before the parts are reused.
            drop(nodes);
            let parts = Parts {
                pool,
                clock,
                devices,
                opener: device_opener,
                console,
            };
            return Err((diags, parts));
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
        let tasks = sluice_config::heap_sorted(tasks);
        let timers = sluice_config::heap_sorted(timers);
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
                names: Box::new(names),
                configuration: String::new(),
                simulated: clock.simulated(),
                clock,
                now: Cell::new(now),
                devices,
                opener: device_opener,
                console: RefCell::new(console),
                stopped: Cell::new(false),
                stop_requests: Cell::new(0),
                driver_manager,
                timer_nodes: RefCell::new(timers),
                wake: Cell::new(None),
                unrouted_drops: Cell::new(0),
                hotconfig: false,
                hotconfig_request: RefCell::new(None),
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

    /// Sets the text the global `config` handler answers: the configuration as the user
    /// wrote it (Click's `config`; under `require(compact_config)`, the router printed
    /// back, [`sluice_config::unparse_click`]).
    pub fn set_configuration(&mut self, text: String) {
        self.core.configuration = text;
    }

    /// Makes the global `hotconfig` handler writable (`sluice run -R`, Click's `-R`): a
    /// configuration written to it from inside the router (`Script`, `DriverManager`) is
    /// kept for the platform, which takes it with [`take_hotconfig`](Self::take_hotconfig)
    /// between slices and installs it with [`hotswap`](Self::hotswap). A router that
    /// replaces this one keeps the setting.
    pub fn allow_hotconfig(&mut self, allow: bool) {
        self.core.hotconfig = allow;
    }

    /// The configuration last written to `hotconfig` from inside the router, if any
    /// since the last call.
    pub fn take_hotconfig(&mut self) -> Option<String> {
        self.core.hotconfig_request.get_mut().take()
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
