//! `PullSwitch([INPUT])` — answers pulls from one input, chosen by a handler.
//!
//! **Ports:** `-/1`: any number of inputs, one output.
//!
//! **Processing:** `l/l`: pull.
//!
//! Every pull is answered from input INPUT (default 0). An INPUT that is negative or names
//! no input means no input: every pull gets nothing.
//!
//! PullSwitch reports whether it may have packets (Click's empty notifier): a task
//! downstream, such as a pull `Discard`, sleeps while the chosen input's upstream queues
//! are empty, and wakes when one of them gets a packet. The report follows the chosen
//! input when the `switch` handler changes it: with no input, PullSwitch reports empty.
//! A pull that finds nothing while the chosen input's queues are empty makes it report
//! empty until they have packets again.
//!
//! **Handlers:** `switch` (rw: the input; writing a value that names no input stores -1),
//! `config` (r: the input).
//!
//! **Example:**
//!
//! ```text
//! a :: Queue -> [0] s :: PullSwitch -> ToDevice(eth0);
//! b :: Queue -> [1] s;
//! ```
//!
//! ## `SimplePullSwitch([INPUT])` — a PullSwitch that reports nothing.
//!
//! **Ports:** `-/1`: any number of inputs, one output.
//!
//! **Processing:** `l/l`: pull.
//!
//! Like `PullSwitch`, but without the notifier: tasks downstream see through it to the
//! queues of all its inputs, and sleep only while all of them are empty.
//!
//! **Handlers:** `switch` (rw), `config` (r).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    Notifier, NotifierKind, Signal,
};

/// `PullSwitch`.
pub static PullSwitch: ElementClass = ElementClass {
    name: "PullSwitch",
    ports: "-/1",
    processing: "l/l",
    make: make_notifying,
    names: None,
};

/// `SimplePullSwitch`.
pub static SimplePullSwitch: ElementClass = ElementClass {
    name: "SimplePullSwitch",
    ports: "-/1",
    processing: "l/l",
    make: make_simple,
    names: None,
};

struct PullSwitchElement {
    input: i64,
    ninputs: usize,
    /// `PullSwitch`'s notifier and its inputs' upstream signals; `None` for
    /// `SimplePullSwitch`.
    notify: Option<(Notifier, Vec<Signal>)>,
}

/// An input that names no port becomes -1 (nothing).
fn clamp(input: i64, ninputs: usize) -> i64 {
    if input >= 0 && (input as u64) < ninputs as u64 {
        input
    } else {
        -1
    }
}

fn make(a: &mut Args<'_>, c: &ConfigContext<'_>, notifying: bool) -> Option<Box<dyn Element>> {
    let input = a.read_p::<i64>("INPUT").unwrap_or(0);
    let input = clamp(input, c.ninputs);
    Some(Box::new(PullSwitchElement {
        input,
        ninputs: c.ninputs,
        notify: notifying.then(|| (Notifier::new(input >= 0), Vec::new())),
    }))
}

fn make_notifying(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, c, true)
}

fn make_simple(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    make(a, c, false)
}

impl PullSwitchElement {
    /// The chosen input's upstream signal.
    fn chosen_signal(&self) -> Option<&Signal> {
        let (_, signals) = self.notify.as_ref()?;
        signals.get(usize::try_from(self.input).ok()?)
    }

    fn set_input(&mut self, input: i64) {
        self.input = clamp(input, self.ninputs);
        let signal = self.chosen_signal().cloned();
        if let Some((n, _)) = &self.notify {
            match &signal {
                None => n.set_active(false),
                Some(s) if s.active() => n.set_active(true),
                Some(_) => {}
            }
            n.follow(signal);
        }
    }
}

impl Element for PullSwitchElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        if let Some((n, signals)) = &mut self.notify {
            *signals = (0..ctx.ninputs())
                .map(|i| ctx.upstream_empty_signal(i))
                .collect();
            let chosen = usize::try_from(self.input)
                .ok()
                .and_then(|i| signals.get(i))
                .cloned();
            n.follow(chosen);
        }
        Ok(())
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let got = usize::try_from(self.input)
            .ok()
            .and_then(|i| ctx.pull(i, max));
        if let Some((n, _)) = &self.notify {
            if got.is_some() {
                n.set_active(true);
            } else if !self.chosen_signal().is_some_and(Signal::active) {
                n.set_active(false);
            }
        }
        got
    }

    fn notifier(&self, kind: NotifierKind, port: usize) -> Option<Notifier> {
        match &self.notify {
            Some((n, _)) if kind == NotifierKind::Empty && port == 0 => Some(n.clone()),
            _ => None,
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        matches!(name, "switch" | "config").then(|| self.input.to_string())
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "switch" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        let v = <i64 as FromArg>::from_arg(value.trim(), None)
            .map_err(|_| HandlerError::BadValue("syntax error".into()))?;
        self.set_input(v);
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("switch"), Handler::read("config")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use alloc::vec::Vec;

    /// Two queues painted 1 and 2 into `class`, pulled by an Unqueue into a collector.
    fn bench(class: &str, config: &str) -> (Bench, sluice_dataplane::Router) {
        let b = Bench::new().pool(64, 0);
        let g = graph(
            &[
                ("q0", "Queue", ""),
                ("q1", "Queue", ""),
                ("s", class, config),
                ("u", "Unqueue", "8"),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0), (3, 0, 4, 0)],
        );
        let r = b.router(&g).unwrap();
        (b, r)
    }

    fn fill(b: &Bench, r: &mut sluice_dataplane::Router, q: &str, paint: u8, n: usize) {
        let mut batch = b.batch(&alloc::vec![&[0u8; 20][..]; n]);
        for p in &mut batch {
            p.anno_mut().paint = paint;
        }
        r.push_to(q, 0, batch).unwrap();
    }

    fn paints() -> Vec<u8> {
        collected("c").iter().map(|p| p.anno.paint).collect()
    }

    #[test]
    fn pulls_come_from_the_chosen_input() {
        for class in ["PullSwitch", "SimplePullSwitch"] {
            let (b, mut r) = bench(class, "1");
            fill(&b, &mut r, "q0", 1, 2);
            fill(&b, &mut r, "q1", 2, 3);
            r.run_rounds(3);
            assert_eq!(paints(), [2, 2, 2], "{class}");
            r.write_handler("s.switch", "0").unwrap();
            r.run_rounds(3);
            assert_eq!(paints(), [1, 1], "{class}");
            fill(&b, &mut r, "q0", 1, 2);
            r.write_handler("s.switch", "5").unwrap();
            assert_eq!(r.read_handler("s.switch").unwrap(), "-1", "{class}");
            assert_eq!(r.read_handler("s.config").unwrap(), "-1", "{class}");
            r.run_rounds(3);
            assert!(paints().is_empty(), "{class}: no input");
            assert!(r.write_handler("s.switch", "one").is_err());
        }
    }

    #[test]
    fn the_notifier_follows_the_chosen_input() {
        let b = Bench::new().pool(64, 0);
        let g = graph(
            &[
                ("q0", "Queue", ""),
                ("q1", "Queue", ""),
                ("s", "PullSwitch", "0"),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let scheduled = |r: &sluice_dataplane::Router| r.read_handler("d.scheduled").unwrap();
        r.run_rounds(2);
        assert_eq!(scheduled(&r), "false", "input 0's queue is empty");
        fill(&b, &mut r, "q1", 2, 2);
        assert_eq!(scheduled(&r), "false", "input 1 is not chosen");
        r.write_handler("s.switch", "1").unwrap();
        assert_eq!(scheduled(&r), "true", "input 1 has packets");
        r.run_rounds(4);
        assert_eq!(r.read_handler("d.count").unwrap(), "2");
        assert_eq!(scheduled(&r), "false", "drained");
        fill(&b, &mut r, "q1", 2, 1);
        assert_eq!(scheduled(&r), "true", "woken by the queue");
        r.write_handler("s.switch", "-1").unwrap();
        r.run_rounds(2);
        assert_eq!(scheduled(&r), "false", "no input");
        assert_eq!(r.read_handler("q1.length").unwrap(), "1");
    }
}
