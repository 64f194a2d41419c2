//! The element interface: what every Click element implements, and how a class is described
//! to the router (its ports, its processing, its constructor).

use alloc::boxed::Box;
use alloc::string::String;
use core::any::Any;
use core::fmt;

use sluice_config::args::{Args, NameLookup};
use sluice_config::{ClassSpec, Span};

use crate::batch::Batch;
use crate::context::{Ctx, InitCtx};
use crate::notifier::{Notifier, NotifierKind};

/// What an element sees during `push`, `pull`, `run_task` and `run_timer`: it sends
/// packets on, pulls from upstream, reads the time and the random sequence, arms its
/// timer, reaches devices, the console and other elements' handlers.
pub type Context<'a> = Ctx<'a, dyn Element>;

/// What an element sees while initializing: its ports, devices, the pool, other elements.
pub type InitContext<'a> = InitCtx<'a, dyn Element>;

/// An element instance. The router owns every element and drives batches between them; an
/// element never calls its neighbours directly (except through [`Context::pull`] on a pull
/// input, as in Click).
///
/// Only [`Element::push`] and [`Element::pull`] are on the hot path: keep them free of
/// allocation, formatting and locks. Everything else may be slow and clear.
pub trait Element: Any {
    /// Handles a batch that arrived on input `port` (push processing). Packets leave through
    /// [`Context::output`]; a packet not passed on is dropped (its buffer returns to the pool),
    /// so count it if it is a drop a user cares about.
    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch);

    /// Answers a pull on output `port` with up to `max` packets, or `None` when there are
    /// none. The default suits agnostic elements: pull a batch from input 0, process it as
    /// if pushed, and hand back what came out on `port` (anything sent to other outputs is
    /// pushed on downstream as usual).
    fn pull(&mut self, ctx: &mut Context<'_>, port: usize, max: usize) -> Option<Batch> {
        let batch = ctx.pull(0, max)?;
        self.push(ctx, 0, batch);
        ctx.take_output(port)
    }

    /// Runs once after every element has been configured: open files, find devices, ask for
    /// a task or a timer. An error stops the router from starting.
    fn initialize(&mut self, _ctx: &mut InitContext<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Whether this element is initialized before all others (Click's
    /// `CONFIGURE_PHASE_FIRST`): `RandomSeed` seeds the router's random sequence before any
    /// element draws from it while initializing. Others run in declaration order.
    fn initialize_first(&self) -> bool {
        false
    }

    /// Runs when the element's task is scheduled (see [`InitContext::add_task`]). Returns
    /// [`TaskStatus`] so the scheduler knows whether work was done.
    fn run_task(&mut self, _ctx: &mut Context<'_>) -> TaskStatus {
        TaskStatus::Done
    }

    /// Runs the task as the scheduler does when it gathers a solo task's runs into
    /// batches: up to `runs` times in a row, stopping after a run that is not busy, that
    /// stopped the router, or after which another run could overflow an output batch.
    /// Returns the last run's status, the number of runs, and whether the batches are
    /// full. The default calls [`run_task`](Self::run_task) that way
    /// ([`run_task_repeatedly`]); a source whose runs are alike may override it with a
    /// tighter loop that has the same effects, run for run.
    fn run_task_runs(&mut self, ctx: &mut Context<'_>, runs: u32) -> (TaskStatus, u32, bool) {
        run_task_repeatedly(self, ctx, runs)
    }

    /// Runs when the element's timer fires (see [`Context::set_timer`]).
    fn run_timer(&mut self, _ctx: &mut Context<'_>) {}

    /// Reads the handler called `name`; `None` when the element has no such read handler.
    fn read_handler(&self, _name: &str) -> Option<String> {
        None
    }

    /// Reads a handler that takes parameters or acts (Click's read handlers with
    /// parameters: `s.run ARGS`, `table.lookup ADDR`); `params` is the text after the
    /// handler's name, possibly empty. `None` when the element has no such handler, and the
    /// router then tries [`read_handler`](Self::read_handler) (for empty parameters).
    fn read_handler_with(
        &mut self,
        _ctx: &mut Context<'_>,
        _name: &str,
        _params: &str,
    ) -> Option<Result<String, HandlerError>> {
        None
    }

    /// Writes the handler called `name`.
    fn write_handler(
        &mut self,
        _ctx: &mut Context<'_>,
        name: &str,
        _value: &str,
    ) -> Result<(), HandlerError> {
        Err(HandlerError::NoSuchHandler(name.into()))
    }

    /// Takes a new configuration while the router runs: a write to the element's `config`
    /// handler (Click's `live_reconfigure`). `args` holds the new arguments, to be read as
    /// the constructor reads them (address names included); errors go into `args`, and an
    /// element with errors keeps its configuration unchanged. Returns the warnings to
    /// report, or `None` when the element cannot be reconfigured live (the default, as in
    /// Click).
    fn reconfigure(
        &mut self,
        _ctx: &mut Context<'_>,
        _args: &mut Args<'_>,
    ) -> Option<alloc::vec::Vec<String>> {
        None
    }

    /// Takes over the state of `old`, the element of the same name in the configuration a
    /// `hotconfig` write replaces (Click's `take_state`): a queue its packets, a NAT its
    /// mappings. Called after every element of the new configuration has initialized and
    /// before the new configuration runs, in initialization order; `old` has stopped and is
    /// cleaned up afterwards. An element checks `old`'s class itself (through
    /// `<dyn Element>::downcast_mut`) and leaves its fresh state alone when it
    /// cannot use `old`'s. What cannot be carried is said in `warnings`. The default takes
    /// nothing.
    fn take_state(&mut self, _old: &mut dyn Element, _warnings: &mut alloc::vec::Vec<String>) {}

    /// The element's own handlers (the router adds `name`, `class`, `config`, `ports`,
    /// `handlers`).
    fn handlers(&self) -> &'static [Handler] {
        &[]
    }

    /// State this element lets other elements reach when they name it in their
    /// configuration (through [`InitContext::element`]): an `ICMPRewriter` reaches its
    /// rewriters' mapping tables this way. `None` by default.
    fn shared_state(&self) -> Option<alloc::rc::Rc<dyn core::any::Any>> {
        None
    }

    /// The notifier of `kind` this element keeps for `port` (an input for
    /// [`NotifierKind::Full`], an output for [`NotifierKind::Empty`]): a queue reports
    /// whether it has room and whether it has packets, so that the tasks around it can wait
    /// (see [`crate::notifier`]). `None` by default: the element reports nothing, and a
    /// search for notifiers passes through it.
    fn notifier(&self, _kind: NotifierKind, _port: usize) -> Option<Notifier> {
        None
    }
    /// Whether this element answers pulls by handing them to one of its inputs untouched
    /// (Click's `Bypass`), as [`pull_route`](Self::pull_route) says. The router asks once,
    /// when it builds the graph. False by default.
    fn routes_pulls(&self) -> bool {
        false
    }

    /// For an element that [routes pulls](Self::routes_pulls): the input that answers a
    /// pull on output `port`. The router then pulls that input's upstream element itself,
    /// without calling [`pull`](Self::pull) and without holding this element, so a pull may
    /// come back through another of its outputs (a detour that rejoins the main path).
    /// `None`: call `pull` as usual.
    fn pull_route(&self, _port: usize) -> Option<usize> {
        None
    }

    /// Runs when the router stops: flush files, print summaries.
    fn cleanup(&mut self, _ctx: &mut Context<'_>) {}

    /// What this element computed from its arguments, as bytes its class's *prepared*
    /// form rebuilds it from without computing it again (a classifier's compiled
    /// program). `sluice build` embeds them in an image (see [`crate::router::prepare`]);
    /// `None` (the default) when there is nothing worth carrying.
    fn prepared(&self) -> Option<alloc::vec::Vec<u8>> {
        None
    }

    /// Whether the packets this element emits in one call travel on from its highest
    /// output port down to port 0, rather than from port 0 up (the default). Click pushes
    /// each packet as it emits it; an element that emits a copy on output 1 before the
    /// packet itself on output 0 (`PaintTee`) says so here, so that the copy is processed
    /// first, as in Click.
    fn high_ports_first(&self) -> bool {
        false
    }

    /// Whether this element is the configuration's driver script (Click's `DriverManager`,
    /// `Script(TYPE DRIVER)`): stop requests (`STOP true` sources, `Script`'s `stop`) go to
    /// it instead of stopping the router, and it decides when the router stops. A
    /// configuration has at most one.
    fn is_driver(&self) -> bool {
        false
    }

    /// How far this element's effects reach, which tells the scheduler whether it may
    /// gather the packets of several runs of a task into one batch (see [`Effects`]).
    /// Conservative by default.
    fn effects(&self) -> Effects {
        Effects::Global
    }
}

impl dyn Element {
    /// This element as a `T`, if it is one ([`Element::take_state`] looks at the old
    /// element this way).
    pub fn downcast_mut<T: Element>(&mut self) -> Option<&mut T> {
        let any: &mut dyn Any = self;
        any.downcast_mut::<T>()
    }

    /// This element as a `T`, if it is one.
    pub fn downcast_ref<T: Element>(&self) -> Option<&T> {
        let any: &dyn Any = self;
        any.downcast_ref::<T>()
    }
}

/// How far an element's effects reach while it handles packets or runs its task.
///
/// Click runs a task and pushes each packet it emits all the way downstream before the next
/// task runs. When everything downstream of every task only touches its own state, running
/// the tasks round after round and pushing their packets on as batches has the same effects
/// in the same order at every element, so the scheduler does that for `BURST 1` sources: it
/// turns one dispatch per packet per element into one per batch. When an element anywhere
/// reaches further, the router keeps Click's packet-at-a-time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effects {
    /// It may act beyond itself: call other elements' handlers, stop the router while it
    /// handles a packet, write to the console, share state with another element, hold
    /// packets that another task takes (a queue), or behave differently depending on what
    /// other elements did. The default.
    Global,
    /// Everything it does stays in its own state and its outputs, and depends only on the
    /// packets it receives, in the order it receives them (`Strip`, `IPFilter`, a NAT's
    /// own table). For a task: each run depends only on its own state and the clock; a
    /// source that asks the router to stop when it is done (`STOP true`) is still local,
    /// since the scheduler looks for a stop after every task run.
    Local,
    /// Local, except that it draws from the router's random sequence (`RandomSwitch`,
    /// `SetRandIPAddress`). With one such element the draws come in the same order either
    /// way; with two, gathering would interleave their draws differently, so the scheduler
    /// gathers only while at most one element draws.
    Random,
    /// Local, and the order of arrival changes nothing either (`Discard`, which counts):
    /// packets may reach it along several paths.
    OrderFree,
}

/// What a task run achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    /// Did work; run again soon.
    Busy,
    /// Nothing to do now; keep polling.
    Idle,
    /// Finished for good (a file source at its end): unschedule.
    Done,
}

/// A handler an element offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handler {
    /// Its name, e.g. `count`.
    pub name: &'static str,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
}

impl Handler {
    /// A read-only handler.
    pub const fn read(name: &'static str) -> Self {
        Self {
            name,
            read: true,
            write: false,
        }
    }

    /// A write-only handler.
    pub const fn write(name: &'static str) -> Self {
        Self {
            name,
            read: false,
            write: true,
        }
    }

    /// A read/write handler.
    pub const fn read_write(name: &'static str) -> Self {
        Self {
            name,
            read: true,
            write: true,
        }
    }
}

/// Why a handler call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandlerError {
    /// No element by that name.
    NoSuchElement(String),
    /// The element has no such handler (or not in that direction).
    NoSuchHandler(String),
    /// The value written was rejected; the message says why.
    BadValue(String),
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchElement(e) => write!(f, "no element named '{e}'"),
            Self::NoSuchHandler(h) => write!(f, "no handler '{h}'"),
            Self::BadValue(m) => f.write_str(m),
        }
    }
}

/// Whether another task run could overflow an output batch, judged by the fullest batch
/// before (`before`) and after (`after`) the last run: it may add as many packets as the
/// last one did, at least one.
#[inline]
pub fn next_run_overflows(before: usize, after: usize) -> bool {
    after + after.saturating_sub(before).max(1) > crate::batch::BATCH_MAX
}

/// The default [`Element::run_task_runs`]: `run_task` up to `runs` times while each run is
/// busy, the router runs and another run's packets (as many as the last run's, at least one)
/// still fit the fullest output batch.
pub fn run_task_repeatedly<E: Element + ?Sized>(
    e: &mut E,
    ctx: &mut Context<'_>,
    runs: u32,
) -> (TaskStatus, u32, bool) {
    let mut n = 0;
    loop {
        let before = ctx.fill();
        let status = e.run_task(ctx);
        n += 1;
        let after = ctx.fill();
        let overflow = next_run_overflows(before, after);
        if n >= runs || overflow || status != TaskStatus::Busy || ctx.stopping() {
            return (status, n, overflow);
        }
    }
}

/// What an element's constructor knows besides its arguments.
pub struct ConfigContext<'a> {
    /// The element's hierarchical name.
    pub name: &'a str,
    /// Input ports in use.
    pub ninputs: usize,
    /// Output ports in use.
    pub noutputs: usize,
    /// Where the element was declared.
    pub span: Span,
    /// Address names (`AddressInfo`).
    pub names: &'a dyn NameLookup,
    /// What the host computed for this element ([`Element::prepared`]), when the router
    /// was built with it ([`crate::Router::new_prepared`]).
    pub prepared: Option<&'a [u8]>,
}

/// Builds an element from its arguments. Problems are recorded in `args` (with spans);
/// return `None` when the element cannot be built.
pub type Constructor = fn(&mut Args<'_>, &ConfigContext<'_>) -> Option<Box<dyn Element>>;

/// An element class, as the registry lists it.
#[derive(Clone, Copy)]
pub struct ElementClass {
    /// Class name, as written in configurations.
    pub name: &'static str,
    /// Port counts, Click notation (`1/1-2`).
    pub ports: &'static str,
    /// Processing, Click notation (`a/ah`).
    pub processing: &'static str,
    /// The constructor.
    pub make: Constructor,
    /// For a class whose instances declare names that every element's arguments may use
    /// (Click's `AddressInfo`): makes the table that its instances' arguments fill, one
    /// `declare` per argument, before any element is constructed.
    pub names: Option<fn() -> Box<dyn NameTable>>,
}

/// Names a configuration declares for element arguments to use (`AddressInfo`'s
/// `NAME ADDRESS...`), looked up as the argument reader's [`NameLookup`].
pub trait NameTable: NameLookup {
    /// Adds the names of one argument of a declaring element.
    fn declare(&mut self, arg: &str) -> Result<(), String>;
}

impl fmt::Debug for ElementClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElementClass")
            .field("name", &self.name)
            .field("ports", &self.ports)
            .field("processing", &self.processing)
            .finish()
    }
}

impl ElementClass {
    /// The checker's view of the class.
    pub fn spec(&self) -> ClassSpec {
        ClassSpec::new(self.name, self.ports, self.processing)
    }
}

/// The checker's class table for a registry.
pub fn class_table(classes: &[&ElementClass]) -> alloc::vec::Vec<ClassSpec> {
    classes.iter().map(|c| c.spec()).collect()
}
