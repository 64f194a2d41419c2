//! `IPGWOptions(MYADDR [, OTHERADDRS])` — processes the IP options every router must process.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Processes the Record Route and Timestamp options of IP packets (their IP header
//! annotation must be set), as every router on the path should; source routes are left to
//! other elements. MYADDR is the router's address on the interface the packet leaves by
//! (RFC 1812 4.2.2.2), so the element belongs on the output path. Record Route gets MYADDR;
//! Timestamp gets milliseconds since midnight (flag 0), MYADDR and the time (flag 1), or the
//! time in a prespecified slot holding one of the router's addresses, MYADDR or OTHERADDRS
//! (flag 3); a full Timestamp option has its overflow count raised instead. The header
//! checksum is recomputed when an option changed. Packets without options pass unchanged.
//!
//! A malformed option (bad length, pointer or flag, or an overflow count that would pass 15)
//! sends the packet to output 1, if it exists, with its ICMP parameter problem annotation
//! pointing at the offending byte, ready for `ICMPError(..., parameterproblem)`; without
//! output 1 it is dropped. Either way it is counted in `drops`.
//!
//! **Handlers:** `drops` (read).
//!
//! **Example:**
//!
//! ```text
//! gio :: IPGWOptions(18.26.4.24);
//! gio[1] -> ICMPError(18.26.4.24, parameterproblem) -> rt;
//! ```
//!
//! **Differences from Click:** timestamps come from the router's clock (wall-clock time in
//! host mode); packets whose header is shorter than its length field says are dropped and
//! counted in `drops` (output 1 gets only real option errors).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::Args;
use sluice_dataplane::clock::NS_PER_SEC;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use crate::wire::checksum;
use crate::wire::ipv4::MIN_HEADER_LEN;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_RR: u8 = 7;
const OPT_TS: u8 = 68;

/// The element.
pub struct IpGwOptions {
    my_addr: [u8; 4],
    /// MYADDR and OTHERADDRS.
    my_addrs: Vec<[u8; 4]>,
    drops: u64,
}

const HANDLERS: &[Handler] = &[Handler::read("drops")];

/// What processing did to a packet.
enum Verdict {
    Ok,
    /// A bad option; the offset of the offending byte in the header.
    Error(usize),
    Malformed,
}

impl IpGwOptions {
    /// Processes the options of `h` (the whole IP header) in place; `clock` reads the time
    /// for a timestamp option, once per option as Click does.
    fn process(&self, h: &mut [u8], clock: &dyn Fn() -> u64) -> (Verdict, bool) {
        let hlen = h.len();
        let mut changed = false;
        let at = |h: &[u8], i: usize| h.get(i).copied().unwrap_or(0);
        let mut oi = MIN_HEADER_LEN;
        while oi < hlen {
            let ty = h[oi];
            if ty == OPT_NOP {
                oi += 1;
                continue;
            } else if ty == OPT_EOL {
                break;
            }
            let xlen = usize::from(at(h, oi + 1));
            if xlen < 2 || oi + xlen > hlen {
                return (Verdict::Error(oi + 1), changed);
            }
            if ty != OPT_RR && ty != OPT_TS {
                oi += xlen;
                continue;
            }
            // The pointer is 1-origin; `p` is the offset of the next free slot.
            let p = i32::from(at(h, oi + 2)) - 1;
            let xl = xlen as i32;
            if ty == OPT_RR {
                if p >= 3 && p + 4 <= xl {
                    let s = oi + p as usize;
                    h[s..s + 4].copy_from_slice(&self.my_addr);
                    h[oi + 2] += 4;
                    changed = true;
                } else if p != xl {
                    return (Verdict::Error(oi + 2), changed);
                }
            } else {
                let oflw = at(h, oi + 3) >> 4;
                let flg = at(h, oi + 3) & 0x0f;
                let now_ns = clock();
                let secs = now_ns / NS_PER_SEC;
                let ms = ((secs % 86_400) * 1000 + (now_ns % NS_PER_SEC) / 1_000_000) as u32;
                let ms = ms.to_be_bytes();
                let mut overflowed = false;
                if p < 4 {
                    return (Verdict::Error(oi + 2), changed);
                } else if flg == 0 {
                    if p + 4 <= xl {
                        let s = oi + p as usize;
                        h[s..s + 4].copy_from_slice(&ms);
                        h[oi + 2] += 4;
                        changed = true;
                    } else {
                        overflowed = true;
                    }
                } else if flg == 1 {
                    if p + 8 <= xl {
                        let s = oi + p as usize;
                        h[s..s + 4].copy_from_slice(&self.my_addr);
                        h[s + 4..s + 8].copy_from_slice(&ms);
                        h[oi + 2] += 8;
                        changed = true;
                    } else {
                        overflowed = true;
                    }
                } else if flg == 3 && p + 8 <= xl {
                    let s = oi + p as usize;
                    let addr = [h[s], h[s + 1], h[s + 2], h[s + 3]];
                    if self.my_addrs.contains(&addr) {
                        h[s + 4..s + 8].copy_from_slice(&ms);
                        h[oi + 2] += 8;
                        changed = true;
                    }
                } else {
                    return (Verdict::Error(oi + 3), changed);
                }
                if overflowed {
                    if oflw < 15 {
                        h[oi + 3] = ((oflw + 1) << 4) | flg;
                        changed = true;
                    } else {
                        return (Verdict::Error(oi + 3), changed);
                    }
                }
            }
            oi += xlen;
        }
        (Verdict::Ok, changed)
    }

    fn handle(&mut self, p: &mut Packet, clock: &dyn Fn() -> u64) -> Verdict {
        let Some(ip) = p.network_data_mut() else {
            return Verdict::Malformed;
        };
        if ip.len() < MIN_HEADER_LEN {
            return Verdict::Malformed;
        }
        let hlen = usize::from(ip[0] & 0x0f) * 4;
        if hlen <= MIN_HEADER_LEN {
            return Verdict::Ok;
        }
        let Some(h) = ip.get_mut(..hlen) else {
            return Verdict::Malformed;
        };
        let (verdict, changed) = self.process(h, clock);
        if changed {
            h[10] = 0;
            h[11] = 0;
            let c = checksum::checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        verdict
    }
}

impl Element for IpGwOptions {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        for mut p in batch {
            // Click reads the clock afresh for each timestamp option.
            let verdict = self.handle(&mut p, &|| ctx.event_time());
            match verdict {
                Verdict::Ok => ctx.output(0, p),
                Verdict::Error(at) => {
                    self.drops += 1;
                    p.anno_mut().icmp_param_prob = at as u8;
                    if ctx.noutputs() > 1 {
                        ctx.output(1, p);
                    }
                }
                Verdict::Malformed => self.drops += 1,
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

fn make(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let my: Option<Ipv4Addr> = args.read_mp("MYADDR");
    let others: Option<String> = args.read_p("OTHERADDRS");
    let my = my?.octets();
    let mut my_addrs = Vec::new();
    for w in others.as_deref().unwrap_or("").split_whitespace() {
        match w.parse::<Ipv4Addr>() {
            Ok(a) => my_addrs.push(a.octets()),
            Err(_) => {
                args.error_whole(alloc::format!("OTHERADDRS: '{w}' is not an IP address"));
                return None;
            }
        }
    }
    my_addrs.push(my);
    Some(Box::new(IpGwOptions {
        my_addr: my,
        my_addrs,
        drops: 0,
    }))
}

/// `IPGWOptions`: see the module docs.
pub static IPGWOptions: ElementClass = ElementClass {
    name: "IPGWOptions",
    ports: "1/1-2",
    processing: "a/ah",
    make,
    names: None,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::harness;
    use super::*;
    use alloc::vec;

    /// An IPv4 header with `opts` (padded by the caller to a multiple of 4) and 4 bytes of
    /// payload, checksum valid.
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let hl = 20 + opts.len();
        let mut v = vec![
            0x40 | (hl / 4) as u8,
            0,
            0,
            (hl + 4) as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        v.extend_from_slice(&[10, 0, 0, 1, 10, 0, 9, 9]);
        v.extend_from_slice(opts);
        v.extend_from_slice(&[1, 2, 3, 4]);
        let c = checksum::checksum(&v[..hl]);
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v
    }

    fn valid(v: &[u8]) -> bool {
        let hl = usize::from(v[0] & 0x0f) * 4;
        checksum::checksum(&v[..hl]) == 0
    }

    #[test]
    fn each_timestamp_option_reads_the_simulated_clock() {
        use crate::testutil::{graph, simtime_router};
        use sluice_dataplane::{Batch, Clock, PacketPool};
        let g = graph(
            &[("g", "IPGWOptions", "18.26.4.24"), ("o", "Collect", "")],
            &[(0, 0, 1, 0), (0, 1, 1, 1)],
        );
        let pool = PacketPool::new(8);
        let (mut r, clock) = simtime_router(&g, &pool);
        let start = clock.now_ns();
        let ts = [OPT_TS, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let bad_ts = [OPT_TS, 8, 2, 0, 0, 0, 0, 0];
        let rr = [OPT_RR, 7, 4, 0, 0, 0, 0, OPT_NOP];
        let two = [ts, ts].concat();
        let batch: Batch = [&ts[..], &bad_ts, &rr, &two]
            .iter()
            .map(|o| {
                let mut p = pool.alloc_from(&with_options(o)).unwrap();
                p.set_network_offset(0);
                p
            })
            .collect();
        r.push_to("g", 0, batch).unwrap();
        // One for the first, one for the bad one (read before its pointer is checked),
        // none for record route, two for the last.
        assert_eq!(clock.now_ns() - start, 4);
    }

    #[test]
    fn record_route_golden() {
        let mut h = harness(&IPGWOptions, "18.26.4.24", 1, 2);
        // RR with room for two addresses, pointer at the first slot, then NOP padding.
        let pkt = with_options(&[OPT_RR, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, OPT_NOP]);
        h.push_ip(0, &pkt, 0, |_| {});
        let out = h.take();
        assert_eq!(out[0].port, 0);
        assert_eq!(
            &out[0].data[20..32],
            &[OPT_RR, 11, 8, 18, 26, 4, 24, 0, 0, 0, 0, OPT_NOP]
        );
        assert!(valid(&out[0].data));
        let (ip, _) = etherparse::Ipv4Header::from_slice(&out[0].data).unwrap();
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        // A full RR passes unchanged.
        let full = with_options(&[OPT_RR, 7, 8, 1, 1, 1, 1, OPT_EOL]);
        h.push_ip(0, &full, 0, |_| {});
        assert_eq!(h.take()[0].data, full);
    }

    #[test]
    fn timestamp_flags_and_overflow() {
        let mut h = harness(&IPGWOptions, "18.26.4.24, 10.9.9.9", 1, 2);
        // Flag 1: address and time, room for one pair.
        let pkt = with_options(&[OPT_TS, 12, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        h.push_ip(0, &pkt, 0, |_| {});
        let o = &h.take()[0];
        assert_eq!(&o.data[20..28], &[OPT_TS, 12, 13, 0x01, 18, 26, 4, 24]);
        assert_eq!(&o.data[28..32], &1000u32.to_be_bytes(), "clock at 1 s");
        assert!(valid(&o.data));
        // Full: overflow count goes up.
        let full = with_options(&[OPT_TS, 4, 5, 0x20]);
        h.push_ip(0, &full, 0, |_| {});
        let o = &h.take()[0];
        assert_eq!(o.data[23], 0x30);
        assert!(valid(&o.data));
        // Flag 3 with one of our other addresses prespecified.
        let pre = with_options(&[OPT_TS, 12, 5, 0x03, 10, 9, 9, 9, 0, 0, 0, 0]);
        h.push_ip(0, &pre, 0, |_| {});
        let o = &h.take()[0];
        assert_eq!(o.data[22], 13);
        assert_eq!(&o.data[28..32], &1000u32.to_be_bytes());
    }

    #[test]
    fn bad_options_go_to_output_1_with_pointer() {
        let mut h = harness(&IPGWOptions, "18.26.4.24", 1, 2);
        let cases: [(&[u8], u8); 5] = [
            (&[OPT_RR, 1, 0, 0], 21),                // length < 2
            (&[OPT_RR, 9, 4, 0], 21),                // runs past the header
            (&[OPT_RR, 7, 6, 0, 0, 0, 0, 0], 22),    // pointer not at a slot
            (&[OPT_TS, 8, 5, 0x02, 0, 0, 0, 0], 23), // bad flag
            (&[OPT_TS, 4, 5, 0xf0], 23),             // overflow count full
        ];
        for (opts, _) in cases {
            h.push_ip(0, &with_options(opts), 0, |_| {});
        }
        let out = h.take();
        assert_eq!(out.len(), cases.len());
        for (o, (_, ptr)) in out.iter().zip(cases) {
            assert_eq!((o.port, o.anno.icmp_param_prob), (1, ptr));
        }
        assert_eq!(h.read("drops"), "5");
    }

    #[test]
    fn no_options_and_hostile_headers() {
        let mut h = harness(&IPGWOptions, "18.26.4.24", 1, 1);
        let plain = super::super::testutil::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 17, &[0; 8]);
        h.push_ip(0, &plain, 0, |_| {});
        assert_eq!(h.take()[0].data, plain);
        let pkt = with_options(&[OPT_RR, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, OPT_NOP]);
        for n in 0..pkt.len() {
            h.push_ip(0, &pkt[..n], 0, |_| {});
        }
        for b in 0..=255u8 {
            let mut p = pkt.clone();
            p[21] = b;
            p[22] = b.wrapping_mul(7);
            h.push_ip(0, &p, 0, |_| {});
        }
        h.take();
    }
}
