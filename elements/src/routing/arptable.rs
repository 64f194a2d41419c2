//! The IP-to-Ethernet table behind `ARPQuerier` (Click's `ARPTable`): entries that age out,
//! packets held while their next hop is being resolved, and the query rate limit.
//!
//! Times are nanoseconds on the router's clock. An entry is *known* when it holds a real
//! (non-broadcast) Ethernet address and has not expired (`TIMEOUT` after its last reply).
//! Held packets are bounded three ways, as in Click: per table (`CAPACITY`, on overflow the
//! oldest entries' packets are dropped until the table is `1/CAPACITY_SLIM_FACTOR` below
//! capacity), per entry (`ENTRY_PACKET_CAPACITY`, the new packet is dropped) and by entry count
//! (`ENTRY_CAPACITY`, the oldest entries go). Every dropped packet is counted.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use core::net::Ipv4Addr;

use sluice_dataplane::clock::NS_PER_SEC;
use sluice_dataplane::Packet;

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

/// The table. See the module docs.
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

    /// Records that `ip` is at `eth` (a reply, or the `insert` handler) and hands back the
    /// packets held for it, oldest first. A broadcast `eth` makes the entry unknown (the
    /// `delete` handler).
    pub fn insert(&mut self, ip: u32, eth: [u8; 6], now: u64) -> VecDeque<Packet> {
        let now = jiffies(now);
        self.ensure(ip, now);
        let Some(e) = self.entries.get_mut(&ip) else {
            return VecDeque::new();
        };
        e.eth = eth;
        e.known = eth != [0xff; 6];
        e.live_at = now;
        e.polls_since_reply = 0;
        e.polled_at = None;
        let held = core::mem::take(&mut e.held);
        self.packets -= held.len();
        self.move_to_back(ip);
        held
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
