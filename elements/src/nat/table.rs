//! The mapping table shared by the rewriters: flow identifiers, an open-addressing hash map
//! from flow identifier to mapping, and the slab of mappings.
//!
//! Every mapping (a *flow* here, as in Click) has two entries: its forward key (the flow
//! identifier of the packets that created it) and its reply key (the rewritten identifier,
//! reversed). Both live in the same map, each pointing at the flow with a direction bit, so
//! one probe finds a packet's mapping whichever way it travels.
//!
//! The map uses linear probing with backward-shift deletion (no tombstones), a load factor
//! of at most one half, and 16-byte slots that hold the whole key: a lookup touches one
//! cache line of the map and then the flow. Nothing on the lookup path allocates; inserting
//! grows the map (by doubling) only when it is half full, which a configured
//! `MAPPING_CAPACITY` avoids by sizing the map up front.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// A flow identifier: source address and port, destination address and port. Addresses
/// are the big-endian interpretation of the four header bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowId {
    /// Source address.
    pub saddr: u32,
    /// Destination address.
    pub daddr: u32,
    /// Source port (ICMP: identifier).
    pub sport: u16,
    /// Destination port (ICMP: identifier).
    pub dport: u16,
}

impl FlowId {
    /// The identifier of the reply flow.
    #[inline]
    pub fn reverse(self) -> Self {
        Self {
            saddr: self.daddr,
            daddr: self.saddr,
            sport: self.dport,
            dport: self.sport,
        }
    }

    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        // Two rounds of folded multiplication (as in foldhash/wyhash): every input bit
        // reaches the low bits the map indexes with.
        let a = (u64::from(self.saddr) << 32) | u64::from(self.daddr);
        let b = (u64::from(self.sport) << 16) | u64::from(self.dport);
        let fm = |x: u64, y: u64| {
            let m = u128::from(x) * u128::from(y);
            (m as u64) ^ ((m >> 64) as u64)
        };
        fm(
            fm(a ^ seed, 0x9e37_79b9_7f4a_7c15) ^ b,
            0xc2b2_ae3d_27d4_eb4f ^ seed,
        )
    }

    /// The one's-complement sum of `new - old` over the address words (IP header) and,
    /// in the second value, over addresses and ports (TCP/UDP pseudo-header and ports).
    pub fn checksum_deltas(old: &FlowId, new: &FlowId) -> (u16, u16) {
        let words = |f: &FlowId| {
            [
                (f.saddr >> 16) as u16,
                f.saddr as u16,
                (f.daddr >> 16) as u16,
                f.daddr as u16,
                f.sport,
                f.dport,
            ]
        };
        let (o, n) = (words(old), words(new));
        let mut acc = 0u32;
        for i in 0..4 {
            acc += u32::from(!o[i]) + u32::from(n[i]);
        }
        let ip = fold(acc);
        for i in 4..6 {
            acc += u32::from(!o[i]) + u32::from(n[i]);
        }
        (ip, fold(acc))
    }
}

/// Folds a one's-complement accumulator to 16 bits.
#[inline]
pub fn fold(acc: u32) -> u16 {
    // Two folds always suffice for 32 bits: the first leaves at most 0xffff + 0xffff =
    // 0x1fffe, the second at most 0xfffe + 1.
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Applies a precomputed delta to a stored checksum (RFC 1624, equation 3:
/// `HC' = ~(~HC + delta)`).
#[inline]
pub fn apply_delta(check: u16, delta: u16) -> u16 {
    !fold(u32::from(!check) + u32::from(delta))
}

impl fmt::Display for FlowId {
    /// Click's `IPFlowID` text: `(1.0.0.1, 20, 2.0.0.2, 30)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}, {}, {}, {})",
            core::net::Ipv4Addr::from(self.saddr),
            self.sport,
            core::net::Ipv4Addr::from(self.daddr),
            self.dport
        )
    }
}

#[derive(Clone, Copy)]
struct Slot {
    key: FlowId,
    /// `flow << 1 | direction`, or [`EMPTY`].
    val: u32,
}

const EMPTY: u32 = u32::MAX;
const EMPTY_SLOT: Slot = Slot {
    key: FlowId {
        saddr: 0,
        daddr: 0,
        sport: 0,
        dport: 0,
    },
    val: EMPTY,
};

/// An open-addressing map from flow identifier to `(flow index, direction)`.
pub struct FlowMap {
    slots: Vec<Slot>,
    mask: usize,
    len: usize,
    seed: u64,
}

impl FlowMap {
    /// A map sized for `keys` keys without growing.
    pub fn with_capacity(keys: usize, seed: u64) -> Self {
        let n = (keys.max(8) * 2).next_power_of_two();
        Self {
            slots: vec![EMPTY_SLOT; n],
            mask: n - 1,
            len: 0,
            seed,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of slots (used and free).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, key: &FlowId) -> usize {
        (key.hash(self.seed) as usize) & self.mask
    }

    /// The flow and direction stored for `key`.
    #[inline]
    pub fn get(&self, key: &FlowId) -> Option<(u32, usize)> {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.val == EMPTY {
                return None;
            }
            if s.key == *key {
                return Some((s.val >> 1, (s.val & 1) as usize));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Whether `key` is present.
    #[inline]
    pub fn contains(&self, key: &FlowId) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces `key`; returns the value it replaced.
    pub fn insert(&mut self, key: FlowId, flow: u32, direction: usize) -> Option<(u32, usize)> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let val = (flow << 1) | direction as u32;
        let mut i = self.home(&key);
        loop {
            let s = &mut self.slots[i];
            if s.val == EMPTY {
                *s = Slot { key, val };
                self.len += 1;
                return None;
            }
            if s.key == key {
                let old = s.val;
                s.val = val;
                return Some((old >> 1, (old & 1) as usize));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key` if it maps to `flow`; returns whether it did.
    pub fn remove_if(&mut self, key: &FlowId, flow: u32) -> bool {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.val == EMPTY {
                return false;
            }
            if s.key == *key {
                if s.val >> 1 != flow {
                    return false;
                }
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward-shift deletion: pull later members of the probe run into the hole when
        // their home position allows it, so lookups never need tombstones.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let s = self.slots[j];
            if s.val == EMPTY {
                break;
            }
            let home = self.home(&s.key);
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole <= dist_j {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = EMPTY_SLOT;
        self.len -= 1;
        true
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY_SLOT);
        self.len = 0;
    }

    /// Makes room for `additional` more keys without exceeding half occupancy, growing the
    /// table if needed. Returns `false`, leaving the table as it was, when memory for the
    /// larger table cannot be had: the caller counts a mapping failure instead of the VM
    /// running out of heap.
    pub fn try_reserve(&mut self, additional: usize) -> bool {
        if (self.len + additional) * 2 <= self.slots.len() {
            return true;
        }
        let mut bigger: Vec<Slot> = Vec::new();
        if bigger.try_reserve_exact((self.mask + 1) * 2).is_err() {
            return false;
        }
        bigger.resize((self.mask + 1) * 2, EMPTY_SLOT);
        self.rehash_into(bigger);
        true
    }

    #[cold]
    fn grow(&mut self) {
        self.rehash_into(vec![EMPTY_SLOT; (self.mask + 1) * 2]);
    }

    fn rehash_into(&mut self, slots: Vec<Slot>) {
        let old = core::mem::replace(&mut self.slots, slots);
        self.mask = self.slots.len() - 1;
        self.len = 0;
        for s in old.into_iter().filter(|s| s.val != EMPTY) {
            let mut i = self.home(&s.key);
            while self.slots[i].val != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = s;
            self.len += 1;
        }
    }
}

/// One mapping: both directions of a flow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flow {
    /// `keys[0]`: the forward flow identifier (as the first packet had it);
    /// `keys[1]`: the reply flow identifier (the rewritten identifier, reversed).
    pub keys: [FlowId; 2],
    /// When the mapping times out (ns, router clock).
    pub expiry: u64,
    /// Until when the mapping may not be evicted to make room (ns); 0 when never.
    pub guarantee: u64,
    /// Output port per direction.
    pub outputs: [u16; 2],
    /// Checksum delta (forward direction) over the address words.
    pub ip_delta: u16,
    /// Checksum delta (forward direction) over addresses and ports.
    pub l4_delta: u16,
    /// The input port whose spec created the mapping.
    pub input: u16,
    /// IP protocol.
    pub proto: u8,
    /// Connection state bits (`S_*`), [`S_LIVE`] while the slot is in use.
    pub state: u8,
    /// The annotation byte the first packet carried, given to reply packets (`REPLY_ANNO`).
    pub reply_anno: u8,
}

/// The slot holds a mapping.
pub const S_LIVE: u8 = 0x80;
/// TCP: FIN seen from the forward side.
pub const S_FORWARD_DONE: u8 = 1;
/// TCP: FIN seen from the reply side.
pub const S_REPLY_DONE: u8 = 2;
/// TCP: payload seen from the forward side.
pub const S_FORWARD_DATA: u8 = 4;
/// TCP: payload seen from the reply side.
pub const S_REPLY_DATA: u8 = 8;
/// UDP: a packet was seen from the reply side.
pub const S_UDP_REPLY: u8 = 1;
/// TCP: the flow has sequence-number deltas (kept beside the table, see [`SeqDeltas`]).
pub const S_SEQ: u8 = 0x40;
/// UDP: one packet more in the packet count (bits 1 and 2, stopping at three).
pub const S_UDP_PACKET: u8 = 2;
/// UDP: the flow streams (a reply was seen and at least three packets went through): both
/// UDP bits and the count at three.
pub const S_UDP_STREAMING: u8 = 7;

impl Flow {
    /// Whether the flow is live.
    #[inline]
    pub fn live(&self) -> bool {
        self.state & S_LIVE != 0
    }

    /// The delta to apply to the IP checksum for a packet travelling in `direction`.
    #[inline]
    pub fn ip_delta(&self, direction: usize) -> u16 {
        if direction == 0 {
            self.ip_delta
        } else {
            !self.ip_delta
        }
    }

    /// The delta to apply to the TCP/UDP checksum for a packet travelling in `direction`.
    #[inline]
    pub fn l4_delta(&self, direction: usize) -> u16 {
        if direction == 0 {
            self.l4_delta
        } else {
            !self.l4_delta
        }
    }

    /// The flow identifier a packet travelling in `direction` is rewritten to.
    #[inline]
    pub fn rewritten(&self, direction: usize) -> FlowId {
        self.keys[1 - direction].reverse()
    }
}

/// The slab of flows with its free list.
#[derive(Default)]
pub struct Flows {
    /// Every slot, live or free.
    pub slots: Vec<Flow>,
    free: Vec<u32>,
    live: usize,
    /// When each slot's flow was added (a count of additions), kept beside the slots so
    /// the flows stay small: the table handlers list mappings in Click's order, which
    /// depends on the order they were made.
    born: Vec<u64>,
    added: u64,
}

impl Flows {
    /// A slab with room for `n` flows before it grows.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            slots: Vec::with_capacity(n),
            free: Vec::with_capacity(n),
            live: 0,
            born: Vec::with_capacity(n),
            added: 0,
        }
    }

    /// Live flows.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Makes sure one more flow can be added without an allocation failure; `false` when
    /// memory for a larger slab cannot be had.
    pub fn try_reserve_one(&mut self) -> bool {
        !self.free.is_empty()
            || (self.slots.try_reserve(1).is_ok()
                && self.born.try_reserve(1).is_ok()
                && self.free.try_reserve(self.slots.len() + 1).is_ok())
    }

    /// Stores `flow`; returns its index.
    pub fn add(&mut self, mut flow: Flow) -> u32 {
        flow.state |= S_LIVE;
        self.live += 1;
        let born = self.added;
        self.added += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = flow;
                self.born[i as usize] = born;
                i
            }
            None => {
                self.slots.push(flow);
                self.born.push(born);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// The live flows' indices, oldest first.
    pub fn by_age(&self) -> Vec<u32> {
        let mut live: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].live())
            .collect();
        live.sort_unstable_by_key(|&i| self.born[i as usize]);
        live
    }

    /// Frees flow `i` (its map entries must be removed by the caller).
    pub fn remove(&mut self, i: u32) {
        let f = &mut self.slots[i as usize];
        if f.live() {
            f.state = 0;
            self.live -= 1;
            self.free.push(i);
        }
    }

    /// Frees every flow.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.born.clear();
        self.live = 0;
    }
}

/// `a >= b` in sequence-number space (RFC 793: within 2^31 ahead).
#[inline]
fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// Sequence numbers more than this far past a delta's trigger no longer need the trigger:
/// the delta then applies to every sequence number.
const SEQ_FORGET: u32 = 1 << 30;

/// One direction's sequence-number deltas: changes of payload length (by `FTPPortMapper`)
/// from a trigger sequence number on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SeqDirection {
    /// `(trigger, delta)`: sequence numbers at or past `trigger` move by `delta`, the sum of
    /// every change up to it. Oldest first; triggers increase.
    steps: Vec<(u32, i32)>,
    /// The delta of sequence numbers before every trigger (nonzero once old triggers have
    /// been forgotten).
    base: i32,
}

impl SeqDirection {
    /// The delta that applies to sequence number `seq`.
    fn delta_at(&self, seq: u32) -> i32 {
        self.steps
            .iter()
            .rev()
            .find(|&&(t, _)| seq_geq(seq, t))
            .map_or(self.base, |&(_, d)| d)
    }

    /// The newest delta.
    fn newest(&self) -> i32 {
        self.steps.last().map_or(self.base, |&(_, d)| d)
    }

    /// Whether sequence numbers of this direction may change.
    fn active(&self) -> bool {
        !self.steps.is_empty() || self.base != 0
    }

    /// Forgets every trigger once `seq` is far past the newest: its delta applies to all.
    fn forget_behind(&mut self, seq: u32) {
        if let Some(&(t, d)) = self.steps.last() {
            if seq_geq(seq, t.wrapping_add(SEQ_FORGET)) {
                self.base = d;
                self.steps.clear();
            }
        }
    }
}

/// The sequence-number deltas of the flows that have them, by flow: a sorted list
/// (few flows have deltas; a map type would add kilobytes of code to VM images).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqTable {
    entries: Vec<(u32, SeqDeltas)>,
}

impl SeqTable {
    fn find(&self, fi: u32) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&fi, |e| e.0)
    }

    pub fn get(&self, fi: &u32) -> Option<&SeqDeltas> {
        self.find(*fi).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, fi: &u32) -> Option<&mut SeqDeltas> {
        self.find(*fi).ok().map(|i| &mut self.entries[i].1)
    }

    /// Flow `fi`'s deltas, new (none) if it had none.
    pub fn get_or_default(&mut self, fi: u32) -> &mut SeqDeltas {
        let i = match self.find(fi) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (fi, SeqDeltas::default()));
                i
            }
        };
        &mut self.entries[i].1
    }

    pub fn remove(&mut self, fi: &u32) -> Option<SeqDeltas> {
        self.find(*fi).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// A TCP flow's sequence-number deltas, per direction (0: forward, 1: reply). A packet's
/// sequence number moves by its own direction's delta, its acknowledgement number (and
/// SACK blocks) back by the other direction's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqDeltas {
    dirs: [SeqDirection; 2],
}

impl SeqDeltas {
    /// From sequence number `trigger` on, direction `dir`'s payload is `delta` bytes
    /// longer than the sender made it. Triggers must not go backwards (`false`, nothing
    /// changed, when one does: a retransmission of an already adjusted packet); a second
    /// change at the same trigger replaces the first. Triggers more than 2^30 behind the
    /// new one are forgotten.
    pub fn add(&mut self, dir: usize, trigger: u32, delta: i32) -> bool {
        let d = &mut self.dirs[dir];
        if let Some(&(t, _)) = d.steps.last() {
            if !seq_geq(trigger, t) {
                return false;
            }
            if t == trigger {
                d.steps.pop();
            }
        }
        let total = d.newest().wrapping_add(delta);
        // The newest trigger far enough behind this one becomes the base, with every
        // older one.
        if let Some(k) = d
            .steps
            .iter()
            .rposition(|&(t, _)| seq_geq(trigger, t.wrapping_add(SEQ_FORGET)))
        {
            d.base = d.steps[k].1;
            d.steps.drain(..=k);
        }
        d.steps.push((trigger, total));
        true
    }

    /// The sequence number a packet of direction `dir` carries after rewriting.
    pub fn new_seq(&self, dir: usize, seq: u32) -> u32 {
        seq.wrapping_add(self.dirs[dir].delta_at(seq) as u32)
    }

    /// The acknowledgement number (or SACK edge) a packet of direction `dir` carries after
    /// rewriting: the other direction's delta taken back, judged on the sender's numbers.
    pub fn new_ack(&self, dir: usize, ack: u32) -> u32 {
        let other = &self.dirs[1 - dir];
        let d = other
            .steps
            .iter()
            .rev()
            .find(|&&(t, d)| seq_geq(ack.wrapping_sub(d as u32), t))
            .map_or(other.base, |&(_, d)| d);
        ack.wrapping_sub(d as u32)
    }

    /// Whether sequence numbers of direction `dir` may change.
    pub fn active(&self, dir: usize) -> bool {
        self.dirs[dir].active()
    }

    /// The newest delta of direction `dir` (the table text shows it).
    pub fn newest(&self, dir: usize) -> i32 {
        self.dirs[dir].newest()
    }

    /// Notes a packet of direction `dir` with sequence number `seq`.
    pub fn saw(&mut self, dir: usize, seq: u32) {
        self.dirs[dir].forget_behind(seq);
    }
}

/// The order in which Click lists a rewriter's entries: its `HashContainer`'s, bucket by
/// bucket, each bucket's chain newest first. `entries` are the keys, as Click hashes them
/// (`IPFlowID::hashcode` on a little-endian host: addresses as their network-order words,
/// ports in host order), in the order they were inserted, a flow's two entries together
/// (the flag is true on a flow's last entry: Click's table starts with one bucket and grows,
/// to the next size of the form 2^n - 1 above the bucket count, after a flow whose addition
/// left more than two entries per bucket). Returns the entries' indices in listing order.
pub fn click_listing_order(entries: &[(FlowId, bool)]) -> Vec<usize> {
    fn bucket(k: &FlowId, n: u32) -> usize {
        let (s, d) = (u32::from(k.sport), u32::from(k.dport));
        let sx = k.saddr.swap_bytes();
        let dx = k.daddr.swap_bytes();
        let h = sx.rotate_left(s % 16 + 1) ^ dx.rotate_left(31 - d % 16) ^ (d << 16 | s);
        (h % n) as usize
    }
    // Click's rewriters make their maps with `HashContainer(0)`: one bucket to start.
    let mut n: u32 = 1;
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); n as usize];
    for (i, &(key, flow_end)) in entries.iter().enumerate() {
        buckets[bucket(&key, n)].insert(0, i);
        if flow_end && i + 1 > 2 * n as usize {
            let mut grown = 1u32;
            while grown < n + 1 {
                grown = ((grown + 1) << 1) - 1;
            }
            n = grown;
            let mut next: Vec<Vec<usize>> = vec![Vec::new(); n as usize];
            for chain in &buckets {
                for &e in chain {
                    next[bucket(&entries[e].0, n)].insert(0, e);
                }
            }
            buckets = next;
        }
    }
    buckets.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_table_finds_each_flow_whatever_the_insertion_order() {
        let mut t = SeqTable::default();
        for (n, fi) in [7u32, 2, 9, 4].into_iter().enumerate() {
            assert!(t.get(&fi).is_none());
            assert!(t.get_or_default(fi).add(0, 100, n as i32 + 1));
        }
        // A second change to one flow keeps the same entry.
        assert!(t.get_or_default(9).add(0, 200, 10));
        assert_eq!(t.get(&9).map(|s| s.newest(0)), Some(3 + 10));
        assert_eq!(t.get(&7).map(|s| s.newest(0)), Some(1));
        assert_eq!(t.get(&4).map(|s| s.newest(0)), Some(4));
        assert_eq!(t.remove(&2).map(|s| s.newest(0)), Some(2));
        assert!(t.get(&2).is_none() && t.remove(&2).is_none());
        assert!(t.get_mut(&4).is_some());
        t.clear();
        assert!(t.get(&7).is_none());
    }

    #[test]
    fn seq_deltas_move_seq_and_ack_from_their_triggers() {
        let mut s = SeqDeltas::default();
        assert!(!s.active(0) && !s.active(1));
        // A PORT command of 29 bytes at 1 became 12 bytes shorter.
        assert!(s.add(0, 30, -12));
        assert_eq!(s.new_seq(0, 1), 1);
        assert_eq!(s.new_seq(0, 30), 18);
        assert_eq!(s.new_ack(1, 18), 30);
        // An acknowledgement is judged on the sender's numbers: 17 acknowledges what was
        // 29 there, before the trigger, so it stays.
        assert_eq!(s.new_ack(1, 17), 17);
        assert_eq!(s.new_ack(1, 1), 1);
        assert_eq!(s.new_seq(1, 5), 5, "the other direction is unchanged");
        // A second change adds to the first.
        assert!(s.add(0, 65, -12));
        assert_eq!(s.new_seq(0, 65), 41);
        assert_eq!(s.new_seq(0, 64), 64 - 12);
        assert_eq!(s.new_ack(1, 45), 69);
        assert_eq!(s.newest(0), -24);
        // Triggers may not go backwards; the same trigger replaces its change.
        assert!(!s.add(0, 40, 3));
        assert!(s.add(0, 65, -10));
        assert_eq!(s.newest(0), -22);
        assert_eq!(s.new_seq(0, 70), 48);
    }

    #[test]
    fn seq_deltas_forget_old_triggers() {
        let mut s = SeqDeltas::default();
        assert!(s.add(0, 30, -12));
        assert!(s.add(0, 65, -12));
        s.saw(0, 1000);
        assert_eq!(s.new_seq(0, 0), 0, "still before every trigger");
        // 2^30 past the newest trigger: its delta applies to everything.
        s.saw(0, 65 + (1 << 30));
        assert_eq!(s.new_seq(0, 0), 0u32.wrapping_sub(24));
        assert_eq!(s.new_ack(1, 0), 24);
        assert!(s.active(0));
        // A new trigger far past old ones folds them into the base.
        let mut s = SeqDeltas::default();
        assert!(s.add(1, 10, 5));
        assert!(s.add(1, 20, 5));
        assert!(s.add(1, 20 + (1 << 30), 1));
        assert_eq!(s.new_seq(1, 0), 10);
        assert_eq!(s.new_seq(1, 20 + (1 << 30)), 20 + (1 << 30) + 11);
        // Sequence space wraps.
        let mut s = SeqDeltas::default();
        assert!(s.add(0, u32::MAX - 1, 4));
        assert_eq!(s.new_seq(0, 2), 6);
        assert_eq!(s.new_seq(0, u32::MAX - 2), u32::MAX - 2);
    }

    fn id(n: u32) -> FlowId {
        FlowId {
            saddr: n,
            daddr: n.wrapping_mul(7),
            sport: n as u16,
            dport: 80,
        }
    }

    #[test]
    fn insert_get_remove_with_growth() {
        let mut m = FlowMap::with_capacity(4, 1);
        for n in 0..1000 {
            assert_eq!(m.insert(id(n), n, (n & 1) as usize), None);
        }
        assert_eq!(m.len(), 1000);
        for n in 0..1000 {
            assert_eq!(m.get(&id(n)), Some((n, (n & 1) as usize)));
        }
        for n in (0..1000).step_by(2) {
            assert!(m.remove_if(&id(n), n));
            assert!(!m.remove_if(&id(n), n));
        }
        for n in 0..1000 {
            assert_eq!(m.get(&id(n)).is_some(), n % 2 == 1, "{n}");
        }
        assert!(
            !m.remove_if(&id(1), 2),
            "a key is removed only for its own flow"
        );
    }

    #[test]
    fn deltas_invert() {
        let a = FlowId {
            saddr: 0x0a00_0001,
            daddr: 0x0808_0808,
            sport: 1234,
            dport: 53,
        };
        let b = FlowId {
            saddr: 0xc000_0201,
            daddr: 0x0808_0808,
            sport: 40000,
            dport: 53,
        };
        let (ip, l4) = FlowId::checksum_deltas(&a, &b);
        let c = 0x1234;
        assert_eq!(apply_delta(apply_delta(c, ip), !ip), c);
        assert_eq!(apply_delta(apply_delta(c, l4), !l4), c);
    }
}
