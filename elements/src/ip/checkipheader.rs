//! `CheckIPHeader([OFFSET, keywords OFFSET, INTERFACES, BADSRC, GOODDST, CHECKSUM, VERBOSE, DETAILS])` — checks IP headers.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! Input packets should have IPv4 headers starting OFFSET bytes in (default 0). The checks
//! run in this order, and a packet failing one is a drop for that reason:
//!
//! 1. *tiny packet*: fewer than 20 bytes from OFFSET on;
//! 2. *bad IP version*: the version is not 4;
//! 3. *bad IP header length*: the header length is below 20 bytes;
//! 4. *bad IP length*: the total length exceeds the bytes present, or is below the header
//!    length;
//! 5. *bad IP checksum*: the header checksum is wrong (skipped when `CHECKSUM false`, and
//!    always by `CheckIPHeader2`);
//! 6. *bad source address*: the source is on the BADSRC list and the destination is not on
//!    the GOODDST list (RFC 1812 5.3.7).
//!
//! A valid packet gets its network header annotation (at OFFSET) and transport header
//! annotation (after the IP header, options included), is trimmed to the IP total length
//! (dropping Ethernet padding), gets the destination IP annotation set to its destination
//! address, and leaves on output 0. Invalid packets leave on output 1 if it is connected,
//! else they are dropped. The first invalid packet is reported on the console (every one
//! with `VERBOSE true`).
//!
//! The old syntax `CheckIPHeader(BADSRC2, OFFSET)` is accepted: a positional address list
//! acts like BADSRC plus 0.0.0.0 and 255.255.255.255. A single positional integer is OFFSET.
//!
//! **Keywords:**
//!
//! - `OFFSET`: byte position of the IP header; default 0.
//! - `BADSRC`: space-separated IPv4 addresses; sources on it are bad. Default empty.
//! - `GOODDST`: space-separated IPv4 addresses; packets to these are exempt from BADSRC.
//!   Default empty.
//! - `INTERFACES`: space-separated address/prefix pairs, this router's interfaces.
//!   `INTERFACES 18.26.4.9/24 18.32.9.44/28` acts as `BADSRC 18.26.4.255 18.32.9.47 0.0.0.0
//!   255.255.255.255` and `GOODDST 18.26.4.9 18.32.9.44`. BADSRC and GOODDST given as well
//!   replace the corresponding half.
//! - `CHECKSUM`: boolean, check the header checksum; default true.
//! - `VERBOSE`: boolean, report every invalid packet; default false.
//! - `DETAILS`: boolean, count drops per reason (the `drop_details` handler); default false.
//!
//! **Handlers:**
//!
//! - `drops` (r): invalid packets seen.
//! - `drop_details` (r, with `DETAILS true`): one `count<TAB>reason` line per reason.
//!
//! **Example:**
//!
//! ```text
//! FromDevice(eth0) -> Strip(14) -> CheckIPHeader(INTERFACES 10.0.0.1/24) -> ...
//! ```
//!
//! **Differences from Click:** none in behaviour.
//!
//! ## `CheckIPHeader2([OFFSET, keywords OFFSET, INTERFACES, BADSRC, GOODDST, VERBOSE, DETAILS])` — checks IP headers, except their checksums.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! `CheckIPHeader` without the checksum check: the same arguments, checks (all but *bad IP
//! checksum*), annotations, outputs and handlers. `CHECKSUM` is accepted and ignored.
//!
//! **Handlers:** `drops` (r), `drop_details` (r, with `DETAILS true`), as `CheckIPHeader`.
//!
//! **Differences from Click:** none in behaviour. `CheckIPHeader2` ignores `CHECKSUM`, as
//! Click's does.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::{keyword, Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, Packet,
};

use super::common::{push_each, report_drop, DropStats, Ipv4List, PrefixList, Verdict};
use crate::wire::{checksum, Ipv4Packet};

const REASONS: [&str; 6] = [
    "tiny packet",
    "bad IP version",
    "bad IP header length",
    "bad IP length",
    "bad IP checksum",
    "bad source address",
];
const TINY: usize = 0;
const BAD_VERSION: usize = 1;
const BAD_HLEN: usize = 2;
const BAD_IP_LEN: usize = 3;
const BAD_CHECKSUM: usize = 4;
const BAD_SADDR: usize = 5;

/// `CheckIPHeader`.
pub static CheckIPHeader: ElementClass = ElementClass {
    name: "CheckIPHeader",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_checked,
    names: None,
};

/// `CheckIPHeader2`: `CheckIPHeader` without the checksum test.
pub static CheckIPHeader2: ElementClass = ElementClass {
    name: "CheckIPHeader2",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_unchecked,
    names: None,
};

/// The element behind both classes.
pub struct CheckIp {
    offset: usize,
    bad_src: Vec<[u8; 4]>,
    good_dst: Vec<[u8; 4]>,
    checksum: bool,
    stats: DropStats,
}

fn make_checked(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, true).map(|e| Box::new(e) as Box<dyn Element>)
}

fn make_unchecked(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(args, false).map(|mut e| {
        e.checksum = false;
        Box::new(e) as Box<dyn Element>
    })
}

fn configure(args: &mut Args<'_>, checksum_default: bool) -> Option<CheckIp> {
    let mut bad_src: Vec<Ipv4Addr> = Vec::new();
    let mut good_dst: Vec<Ipv4Addr> = Vec::new();
    if let Some(PrefixList(ifaces)) = args.read_k::<PrefixList>("INTERFACES") {
        for p in &ifaces {
            let m = u32::from(p.mask());
            bad_src.push(Ipv4Addr::from((u32::from(p.addr) & m) | !m));
            good_dst.push(p.addr);
        }
        bad_src.push(Ipv4Addr::UNSPECIFIED);
        bad_src.push(Ipv4Addr::BROADCAST);
    }
    if let Some(Ipv4List(l)) = args.read_k::<Ipv4List>("BADSRC") {
        bad_src = l;
    }
    if let Some(Ipv4List(l)) = args.read_k::<Ipv4List>("GOODDST") {
        good_dst = l;
    }
    let mut offset = args.read_k::<usize>("OFFSET");
    let verbose = args.read_k::<bool>("VERBOSE").unwrap_or(false);
    let details = args.read_k::<bool>("DETAILS").unwrap_or(false);
    let checksum = args.read_k::<bool>("CHECKSUM").unwrap_or(checksum_default);

    // What is left is positional: nothing, a lone OFFSET, or the old `BADSRC2, OFFSET`.
    let rest = args.rest();
    let mut ok = true;
    for a in &rest {
        if let Some((k, _)) = keyword(a.text).filter(|(_, v)| !v.is_empty()) {
            args.error(a.span, alloc::format!("unknown keyword argument '{k}'"));
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    match rest.as_slice() {
        [] => {}
        [only] if usize::from_arg(only.text, None).is_ok() => {
            offset = usize::from_arg(only.text, None).ok();
        }
        [list, more @ ..] => {
            if let Some(extra) = more.get(1) {
                args.error(
                    extra.span,
                    alloc::format!("too many arguments: '{}' was not expected", extra.text),
                );
                return None;
            }
            match Ipv4List::from_arg(list.text, None) {
                Ok(Ipv4List(l)) => {
                    bad_src = l;
                    bad_src.push(Ipv4Addr::UNSPECIFIED);
                    bad_src.push(Ipv4Addr::BROADCAST);
                }
                Err(e) => {
                    args.error(list.span, alloc::format!("BADSRC: {e}"));
                    return None;
                }
            }
            if let Some(o) = more.first() {
                match usize::from_arg(o.text, None) {
                    Ok(v) => offset = Some(v),
                    Err(e) => {
                        args.error(o.span, alloc::format!("OFFSET: {e}"));
                        return None;
                    }
                }
            }
        }
    }
    Some(CheckIp {
        offset: offset.unwrap_or(0),
        bad_src: bad_src.iter().map(|a| a.octets()).collect(),
        good_dst: good_dst.iter().map(|a| a.octets()).collect(),
        checksum,
        stats: DropStats::new(REASONS.len(), details, verbose),
    })
}

impl CheckIp {
    /// Runs the checks in Click's order; on success annotates and trims the packet.
    #[inline]
    fn check(&self, p: &mut Packet) -> Result<(), usize> {
        let data = p.data();
        let plen = data.len().checked_sub(self.offset).ok_or(TINY)?;
        if plen < 20 {
            return Err(TINY);
        }
        // The fixed header is present, so the fixed-field getters cannot panic.
        let ip = Ipv4Packet::new_unchecked(&data[self.offset..]);
        if ip.version() != 4 {
            return Err(BAD_VERSION);
        }
        let hlen = ip.header_len();
        if hlen < 20 {
            return Err(BAD_HLEN);
        }
        let len = usize::from(ip.total_len());
        if len > plen || len < hlen {
            return Err(BAD_IP_LEN);
        }
        // hlen <= len <= plen: the whole header is present.
        if self.checksum && checksum::checksum(ip.header()) != 0 {
            return Err(BAD_CHECKSUM);
        }
        let (src, dst) = (ip.src_bytes(), ip.dst_bytes());
        if !self.bad_src.is_empty() && self.bad_src.contains(&src) && !self.good_dst.contains(&dst)
        {
            return Err(BAD_SADDR);
        }
        p.set_network_offset(self.offset);
        p.set_transport_offset(self.offset + hlen);
        if plen > len {
            // Cannot fail: plen - len bytes are present.
            let _ = p.take(plen - len);
        }
        p.anno_mut().dst_ip = dst;
        Ok(())
    }
}

impl Element for CheckIp {
    fn effects(&self) -> Effects {
        if self.stats.verbose {
            Effects::Global
        } else {
            Effects::Local
        }
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let mut first_report = None;
        push_each(ctx, batch, |p| match self.check(p) {
            Ok(()) => Verdict::Out(0),
            Err(reason) => {
                if self.stats.count(reason) && first_report.is_none() {
                    first_report = Some(reason);
                }
                Verdict::Out(1)
            }
        });
        if let Some(r) = first_report {
            report_drop(ctx, "IP header", REASONS[r]);
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "drops" => Some(self.stats.drops.to_string()),
            "drop_details" if self.stats.details => Some(self.stats.details_text(&REASONS)),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const BASIC: &[Handler] = &[Handler::read("drops")];
        const DETAILED: &[Handler] = &[Handler::read("drops"), Handler::read("drop_details")];
        if self.stats.details {
            DETAILED
        } else {
            BASIC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_error, udp_frame, Harness};
    use alloc::vec::Vec;

    fn ip_packet() -> Vec<u8> {
        udp_frame(b"hello")[14..].to_vec()
    }

    #[test]
    fn valid_packet_passes_annotated_and_trimmed() {
        let mut h = Harness::new("CheckIPHeader", "", 2).unwrap();
        let mut padded = ip_packet();
        let good = padded.clone();
        padded.extend_from_slice(&[0; 7]);
        let pool = h.pool.clone();
        let out = h.run_packets(alloc::vec![pool.alloc_from(&padded).unwrap()]);
        assert_eq!(out[1].len(), 0);
        let p = &out[0][0];
        assert_eq!(p.data, &good[..]);
        assert_eq!(p.network_offset, Some(0));
        assert_eq!(p.transport_offset, Some(20));
        assert_eq!(p.anno.dst_ip, [10, 0, 0, 2]);
        assert_eq!(h.read("drops"), "0");
    }

    #[test]
    fn offset_and_reasons_in_order() {
        let frame = udp_frame(b"x");
        let mut h = Harness::new("CheckIPHeader", "14, DETAILS true", 2).unwrap();
        assert_eq!(h.one(&frame).unwrap().0, 0);

        // tiny
        assert_eq!(h.one(&frame[..14 + 19]).unwrap().0, 1);
        // bad version (and bad checksum: version is checked first)
        let mut f = frame.clone();
        f[14] = 0x65;
        assert_eq!(h.one(&f).unwrap().0, 1);
        // bad header length
        let mut f = frame.clone();
        f[14] = 0x44;
        assert_eq!(h.one(&f).unwrap().0, 1);
        // total length beyond the packet
        let mut f = frame.clone();
        f[17] += 1;
        assert_eq!(h.one(&f).unwrap().0, 1);
        // checksum
        let mut f = frame.clone();
        f[14 + 8] -= 1;
        assert_eq!(h.one(&f).unwrap().0, 1);
        assert_eq!(h.read("drops"), "5");
        assert_eq!(
            h.read("drop_details"),
            "1\ttiny packet\n1\tbad IP version\n1\tbad IP header length\n1\tbad IP length\n1\tbad IP checksum\n0\tbad source address\n"
        );
        let lines = h.lines();
        assert_eq!(lines, ["e: IP header check failed: tiny packet"]);
    }

    #[test]
    fn bad_source_addresses() {
        let mut p = ip_packet();
        p[12..16].copy_from_slice(&[10, 0, 0, 255]);
        crate::wire::Ipv4Packet::new_checked(&mut p[..])
            .unwrap()
            .fill_checksum();
        let mut h = Harness::new("CheckIPHeader", "INTERFACES 10.0.0.1/24", 2).unwrap();
        assert_eq!(h.one(&p).unwrap().0, 1);
        // Addressed to the router itself: exempt.
        let mut q = p.clone();
        q[16..20].copy_from_slice(&[10, 0, 0, 1]);
        crate::wire::Ipv4Packet::new_checked(&mut q[..])
            .unwrap()
            .fill_checksum();
        assert_eq!(h.one(&q).unwrap().0, 0);
        // Without a bad-source list nothing is checked; the old syntax adds 0/broadcast.
        let mut h = Harness::new("CheckIPHeader", "", 1).unwrap();
        assert!(h.one(&p).is_some());
        let mut z = ip_packet();
        z[12..16].copy_from_slice(&[0, 0, 0, 0]);
        crate::wire::Ipv4Packet::new_checked(&mut z[..])
            .unwrap()
            .fill_checksum();
        let mut h = Harness::new("CheckIPHeader", "1.1.1.1, 0", 1).unwrap();
        assert!(h.one(&z).is_none());
        assert_eq!(h.read("drops"), "1");
    }

    #[test]
    fn checksum_can_be_skipped() {
        let mut p = ip_packet();
        p[10] ^= 0xff;
        let mut h = Harness::new("CheckIPHeader", "CHECKSUM false", 1).unwrap();
        assert!(h.one(&p).is_some());
        let mut h = Harness::new("CheckIPHeader2", "", 1).unwrap();
        assert!(h.one(&p).is_some());
        let mut h = Harness::new("CheckIPHeader", "", 1).unwrap();
        assert!(h.one(&p).is_none());
    }

    #[test]
    fn bad_configurations() {
        assert!(config_error("CheckIPHeader", "BADSRC x").contains("BADSRC"));
        assert!(config_error("CheckIPHeader", "1.1.1.1, 1, 2").contains("too many"));
        assert!(config_error("CheckIPHeader", "BOGUS 1").contains("BOGUS"));
    }
}
