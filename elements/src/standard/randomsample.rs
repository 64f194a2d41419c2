//! `RandomSample([P, keywords SAMPLE, DROP, ACTIVE])` — lets packets through with a probability.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Sends each packet to output 0 with probability P (the sampling probability, between 0
//! and 1); the others are dropped, or leave on output 1 if it exists, and are counted in
//! `drops`. Give P, or one of the keywords SAMPLE and DROP. The draw is Click's: the
//! router's random sequence (`RandomSeed` makes runs repeat), its low 28 bits compared with
//! P in 28-bit fixed point, so a seeded configuration samples the same packets as in
//! Click. When inactive, every packet goes to output 0 and nothing is drawn.
//!
//! **Keywords:**
//!
//! - `SAMPLE`: the sampling probability (same as P).
//! - `DROP`: the drop probability, 1 minus the sampling probability.
//! - `ACTIVE`: bool, default true.
//!
//! **Handlers:** `sampling_prob` (rw), `drop_prob` (rw), `active` (rw), `drops` (r),
//! `config` (r: `SAMPLE P, ACTIVE B`).
//!
//! **Example:** `RandomSample(DROP 0.01)` loses one packet in a hundred.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::{bool_str, parse_fixed, parse_value, unparse_fixed};

/// Fraction bits of the probabilities (Click's `SAMPLING_SHIFT`).
const SHIFT: u32 = 28;
const ONE: u32 = 1 << SHIFT;
const MASK: u32 = ONE - 1;

/// A probability in `SHIFT`-bit fixed point, or an error naming `what`.
fn parse_prob(text: &str, what: &str) -> Result<u32, String> {
    match parse_fixed(text.trim(), SHIFT) {
        Some(p) if p <= ONE => Ok(p),
        _ => Err(format!(
            "{what}: '{}' is not a probability between 0 and 1",
            text.trim()
        )),
    }
}

struct RandomSampleElement {
    /// Out of [`ONE`].
    sampling: u32,
    active: bool,
    drops: u64,
}

const HANDLERS: &[Handler] = &[
    Handler::read_write("sampling_prob"),
    Handler::read_write("drop_prob"),
    Handler::read_write("active"),
    Handler::read("drops"),
    Handler::read("config"),
];

impl Element for RandomSampleElement {
    fn effects(&self) -> Effects {
        Effects::Random
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        if !self.active {
            ctx.output_batch(0, batch);
            return;
        }
        let rest = ctx.noutputs() > 1;
        for p in batch {
            if ctx.random() & MASK < self.sampling {
                ctx.output(0, p);
            } else {
                self.drops += 1;
                if rest {
                    ctx.output(1, p);
                }
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "sampling_prob" => unparse_fixed(self.sampling, SHIFT),
            "drop_prob" => unparse_fixed(ONE - self.sampling, SHIFT),
            "active" => bool_str(self.active),
            "drops" => self.drops.to_string(),
            "config" => format!(
                "SAMPLE {}, ACTIVE {}",
                unparse_fixed(self.sampling, SHIFT),
                bool_str(self.active)
            ),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "sampling_prob" => {
                self.sampling = parse_prob(value, name).map_err(HandlerError::BadValue)?;
            }
            "drop_prob" => {
                self.sampling = ONE - parse_prob(value, name).map_err(HandlerError::BadValue)?;
            }
            "active" => self.active = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let p: Option<String> = a.read_p("P");
    let sample: Option<String> = a.read_k("SAMPLE");
    let drop: Option<String> = a.read_k("DROP");
    let active = a.read_k::<bool>("ACTIVE").unwrap_or(true);
    let sampling = match (p.or(sample), drop) {
        (Some(_), Some(_)) => {
            a.error_whole("give at most one of SAMPLE and DROP");
            return None;
        }
        (Some(s), None) => parse_prob(&s, "SAMPLE"),
        (None, Some(d)) => parse_prob(&d, "DROP").map(|d| ONE - d),
        (None, None) => Err("give the sampling probability (P, SAMPLE or DROP)".into()),
    };
    match sampling {
        Ok(sampling) => Some(Box::new(RandomSampleElement {
            sampling,
            active,
            drops: 0,
        })),
        Err(e) => {
            a.error_whole(e);
            None
        }
    }
}

/// `RandomSample`: see the module docs.
pub static RandomSample: ElementClass = ElementClass {
    name: "RandomSample",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use crate::testutil::{Bench, Harness};

    fn rig(config: &str, outputs: usize) -> Result<Harness, String> {
        Harness::new(
            Bench::new(),
            &[
                ("rs", "RandomSample", config, 1, outputs),
                ("seed", "RandomSeed", "1", 0, 0),
            ],
        )
    }

    fn ports(h: &mut Harness, n: usize) -> [usize; 2] {
        for _ in 0..n {
            h.push(0, h.packet(b"x"));
        }
        let mut count = [0; 2];
        for o in h.take() {
            count[o.port] += 1;
        }
        count
    }

    #[test]
    fn samples_with_the_probability_and_counts_the_rest() {
        let mut h = rig("0.25", 2).unwrap();
        let [kept, rest] = ports(&mut h, 4000);
        assert_eq!(kept + rest, 4000);
        assert!((800..1200).contains(&kept), "{kept} of 4000 at 0.25");
        assert_eq!(h.read("drops"), rest.to_string());
        assert_eq!(h.read("sampling_prob"), "0.25");
        assert_eq!(h.read("drop_prob"), "0.75");
        assert_eq!(h.read("config"), "SAMPLE 0.25, ACTIVE true");

        // The same seed samples the same packets.
        let mut again = rig("SAMPLE 0.25", 2).unwrap();
        assert_eq!(ports(&mut again, 4000), [kept, rest]);
    }

    #[test]
    fn drop_zero_and_inactive_keep_everything() {
        let mut h = rig("DROP 0", 1).unwrap();
        assert_eq!(ports(&mut h, 100), [100, 0]);
        let mut h = rig("DROP 1", 1).unwrap();
        assert_eq!(ports(&mut h, 100), [0, 0]);
        assert_eq!(h.read("drops"), "100");
        h.write("active", "false").unwrap();
        assert_eq!(ports(&mut h, 10), [10, 0]);
        h.write("active", "true").unwrap();
        h.write("drop_prob", "0").unwrap();
        assert_eq!(ports(&mut h, 10), [10, 0]);
        assert_eq!(h.read("sampling_prob"), "1");
        assert!(h.write("sampling_prob", "1.5").is_err());
        assert!(h.write("drop_prob", "-0.1").is_err());
        assert!(h.write("active", "maybe").is_err());
    }

    #[test]
    fn bad_arguments_are_errors() {
        for (cfg, want) in [
            ("", "sampling probability"),
            ("SAMPLE 0.5, DROP 0.5", "at most one"),
            ("0.5, DROP 0.1", "at most one"),
            ("2", "between 0 and 1"),
            ("DROP x", "DROP"),
            ("0.5, ACTIVE perhaps", "ACTIVE"),
        ] {
            let e = rig(cfg, 1).err().unwrap_or_default();
            assert!(e.contains(want), "{cfg}: {e}");
        }
    }
}
