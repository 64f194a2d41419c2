//! `SetTimestampDelta([keywords TYPE])` — replaces packet timestamps with differences.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Replaces every nonzero timestamp annotation with a difference; packets without a
//! timestamp pass unchanged. A difference that would be negative becomes zero.
//!
//! **Keywords:**
//!
//! - `TYPE` — `RANGE` (the default): the time since the first nonzero timestamp this
//!   element saw. `NOW`: the time from the timestamp to now. (Click's `FIRST` needs a
//!   first-timestamp annotation that sluice's packets do not carry, and is an error.)
//!
//! **Handlers:** `first` (r: the first timestamp seen, 0 before any), `reset` (w: forget
//! it; the next timestamp becomes the first).
//!
//! **Example:** `FromDump(f) -> SetTimestampDelta -> ToIPSummaryDump(-, FIELDS timestamp)`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, Timestamp,
};

/// The element class.
pub static SetTimestampDelta: ElementClass = ElementClass {
    name: "SetTimestampDelta",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

struct SetTimestampDeltaElement {
    /// `TYPE NOW` rather than `RANGE`.
    now: bool,
    /// The first nonzero timestamp seen (0: none yet).
    first: u64,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let typ = a.read_k::<String>("TYPE").unwrap_or_else(|| "RANGE".into());
    let now = match typ.as_str() {
        "RANGE" => false,
        "NOW" => true,
        "FIRST" => {
            a.error_whole("TYPE FIRST is not supported (packets carry no first timestamp)");
            return None;
        }
        _ => {
            a.error_whole("bad TYPE");
            return None;
        }
    };
    Some(Box::new(SetTimestampDeltaElement { now, first: 0 }))
}

impl Element for SetTimestampDeltaElement {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, mut batch: Batch) {
        for p in &mut batch {
            let ts = &mut p.anno_mut().timestamp_ns;
            if *ts == 0 {
                continue;
            }
            if self.now {
                *ts = ctx.now_precise().saturating_sub(*ts);
            } else {
                if self.first == 0 {
                    self.first = *ts;
                }
                *ts -= self.first.min(*ts);
            }
        }
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "first").then(|| alloc::format!("{}\n", Timestamp(self.first)))
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        _: &str,
    ) -> Result<(), HandlerError> {
        if name != "reset" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.first = 0;
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("first"), Handler::write("reset")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn stamped(config: &str, stamps: &[u64], now: u64) -> alloc::vec::Vec<u64> {
        let b = Bench::new().clock_at(now);
        let g = graph(
            &[
                ("i", "Idle", ""),
                ("t", "SetTimestampDelta", config),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let mut batch = b.batch(&alloc::vec![&[0u8; 4][..]; stamps.len()]);
        for (p, &s) in batch.iter_mut().zip(stamps) {
            p.anno_mut().timestamp_ns = s;
        }
        r.push_to("t", 0, batch).unwrap();
        if config.is_empty() {
            assert_eq!(r.read_handler("t.first").unwrap(), "5.000000\n");
            r.write_handler("t.reset", "").unwrap();
            assert_eq!(r.read_handler("t.first").unwrap(), "0.000000\n");
        }
        collected("c").iter().map(|o| o.anno.timestamp_ns).collect()
    }

    #[test]
    fn timestamps_become_differences() {
        let s = 1_000_000_000;
        assert_eq!(stamped("", &[5 * s, 0, 7 * s, 4 * s], 0), [0, 0, 2 * s, 0]);
        assert_eq!(stamped("TYPE NOW", &[5 * s, 0], 9 * s), [4 * s, 0]);
        let bad = |c: &str| config_error(&graph(&[("t", "SetTimestampDelta", c)], &[]));
        assert!(bad("TYPE LATER").contains("bad TYPE"));
        assert!(bad("TYPE FIRST").contains("not supported"));
    }
}
