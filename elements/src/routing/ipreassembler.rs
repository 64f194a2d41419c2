//! `IPReassembler([keywords HIMEM])` — reassembles fragmented IP packets.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Expects IP packets with their IP header annotation set. A packet that is not a fragment
//! (More Fragments clear and offset 0) leaves on output 0 untouched. Fragments are held
//! until every byte of their datagram has arrived (the last fragment, the one with More
//! Fragments clear, gives its length); the datagram then leaves on output 0 as one packet:
//! the bytes in front of the IP header (a MAC header), the IP header and the annotations are
//! those of the fragment at offset 0, the timestamp is that of the fragment that completed
//! it, the offset and More Fragments are cleared (Don't Fragment is kept), and the total
//! length and header checksum are set. Fragments belong together when their identifier,
//! protocol, source and destination agree.
//!
//! Fragments may arrive in any order, repeat, or overlap; where they overlap, the bytes of
//! the later one win. A fragment is dropped and counted in `drops` when its header is
//! malformed, when it ends past 65535 bytes, when a fragment other than the last does not
//! hold a multiple of 8 bytes, when it reaches past the end the last fragment gave, or when
//! a last fragment disagrees with that end (or ends before data already received).
//!
//! A datagram that stays incomplete for 30 seconds (no fragment of it arrived in that time)
//! is given up: if the element has a second output, a packet holding every fragment
//! received, at its offset, with zeros in the holes, leaves there (send it to
//! `ICMPError(ADDR, timeexceeded, reassembly)`); otherwise it is dropped. Either way it
//! counts in `failed`. As in Click, time is the packets' timestamps (a fragment without one
//! is stamped with the current time), and the check runs as fragments arrive, at most
//! every 10 seconds.
//!
//! Memory is bounded: each datagram in progress costs 40 bytes plus the length of its data
//! so far. When that exceeds HIMEM as a fragment arrives, the datagrams heard from least
//! recently are given up (as above) until at most 3/4 of HIMEM is used.
//!
//! **Keywords:**
//!
//! - `HIMEM`: bytes, default 262144 (256K).
//!
//! **Handlers:** `fragments` (read: fragments seen), `reassembled` (read: datagrams
//! completed), `failed` (read: datagrams given up), `drops` (read: fragments dropped),
//! `pool_drops` (read: fragments dropped for want of a buffer), `mem_used` (read), `dump`
//! (read: the counters and, per datagram in progress, its flow, identifier and the byte
//! ranges received).
//!
//! **Example:**
//!
//! ```text
//! FromDevice(eth0) -> Strip(14) -> CheckIPHeader -> r :: IPReassembler -> ...;
//! r[1] -> ICMPError(18.26.4.24, timeexceeded, reassembly) -> ...;
//! ```
//!
//! **Differences from Click:** no `MAX_MTU_ANNO` (sluice's packets have no free 2-byte
//! annotation); a datagram times out 30 seconds after its latest fragment, where Click
//! counts from its first; a given-up datagram's packet has zeroed holes and a valid total
//! length and checksum; a last fragment that disagrees with the known end is dropped; the
//! datagram must fit a packet buffer (in a VM, a standard frame); the counters are
//! separate handlers besides `dump`.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::{
    ConfigContext, Context, Effects, Element, ElementClass, Handler, InitContext, Packet,
};

use crate::wire::ipv4::{Ipv4Packet, FLAG_MF, MIN_HEADER_LEN, OFFSET_MASK};

/// A datagram incomplete for this long is given up.
const TIMEOUT_NS: u64 = 30_000_000_000;
/// Timeouts are looked for at most this often.
const REAP_INTERVAL_NS: u64 = 10_000_000_000;
/// What a datagram in progress costs besides its data (Click's accounting).
const ENTRY_COST: usize = 40;
/// Click's default HIMEM.
const DEFAULT_HIMEM: usize = 256 * 1024;
/// The end of a hole list.
const NO_HOLE: u16 = u16::MAX;

/// Which datagram a fragment belongs to (RFC 791: identifier, protocol, addresses).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
}

/// A datagram in progress. Its buffer holds the data so far at its offsets, after an IP
/// header (the offset-0 fragment's once it arrived, with what was in front of it; a copy of
/// another fragment's first 20 bytes before). The missing ranges (holes) are a list kept
/// inside the holes themselves (RFC 815): each hole's first four bytes hold its end and the
/// start of the next hole. Every hole starts and ends on a multiple of 8 (only the last
/// fragment may hold another length, and nothing follows it), so it has room for that.
struct Datagram {
    key: Key,
    buf: Packet,
    /// Offset of the IP header in the buffer's data.
    net: usize,
    /// Length of that IP header.
    hlen: usize,
    /// Data bytes held (the end of the furthest fragment so far).
    extent: usize,
    /// Start of the first hole, or [`NO_HOLE`].
    first_hole: u16,
    /// Whether the last fragment arrived, so `extent` is the datagram's length.
    end_known: bool,
    /// Timestamp of the latest fragment.
    last_ns: u64,
}

impl Datagram {
    fn data(&self) -> &[u8] {
        &self.buf.data()[self.net + self.hlen..]
    }

    fn data_mut(&mut self) -> &mut [u8] {
        let start = self.net + self.hlen;
        &mut self.buf.data_mut()[start..]
    }

    /// The hole starting at `at`: its end and the next hole's start. `None` if the list is
    /// corrupt (the checks on arrival rule that out; this keeps any input from causing a
    /// panic or an endless walk: holes must lie in order, inside the data).
    fn hole(&self, at: u16) -> Option<(u16, u16)> {
        let b = self.data().get(usize::from(at)..usize::from(at) + 4)?;
        let end = u16::from_be_bytes([b[0], b[1]]);
        let next = u16::from_be_bytes([b[2], b[3]]);
        let ordered =
            at < end && usize::from(end) <= self.extent && (next == NO_HOLE || end < next);
        ordered.then_some((end, next))
    }

    fn set_hole(&mut self, at: u16, end: u16, next: u16) -> Option<()> {
        let b = self
            .data_mut()
            .get_mut(usize::from(at)..usize::from(at) + 4)?;
        b[..2].copy_from_slice(&end.to_be_bytes());
        b[2..].copy_from_slice(&next.to_be_bytes());
        Some(())
    }

    /// Makes `prev`'s successor (or the first hole, when `prev` is `None`) `next`.
    fn link(&mut self, prev: Option<u16>, next: u16) -> Option<()> {
        match prev {
            None => self.first_hole = next,
            Some(p) => {
                let (end, _) = self.hole(p)?;
                self.set_hole(p, end, next)?;
            }
        }
        Some(())
    }

    /// Appends the hole `start..end`, which lies past every other hole.
    fn append_hole(&mut self, start: u16, end: u16) -> Option<()> {
        let mut last = None;
        let mut cur = self.first_hole;
        while cur != NO_HOLE {
            last = Some(cur);
            cur = self.hole(cur)?.1;
        }
        self.set_hole(start, end, NO_HOLE)?;
        self.link(last, start)
    }

    /// Removes `a..b` from the holes (the caller then writes those bytes).
    fn fill(&mut self, a: u16, b: u16) -> Option<()> {
        let mut prev = None;
        let mut cur = self.first_hole;
        while cur != NO_HOLE && cur < b {
            let (end, next) = self.hole(cur)?;
            if end <= a {
                prev = Some(cur);
                cur = next;
                continue;
            }
            if cur < a {
                // The hole's front stays a hole.
                if end > b {
                    self.set_hole(b, end, next)?;
                    self.set_hole(cur, a, b)?;
                    return Some(());
                }
                self.set_hole(cur, a, next)?;
                prev = Some(cur);
            } else if end > b {
                // The hole's back stays a hole.
                self.set_hole(b, end, next)?;
                return self.link(prev, b);
            } else {
                self.link(prev, next)?;
            }
            cur = next;
        }
        Some(())
    }

    /// The received byte ranges, in order.
    fn ranges(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut cur = self.first_hole;
        while cur != NO_HOLE {
            let Some((end, next)) = self.hole(cur) else {
                break;
            };
            if usize::from(cur) > pos {
                out.push((pos, usize::from(cur)));
            }
            pos = usize::from(end);
            cur = next;
        }
        if self.extent > pos {
            out.push((pos, self.extent));
        }
        out
    }

    fn cost(&self) -> usize {
        ENTRY_COST + self.extent
    }

    /// The buffer as a packet: the IP header's length, offset and checksum set, More
    /// Fragments cleared when the end is known. `None` when the datagram is too long for
    /// an IP length.
    fn finish(mut self) -> Option<Packet> {
        let total = u16::try_from(self.hlen + self.extent).ok()?;
        let (net, hlen, end_known) = (self.net, self.hlen, self.end_known);
        let ip = &mut self.buf.data_mut()[net..net + hlen];
        let mut h = Ipv4Packet::new_unchecked(ip);
        let mut ff = h.flags_frag() & !OFFSET_MASK;
        if end_known {
            ff &= !FLAG_MF;
        } else {
            ff |= FLAG_MF;
        }
        h.set_flags_frag(ff);
        h.set_total_len(total);
        h.fill_checksum();
        self.buf.set_network_offset(net);
        self.buf.set_transport_offset(net + hlen);
        Some(self.buf)
    }

    /// [`finish`](Self::finish) with the holes zeroed: what is left of a datagram given up.
    fn give_up(mut self) -> Option<Packet> {
        let mut cur = self.first_hole;
        while cur != NO_HOLE {
            let (end, next) = self.hole(cur)?;
            let hole = self
                .data_mut()
                .get_mut(usize::from(cur)..usize::from(end))?;
            hole.fill(0);
            cur = next;
        }
        self.first_hole = NO_HOLE;
        self.finish()
    }
}

/// What became of a fragment.
enum Verdict {
    /// Held, its datagram still incomplete.
    Held,
    /// Its datagram is complete.
    Complete(Packet),
    /// Dropped as malformed or inconsistent.
    Bad,
    /// Dropped for want of a buffer.
    NoBuffer,
}

/// The element.
pub struct IpReassembler {
    himem: usize,
    lowmem: usize,
    mem_used: usize,
    /// Datagrams in progress; capacity reserved at initialization, so arrivals never
    /// allocate (a full table gives up its least recent datagram instead).
    datagrams: Vec<Datagram>,
    reap_at: u64,
    fragments: u64,
    reassembled: u64,
    failed: u64,
    drops: u64,
    pool_drops: u64,
}

const HANDLERS: &[Handler] = &[
    Handler::read("fragments"),
    Handler::read("reassembled"),
    Handler::read("failed"),
    Handler::read("drops"),
    Handler::read("pool_drops"),
    Handler::read("mem_used"),
    Handler::read("dump"),
];

impl IpReassembler {
    /// Gives up datagram `i`: out of output 1 if there is one.
    fn give_up(&mut self, ctx: &mut Context<'_>, i: usize) {
        let d = self.datagrams.swap_remove(i);
        self.mem_used -= d.cost();
        self.failed += 1;
        if let Some(p) = d.give_up() {
            if ctx.noutputs() > 1 {
                ctx.output(1, p);
            }
        }
    }

    fn reap_timeouts(&mut self, ctx: &mut Context<'_>, now: u64) {
        let mut i = 0;
        while i < self.datagrams.len() {
            if self.datagrams[i].last_ns.saturating_add(TIMEOUT_NS) <= now {
                self.give_up(ctx, i);
            } else {
                i += 1;
            }
        }
        self.reap_at = now.saturating_add(REAP_INTERVAL_NS);
    }

    fn least_recent(&self) -> Option<usize> {
        (0..self.datagrams.len()).min_by_key(|&i| self.datagrams[i].last_ns)
    }

    fn reap_overfull(&mut self, ctx: &mut Context<'_>) {
        while self.mem_used > self.lowmem {
            let Some(i) = self.least_recent() else { break };
            self.give_up(ctx, i);
        }
    }

    /// Handles a fragment of `a..b` (data offsets) whose packet `p` has its IP header at
    /// `net`, `hlen` long, and no bytes past the IP length.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        ctx: &mut Context<'_>,
        p: Packet,
        key: Key,
        (net, hlen): (usize, usize),
        (a, b): (usize, usize),
        more: bool,
        now: u64,
    ) -> Verdict {
        let Some(i) = self.datagrams.iter().position(|d| d.key == key) else {
            if self.datagrams.len() == self.datagrams.capacity() {
                match self.least_recent() {
                    Some(old) => self.give_up(ctx, old),
                    None => return Verdict::NoBuffer,
                }
            }
            return match Self::start(p, key, (net, hlen), (a, b), more, now) {
                Some(d) => {
                    self.mem_used += d.cost();
                    self.datagrams.push(d);
                    Verdict::Held
                }
                None => Verdict::NoBuffer,
            };
        };
        let d = &self.datagrams[i];
        let conflict = if d.end_known {
            b > d.extent || (!more && b != d.extent)
        } else {
            !more && b < d.extent
        };
        if conflict {
            return Verdict::Bad;
        }
        let d = self.datagrams.swap_remove(i);
        self.mem_used -= d.cost();
        let Some(mut d) = Self::merge(d, p, (net, hlen), (a, b)) else {
            self.failed += 1;
            return Verdict::NoBuffer;
        };
        d.last_ns = now;
        d.end_known |= !more;
        if d.end_known && d.first_hole == NO_HOLE {
            return match d.finish() {
                Some(p) => Verdict::Complete(p),
                None => Verdict::Bad,
            };
        }
        self.mem_used += d.cost();
        self.datagrams.push(d);
        Verdict::Held
    }

    /// A new datagram from its first fragment to arrive.
    fn start(
        p: Packet,
        key: Key,
        (net, hlen): (usize, usize),
        (a, b): (usize, usize),
        more: bool,
        now: u64,
    ) -> Option<Datagram> {
        let mut d = if a == 0 {
            Datagram {
                key,
                buf: p,
                net,
                hlen,
                extent: b,
                first_hole: NO_HOLE,
                end_known: !more,
                last_ns: now,
            }
        } else {
            // No header of its own yet: the fixed part of this fragment's stands in.
            let pool = p.pool();
            let mut q = pool.alloc(MIN_HEADER_LEN + b)?;
            let src = &p.data()[net..];
            let dst = q.data_mut();
            dst[..MIN_HEADER_LEN].copy_from_slice(&src[..MIN_HEADER_LEN]);
            dst[MIN_HEADER_LEN + a..].copy_from_slice(&src[hlen..hlen + (b - a)]);
            Ipv4Packet::new_unchecked(&mut dst[..MIN_HEADER_LEN]).set_header_len(MIN_HEADER_LEN);
            q.anno_mut().timestamp_ns = p.anno().timestamp_ns;
            let mut d = Datagram {
                key,
                buf: q,
                net: 0,
                hlen: MIN_HEADER_LEN,
                extent: b,
                first_hole: NO_HOLE,
                end_known: !more,
                last_ns: now,
            };
            d.append_hole(0, a as u16)?;
            d
        };
        // Offset 0 from now on; the flags stay until the datagram is finished.
        let ip = &mut d.buf.data_mut()[d.net..d.net + d.hlen];
        let mut h = Ipv4Packet::new_unchecked(ip);
        let ff = h.flags_frag() & !OFFSET_MASK;
        h.set_flags_frag(ff);
        Some(d)
    }

    /// `d` with the fragment added (the caller redoes the accounting). `None` when no
    /// buffer can hold the grown datagram (it is lost) or its holes are inconsistent.
    fn merge(
        mut d: Datagram,
        p: Packet,
        (net, hlen): (usize, usize),
        (a, b): (usize, usize),
    ) -> Option<Datagram> {
        if a == 0 {
            // The offset-0 fragment brings the header and what is in front of it: its
            // packet becomes the datagram's buffer, with the data held beyond it moved over.
            // The holes it fills go first, while their descriptors are still readable.
            d.fill(0, b as u16)?;
            let tail = d.extent.saturating_sub(b);
            let mut q = p.put_or_move(tail)?;
            let start = net + hlen + b;
            q.data_mut()[start..start + tail].copy_from_slice(&d.data()[b..b + tail]);
            d.buf = q;
            d.net = net;
            d.hlen = hlen;
            d.extent = d.extent.max(b);
            let ip = &mut d.buf.data_mut()[net..net + hlen];
            let mut h = Ipv4Packet::new_unchecked(ip);
            let ff = h.flags_frag() & !OFFSET_MASK;
            h.set_flags_frag(ff);
            return Some(d);
        }
        if b > d.extent {
            let grown = d.buf.put_or_move(b - d.extent)?;
            d.buf = grown;
            if a > d.extent {
                d.append_hole(d.extent as u16, a as u16)?;
            }
            d.extent = b;
        }
        d.fill(a as u16, b as u16)?;
        let src = &p.data()[net + hlen..net + hlen + (b - a)];
        d.data_mut()[a..b].copy_from_slice(src);
        Some(d)
    }

    fn dump(&self) -> String {
        let mut s = format!(
            "frags seen total:    {}\ngood reassemblies:   {}\nfailed reassemblies: {}\n\
             bad fragments seen:  {}\ncached chunk data:\n",
            self.fragments, self.reassembled, self.failed, self.drops
        );
        for d in &self.datagrams {
            let _ = write!(
                s,
                " {} > {} proto {} id {}",
                Ipv4Addr::from(d.key.src),
                Ipv4Addr::from(d.key.dst),
                d.key.proto,
                d.key.id
            );
            for (a, b) in d.ranges() {
                let _ = write!(s, " ({a},{b})");
            }
            s.push('\n');
        }
        s
    }
}

impl Element for IpReassembler {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: sluice_dataplane::Batch) {
        for mut p in batch {
            let Some(net) = p.network_offset().filter(|&n| n <= p.len()) else {
                self.drops += 1;
                continue;
            };
            let Ok(iph) = Ipv4Packet::new_checked(&p.data()[net..]) else {
                self.drops += 1;
                continue;
            };
            if !iph.is_fragment() {
                ctx.output(0, p);
                continue;
            }
            self.fragments += 1;
            let key = Key {
                src: iph.src_bytes(),
                dst: iph.dst_bytes(),
                proto: iph.protocol(),
                id: iph.ident(),
            };
            let hlen = iph.header_len();
            let total = usize::from(iph.total_len());
            let more = iph.more_frags();
            let a = usize::from(iph.frag_offset());
            let b = a + (total - hlen);
            if b > usize::from(u16::MAX) || b <= a || (more && b % 8 != 0) {
                self.drops += 1;
                continue;
            }
            // Link padding past the IP length is not fragment data.
            let _ = p.take(p.len() - net - total);

            if p.anno().timestamp_ns == 0 {
                p.anno_mut().timestamp_ns = ctx.now();
            }
            let now = p.anno().timestamp_ns;
            if now >= self.reap_at {
                self.reap_timeouts(ctx, now);
            }
            if self.mem_used > self.himem {
                self.reap_overfull(ctx);
            }
            match self.add(ctx, p, key, (net, hlen), (a, b), more, now) {
                Verdict::Held => {}
                Verdict::Complete(mut q) => {
                    self.reassembled += 1;
                    q.anno_mut().timestamp_ns = now;
                    ctx.output(0, q);
                }
                Verdict::Bad => self.drops += 1,
                Verdict::NoBuffer => {
                    self.drops += 1;
                    self.pool_drops += 1;
                }
            }
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        // Each datagram holds a buffer and costs at least ENTRY_COST + 8 bytes: neither
        // the pool nor HIMEM allows more at once.
        let most = (self.himem / (ENTRY_COST + 8) + 1).min(ctx.pool().stats().capacity);
        self.datagrams.reserve_exact(most.max(1));
        Ok(())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "fragments" => self.fragments.to_string(),
            "reassembled" => self.reassembled.to_string(),
            "failed" => self.failed.to_string(),
            "drops" => self.drops.to_string(),
            "pool_drops" => self.pool_drops.to_string(),
            "mem_used" => self.mem_used.to_string(),
            "dump" => self.dump(),
            _ => return None,
        })
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let himem = args
        .read_k::<u32>("HIMEM")
        .map_or(DEFAULT_HIMEM, |h| h as usize);
    if args.has_keyword("MAX_MTU_ANNO") {
        let _ = args.read_k::<String>("MAX_MTU_ANNO");
        args.error_whole(
            "MAX_MTU_ANNO is not supported: sluice's packets have no free 2-byte annotation",
        );
        return None;
    }
    Some(Box::new(IpReassembler {
        himem,
        lowmem: himem / 4 * 3,
        mem_used: 0,
        datagrams: Vec::new(),
        reap_at: 0,
        fragments: 0,
        reassembled: 0,
        failed: 0,
        drops: 0,
        pool_drops: 0,
    }))
}

/// `IPReassembler`: see the module docs.
pub static IPReassembler: ElementClass = ElementClass {
    name: "IPReassembler",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, ipv4, try_harness, Harness};
    use super::*;
    use crate::wire::checksum;
    use alloc::vec;

    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [10, 0, 0, 2];

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// A UDP-protocol fragment of datagram `id` holding `data` at byte offset `off`.
    fn frag(id: u16, off: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut p = ipv4(SRC, DST, 17, data);
        p[4..6].copy_from_slice(&id.to_be_bytes());
        let ff = (off / 8) as u16 | if more { FLAG_MF } else { 0 };
        p[6..8].copy_from_slice(&ff.to_be_bytes());
        p[10] = 0;
        p[11] = 0;
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn push(h: &mut Harness, bytes: &[u8], ts: u64) {
        h.push_ip(0, bytes, 0, |a| a.timestamp_ns = ts);
    }

    /// Checks `out` is datagram `id` whole: header fields and checksum, then returns its data.
    fn whole(out: &[u8], id: u16) -> Vec<u8> {
        let (ih, rest) = etherparse::Ipv4Header::from_slice(out).unwrap();
        assert_eq!(ih.header_checksum, ih.calc_header_checksum());
        assert_eq!(usize::from(ih.total_len), out.len());
        assert_eq!(ih.identification, id);
        assert!(!ih.more_fragments);
        assert_eq!(ih.fragment_offset.value(), 0);
        rest.to_vec()
    }

    #[test]
    fn fragments_in_any_order_make_the_datagram() {
        let body = payload(100);
        let parts = [
            frag(7, 0, true, &body[..32]),
            frag(7, 32, true, &body[32..64]),
            frag(7, 64, false, &body[64..]),
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1], [1, 0, 2]] {
            let mut h = harness(&IPReassembler, "", 1, 1);
            for (k, &i) in order.iter().enumerate() {
                push(&mut h, &parts[i], 1_000 + k as u64);
                assert_eq!(h.take().len(), usize::from(k == 2), "{order:?}");
                if k == 1 {
                    assert_ne!(h.read("mem_used"), "0");
                }
            }
            push(&mut h, &parts[order[2]], 5_000); // a late duplicate starts anew
            assert_eq!(h.take().len(), 0);
            assert_eq!(h.read("reassembled"), "1");
            assert_eq!(h.read("fragments"), "4");
        }
        let mut h = harness(&IPReassembler, "", 1, 1);
        for (k, p) in parts.iter().rev().enumerate() {
            push(&mut h, p, 1_000 + k as u64);
        }
        let out = h.take();
        assert_eq!(whole(&out[0].data, 7), body);
        assert_eq!(
            out[0].anno.timestamp_ns, 1_002,
            "the completing fragment's time"
        );
        assert_eq!(out[0].transport_offset, Some(20));
        assert_eq!(h.read("mem_used"), "0");
    }

    #[test]
    fn the_first_fragment_gives_header_mac_header_and_annotations() {
        let body = payload(64);
        let mut h = harness(&IPReassembler, "", 1, 1);
        push(&mut h, &frag(9, 32, false, &body[32..]), 10);
        // The offset-0 fragment carries options and a MAC header in front.
        let mut first = frag(9, 0, true, &body[..32]);
        first.splice(20..20, [1u8, 1, 1, 0]); // NOP NOP NOP EOL
        first[0] = 0x46;
        let tl = first.len() as u16;
        first[2..4].copy_from_slice(&tl.to_be_bytes());
        first[10] = 0;
        first[11] = 0;
        let c = checksum::checksum(&first[..24]);
        first[10..12].copy_from_slice(&c.to_be_bytes());
        let mut framed = vec![0xee; 14];
        framed.extend_from_slice(&first);
        h.push_ip(0, &framed, 14, |a| {
            a.paint = 5;
            a.timestamp_ns = 20;
        });
        let out = h.take();
        assert_eq!(out.len(), 1);
        let o = &out[0];
        assert_eq!(&o.data[..14], &[0xee; 14]);
        assert_eq!(o.network_offset, Some(14));
        assert_eq!(o.anno.paint, 5);
        assert_eq!(&o.data[14 + 20..14 + 24], &[1, 1, 1, 0]);
        assert_eq!(whole(&o.data[14..], 9), body);
    }

    #[test]
    fn overlaps_and_repeats_later_bytes_win() {
        let mut h = harness(&IPReassembler, "", 1, 1);
        push(&mut h, &frag(1, 0, true, &[1; 24]), 1);
        push(&mut h, &frag(1, 40, false, &[3; 10]), 2);
        push(&mut h, &frag(1, 16, true, &[2; 16]), 3); // overlaps the first
        assert_eq!(h.take().len(), 0, "bytes 32..40 are missing");
        assert_eq!(
            h.read("dump").lines().last().unwrap(),
            " 10.0.0.1 > 10.0.0.2 proto 17 id 1 (0,32) (40,50)"
        );
        push(&mut h, &frag(1, 8, true, &[4; 32]), 4); // covers the hole and more
        let out = h.take();
        let mut want = vec![1u8; 8];
        want.extend([4; 32]);
        want.extend([3; 10]);
        assert_eq!(whole(&out[0].data, 1), want);
    }

    #[test]
    fn datagrams_are_kept_apart_and_whole_packets_pass() {
        let mut h = harness(&IPReassembler, "", 1, 1);
        let plain = ipv4(SRC, DST, 17, &payload(30));
        push(&mut h, &frag(1, 0, true, &[1; 8]), 1);
        push(&mut h, &frag(2, 0, true, &[2; 8]), 1);
        let mut other_proto = frag(1, 8, false, &[9; 4]);
        other_proto[9] = 6;
        other_proto[10] = 0;
        other_proto[11] = 0;
        let c = checksum::checksum(&other_proto[..20]);
        other_proto[10..12].copy_from_slice(&c.to_be_bytes());
        push(&mut h, &other_proto, 1);
        push(&mut h, &plain, 1);
        push(&mut h, &frag(2, 8, false, &[2; 4]), 1);
        let out = h.take();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, plain);
        assert_eq!(whole(&out[1].data, 2), [2; 12]);
        assert_eq!(h.read("fragments"), "4");
    }

    #[test]
    fn stale_datagrams_go_to_output_1_with_zeroed_holes() {
        let s = 1_000_000_000;
        let mut h = harness(&IPReassembler, "", 1, 2);
        push(&mut h, &frag(1, 8, true, &[5; 8]), s);
        push(&mut h, &frag(2, 0, true, &[6; 8]), 5 * s);
        push(&mut h, &frag(3, 0, true, &[7; 8]), 32 * s);
        // Datagram 1 was last heard from 31 seconds before: given up; 2, 26 seconds: kept.
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].port, 1);
        let (ih, rest) = etherparse::Ipv4Header::from_slice(&out[0].data).unwrap();
        assert_eq!(ih.identification, 1);
        assert!(ih.more_fragments, "its end never arrived");
        assert_eq!(ih.header_checksum, ih.calc_header_checksum());
        assert_eq!(rest, [[0u8; 8], [5; 8]].concat());
        assert_eq!(h.read("failed"), "1");
        assert_eq!(h.read("dump").lines().count(), 5 + 2);
        // Timeouts are looked for at most every 10 seconds: 2 is stale at 36 s, given up
        // at 42 s.
        push(&mut h, &frag(3, 8, true, &[7; 8]), 36 * s);
        assert!(h.take().is_empty());
        push(&mut h, &frag(3, 16, true, &[7; 8]), 42 * s);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[4..6], &[0, 2]);
        assert_eq!(h.read("failed"), "2");

        // With one output, given-up datagrams are dropped, still counted.
        let mut h = harness(&IPReassembler, "", 1, 1);
        push(&mut h, &frag(1, 8, true, &[5; 8]), s);
        push(&mut h, &frag(2, 8, true, &[5; 8]), 40 * s);
        assert!(h.take().is_empty());
        assert_eq!(h.read("failed"), "1");
    }

    #[test]
    fn memory_over_himem_gives_up_the_least_recent() {
        // Each datagram here costs 40 + 64 = 104 bytes; HIMEM 250 holds two.
        let mut h = harness(&IPReassembler, "HIMEM 250", 1, 2);
        for id in 1..=3u16 {
            push(&mut h, &frag(id, 0, true, &[id as u8; 64]), u64::from(id));
        }
        assert_eq!(h.read("mem_used"), "312");
        push(&mut h, &frag(4, 0, true, &[4; 64]), 4);
        // Over 250 when 4 arrived: 1 and 2 given up (down to 3/4 of HIMEM), 4 held.
        let out = h.take();
        let ids: Vec<u16> = out
            .iter()
            .map(|o| u16::from_be_bytes([o.data[4], o.data[5]]))
            .collect();
        assert_eq!(ids, [1, 2]);
        assert!(out.iter().all(|o| o.port == 1));
        assert_eq!(h.read("mem_used"), "208");
    }

    #[test]
    fn inconsistent_fragments_are_counted_drops() {
        let mut h = harness(&IPReassembler, "", 1, 1);
        push(&mut h, &frag(1, 0, true, &[1; 12]), 1); // middle, not a multiple of 8
        push(&mut h, &frag(1, 65528, false, &[1; 16]), 1); // past 65535
        push(&mut h, &frag(2, 0, true, &[1; 8]), 1);
        push(&mut h, &frag(2, 16, false, &[1; 4]), 1); // held: the end is 20 ...
        push(&mut h, &frag(2, 16, true, &[1; 8]), 1); // ... so this reaches past it
        push(&mut h, &frag(2, 8, false, &[1; 4]), 1); // another end
        assert_eq!(h.read("drops"), "4");
        push(&mut h, &frag(3, 16, true, &[1; 16]), 1);
        push(&mut h, &frag(3, 8, false, &[1; 8]), 1); // ends before data held
        assert_eq!(h.read("drops"), "5");
        assert!(h.take().is_empty());
        assert_eq!(h.read("reassembled"), "0");
    }

    #[test]
    fn hostile_packets_never_panic() {
        let mut h = harness(&IPReassembler, "HIMEM 4000", 1, 2);
        let f = frag(1, 8, true, &payload(16));
        for n in 0..f.len() {
            push(&mut h, &f[..n], 1);
        }
        for b in [0x40u8, 0x4f, 0x46, 0x00] {
            let mut p = f.clone();
            p[0] = b;
            push(&mut h, &p, 1);
        }
        h.push(0, h.packet(&f)); // no IP header annotation
                                 // Random fragments of a few datagrams: every hole and overlap pattern, against a
                                 // model of which bytes arrived.
        let mut x = 0x1234_5678u32;
        let mut rnd = move |n: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % n
        };
        for _ in 0..4000 {
            let id = rnd(3) as u16;
            let off = rnd(24) as usize * 8;
            let more = rnd(4) != 0;
            let len = if more {
                8 * (1 + rnd(6) as usize)
            } else {
                1 + rnd(40) as usize
            };
            let data: Vec<u8> = (0..len).map(|i| (off + i) as u8).collect();
            push(
                &mut h,
                &frag(id, off, more, &data),
                1 + u64::from(rnd(1000)),
            );
        }
        for o in h.take() {
            let (ih, rest) = etherparse::Ipv4Header::from_slice(&o.data).unwrap();
            assert_eq!(ih.header_checksum, ih.calc_header_checksum());
            if o.port == 0 {
                // Every byte of a completed datagram is the byte sent at its offset.
                assert!(rest.iter().enumerate().all(|(i, &b)| b == i as u8));
            }
        }
        assert!(h.read("reassembled").parse::<u64>().unwrap() > 0);
        let held = h.read("dump").lines().count() - 5;
        assert!(held <= 3);
    }

    #[test]
    fn empty_pool_is_a_counted_drop() {
        let mut h = try_harness(&IPReassembler, "", 1, 1, 1).ok().unwrap();
        push(&mut h, &frag(1, 8, true, &[1; 8]), 1);
        assert_eq!(h.read("pool_drops"), "1");
        assert_eq!(h.read("mem_used"), "0");
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        for (cfg, want) in [
            ("MAX_MTU_ANNO 16", "MAX_MTU_ANNO"),
            ("HIMEM lots", "HIMEM"),
            ("12", ""),
        ] {
            let e = try_harness(&IPReassembler, cfg, 1, 1, 8).err().unwrap();
            assert!(e.contains(want), "{cfg}: {e}");
        }
    }
}
