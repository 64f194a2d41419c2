//! `RandomSeed([SEED])` — fixes the router's random sequence.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a` (unused: no ports).
//!
//! Every element that draws random numbers (`RandomSwitch`, `SetRandIPAddress`) draws from
//! one sequence per router, the C library's `random()` sequence as Click uses it. The router
//! starts it from the clock; `RandomSeed(SEED)` restarts it from SEED before any other
//! element is initialized, so runs repeat exactly, and draw the same numbers as Click under
//! the same seed. Without SEED the sequence is restarted from the clock.
//!
//! **Handlers:** `seed` (r: the SEED argument as configured; w: restarts the sequence from
//! the value written, or from the clock when it is empty).
//!
//! **Differences from Click:** a source with BURST > 1 hands its packets on as one batch, so
//! when two elements in a row draw (a `RandomSwitch` after a `SetRandIPAddress`), the first
//! draws for the whole batch before the second draws; Click alternates packet by packet.
//! With Click's default BURST 1 the draws come in Click's order.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::random::clock_seed;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
};

use super::common::parse_value;

/// `RandomSeed`.
pub static RandomSeed: ElementClass = ElementClass {
    name: "RandomSeed",
    ports: "0/0",
    processing: "a",
    make,
    names: None,
};

struct Seed {
    seed: Option<u32>,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let seed = args.read_p::<u32>("SEED");
    Some(Box::new(Seed { seed }))
}

impl Element for Seed {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize_first(&self) -> bool {
        true
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.seed_random(self.seed.unwrap_or_else(|| clock_seed(ctx.now())));
        Ok(())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "seed").then(|| self.seed.map_or_else(String::new, |s| s.to_string()))
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "seed" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.seed = match value.trim() {
            "" => None,
            v => Some(parse_value::<u32>(name, v)?),
        };
        ctx.seed_random(self.seed.unwrap_or_else(|| clock_seed(ctx.now_precise())));
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("seed")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    /// The outputs a RandomSwitch picks for 8 packets after `RandomSeed(seed)`.
    fn picks(seed: &str, reseed: Option<&str>) -> alloc::vec::Vec<usize> {
        let b = Bench::new();
        let g = graph(
            &[
                ("seed", "RandomSeed", seed),
                ("s", "RandomSwitch", ""),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
                ("c", "Collect", ""),
                ("d", "Collect", ""),
            ],
            &[(1, 0, 2, 0), (1, 1, 3, 0), (1, 2, 4, 0), (1, 3, 5, 0)],
        );
        let mut r = b.router(&g).unwrap();
        if let Some(v) = reseed {
            r.write_handler("seed.seed", v).unwrap();
        }
        let frames: alloc::vec::Vec<alloc::vec::Vec<u8>> =
            (0..8u8).map(|i| alloc::vec![i]).collect();
        let refs: alloc::vec::Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        r.push_to("s", 0, b.batch(&refs)).unwrap();
        let mut out = alloc::vec![0; 8];
        for (k, name) in ["a", "b", "c", "d"].iter().enumerate() {
            for f in collected_bytes(name) {
                out[usize::from(f[0])] = k;
            }
        }
        out
    }

    #[test]
    fn the_seed_fixes_the_picks_as_in_click() {
        // click_random(0, 3) after srandom(1): random() / (2^31 / 4) of 1804289383,
        // 846930886, 1681692777, 1714636915, 1957747793, 424238335, 719885386, 1649760492.
        assert_eq!(picks("1", None), [3, 1, 3, 3, 3, 0, 1, 3]);
        assert_eq!(picks("1", None), picks("7", Some("1")));
        assert_ne!(picks("1", None), picks("2", None));
    }

    #[test]
    fn bad_seeds_are_errors() {
        assert!(config_error(&graph(&[("s", "RandomSeed", "x")], &[])).contains("SEED"));
        let b = Bench::new().pool(8, 2);
        let r = b.router(&graph(&[("s", "RandomSeed", "5")], &[])).unwrap();
        assert_eq!(r.read_handler("s.seed").unwrap(), "5");
        assert!(r.write_handler("s.seed", "-3").is_err());
        r.write_handler("s.seed", "").unwrap();
        assert_eq!(r.read_handler("s.seed").unwrap(), "");
    }
}
