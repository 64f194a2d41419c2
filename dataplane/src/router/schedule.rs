//! The scheduler: task passes, slices of task runs between clock reads, timers.

use sluice_config::FlatGraph;

use crate::batch::BATCH_MAX;
use crate::element::{Effects, TaskStatus};

use super::{Node, Round, Router};

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
pub(super) fn coalescable(graph: &FlatGraph, nodes: &[Node], task: usize) -> bool {
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

impl Router {
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
                    .with_element(task.element, |e, ctx| e.run_task_runs(ctx, reps))
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

    /// Reads the clock and fires the timers due, without running tasks: what a driver does
    /// right after it moved simulated time on to the next deadline, so that every timer due
    /// then fires before any task runs at that instant, as in Click (where a task that
    /// waits for a time sleeps on a timer, and that timer fires among the others before the
    /// task runs again).
    pub fn fire_due_timers(&mut self) {
        let core = &self.core;
        core.now.set(core.clock.now_ns());
        self.fire_timers();
    }

    /// Fires due timers; returns whether any timer is still armed.
    fn fire_timers(&self) -> bool {
        let core = &self.core;
        if core.stopped.get() {
            // Once the driver has been asked to stop, Click runs no more timers.
            let nodes = core.timer_nodes.borrow();
            return nodes.iter().any(|&i| core.nodes[i].timer.get().is_some());
        }
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
    /// timer or the earliest [`Context::wake_at`](crate::Context::wake_at) of the last slice.
    /// `None`: only packets
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
    /// [`NetDevice::arm_wakeup`](crate::NetDevice::arm_wakeup)). `false`: some device has work
    /// already or cannot wake the
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
}
