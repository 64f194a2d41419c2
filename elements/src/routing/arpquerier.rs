//! `ARPQuerier(IP, ETH [, keywords])` — encapsulates IP packets in Ethernet headers, resolving next hops with ARP.
//!
//! **Ports:** `2/1-2`: two inputs, one or two outputs.
//!
//! **Processing:** `h`: push.
//!
//! Input 0 takes IP packets whose destination IP annotation names the next hop. When that
//! address's Ethernet address is known, the packet gets an Ethernet header (source ETH,
//! EtherType IPv4) and leaves on output 0. Otherwise the packet is held and an ARP query for
//! the address is broadcast; when a reply for it arrives on input 1 (Ethernet frames), the
//! mapping is recorded and the held packets leave in arrival order. Queries leave on output 0,
//! or on output 1 when there are two outputs.
//!
//! Special next hops: 0.0.0.0 is dropped (counted); 255.255.255.255 and the local broadcast
//! address go to FF-FF-FF-FF-FF-FF; multicast addresses go to 01-00-5E plus the low 23 bits of
//! the address (RFC 1112). None of these are queried.
//!
//! Queries for one address go out at most ten times a second, and every two seconds after
//! ten unanswered ones; each packet held for an unresolved address may send one (so held
//! traffic retries the query). Entries expire `TIMEOUT` after their last reply; from
//! `POLL_TIMEOUT` on, using an entry also sends a renewal query (unicast to the known address
//! unless `BROADCAST_POLL`). A timer removes expired entries every `TIMEOUT`.
//!
//! IP may be a prefix (`18.26.4.24/24`): the local broadcast address is then the prefix's
//! broadcast address. The one-argument form `ARPQuerier(NAME [, keywords])` takes NAME as an
//! AddressInfo name for both the IP address (or prefix) and the Ethernet address.
//!
//! **Keywords:**
//!
//! - `CAPACITY`: most packets held in all, default 2048 (0: no limit). On overflow the oldest
//!   entries' packets are dropped.
//! - `ENTRY_CAPACITY`: most entries, default 0 (no limit); the oldest go first.
//! - `ENTRY_PACKET_CAPACITY`: most packets held per entry, default 0 (no limit).
//! - `CAPACITY_SLIM_FACTOR`: on overflow keep `CAPACITY - CAPACITY/factor`, default 2.
//! - `TIMEOUT`: entry lifetime, default 5 minutes (0: never expire).
//! - `POLL_TIMEOUT`: entry age at which renewal queries start, default 1 minute (0: never).
//! - `BROADCAST`: the local broadcast address.
//! - `BROADCAST_POLL`: send renewal queries broadcast, default false.
//! - `TABLE`: an `ARPTable` element (or another `ARPQuerier`) whose table to use instead of
//!   an own one, so that several queriers share their mappings and held packets. The table
//!   keywords above are then ignored (the table's own apply), and the table's element
//!   removes expired entries. A querier named here that itself uses `TABLE` must come
//!   before this one (it has found its table by then).
//!
//! **Handlers:** `table` (read: `IP OK ETH AGE` per entry), `stats` (read), `queries`,
//! `responses`, `drops` (packets this element dropped), `count` (entries), `length` (held
//! packets), `table_drops` (packets the table dropped), `ipaddr` and `broadcast` (read/write),
//! `insert` (write `IP ETH`), `delete` (write `IP`), `clear` (write: empties the table and
//! zeroes the counters).
//!
//! **Hot reconfiguration:** an `ARPQuerier` that replaces one of the same name and the
//! same IP, Ethernet and broadcast addresses through `hotconfig` takes its table (known
//! entries with their ages, pending ones with their held packets) and its `queries`,
//! `responses` and `drops` counts, as Click's does; the new limits apply from the next
//! change on. One for other addresses starts empty. With `TABLE` on either side, only the
//! counts are carried: a shared table carries over with its `ARPTable`.
//!
//! **Example:**
//!
//! ```text
//! c :: Classifier(12/0806 20/0002, 12/0800, ...);
//! a :: ARPQuerier(18.26.4.24, 00:00:C0:AE:67:EF);
//! c[0] -> [1]a; c[1] -> ... -> [0]a;
//! a -> ToDevice(eth0);
//! ```
//!
//! **Differences from Click:** held packets live in per-entry queues that grow on the miss
//! path; the `insert` handler sends the packets held for the address on at once (Click's
//! keeps them until a reply).

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use core::any::Any;
use core::cell::RefCell;
use core::net::Ipv4Addr;
use core::time::Duration;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, Packet,
};

use super::addr::{mask_of, parse_ether, parse_ip, parse_prefix};
use super::arpmsg::ArpMsg;
use super::arptable::{parse_insert, read_limits, table_read, ArpTable, Held, SharedArpTable};
use crate::wire::arp::{OP_REPLY, OP_REQUEST};
use crate::wire::ethernet::{is_group, EthernetFrame, BROADCAST, ETHERTYPE_IPV4, HEADER_LEN};

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The element.
pub struct ArpQuerier {
    my_ip: u32,
    my_eth: [u8; 6],
    bcast: u32,
    poll_timeout_ns: u64,
    broadcast_poll: bool,
    /// This querier's own table, or the one of the element `TABLE` names (found at
    /// initialization). Borrowed for one table operation at a time and never while a
    /// packet is output, so that a querier sharing it downstream can borrow it in turn.
    table: SharedArpTable,
    /// The `TABLE` argument: the element whose table to use instead of an own one.
    table_name: Option<String>,
    /// `table` is the one `TABLE` names (set at initialization).
    table_found: bool,
    queries: u64,
    responses: u64,
    drops: u64,
    /// Queries that could not be sent for want of a buffer.
    query_failures: u64,
    zero_warned: bool,
    /// The clock as of the last packet, timer or handler write: read handlers have no
    /// context, so the `table` ages are reported as of then.
    last_now: u64,
}

const HANDLERS: &[Handler] = &[
    Handler::read("table"),
    Handler::read("stats"),
    Handler::read("queries"),
    Handler::read("responses"),
    Handler::read("drops"),
    Handler::read("count"),
    Handler::read("length"),
    Handler::read("table_drops"),
    Handler::read_write("ipaddr"),
    Handler::read_write("broadcast"),
    Handler::write("insert"),
    Handler::write("delete"),
    Handler::write("clear"),
];

/// What a query copies from the packet that caused it.
#[derive(Clone, Copy)]
struct QueryFor {
    ip: [u8; 4],
    timestamp_ns: u64,
    vlan_tci: u16,
    /// Known Ethernet address, for a unicast renewal query.
    unicast: Option<[u8; 6]>,
}

impl ArpQuerier {
    fn send_query(&mut self, ctx: &mut Context<'_>, q: QueryFor) {
        let dst = match q.unicast {
            Some(e) if !self.broadcast_poll => e,
            _ => BROADCAST,
        };
        let msg = ArpMsg {
            op: OP_REQUEST,
            sha: self.my_eth,
            spa: self.my_ip.to_be_bytes(),
            tha: [0; 6],
            tpa: q.ip,
        };
        let Some(mut p) = msg.build(ctx.pool(), dst, self.my_eth) else {
            self.query_failures += 1;
            return;
        };
        p.anno_mut().timestamp_ns = q.timestamp_ns;
        p.anno_mut().vlan_tci = q.vlan_tci;
        self.queries += 1;
        let port = ctx.noutputs().saturating_sub(1);
        // Click sends a query the moment it decides to: after the packets sent before it,
        // and (a renewal query) before the packet that prompted it.
        ctx.send_ahead();
        ctx.output(port, p);
        ctx.send_ahead();
    }

    /// Sends `p` (whose Ethernet header is in place when `encapsulated`) or holds it.
    fn handle_ip(&mut self, ctx: &mut Context<'_>, mut p: Packet, encapsulated: bool) {
        if self.my_ip == 0 {
            self.drops += 1;
            return;
        }
        if !encapsulated {
            if p.push(HEADER_LEN).is_err() {
                self.drops += 1;
                return;
            }
            EthernetFrame::new_unchecked(&mut p.data_mut()[..HEADER_LEN])
                .set_ethertype(ETHERTYPE_IPV4);
        }
        let dst_ip = p.anno().dst_ip;
        let dst = u32::from_be_bytes(dst_ip);
        let now = ctx.now();
        let mut p = p;
        let dst_eth = loop {
            // Click's table reads the clock for a lookup that finds an entry, and for every
            // packet it holds and reply it records (sluice ages entries by the slice's time).
            let found = {
                let mut table = self.table.borrow_mut();
                if table.has_entry(dst) {
                    ctx.clock_reads(1);
                }
                table.lookup(dst, now, self.poll_timeout_ns)
            };
            if let Some((eth, poll)) = found {
                if poll {
                    let q = QueryFor {
                        ip: dst_ip,
                        timestamp_ns: p.anno().timestamp_ns,
                        vlan_tci: p.anno().vlan_tci,
                        unicast: Some(eth),
                    };
                    self.send_query(ctx, q);
                }
                break eth;
            }
            if dst == u32::MAX || dst == self.bcast {
                break BROADCAST;
            }
            if dst_ip[0] & 0xf0 == 0xe0 {
                break [0x01, 0x00, 0x5e, dst_ip[1] & 0x7f, dst_ip[2], dst_ip[3]];
            }
            if dst == 0 {
                self.drops += 1;
                if !self.zero_warned {
                    self.zero_warned = true;
                    ctx.log(&format!(
                        "{}: would query for 0.0.0.0; missing dest IP addr annotation?",
                        ctx.name()
                    ));
                }
                return;
            }
            let q = QueryFor {
                ip: dst_ip,
                timestamp_ns: p.anno().timestamp_ns,
                vlan_tci: p.anno().vlan_tci,
                unicast: None,
            };
            ctx.clock_reads(1);
            let held = self.table.borrow_mut().hold(dst, p, now);
            match held {
                Held::Queued { query } => {
                    if query {
                        self.send_query(ctx, q);
                    }
                    return;
                }
                Held::Dropped => return,
                Held::Known(back) => p = back,
            }
        };
        // The source address is written at send time, so a packet held across an `ipaddr`
        // change still leaves with the current address.
        let mut eth = EthernetFrame::new_unchecked(&mut p.data_mut()[..HEADER_LEN]);
        eth.set_dst_addr(dst_eth);
        eth.set_src_addr(self.my_eth);
        ctx.output(0, p);
    }

    fn handle_response(&mut self, ctx: &mut Context<'_>, p: &Packet) {
        let Some(m) = ArpMsg::parse(p.data()) else {
            if p.len() >= super::arpmsg::FRAME_LEN {
                self.responses += 1;
            }
            return;
        };
        self.responses += 1;
        if m.op != OP_REPLY || is_group(m.sha) {
            return;
        }
        ctx.clock_reads(1);
        let held = self
            .table
            .borrow_mut()
            .insert(u32::from_be_bytes(m.spa), m.sha, ctx.now());
        for q in held {
            self.handle_ip(ctx, q, true);
        }
    }
}

impl Element for ArpQuerier {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, port: usize, batch: Batch) {
        self.last_now = ctx.now();
        for p in batch {
            if port == 0 {
                self.handle_ip(ctx, p, false);
            } else {
                self.handle_response(ctx, &p);
            }
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        if let Some(name) = &self.table_name {
            let e = ctx
                .element(name)
                .ok_or_else(|| format!("TABLE: '{name}' does not name an element"))?;
            // An ARPQuerier's table serves too, as Click's cast to ARPTable allows; one that
            // shares a table of its own offers it once it has found it.
            let table = e
                .shared
                .and_then(|s| s.downcast::<RefCell<ArpTable>>().ok())
                .ok_or_else(|| match e.class {
                    "ARPQuerier" => format!(
                        "TABLE: '{name}' uses the table of another element and comes after this \
                         querier: name that element instead"
                    ),
                    class => format!(
                        "TABLE: element type mismatch, expected ARPTable ('{name}' is {class})"
                    ),
                })?;
            // The table's element ages it.
            self.table = table;
            self.table_found = true;
            return Ok(());
        }
        let timeout = self.table.borrow().limits().timeout_ns;
        if timeout != 0 {
            // Scheduling Click's expiry timer reads the clock.
            ctx.clock_reads(1);
            ctx.set_timer(ctx.now().saturating_add(timeout));
        }
        Ok(())
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut alloc::vec::Vec<String>) {
        // As Click's: only from a querier for the same addresses.
        let Some(old) = old.downcast_mut::<ArpQuerier>() else {
            return;
        };
        if (old.my_ip, old.my_eth, old.bcast) != (self.my_ip, self.my_eth, self.bcast) {
            return;
        }
        // The table only when both own theirs: a shared table carries itself over (its
        // `ARPTable` takes the old one's entries).
        if self.table_name.is_none() && old.table_name.is_none() {
            if let (Ok(mut new), Ok(mut old)) =
                (self.table.try_borrow_mut(), old.table.try_borrow_mut())
            {
                new.take_entries(&mut old);
            }
        }
        self.queries = old.queries;
        self.responses = old.responses;
        self.drops = old.drops;
        self.last_now = old.last_now;
    }

    fn shared_state(&self) -> Option<Rc<dyn Any>> {
        if self.table_name.is_some() && !self.table_found {
            return None;
        }
        let table: SharedArpTable = Rc::clone(&self.table);
        Some(table)
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        self.last_now = now;
        let timeout = {
            let mut table = self.table.borrow_mut();
            table.slim(now);
            table.limits().timeout_ns
        };
        // Click reads the clock to slim the table, and again to schedule the next expiry.
        ctx.clock_reads(1 + u64::from(timeout != 0));
        if timeout != 0 {
            ctx.set_timer(now.saturating_add(timeout).saturating_add(1_000_000_000));
        }
    }

    fn read_handler_with(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        params: &str,
    ) -> Option<Result<String, HandlerError>> {
        if let Err(e) = table_read(name, params)? {
            return Some(Err(e));
        }
        // Click's table reads the clock to age its entries.
        ctx.clock_reads(1);
        Some(Ok(self.table.borrow().unparse(self.last_now)))
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        let table = self.table.try_borrow().ok()?;
        Some(match name {
            "stats" => format!(
                "{} packets killed\n{} ARP queries sent\n",
                self.drops + table.drops(),
                self.queries
            ),
            "queries" => self.queries.to_string(),
            "responses" => self.responses.to_string(),
            "drops" => self.drops.to_string(),
            "count" => table.count().to_string(),
            "length" => table.length().to_string(),
            "table_drops" => table.drops().to_string(),
            "ipaddr" => Ipv4Addr::from(self.my_ip).to_string(),
            "broadcast" => Ipv4Addr::from(self.bcast).to_string(),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let bad = HandlerError::BadValue;
        self.last_now = ctx.now();
        match name {
            "ipaddr" => self.my_ip = parse_ip(value.trim(), None).map_err(bad)?.into(),
            "broadcast" => self.bcast = parse_ip(value.trim(), None).map_err(bad)?.into(),
            "insert" => {
                let (ip, eth) = parse_insert(value).map_err(bad)?;
                ctx.clock_reads(1);
                let held = self.table.borrow_mut().insert(ip, eth, ctx.now());
                for q in held {
                    self.handle_ip(ctx, q, true);
                }
            }
            "delete" => {
                let ip = parse_ip(value.trim(), None).map_err(bad)?;
                ctx.clock_reads(1);
                drop(
                    self.table
                        .borrow_mut()
                        .insert(ip.into(), BROADCAST, ctx.now()),
                );
            }
            "clear" => {
                self.queries = 0;
                self.drops = 0;
                self.responses = 0;
                self.table.borrow_mut().clear();
            }
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let limits = read_limits(args);
    let poll_timeout = args
        .read_k::<Duration>("POLL_TIMEOUT")
        .map_or(60_000_000_000, duration_ns);
    let bcast_kw = args.read_k::<Ipv4Addr>("BROADCAST");
    let broadcast_poll = args.read_k::<bool>("BROADCAST_POLL").unwrap_or(false);
    let table_name = args.read_k::<String>("TABLE");
    let limits = limits?;
    let names = Some(cctx.names);
    let ip_kw = args.read_k::<String>("IP");
    let eth_kw = args.read_k::<String>("ETH");
    let mut pos = args.rest();
    let (ip_text, ip_span, eth_text, eth_span) = match (ip_kw, eth_kw, pos.len()) {
        (Some(i), Some(e), 0) => (i, None, e, None),
        (None, None, 1) => {
            let a = pos.remove(0);
            (a.text.into(), Some(a.span), a.text.into(), Some(a.span))
        }
        (None, None, 2) => (
            pos[0].text.into(),
            Some(pos[0].span),
            pos[1].text.into(),
            Some(pos[1].span),
        ),
        (Some(i), None, 1) => (i, None, pos[0].text.into(), Some(pos[0].span)),
        (None, None, 0) => {
            args.error_whole("missing mandatory IP argument");
            return None;
        }
        _ => {
            args.error_whole("expected 'IP, ETH' or 'NAME' (and keywords)");
            return None;
        }
    };
    let report = |args: &mut Args<'_>, span: Option<sluice_config::Span>, msg: String| match span {
        Some(s) => args.error(s, msg),
        None => args.error_whole(msg),
    };
    let prefix = match parse_prefix(&ip_text, names, false) {
        Ok(p) => p,
        Err(e) => {
            report(args, ip_span, format!("IP: {e}"));
            return None;
        }
    };
    let my_eth = match parse_ether(&eth_text, names) {
        Ok(e) => e,
        Err(e) => {
            report(args, eth_span, format!("ETH: {e}"));
            return None;
        }
    };
    let my_ip = u32::from(prefix.addr);
    let bcast = match bcast_kw {
        Some(b) => u32::from(b),
        None => {
            let b = my_ip | !mask_of(prefix.len);
            if b == my_ip {
                u32::MAX
            } else {
                b
            }
        }
    };
    Some(Box::new(ArpQuerier {
        my_ip,
        my_eth,
        bcast,
        poll_timeout_ns: poll_timeout,
        broadcast_poll,
        table: Rc::new(RefCell::new(ArpTable::new(limits))),
        table_name,
        table_found: false,
        queries: 0,
        responses: 0,
        drops: 0,
        query_failures: 0,
        zero_warned: false,
        last_now: 0,
    }))
}

/// `ARPQuerier`: see the module docs.
pub static ARPQuerier: ElementClass = ElementClass {
    name: "ARPQuerier",
    ports: "2/1-2",
    processing: "h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, ipv4, Harness};
    use super::*;
    use alloc::vec::Vec;

    const S: u64 = 1_000_000_000;
    const ME: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// Who has 10.0.0.2? Tell 10.0.0.1.
    const QUERY: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, // eth
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // fixed
        2, 0, 0, 0, 0, 1, 10, 0, 0, 1, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 0, 2, // target
    ];

    fn reply_from(ip: [u8; 4], eth: [u8; 6]) -> Vec<u8> {
        let m = ArpMsg {
            op: OP_REPLY,
            sha: eth,
            spa: ip,
            tha: ME,
            tpa: [10, 0, 0, 1],
        };
        let pool = sluice_dataplane::PacketPool::new(1);
        m.build(&pool, ME, eth).unwrap().data().to_vec()
    }

    fn send_ip(h: &mut Harness, next_hop: [u8; 4], tag: u8) {
        let bytes = ipv4([10, 0, 0, 1], [192, 168, 9, 9], 17, &[tag; 8]);
        h.push_ip(0, &bytes, 0, |a| a.dst_ip = next_hop);
    }

    #[test]
    fn table_reads_the_simulated_clock_as_clicks_does() {
        use crate::testutil::{graph, simtime_router};
        use sluice_dataplane::{Batch, Clock, PacketPool, SimClock};
        let g = graph(
            &[
                ("q", "ARPQuerier", "10.0.0.1/24, 02:00:00:00:00:01"),
                ("o", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let pool = PacketPool::new(16);
        let (mut r, clock) = simtime_router(&g, &pool);
        let reads = |n: u64| SimClock::STARTUP_READS + n;
        assert_eq!(clock.now_ns(), reads(1), "scheduling the expiry timer");
        let ip_to = |dst: [u8; 4]| {
            let bytes = ipv4([10, 0, 0, 1], [192, 168, 9, 9], 17, &[0; 8]);
            let mut p = pool.alloc_from(&bytes).unwrap();
            p.set_network_offset(0);
            p.anno_mut().dst_ip = dst;
            Batch::from_iter([p])
        };
        r.push_to("q", 0, ip_to([10, 0, 0, 2])).unwrap();
        assert_eq!(
            clock.now_ns(),
            reads(2),
            "no entry to look up; holding reads"
        );
        let reply = pool.alloc_from(&reply_from([10, 0, 0, 2], PEER)).unwrap();
        r.push_to("q", 1, Batch::from_iter([reply])).unwrap();
        assert_eq!(
            clock.now_ns(),
            reads(4),
            "recording, then the held packet's lookup"
        );
        r.push_to("q", 0, ip_to([10, 0, 0, 2])).unwrap();
        r.push_to("q", 0, ip_to([10, 0, 0, 255])).unwrap();
        assert_eq!(
            clock.now_ns(),
            reads(5),
            "a lookup that finds no entry reads nothing"
        );
        r.read_handler("q.table").unwrap();
        assert_eq!(clock.now_ns(), reads(6));
    }

    #[test]
    fn hotconfig_carries_the_table_and_held_packets_to_the_same_addresses() {
        use crate::testutil::{collected, graph, hotswap, Bench};
        let b = Bench::new();
        let g = |config: &str| {
            graph(
                &[
                    ("q", "ARPQuerier", config),
                    ("o", "Collect", ""),
                    ("i", "Idle", ""),
                ],
                &[(2, 0, 0, 0), (2, 1, 0, 1), (0, 0, 1, 0)],
            )
        };
        let ip_to = |dst: [u8; 4], tag: u8| {
            let bytes = ipv4([10, 0, 0, 1], [192, 168, 9, 9], 17, &[tag; 8]);
            let mut p = b.packet(&bytes);
            p.set_network_offset(0);
            p.anno_mut().dst_ip = dst;
            sluice_dataplane::Batch::from_iter([p])
        };
        let me = "10.0.0.1/24, 02:00:00:00:00:01";
        let mut r = b.router(&g(me)).unwrap();
        r.write_handler("q.insert", "10.0.0.2 02:00:00:00:00:02")
            .unwrap();
        // A packet for 10.0.0.3 waits for an answer.
        r.push_to("q", 0, ip_to([10, 0, 0, 3], 7)).unwrap();
        assert_eq!(collected("o").len(), 1, "the query");
        hotswap(&mut r, &g(&format!("{me}, CAPACITY 10"))).unwrap();
        assert_eq!(r.read_handler("q.count").unwrap(), "2");
        assert_eq!(r.read_handler("q.length").unwrap(), "1");
        assert_eq!(r.read_handler("q.queries").unwrap(), "1");
        // The known entry answers at once; the answer for 10.0.0.3 frees the held packet.
        r.push_to("q", 0, ip_to([10, 0, 0, 2], 8)).unwrap();
        let reply = b.packet(&reply_from([10, 0, 0, 3], PEER));
        r.push_to("q", 1, sluice_dataplane::Batch::from_iter([reply]))
            .unwrap();
        let out = collected("o");
        let tags: Vec<u8> = out.iter().map(|o| o.data[o.data.len() - 1]).collect();
        assert_eq!(tags, [8, 7]);
        assert_eq!(out[1].data[..6], PEER);

        // Other addresses: a fresh table.
        hotswap(&mut r, &g("10.0.0.9/24, 02:00:00:00:00:01")).unwrap();
        assert_eq!(r.read_handler("q.count").unwrap(), "0");
        assert_eq!(r.read_handler("q.queries").unwrap(), "0");
        assert_eq!(b.pool.stats().in_use(), 0);
    }

    /// `t :: ARPTable(TABLE_CONFIG)` and queriers `a` (10.0.0.1) and `b` (10.0.0.5) on it,
    /// each sending to `o`, with their inputs idle.
    fn shared_graph(a: &str, b: &str) -> sluice_config::FlatGraph {
        crate::testutil::graph(
            &[
                ("t", "ARPTable", ""),
                ("a", "ARPQuerier", a),
                ("b", "ARPQuerier", b),
                ("o", "Collect", ""),
                ("i", "Idle", ""),
            ],
            &[
                (4, 0, 1, 0),
                (4, 1, 1, 1),
                (4, 2, 2, 0),
                (4, 3, 2, 1),
                (1, 0, 3, 0),
                (2, 0, 3, 0),
            ],
        )
    }

    const A: &str = "TABLE t, 10.0.0.1/24, 02:00:00:00:00:01";
    const B: &str = "TABLE t, 10.0.0.5/24, 02:00:00:00:00:05";

    #[test]
    fn queriers_share_a_table() {
        use crate::testutil::{collected, Bench};
        let b = Bench::new();
        let mut r = b.router(&shared_graph(A, B)).unwrap();
        let ip_to = |dst: [u8; 4], tag: u8| {
            let bytes = ipv4([10, 0, 0, 1], [192, 168, 9, 9], 17, &[tag; 8]);
            let mut p = b.packet(&bytes);
            p.set_network_offset(0);
            p.anno_mut().dst_ip = dst;
            sluice_dataplane::Batch::from_iter([p])
        };
        r.write_handler("a.insert", "10.0.0.2 02:00:00:00:00:02")
            .unwrap();
        assert_eq!(r.read_handler("b.count").unwrap(), "1");
        assert_eq!(r.read_handler("t.count").unwrap(), "1");
        assert!(r
            .read_handler("b.table")
            .unwrap()
            .starts_with("10.0.0.2 1 02-00-00-00-00-02 "));
        // b sends at once with a's entry, from its own address.
        r.push_to("b", 0, ip_to([10, 0, 0, 2], 1)).unwrap();
        let out = collected("o");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data[..12], [PEER, [2, 0, 0, 0, 0, 5]].concat());
        // A packet b holds is released by a reply a hears, and leaves through a.
        r.push_to("b", 0, ip_to([10, 0, 0, 3], 2)).unwrap();
        assert_eq!(collected("o").len(), 1, "b's query");
        assert_eq!(r.read_handler("t.length").unwrap(), "1");
        let reply = b.packet(&reply_from([10, 0, 0, 3], PEER));
        r.push_to("a", 1, sluice_dataplane::Batch::from_iter([reply]))
            .unwrap();
        let out = collected("o");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data[..12], [PEER, ME].concat());
        assert_eq!(r.read_handler("t.length").unwrap(), "0");
        // Clearing through a querier clears the shared table.
        r.write_handler("b.clear", "").unwrap();
        assert_eq!(r.read_handler("a.count").unwrap(), "0");
        assert_eq!(b.pool.stats().in_use(), 0);
    }

    #[test]
    fn a_querier_may_name_another_querier_as_its_table() {
        use crate::testutil::Bench;
        let b = Bench::new();
        let g = shared_graph(
            "10.0.0.1/24, 02:00:00:00:00:01",
            "TABLE a, 10.0.0.5, 2:0:0:0:0:5",
        );
        let r = b.router(&g).unwrap();
        r.write_handler("a.insert", "10.0.0.2 02:00:00:00:00:02")
            .unwrap();
        assert_eq!(r.read_handler("b.count").unwrap(), "1");
        assert_eq!(r.read_handler("t.count").unwrap(), "0");
    }

    #[test]
    fn a_querier_named_as_a_table_before_it_found_its_own_is_refused() {
        use crate::testutil::Bench;
        let b = Bench::new();
        // `a` names `b`, which shares `t` but initializes after `a`.
        let err = b
            .router(&shared_graph("TABLE b, 10.0.0.1, 2:0:0:0:0:1", B))
            .err()
            .unwrap();
        assert!(
            err.contains(
                "TABLE: 'b' uses the table of another element and comes after this querier"
            ),
            "{err}"
        );
        // The other way round works: `b` names `a`, which found `t` first.
        let r = b
            .router(&shared_graph(A, "TABLE a, 10.0.0.5, 2:0:0:0:0:5"))
            .unwrap();
        r.write_handler("a.insert", "10.0.0.2 02:00:00:00:00:02")
            .unwrap();
        assert_eq!(r.read_handler("t.count").unwrap(), "1");
        assert_eq!(r.read_handler("b.count").unwrap(), "1");
    }

    #[test]
    fn table_must_name_a_table() {
        use crate::testutil::Bench;
        let b = Bench::new();
        let err = b
            .router(&shared_graph(A, "TABLE nowhere, 10.0.0.5, 2:0:0:0:0:5"))
            .err()
            .unwrap();
        assert!(
            err.contains("TABLE: 'nowhere' does not name an element"),
            "{err}"
        );
        let err = b
            .router(&shared_graph(A, "TABLE o, 10.0.0.5, 2:0:0:0:0:5"))
            .err()
            .unwrap();
        assert!(
            err.contains("TABLE: element type mismatch, expected ARPTable ('o' is Collect)"),
            "{err}"
        );
    }

    #[test]
    fn hotconfig_carries_a_shared_table_with_its_arptable() {
        use crate::testutil::{hotswap, Bench};
        let b = Bench::new();
        let mut r = b.router(&shared_graph(A, B)).unwrap();
        r.write_handler("a.insert", "10.0.0.2 02:00:00:00:00:02")
            .unwrap();
        // The queriers change addresses; the table comes along with t.
        let a2 = "TABLE t, 10.0.0.9/24, 02:00:00:00:00:09";
        hotswap(&mut r, &shared_graph(a2, B)).unwrap();
        assert_eq!(r.read_handler("t.count").unwrap(), "1");
        assert_eq!(r.read_handler("a.count").unwrap(), "1");
        assert_eq!(r.read_handler("b.count").unwrap(), "1");
        // A querier that owned its table and now shares one does not pull its old
        // entries into the shared table.
        let own = "10.0.0.1/24, 02:00:00:00:00:01";
        hotswap(&mut r, &shared_graph(own, B)).unwrap();
        r.write_handler("a.insert", "10.0.0.7 02:00:00:00:00:07")
            .unwrap();
        hotswap(&mut r, &shared_graph(A, B)).unwrap();
        assert_eq!(r.read_handler("t.count").unwrap(), "1");
        assert!(r.read_handler("a.table").unwrap().starts_with("10.0.0.2 "));
    }

    fn querier(outputs: usize) -> Harness {
        harness(&ARPQuerier, "10.0.0.1/24, 02:00:00:00:00:01", 2, outputs)
    }

    #[test]
    fn resolution_flow() {
        let mut h = querier(1);
        send_ip(&mut h, [10, 0, 0, 2], 1);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, QUERY, "query emitted, packet held");
        assert_eq!(
            (h.read("queries"), h.read("length"), h.read("count")),
            ("1".into(), "1".into(), "1".into())
        );

        h.push(1, h.packet(&reply_from([10, 0, 0, 2], PEER)));
        let out = h.take();
        assert_eq!(out.len(), 1, "held packet released");
        let ip = ipv4([10, 0, 0, 1], [192, 168, 9, 9], 17, &[1; 8]);
        let mut want = Vec::from(PEER);
        want.extend_from_slice(&ME);
        want.extend_from_slice(&[0x08, 0x00]);
        want.extend_from_slice(&ip);
        assert_eq!(out[0].data, want);
        assert_eq!(h.read("responses"), "1");
        assert_eq!(h.read("length"), "0");
        assert_eq!(h.read("table"), "10.0.0.2 1 02-00-00-00-00-02 0.000000\n");

        // Known now: straight through.
        send_ip(&mut h, [10, 0, 0, 2], 2);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..6], &PEER);
        assert_eq!(h.read("queries"), "1");
    }

    #[test]
    fn two_outputs_put_queries_on_output_1() {
        let mut h = querier(2);
        send_ip(&mut h, [10, 0, 0, 2], 1);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].port, 1);
        h.push(1, h.packet(&reply_from([10, 0, 0, 2], PEER)));
        assert_eq!(h.take()[0].port, 0);
    }

    #[test]
    fn special_addresses() {
        let mut h = querier(1);
        send_ip(&mut h, [10, 0, 0, 255], 1);
        send_ip(&mut h, [255, 255, 255, 255], 2);
        send_ip(&mut h, [224, 129, 2, 3], 3);
        send_ip(&mut h, [0, 0, 0, 0], 4);
        let out = h.take();
        assert_eq!(out.len(), 3);
        assert_eq!(&out[0].data[..6], &BROADCAST);
        assert_eq!(&out[1].data[..6], &BROADCAST);
        assert_eq!(&out[2].data[..6], &[0x01, 0x00, 0x5e, 0x01, 2, 3]);
        assert_eq!(h.read("drops"), "1");
        assert_eq!(h.read("queries"), "0");
    }

    #[test]
    fn query_retries_are_rate_limited() {
        let mut h = querier(1);
        send_ip(&mut h, [10, 0, 0, 2], 1);
        h.advance(S / 20);
        send_ip(&mut h, [10, 0, 0, 2], 2);
        assert_eq!(h.read("queries"), "1", "50 ms later: no second query");
        h.advance(S / 20);
        send_ip(&mut h, [10, 0, 0, 2], 3);
        assert_eq!(h.read("queries"), "2", "100 ms later: retried");
        assert_eq!(h.take().len(), 2);
        h.push(1, h.packet(&reply_from([10, 0, 0, 2], PEER)));
        let tags: Vec<u8> = h.take().iter().map(|o| o.data[o.data.len() - 1]).collect();
        assert_eq!(tags, [1, 2, 3], "released in arrival order");
    }

    #[test]
    fn entries_time_out_and_poll() {
        let mut h = harness(
            &ARPQuerier,
            "10.0.0.1, 02:00:00:00:00:01, POLL_TIMEOUT 60, TIMEOUT 300",
            2,
            1,
        );
        h.write("insert", "10.0.0.2 02:00:00:00:00:02").unwrap();
        h.advance(61 * S);
        send_ip(&mut h, [10, 0, 0, 2], 1);
        let out = h.take();
        assert_eq!(out.len(), 2, "packet sent and renewal query");
        assert_eq!(
            out[0].data[12..14],
            [0x08, 0x06],
            "the query goes first, as in Click"
        );
        assert_eq!(&out[0].data[..6], &PEER, "renewal is unicast");
        h.advance(240 * S);
        assert_eq!(h.read("count"), "0", "expired and removed by the timer");
        send_ip(&mut h, [10, 0, 0, 2], 2);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..6], &BROADCAST, "queries again");
    }

    #[test]
    fn capacity_drops_are_counted() {
        let mut h = harness(&ARPQuerier, "10.0.0.1, 02:00:00:00:00:01, CAPACITY 2", 2, 1);
        for i in 0..3 {
            send_ip(&mut h, [10, 0, 0, 2], i);
        }
        assert_eq!(h.read("length"), "1");
        assert_eq!(h.read("table_drops"), "2");
        assert!(h.read("stats").starts_with("2 packets killed\n"));
        h.write("clear", "").unwrap();
        assert_eq!(
            (h.read("count"), h.read("queries")),
            ("0".into(), "0".into())
        );
        assert_eq!(h.read("table_drops"), "3");
    }

    #[test]
    fn hostile_replies_are_ignored() {
        let mut h = querier(1);
        send_ip(&mut h, [10, 0, 0, 2], 1);
        h.take();
        let good = reply_from([10, 0, 0, 2], PEER);
        for n in 0..good.len() {
            h.push(1, h.packet(&good[..n]));
        }
        h.push(1, h.packet(&reply_from([10, 0, 0, 2], [0xff; 6])));
        let mut req = good.clone();
        req[21] = 1;
        h.push(1, h.packet(&req));
        assert!(h.take().is_empty());
        assert_eq!(h.read("length"), "1");
        assert_eq!(h.read("responses"), "2");
    }

    #[test]
    fn one_argument_form_and_errors() {
        use super::super::testutil::try_harness;
        assert!(try_harness(&ARPQuerier, "10.0.0.1", 2, 1, 4).is_err());
        assert!(try_harness(
            &ARPQuerier,
            "10.0.0.1, 1:2:3:4:5:6, CAPACITY_SLIM_FACTOR 0",
            2,
            1,
            4
        )
        .is_err());
        let h = harness(&ARPQuerier, "10.0.0.1/8, 1:2:3:4:5:6", 2, 1);
        assert_eq!(h.read("broadcast"), "10.255.255.255");
        let h = harness(
            &ARPQuerier,
            "10.0.0.1, 1:2:3:4:5:6, BROADCAST 10.0.0.127",
            2,
            1,
        );
        assert_eq!(h.read("broadcast"), "10.0.0.127");
        assert_eq!(h.read("ipaddr"), "10.0.0.1");
    }
}
