//! Test scaffolding: hand-built graphs, a recording sink, and a router over a manual clock
//! and a memory console.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use sluice_config::args::Args;
use sluice_config::FlatGraph;
use sluice_dataplane::router::MemoryConsole;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Environment, ManualClock, NetDevice,
    Packet, PacketPool, Router,
};

std::thread_local! {
    static COLLECTED: RefCell<BTreeMap<String, Vec<Packet>>> = const { RefCell::new(BTreeMap::new()) };
}

/// A push sink that keeps every packet it receives, readable with [`collected`].
struct Collect {
    name: String,
}

impl Element for Collect {
    fn push(&mut self, _: &mut Context<'_>, _: usize, batch: Batch) {
        COLLECTED.with(|c| {
            c.borrow_mut()
                .entry(self.name.clone())
                .or_default()
                .extend(batch)
        });
    }
}

fn make_collect(_: &mut Args<'_>, c: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(Collect {
        name: c.name.to_string(),
    }))
}

/// `Collect`: a test sink.
pub static COLLECT: ElementClass = ElementClass {
    name: "Collect",
    ports: "1/0",
    processing: "h",
    make: make_collect,
    names: None,
};

/// Takes the packets element `name` (a `Collect`) received.
pub fn collected(name: &str) -> Vec<Packet> {
    COLLECTED.with(|c| c.borrow_mut().remove(name).unwrap_or_default())
}

/// Just the bytes of [`collected`].
pub fn collected_bytes(name: &str) -> Vec<Vec<u8>> {
    collected(name).iter().map(|p| p.data().to_vec()).collect()
}

/// A graph from `(name, class, config)` triples and `(from, port, to, port)` connections.
pub fn graph(elems: &[(&str, &str, &str)], conns: &[(usize, usize, usize, usize)]) -> FlatGraph {
    FlatGraph::from_parts(elems, conns)
}

/// What a test router runs on, kept so the test can drive time and read the console.
pub struct Bench {
    pub pool: PacketPool,
    pub clock: ManualClock,
    pub console: Rc<RefCell<Vec<String>>>,
}

impl Bench {
    pub fn new(buffers: usize) -> Self {
        Self {
            pool: PacketPool::with_large(buffers, 2),
            clock: ManualClock::new(1_000_000_000),
            console: Rc::default(),
        }
    }

    /// Builds a router over every standard class plus `Collect`.
    pub fn router(&self, g: &FlatGraph) -> Result<Router, String> {
        self.router_with(g, Vec::new())
    }

    pub fn router_with(
        &self,
        g: &FlatGraph,
        devices: Vec<Box<dyn NetDevice>>,
    ) -> Result<Router, String> {
        let mut classes: Vec<&'static ElementClass> = super::ALL.to_vec();
        classes.push(&COLLECT);
        let env = Environment {
            pool: self.pool.clone(),
            clock: Box::new(self.clock.clone()),
            devices,
            device_opener: None,
            console: Box::new(MemoryConsole(self.console.clone())),
        };
        Router::new(g, &classes, env).map_err(|d| {
            d.0.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Console lines so far (taken).
    pub fn lines(&self) -> Vec<String> {
        core::mem::take(&mut *self.console.borrow_mut())
    }

    /// A batch of packets with the given contents.
    pub fn batch(&self, frames: &[&[u8]]) -> Batch {
        frames
            .iter()
            .map(|f| self.pool.alloc_from(f).expect("pool has room"))
            .collect()
    }
}

/// The error text of a router that fails to build.
pub fn config_error(g: &FlatGraph) -> String {
    match Bench::new(8).router(g) {
        Ok(_) => panic!("configuration was accepted"),
        Err(e) => e,
    }
}
