//! `StrideSched(TICKETS0, ..., TICKETSN1)` — pulls from its inputs in proportion to their
//! tickets, by stride scheduling.
//!
//! **Ports:** `1-/1`: one or more inputs, one output.
//!
//! **Processing:** `l/l`: pull.
//!
//! Takes one argument per input: the number of tickets of that input, an integer from 0 to
//! 32768 (larger numbers are reduced to 32768). Over time, input `i` is pulled from in
//! proportion to its share of all the tickets; an input with 0 tickets is never pulled.
//!
//! Each input has a *stride*, 65536 divided by its tickets (rounded down), and a *pass*,
//! which starts at its stride. A pull visits the inputs in order of increasing pass, pulls
//! from each whose upstream queues may have packets, and adds its stride to the pass of
//! every input it visited, up to and including the one that gave a packet. On equal
//! passes, an input whose pass just moved goes ahead of the others; at the start, the
//! lower-numbered input goes first. Passes wrap around as 32-bit numbers. A pull
//! asking for several packets gets what the same number of single pulls would, stopping
//! at the first that finds none.
//!
//! An input that gets tickets again after having none starts at the smallest pass among
//! the others plus its stride, so it does not catch up on the time it had none.
//!
//! **Handlers:** `tickets0`, `tickets1`, ... (rw: an input's tickets; writing 0 takes the
//! input out of the schedule), `config` (r: every input's tickets, comma-separated). The
//! configuration can be rewritten live: passes are kept, tickets change.
//!
//! **Example:**
//!
//! ```text
//! a :: Queue -> [0] s :: StrideSched(3, 1) -> ToDevice(eth0);
//! b :: Queue -> [1] s;
//! ```

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    Signal,
};

/// The element class.
pub static StrideSched: ElementClass = ElementClass {
    name: "StrideSched",
    ports: "1-/1",
    processing: "l/l",
    make,
    names: None,
};

/// The pass a ticket-holder advances by per visit, divided by its tickets.
const STRIDE1: u32 = 1 << 16;
/// The most tickets an input may hold.
const MAX_TICKETS: i32 = 1 << 15;

/// Whether pass `a` is later than pass `b`, in wrapping 32-bit arithmetic.
#[inline]
fn pass_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[derive(Clone, Copy)]
struct Client {
    tickets: i32,
    stride: u32,
    pass: u32,
}

impl Client {
    fn set_tickets(&mut self, t: i32) {
        self.tickets = t;
        self.stride = if t > 0 { STRIDE1 / t as u32 } else { 0 };
    }
}

struct StrideSchedElement {
    clients: Vec<Client>,
    /// The inputs with tickets, by increasing pass.
    order: Vec<usize>,
    /// The inputs one pull visited (kept to reuse its room).
    visited: Vec<usize>,
    signals: Vec<Signal>,
}

/// Reads one ticket count per input; errors go into `a`.
fn read_tickets(a: &mut Args<'_>, ninputs: usize) -> Option<Vec<i32>> {
    if a.len() != ninputs {
        a.error_whole(format!("need {ninputs} arguments, one per input port"));
        return None;
    }
    let mut out = Vec::with_capacity(ninputs);
    for i in 0..ninputs {
        let arg = a.next_positional()?;
        match <i32 as FromArg>::from_arg(arg.text.trim(), None) {
            Err(_) => a.error(
                arg.span,
                format!("argument {i} should be number of tickets (integer)"),
            ),
            Ok(v) if v < 0 => a.error(
                arg.span,
                format!("argument {i} (number of tickets) must be >= 0"),
            ),
            Ok(v) => out.push(v.min(MAX_TICKETS)),
        }
    }
    (out.len() == ninputs).then_some(out)
}

fn make(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let tickets = read_tickets(a, c.ninputs.max(1))?;
    let clients = tickets
        .iter()
        .map(|&t| {
            let mut c = Client {
                tickets: 0,
                stride: 0,
                pass: 0,
            };
            c.set_tickets(t);
            c.pass = c.stride;
            c
        })
        .collect();
    let mut e = StrideSchedElement {
        clients,
        order: Vec::new(),
        visited: Vec::new(),
        signals: Vec::new(),
    };
    e.rebuild();
    Some(Box::new(e))
}

impl StrideSchedElement {
    /// Puts input `c` into the order, before the first input whose pass is not earlier.
    fn insert(&mut self, c: usize) {
        let pass = self.clients[c].pass;
        let at = self
            .order
            .iter()
            .position(|&o| !pass_gt(pass, self.clients[o].pass))
            .unwrap_or(self.order.len());
        self.order.insert(at, c);
    }

    /// The order from scratch: inserted from the last input down, so that on equal passes
    /// the lower-numbered input goes first.
    fn rebuild(&mut self) {
        self.order.clear();
        for c in (0..self.clients.len()).rev() {
            if self.clients[c].tickets > 0 {
                self.insert(c);
            }
        }
    }

    /// One pull as Click makes it: visits inputs in pass order until one gives a packet,
    /// striding each visited input, then puts the visited inputs back in order.
    fn pull_one(&mut self, ctx: &mut Context<'_>) -> Option<sluice_dataplane::Packet> {
        let mut got = None;
        let mut k = 0;
        while k < self.order.len() && got.is_none() {
            let c = self.order[k];
            if self.signals.get(c).is_none_or(Signal::active) {
                got = ctx.pull(c, 1).and_then(|mut b| b.pop());
            }
            let cl = &mut self.clients[c];
            cl.pass = cl.pass.wrapping_add(cl.stride);
            k += 1;
        }
        let mut visited = core::mem::take(&mut self.visited);
        visited.clear();
        visited.extend(self.order.drain(..k));
        for &c in &visited {
            self.insert(c);
        }
        self.visited = visited;
        got
    }

    fn set_tickets(&mut self, port: usize, tickets: i32) {
        let tickets = tickets.min(MAX_TICKETS);
        let old = self.clients[port].tickets;
        self.clients[port].set_tickets(tickets);
        if tickets == 0 && old != 0 {
            self.order.retain(|&c| c != port);
        } else if tickets != 0 && old == 0 {
            let stride = self.clients[port].stride;
            self.clients[port].pass = self
                .order
                .first()
                .map_or(0, |&f| self.clients[f].pass.wrapping_add(stride));
            self.insert(port);
        }
    }

    /// The input a `ticketsN` handler names.
    fn port_of(&self, name: &str) -> Option<usize> {
        let n = name.strip_prefix("tickets")?;
        if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
            return None;
        }
        n.parse::<usize>().ok().filter(|&p| p < self.clients.len())
    }
}

/// The names of the `ticketsN` handlers, for the first inputs.
const HANDLERS: &[Handler] = &[
    Handler::read("config"),
    Handler::read_write("tickets0"),
    Handler::read_write("tickets1"),
    Handler::read_write("tickets2"),
    Handler::read_write("tickets3"),
    Handler::read_write("tickets4"),
    Handler::read_write("tickets5"),
    Handler::read_write("tickets6"),
    Handler::read_write("tickets7"),
    Handler::read_write("tickets8"),
    Handler::read_write("tickets9"),
    Handler::read_write("tickets10"),
    Handler::read_write("tickets11"),
    Handler::read_write("tickets12"),
    Handler::read_write("tickets13"),
    Handler::read_write("tickets14"),
    Handler::read_write("tickets15"),
];

impl Element for StrideSchedElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.signals = (0..self.clients.len())
            .map(|i| ctx.upstream_empty_signal(i))
            .collect();
        Ok(())
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let mut out = Batch::new();
        while out.len() < max && !out.is_full() {
            match self.pull_one(ctx) {
                Some(p) => out.push(p),
                None => break,
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        if name == "config" {
            let t: Vec<String> = self.clients.iter().map(|c| c.tickets.to_string()).collect();
            return Some(t.join(", "));
        }
        self.port_of(name)
            .map(|p| self.clients[p].tickets.to_string())
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let Some(port) = self.port_of(name) else {
            return Err(HandlerError::NoSuchHandler(name.into()));
        };
        let t = <i32 as FromArg>::from_arg(value.trim(), None)
            .map_err(|_| HandlerError::BadValue("tickets value must be integer".into()))?;
        if t < 0 {
            return Err(HandlerError::BadValue(
                "number of tickets must be >= 0".into(),
            ));
        }
        self.set_tickets(port, t);
        Ok(())
    }

    fn reconfigure(&mut self, _: &mut Context<'_>, args: &mut Args<'_>) -> Option<Vec<String>> {
        if let Some(tickets) = read_tickets(args, self.clients.len()) {
            for (c, t) in self.clients.iter_mut().zip(tickets) {
                c.set_tickets(t);
            }
            self.rebuild();
        }
        Some(Vec::new())
    }

    fn handlers(&self) -> &'static [Handler] {
        &HANDLERS[..HANDLERS.len().min(self.clients.len() + 1)]
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use alloc::vec::Vec;

    /// Pulls `n` packets, one per pull, through `StrideSched(tickets)` from three
    /// sources painted 0, 1 and 2, and returns the paint of each.
    fn schedule(tickets: &str, n: usize, writes: &[(&str, &str)]) -> Vec<u8> {
        let b = Bench::new().pool(64, 0);
        let g = graph(
            &[
                ("s0", "InfiniteSource", "LIMIT -1"),
                ("p0", "Paint", "0"),
                ("s1", "InfiniteSource", "LIMIT -1"),
                ("p1", "Paint", "1"),
                ("s2", "InfiniteSource", "LIMIT -1"),
                ("p2", "Paint", "2"),
                ("ss", "StrideSched", tickets),
                ("u", "Unqueue", ""),
                ("c", "Collect", ""),
            ],
            &[
                (0, 0, 1, 0),
                (1, 0, 6, 0),
                (2, 0, 3, 0),
                (3, 0, 6, 1),
                (4, 0, 5, 0),
                (5, 0, 6, 2),
                (6, 0, 7, 0),
                (7, 0, 8, 0),
            ],
        );
        let mut r = b.router(&g).unwrap();
        for (h, v) in writes {
            r.write_handler(h, v).unwrap();
        }
        let mut out = Vec::new();
        while out.len() < n {
            r.run_rounds(1);
            out.extend(collected("c").iter().map(|p| p.anno.paint));
        }
        out.truncate(n);
        out
    }

    /// The schedule computed from the definition when every input has packets: lowest
    /// pass first; on equal passes the input that moved last, at the start the lower one.
    fn model(tickets: &[u32], n: usize) -> Vec<u8> {
        let stride: Vec<u32> = tickets.iter().map(|&t| 65536 / t).collect();
        let mut pass = stride.clone();
        let mut moved: Vec<i64> = (0..tickets.len() as i64).map(|i| -i - 1).collect();
        (0..n)
            .map(|t| {
                let i = (0..pass.len())
                    .min_by_key(|&i| (pass[i], core::cmp::Reverse(moved[i])))
                    .unwrap();
                pass[i] += stride[i];
                moved[i] = t as i64;
                i as u8
            })
            .collect()
    }

    #[test]
    fn inputs_are_pulled_in_proportion_to_their_tickets() {
        let got = schedule("4, 2, 1", 28, &[]);
        assert_eq!(got, model(&[4, 2, 1], 28));
        let count = |k| got.iter().filter(|&&p| p == k).count();
        assert_eq!((count(0), count(1), count(2)), (16, 8, 4));
        assert_eq!(schedule("1, 1, 3", 20, &[]), model(&[1, 1, 3], 20));
    }

    #[test]
    fn zero_tickets_take_an_input_out() {
        assert!(schedule("0, 2, 1", 12, &[]).iter().all(|&p| p != 0));
        let got = schedule("5, 5, 5", 12, &[("ss.tickets1", "0")]);
        assert!(got.iter().all(|&p| p != 1));
        assert_eq!(got.len(), 12);
    }

    #[test]
    fn handlers_and_errors() {
        let b = Bench::new();
        let g = graph(
            &[
                ("a", "Idle", ""),
                ("b", "Idle", ""),
                ("ss", "StrideSched", "3, 40000"),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0)],
        );
        let r = b.router(&g).unwrap();
        assert_eq!(r.read_handler("ss.tickets0").unwrap(), "3");
        assert_eq!(r.read_handler("ss.tickets1").unwrap(), "32768", "reduced");
        assert_eq!(r.read_handler("ss.config").unwrap(), "3, 32768");
        r.write_handler("ss.tickets0", "7").unwrap();
        assert_eq!(r.read_handler("ss.config").unwrap(), "7, 32768");
        assert!(r.write_handler("ss.tickets0", "-1").is_err());
        assert!(r.write_handler("ss.tickets0", "x").is_err());
        assert!(r.read_handler("ss.tickets2").is_err());
        let bad = |cfg: &str| {
            config_error(&graph(
                &[
                    ("a", "Idle", ""),
                    ("b", "Idle", ""),
                    ("ss", "StrideSched", cfg),
                    ("d", "Discard", ""),
                ],
                &[(0, 0, 2, 0), (1, 0, 2, 1), (2, 0, 3, 0)],
            ))
        };
        assert!(bad("1").contains("need 2 arguments, one per input port"));
        assert!(bad("1, x").contains("argument 1 should be number of tickets"));
        assert!(bad("-1, 1").contains("argument 0 (number of tickets) must be >= 0"));
    }
}
