//! `AddressInfo(NAME ADDRESS [ADDRESS...], ...)` — names addresses.
//!
//! **Ports:** none.
//!
//! Each argument gives a NAME followed by one or more addresses (IPv4, IPv4 prefix, IPv6,
//! Ethernet). Every element's address arguments then accept NAME in place of an address of
//! the kind wanted: `AddressInfo(gw 10.0.0.1/24 00:11:22:33:44:55)` lets `gw` stand for
//! `10.0.0.1`, `10.0.0.1/24` or `00:11:22:33:44:55`.
//!
//! The router reads every `AddressInfo` before it configures any element (so names may be
//! used anywhere in the file, and bad entries are reported there); the element itself does
//! nothing at run time.
//!
//! **Example:** `AddressInfo(me 192.168.1.1 00:0a:0b:0c:0d:0e); ... ARPResponder(me)`

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Element, ElementClass};

/// The element class.
#[allow(non_upper_case_globals)]
pub static AddressInfo: ElementClass = ElementClass {
    name: "AddressInfo",
    ports: "0/0",
    processing: "a",
    make,
};

struct Info;

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    // The router has parsed the entries into its address book already.
    a.rest();
    Some(Box::new(Info))
}

impl Element for Info {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn names_resolve_in_other_elements() {
        let b = Bench::new(8);
        let g = graph(
            &[
                ("ai", "AddressInfo", "n 3, m 10.0.0.1/8 00:01:02:03:04:05"),
                ("p", "Paint", "COLOR n"),
            ],
            &[],
        );
        // Paint's COLOR is an integer, so the name does not apply to it: a clear error.
        assert!(b.router(&g).is_err());
        let g = graph(
            &[("ai", "AddressInfo", "m 10.0.0.1/8 00:01:02:03:04:05")],
            &[],
        );
        assert!(b.router(&g).is_ok());
        let g = graph(&[("ai", "AddressInfo", "lonely")], &[]);
        assert!(config_error(&g).contains("no addresses"));
    }
}
