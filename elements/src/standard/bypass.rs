//! `Bypass([ACTIVE, keywords INLINE])` — sends packets through an optional detour.
//!
//! **Ports:** `1-2/1-2`: one or two inputs, one or two outputs.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! While inactive (the default), Bypass passes packets through from input 0 to output 0,
//! like `Null`. While ACTIVE, a push Bypass sends the packets arriving on input 0 out of
//! output 1 instead, and a pull Bypass answers pulls on output 0 from input 1 instead. The
//! second input of a push Bypass (the second output of a pull one) joins the detour back
//! onto the main path: packets pushed into input 1 leave by output 0, and pulls on
//! output 1 are answered from input 0. So
//!
//! ```text
//! src -> b :: Bypass -> sink;  b [1] -> Print(detour) -> [1] b;
//! ```
//!
//! sends the packets through the `Print` exactly while `b.active` is true, whether the path
//! is push or pull. With a single output (push) or a single input (pull), Bypass never
//! detours.
//!
//! **Keywords:**
//!
//! - `INLINE` — boolean; accepted for compatibility. Bypass always stays in the packets'
//!   path here, which behaves the same as a Bypass that rewires its neighbours. Default
//!   false.
//!
//! **Handlers:** `active` (rw).
//!
//! **Example:** `FromDevice(0) -> b :: Bypass -> ToDevice(1);  b [1] -> Print -> [1] b;`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::bool_str;

/// The element class.
pub static Bypass: ElementClass = ElementClass {
    name: "Bypass",
    ports: "1-2/1-2",
    processing: "a/a",
    make,
    names: None,
};

struct BypassElement {
    active: bool,
    ninputs: usize,
}

fn make(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let active = a.read_p::<bool>("ACTIVE").unwrap_or(false);
    let _inline = a.read_k::<bool>("INLINE");
    Some(Box::new(BypassElement {
        active,
        ninputs: c.ninputs,
    }))
}

impl Element for BypassElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        let out = usize::from(self.active && port == 0 && ctx.noutputs() > 1);
        ctx.output_batch(out, batch);
    }

    fn routes_pulls(&self) -> bool {
        true
    }

    #[inline]
    fn pull_route(&self, port: usize) -> Option<usize> {
        Some(usize::from(self.active && port == 0 && self.ninputs > 1))
    }

    #[inline]
    fn pull(&mut self, ctx: &mut Context<'_>, port: usize, max: usize) -> Option<Batch> {
        let input = usize::from(self.active && port == 0 && ctx.ninputs() > 1);
        ctx.pull(input, max)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "active").then(|| bool_str(self.active))
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "active" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.active = <bool as sluice_config::args::FromArg>::from_arg(value.trim(), None)
            .map_err(|_| HandlerError::BadValue("syntax error".into()))?;
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("active")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use alloc::vec::Vec;

    /// A Bypass whose detour paints packets 9; returns the paint of what reached the end.
    fn run(pull: bool, active: bool, single: bool) -> Vec<u8> {
        let b = Bench::new().pool(16, 0);
        let mut elements = alloc::vec![
            ("s", "InfiniteSource", "LIMIT 3, STOP false"),
            ("b", "Bypass", if active { "true" } else { "" }),
            ("p", "Paint", "9"),
            ("c", "Collect", ""),
        ];
        let mut conns = alloc::vec![(0, 0, 1, 0), (1, 0, 3, 0)];
        if pull {
            elements.insert(1, ("q", "Queue", ""));
            elements.push(("u", "Unqueue", ""));
            // s -> q -> b -> u -> c; b[1] -> p -> [1]b.
            conns = alloc::vec![(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 5, 0), (5, 0, 4, 0)];
            if !single {
                conns.extend([(2, 1, 3, 0), (3, 0, 2, 1)]);
            }
        } else if !single {
            conns.extend([(1, 1, 2, 0), (2, 0, 1, 1)]);
        }
        let mut r = b.router(&graph(&elements, &conns)).unwrap();
        r.run_rounds(10);
        collected("c").iter().map(|p| p.anno.paint).collect()
    }

    #[test]
    fn active_bypass_detours_push_and_pull() {
        for pull in [false, true] {
            assert_eq!(run(pull, false, false), [0, 0, 0], "inactive, pull {pull}");
            assert_eq!(run(pull, true, false), [9, 9, 9], "active, pull {pull}");
            assert_eq!(
                run(pull, true, true),
                [0, 0, 0],
                "no detour port, pull {pull}"
            );
        }
    }

    #[test]
    fn active_handler() {
        let b = Bench::new();
        let g = graph(
            &[
                ("i", "Idle", ""),
                ("b", "Bypass", "INLINE true"),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let r = b.router(&g).unwrap();
        assert_eq!(r.read_handler("b.active").unwrap(), "false");
        r.write_handler("b.active", "true").unwrap();
        assert_eq!(r.read_handler("b.active").unwrap(), "true");
        assert!(r.write_handler("b.active", "maybe").is_err());
        assert_eq!(r.read_handler("b.active").unwrap(), "true");
        let bad = graph(
            &[("i", "Idle", ""), ("b", "Bypass", "perhaps")],
            &[(0, 0, 1, 0)],
        );
        assert!(config_error(&bad).contains("ACTIVE"));
    }
}
