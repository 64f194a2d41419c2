//! `Shaper(RATE)` — lets packets be pulled at no more than RATE a second.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `l/l`: pull.
//!
//! A pull on output 0 is answered from the input only while the packets pulled so far keep
//! within RATE packets per second; otherwise it gets nothing. Time is reckoned in whole
//! seconds: within a second, the packets that may have passed by each microsecond grow
//! steadily, a Shaper that fell behind may catch up within the second, and the allowance
//! starts over at each new second. Unlike a `RatedUnqueue`, Shaper has no task: it passes
//! packets only as fast as it is pulled. A pull on output 1 is answered from the input
//! exactly when one on output 0 would not be, so output 1 carries the packets that the
//! rate holds back (RATE 0 lets a single packet through output 0).
//!
//! The time is read afresh for every pull. RATE is an unsigned integer, at most
//! 4096000000.
//!
//! **Handlers:** `rate` (rw: writing sets a new RATE, keeping the count of the current
//! second), `config` (r: RATE), `reset` (w: forgets the packets counted so far).
//!
//! **Example:** `Queue -> Shaper(1000) -> ToDevice(eth0)`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError,
};

use super::common::parse_value;
use super::gaprate::{GapRate, MAX_RATE};

/// The element class.
pub static Shaper: ElementClass = ElementClass {
    name: "Shaper",
    ports: "1/1-2",
    processing: "l/l",
    make,
    names: None,
};

struct ShaperElement {
    rate: GapRate,
}

fn read_rate(a: &mut Args<'_>) -> Option<u32> {
    let rate = a.read_mp::<u32>("RATE")?;
    if rate > MAX_RATE {
        a.error_whole(format!("rate too large; lowered to {MAX_RATE}"));
        return None;
    }
    Some(rate)
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let rate = read_rate(a)?;
    Some(Box::new(ShaperElement {
        rate: GapRate::new(rate),
    }))
}

impl Element for ShaperElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn pull(&mut self, ctx: &mut Context<'_>, port: usize, max: usize) -> Option<Batch> {
        let mut out = Batch::new();
        while out.len() < max && !out.is_full() {
            let due = self.rate.need_update(ctx.now_precise());
            let p = match (port, due) {
                (0, true) => {
                    let p = ctx.pull(0, 1).and_then(|mut b| b.pop());
                    if p.is_some() {
                        self.rate.update();
                    }
                    p
                }
                (1, false) => ctx.pull(0, 1).and_then(|mut b| b.pop()),
                _ => None,
            };
            match p {
                Some(p) => out.push(p),
                None => break,
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        matches!(name, "rate" | "config").then(|| self.rate.rate().to_string())
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "rate" => {
                let r: u32 = parse_value(name, value)?;
                if r > MAX_RATE {
                    return Err(HandlerError::BadValue(format!(
                        "rate too large; lowered to {MAX_RATE}"
                    )));
                }
                self.rate.set_rate(r, ctx.now());
            }
            "reset" => self.rate.reset(),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn reconfigure(
        &mut self,
        ctx: &mut Context<'_>,
        args: &mut Args<'_>,
    ) -> Option<alloc::vec::Vec<String>> {
        if let Some(r) = read_rate(args) {
            self.rate.set_rate(r, ctx.now());
        }
        Some(alloc::vec::Vec::new())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("rate"), Handler::write("reset")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    /// Pulls once a millisecond for `ms` milliseconds, through `Shaper(rate)`'s outputs
    /// taken in turn by a `RoundRobinSched` (output 0's packets painted 1, output 1's
    /// painted 2); returns how many came from each. `both` false leaves output 0 unpulled.
    fn shaped(rate: &str, both: bool, ms: u64) -> (usize, usize) {
        let b = Bench::new().pool(1024, 0).clock_at(1_000_000_000);
        let mut conns = alloc::vec![
            (0, 0, 1, 0),
            (2, 0, 4, 0),
            (1, 1, 3, 0),
            (3, 0, 4, 1),
            (4, 0, 5, 0),
            (5, 0, 6, 0),
        ];
        if both {
            conns.push((1, 0, 2, 0));
        } else {
            conns.extend([(1, 0, 7, 0), (7, 0, 2, 0)]);
        }
        let g = graph(
            &[
                ("src", "InfiniteSource", "LIMIT -1"),
                ("s", "Shaper", rate),
                ("p1", "Paint", "1"),
                ("p2", "Paint", "2"),
                ("rr", "RoundRobinSched", ""),
                ("u", "Unqueue", ""),
                ("c", "Collect", ""),
                ("i", "Idle", ""),
            ],
            &conns,
        );
        let mut r = b.router(&g).unwrap();
        let (mut one, mut two) = (0, 0);
        for _ in 0..ms {
            b.clock.advance(1_000_000);
            r.run_rounds(1);
            for p in collected("c") {
                match p.anno.paint {
                    1 => one += 1,
                    _ => two += 1,
                }
            }
        }
        (one, two)
    }

    #[test]
    fn output_0_keeps_to_the_rate_and_output_1_takes_the_rest() {
        let (one, two) = shaped("100", true, 500);
        assert!((49..=52).contains(&one), "{one}");
        assert!(one + two >= 495, "{one} + {two}");
        let (one, _) = shaped("250", true, 200);
        assert!((49..=52).contains(&one), "{one}");
        // Only pulls on output 0 count against the rate: left alone, output 1 finds the
        // Shaper always due, and gets nothing.
        assert_eq!(shaped("100", false, 100), (0, 0));
    }

    #[test]
    fn handlers_and_errors() {
        let b = Bench::new();
        let g = graph(
            &[
                ("i", "Idle", ""),
                ("s", "Shaper", "1000"),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let r = b.router(&g).unwrap();
        assert_eq!(r.read_handler("s.rate").unwrap(), "1000");
        r.write_handler("s.rate", "500").unwrap();
        assert_eq!(r.read_handler("s.config").unwrap(), "500");
        r.write_handler("s.reset", "").unwrap();
        assert!(r.write_handler("s.rate", "fast").is_err());
        assert!(r.write_handler("s.rate", "5000000000").is_err());
        let bad = |cfg: &str| {
            config_error(&graph(
                &[
                    ("i", "Idle", ""),
                    ("s", "Shaper", cfg),
                    ("d", "Discard", ""),
                ],
                &[(0, 0, 1, 0), (1, 0, 2, 0)],
            ))
        };
        assert!(bad("").contains("RATE"));
        assert!(bad("-3").contains("RATE"));
        assert!(bad("4096000001").contains("rate too large"));
    }
}
