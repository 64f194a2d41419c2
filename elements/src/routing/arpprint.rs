//! `ARPPrint([LABEL, keywords TIMESTAMP, ETHER, ACTIVE])` — prints one line per ARP packet, tcpdump style.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Packets pass unchanged. The ARP header is found through the network header annotation;
//! packets without one are not printed. A line is `LABEL: TIMESTAMP: [SRC > DST: ]SUMMARY`,
//! the Ethernet addresses (`02-01-00-0A-0A-0F`, Click's form) shown with ETHER when a
//! 14-byte Ethernet header lies in front of the ARP header. Summaries, by operation:
//!
//! - request: `arp who-has TPA tell SPA`, with ` (THA)` after TPA when the target hardware
//!   address is not zero;
//! - reply: `arp reply SPA is-at SHA`;
//! - RARP request and reply: `rarp who-is THA tell SHA`, `rarp reply THA at TPA`;
//! - InARP request and reply: `invarp who-is THA tell SHA`, `invarp reply THA at TPA`;
//! - any other operation: `arp-#OP`.
//!
//! A protocol type of 0x1000 (trailer encapsulation) puts `trailer-` in front, and a
//! hardware type other than Ethernet appends `hardware #HTYPE`. A header shorter than the
//! 28 bytes of an Ethernet/IPv4 ARP packet prints `truncated-arp (LENGTH)`. A packet whose
//! protocol is not IPv4 (or trailer), whose protocol address length is not 4, or whose
//! hardware address length is 0 is passed on without a line, as Click does. Addresses are
//! read at the Ethernet/IPv4 offsets whatever hardware length the header declares.
//!
//! **Keywords:**
//!
//! - `LABEL`: as the positional argument; default none.
//! - `TIMESTAMP`: print the timestamp annotation as seconds.microseconds
//!   (seconds.nanoseconds when it does not fall on a whole microsecond); default true.
//! - `ETHER`: print the Ethernet source and destination; default false.
//! - `ACTIVE`: print at all; default true.
//!
//! **Handlers:** `active` (rw).
//!
//! **Example:** `arpq[1] -> ARPPrint(query, ETHER true) -> ToDevice(eth0)`
//!
//! **Differences from Click:** no `OUTFILE` (every line goes to the router's console). A
//! header of 8 to 27 bytes prints `truncated-arp` (Click reads past its end). A label that
//! is a single upper-case word must be given as `LABEL WORD`.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write as _;
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass, Packet, Timestamp};

use super::addr::unparse_ether;
use crate::ip::common::{LinePrinter, PacketLine};
use crate::wire::arp::{ETHERNET_IPV4_LEN, FIXED_LEN, HTYPE_ETHERNET, OP_REPLY, OP_REQUEST};

/// `ARPPrint`.
pub static ARPPrint: ElementClass = ElementClass {
    name: "ARPPrint",
    ports: "1/1",
    processing: "a/a",
    make,
    names: None,
};

const ETHERTYPE_IP: u16 = 0x0800;
const ETHERTYPE_TRAIL: u16 = 0x1000;
const OP_REVREQUEST: u16 = 3;
const OP_REVREPLY: u16 = 4;
const OP_INVREQUEST: u16 = 8;
const OP_INVREPLY: u16 = 9;

struct ArpPrinter {
    label: String,
    timestamp: bool,
    ether: bool,
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let format = ArpPrinter {
        label: args.read_p::<String>("LABEL").unwrap_or_default(),
        timestamp: args.read_k("TIMESTAMP").unwrap_or(true),
        ether: args.read_k("ETHER").unwrap_or(false),
    };
    let active = args.read_k("ACTIVE").unwrap_or(true);
    Some(Box::new(LinePrinter { format, active }))
}

fn ether(b: &[u8; ETHERNET_IPV4_LEN], at: usize) -> String {
    let mut e = [0u8; 6];
    e.copy_from_slice(&b[at..at + 6]);
    unparse_ether(&e)
}

fn ip(b: &[u8; ETHERNET_IPV4_LEN], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl PacketLine for ArpPrinter {
    /// The line for `p`, or `None` when Click prints nothing for it.
    fn line(&self, p: &Packet) -> Option<String> {
        let off = p.network_offset()?;
        let data = p.data();
        let arp = data.get(off..).unwrap_or_default();
        let mut s = String::new();
        if !self.label.is_empty() {
            let _ = write!(s, "{}: ", self.label);
        }
        if self.timestamp {
            let _ = write!(s, "{}: ", Timestamp(p.anno().timestamp_ns));
        }
        if self.ether && off >= 14 && data.len() >= 14 {
            let mut src = [0u8; 6];
            let mut dst = [0u8; 6];
            dst.copy_from_slice(&data[..6]);
            src.copy_from_slice(&data[6..12]);
            let _ = write!(s, "{} > {}: ", unparse_ether(&src), unparse_ether(&dst));
        }
        let Some(b) = arp
            .get(..ETHERNET_IPV4_LEN)
            .and_then(|b| <&[u8; ETHERNET_IPV4_LEN]>::try_from(b).ok())
        else {
            let _ = write!(s, "truncated-arp ({})", arp.len());
            return Some(s);
        };
        let htype = u16::from_be_bytes([b[0], b[1]]);
        let ptype = u16::from_be_bytes([b[2], b[3]]);
        let (hlen, plen) = (usize::from(b[4]), b[5]);
        let op = u16::from_be_bytes([b[6], b[7]]);
        if !matches!(ptype, ETHERTYPE_IP | ETHERTYPE_TRAIL) || plen != 4 || hlen == 0 {
            return None;
        }
        // Ethernet/IPv4 offsets: SHA 8, SPA 14, THA 18, TPA 24.
        let (sha, spa, tha, tpa) = (FIXED_LEN, 14, 18, 24);
        if ptype == ETHERTYPE_TRAIL {
            s.push_str("trailer-");
        }
        let _ = match op {
            OP_REQUEST => {
                let _ = write!(s, "arp who-has {}", ip(b, tpa));
                if b[tha..tha + hlen.min(6)].iter().any(|&x| x != 0) {
                    let _ = write!(s, " ({})", ether(b, tha));
                }
                write!(s, " tell {}", ip(b, spa))
            }
            OP_REPLY => write!(s, "arp reply {} is-at {}", ip(b, spa), ether(b, sha)),
            OP_REVREQUEST => write!(s, "rarp who-is {} tell {}", ether(b, tha), ether(b, sha)),
            OP_REVREPLY => write!(s, "rarp reply {} at {}", ether(b, tha), ip(b, tpa)),
            OP_INVREQUEST => write!(s, "invarp who-is {} tell {}", ether(b, tha), ether(b, sha)),
            OP_INVREPLY => write!(s, "invarp reply {} at {}", ether(b, tha), ip(b, tpa)),
            _ => write!(s, "arp-#{op}"),
        };
        if htype != HTYPE_ETHERNET {
            // Click appends this without a separating space.
            let _ = write!(s, "hardware #{htype}");
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::testutil::{arp_request, Bench, Harness};

    const SHA: [u8; 6] = [2, 1, 0, 0xa, 0xa, 0xf];

    /// The lines `config` prints for `frame` (network header at `offset`, or none), with
    /// the packet checked to pass unchanged.
    fn print_at(config: &str, frame: &[u8], offset: Option<usize>) -> Vec<String> {
        let mut h = Harness::new(Bench::new(), &[("p", "ARPPrint", config, 1, 1)]).unwrap();
        let mut p = h.packet(frame);
        if let Some(o) = offset {
            p.set_network_offset(o);
        }
        p.anno_mut().timestamp_ns = 81_000_000;
        h.push(0, p);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, frame);
        h.bench.lines()
    }

    fn print(config: &str, frame: &[u8]) -> Vec<String> {
        print_at(config, frame, Some(14))
    }

    fn request() -> Vec<u8> {
        arp_request(SHA, [1, 0, 10, 10], [1, 0, 0, 1])
    }

    /// `request()` with operation `op` and target hardware address `tha`.
    fn with(op: u8, tha: [u8; 6]) -> Vec<u8> {
        let mut f = request();
        f[21] = op;
        f[32..38].copy_from_slice(&tha);
        f
    }

    #[test]
    fn requests_and_replies_as_click_prints_them() {
        assert_eq!(
            print("arpo", &request()),
            ["arpo: 0.081000: arp who-has 1.0.0.1 tell 1.0.10.10"]
        );
        assert_eq!(
            print("arpo, ETHER true", &request()),
            ["arpo: 0.081000: 02-01-00-0A-0A-0F > FF-FF-FF-FF-FF-FF: arp who-has 1.0.0.1 tell 1.0.10.10"]
        );
        assert_eq!(
            print("TIMESTAMP false", &with(1, [0, 0, 0, 0, 0, 9])),
            ["arp who-has 1.0.0.1 (00-00-00-00-00-09) tell 1.0.10.10"]
        );
        assert_eq!(
            print("x, TIMESTAMP false", &with(2, [0; 6])),
            ["x: arp reply 1.0.10.10 is-at 02-01-00-0A-0A-0F"]
        );
    }

    #[test]
    fn other_operations_and_types() {
        let t = [0xaa, 0, 0, 0, 0, 1];
        let cases = [
            (3, "rarp who-is AA-00-00-00-00-01 tell 02-01-00-0A-0A-0F"),
            (4, "rarp reply AA-00-00-00-00-01 at 1.0.0.1"),
            (8, "invarp who-is AA-00-00-00-00-01 tell 02-01-00-0A-0A-0F"),
            (9, "invarp reply AA-00-00-00-00-01 at 1.0.0.1"),
            (7, "arp-#7"),
        ];
        for (op, want) in cases {
            assert_eq!(print("TIMESTAMP false", &with(op, t)), [want]);
        }
        let mut trailer = request();
        trailer[16] = 0x10;
        trailer[15] = 6; // hardware type 6 (IEEE 802)
        assert_eq!(
            print("TIMESTAMP false", &trailer),
            ["trailer-arp who-has 1.0.0.1 tell 1.0.10.10hardware #6"]
        );
    }

    #[test]
    fn silent_and_truncated_cases() {
        let f = request();
        assert_eq!(
            print("TIMESTAMP false", &f[..14 + 27]),
            ["truncated-arp (27)"]
        );
        assert_eq!(print("TIMESTAMP false", &f[..14]), ["truncated-arp (0)"]);
        // Not IPv4, odd lengths: passed on, nothing printed.
        for (at, v) in [(16, 0x86), (19, 16), (18, 0)] {
            let mut g = f.clone();
            g[at] = v;
            assert!(print("", &g).is_empty(), "byte {at} = {v}");
        }
        // No network header: not printed.
        assert!(print_at("", &f, None).is_empty());
        // ETHER without room for an Ethernet header in front.
        assert_eq!(
            print_at("TIMESTAMP false, ETHER true", &f[14..], Some(0)),
            ["arp who-has 1.0.0.1 tell 1.0.10.10"]
        );
        assert!(print("ACTIVE false", &f).is_empty());
    }

    #[test]
    fn active_handler() {
        let h = Harness::new(Bench::new(), &[("p", "ARPPrint", "", 1, 1)]).unwrap();
        assert_eq!(h.read("active"), "true");
        h.write("active", "false").unwrap();
        assert_eq!(h.read("active"), "false");
        assert!(h.write("active", "maybe").is_err());
    }
}
