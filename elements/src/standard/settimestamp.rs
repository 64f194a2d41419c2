//! `SetTimestamp([TIMESTAMP, keyword FIRST])` — sets the timestamp annotation.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Sets each packet's timestamp annotation to TIMESTAMP (seconds since the epoch, as
//! `sec.frac`), or, without TIMESTAMP, to the current time when the packet arrives.
//!
//! **Keywords:**
//!
//! - `FIRST` — boolean; default false. Only false is supported.
//!
//! **Example:** `FromDevice(0) -> SetTimestamp -> Queue -> DelayUnqueue(10ms) -> ...`
//!
//! **Differences from Click:** sluice has no "first timestamp" annotation, so `FIRST true`
//! is a configuration error. `DELTA` is refused, as in Click.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use core::time::Duration;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass};

/// The element class.
pub static SetTimestamp: ElementClass = ElementClass {
    name: "SetTimestamp",
    ports: "1/1",
    processing: "a",
    make,
    names: None,
};

struct SetTimestampElement {
    /// The fixed timestamp in nanoseconds; `None`: the time of arrival.
    fixed_ns: Option<u64>,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let ts = a.read_p::<Duration>("TIMESTAMP");
    let first = a.read_k::<bool>("FIRST").unwrap_or(false);
    let delta = a.read_k::<bool>("DELTA").unwrap_or(false);
    if delta {
        a.error_whole("SetTimestamp(DELTA) is deprecated, use SetTimestampDelta(TYPE FIRST)");
        return None;
    }
    if first {
        a.error_whole("FIRST true is not supported: there is no first timestamp annotation");
        return None;
    }
    let fixed_ns = ts.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Some(Box::new(SetTimestampElement { fixed_ns }))
}

impl Element for SetTimestampElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, mut batch: Batch) {
        let ts = self.fixed_ns.unwrap_or_else(|| ctx.now());
        for p in &mut batch {
            p.anno_mut().timestamp_ns = ts;
        }
        ctx.output_batch(0, batch);
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn stamped(config: &str) -> u64 {
        let mut h = Harness::new(Bench::new(), &[("t", "SetTimestamp", config, 1, 1)]).unwrap();
        let p = h.packet(&[0u8; 20]);
        h.push(0, p);
        h.take()[0].anno.timestamp_ns
    }

    #[test]
    fn sets_a_fixed_timestamp_or_the_arrival_time() {
        assert_eq!(stamped("12.5"), 12_500_000_000);
        assert_eq!(stamped(""), 1_000_000_000, "the bench clock's time");
    }

    #[test]
    fn unsupported_keywords_are_configuration_errors() {
        for config in ["FIRST true", "DELTA true", "yesterday"] {
            let e = Harness::new(Bench::new(), &[("t", "SetTimestamp", config, 1, 1)]).err();
            assert!(e.is_some(), "{config}");
        }
    }
}
