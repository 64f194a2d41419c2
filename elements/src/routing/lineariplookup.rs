//! `LinearIPLookup(ADDR1/MASK1 [GW1] OUT1, ADDR2/MASK2 [GW2] OUT2, ...)` — an IP routing table searched route by route.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Expects a destination IP address annotation on each packet. Looks the address up with
//! longest-prefix match, sets the destination annotation to the route's GW (if the route has
//! one), and emits the packet on the route's OUT port. Packets without a route are dropped
//! (counted in `drops`; the first five are logged).
//!
//! Each argument is a route: a destination prefix (`18.26.4.0/24`, `18.26.4/24`,
//! `18.26.4.0/255.255.255.0`, a bare address for /32, or an AddressInfo name), an optional
//! gateway address (`-` for none), and an output port. When two arguments name the same
//! prefix, the first wins.
//!
//! Every lookup may look at every route: use `RadixIPLookup` for large tables.
//!
//! **Handlers:** `table` (read: one route per line, `ADDR/LEN<tab>GW-or-dash<tab>OUT`),
//! `lookup ADDR` (read: the output for `ADDR`, then the gateway if the route has one; `-1`
//! without a route), `drops` (read), `add` (write: a route as above; fails if the prefix has a route), `set`
//! (write: adds or replaces a route), `remove` (write: `ADDR/MASK [GW [OUT]]`), `ctrl`
//! (write: lines of `add ...`/`set ...`/`remove ...`, applied all or nothing).
//!
//! **Example:**
//!
//! ```text
//! rt :: LinearIPLookup(18.26.4.24/32 0, 18.26.4.255/32 0, 18.26.4.0/32 0,
//!                      18.26.4/24 1, 0/0 18.26.4.1 1);
//! rt[0] -> ToHost; rt[1] -> ... -> ToDevice(eth0);
//! ```
//!
//! **Differences from Click:** netmasks must be contiguous; `drops` is an addition.
//!
//! ## `StaticIPLookup(ADDR1/MASK1 [GW1] OUT1, ...)` — an IP routing table fixed at configuration.
//!
//! **Ports:** `1/-`: one input, any number of outputs.
//!
//! **Processing:** `h`: push.
//!
//! Like `LinearIPLookup`, but routes cannot be added or removed after configuration.
//!
//! **Handlers:** `table` (read: one route per line, `ADDR/LEN<tab>GW-or-dash<tab>OUT`),
//! `lookup ADDR` (read), `drops` (read).
//!
//! **Differences from Click:** those of `LinearIPLookup`: contiguous netmasks only, and
//! `drops` is an addition.

use alloc::boxed::Box;
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::iproute::{configure, IpRoute, Mutability, RouteError, RouteTable};

/// A route list in insertion order; removed routes leave holes that later additions reuse,
/// so the `table` handler lists routes in Click's order.
#[derive(Clone, Debug, Default)]
pub struct LinearTable {
    routes: Vec<Option<IpRoute>>,
}

impl LinearTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, addr: u32) -> Option<usize> {
        let mut best: Option<(usize, u8)> = None;
        for (i, r) in self.routes.iter().enumerate() {
            if let Some(r) = r {
                if r.contains(addr) && best.is_none_or(|(_, l)| r.len >= l) {
                    best = Some((i, r.len));
                }
            }
        }
        best.map(|(i, _)| i)
    }
}

impl RouteTable for LinearTable {
    fn add_route(&mut self, r: IpRoute, replace: bool) -> Result<Option<IpRoute>, RouteError> {
        for slot in self.routes.iter_mut().flatten() {
            if slot.addr == r.addr && slot.len == r.len {
                let old = *slot;
                if !replace {
                    return Err(RouteError::Exists(old));
                }
                slot.gw = r.gw;
                slot.port = r.port;
                return Ok(Some(old));
            }
        }
        match self.routes.iter_mut().find(|s| s.is_none()) {
            Some(hole) => *hole = Some(r),
            None => self.routes.push(Some(r)),
        }
        Ok(None)
    }

    fn remove_route(&mut self, r: &IpRoute) -> Result<IpRoute, RouteError> {
        for slot in &mut self.routes {
            if let Some(old) = *slot {
                if old.matches_removal(r) {
                    *slot = None;
                    return Ok(old);
                }
            }
        }
        Err(RouteError::NotFound)
    }

    #[inline]
    fn lookup(&self, addr: u32) -> Option<(usize, u32)> {
        let r = self.routes[self.find(addr)?].as_ref()?;
        Some((r.port?, r.gw))
    }

    fn routes(&self) -> Vec<IpRoute> {
        self.routes.iter().flatten().copied().collect()
    }
}

fn make_linear(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, cctx, LinearTable::new(), Mutability::Dynamic)
}

fn make_static(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, cctx, LinearTable::new(), Mutability::Static)
}

/// `LinearIPLookup`: see the module docs.
pub static LinearIPLookup: ElementClass = ElementClass {
    name: "LinearIPLookup",
    ports: "1/-",
    processing: "h",
    make: make_linear,
    names: None,
};

/// `StaticIPLookup`: see the module docs.
pub static StaticIPLookup: ElementClass = ElementClass {
    name: "StaticIPLookup",
    ports: "1/-",
    processing: "h",
    make: make_static,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::radixiplookup::RadixIPLookup;
    use super::super::testutil::{harness, try_harness};
    use super::*;

    const ROUTES: &str =
        "18.26.4.24/32 0, 18.26.4.255/32 0, 18.26.4.0/32 0, 18.26.4/24 1, 0/0 18.26.4.1 1";

    fn route_one(
        h: &mut super::super::testutil::Harness,
        dst: [u8; 4],
    ) -> Option<(usize, [u8; 4])> {
        h.push_ip(0, &[0x45; 20], 0, |a| a.dst_ip = dst);
        let out = h.take();
        out.first().map(|o| (o.port, o.anno.dst_ip))
    }

    #[test]
    fn click_example_routes_for_every_table() {
        for class in [&LinearIPLookup, &StaticIPLookup, &RadixIPLookup] {
            let mut h = harness(class, ROUTES, 1, 2);
            assert_eq!(
                route_one(&mut h, [18, 26, 4, 24]),
                Some((0, [18, 26, 4, 24]))
            );
            assert_eq!(route_one(&mut h, [18, 26, 4, 9]), Some((1, [18, 26, 4, 9])));
            assert_eq!(
                route_one(&mut h, [8, 8, 8, 8]),
                Some((1, [18, 26, 4, 1])),
                "gateway set"
            );
            assert_eq!(
                h.read("table"),
                "18.26.4.24/32\t\t-\t\t0\n18.26.4.255/32\t\t-\t\t0\n18.26.4.0/32\t\t-\t\t0\n\
                 18.26.4.0/24\t\t-\t\t1\n0.0.0.0/0\t\t18.26.4.1\t1\n",
                "{}",
                class.name
            );
        }
    }

    #[test]
    fn unrouted_packets_are_counted() {
        for class in [&LinearIPLookup, &RadixIPLookup] {
            let mut h = harness(class, "10.0.0.0/8 0", 1, 1);
            assert_eq!(route_one(&mut h, [11, 0, 0, 1]), None);
            assert_eq!(h.read("drops"), "1");
        }
    }

    #[test]
    fn handlers_change_dynamic_tables() {
        for class in [&LinearIPLookup, &RadixIPLookup] {
            let mut h = harness(class, "10.0.0.0/8 0", 1, 2);
            assert!(
                h.write("add", "10.0.0.0/8 1").is_err(),
                "add does not replace"
            );
            h.write("set", "10.0.0.0/8 1").unwrap();
            assert_eq!(route_one(&mut h, [10, 1, 1, 1]), Some((1, [10, 1, 1, 1])));
            h.write("add", "10.1.0.0/16 10.0.0.254 0").unwrap();
            assert_eq!(route_one(&mut h, [10, 1, 1, 1]), Some((0, [10, 0, 0, 254])));
            assert!(h.write("add", "10.2.0.0/16 5").is_err(), "no output 5");
            assert!(
                h.write("remove", "10.1.0.0/16 - 1").is_err(),
                "port must match"
            );
            h.write("remove", "10.1.0.0/16").unwrap();
            assert_eq!(route_one(&mut h, [10, 1, 1, 1]), Some((1, [10, 1, 1, 1])));
            // ctrl is all or nothing.
            assert!(h
                .write("ctrl", "add 20.0.0.0/8 0\nremove 30.0.0.0/8")
                .is_err());
            assert_eq!(route_one(&mut h, [20, 0, 0, 1]), None, "rolled back");
            h.write("ctrl", "add 20.0.0.0/8 0\nset 10.0.0.0/8 0\n")
                .unwrap();
            assert_eq!(route_one(&mut h, [20, 0, 0, 1]).map(|r| r.0), Some(0));
            assert_eq!(route_one(&mut h, [10, 9, 9, 9]).map(|r| r.0), Some(0));
        }
        let h = harness(&StaticIPLookup, "10.0.0.0/8 0", 1, 1);
        assert!(h.write("add", "11.0.0.0/8 0").is_err());
    }

    #[test]
    fn a_name_is_its_address_before_its_network_and_lookup_answers_port_and_gateway() {
        use crate::testutil::{Bench, Harness};
        for class in [
            "LinearIPLookup",
            "RadixIPLookup",
            "StaticIPLookup",
            "DirectIPLookup",
            "RangeIPLookup",
        ] {
            let h = Harness::new(
                Bench::new(),
                &[
                    (
                        "dut",
                        class,
                        "foo 0, foo:ipnet 1, foo:bcast 2, net 2, intern 10.0.0.9 1",
                        1,
                        3,
                    ),
                    (
                        "ai",
                        "AddressInfo",
                        "foo 1.2.3.4/20, net 10.9.0.0/16, intern 10.0.0.1 10.0.0.0/24",
                        0,
                        0,
                    ),
                ],
            )
            .unwrap();
            let mut table: Vec<String> = h
                .read("table")
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            table.sort();
            // A name with an address is that address (/32), as Click's route syntax reads
            // it; a name for a network alone is the network.
            assert_eq!(
                table,
                [
                    "1.2.0.0/20 - 1",
                    "1.2.15.255/32 - 2",
                    "1.2.3.4/32 - 0",
                    "10.0.0.1/32 10.0.0.9 1",
                    "10.9.0.0/16 - 2",
                ],
                "{class}"
            );
            let lookup = |a: &str| h.router.read_handler_with("dut.lookup", a).unwrap();
            assert_eq!(lookup("1.2.3.4"), "0", "{class}");
            assert_eq!(lookup("1.2.3.5"), "1", "{class}");
            assert_eq!(lookup("10.0.0.1"), "1 10.0.0.9", "{class}");
            assert_eq!(lookup("11.0.0.1"), "-1", "{class}");
            assert!(h
                .router
                .read_handler_with("dut.lookup", "nonsense")
                .is_err());
            assert_eq!(lookup("foo:bcast"), "2", "{class}: names in lookups");
            if class != "StaticIPLookup" {
                // Handler writes read the configuration's names too.
                h.write("remove", "foo").unwrap();
                assert_eq!(lookup("1.2.3.4"), "1", "{class}");
                h.write("ctrl", "add foo 2\nset net:bcast 0").unwrap();
                assert_eq!(lookup("1.2.3.4"), "2", "{class}");
                assert_eq!(lookup("10.9.255.255"), "0", "{class}");
            }
        }
    }

    #[test]
    fn bad_routes_are_configuration_errors() {
        for bad in [
            "10.0.0.0/8",
            "10.0.0.0/8 3",
            "10.0.0.0/33 0",
            "nonsense 0",
            "10.0.0.0/8 gw 0",
        ] {
            let e = try_harness(&LinearIPLookup, bad, 1, 2, 4).err().expect(bad);
            assert!(
                e.lines().next().unwrap().contains("argument 1"),
                "{bad}: {e}"
            );
        }
    }
}
