//! `DirectIPLookup(ADDR1/MASK1 [GW1] OUT1, ADDR2/MASK2 [GW2] OUT2, ...)` — an IP routing table with a bounded number of memory reads per lookup.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Same arguments, behaviour and handlers as `RadixIPLookup`: longest-prefix match on the
//! destination IP annotation, the annotation replaced by the route's gateway when it has
//! one, the packet emitted on the route's output, unrouted packets dropped and counted
//! (`drops`). Each argument is a route; the first route given for a prefix is kept. Routes
//! can be added and removed at run time (`add` fails when the prefix has a route, `set`
//! replaces it, `remove`, `ctrl` for several changes applied all or nothing, and `flush`
//! to remove every route).
//!
//! Click's DirectIPLookup is a DIR-24-8 table, built for lookup speed at the cost of
//! memory: one or two reads per lookup. sluice serves it with `RadixIPLookup`'s multibit
//! trie, which also bounds a lookup (at most four reads) while its memory follows the
//! routes, so a small unikernel image can hold it.
//!
//! **Handlers:** `table` (read: one route per line, `ADDR/LEN<tab>GW-or-dash<tab>OUT`),
//! `lookup ADDR` (read), `drops` (read), `add`, `set`, `remove`, `ctrl`, `flush` (write).
//!
//! **Example:**
//!
//! ```text
//! rt :: DirectIPLookup(18.26.4.0/24 0, 18.26.0.0/16 18.26.4.1 1, 0/0 18.26.4.1 1);
//! ```
//!
//! **Differences from Click:** the lookup structure is `RadixIPLookup`'s (see above), so
//! there is no limit on the /24 networks holding longer prefixes; `table` lists routes in
//! the order they were added, where Click lists them in its hash table's order; `drops` is
//! an addition.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::iproute::{configure, Mutability};
use super::radixiplookup::RadixTable;

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, cctx, RadixTable::new(), Mutability::Flushable)
}

/// `DirectIPLookup`: see the module docs.
pub static DirectIPLookup: ElementClass = ElementClass {
    name: "DirectIPLookup",
    ports: "1/-",
    processing: "h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use crate::testutil::{Bench, Harness};

    fn rig(config: &str) -> Harness {
        Harness::new(Bench::new(), &[("r", "DirectIPLookup", config, 1, 3)]).unwrap()
    }

    /// Where a packet with destination annotation `dst` goes, and its annotation after.
    fn route(h: &mut Harness, dst: [u8; 4]) -> Option<(usize, [u8; 4])> {
        h.push_ip(0, b"x", 0, |a| a.dst_ip = dst);
        h.take().pop().map(|o| (o.port, o.anno.dst_ip))
    }

    #[test]
    fn longest_prefix_match_with_gateways() {
        let mut h = rig("18.26.4.0/24 0, 18.26.0.0/16 18.26.4.1 1, 0/0 9.9.9.9 2, 18.26.4.0/24 2");
        assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((0, [18, 26, 4, 9])));
        assert_eq!(route(&mut h, [18, 26, 7, 1]), Some((1, [18, 26, 4, 1])));
        assert_eq!(route(&mut h, [1, 2, 3, 4]), Some((2, [9, 9, 9, 9])));
        assert_eq!(
            h.read("table"),
            "18.26.4.0/24\t\t-\t\t0\n18.26.0.0/16\t\t18.26.4.1\t1\n0.0.0.0/0\t\t9.9.9.9\t\t2\n"
        );
    }

    #[test]
    fn routes_change_at_run_time() {
        // The sequence of Click's iplookups-01, checked by the packets' ways.
        let mut h = rig("");
        assert_eq!(route(&mut h, [18, 26, 4, 9]), None);
        assert_eq!(h.read("drops"), "1");
        h.write("add", "18.26/16 1.0.0.1 0").unwrap();
        assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((0, [1, 0, 0, 1])));
        h.write("add", "18.26.0/18 2.0.0.2 1").unwrap();
        assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((1, [2, 0, 0, 2])));
        assert!(h.write("add", "18.26.0/18 3.0.0.3 1").is_err());
        h.write("remove", "18.26.0/18 2.0.0.2 1").unwrap();
        h.write("set", "18.26.0.0/16 7.0.0.7 2").unwrap();
        assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((2, [7, 0, 0, 7])));
        h.write("ctrl", "add 18.26.4.9/32 5.0.0.5 0\nremove 18.26.0.0/16")
            .unwrap();
        assert_eq!(route(&mut h, [18, 26, 4, 9]), Some((0, [5, 0, 0, 5])));
        assert_eq!(route(&mut h, [18, 26, 4, 10]), None);
        assert!(h.write("remove", "1.0.0.0/8").is_err());
        assert!(h.write("add", "1.0.0.0/8 7").is_err(), "no output 7");
    }

    #[test]
    fn bad_routes_are_configuration_errors() {
        for cfg in ["18.26.4.0/24", "18.26.4.0/24 5", "bogus 0"] {
            assert!(
                Harness::new(Bench::new(), &[("r", "DirectIPLookup", cfg, 1, 3)]).is_err(),
                "{cfg}"
            );
        }
    }
}
