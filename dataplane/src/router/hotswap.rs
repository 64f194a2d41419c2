//! Installing a new configuration in a running router (Click's `hotconfig`).
//!
//! The new router is built and initialized beside the old one, over the same packet pool,
//! clock, devices and console. If that fails, nothing changes: the old router runs on and
//! the diagnostics say why. Otherwise each new element takes the state of the old element
//! of the same name ([`Element::take_state`](crate::Element::take_state)), the old router
//! is cleaned up, and the new one takes its place. A swap happens between scheduler
//! slices, when every pushed packet has reached its end, so the only packets in the old
//! graph are those its elements hold (queues), which their successors take over.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sluice_config::{Diagnostics, FlatGraph};

use crate::clock::Clock;
use crate::console::Console;
use crate::element::ElementClass;

use super::{Parts, Router};

/// What the old router holds while its parts serve the router being built: a clock that
/// stands still and a console that drops what it is given. The old router runs no element
/// meanwhile.
struct Parked(u64);

impl Clock for Parked {
    fn now_ns(&self) -> u64 {
        self.0
    }
}

impl Console for Parked {
    fn write_line(&mut self, _line: &str) {}
}

impl Router {
    /// Replaces this router's configuration with `graph` while keeping the elements'
    /// state (see the module documentation). Returns the warnings of the state transfer
    /// (packets a smaller queue could not take), each naming its element. On error this
    /// router is unchanged and still running.
    ///
    /// Call it between [`run_slice`](Self::run_slice)s (a handler write from inside an
    /// element cannot replace the router it runs in).
    pub fn hotswap(
        &mut self,
        graph: &FlatGraph,
        classes: &[&'static ElementClass],
    ) -> Result<Vec<String>, Diagnostics> {
        self.hotswap_prepared(graph, classes, &[])
    }

    /// As [`hotswap`](Self::hotswap), with what [`prepare`](super::prepare) computed for
    /// each element (a VM receives the new graph prepared by `sluice build`).
    pub fn hotswap_prepared(
        &mut self,
        graph: &FlatGraph,
        classes: &[&'static ElementClass],
        prepared: &[Option<&[u8]>],
    ) -> Result<Vec<String>, Diagnostics> {
        self.core.drain();
        let parts = self.park();
        let mut new = match Router::build(graph, classes, parts, prepared, &self.core.nodes) {
            Ok(r) => r,
            Err((diags, parts)) => {
                self.unpark(parts);
                return Err(diags);
            }
        };
        let warnings = new.take_state_from(self);
        // The old router is cleaned up on its own parts (a `ToDevice` flushes to its
        // device, a `Print` summary reaches the console), then hands them on.
        self.swap_parts(&mut new);
        self.cleanup();
        self.swap_parts(&mut new);
        new.core
            .unrouted_drops
            .set(new.core.unrouted_drops.get() + self.core.unrouted_drops.get());
        new.core.configuration = core::mem::take(&mut self.core.configuration);
        new.core.hotconfig = self.core.hotconfig;
        *self = new;
        Ok(warnings)
    }

    /// Lends this router's parts out, leaving placeholders.
    fn park(&mut self) -> Parts {
        let core = &mut self.core;
        let now = core.now.get();
        Parts {
            pool: core.pool.clone(),
            clock: core::mem::replace(&mut core.clock, Box::new(Parked(now))),
            devices: core::mem::take(&mut core.devices),
            opener: core.opener.take(),
            console: core::mem::replace(core.console.get_mut(), Box::new(Parked(now))),
        }
    }

    /// Takes back the parts [`park`](Self::park) lent.
    fn unpark(&mut self, parts: Parts) {
        let core = &mut self.core;
        core.clock = parts.clock;
        core.devices = parts.devices;
        core.opener = parts.opener;
        *core.console.get_mut() = parts.console;
    }

    fn swap_parts(&mut self, other: &mut Router) {
        let (a, b) = (&mut self.core, &mut other.core);
        core::mem::swap(&mut a.clock, &mut b.clock);
        core::mem::swap(&mut a.devices, &mut b.devices);
        core::mem::swap(&mut a.opener, &mut b.opener);
        core::mem::swap(a.console.get_mut(), b.console.get_mut());
    }

    /// Lets each element take the state of `old`'s element of the same name, in
    /// initialization order.
    fn take_state_from(&mut self, old: &mut Router) -> Vec<String> {
        // Names sorted with their positions, searched by bisection: a map type would add
        // kilobytes of code to VM images, which swap configurations too.
        let by_name: Vec<(String, usize)> = sluice_config::heap_sorted(
            old.core
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect(),
        );
        let (mut order, rest): (Vec<usize>, Vec<usize>) = (0..self.core.nodes.len())
            .partition(|&i| self.core.nodes[i].element.get_mut().initialize_first());
        order.extend(rest);
        let mut warnings = Vec::new();
        for i in order {
            let node = &mut self.core.nodes[i];
            let at = by_name.partition_point(|(name, _)| *name < node.name);
            let Some(&(_, j)) = by_name.get(at).filter(|(name, _)| *name == node.name) else {
                continue;
            };
            let old_node = &mut old.core.nodes[j];
            let mut mine = Vec::new();
            node.element
                .get_mut()
                .take_state(&mut **old_node.element.get_mut(), &mut mine);
            for w in mine {
                warnings.push(format!("{} :: {}: {w}", node.name, node.class));
            }
        }
        warnings
    }
}
