//! `IPFragmenter(MTU [, HONOR_DF, VERBOSE, keywords HEADROOM])` — splits IP packets larger than an MTU.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `h`: push.
//!
//! Expects IP packets with their IP header annotation set. A packet whose IP part (from the
//! IP header to the end of the packet) is at most MTU bytes leaves on output 0 unchanged.
//! A longer one is split into fragments, emitted in order on output 0: the first fragment is
//! the packet itself, cut after the largest multiple of 8 payload bytes that fits (anything in
//! front of the IP header, such as a MAC header, stays); the others are new packets holding an
//! IP header with only the options that must be copied into every fragment (the copy bit),
//! padded to a multiple of 4, and the next piece of payload. Offsets, More Fragments flags,
//! lengths and header checksums are set; the last fragment keeps the original MF flag, so
//! fragmenting a fragment works. Every fragment carries the original's annotations.
//!
//! A packet with Don't Fragment set (when HONOR_DF, the default, is true), or whose MTU leaves
//! no room for 8 payload bytes after its header, goes to output 1 if it exists (usually an
//! `ICMPError(..., unreachable, needfrag)`), and is dropped otherwise; either way it is
//! counted in `drops`. With HONOR_DF false, DF is cleared and the identifier replaced by a
//! random one (the sender's identifier cannot be trusted to be unique then).
//!
//! New fragments come from the packet pool; a fragment that finds the pool empty is not sent
//! and is counted in `pool_drops`. Packets whose header disagrees with their length are
//! dropped and counted in `bad_drops`.
//!
//! **Keywords:**
//!
//! - `HONOR_DF`: bool, default true.
//! - `VERBOSE`: bool: log every DF packet, otherwise the first five.
//! - `HEADROOM`: bytes in front of new fragments; default the pool's.
//!
//! **Handlers:** `drops`, `fragments`, `pool_drops`, `bad_drops` (read).
//!
//! **Example:**
//!
//! ```text
//! fr :: IPFragmenter(1500) -> Queue -> ...;
//! fr[1] -> ICMPError(18.26.4.24, unreachable, needfrag, PMTU 1500) -> rt;
//! ```
//!
//! **Differences from Click:** a packet longer than MTU only because of bytes past its IP
//! length (link padding) is trimmed and sent whole, where Click would send a malformed first
//! fragment; `pool_drops` and `bad_drops` are additions.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, InitContext, Packet,
};

use crate::wire::ipv4::{Ipv4Packet, FLAG_DF, FLAG_MF, MIN_HEADER_LEN};

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;

/// Writes into `out` (if given) the options of `opts` that must be copied into every
/// fragment, padded with end-of-list bytes to a multiple of 4; returns their length.
fn copy_options(opts: &[u8], mut out: Option<&mut [u8]>) -> usize {
    let mut pos = 0;
    let mut i = 0;
    while i < opts.len() {
        let ty = opts[i];
        let len = if ty == OPT_NOP {
            1
        } else if ty == OPT_EOL || i + 1 >= opts.len() {
            break;
        } else {
            usize::from(opts[i + 1])
        };
        if len == 0 || i + len > opts.len() {
            break;
        }
        if ty & 0x80 != 0 {
            if let Some(o) = out.as_deref_mut() {
                o[pos..pos + len].copy_from_slice(&opts[i..i + len]);
            }
            pos += len;
        }
        i += len;
    }
    while pos % 4 != 0 {
        if let Some(o) = out.as_deref_mut() {
            o[pos] = OPT_EOL;
        }
        pos += 1;
    }
    pos
}

/// The element.
pub struct IpFragmenter {
    mtu: usize,
    honor_df: bool,
    verbose: bool,
    headroom: Option<usize>,
    drops: u64,
    fragments: u64,
    pool_drops: u64,
    bad_drops: u64,
    rng: u32,
    /// Fragments after the first, built before the first leaves (it still holds their
    /// payload). Capacity reserved at initialization, so pushing never allocates.
    scratch: Vec<Packet>,
}

const HANDLERS: &[Handler] = &[
    Handler::read("drops"),
    Handler::read("fragments"),
    Handler::read("pool_drops"),
    Handler::read("bad_drops"),
];

impl IpFragmenter {
    fn random_id(&mut self) -> u16 {
        // xorshift32: identifiers need to be unpredictable-ish and cheap, not secure.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        (x >> 8) as u16
    }

    fn reject(&mut self, ctx: &mut Context<'_>, p: Packet, ip: (Ipv4Addr, Ipv4Addr)) {
        if self.verbose || self.drops < 5 {
            // Click's message names the class, not the element.
            ctx.log(&format!(
                "IPFragmenter({}) DF {} {} len={}",
                self.mtu,
                ip.0,
                ip.1,
                p.len()
            ));
        }
        self.drops += 1;
        if ctx.noutputs() > 1 {
            ctx.output(1, p);
        }
    }

    fn fragment(&mut self, ctx: &mut Context<'_>, mut p: Packet, net: usize) {
        let ip = &p.data()[net..];
        let Ok(iph) = Ipv4Packet::new_checked(ip) else {
            self.bad_drops += 1;
            return;
        };
        let hlen = iph.header_len();
        let total = usize::from(iph.total_len());
        let in_dlen = total - hlen;
        let first_dlen = self.mtu.saturating_sub(hlen) & !7;
        if (iph.dont_frag() && self.honor_df) || first_dlen < 8 {
            let addrs = (iph.src_addr(), iph.dst_addr());
            self.reject(ctx, p, addrs);
            return;
        }
        if in_dlen <= first_dlen {
            // Over MTU only by bytes past the IP length: trim them and send it whole.
            let _ = p.take(p.len() - net - total);
            ctx.output(0, p);
            return;
        }

        // First fragment's header: MF set, DF cleared (new identifier) when ignoring DF.
        let had_mf;
        let out_hlen;
        {
            let new_id = if iph.dont_frag() {
                Some(self.random_id())
            } else {
                None
            };
            let ip = &mut p.data_mut()[net..];
            let mut h = Ipv4Packet::new_unchecked(&mut ip[..hlen]);
            let mut ff = h.flags_frag();
            if let Some(id) = new_id {
                h.set_ident(id);
                ff &= !FLAG_DF;
            }
            had_mf = ff & FLAG_MF != 0;
            h.set_flags_frag(ff | FLAG_MF);
            h.set_total_len((hlen + first_dlen) as u16);
            h.fill_checksum();
            out_hlen = MIN_HEADER_LEN + copy_options(h.options(), None);
        }

        // The other fragments, from the modified header and the payload after the first.
        let headroom = self.headroom.unwrap_or(ctx.pool().headroom());
        let mut off = first_dlen;
        while off < in_dlen {
            let dlen = ((self.mtu - out_hlen) & !7).min(in_dlen - off);
            let len = out_hlen + dlen;
            let q = ctx
                .pool()
                .alloc(0)
                .and_then(|mut q| q.set_range(headroom, len).ok().map(|()| q));
            match q {
                Some(mut q) => {
                    let src = &p.data()[net..];
                    let dst = q.data_mut();
                    dst[..MIN_HEADER_LEN].copy_from_slice(&src[..MIN_HEADER_LEN]);
                    copy_options(
                        &src[MIN_HEADER_LEN..hlen],
                        Some(&mut dst[MIN_HEADER_LEN..out_hlen]),
                    );
                    dst[out_hlen..].copy_from_slice(&src[hlen + off..hlen + off + dlen]);
                    let mut h = Ipv4Packet::new_unchecked(&mut dst[..out_hlen]);
                    h.set_header_len(out_hlen);
                    let mut ff = h.flags_frag().wrapping_add((off >> 3) as u16);
                    if off + dlen >= in_dlen && !had_mf {
                        ff &= !FLAG_MF;
                    }
                    h.set_flags_frag(ff);
                    h.set_total_len(len as u16);
                    h.fill_checksum();
                    *q.anno_mut() = *p.anno();
                    q.set_network_offset(0);
                    q.set_transport_offset(out_hlen);
                    self.scratch.push(q);
                }
                None => self.pool_drops += 1,
            }
            off += dlen;
        }

        let _ = p.take(p.len() - net - hlen - first_dlen);
        self.fragments += 1 + self.scratch.len() as u64;
        ctx.output(0, p);
        for q in self.scratch.drain(..) {
            ctx.output(0, q);
        }
    }
}

impl Element for IpFragmenter {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for p in batch {
            let Some(net) = p.network_offset().filter(|&n| n <= p.len()) else {
                self.bad_drops += 1;
                continue;
            };
            if p.len() - net <= self.mtu {
                ctx.output(0, p);
            } else {
                self.fragment(ctx, p, net);
            }
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.scratch.reserve(ctx.pool().buffer_size() / 8 + 2);
        self.rng = 0x9e37_79b9 ^ (ctx.now() as u32) ^ (ctx.name().len() as u32);
        if self.rng == 0 {
            self.rng = 1;
        }
        Ok(())
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "drops" => self.drops.to_string(),
            "fragments" => self.fragments.to_string(),
            "pool_drops" => self.pool_drops.to_string(),
            "bad_drops" => self.bad_drops.to_string(),
            _ => return None,
        })
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let mtu: Option<u32> = args.read_mp("MTU");
    let honor_df = args.read_p::<bool>("HONOR_DF").unwrap_or(true);
    let verbose = args.read_p::<bool>("VERBOSE").unwrap_or(false);
    let headroom = args.read_k::<usize>("HEADROOM");
    let mtu = mtu? as usize;
    if mtu < 8 {
        args.error_whole("MTU must be at least 8");
        return None;
    }
    Some(Box::new(IpFragmenter {
        mtu,
        honor_df,
        verbose,
        headroom,
        drops: 0,
        fragments: 0,
        pool_drops: 0,
        bad_drops: 0,
        rng: 1,
        scratch: Vec::new(),
    }))
}

/// `IPFragmenter`: see the module docs.
pub static IPFragmenter: ElementClass = ElementClass {
    name: "IPFragmenter",
    ports: "1/1-2",
    processing: "h",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::{harness, ipv4, try_harness, Out};
    use super::*;
    use crate::wire::checksum;
    use alloc::vec;

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Reassembles fragments by offset, checking each header with etherparse.
    fn reassemble(frags: &[Out]) -> (Vec<u8>, etherparse::Ipv4Header) {
        let mut data = vec![0u8; 0];
        let mut first = None;
        let mut saw_last = false;
        for f in frags {
            let (h, rest) = etherparse::Ipv4Header::from_slice(&f.data).unwrap();
            assert_eq!(
                h.header_checksum,
                h.calc_header_checksum(),
                "fragment checksum"
            );
            assert_eq!(usize::from(h.total_len), f.data.len());
            let off = usize::from(h.fragment_offset.value()) * 8;
            if data.len() < off + rest.len() {
                data.resize(off + rest.len(), 0);
            }
            data[off..off + rest.len()].copy_from_slice(rest);
            if !h.more_fragments {
                assert!(!saw_last);
                saw_last = true;
            }
            if off == 0 {
                first = Some(h);
            }
        }
        assert!(saw_last);
        (data, first.unwrap())
    }

    #[test]
    fn fragments_reassemble_to_the_original() {
        let mut h = harness(&IPFragmenter, "576", 1, 2);
        let body = payload(1400);
        let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &body);
        h.push_ip(0, &pkt, 0, |a| a.paint = 9);
        let out = h.take();
        assert_eq!(out.len(), 3);
        assert!(out
            .iter()
            .all(|o| o.port == 0 && o.data.len() <= 576 && o.anno.paint == 9));
        let lens: Vec<usize> = out.iter().map(|o| o.data.len()).collect();
        assert_eq!(lens, [20 + 552, 20 + 552, 20 + 296]);
        let (data, first) = reassemble(&out);
        assert_eq!(data, body);
        assert_eq!(first.source, [10, 0, 0, 1]);
        assert_eq!(h.read("fragments"), "3");
    }

    #[test]
    fn small_packets_pass_and_df_goes_to_output_1() {
        let mut h = harness(&IPFragmenter, "100", 1, 2);
        let small = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &payload(80));
        h.push_ip(0, &small, 0, |_| {});
        let mut df = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &payload(200));
        df[6] |= 0x40;
        df[10] = 0;
        df[11] = 0;
        let c = checksum::checksum(&df[..20]);
        df[10..12].copy_from_slice(&c.to_be_bytes());
        h.push_ip(0, &df, 0, |_| {});
        let out = h.take();
        assert_eq!(out.iter().map(|o| o.port).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(out[0].data, small);
        assert_eq!(out[1].data, df);
        assert_eq!(h.read("drops"), "1");

        // HONOR_DF false: fragmented anyway, DF cleared.
        let mut h = harness(&IPFragmenter, "100, false", 1, 1);
        h.push_ip(0, &df, 0, |_| {});
        let out = h.take();
        assert_eq!(out.len(), 3);
        let (data, first) = reassemble(&out);
        assert_eq!(data, payload(200));
        assert!(!first.dont_fragment);
        let ids: Vec<u16> = out
            .iter()
            .map(|o| {
                etherparse::Ipv4Header::from_slice(&o.data)
                    .unwrap()
                    .0
                    .identification
            })
            .collect();
        assert!(ids.iter().all(|&i| i == ids[0]));
    }

    #[test]
    fn only_copied_options_are_repeated() {
        let mut h = harness(&IPFragmenter, "68", 1, 1);
        // Options: Record Route (not copied, 7 bytes), NOP, LSRR (copied, 7 bytes), EOL: 16.
        let opts = [7u8, 7, 4, 0, 0, 0, 0, 1, 131, 7, 4, 1, 2, 3, 4, 0];
        let body = payload(100);
        let hl = 36;
        let mut pkt = vec![
            0x49, 0, 0, 0, 0, 42, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        pkt.extend_from_slice(&opts);
        pkt.extend_from_slice(&body);
        let tl = pkt.len() as u16;
        pkt[2..4].copy_from_slice(&tl.to_be_bytes());
        let c = checksum::checksum(&pkt[..hl]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        let mut bytes = vec![0xee; 14]; // a MAC header stays on the first fragment only
        bytes.extend_from_slice(&pkt);
        h.push_ip(0, &bytes, 14, |_| {});
        let mut out = h.take();
        assert_eq!(&out[0].data[..14], &[0xee; 14]);
        assert_eq!(
            &out[0].data[14 + 20..14 + 36],
            &opts,
            "first fragment keeps every option"
        );
        out[0].data.drain(..14);
        for o in &out[1..] {
            assert_eq!(o.data[0], 0x47, "20 + 8 bytes of copied options");
            assert_eq!(&o.data[20..28], &[131, 7, 4, 1, 2, 3, 4, 0]);
        }
        let (data, _) = reassemble(&out);
        assert_eq!(data, body);
    }

    #[test]
    fn fragmenting_a_middle_fragment_keeps_mf() {
        let mut h = harness(&IPFragmenter, "60", 1, 1);
        let mut pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &payload(80));
        pkt[6] = 0x20; // MF, offset 5 (40 bytes)
        pkt[7] = 5;
        pkt[10] = 0;
        pkt[11] = 0;
        let c = checksum::checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        h.push_ip(0, &pkt, 0, |_| {});
        let out = h.take();
        for o in &out {
            let (ih, _) = etherparse::Ipv4Header::from_slice(&o.data).unwrap();
            assert!(ih.more_fragments, "the original was not the last fragment");
            assert!(ih.fragment_offset.value() >= 5);
        }
    }

    #[test]
    fn empty_pool_is_a_counted_drop() {
        let mut h = try_harness(&IPFragmenter, "100", 1, 1, 2).ok().unwrap();
        let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &payload(300));
        h.push_ip(0, &pkt, 0, |_| {});
        let out = h.take();
        assert_eq!(out.len(), 2, "first fragment and one new one");
        assert_eq!(h.read("pool_drops"), "2");
    }

    #[test]
    fn hostile_packets_never_panic() {
        let mut h = harness(&IPFragmenter, "40", 1, 2);
        let pkt = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &payload(100));
        for n in 0..pkt.len() {
            h.push_ip(0, &pkt[..n], 0, |_| {});
        }
        for b in [0x40u8, 0x45, 0x4f, 0x46, 0x00] {
            let mut p = pkt.clone();
            p[0] = b;
            h.push_ip(0, &p, 0, |_| {});
        }
        let mut big_len = pkt.clone();
        big_len[2] = 0xff;
        h.push_ip(0, &big_len, 0, |_| {});
        let mut opts = pkt.clone();
        opts[0] = 0x4a;
        for (i, b) in opts[20..40].iter_mut().enumerate() {
            *b = [0x83, 0, 1, 0xff, 0x01][i % 5];
        }
        h.push_ip(0, &opts, 0, |_| {});
        h.push(0, h.packet(&pkt));
        h.take();
        // Trailing padding only: trimmed, not fragmented.
        let mut h = harness(&IPFragmenter, "40", 1, 1);
        let mut padded = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &payload(8));
        padded.extend_from_slice(&[0; 30]);
        h.push_ip(0, &padded, 0, |_| {});
        assert_eq!(h.take()[0].data.len(), 28);
    }
}
