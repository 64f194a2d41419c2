//! `SetIPDSCP(DSCP)` — sets the differentiated services code point.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Sets the differentiated services code point (the TOS byte's upper six bits, 0 to 63) of
//! each packet's IP header, keeping the ECN bits, and updates the header checksum
//! incrementally. Needs the network header annotation (`CheckIPHeader`, `MarkIPHeader`).
//!
//! **Handlers:** `dscp` (rw); `drops` (r).
//!
//! **Differences from Click:** a packet without a network header annotation, or too short
//! for an IP header, is dropped and counted (`drops`) instead of failing an assertion.
//!
//! ## `MarkIPCE([FORCE])` — marks packets Congestion Experienced.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Marks ECN-capable packets Congestion Experienced (the ECN bits to 3) and updates the
//! checksum; packets already so marked pass unchanged. Packets that are not ECN-capable are
//! dropped, unless FORCE (default false) is true, which marks them too.
//!
//! **Handlers:** `drops` (r).
//!
//! **Differences from Click:** a packet without a network header annotation, or too short
//! for an IP header, is dropped and counted (`drops`) instead of failing an assertion.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError, Packet,
};

use super::common::{ip_bytes, parse_value, push_each, Verdict};
use crate::wire::checksum::update16;

/// `SetIPDSCP`.
pub static SetIPDSCP: ElementClass = ElementClass {
    name: "SetIPDSCP",
    ports: "1/1",
    processing: "a/a",
    make: make_dscp,
    names: None,
};
/// `MarkIPCE`.
pub static MarkIPCE: ElementClass = ElementClass {
    name: "MarkIPCE",
    ports: "1/1",
    processing: "a/a",
    make: make_ce,
    names: None,
};

const ECN_MASK: u8 = 3;
const ECN_CE: u8 = 3;

/// Where `p`'s IP header starts and its TOS byte, if the packet has a whole header.
fn tos_of(p: &Packet) -> Option<(usize, u8)> {
    let off = ip_bytes(p, 20)?;
    Some((off, p.data()[off + 1]))
}

/// Sets the TOS byte of the IP header at `off` (from [`tos_of`]), updating the checksum
/// over the header's first 16-bit word as Click does.
fn set_tos(p: &mut Packet, off: usize, tos: u8) {
    let h = &mut p.data_mut()[off..off + 20];
    let old = u16::from_be_bytes([h[0], h[1]]);
    h[1] = tos;
    let new = u16::from_be_bytes([h[0], h[1]]);
    let sum = update16(u16::from_be_bytes([h[10], h[11]]), old, new);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
}

struct SetDscp {
    dscp: u8,
    drops: u64,
}

fn dscp_value(v: u32) -> Result<u8, String> {
    u8::try_from(v)
        .ok()
        .filter(|d| *d <= 0x3f)
        .ok_or_else(|| "diffserv code point out of range".to_string())
}

fn make_dscp(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let v = args.read_mp::<u32>("DSCP")?;
    match dscp_value(v) {
        Ok(dscp) => Some(Box::new(SetDscp { dscp, drops: 0 })),
        Err(e) => {
            args.error_whole(e);
            None
        }
    }
}

impl Element for SetDscp {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (dscp, drops) = (self.dscp, &mut self.drops);
        push_each(ctx, batch, |p| match tos_of(p) {
            Some((off, tos)) => {
                set_tos(p, off, (tos & ECN_MASK) | (dscp << 2));
                Verdict::Out(0)
            }
            None => {
                *drops += 1;
                Verdict::Drop
            }
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "dscp" => Some(self.dscp.to_string()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "dscp" => {
                let v: u32 = parse_value(name, value)?;
                self.dscp =
                    dscp_value(v).map_err(|e| HandlerError::BadValue(format!("dscp: {e}")))?;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("dscp"), Handler::read("drops")];
        H
    }
}

struct MarkCe {
    force: bool,
    drops: u64,
}

fn make_ce(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let force = args.read_p::<bool>("FORCE").unwrap_or(false);
    Some(Box::new(MarkCe { force, drops: 0 }))
}

impl Element for MarkCe {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (force, drops) = (self.force, &mut self.drops);
        push_each(ctx, batch, |p| {
            match tos_of(p) {
                // Already marked: unchanged.
                Some((_, tos)) if tos & ECN_MASK == ECN_CE => Verdict::Out(0),
                Some((off, tos)) if tos & ECN_MASK != 0 || force => {
                    set_tos(p, off, tos | ECN_CE);
                    Verdict::Out(0)
                }
                // Not ECN-capable (and not forced), or no IP header.
                _ => {
                    *drops += 1;
                    Verdict::Drop
                }
            }
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "drops").then(|| self.drops.to_string())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read("drops")];
        H
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    /// An IPv4 header with TOS `tos`, a valid checksum, behind an Ethernet header.
    fn with_tos(tos: u8) -> Vec<u8> {
        let mut f = udp_frame(b"x");
        f[15] = tos;
        f[24..26].fill(0);
        let sum = crate::wire::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        f
    }

    fn checksum_ok(f: &[u8]) -> bool {
        crate::wire::checksum::checksum(&f[14..34]) == 0
    }

    /// Runs frames marked with their IP header at offset 14 through `h`.
    fn run_marked(h: &mut Harness, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let packets = frames
            .iter()
            .map(|f| {
                let mut p = h.pool.alloc_from(f).unwrap();
                p.set_network_offset(14);
                p
            })
            .collect();
        h.run_packets(packets)
            .remove(0)
            .iter()
            .map(|p| p.data.clone())
            .collect()
    }

    #[test]
    fn set_dscp_keeps_ecn_and_the_checksum_valid() {
        let mut h = Harness::new("SetIPDSCP", "10", 1).unwrap();
        let out = run_marked(&mut h, &[with_tos(0x03)]);
        assert_eq!(out[0][15], (10 << 2) | 3);
        assert!(checksum_ok(&out[0]));
        h.write("dscp", "2").unwrap();
        assert_eq!(h.read("dscp"), "2");
        assert!(h.write("dscp", "64").is_err());
        assert!(config_error("SetIPDSCP", "64").contains("out of range"));
    }

    #[test]
    fn mark_ce_drops_not_ect_unless_forced() {
        let mut h = Harness::new("MarkIPCE", "", 1).unwrap();
        let out = run_marked(
            &mut h,
            &[with_tos(0), with_tos(1), with_tos(2), with_tos(3)],
        );
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| f[15] & 3 == 3 && checksum_ok(f)));
        assert_eq!(h.read("drops"), "1");
        let mut forced = Harness::new("MarkIPCE", "FORCE true", 1).unwrap();
        assert_eq!(run_marked(&mut forced, &[with_tos(0x40)])[0][15], 0x43);
        assert!(
            h.run(&[&with_tos(1)])[0].is_empty(),
            "no network header: dropped"
        );
    }
}
