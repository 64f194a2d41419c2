//! A router built from Click text for the integration tests: a pool of a given size, a
//! manual clock at 1 s, and a console that records its lines.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use sluice_config::{load, Source};
use sluice_dataplane::console::MemoryConsole;
use sluice_dataplane::element::class_table;
use sluice_dataplane::{ElementClass, Environment, ManualClock, NetDevice, PacketPool, Router};

/// A router under test with what it runs on.
pub struct Run {
    pub router: Router,
    pub pool: PacketPool,
    pub console: Rc<RefCell<Vec<String>>>,
    pub clock: ManualClock,
}

/// Builds `config` with `classes` on a pool of `buffers` and `devices`; a configuration
/// error fails the test with its diagnostics.
pub fn start(
    config: &str,
    buffers: usize,
    classes: &[&'static ElementClass],
    devices: Vec<Box<dyn NetDevice>>,
) -> Run {
    let src = Source::new("test.click", config);
    let graph = load(&src, &[], &class_table(classes))
        .unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    let pool = PacketPool::new(buffers);
    let console = Rc::new(RefCell::new(Vec::new()));
    let clock = ManualClock::new(1_000_000_000);
    let env = Environment {
        pool: pool.clone(),
        clock: Box::new(clock.clone()),
        devices,
        device_opener: None,
        console: Box::new(MemoryConsole(console.clone())),
    };
    let router = Router::new(&graph, classes, env)
        .unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    Run {
        router,
        pool,
        console,
        clock,
    }
}
