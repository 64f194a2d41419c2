//! A one-element router for golden tests: packets pushed into the element under test
//! (`dut`), what it emits collected per output port.

use alloc::string::String;

use sluice_dataplane::ElementClass;

use crate::testutil::Bench;
pub use crate::testutil::{ipv4, Harness, Out};

/// `dut`, a `class(config)` with `ninputs` inputs fed by idle sources and `noutputs`
/// recorded outputs, on a pool of `pool_size` buffers; `Err` holds the configuration
/// errors.
pub fn try_harness(
    class: &'static ElementClass,
    config: &str,
    ninputs: usize,
    noutputs: usize,
    pool_size: usize,
) -> Result<Harness, String> {
    let bench = Bench::new().pool(pool_size, 0);
    Harness::new(bench, &[("dut", class.name, config, ninputs, noutputs)])
}

/// [`try_harness`] on 64 buffers, panicking on configuration errors.
pub fn harness(
    class: &'static ElementClass,
    config: &str,
    ninputs: usize,
    noutputs: usize,
) -> Harness {
    match try_harness(class, config, ninputs, noutputs, 64) {
        Ok(h) => h,
        Err(e) => panic!("configuration failed: {e}"),
    }
}
