//! `AddressInfo(NAME ADDRESS [ADDRESS...], ...)` — names addresses.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a` (unused: no ports).
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
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{Args, FromArg, Ipv4Prefix, NameLookup};
use sluice_dataplane::{Batch, ConfigContext, Context, Element, ElementClass, NameTable};

/// The element class.
#[allow(non_upper_case_globals)]
pub static AddressInfo: ElementClass = ElementClass {
    name: "AddressInfo",
    ports: "0/0",
    processing: "a",
    make,
    names: Some(|| Box::new(AddressBook::default())),
};

struct Info;

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    // The router gave the entries to the class's name table (`AddressBook`) already.
    a.rest();
    Some(Box::new(Info))
}

impl Element for Info {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}

/// The names `AddressInfo` elements declare: `NAME ADDRESS...`.
#[derive(Clone, Debug, Default)]
struct AddressBook {
    entries: BTreeMap<String, Vec<String>>,
}

impl NameTable for AddressBook {
    /// Adds the addresses of one `AddressInfo` argument (`NAME ADDR [ADDR...]`).
    fn declare(&mut self, arg: &str) -> Result<(), String> {
        let mut words = arg.split_whitespace();
        let name = words.next().ok_or("AddressInfo: empty argument")?;
        let addrs: Vec<String> = words.map(String::from).collect();
        if addrs.is_empty() {
            return Err(format!("AddressInfo: '{name}' has no addresses"));
        }
        self.entries.insert(name.into(), addrs);
        Ok(())
    }
}

impl AddressBook {
    /// `NAME:ipnet`'s network as (address with host bits cleared, netmask).
    fn network(&self, name: &str) -> Option<(u32, u32)> {
        let text = self.lookup_plain(name, "ipprefix")?;
        let (addr, len) = text.split_once('/')?;
        let addr = u32::from(addr.parse::<core::net::Ipv4Addr>().ok()?);
        let mask = match len.parse::<u32>() {
            Ok(0) => 0,
            Ok(l) if l <= 32 => u32::MAX << (32 - l),
            Ok(_) => return None,
            Err(_) => u32::from(len.parse::<core::net::Ipv4Addr>().ok()?),
        };
        Some((addr & mask, mask))
    }

    fn lookup_plain(&self, name: &str, kind: &str) -> Option<String> {
        let addrs = self.entries.get(name)?;
        // Click writes Ethernet addresses with colons or dashes, one or two digits a part.
        let is_ether = |a: &str| {
            let parts: Vec<&str> = a.split([':', '-']).collect();
            parts.len() == 6
                && parts
                    .iter()
                    .all(|p| (1..=2).contains(&p.len()) && u8::from_str_radix(p, 16).is_ok())
        };
        let fits = |a: &&String| match kind {
            "ip" => a.parse::<core::net::Ipv4Addr>().is_ok(),
            "ip6" => a.parse::<core::net::Ipv6Addr>().is_ok(),
            "ether" => is_ether(a),
            "ipprefix" => a.contains('/') && !a.contains(':'),
            _ => true,
        };
        if let Some(a) = addrs.iter().find(fits) {
            return Some(a.clone());
        }
        // An address with a prefix also names the address itself when it has host bits
        // set (Click: `1.0.0.1/8` serves as `1.0.0.1` where an address is wanted; a bare
        // network, `10.0.0.0/8`, is no address).
        if kind == "ip" {
            return addrs.iter().find_map(|a| {
                let p = <Ipv4Prefix as FromArg>::from_arg(a, None).ok()?;
                let host = u32::from(p.addr) & !u32::from(p.mask());
                (host != 0).then(|| p.addr.to_string())
            });
        }
        None
    }
}

impl NameLookup for AddressBook {
    fn lookup(&self, name: &str, kind: &str) -> Option<String> {
        if let Some(v) = self.lookup_plain(name, kind) {
            return Some(v);
        }
        // Click's suffixes name one kind of a name's addresses: `NAME:ip`, `NAME:ipnet`
        // (the network, host bits cleared), `NAME:bcast` (its broadcast address), `NAME:gw`
        // (the network's lowest host), `NAME:ip6`, `NAME:eth`.
        let (base, suffix) = name.rsplit_once(':')?;
        let ip = |a: u32| core::net::Ipv4Addr::from(a).to_string();
        match (suffix, kind) {
            ("ip", "ip") | ("ip6", "ip6") | ("eth", "ether") => self.lookup_plain(base, kind),
            ("ipnet", "ipprefix") => self
                .network(base)
                .map(|(a, m)| format!("{}/{}", ip(a), m.count_ones())),
            ("bcast", "ip") => self.network(base).map(|(a, m)| ip(a | !m)),
            ("gw", "ip") => self.network(base).map(|(a, _)| ip(a | 1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn names_resolve_in_other_elements() {
        let b = Bench::new().pool(8, 2);
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

    #[test]
    fn names_and_their_suffixes_resolve_as_in_click() {
        let mut book = AddressBook::default();
        book.declare("lan 10.1.2.3/24 02-00-00-00-00-0a").unwrap();
        book.declare("v6 fe80::1").unwrap();
        assert!(book.declare("lonely").is_err());
        let l = |n: &str, k: &str| book.lookup(n, k);
        assert_eq!(
            l("lan", "ip").as_deref(),
            Some("10.1.2.3"),
            "address of a prefix"
        );
        assert_eq!(l("lan", "ipprefix").as_deref(), Some("10.1.2.3/24"));
        assert_eq!(l("lan", "ether").as_deref(), Some("02-00-00-00-00-0a"));
        assert_eq!(l("lan:ipnet", "ipprefix").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(l("lan:bcast", "ip").as_deref(), Some("10.1.2.255"));
        assert_eq!(l("lan:gw", "ip").as_deref(), Some("10.1.2.1"));
        assert_eq!(l("lan:eth", "ether").as_deref(), Some("02-00-00-00-00-0a"));
        assert_eq!(l("v6", "ip6").as_deref(), Some("fe80::1"));
        assert_eq!(l("v6", "ip"), None, "no IPv4 address");
        assert_eq!(l("wan", "ip"), None, "undeclared");
    }
}
