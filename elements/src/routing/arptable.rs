//! `ARPTable([keywords])` — holds IP-to-Ethernet mappings for the `ARPQuerier`s that name it.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a/a` (unused: no ports).
//!
//! An information element: the table of an `ARPQuerier`, standing alone so that several
//! queriers can share it (`ARPQuerier(TABLE t, ...)`). Each entry maps an IP address to an
//! Ethernet address and holds the packets waiting for that address to be resolved. An entry
//! is *known* when its Ethernet address is real (not FF-FF-FF-FF-FF-FF) and it has not
//! expired. Entry times count in whole milliseconds, as Click's do. A timer removes expired
//! entries: first after the whole seconds of `TIMEOUT`, then every `TIMEOUT` plus one
//! second (in whole seconds), as Click's does.
//!
//! **Keywords:**
//!
//! - `CAPACITY`: most packets held in all, default 2048 (0: no limit). On overflow the oldest
//!   entries' packets are dropped.
//! - `ENTRY_CAPACITY`: most entries, default 0 (no limit); the oldest go first.
//! - `ENTRY_PACKET_CAPACITY`: most packets held per entry, default 0 (no limit); a packet
//!   beyond it is dropped.
//! - `CAPACITY_SLIM_FACTOR`: on overflow keep `CAPACITY - CAPACITY/factor`, default 2.
//! - `TIMEOUT`: entry lifetime after its last confirmation, default 5 minutes (0: never
//!   expire).
//!
//! **Handlers:** `table` (read: `IP OK ETH AGE` per entry, oldest first: OK is 1 for a known
//! entry, AGE the seconds since it was last confirmed), `count` (read: entries), `length`
//! (read: held packets), `drops` (read: packets dropped for timeouts or limits), `insert`
//! (write `IP ETH`: the entry is known from now on), `delete` (write `IP`: the entry becomes
//! unknown), `clear` (write: drops every entry and held packet).
//!
//! **Hot reconfiguration:** an `ARPTable` that replaces one of the same name through
//! `hotconfig` takes its entries (with their ages and held packets) and its drop count, as
//! Click's does; the new limits apply from the next change on. The `ARPQuerier`s naming
//! it see the carried entries.
//!
//! **Example:**
//!
//! ```text
//! arpt :: ARPTable(TIMEOUT 60s);
//! q0 :: ARPQuerier(TABLE arpt, 10.0.0.1, 00:00:C0:AE:67:EF);
//! q1 :: ARPQuerier(TABLE arpt, 10.0.0.2, 00:00:C0:AE:67:F0);
//! ```
//!
//! **Differences from Click:** packets held in the table and given an address by the
//! `insert` handler stay held until a reply for the address reaches a querier, as in
//! Click (an `ARPQuerier`'s own `insert` handler sends them on at once).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use core::any::Any;
use core::cell::RefCell;
use core::fmt::Write;
use core::net::Ipv4Addr;
use core::time::Duration;

use sluice_config::args::Args;
use sluice_dataplane::clock::NS_PER_SEC;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    Packet,
};

use super::addr::unparse_ether;

/// Queries for one address go out at most this often...
const POLL_INTERVAL_NS: u64 = NS_PER_SEC / 10;
/// ...and, after this many unanswered queries, at most every two seconds.
const POLLS_BEFORE_BACKOFF: u8 = 10;
const BACKOFF_INTERVAL_NS: u64 = 2 * NS_PER_SEC;

/// Limits, as ARPQuerier's keywords set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpLimits {
    /// Most held packets in the table; 0 for no limit. Click's default is 2048.
    pub capacity: usize,
    /// Most entries; 0 for no limit.
    pub entry_capacity: usize,
    /// Most held packets per entry; 0 for no limit.
    pub entry_packet_capacity: usize,
    /// On overflow, drop down to `capacity - capacity / slim_factor` packets (at least 1).
    pub slim_factor: usize,
    /// Entry lifetime after its last reply, ns; 0 for never.
    pub timeout_ns: u64,
}

impl Default for ArpLimits {
    fn default() -> Self {
        Self {
            capacity: 2048,
            entry_capacity: 0,
            entry_packet_capacity: 0,
            slim_factor: 2,
            timeout_ns: 300 * NS_PER_SEC,
        }
    }
}

#[derive(Debug)]
struct Entry {
    eth: [u8; 6],
    known: bool,
    /// When the entry was last confirmed (or, for a pending one, created).
    live_at: u64,
    /// When a query for it was last sent; `None` when a query may go now.
    polled_at: Option<u64>,
    polls_since_reply: u8,
    held: VecDeque<Packet>,
}

impl Entry {
    fn expired(&self, now: u64, timeout: u64) -> bool {
        timeout != 0 && self.live_at.saturating_add(timeout) < now
    }

    fn known(&self, now: u64, timeout: u64) -> bool {
        self.known && !self.expired(now, timeout)
    }

    fn allow_poll(&self, now: u64) -> bool {
        let gap = if self.polls_since_reply >= POLLS_BEFORE_BACKOFF {
            BACKOFF_INTERVAL_NS
        } else {
            POLL_INTERVAL_NS
        };
        self.polled_at.is_none_or(|t| now >= t.saturating_add(gap))
    }

    fn mark_poll(&mut self, now: u64) {
        self.polled_at = Some(now);
        self.polls_since_reply = self.polls_since_reply.saturating_add(1);
    }
}

/// What [`ArpTable::hold`] did with a packet.
#[derive(Debug)]
pub enum Held {
    /// Held; send a query now (`true`) or not yet (rate limit).
    Queued { query: bool },
    /// The address became known meanwhile: send the packet instead.
    Known(Packet),
    /// The entry holds its most packets: the packet was dropped (counted).
    Dropped,
}

/// The IP-to-Ethernet table behind `ARPQuerier` and `ARPTable`: entries that age out,
/// packets held while their next hop is being resolved, and the query rate limit.
///
/// Times are nanoseconds on the router's clock. An entry is *known* when it holds a real
/// (non-broadcast) Ethernet address and has not expired (`TIMEOUT` after its last reply).
/// Held packets are bounded three ways, as in Click: per table (`CAPACITY`, on overflow the
/// oldest entries' packets are dropped until the table is `1/CAPACITY_SLIM_FACTOR` below
/// capacity), per entry (`ENTRY_PACKET_CAPACITY`, the new packet is dropped) and by entry count
/// (`ENTRY_CAPACITY`, the oldest entries go). Every dropped packet is counted.
#[derive(Debug, Default)]
pub struct ArpTable {
    entries: BTreeMap<u32, Entry>,
    /// The addresses in Click's age order, oldest first: a new entry goes to the back, a
    /// confirmed one moves to the back, a pending one kept from expiring moves forward past
    /// the entries confirmed before it (Click's list, moved the same way).
    age: VecDeque<u32>,
    packets: usize,
    drops: u64,
    limits: ArpLimits,
}

impl ArpTable {
    /// An empty table with `limits`.
    pub fn new(limits: ArpLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Takes every entry of `old`, with its held packets, its age and its poll state, and
    /// `old`'s drop count; `old` is left empty. This table's limits stay: they apply from
    /// the next change on.
    pub fn take_entries(&mut self, old: &mut ArpTable) {
        let fresh = ArpTable::new(old.limits);
        let limits = self.limits;
        *self = core::mem::replace(old, fresh);
        self.limits = limits;
    }

    /// The limits.
    pub fn limits(&self) -> ArpLimits {
        self.limits
    }

    /// Entries in the table.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has an entry for `ip`, known or not.
    pub fn has_entry(&self, ip: u32) -> bool {
        self.entries.contains_key(&ip)
    }

    /// Packets held.
    pub fn length(&self) -> usize {
        self.packets
    }

    /// Packets dropped by the table (timeouts, capacity limits, `clear`).
    pub fn drops(&self) -> u64 {
        self.drops
    }

    fn age_position(&self, ip: u32) -> Option<usize> {
        self.age.iter().position(|&a| a == ip)
    }

    /// Moves a just-confirmed `ip` to the back of the age order (unless it is there).
    fn move_to_back(&mut self, ip: u32) {
        if let Some(at) = self.age_position(ip) {
            if at + 1 != self.age.len() {
                self.age.remove(at);
                self.age.push_back(ip);
            }
        }
    }

    /// Moves `ip`, whose `live_at` just grew, forward past the entries after it that are
    /// older still.
    fn walk_forward(&mut self, ip: u32) {
        let Some(at) = self.age_position(ip) else {
            return;
        };
        let live_at = |t: &Self, a: u32| t.entries.get(&a).map_or(u64::MAX, |e| e.live_at);
        let mine = live_at(self, ip);
        let mut next = at + 1;
        while next < self.age.len() && live_at(self, self.age[next]) < mine {
            next += 1;
        }
        if next != at + 1 {
            self.age.remove(at);
            self.age.insert(next - 1, ip);
        }
    }

    fn remove_entry(&mut self, ip: u32) {
        if let Some(e) = self.entries.remove(&ip) {
            if let Some(at) = self.age_position(ip) {
                self.age.remove(at);
            }
            self.packets -= e.held.len();
            self.drops += e.held.len() as u64;
        }
    }

    /// Ages the table out: drops expired entries and entries beyond `ENTRY_CAPACITY` (oldest
    /// first), then, if too many packets are held, drops the oldest entries' packets.
    pub fn slim(&mut self, now: u64) {
        self.slim_counting(jiffies(now), 0);
    }

    /// [`Self::slim`], counting `pending` entries about to be added against the capacity.
    fn slim_counting(&mut self, now: u64, pending: usize) {
        let timeout = self.limits.timeout_ns;
        let cap = self.limits.entry_capacity;
        while let Some(&ip) = self.age.front() {
            let over = cap != 0 && self.entries.len() + pending > cap;
            let expired = self
                .entries
                .get(&ip)
                .is_some_and(|e| e.expired(now, timeout));
            if !(expired || over) {
                break;
            }
            self.remove_entry(ip);
        }
        let cap = self.limits.capacity;
        if cap != 0 && self.packets > cap {
            let target = (cap - cap / self.limits.slim_factor.max(1)).max(1);
            let order: alloc::vec::Vec<u32> = self.age.iter().copied().collect();
            for ip in order {
                if self.packets <= target {
                    break;
                }
                if let Some(e) = self.entries.get_mut(&ip) {
                    while self.packets > target && e.held.pop_front().is_some() {
                        self.packets -= 1;
                        self.drops += 1;
                    }
                }
            }
        }
    }

    /// The entry for `ip`, created (pending, query allowed at once) if absent.
    fn ensure(&mut self, ip: u32, now: u64) {
        if self.entries.contains_key(&ip) {
            return;
        }
        // Make room first, counting the entry about to be added, as Click does.
        let cap = self.limits.entry_capacity;
        if cap != 0 && self.entries.len() + 1 > cap {
            self.slim_counting(now, 1);
        }
        self.age.push_back(ip);
        self.entries.insert(
            ip,
            Entry {
                eth: [0xff; 6],
                known: false,
                live_at: now,
                polled_at: None,
                polls_since_reply: 0,
                held: VecDeque::new(),
            },
        );
    }

    /// The Ethernet address of `ip` if known, and whether to send a renewal query now
    /// (the entry is older than `poll_timeout_ns`, non-zero, and the rate limit allows).
    #[inline]
    pub fn lookup(&mut self, ip: u32, now: u64, poll_timeout_ns: u64) -> Option<([u8; 6], bool)> {
        let now = jiffies(now);
        let timeout = self.limits.timeout_ns;
        let e = self.entries.get_mut(&ip)?;
        if !e.known(now, timeout) {
            return None;
        }
        let poll = poll_timeout_ns != 0
            && now >= e.live_at.saturating_add(poll_timeout_ns)
            && e.allow_poll(now);
        if poll {
            e.mark_poll(now);
        }
        Some((e.eth, poll))
    }

    /// Records that `ip` is at `eth` (a reply, or a querier's `insert` handler) and hands
    /// back the packets held for it, oldest first. A broadcast `eth` makes the entry
    /// unknown (the `delete` handler).
    pub fn insert(&mut self, ip: u32, eth: [u8; 6], now: u64) -> VecDeque<Packet> {
        let now = jiffies(now);
        self.confirm(ip, eth, now);
        let Some(e) = self.entries.get_mut(&ip) else {
            return VecDeque::new();
        };
        let held = core::mem::take(&mut e.held);
        self.packets -= held.len();
        held
    }

    /// [`Self::insert`] that leaves the held packets where they are (an `ARPTable`'s
    /// `insert` and `delete` handlers, which have nowhere to send them): they leave with
    /// the next reply for `ip`.
    pub fn set(&mut self, ip: u32, eth: [u8; 6], now: u64) {
        self.confirm(ip, eth, jiffies(now));
    }

    /// Points the entry for `ip` (created if absent) at `eth` as of `now` (in jiffies).
    fn confirm(&mut self, ip: u32, eth: [u8; 6], now: u64) {
        self.ensure(ip, now);
        let Some(e) = self.entries.get_mut(&ip) else {
            return;
        };
        e.eth = eth;
        e.known = eth != [0xff; 6];
        e.live_at = now;
        e.polls_since_reply = 0;
        e.polled_at = None;
        self.move_to_back(ip);
    }

    /// Holds `p` until `ip` is resolved.
    pub fn hold(&mut self, ip: u32, p: Packet, now: u64) -> Held {
        let now = jiffies(now);
        self.ensure(ip, now);
        let timeout = self.limits.timeout_ns;
        let Some(e) = self.entries.get_mut(&ip) else {
            return Held::Dropped;
        };
        if e.known(now, timeout) {
            return Held::Known(p);
        }
        // While packets still wait for the address, keep the entry just short of expiring,
        // so that slimming below cannot delete the entry this packet joins.
        if timeout != 0 {
            let min_live = now.saturating_sub(timeout);
            if e.live_at < min_live {
                e.live_at = min_live;
                self.walk_forward(ip);
            }
        }
        let per_entry = self.limits.entry_packet_capacity;
        if per_entry != 0
            && self
                .entries
                .get(&ip)
                .is_some_and(|e| e.held.len() >= per_entry)
        {
            self.drops += 1;
            return Held::Dropped;
        }
        self.packets += 1;
        if self.limits.capacity != 0 && self.packets > self.limits.capacity {
            self.slim(now);
        }
        let Some(e) = self.entries.get_mut(&ip) else {
            self.packets -= 1;
            self.drops += 1;
            return Held::Dropped;
        };
        e.held.push_back(p);
        let query = e.allow_poll(now);
        if query {
            e.mark_poll(now);
        }
        Held::Queued { query }
    }

    /// Drops every entry and held packet (counted).
    pub fn clear(&mut self) {
        for e in self.entries.values() {
            self.drops += e.held.len() as u64;
        }
        self.entries.clear();
        self.age.clear();
        self.packets = 0;
    }

    /// Click's table text: `IP OK ETH AGE` per entry, oldest first, where OK is 1 for a known
    /// entry and AGE the seconds since the entry was last confirmed.
    pub fn unparse(&self, now: u64) -> String {
        let now = jiffies(now);
        let mut s = String::new();
        for ip in &self.age {
            let Some(e) = self.entries.get(ip) else {
                continue;
            };
            let ok = u8::from(e.known(now, self.limits.timeout_ns));
            let age = now.saturating_sub(e.live_at);
            let _ = writeln!(
                s,
                "{} {} {} {}.{:06}",
                Ipv4Addr::from(*ip),
                ok,
                unparse_ether(&e.eth),
                age / NS_PER_SEC,
                (age % NS_PER_SEC) / 1000
            );
        }
        s
    }
}

/// `now` in whole jiffies (milliseconds): Click's table keeps its times in jiffies, so two
/// events within one millisecond happen at the same time for it (which orders its entries).
fn jiffies(now: u64) -> u64 {
    now - now % 1_000_000
}

/// Whether a read with parameters is of the `table` handler (`None`: another handler), and
/// `Err` when it was given parameters, which it takes none of.
pub(super) fn table_read(name: &str, params: &str) -> Option<Result<(), HandlerError>> {
    (name == "table").then(|| {
        if params.is_empty() {
            Ok(())
        } else {
            Err(HandlerError::BadValue(
                "read handler 'table' takes no parameters".into(),
            ))
        }
    })
}

/// `IP ETH`, as the `insert` handler takes it.
pub fn parse_insert(s: &str) -> Result<(u32, [u8; 6]), String> {
    let mut w = s.split_whitespace();
    let (Some(ip), Some(eth), None) = (w.next(), w.next(), w.next()) else {
        return Err(format!("expected 'IP ETH', not '{s}'"));
    };
    let ip = super::addr::parse_ip(ip, None)?;
    let eth = super::addr::parse_ether(eth, None)?;
    Ok((u32::from(ip), eth))
}

/// A table that several elements use: an `ARPTable` element's, reached by the
/// `ARPQuerier`s that name it, or an `ARPQuerier`'s own. Borrowed only for one table
/// operation at a time, never across a packet's output.
pub type SharedArpTable = Rc<RefCell<ArpTable>>;

/// The table's keywords, shared by `ARPTable` and `ARPQuerier`. `None` after an error
/// (reported on `args`).
pub(super) fn read_limits(args: &mut Args<'_>) -> Option<ArpLimits> {
    let d = ArpLimits::default();
    let limits = ArpLimits {
        capacity: args.read_k::<usize>("CAPACITY").unwrap_or(d.capacity),
        entry_capacity: args
            .read_k::<usize>("ENTRY_CAPACITY")
            .unwrap_or(d.entry_capacity),
        entry_packet_capacity: args
            .read_k::<usize>("ENTRY_PACKET_CAPACITY")
            .unwrap_or(d.entry_packet_capacity),
        slim_factor: args
            .read_k::<usize>("CAPACITY_SLIM_FACTOR")
            .unwrap_or(d.slim_factor),
        timeout_ns: args
            .read_k::<Duration>("TIMEOUT")
            .map_or(d.timeout_ns, |t| {
                u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
            }),
    };
    if limits.slim_factor == 0 {
        args.error_whole("CAPACITY_SLIM_FACTOR cannot be zero");
        return None;
    }
    Some(limits)
}

/// Whole seconds of `ns`, in nanoseconds: Click's expiry timer counts in seconds.
fn whole_seconds(ns: u64) -> u64 {
    ns - ns % NS_PER_SEC
}

/// The `ARPTable` element.
pub struct ArpTableElement {
    table: SharedArpTable,
}

const HANDLERS: &[Handler] = &[
    Handler::read("table"),
    Handler::read("count"),
    Handler::read("length"),
    Handler::read("drops"),
    Handler::write("insert"),
    Handler::write("delete"),
    Handler::write("clear"),
];

impl ArpTableElement {
    fn timeout_ns(&self) -> u64 {
        self.table.try_borrow().map_or(0, |t| t.limits().timeout_ns)
    }
}

/// The handler error for a table in use (only possible if a handler is called while the
/// table is being changed, which the router does not do).
fn busy() -> HandlerError {
    HandlerError::BadValue("the ARP table is in use".into())
}

impl Element for ArpTableElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        let timeout = self.timeout_ns();
        if timeout != 0 {
            // Scheduling Click's expiry timer reads the clock.
            ctx.clock_reads(1);
            ctx.set_timer(ctx.now().saturating_add(whole_seconds(timeout)));
        }
        Ok(())
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if let Ok(mut t) = self.table.try_borrow_mut() {
            t.slim(now);
        }
        let timeout = self.timeout_ns();
        // Click reads the clock to slim the table, and again to schedule the next expiry.
        ctx.clock_reads(1 + u64::from(timeout != 0));
        if timeout != 0 {
            ctx.set_timer(now.saturating_add(whole_seconds(timeout) + NS_PER_SEC));
        }
    }

    fn shared_state(&self) -> Option<Rc<dyn Any>> {
        let table: SharedArpTable = Rc::clone(&self.table);
        Some(table)
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut alloc::vec::Vec<String>) {
        // As Click's: from the old table, or from the table an old ARPQuerier of this name
        // used.
        let Some(old) = old
            .shared_state()
            .and_then(|s| s.downcast::<RefCell<ArpTable>>().ok())
        else {
            return;
        };
        if Rc::ptr_eq(&old, &self.table) {
            return;
        }
        let (Ok(mut new), Ok(mut old)) = (self.table.try_borrow_mut(), old.try_borrow_mut()) else {
            return;
        };
        // Click's refuses once this table has entries of its own.
        if new.count() == 0 {
            new.take_entries(&mut old);
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
        let now = ctx.now_precise();
        Some(
            self.table
                .try_borrow()
                .map(|t| t.unparse(now))
                .map_err(|_| busy()),
        )
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        let t = self.table.try_borrow().ok()?;
        Some(match name {
            "count" => t.count().to_string(),
            "length" => t.length().to_string(),
            "drops" => t.drops().to_string(),
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
        let mut t = self.table.try_borrow_mut().map_err(|_| busy())?;
        match name {
            "insert" => {
                let (ip, eth) = parse_insert(value).map_err(bad)?;
                ctx.clock_reads(1);
                t.set(ip, eth, ctx.now());
            }
            "delete" => {
                let ip = super::addr::parse_ip(value.trim(), None).map_err(bad)?;
                ctx.clock_reads(1);
                t.set(ip.into(), [0xff; 6], ctx.now());
            }
            "clear" => t.clear(),
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let limits = read_limits(args)?;
    Some(Box::new(ArpTableElement {
        table: Rc::new(RefCell::new(ArpTable::new(limits))),
    }))
}

/// `ARPTable`: see the module docs.
pub static ARPTable: ElementClass = ElementClass {
    name: "ARPTable",
    ports: "0/0",
    processing: "a/a",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::PacketPool;

    const S: u64 = NS_PER_SEC;
    const IP: u32 = 0x0a00_0002;
    const ETH: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn pkt(pool: &PacketPool, tag: u8) -> Packet {
        pool.alloc_from(&[tag; 20]).unwrap()
    }

    #[test]
    fn element_handlers() {
        use crate::testutil::{graph, Bench};
        let b = Bench::new();
        let r = b
            .router(&graph(&[("t", "ARPTable", "TIMEOUT 10")], &[]))
            .unwrap();
        r.write_handler("t.insert", "10.0.0.2 2:0:0:0:0:2").unwrap();
        r.write_handler("t.insert", "10.0.0.3 2:0:0:0:0:3").unwrap();
        assert_eq!(r.read_handler("t.count").unwrap(), "2");
        assert_eq!(
            r.read_handler("t.table").unwrap(),
            "10.0.0.2 1 02-00-00-00-00-02 0.000000\n10.0.0.3 1 02-00-00-00-00-03 0.000000\n"
        );
        r.write_handler("t.delete", "10.0.0.2").unwrap();
        assert!(r
            .read_handler("t.table")
            .unwrap()
            .ends_with("10.0.0.2 0 FF-FF-FF-FF-FF-FF 0.000000\n"));
        assert_eq!(r.read_handler("t.count").unwrap(), "2");
        for bad in [
            "10.0.0.2",
            "10.0.0.2 2:0:0:0:0:2 x",
            "10.0.0.300 2:0:0:0:0:2",
        ] {
            assert!(r.write_handler("t.insert", bad).is_err(), "{bad}");
        }
        assert!(r.write_handler("t.delete", "ten").is_err());
        r.write_handler("t.clear", "").unwrap();
        assert_eq!(
            ["count", "length", "drops"].map(|h| r.read_handler(&format!("t.{h}")).unwrap()),
            ["0", "0", "0"]
        );
    }

    #[test]
    fn element_keywords() {
        use crate::testutil::{graph, Bench};
        let b = Bench::new();
        let make = |config: &str| b.router(&graph(&[("t", "ARPTable", config)], &[]));
        assert!(make("CAPACITY 4, ENTRY_CAPACITY 2, ENTRY_PACKET_CAPACITY 1, TIMEOUT 0").is_ok());
        let err = make("CAPACITY_SLIM_FACTOR 0").err().unwrap();
        assert!(err.contains("CAPACITY_SLIM_FACTOR cannot be zero"), "{err}");
        assert!(make("10.0.0.1").is_err(), "no positional arguments");
    }

    #[test]
    fn set_keeps_held_packets_for_the_next_reply() {
        let pool = PacketPool::new(4);
        let mut t = ArpTable::new(ArpLimits::default());
        t.hold(IP, pkt(&pool, 1), 0);
        t.set(IP, ETH, 1);
        assert_eq!(t.length(), 1);
        assert!(matches!(t.hold(IP, pkt(&pool, 2), 2), Held::Known(_)));
        assert_eq!(t.insert(IP, ETH, 3).len(), 1);
        assert_eq!(t.length(), 0);
    }

    #[test]
    fn hold_then_reply_releases_in_order() {
        let pool = PacketPool::new(8);
        let mut t = ArpTable::new(ArpLimits::default());
        assert!(t.lookup(IP, 0, 0).is_none());
        assert!(matches!(
            t.hold(IP, pkt(&pool, 1), 0),
            Held::Queued { query: true }
        ));
        // Rate limit: 100 ms between queries.
        assert!(matches!(
            t.hold(IP, pkt(&pool, 2), S / 20),
            Held::Queued { query: false }
        ));
        assert!(matches!(
            t.hold(IP, pkt(&pool, 3), S / 10),
            Held::Queued { query: true }
        ));
        assert_eq!((t.count(), t.length()), (1, 3));
        let held = t.insert(IP, ETH, S);
        let tags: alloc::vec::Vec<u8> = held.iter().map(|p| p.data()[0]).collect();
        assert_eq!(tags, [1, 2, 3]);
        assert_eq!(t.length(), 0);
        assert_eq!(t.lookup(IP, S, 0), Some((ETH, false)));
        assert!(matches!(t.hold(IP, pkt(&pool, 4), S), Held::Known(_)));
    }

    #[test]
    fn queries_back_off_after_ten_unanswered() {
        let pool = PacketPool::new(64);
        let mut t = ArpTable::new(ArpLimits::default());
        let mut sent = alloc::vec::Vec::new();
        for i in 0..40u64 {
            let now = i * S / 10;
            if let Held::Queued { query: true } = t.hold(IP, pkt(&pool, 0), now) {
                sent.push(now);
            }
        }
        assert_eq!(sent.len(), 10 + 1, "{sent:?}");
        assert_eq!(sent[10] - sent[9], 2 * S);
    }

    #[test]
    fn entries_expire_and_poll() {
        let mut t = ArpTable::new(ArpLimits {
            timeout_ns: 300 * S,
            ..ArpLimits::default()
        });
        drop(t.insert(IP, ETH, 0));
        assert_eq!(t.lookup(IP, 59 * S, 60 * S), Some((ETH, false)));
        assert_eq!(
            t.lookup(IP, 60 * S, 60 * S),
            Some((ETH, true)),
            "poll after POLL_TIMEOUT"
        );
        assert_eq!(
            t.lookup(IP, 60 * S, 60 * S),
            Some((ETH, false)),
            "rate-limited"
        );
        // Times count in whole milliseconds, as Click's jiffies: still live within the
        // millisecond the timeout ends, expired the next.
        assert!(t.lookup(IP, 300 * S + 999_999, 60 * S).is_some(), "live");
        assert!(
            t.lookup(IP, 300 * S + 1_000_000, 60 * S).is_none(),
            "expired"
        );
        assert_eq!(t.count(), 1);
        t.slim(300 * S + 1_000_000);
        assert_eq!(t.count(), 0);
        assert!(t.unparse(0).is_empty());
    }

    #[test]
    fn age_order_is_clicks_list() {
        // Click's ARPQuerier-04: two known entries and a pending one at 0; at 0.12 s all three
        // are pending again and kept from expiring, in the order 1, 2, 3 within one jiffy;
        // then 1 is confirmed. Click lists 3, 2, 1.
        let pool = PacketPool::new(64);
        let mut t = ArpTable::new(ArpLimits {
            timeout_ns: S / 10,
            ..ArpLimits::default()
        });
        let ip = |n: u8| u32::from_be_bytes([1, 0, 0, n]);
        drop(t.insert(ip(1), ETH, 0));
        drop(t.insert(ip(2), ETH, 0));
        let _ = t.hold(ip(3), pkt(&pool, 0), 0);
        for (n, at) in [(1, 120_000_000), (2, 120_000_001), (3, 120_000_002)] {
            let _ = t.hold(ip(n), pkt(&pool, n), at);
        }
        drop(t.insert(ip(1), ETH, 150_000_000));
        let table = t.unparse(170_000_000);
        let order: Vec<&str> = table.lines().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(order, ["1.0.0.3", "1.0.0.2", "1.0.0.1"]);
        t.clear();
    }

    #[test]
    fn capacity_slims_oldest_packets() {
        let pool = PacketPool::new(64);
        let mut t = ArpTable::new(ArpLimits {
            capacity: 4,
            ..ArpLimits::default()
        });
        for i in 0..4 {
            t.hold(IP, pkt(&pool, i), 0);
        }
        assert_eq!(t.length(), 4);
        // The fifth packet overflows: slim to 4 - 4/2 = 2 (the new one counted).
        t.hold(IP + 1, pkt(&pool, 9), 1);
        assert_eq!((t.length(), t.drops()), (2, 3));
        let held = t.insert(IP, ETH, 2);
        assert_eq!(
            held.iter()
                .map(|p| p.data()[0])
                .collect::<alloc::vec::Vec<_>>(),
            [3]
        );
    }

    #[test]
    fn per_entry_and_entry_capacity() {
        let pool = PacketPool::new(64);
        let limits = ArpLimits {
            entry_packet_capacity: 2,
            entry_capacity: 2,
            ..ArpLimits::default()
        };
        let mut t = ArpTable::new(limits);
        t.hold(IP, pkt(&pool, 0), 0);
        t.hold(IP, pkt(&pool, 0), 0);
        assert!(matches!(t.hold(IP, pkt(&pool, 0), 0), Held::Dropped));
        assert_eq!(t.drops(), 1);
        t.hold(IP + 1, pkt(&pool, 0), 1);
        t.hold(IP + 2, pkt(&pool, 0), 2);
        assert_eq!(t.count(), 2, "oldest entry evicted");
        assert_eq!(t.drops(), 3, "with its two packets");
        assert!(t.entries.contains_key(&(IP + 2)));
    }

    #[test]
    fn table_text_and_clear() {
        let pool = PacketPool::new(4);
        let mut t = ArpTable::new(ArpLimits::default());
        drop(t.insert(IP, ETH, 0));
        t.hold(IP + 1, pkt(&pool, 0), S);
        assert_eq!(
            t.unparse(2 * S + S / 2),
            "10.0.0.2 1 02-00-00-00-00-02 2.500000\n10.0.0.3 0 FF-FF-FF-FF-FF-FF 1.500000\n"
        );
        t.clear();
        assert_eq!((t.count(), t.length(), t.drops()), (0, 0, 1));
        assert_eq!(pool.stats().free, 4);
        assert_eq!(
            parse_insert("1.2.3.4 00:01:02:03:04:05"),
            Ok((0x0102_0304, [0, 1, 2, 3, 4, 5]))
        );
        assert!(parse_insert("1.2.3.4").is_err());
    }
}
