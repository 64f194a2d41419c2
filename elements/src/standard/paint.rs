//! `Null()` — passes packets unchanged.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Passes every packet on.
//!
//! ## `PushNull()` — passes packets unchanged, push only.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `h`: push.
//!
//! `Null` with push ports: a configuration that connects it to a pull port is an error.
//!
//! ## `PullNull()` — passes packets unchanged, pull only.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l`: pull.
//!
//! `Null` with pull ports: each pull on its output pulls from its input.
//!
//! ## `Paint(COLOR [, ANNO])` — sets the paint annotation.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Sets each packet's paint annotation to COLOR, an integer 0..255.
//!
//! **Handlers:** `color` (rw).
//!
//! **Example:** `FromDevice(0) -> Paint(0) -> ...; FromDevice(1) -> Paint(1) -> ...`
//!
//! **Differences from Click:** `ANNO` may only name the paint annotation (`PAINT`,
//! `PAINT_ANNO`, or Click's default offset 16); sluice's annotations are named fields, not
//! an array of bytes.
//!
//! ## `PaintSwitch([ANNO])` — sends packets out of the output their paint names.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sends each packet out of the output numbered by its paint annotation; a packet whose
//! paint names no output is dropped (and counted in `drops`).
//!
//! **Handlers:** `drops` (r).
//!
//! **Example:** `FromDevice(0) -> Paint(0) -> ...; FromDevice(1) -> Paint(1) -> ...;
//! ... -> ps :: PaintSwitch; ps[0] -> ToDevice(0); ps[1] -> ToDevice(1)`
//!
//! **Differences from Click:** `ANNO` may only name the paint annotation, as for `Paint`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::parse_value;

/// `Null`.
pub static Null: ElementClass = ElementClass {
    name: "Null",
    ports: "1/1",
    processing: "a",
    make: make_null,
    names: None,
};

/// `PushNull`.
pub static PushNull: ElementClass = ElementClass {
    name: "PushNull",
    ports: "1/1",
    processing: "h",
    make: make_null,
    names: None,
};

/// `PullNull`.
pub static PullNull: ElementClass = ElementClass {
    name: "PullNull",
    ports: "1/1",
    processing: "l",
    make: make_null,
    names: None,
};

/// `Paint`.
pub static Paint: ElementClass = ElementClass {
    name: "Paint",
    ports: "1/1",
    processing: "a",
    make: make_paint,
    names: None,
};

/// `PaintSwitch`.
pub static PaintSwitch: ElementClass = ElementClass {
    name: "PaintSwitch",
    ports: "1/-",
    processing: "h",
    make: make_paintswitch,
    names: None,
};

struct NullElement;

fn make_null(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(NullElement))
}

impl Element for NullElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        ctx.output_batch(0, batch);
    }
}

/// Reads the optional `ANNO` argument, which must name the paint annotation.
fn read_anno(a: &mut Args<'_>) -> Option<()> {
    match a.read_p::<String>("ANNO").as_deref() {
        None | Some("PAINT" | "PAINT_ANNO" | "16") => Some(()),
        Some(other) => {
            a.error_whole(alloc::format!(
                "ANNO: '{other}' is not supported; only the paint annotation (PAINT)"
            ));
            None
        }
    }
}

struct PaintElement {
    color: u8,
}

fn make_paint(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let color = a.read_mp::<u8>("COLOR");
    read_anno(a)?;
    Some(Box::new(PaintElement { color: color? }))
}

impl Element for PaintElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, mut batch: Batch) {
        for p in &mut batch {
            p.anno_mut().paint = self.color;
        }
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "color").then(|| self.color.to_string())
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "color" => self.color = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("color")];
        H
    }
}

struct PaintSwitchElement {
    drops: u64,
}

fn make_paintswitch(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    read_anno(a)?;
    Some(Box::new(PaintSwitchElement { drops: 0 }))
}

impl Element for PaintSwitchElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let n = ctx.noutputs();
        for p in batch {
            let port = usize::from(p.anno().paint);
            if port < n {
                ctx.output(port, p);
            } else {
                self.drops += 1;
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("drops")];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn paint_then_switch() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("n", "Null", ""),
                ("p", "Paint", "1"),
                ("s", "PaintSwitch", ""),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0), (2, 1, 4, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("n", 0, b.batch(&[b"x"])).unwrap();
        assert_eq!(collected_bytes("b"), [b"x"]);
        r.write_handler("p.color", "0").unwrap();
        r.push_to("n", 0, b.batch(&[b"y"])).unwrap();
        assert_eq!(collected_bytes("a"), [b"y"]);
        r.write_handler("p.color", "7").unwrap();
        r.push_to("n", 0, b.batch(&[b"z"])).unwrap();
        assert_eq!(r.read_handler("s.drops").unwrap(), "1");
        assert_eq!(r.read_handler("p.color").unwrap(), "7");
        assert!(r.write_handler("p.color", "256").is_err());
        assert_eq!(b.pool.stats().free, 16);
    }

    #[test]
    fn push_and_pull_nulls_keep_their_processing() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("q", "Queue", ""),
                ("n", "PullNull", ""),
                ("c", "PullCollect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("q", 0, b.batch(&[b"a", b"b"])).unwrap();
        r.run_rounds(2);
        assert_eq!(collected_bytes("c"), [b"a", b"b"]);
        drop(r);
        // The graph check refuses a push element on a queue's pull output, and a pull one
        // after a push output.
        let specs = sluice_dataplane::element::class_table(&crate::all_classes());
        for (first, second) in [("Queue", "PushNull"), ("Tee", "PullNull")] {
            let g = graph(
                &[("a", first, ""), ("n", second, ""), ("d", "Discard", "")],
                &[(0, 0, 1, 0), (1, 0, 2, 0)],
            );
            let diags = sluice_config::check(&g, &specs);
            assert!(
                diags.0.iter().any(|d| d.message.contains("pull")),
                "{first} -> {second}: {:?}",
                diags.0
            );
        }
    }

    #[test]
    fn bad_arguments() {
        assert!(config_error(&graph(&[("p", "Paint", "")], &[])).contains("COLOR"));
        assert!(config_error(&graph(&[("p", "Paint", "300")], &[])).contains("COLOR"));
        assert!(config_error(&graph(&[("p", "Paint", "1, 20")], &[])).contains("ANNO"));
    }
}
