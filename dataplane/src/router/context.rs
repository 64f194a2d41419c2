//! The calls of an element's context that reach other elements: pulls upstream, handler
//! reads and writes by path, and finding elements by name while initializing.

use alloc::string::String;
use alloc::vec::Vec;

use crate::batch::Batch;
use crate::context::ElementInfo;
use crate::element::{Context, HandlerError, InitContext};
use crate::notifier::{Notifier, NotifierKind, Signal};

impl Context<'_> {
    /// Pulls up to `max` packets from the element connected to input `port`.
    pub fn pull(&mut self, port: usize, max: usize) -> Option<Batch> {
        self.core.pull(self.me, port, max)
    }

    /// Reads another element's handler (`DriverManager`, `Script`).
    pub fn read_handler(&self, path: &str) -> Result<String, HandlerError> {
        self.core.read_handler(path)
    }

    /// Reads another element's handler with parameters (`s.run 1 2`, `t.lookup 10.0.0.1`).
    pub fn read_handler_with(&self, path: &str, params: &str) -> Result<String, HandlerError> {
        self.core.read_handler_with(path, params)
    }

    /// Writes another element's handler.
    pub fn write_handler(&self, path: &str, value: &str) -> Result<(), HandlerError> {
        self.core.write_handler(path, value)
    }
}

impl InitContext<'_> {
    /// The signal of the full notifiers downstream of output `port` (Click's
    /// `Notifier::downstream_full_signal`): active while any queue its pushed packets reach
    /// has room. The search follows push connections through elements without a full
    /// notifier; a path that ends elsewhere (a sink such as `Discard`, a pull input) makes
    /// the signal always active.
    pub fn downstream_full_signal(&self, port: usize) -> Signal {
        self.search_notifiers(NotifierKind::Full, port)
    }

    /// The signal of the empty notifiers upstream of input `port` (Click's
    /// `Notifier::upstream_empty_signal`): active while any queue it pulls from has
    /// packets. The search follows pull connections through elements without an empty
    /// notifier; a path that ends elsewhere (a push output, a pull source) makes the
    /// signal always active.
    pub fn upstream_empty_signal(&self, port: usize) -> Signal {
        self.search_notifiers(NotifierKind::Empty, port)
    }

    fn search_notifiers(&self, kind: NotifierKind, port: usize) -> Signal {
        let downstream = kind == NotifierKind::Full;
        let mut found: Vec<Notifier> = Vec::new();
        let mut seen = alloc::vec![false; self.nodes.len()];
        seen[self.me] = true;
        // (element, port) pairs to look at: the far end of each connection.
        let first = if downstream {
            self.nodes[self.me].downstream.get(port).copied().flatten()
        } else {
            self.nodes[self.me].upstream.get(port).copied().flatten()
        };
        let mut stack: Vec<(usize, usize)> = first.into_iter().collect();
        while let Some((i, p)) = stack.pop() {
            let node = &self.nodes[i];
            let Ok(element) = node.element.try_borrow() else {
                continue;
            };
            if let Some(n) = element.notifier(kind, p) {
                found.push(n);
                continue;
            }
            // Crossing from push to pull (or back), or a path that ends: anything may happen.
            let (crossed, next) = if downstream {
                (node.in_pull[p], &node.downstream)
            } else {
                (!node.out_pull[p], &node.upstream)
            };
            if crossed || next.is_empty() {
                return Signal::Busy;
            }
            if seen[i] {
                continue;
            }
            seen[i] = true;
            for &far in next.iter().flatten() {
                stack.push(far);
            }
        }
        Signal::any(found)
    }

    /// Every element of the configuration except this one, in declaration order (an
    /// element looks up names that other elements declare, as `IPRewriterPatterns` does).
    pub fn elements(&self) -> impl Iterator<Item = ElementInfo<'_>> {
        self.nodes.iter().filter_map(|n| {
            let shared = n.element.try_borrow().ok()?.shared_state();
            Some(ElementInfo {
                name: &n.name,
                class: n.class,
                config: &n.config,
                shared,
            })
        })
    }

    /// The element of this one's name in the configuration a `hotconfig` replaces, if there
    /// is one (Click's `hotswap_element`); it is still running, and hands its state over
    /// afterwards ([`Element::take_state`](crate::Element::take_state)). An element that
    /// must not open what its predecessor holds (a `ControlSocket` listening on the same
    /// address, a `ToDump` writing the same file) looks here and leaves it to
    /// `take_state`. `None` outside a `hotconfig`.
    pub fn replacing(&self) -> Option<core::cell::Ref<'_, alloc::boxed::Box<dyn crate::Element>>> {
        let node = self.previous.iter().find(|n| n.name == self.name)?;
        node.element.try_borrow().ok()
    }

    /// Finds the element that `name` refers to, as Click resolves element names written in
    /// a configuration: inside compound `a/b`, `x` means `a/b/x`, then `a/x`, then `x`.
    /// `None` when there is no such element (or `name` is this element itself).
    pub fn element(&self, name: &str) -> Option<ElementInfo<'_>> {
        let mut prefix = self.name;
        loop {
            prefix = prefix.rsplit_once('/').map_or("", |(p, _)| p);
            let node = self.nodes.iter().find(|n| {
                if prefix.is_empty() {
                    n.name == name
                } else {
                    n.name.len() == prefix.len() + 1 + name.len()
                        && n.name.starts_with(prefix)
                        && n.name.as_bytes()[prefix.len()] == b'/'
                        && n.name.ends_with(name)
                }
            });
            if let Some(n) = node {
                let shared = n.element.try_borrow().ok()?.shared_state();
                return Some(ElementInfo {
                    name: &n.name,
                    class: n.class,
                    config: &n.config,
                    shared,
                });
            }
            if prefix.is_empty() {
                return None;
            }
        }
    }
}
