//! `Switch([OUTPUT])` — sends every packet out of one output, chosen by a handler.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sends every packet out of output OUTPUT (default 0). A negative or out-of-range OUTPUT
//! drops packets.
//!
//! **Handlers:** `switch` (rw: the output; writing a value that names no output stores -1),
//! `drops` (r: packets dropped).
//!
//! ## `StaticSwitch(OUTPUT)` — sends every packet out of one fixed output.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Like `Switch`, but OUTPUT is fixed (mandatory) and there is no `switch` handler.
//!
//! **Handlers:** `drops` (r: packets dropped).
//!
//! ## `RoundRobinSwitch()` — sends packets to its outputs in turn.
//!
//! **Ports:** `1/1-`: one input, one or more outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sends packets to its outputs in turn: 0, 1, ..., N-1, 0, ...
//!
//! **Hot reconfiguration:** a `RoundRobinSwitch` that replaces one of the same name through
//! `hotconfig` goes on from the output the old one would have used next (from 0 when that
//! output no longer exists). Click's starts over at 0.
//!
//! ## `HashSwitch(OFFSET, LENGTH)` — chooses an output by hashing packet bytes.
//!
//! **Ports:** `1/1-`: one input, one or more outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sums the LENGTH bytes at OFFSET; with 2, 4 or 8 outputs the output is
//! `(sum ^ (sum >> 4)) & (N - 1)`, otherwise `sum % N` — Click's function, so packets go to
//! the same outputs as in Click. A packet too short for the bytes goes to output 0.
//!
//! ## `RandomSwitch()` — sends each packet to a random output.
//!
//! **Ports:** `1/1-`: one input, one or more outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sends each packet to an output chosen uniformly at random from the router's random
//! sequence, as Click chooses it (`RandomSeed` makes runs repeat).
//!
//! ## `InputSwitch([INPUT])` — passes on the packets of one input, chosen by a handler.
//!
//! **Ports:** `-/1`: any number of inputs, one output.
//!
//! **Processing:** `h`: push.
//!
//! Sends the packets that arrive on input INPUT (default 0) out of its output and drops the
//! packets of every other input; a negative INPUT drops them all. INPUT must name an input.
//!
//! **Handlers:** `switch` (rw: the input; writing a value that names no input stores -1),
//! `config` (r: the same), `drops` (r: packets dropped).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::parse_value;

/// `Switch`.
pub static Switch: ElementClass = ElementClass {
    name: "Switch",
    ports: "1/-",
    processing: "h",
    make: make_switch,
    names: None,
};
/// `StaticSwitch`.
pub static StaticSwitch: ElementClass = ElementClass {
    name: "StaticSwitch",
    ports: "1/-",
    processing: "h",
    make: make_static,
    names: None,
};
/// `RoundRobinSwitch`.
pub static RoundRobinSwitch: ElementClass = ElementClass {
    name: "RoundRobinSwitch",
    ports: "1/1-",
    processing: "h",
    make: make_rr,
    names: None,
};
/// `HashSwitch`.
pub static HashSwitch: ElementClass = ElementClass {
    name: "HashSwitch",
    ports: "1/1-",
    processing: "h",
    make: make_hash,
    names: None,
};
/// `RandomSwitch`.
pub static RandomSwitch: ElementClass = ElementClass {
    name: "RandomSwitch",
    ports: "1/1-",
    processing: "h",
    make: make_random,
    names: None,
};

/// `InputSwitch`.
pub static InputSwitch: ElementClass = ElementClass {
    name: "InputSwitch",
    ports: "-/1",
    processing: "h",
    make: make_input_switch,
    names: None,
};

struct InputSwitchElement {
    input: i64,
    drops: u64,
}

fn make_input_switch(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let input = a.read_p::<i64>("INPUT").unwrap_or(0);
    if input >= c.ninputs as i64 {
        a.error_whole(alloc::format!("input must be < {}", c.ninputs));
        return None;
    }
    Some(Box::new(InputSwitchElement { input, drops: 0 }))
}

impl Element for InputSwitchElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        if self.input >= 0 && port as u64 == self.input as u64 {
            ctx.output_batch(0, batch);
        } else {
            self.drops += batch.len() as u64;
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "switch" | "config" => Some(self.input.to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "switch" => {
                let v: i64 = parse_value(name, value)?;
                self.input = if v < ctx.ninputs() as i64 { v } else { -1 };
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("switch"),
            Handler::read("config"),
            Handler::read("drops"),
        ];
        H
    }
}

struct SwitchElement {
    output: i64,
    writable: bool,
    drops: u64,
}

fn make_switch(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let output = a.read_p::<i64>("OUTPUT").unwrap_or(0);
    Some(Box::new(SwitchElement {
        output: clamp(output, c.noutputs),
        writable: true,
        drops: 0,
    }))
}

fn make_static(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let output = a.read_mp::<i64>("OUTPUT")?;
    Some(Box::new(SwitchElement {
        output: clamp(output, c.noutputs),
        writable: false,
        drops: 0,
    }))
}

/// An output that names no port becomes -1 (drop).
fn clamp(output: i64, noutputs: usize) -> i64 {
    if output >= 0 && (output as u64) < noutputs as u64 {
        output
    } else {
        -1
    }
}

impl Element for SwitchElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        match usize::try_from(self.output) {
            Ok(port) if port < ctx.noutputs() => ctx.output_batch(port, batch),
            _ => self.drops += batch.len() as u64,
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "switch" if self.writable => Some(self.output.to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "switch" if self.writable => {
                let v: i64 = parse_value(name, value)?;
                self.output = clamp(v, ctx.noutputs());
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const W: &[Handler] = &[Handler::read_write("switch"), Handler::read("drops")];
        const S: &[Handler] = &[Handler::read("drops")];
        if self.writable {
            W
        } else {
            S
        }
    }
}

struct RoundRobin {
    next: usize,
}

fn make_rr(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(RoundRobin { next: 0 }))
}

impl Element for RoundRobin {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut alloc::vec::Vec<String>) {
        if let Some(old) = old.downcast_mut::<RoundRobin>() {
            self.next = old.next;
        }
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let n = ctx.noutputs().max(1);
        for p in batch {
            if self.next >= n {
                self.next = 0;
            }
            ctx.output(self.next, p);
            self.next += 1;
        }
    }
}

struct Hash {
    offset: usize,
    length: usize,
}

fn make_hash(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let offset = a.read_mp::<u16>("OFFSET");
    let length = a.read_mp::<u16>("LENGTH");
    let (offset, length) = (offset?, length?);
    if length == 0 {
        a.error_whole("LENGTH must be > 0");
        return None;
    }
    Some(Box::new(Hash {
        offset: offset.into(),
        length: length.into(),
    }))
}

impl Hash {
    /// Click's HashSwitch function of the selected bytes.
    #[inline]
    fn output(&self, data: &[u8], n: usize) -> usize {
        let Some(bytes) = data.get(self.offset..self.offset + self.length) else {
            return 0;
        };
        let sum: usize = bytes.iter().map(|&b| usize::from(b)).sum();
        if matches!(n, 2 | 4 | 8) {
            (sum ^ (sum >> 4)) & (n - 1)
        } else {
            sum % n
        }
    }
}

impl Element for Hash {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let n = ctx.noutputs().max(1);
        for p in batch {
            let port = self.output(p.data(), n);
            ctx.output(port, p);
        }
    }
}

struct Random;

fn make_random(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Random))
}

impl Element for Random {
    fn effects(&self) -> Effects {
        Effects::Random
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let last = ctx.noutputs().max(1) as u32 - 1;
        for p in batch {
            let port = ctx.random_range(0, last) as usize;
            ctx.output(port, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn three_way(class: &str, config: &str) -> (Bench, sluice_dataplane::Router) {
        let b = Bench::new();
        let g = graph(
            &[
                ("s", class, config),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 2, 0), (0, 2, 3, 0)],
        );
        let r = b.router(&g).unwrap();
        (b, r)
    }

    #[test]
    fn switch_and_handler() {
        let (b, mut r) = three_way("Switch", "1");
        r.push_to("s", 0, b.batch(&[b"x"])).unwrap();
        assert_eq!(collected_bytes("b"), [b"x"]);
        r.write_handler("s.switch", "2").unwrap();
        r.push_to("s", 0, b.batch(&[b"y"])).unwrap();
        assert_eq!(collected_bytes("c"), [b"y"]);
        r.write_handler("s.switch", "5").unwrap();
        assert_eq!(r.read_handler("s.switch").unwrap(), "-1");
        r.push_to("s", 0, b.batch(&[b"z"])).unwrap();
        assert_eq!(r.read_handler("s.drops").unwrap(), "1");
        assert!(collected("a").is_empty());
        assert_eq!(b.pool.stats().free, 64);
    }

    #[test]
    fn input_switch_passes_one_input() {
        let b = Bench::new();
        let g = graph(
            &[
                ("s", "InputSwitch", "1"),
                ("o", "Collect", ""),
                ("i0", "Idle", ""),
                ("i1", "Idle", ""),
            ],
            &[(2, 0, 0, 0), (3, 0, 0, 1), (0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("s", 0, b.batch(&[b"x"])).unwrap();
        r.push_to("s", 1, b.batch(&[b"y"])).unwrap();
        assert_eq!(collected_bytes("o"), [b"y"]);
        assert_eq!(r.read_handler("s.config").unwrap(), "1");
        r.write_handler("s.switch", "0").unwrap();
        r.push_to("s", 0, b.batch(&[b"z"])).unwrap();
        assert_eq!(collected_bytes("o"), [b"z"]);
        // An input that does not exist drops everything.
        r.write_handler("s.switch", "2").unwrap();
        assert_eq!(r.read_handler("s.switch").unwrap(), "-1");
        r.push_to("s", 0, b.batch(&[b"w"])).unwrap();
        assert_eq!(r.read_handler("s.drops").unwrap(), "2");
        assert_eq!(b.pool.stats().free, 64);
        let bad = graph(
            &[
                ("s", "InputSwitch", "2"),
                ("o", "Discard", ""),
                ("i", "Idle", ""),
            ],
            &[(2, 0, 0, 0), (0, 0, 1, 0)],
        );
        assert!(
            config_error(&bad).contains("input must be < 1"),
            "{}",
            config_error(&bad)
        );
    }

    #[test]
    fn static_switch() {
        let (b, mut r) = three_way("StaticSwitch", "2");
        r.push_to("s", 0, b.batch(&[b"x"])).unwrap();
        assert_eq!(collected_bytes("c"), [b"x"]);
        assert!(r.write_handler("s.switch", "0").is_err());
        let (b, mut r) = three_way("StaticSwitch", "-1");
        r.push_to("s", 0, b.batch(&[b"x"])).unwrap();
        assert_eq!(r.read_handler("s.drops").unwrap(), "1");
    }

    #[test]
    fn round_robin_goes_on_in_turn_after_hotconfig() {
        let (b, mut r) = three_way("RoundRobinSwitch", "");
        r.push_to("s", 0, b.batch(&[b"0"])).unwrap();
        assert_eq!(collected_bytes("a"), [b"0"]);
        let g = graph(
            &[
                ("s", "RoundRobinSwitch", ""),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 2, 0), (0, 2, 3, 0)],
        );
        hotswap(&mut r, &g).unwrap();
        r.push_to("s", 0, b.batch(&[b"1", b"2", b"3"])).unwrap();
        assert_eq!(collected_bytes("b"), [b"1"]);
        assert_eq!(collected_bytes("c"), [b"2"]);
        assert_eq!(collected_bytes("a"), [b"3"]);
    }

    #[test]
    fn round_robin() {
        let (b, mut r) = three_way("RoundRobinSwitch", "");
        r.push_to("s", 0, b.batch(&[b"0", b"1", b"2", b"3"]))
            .unwrap();
        assert_eq!(collected_bytes("a"), [b"0", b"3"]);
        assert_eq!(collected_bytes("b"), [b"1"]);
        assert_eq!(collected_bytes("c"), [b"2"]);
    }

    #[test]
    fn hash_like_click() {
        // Three outputs: sum % 3. Bytes 1..2 of each packet.
        let (b, mut r) = three_way("HashSwitch", "1, 2");
        r.push_to("s", 0, b.batch(&[&[9, 1, 1], &[9, 2, 2], &[9, 0, 2], &[9]]))
            .unwrap();
        assert_eq!(collected_bytes("a"), [[9]], "too short: output 0");
        assert_eq!(collected_bytes("b"), [[9, 2, 2]], "4 % 3 = 1");
        assert_eq!(collected_bytes("c"), [[9, 1, 1], [9, 0, 2]], "2 % 3 = 2");
    }

    #[test]
    fn hash_power_of_two() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("s", "HashSwitch", "0, 1"),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        // 0x11: (17 ^ 1) & 1 = 0; 0x10: (16 ^ 1) & 1 = 1; 0x01: (1 ^ 0) & 1 = 1.
        r.push_to("s", 0, b.batch(&[&[0x11], &[0x10], &[0x01]]))
            .unwrap();
        assert_eq!(collected_bytes("a"), [[0x11]]);
        assert_eq!(collected_bytes("b"), [[0x10], [0x01]]);
        assert!(config_error(&graph(&[("s", "HashSwitch", "0, 0")], &[])).contains("LENGTH"));
    }

    #[test]
    fn random_is_spread() {
        let counts = || {
            let (b, mut r) = three_way("RandomSwitch", "");
            let mut n = [0; 3];
            for _ in 0..10 {
                let frames: alloc::vec::Vec<&[u8]> = alloc::vec![b"x"; 30];
                r.push_to("s", 0, b.batch(&frames)).unwrap();
                for (k, name) in ["a", "b", "c"].iter().enumerate() {
                    n[k] += collected(name).len();
                }
            }
            n
        };
        let first = counts();
        assert_eq!(first.iter().sum::<usize>(), 300);
        assert!(first.iter().all(|&n| n > 70), "{first:?}");
    }
}
