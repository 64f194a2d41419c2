//! `RangeIPLookup(ADDR1/MASK1 [GW1] OUT1, ADDR2/MASK2 [GW2] OUT2, ...)` — an IP routing table with a very compact lookup structure.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Same arguments, behaviour and handlers as `DirectIPLookup`: longest-prefix match on the
//! destination IP annotation, the annotation replaced by the route's gateway when it has
//! one, the packet emitted on the route's output, unrouted packets dropped and counted
//! (`drops`). Each argument is a route; the first route given for a prefix is kept. Routes
//! can be added and removed at run time (`add` fails when the prefix has a route, `set`
//! replaces it, `remove`, `ctrl` for several changes applied all or nothing, and `flush`
//! to remove every route).
//!
//! Click's RangeIPLookup expands its table into sorted address ranges searched by binary
//! search, and keeps a `DirectIPLookup` table beside them for updates. sluice serves it
//! with `RadixIPLookup`'s multibit trie, whose lookup is bounded (at most four reads) and
//! whose memory follows the routes.
//!
//! **Handlers:** `table` (read: one route per line, `ADDR/LEN<tab>GW-or-dash<tab>OUT`),
//! `lookup ADDR` (read), `drops` (read), `add`, `set`, `remove`, `ctrl`, `flush` (write).
//!
//! **Example:**
//!
//! ```text
//! rt :: RangeIPLookup(18.26.4.0/24 0, 18.26.0.0/16 18.26.4.1 1, 0/0 18.26.4.1 1);
//! ```
//!
//! **Differences from Click:** the lookup structure is `RadixIPLookup`'s (see above);
//! `table` lists routes in the order they were added; `drops` is an addition.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::iproute::{configure, Mutability};
use super::radixiplookup::RadixTable;

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, cctx, RadixTable::new(), Mutability::Flushable)
}

/// `RangeIPLookup`: see the module docs.
pub static RangeIPLookup: ElementClass = ElementClass {
    name: "RangeIPLookup",
    ports: "1/-",
    processing: "h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use crate::testutil::{Bench, Harness};

    fn rig(class: &str, config: &str) -> Harness {
        Harness::new(Bench::new(), &[("r", class, config, 1, 3)]).unwrap()
    }

    /// Where a packet with destination annotation `dst` goes, and its annotation after.
    fn route(h: &mut Harness, dst: [u8; 4]) -> Option<(usize, [u8; 4])> {
        h.push_ip(0, b"x", 0, |a| a.dst_ip = dst);
        h.take().pop().map(|o| (o.port, o.anno.dst_ip))
    }

    #[test]
    fn longest_prefix_match_with_gateways() {
        let mut h = rig(
            "RangeIPLookup",
            "18.26.4.0/24 0, 18.26.0.0/16 18.26.4.1 1, 0/0 9.9.9.9 2, 18.26.4.0/24 2",
        );
        assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((0, [18, 26, 4, 9])));
        assert_eq!(route(&mut h, [18, 26, 7, 1]), Some((1, [18, 26, 4, 1])));
        assert_eq!(route(&mut h, [1, 2, 3, 4]), Some((2, [9, 9, 9, 9])));
        let lookup = h.router.read_handler_with("r.lookup", "18.26.7.1");
        assert_eq!(lookup.unwrap(), "1 18.26.4.1");
    }

    #[test]
    fn flush_empties_the_table_of_every_trie_class() {
        for class in ["RangeIPLookup", "RadixIPLookup", "DirectIPLookup"] {
            let mut h = rig(class, "18.26.4.0/24 0, 0/0 9.9.9.9 2");
            h.write("flush", "").unwrap();
            assert_eq!(h.read("table"), "", "{class}");
            assert_eq!(route(&mut h, [18, 26, 4, 9]), None, "{class}");
            assert_eq!(h.read("drops"), "1", "{class}");
            h.write("add", "18.26/16 1.0.0.1 1").unwrap();
            assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((1, [1, 0, 0, 1])));
        }
        let h = rig("LinearIPLookup", "18.26.4.0/24 0");
        assert!(
            h.write("flush", "").is_err(),
            "Click's linear table has none"
        );
    }

    #[test]
    fn bad_routes_are_configuration_errors() {
        for cfg in [
            "18.26.4.0/24",
            "18.26.4.0/24 5",
            "bogus 0",
            "18.26.4.0/33 0",
        ] {
            let e = Harness::new(Bench::new(), &[("r", "RangeIPLookup", cfg, 1, 3)]);
            assert!(e.is_err(), "{cfg}");
        }
    }
}
