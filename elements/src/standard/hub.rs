//! `Hub()` — duplicates packets like a hub: to every output but the one matching the input.
//!
//! **Ports:** `-/=`: any number of inputs, as many outputs.
//!
//! **Processing:** `h`: push.
//!
//! A packet arriving on input N leaves on every output except output N, as an Ethernet hub
//! repeats a frame on every port but the one it came in on (Hub looks at no header). The
//! outputs are served in order; the last of them gets the packet itself and the others get
//! copies. With a single port, packets are dropped.
//!
//! **Handlers:** `clone_failures` (r: copies not made because the packet pool was empty).
//!
//! **Example:**
//!
//! ```text
//! h :: Hub;
//! FromDevice(eth0) -> [0]h[0] -> ToDevice(eth0);
//! FromDevice(eth1) -> [1]h[1] -> ToDevice(eth1);
//! FromDevice(eth2) -> [2]h[2] -> ToDevice(eth2);
//! ```
//!
//! **Differences from Click:** a copy is a new pool buffer; when the pool is empty the copy
//! is skipped and counted in `clone_failures`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler};

/// `Hub`.
pub static Hub: ElementClass = ElementClass {
    name: "Hub",
    ports: "-/=",
    processing: "h",
    make,
    names: None,
};

struct HubElement {
    clone_failures: u64,
}

fn make(_: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(HubElement { clone_failures: 0 }))
}

impl Element for HubElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        let n = ctx.noutputs();
        // The packet itself goes to the last output other than `port`.
        let last = if port + 1 == n {
            n.checked_sub(2)
        } else {
            n.checked_sub(1)
        };
        let Some(last) = last else {
            return;
        };
        for out in (0..last).filter(|&o| o != port) {
            for p in &batch {
                match p.try_clone() {
                    Some(q) => ctx.output(out, q),
                    None => self.clone_failures += 1,
                }
            }
        }
        ctx.output_batch(last, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "clone_failures").then(|| self.clone_failures.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("clone_failures")];
        H
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use crate::testutil::{Bench, Harness};

    #[test]
    fn every_output_but_the_input_port() {
        let mut h = Harness::new(Bench::new().pool(16, 0), &[("h", "Hub", "", 4, 4)]).unwrap();
        for port in 0..4u8 {
            let mut p = h.packet(&[port]);
            p.anno_mut().paint = 7;
            h.push(port as usize, p);
        }
        let got: Vec<(usize, u8, u8)> = h
            .take()
            .iter()
            .map(|o| (o.port, o.data[0], o.anno.paint))
            .collect();
        let want: Vec<(usize, u8, u8)> = (0..4u8)
            .flat_map(|i| {
                (0..4usize)
                    .filter(move |&o| o != usize::from(i))
                    .map(move |o| (o, i, 7))
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(h.bench.pool.stats().free, 16, "every buffer came back");
        assert_eq!(h.read("clone_failures"), "0");
    }

    #[test]
    fn one_port_drops_and_an_empty_pool_skips_copies() {
        let mut h = Harness::new(Bench::new().pool(4, 0), &[("h", "Hub", "", 1, 1)]).unwrap();
        let p = h.packet(b"x");
        h.push(0, p);
        assert!(h.take().is_empty());
        assert_eq!(h.bench.pool.stats().free, 4);

        let mut h = Harness::new(Bench::new().pool(2, 0), &[("h", "Hub", "", 3, 3)]).unwrap();
        let a = h.packet(b"a");
        let b = h.packet(b"b");
        h.push(0, a);
        let out: Vec<usize> = h.take().iter().map(|o| o.port).collect();
        // Both buffers are in use, so the copy for output 1 cannot be made.
        assert_eq!(out, [2]);
        assert_eq!(h.read("clone_failures"), "1");
        drop(b);
    }
}
