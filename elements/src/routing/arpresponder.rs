//! `ARPResponder(IP/MASK [IP/MASK...] ETH, IP2/MASK2 ETH2, ...)` — answers ARP requests for a set of addresses.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Input packets should be ARP requests with their Ethernet header. When the requested
//! address (the target protocol address) lies in one of the configured prefixes, ARPResponder
//! emits an ARP reply on output 0 giving that entry's Ethernet address, and drops the request.
//! Other packets (non-ARP, non-request, unknown address) go to output 1 if it exists and are
//! dropped otherwise. It serves a host's own addresses as well as proxy ARP for whole
//! networks.
//!
//! Each argument lists one or more prefixes (`18.26.7.0/24`, a bare address for /32) and one
//! Ethernet address; an AddressInfo name may stand for an address (preferred over its network)
//! and, in the same word, for the Ethernet address (`ARPResponder(eth0)`). When several
//! entries match, the most specific wins; for a prefix listed twice, the later entry wins.
//!
//! The reply is a 42-byte frame from the entry's Ethernet address to the requester, with the
//! device and VLAN annotations of the request.
//!
//! **Handlers:** `table` (read: `IP/LEN ETH` per line), `lookup ADDR` (read: the Ethernet
//! address answered for `ADDR`, empty if none), `config` (write: a new set of arguments,
//! replacing the table; a prefix given twice draws a warning), `add` (write: an argument as
//! above), `remove` (write: `IP/MASK`), `drops` (read: requests not answered and dropped for
//! want of output 1), `replies` (read). Written values may use AddressInfo names.
//!
//! **Example:**
//!
//! ```text
//! c :: Classifier(12/0806 20/0001, ...);
//! ar :: ARPResponder(18.26.4.24 18.26.7.0/24 00-00-C0-AE-67-EF);
//! c[0] -> ar -> ToDevice(eth0);
//! ```
//!
//! **Differences from Click:** netmasks must be contiguous; a prefix given twice in the
//! configuration draws no warning at start-up (only on a `config` write); `drops` and
//! `replies` are additions.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{Args, NameLookup};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::addr::{mask_of, parse_ether, parse_ip, parse_prefix, unparse_ether, unparse_prefix};
use super::arpmsg::ArpMsg;
use crate::wire::arp::{OP_REPLY, OP_REQUEST};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    net: u32,
    len: u8,
    eth: [u8; 6],
}

impl Entry {
    fn contains(&self, other_net: u32) -> bool {
        other_net & mask_of(self.len) == self.net
    }
}

/// The answer table, most specific prefixes first.
#[derive(Clone, Debug, Default)]
struct Table(Vec<Entry>);

impl Table {
    /// Adds `e`, replacing an entry for the same prefix (and returning `true` then), and
    /// otherwise placing it before the first entry whose prefix contains it (so a scan
    /// finds the longest match first).
    fn add(&mut self, e: Entry) -> bool {
        if let Some(old) = self.0.iter_mut().find(|o| o.net == e.net && o.len == e.len) {
            old.eth = e.eth;
            return true;
        }
        let at = self
            .0
            .iter()
            .position(|o| o.len < e.len && o.contains(e.net));
        match at {
            Some(i) => self.0.insert(i, e),
            None => self.0.push(e),
        }
        false
    }

    /// The table of a whole configuration (every argument one `IP/MASK... ETH` entry),
    /// with a warning for each prefix given more than once (the later entry wins). Errors
    /// go into `args`, numbered from 0 as Click numbers them.
    fn configure(args: &mut Args<'_>, names: &dyn NameLookup) -> (Table, Vec<String>) {
        let mut table = Table::default();
        let mut warnings = Vec::new();
        for (i, a) in args.rest().into_iter().enumerate() {
            match parse_entry(a.text, Some(names)) {
                Ok(entries) => {
                    for e in entries {
                        if table.add(e) {
                            warnings.push(format!(
                                "multiple entries for {}",
                                unparse_prefix(e.net, e.len)
                            ));
                        }
                    }
                }
                Err(e) => args.error(a.span, format!("argument {i}: {e}")),
            }
        }
        (table, warnings)
    }

    #[inline]
    fn lookup(&self, ip: u32) -> Option<[u8; 6]> {
        self.0.iter().find(|e| e.contains(ip)).map(|e| e.eth)
    }
}

/// Parses one `IP/MASK [IP/MASK...] ETH` argument.
fn parse_entry(text: &str, names: Option<&dyn NameLookup>) -> Result<Vec<Entry>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut prefixes = Vec::new();
    let mut eth: Option<[u8; 6]> = None;
    for w in &words {
        if let Ok(p) = parse_prefix(w, names, true) {
            prefixes.push((u32::from(p.addr) & mask_of(p.len), p.len));
        } else if let Ok(e) = parse_ether(w, names) {
            if eth.is_some() {
                return Err("more than one ETH".into());
            }
            eth = Some(e);
        } else {
            return Err("expected IP/MASK ETH".into());
        }
    }
    // A word that names both an address and an Ethernet address supplies both.
    if eth.is_none() {
        eth = words.iter().find_map(|w| parse_ether(w, names).ok());
    }
    if prefixes.is_empty() {
        return Err("missing IP/MASK".into());
    }
    let eth = eth.ok_or_else(|| String::from("missing ETH"))?;
    Ok(prefixes
        .into_iter()
        .map(|(net, len)| Entry { net, len, eth })
        .collect())
}

/// The element.
pub struct ArpResponder {
    table: Table,
    replies: u64,
    drops: u64,
}

const HANDLERS: &[Handler] = &[
    Handler::read("table"),
    Handler::read("lookup"),
    Handler::read("replies"),
    Handler::read("drops"),
    Handler::write("add"),
    Handler::write("remove"),
];

impl Element for ArpResponder {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        let has_second = ctx.noutputs() > 1;
        for p in batch {
            let reply = ArpMsg::parse(p.data())
                .filter(|m| m.op == OP_REQUEST)
                .and_then(|m| Some((m, self.table.lookup(u32::from_be_bytes(m.tpa))?)));
            let built = reply.and_then(|(m, eth)| {
                let r = ArpMsg {
                    op: OP_REPLY,
                    sha: eth,
                    spa: m.tpa,
                    tha: m.sha,
                    tpa: m.spa,
                };
                let mut q = r.build(ctx.pool(), m.sha, eth)?;
                q.anno_mut().device = p.anno().device;
                q.anno_mut().vlan_tci = p.anno().vlan_tci;
                Some(q)
            });
            match built {
                Some(q) => {
                    self.replies += 1;
                    ctx.output(0, q);
                }
                None if has_second => ctx.output(1, p),
                None => self.drops += 1,
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "table" => Some(
                self.table
                    .0
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}\n",
                            unparse_prefix(e.net, e.len),
                            unparse_ether(&e.eth)
                        )
                    })
                    .collect(),
            ),
            "replies" => Some(self.replies.to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    /// `lookup ADDR`: the Ethernet address answered for `ADDR`, empty when none is.
    fn read_handler_with(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        if name != "lookup" {
            return None;
        }
        Some(match parse_ip(params.trim(), Some(ctx.names())) {
            Ok(a) => Ok(self
                .table
                .lookup(u32::from(a))
                .map_or_else(String::new, |e| unparse_ether(&e))),
            Err(_) => Err(HandlerError::BadValue("expected IP address".into())),
        })
    }

    fn reconfigure(&mut self, ctx: &mut Context<'_>, args: &mut Args<'_>) -> Option<Vec<String>> {
        let (table, warnings) = Table::configure(args, ctx.names());
        if !args.has_errors() {
            self.table = table;
        }
        Some(warnings)
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "add" => {
                let entries =
                    parse_entry(value, Some(ctx.names())).map_err(HandlerError::BadValue)?;
                for e in entries {
                    self.table.add(e);
                }
                Ok(())
            }
            "remove" => {
                let p = parse_prefix(value.trim(), Some(ctx.names()), true)
                    .map_err(|_| HandlerError::BadValue("expected IP/MASK".into()))?;
                let net = u32::from(p.addr) & mask_of(p.len);
                let before = self.table.0.len();
                self.table.0.retain(|e| !(e.net == net && e.len == p.len));
                if self.table.0.len() == before {
                    return Err(HandlerError::BadValue(format!(
                        "{} not found",
                        unparse_prefix(net, p.len)
                    )));
                }
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let (table, _warnings) = Table::configure(args, cctx.names);
    (!args.has_errors()).then(|| {
        Box::new(ArpResponder {
            table,
            replies: 0,
            drops: 0,
        }) as Box<dyn Element>
    })
}

/// `ARPResponder`: see the module docs.
pub static ARPResponder: ElementClass = ElementClass {
    name: "ARPResponder",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::harness;
    use super::*;

    /// Who has 10.0.0.2? Tell 10.0.0.1 (02:00:00:00:00:01), broadcast.
    const REQUEST: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // fixed
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 0, 2, // target
    ];
    /// 10.0.0.2 is at 02:00:00:00:00:02.
    const REPLY: [u8; 42] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02, // fixed
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 10, 0, 0, 2, // sender
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // target
    ];

    #[test]
    fn golden_reply() {
        let mut h = harness(&ARPResponder, "10.0.0.2 02:00:00:00:00:02", 1, 2);
        let mut p = h.packet(&REQUEST);
        p.anno_mut().vlan_tci = 7;
        p.anno_mut().device = 3;
        h.push(0, p);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].port, 0);
        assert_eq!(out[0].data, REPLY);
        assert_eq!((out[0].anno.vlan_tci, out[0].anno.device), (7, 3));
        assert_eq!(h.read("replies"), "1");
    }

    #[test]
    fn unknown_and_non_requests_go_to_output_1() {
        let mut h = harness(
            &ARPResponder,
            "10.0.0.3/32 10.9.0.0/16 02:00:00:00:00:02",
            1,
            2,
        );
        h.push(0, h.packet(&REQUEST));
        let mut reply_like = REQUEST;
        reply_like[21] = 2;
        h.push(0, h.packet(&reply_like));
        h.push(0, h.packet(&REQUEST[..30]));
        let out = h.take();
        assert_eq!(out.iter().map(|o| o.port).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(out[2].data, &REQUEST[..30]);
    }

    #[test]
    fn without_output_1_drops_and_counts() {
        let mut h = harness(&ARPResponder, "10.0.0.3 02:00:00:00:00:02", 1, 1);
        h.push(0, h.packet(&REQUEST));
        assert!(h.take().is_empty());
        assert_eq!(h.read("drops"), "1");
    }

    #[test]
    fn most_specific_entry_and_later_duplicate_win() {
        let mut h = harness(
            &ARPResponder,
            "10.0.0.0/8 02:00:00:00:00:08, 10.0.0.2 02:00:00:00:00:20, 10.0.0.0/8 02:00:00:00:00:09",
            1,
            1,
        );
        assert_eq!(
            h.read("table"),
            "10.0.0.2/32 02-00-00-00-00-20\n10.0.0.0/8 02-00-00-00-00-09\n"
        );
        h.push(0, h.packet(&REQUEST));
        assert_eq!(h.take()[0].data[27], 0x20);
        h.write("remove", "10.0.0.2/32").unwrap();
        h.push(0, h.packet(&REQUEST));
        assert_eq!(h.take()[0].data[27], 0x09);
        assert!(h.write("remove", "10.0.0.2/32").is_err());
        h.write("add", "10.0.0.2/31 02:00:00:00:00:31").unwrap();
        h.push(0, h.packet(&REQUEST));
        assert_eq!(h.take()[0].data[27], 0x31);
    }

    #[test]
    fn bad_arguments_are_reported() {
        use super::super::testutil::try_harness;
        for bad in [
            "10.0.0.1",
            "02:00:00:00:00:01",
            "10.0.0.1 1:2:3:4:5:6 1:2:3:4:5:7",
            "x y",
        ] {
            let e = try_harness(&ARPResponder, bad, 1, 1, 4)
                .err()
                .expect("must fail");
            assert!(
                e.lines().next().unwrap().contains("argument 0: "),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn config_writes_replace_the_table_and_lookup_answers() {
        use crate::testutil::{Bench, Harness};
        let h = Harness::new(
            Bench::new(),
            &[
                ("dut", "ARPResponder", "10.0.0.1 02:00:00:00:00:01", 1, 1),
                (
                    "ai",
                    "AddressInfo",
                    "a 1.0.0.2/24 00:01:02:03:04:05, b 00:01:02:03:04:06",
                    0,
                    0,
                ),
            ],
        )
        .unwrap();
        let lookup = |a: &str| h.router.read_handler_with("dut.lookup", a).unwrap();
        assert_eq!(lookup("10.0.0.1"), "02-00-00-00-00-01");
        assert_eq!(lookup("10.0.0.2"), "");
        // A later entry for the same prefix wins; the more specific entry comes first.
        h.write("config", "a, a:ipnet b:eth, a").unwrap();
        assert_eq!(
            h.read("table"),
            "1.0.0.2/32 00-01-02-03-04-05\n1.0.0.0/24 00-01-02-03-04-06\n"
        );
        assert_eq!(h.read("config"), "a, a:ipnet b:eth, a");
        assert_eq!(lookup("1.0.0.9"), "00-01-02-03-04-06");
        assert_eq!(lookup("10.0.0.1"), "", "the old table is gone");
        // The one warning, under the call, as Click reports it.
        let lines = h.bench.lines();
        assert_eq!(
            lines[lines.len() - 2..],
            [
                "While calling 'dut.config a, a:ipnet b:eth, a':",
                "  warning: multiple entries for 1.0.0.2/32"
            ]
        );
        // A bad configuration changes nothing.
        let e = h.write("config", "a, zz").unwrap_err();
        assert_eq!(e.to_string(), "argument 1: expected IP/MASK ETH");
        assert_eq!(h.read("config"), "a, a:ipnet b:eth, a");
        assert_eq!(lookup("1.0.0.2"), "00-01-02-03-04-05");
        // Handler writes take AddressInfo names too.
        h.write("remove", "a").unwrap();
        h.write("add", "a:ipnet a:eth").unwrap();
        assert_eq!(h.read("table"), "1.0.0.0/24 00-01-02-03-04-05\n");
    }
}
