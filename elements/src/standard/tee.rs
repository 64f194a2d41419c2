//! `Tee([N])` — duplicates packets.
//!
//! **Ports:** `1/1-`: one input, one or more outputs.
//!
//! **Processing:** `h`: push.
//!
//! Sends every packet out of each of its N outputs: the original on output 0 and a copy on
//! each other output. N, when given, must equal the number of outputs in use.
//!
//! **Handlers:** `clone_failures` (r: copies not made because the packet pool was empty).
//!
//! **Example:** `... -> t :: Tee(2); t[0] -> ToDevice(eth0); t[1] -> Print(copy) -> Discard;`
//!
//! **Differences from Click:** Click sends the copies on outputs 0..N-2 and the original on
//! the last output; the bytes and annotations are the same either way. A copy is a new pool
//! buffer (`Tee` is the element that may copy); when the pool is empty the copy is skipped and
//! counted in `clone_failures`.
//!
//! ## `PullTee([N])` — duplicates pulled packets.
//!
//! **Ports:** `1/1-`: one input, one or more outputs.
//!
//! **Processing:** `l/lh`: pull input; pull output 0, push outputs 1 and up.
//!
//! A packet pulled on output 0 is pulled from the input, and copies of it are pushed out of
//! the other outputs.
//!
//! **Handlers:** `clone_failures` (r: copies not made because the packet pool was empty).
//!
//! **Differences from Click:** those of `Tee`: the original leaves on output 0, and a copy the
//! pool cannot supply is skipped and counted in `clone_failures`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler};

/// `Tee`.
pub static Tee: ElementClass = ElementClass {
    name: "Tee",
    ports: "1/1-",
    processing: "h",
    make: make_tee,
    names: None,
};

/// `PullTee`.
pub static PullTee: ElementClass = ElementClass {
    name: "PullTee",
    ports: "1/1-",
    processing: "l/lh",
    make: make_pulltee,
    names: None,
};

struct TeeElement {
    clone_failures: u64,
}

fn check_n(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<()> {
    if let Some(n) = a.read_p::<u32>("N") {
        if n as usize != c.noutputs {
            a.error_whole(alloc::format!(
                "{} outputs in use, but N is {n}",
                c.noutputs
            ));
            return None;
        }
    }
    Some(())
}

fn make_tee(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    check_n(a, c)?;
    Some(Box::new(TeeElement { clone_failures: 0 }))
}

fn make_pulltee(a: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    check_n(a, c)?;
    Some(Box::new(PullTeeElement {
        tee: TeeElement { clone_failures: 0 },
    }))
}

impl TeeElement {
    /// Sends a copy of every packet of `batch` out of outputs `1..`.
    #[inline]
    fn copies(&mut self, ctx: &mut Context<'_>, batch: &Batch) {
        for port in 1..ctx.noutputs() {
            for p in batch {
                match p.try_clone() {
                    Some(q) => ctx.output(port, q),
                    None => self.clone_failures += 1,
                }
            }
        }
    }

    fn read(&self, name: &str) -> Option<String> {
        (name == "clone_failures").then(|| self.clone_failures.to_string())
    }
}

const H: &[Handler] = &[Handler::read("clone_failures")];

impl Element for TeeElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        self.copies(ctx, &batch);
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        self.read(name)
    }

    fn handlers(&self) -> &'static [Handler] {
        H
    }
}

struct PullTeeElement {
    tee: TeeElement,
}

impl Element for PullTeeElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let batch = ctx.pull(0, max)?;
        self.tee.copies(ctx, &batch);
        Some(batch)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        self.tee.read(name)
    }

    fn handlers(&self) -> &'static [Handler] {
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn tee_copies_bytes_and_annotations() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("t", "Tee", "3"),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 2, 0), (0, 2, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let mut batch = b.batch(&[b"one", b"two"]);
        batch[0].anno_mut().paint = 9;
        r.push_to("t", 0, batch).unwrap();
        for name in ["a", "b", "c"] {
            let got = collected(name);
            assert_eq!(
                got.iter()
                    .map(|p| p.data.clone())
                    .collect::<alloc::vec::Vec<_>>(),
                [b"one", b"two"]
            );
            assert_eq!(got[0].anno.paint, 9);
        }
        assert_eq!(b.pool.stats().free, 16);
    }

    #[test]
    fn pool_exhaustion_skips_copies() {
        let b = Bench::new().pool(3, 2);
        let g = graph(
            &[("t", "Tee", ""), ("a", "Collect", ""), ("b", "Collect", "")],
            &[(0, 0, 1, 0), (0, 1, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.push_to("t", 0, b.batch(&[b"1", b"2", b"3"])).unwrap();
        assert_eq!(collected("a").len(), 3, "originals always pass");
        assert_eq!(collected("b").len(), 0);
        assert_eq!(r.read_handler("t.clone_failures").unwrap(), "3");
        assert!(config_error(&graph(
            &[("t", "Tee", "3"), ("a", "Collect", "")],
            &[(0, 0, 1, 0)]
        ))
        .contains("N is 3"));
    }

    #[test]
    fn pull_tee() {
        let b = Bench::new().pool(16, 2);
        let g = graph(
            &[
                ("s", "InfiniteSource", "\\<aa>, LIMIT 2, BURST 2"),
                ("q", "Queue", ""),
                ("t", "PullTee", "2"),
                ("u", "Unqueue", "5"),
                ("a", "Collect", ""),
                ("b", "Collect", ""),
            ],
            &[
                (0, 0, 1, 0),
                (1, 0, 2, 0),
                (2, 0, 3, 0),
                (3, 0, 4, 0),
                (2, 1, 5, 0),
            ],
        );
        let mut r = b.router(&g).unwrap();
        r.run_rounds(3);
        assert_eq!(collected_bytes("a"), [[0xaa], [0xaa]]);
        assert_eq!(collected_bytes("b"), [[0xaa], [0xaa]]);
    }
}
