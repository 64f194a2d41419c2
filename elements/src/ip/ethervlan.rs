//! `EtherVLANEncap(ETHERTYPE, SRC, DST, VLAN_TCI [, VLAN_PCP, keywords VLAN_ID, NATIVE_VLAN])` — prepends an 802.1Q Ethernet header.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Prepends an 18-byte 802.1Q header to each packet (destination DST, source SRC, type
//! 0x8100, the tag's TCI, then type ETHERTYPE) by moving the data start into the headroom;
//! no bytes move. The TCI is VLAN_TCI (0-0xFFFF), or VLAN_ID (0-0xFFF), with priority
//! VLAN_PCP (0-7) ORed into its top three bits; `ANNO` as VLAN_TCI takes each packet's VLAN
//! TCI annotation instead (which `StripEtherVLANHeader`, `VLANDecap` and `SetVLANAnno` set).
//! A packet whose VLAN ID equals NATIVE_VLAN gets a plain 14-byte Ethernet header (DST, SRC,
//! ETHERTYPE) instead. To tag frames that already have an Ethernet header, use `VLANEncap`.
//!
//! **Keywords:**
//!
//! - `VLAN_ID`: the VLAN ID, 0-0xFFF, when VLAN_TCI is not given; default 0.
//! - `NATIVE_VLAN`: packets of this VLAN ID get a plain Ethernet header; default 0; -1 for
//!   none.
//!
//! **Handlers:** `config` (r: SRC, DST and ETHERTYPE, the addresses as `00-0A-95-9D-68-16`
//! and the type in decimal, then `ANNO` or `VLAN_ID id, VLAN_PCP pcp`, then `NATIVE_VLAN n`
//! unless it is 0, where none, -1, shows as 65535); `src`, `dst`, `ethertype` (rw; read as
//! in `config`); `vlan_tci` (rw: the whole TCI as a number, or `ANNO`); `vlan_id`,
//! `vlan_pcp`, `native_vlan` (rw: read, the keyword's value in `config`, empty when it
//! leaves it out); `drops` (r). Writing `vlan_tci`, `vlan_id`, `vlan_pcp` or `native_vlan`
//! reconfigures the element as Click's keyword handlers do: the value replaces that argument
//! of the configuration (VLAN_TCI is the fourth), which is then read again, so a VLAN_TCI
//! written keeps the VLAN_PCP configured ORed into it, and the TCI's DEI bit (12), which
//! `config` does not show, is lost; a value that does not read changes nothing.
//!
//! **Example:** `EtherVLANEncap(0x0800, 00:0a:95:9d:68:16, 00:0a:95:9d:68:17, VLAN_ID 10, VLAN_PCP 3)`
//!
//! **Differences from Click:** Click reallocates a packet without the header's headroom;
//! here it is dropped and counted (`drops`). Click's writes to `vlan_tci`, `vlan_id`,
//! `vlan_pcp` and `native_vlan` fail: it reads its configuration back from `config`, which
//! lists SRC before ETHERTYPE; here they take effect.
//!
//! ## `StripEtherVLANHeader([NATIVE_VLAN])` — removes an 802.1Q or Ethernet header and keeps the VLAN in the annotation.
//!
//! **Ports:** `1/1-2`: one input, one or two outputs.
//!
//! **Processing:** `a/ah`: agnostic input and output 0, push output 1.
//!
//! A frame of type 0x8100 loses its 18-byte 802.1Q header, and its VLAN TCI annotation is
//! set to the tag's TCI. Any other frame is untagged, of VLAN NATIVE_VLAN (default 0): it
//! loses its 14-byte Ethernet header, and its VLAN TCI annotation is set to NATIVE_VLAN. When
//! NATIVE_VLAN is negative, untagged frames leave unchanged by output 1 if it is connected,
//! and are dropped otherwise. A frame shorter than the header it loses is left empty, as in
//! Click; the TCI of a frame cut inside its tag takes the missing bytes as zeros.
//!
//! **Example:** `s :: StripEtherVLANHeader(-1); s[1] -> untagged :: Counter -> Discard;`
//!
//! **Differences from Click:** Click reads the type of a frame shorter than 14 bytes, and the
//! missing TCI bytes of a frame cut inside its tag, from past the end of the data (here a
//! frame shorter than 14 bytes is untagged), and reports frames shorter than the header on
//! the console (`Packet::pull 18 > length 16`).
//!
//! ## `SetVLANAnno(VLAN_TCI [, VLAN_PCP, keywords VLAN_ID])` — sets the VLAN TCI annotation.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Sets each packet's VLAN TCI annotation to VLAN_TCI (0-0xFFFF), or to VLAN_ID (0-0xFFF),
//! with priority VLAN_PCP (0-7) ORed into its top three bits. `EtherVLANEncap(…, ANNO)` and
//! `VLANEncap(ANNO)` tag packets with it.
//!
//! **Keywords:**
//!
//! - `VLAN_ID`: the VLAN ID, 0-0xFFF, when VLAN_TCI is not given; default 0.
//!
//! **Handlers:** `config` (r: `VLAN_ID id, VLAN_PCP pcp`); `vlan_tci` (rw: the TCI as a
//! number); `vlan_id`, `vlan_pcp` (rw: read, the keyword's value in `config`). Writing one
//! reconfigures the element as Click does: the value replaces that keyword's argument in
//! `config` (or is added to it), which is then read again, so a VLAN_TCI written keeps the
//! VLAN_PCP of `config` ORed into it (after `vlan_pcp` 7, `vlan_tci` 0x102 sets 0xE102), and
//! the DEI bit (12), which `config` does not show, is lost; a value that does not read
//! changes nothing.
//!
//! **Example:** `SetVLANAnno(VLAN_ID 10, VLAN_PCP 3) -> EtherVLANEncap(0x0800, 0:0:0:0:0:1, 0:0:0:0:0:2, ANNO)`

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::{Args, EtherAddr};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::{
    config_keyword, ether_unparse, forward_each, parse_value, push_each, reconfigure,
    set_config_keyword, Verdict,
};
use super::vlan::{tag_tci, write_tag, Tag, Tci};
use crate::wire::ethernet::{ETHERTYPE_VLAN, HEADER_LEN};

/// Length of an 802.1Q header: the addresses, the tag, the encapsulated type.
const VLAN_HEADER_LEN: usize = 18;

/// `EtherVLANEncap`.
pub static EtherVLANEncap: ElementClass = ElementClass {
    name: "EtherVLANEncap",
    ports: "1/1",
    processing: "a/a",
    make: make_encap,
    names: None,
};
/// `StripEtherVLANHeader`.
pub static StripEtherVLANHeader: ElementClass = ElementClass {
    name: "StripEtherVLANHeader",
    ports: "1/1-2",
    processing: "a/ah",
    make: make_strip,
    names: None,
};
/// `SetVLANAnno`.
pub static SetVLANAnno: ElementClass = ElementClass {
    name: "SetVLANAnno",
    ports: "1/1",
    processing: "a/a",
    make: make_set_anno,
    names: None,
};

/// The argument that writing handler `name` of the TCI sets, as Click's
/// `reconfigure_keyword_handler` names it.
fn tci_keyword(name: &str) -> Option<&'static str> {
    Some(match name {
        "vlan_tci" => "VLAN_TCI",
        "vlan_id" => "VLAN_ID",
        "vlan_pcp" => "VLAN_PCP",
        _ => return None,
    })
}

// ---- EtherVLANEncap -------------------------------------------------------------------

struct EtherVlanEncap {
    /// Destination, then source address.
    addrs: [u8; 12],
    /// ETHERTYPE, the type the header ends with.
    ethertype: u16,
    tag: Tag,
    drops: u64,
}

fn parse_encap(args: &mut Args<'_>) -> Option<EtherVlanEncap> {
    let ethertype = args.read_mp::<u16>("ETHERTYPE");
    let src = args.read_mp::<EtherAddr>("SRC");
    let dst = args.read_mp::<EtherAddr>("DST");
    let tag = Tag::read(args);
    let mut addrs = [0u8; 12];
    addrs[..6].copy_from_slice(&dst?.0);
    addrs[6..].copy_from_slice(&src?.0);
    Some(EtherVlanEncap {
        addrs,
        ethertype: ethertype?,
        tag: tag?,
        drops: 0,
    })
}

fn make_encap(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(parse_encap(args)?))
}

impl EtherVlanEncap {
    fn src(&self) -> [u8; 6] {
        let mut a = [0; 6];
        a.copy_from_slice(&self.addrs[6..]);
        a
    }

    fn dst(&self) -> [u8; 6] {
        let mut a = [0; 6];
        a.copy_from_slice(&self.addrs[..6]);
        a
    }

    /// Click's `config` text, which lists SRC and DST before ETHERTYPE.
    fn config(&self) -> String {
        alloc::format!(
            "{}, {}, {}, {}",
            ether_unparse(self.src()),
            ether_unparse(self.dst()),
            self.ethertype,
            self.tag.config()
        )
    }

    /// The configuration as arguments in their order, which read back as this element.
    fn args_text(&self) -> String {
        alloc::format!(
            "{}, {}, {}, {}",
            self.ethertype,
            ether_unparse(self.src()),
            ether_unparse(self.dst()),
            self.tag.args_text()
        )
    }
}

impl Element for EtherVlanEncap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let this = &mut *self;
        let ethertype = this.ethertype.to_be_bytes();
        push_each(ctx, batch, |p| {
            let tci = this.tag.tci_for(p);
            let len = if tci.is_some() {
                VLAN_HEADER_LEN
            } else {
                HEADER_LEN
            };
            if p.push(len).is_err() {
                this.drops += 1;
                return Verdict::Drop;
            }
            let d = p.data_mut();
            d[..12].copy_from_slice(&this.addrs);
            if let Some(tci) = tci {
                write_tag(&mut d[12..16], ETHERTYPE_VLAN, tci);
            }
            d[len - 2..len].copy_from_slice(&ethertype);
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "config" => self.config(),
            "src" => ether_unparse(self.src()),
            "dst" => ether_unparse(self.dst()),
            "ethertype" => self.ethertype.to_string(),
            "drops" => self.drops.to_string(),
            _ => return self.tag.read_handler(name),
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "src" => self.addrs[6..].copy_from_slice(&parse_value::<EtherAddr>(name, value)?.0),
            "dst" => self.addrs[..6].copy_from_slice(&parse_value::<EtherAddr>(name, value)?.0),
            "ethertype" => self.ethertype = parse_value(name, value)?,
            _ => {
                let key = match name {
                    "native_vlan" => "NATIVE_VLAN",
                    _ => {
                        tci_keyword(name).ok_or_else(|| HandlerError::NoSuchHandler(name.into()))?
                    }
                };
                // VLAN_TCI may also be the fourth argument (Click's "3 VLAN_TCI").
                let position = (key == "VLAN_TCI").then_some(3);
                let config = set_config_keyword(&self.args_text(), position, key, value.trim());
                let new = reconfigure(&config, parse_encap)?;
                self.addrs = new.addrs;
                self.ethertype = new.ethertype;
                self.tag = new.tag;
            }
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("src"),
            Handler::read_write("dst"),
            Handler::read_write("ethertype"),
            Handler::read_write("vlan_tci"),
            Handler::read_write("vlan_id"),
            Handler::read_write("vlan_pcp"),
            Handler::read_write("native_vlan"),
            Handler::read("drops"),
        ];
        H
    }
}

// ---- StripEtherVLANHeader -------------------------------------------------------------

struct Strip {
    /// NATIVE_VLAN; `None` when negative (untagged frames leave by output 1).
    native: Option<u16>,
}

fn make_strip(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let native = args.read_p::<i32>("NATIVE_VLAN").unwrap_or(0);
    if native > 0xfff {
        args.error_whole("NATIVE_VLAN must be at most 4095 (negative for none)");
        return None;
    }
    Some(Box::new(Strip {
        native: u16::try_from(native).ok(),
    }))
}

impl Element for Strip {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let native = self.native;
        let vlan = ETHERTYPE_VLAN.to_be_bytes();
        push_each(ctx, batch, |p| {
            let d = p.data();
            let (tci, len) = if d.get(12..14) == Some(&vlan[..]) {
                (tag_tci(d), VLAN_HEADER_LEN)
            } else if let Some(n) = native {
                (n, HEADER_LEN)
            } else {
                return Verdict::Out(1);
            };
            p.anno_mut().vlan_tci = tci;
            // A frame shorter than its header loses all its bytes, as Click's `pull` does.
            let _ = p.pull(len.min(p.len()));
            Verdict::Out(0)
        });
    }
}

// ---- SetVLANAnno ----------------------------------------------------------------------

struct SetAnno {
    tci: Tci,
}

fn parse_set_anno(args: &mut Args<'_>) -> Option<SetAnno> {
    Some(SetAnno {
        tci: Tci::read(args, false)?,
    })
}

fn make_set_anno(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    Some(Box::new(parse_set_anno(args)?))
}

impl Element for SetAnno {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let tci = self.tci.value;
        forward_each(ctx, batch, |p| p.anno_mut().vlan_tci = tci);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "config" => self.tci.config(),
            "vlan_tci" => self.tci.handler_text(),
            "vlan_id" => config_keyword(&self.tci.config(), "VLAN_ID"),
            "vlan_pcp" => config_keyword(&self.tci.config(), "VLAN_PCP"),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let key = tci_keyword(name).ok_or_else(|| HandlerError::NoSuchHandler(name.into()))?;
        let config = set_config_keyword(&self.tci.config(), None, key, value.trim());
        *self = reconfigure(&config, parse_set_anno)?;
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("vlan_tci"),
            Handler::read_write("vlan_id"),
            Handler::read_write("vlan_pcp"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::super::testutil::{config_error, udp_frame, Harness};

    const SRC: [u8; 6] = [1; 6];
    const DST: [u8; 6] = [2; 6];

    /// Pushes `data` with VLAN TCI annotation `tci` into the harness; `(port, bytes, TCI
    /// annotation)` of what came out, or `None` when it was dropped.
    fn run(h: &mut Harness, data: &[u8], tci: u16) -> Option<(usize, Vec<u8>, u16)> {
        let mut p = h.pool.alloc_from(data).unwrap();
        p.anno_mut().vlan_tci = tci;
        let out = h.run_packets(alloc::vec![p]);
        out.into_iter()
            .enumerate()
            .find_map(|(port, mut o)| o.pop().map(|o| (port, o.data, o.anno.vlan_tci)))
    }

    /// An 802.1Q header, DST and SRC, then `payload`.
    fn tagged(tci: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = [&DST[..], &SRC[..], &[0x81, 0x00]].concat();
        f.extend_from_slice(&tci.to_be_bytes());
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn untagged(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        [&DST[..], &SRC[..], &ethertype.to_be_bytes(), payload].concat()
    }

    const ENCAP: &str = "0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2";

    #[test]
    fn encap_prepends_clicks_header() {
        let data = [0xaa, 0xab, 0xac, 0xad];
        // Click's EtherVLANEncap-01 test: VLAN 1.
        let mut e = Harness::new("EtherVLANEncap", &alloc::format!("{ENCAP}, 1"), 1).unwrap();
        let (_, out, _) = run(&mut e, &data, 0).unwrap();
        assert_eq!(out, tagged(1, 0x0800, &data));
        // The frame parses as a VLAN frame.
        let mut e = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, VLAN_ID 10, VLAN_PCP 3"),
            1,
        )
        .unwrap();
        let ip = &udp_frame(b"vlan")[14..];
        let (_, out, _) = run(&mut e, ip, 0).unwrap();
        assert_eq!(out, tagged(0x600a, 0x0800, ip));
        let sliced = etherparse::SlicedPacket::from_ethernet(&out).unwrap();
        let Some(etherparse::VlanSlice::SingleVlan(v)) = sliced.vlan() else {
            panic!("no VLAN tag");
        };
        assert_eq!(
            (v.vlan_identifier().value(), v.priority_code_point().value()),
            (10, 3)
        );
        assert!(sliced.net.is_some());
        // An empty packet gets the header alone.
        assert_eq!(run(&mut e, &[], 0).unwrap().1, tagged(0x600a, 0x0800, &[]));
        // VLAN_TCI wins over VLAN_ID, and VLAN_PCP is ORed into it.
        let mut e = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, 0x1005, 1, VLAN_ID 7"),
            1,
        )
        .unwrap();
        assert_eq!(
            run(&mut e, &data, 0).unwrap().1,
            tagged(0x3005, 0x0800, &data)
        );
    }

    #[test]
    fn encap_native_vlan_and_anno() {
        let data = [0xaa, 0xab, 0xac, 0xad];
        // VLAN 0 is native by default: a plain Ethernet header.
        let mut e = Harness::new("EtherVLANEncap", &alloc::format!("{ENCAP}, 0x2000"), 1).unwrap();
        assert_eq!(run(&mut e, &data, 0).unwrap().1, untagged(0x0800, &data));
        let mut e = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, VLAN_ID 0, NATIVE_VLAN -1"),
            1,
        )
        .unwrap();
        assert_eq!(run(&mut e, &data, 0).unwrap().1, tagged(0, 0x0800, &data));
        // ANNO: the annotation's TCI, untagged when its VLAN is native (the priority bits do
        // not count).
        let mut a = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, ANNO, NATIVE_VLAN 1"),
            1,
        )
        .unwrap();
        assert_eq!(
            run(&mut a, &data, 0x2002).unwrap().1,
            tagged(0x2002, 0x0800, &data)
        );
        assert_eq!(
            run(&mut a, &data, 0xe001).unwrap().1,
            untagged(0x0800, &data)
        );
        assert_eq!(run(&mut a, &data, 0).unwrap().1, tagged(0, 0x0800, &data));
        // ANNO ignores VLAN_PCP.
        let mut a = Harness::new("EtherVLANEncap", &alloc::format!("{ENCAP}, ANNO, 5"), 1).unwrap();
        assert_eq!(
            run(&mut a, &data, 0x0007).unwrap().1,
            tagged(7, 0x0800, &data)
        );
    }

    #[test]
    fn encap_drops_packets_without_headroom() {
        let mut e = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, ANNO, NATIVE_VLAN 1"),
            1,
        )
        .unwrap();
        let short = |h: &Harness, tci: u16| {
            let mut p = h.pool.alloc(0).unwrap();
            p.set_range(16, 4).unwrap();
            p.anno_mut().vlan_tci = tci;
            p
        };
        // 16 bytes of headroom: too few for the 802.1Q header, enough for the native one.
        let p = short(&e, 2);
        assert!(e.run_packets(alloc::vec![p])[0].is_empty());
        assert_eq!(e.read("drops"), "1");
        let p = short(&e, 1);
        assert_eq!(e.run_packets(alloc::vec![p])[0][0].data.len(), 18);
        assert_eq!(e.read("drops"), "1");
    }

    #[test]
    fn encap_handlers_read_as_click_reports_them() {
        let read = |config: &str| {
            let e = Harness::new("EtherVLANEncap", config, 1).unwrap();
            [
                "config",
                "src",
                "dst",
                "ethertype",
                "vlan_tci",
                "vlan_id",
                "vlan_pcp",
                "native_vlan",
            ]
            .map(|h| e.read(h))
        };
        // What Click 2.1 prints for these configurations.
        assert_eq!(
            read("0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, VLAN_ID 10, VLAN_PCP 3"),
            [
                "01-01-01-01-01-01, 02-02-02-02-02-02, 2048, VLAN_ID 10, VLAN_PCP 3",
                "01-01-01-01-01-01",
                "02-02-02-02-02-02",
                "2048",
                "24586",
                "10",
                "3",
                "",
            ]
        );
        assert_eq!(
            read("0x86dd, 0:a:b:c:d:e, ff:ff:ff:ff:ff:ff, ANNO, NATIVE_VLAN -1"),
            [
                "00-0A-0B-0C-0D-0E, FF-FF-FF-FF-FF-FF, 34525, ANNO, NATIVE_VLAN 65535",
                "00-0A-0B-0C-0D-0E",
                "FF-FF-FF-FF-FF-FF",
                "34525",
                "ANNO",
                "",
                "",
                "65535",
            ]
        );
        assert_eq!(
            read("0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, VLAN_TCI 0xf234, NATIVE_VLAN 7")[0],
            "01-01-01-01-01-01, 02-02-02-02-02-02, 2048, VLAN_ID 564, VLAN_PCP 7, NATIVE_VLAN 7"
        );
    }

    #[test]
    fn encap_handler_writes_reconfigure_as_clicks_keyword_handlers() {
        let e = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, VLAN_ID 10, VLAN_PCP 3"),
            1,
        )
        .unwrap();
        let tail = |e: &Harness| {
            let c = e.read("config");
            c["01-01-01-01-01-01, 02-02-02-02-02-02, ".len()..].to_string()
        };
        // A VLAN_TCI written keeps the VLAN_PCP configured.
        e.write("vlan_tci", "5").unwrap();
        assert_eq!(e.read("vlan_tci"), "24581");
        assert_eq!(tail(&e), "2048, VLAN_ID 5, VLAN_PCP 3");
        e.write("vlan_id", "7").unwrap();
        e.write("vlan_pcp", "0").unwrap();
        assert_eq!(tail(&e), "2048, VLAN_ID 7, VLAN_PCP 0");
        e.write("native_vlan", "-1").unwrap();
        assert_eq!(tail(&e), "2048, VLAN_ID 7, VLAN_PCP 0, NATIVE_VLAN 65535");
        // No native VLAN stays none through the next reconfiguration.
        e.write("vlan_id", "0").unwrap();
        assert_eq!(e.read("native_vlan"), "65535");
        e.write("vlan_tci", "ANNO").unwrap();
        assert_eq!(tail(&e), "2048, ANNO, NATIVE_VLAN 65535");
        assert_eq!(e.read("vlan_id"), "");
        // In ANNO mode VLAN_TCI is the fourth argument, and is replaced.
        e.write("vlan_tci", "0x2003").unwrap();
        assert_eq!(tail(&e), "2048, VLAN_ID 3, VLAN_PCP 1, NATIVE_VLAN 65535");
        e.write("native_vlan", "0").unwrap();
        assert_eq!(tail(&e), "2048, VLAN_ID 3, VLAN_PCP 1");
        // Values that do not read change nothing.
        for (h, v) in [
            ("vlan_id", "4096"),
            ("vlan_pcp", "8"),
            ("vlan_tci", "65536"),
            ("vlan_tci", "anno"),
            ("native_vlan", "-2"),
            ("src", "1:2:3"),
            ("ethertype", "0x10000"),
        ] {
            assert!(e.write(h, v).is_err(), "{h} {v}");
        }
        assert_eq!(tail(&e), "2048, VLAN_ID 3, VLAN_PCP 1");
        // The addresses and the type are written as they are.
        e.write("src", "0a:0b:0c:0d:0e:0f").unwrap();
        e.write("dst", "10-11-12-13-14-15").unwrap();
        e.write("ethertype", "0x86dd").unwrap();
        assert_eq!(
            e.read("config"),
            "0A-0B-0C-0D-0E-0F, 10-11-12-13-14-15, 34525, VLAN_ID 3, VLAN_PCP 1"
        );
        // ... and survive a reconfiguration.
        e.write("vlan_pcp", "2").unwrap();
        assert_eq!(
            e.read("config"),
            "0A-0B-0C-0D-0E-0F, 10-11-12-13-14-15, 34525, VLAN_ID 3, VLAN_PCP 2"
        );
        assert!(matches!(
            e.write("config", "1"),
            Err(sluice_dataplane::HandlerError::NoSuchHandler(_))
        ));
    }

    #[test]
    fn encap_writes_take_effect_on_packets() {
        let mut e = Harness::new("EtherVLANEncap", &alloc::format!("{ENCAP}, 1"), 1).unwrap();
        e.write("vlan_id", "1").unwrap();
        e.write("native_vlan", "1").unwrap();
        assert_eq!(run(&mut e, b"x", 0).unwrap().1, untagged(0x0800, b"x"));
        e.write("vlan_tci", "ANNO").unwrap();
        e.write("ethertype", "0x0806").unwrap();
        assert_eq!(run(&mut e, b"x", 9).unwrap().1, tagged(9, 0x0806, b"x"));
    }

    #[test]
    fn encap_configuration_errors() {
        assert!(config_error("EtherVLANEncap", "0x0800, 1:1:1:1:1:1").contains("DST"));
        assert!(
            config_error("EtherVLANEncap", &alloc::format!("{ENCAP}, 1, 8")).contains("VLAN_PCP")
        );
        assert!(
            config_error("EtherVLANEncap", &alloc::format!("{ENCAP}, VLAN_ID 4096"))
                .contains("VLAN_ID")
        );
        assert!(
            config_error("EtherVLANEncap", &alloc::format!("{ENCAP}, 0x10000"))
                .contains("VLAN_TCI")
        );
        assert!(config_error(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, 1, NATIVE_VLAN 4096")
        )
        .contains("NATIVE_VLAN"));
        assert!(
            config_error("EtherVLANEncap", "ip, 1:1:1:1:1:1, 2:2:2:2:2:2").contains("ETHERTYPE")
        );
    }

    #[test]
    fn strip_removes_the_header_and_keeps_the_vlan() {
        let data = [0xaa, 0xab, 0xac, 0xad];
        let mut s = Harness::new("StripEtherVLANHeader", "", 1).unwrap();
        assert_eq!(
            run(&mut s, &tagged(0xa00a, 0x0800, &data), 0x55),
            Some((0, data.to_vec(), 0xa00a))
        );
        // Untagged: the Ethernet header goes and the VLAN is the native one, 0 by default.
        assert_eq!(
            run(&mut s, &untagged(0x0800, &data), 0x55),
            Some((0, data.to_vec(), 0))
        );
        // Other tag types are not 802.1Q.
        let qinq = [&DST[..], &SRC[..], &[0x88, 0xa8, 0, 5, 8, 0]].concat();
        assert_eq!(run(&mut s, &qinq, 0), Some((0, alloc::vec![0, 5, 8, 0], 0)));
        let mut s = Harness::new("StripEtherVLANHeader", "NATIVE_VLAN 5", 1).unwrap();
        assert_eq!(
            run(&mut s, &untagged(0x0800, &data), 0x55),
            Some((0, data.to_vec(), 5))
        );
        assert_eq!(
            run(&mut s, &tagged(0x0005, 0x0800, &data), 0),
            Some((0, data.to_vec(), 5))
        );
        assert_eq!(s.read("config"), "NATIVE_VLAN 5");
    }

    #[test]
    fn strip_sends_untagged_frames_to_output_1_without_a_native_vlan() {
        let data = [0xaa, 0xab, 0xac, 0xad];
        let plain = untagged(0x0800, &data);
        let mut s = Harness::new("StripEtherVLANHeader", "-1", 2).unwrap();
        assert_eq!(run(&mut s, &plain, 0x55), Some((1, plain.clone(), 0x55)));
        assert_eq!(
            run(&mut s, &tagged(7, 0x0800, &data), 0),
            Some((0, data.to_vec(), 7))
        );
        // Frames shorter than 14 bytes are untagged.
        assert_eq!(
            run(&mut s, &plain[..13], 0),
            Some((1, plain[..13].to_vec(), 0))
        );
        // Output 1 not connected: dropped.
        let mut s = Harness::new("StripEtherVLANHeader", "-7", 1).unwrap();
        assert_eq!(run(&mut s, &plain, 0), None);
        assert_eq!(
            run(&mut s, &tagged(7, 0x0800, &data), 0),
            Some((0, data.to_vec(), 7))
        );
    }

    #[test]
    fn strip_empties_frames_shorter_than_their_header_as_click() {
        // What Click 2.1 does with each (its TCI read from past a frame's end is zero here).
        let mut s = Harness::new("StripEtherVLANHeader", "", 1).unwrap();
        let full = tagged(0xe00a, 0x0800, &[]);
        assert_eq!(run(&mut s, &full, 0), Some((0, alloc::vec![], 0xe00a)));
        for (len, tci) in [(17, 0xe00a), (16, 0xe00a), (15, 0xe000), (14, 0)] {
            assert_eq!(
                run(&mut s, &full[..len], 9),
                Some((0, alloc::vec![], tci)),
                "{len}"
            );
        }
        let plain = untagged(0x0800, &[0xff]);
        assert_eq!(run(&mut s, &plain, 9), Some((0, alloc::vec![0xff], 0)));
        for len in [13, 1, 0] {
            assert_eq!(
                run(&mut s, &plain[..len], 9),
                Some((0, alloc::vec![], 0)),
                "{len}"
            );
        }
    }

    #[test]
    fn strip_configuration_errors() {
        assert!(config_error("StripEtherVLANHeader", "4096").contains("NATIVE_VLAN"));
        assert!(config_error("StripEtherVLANHeader", "x").contains("NATIVE_VLAN"));
        assert!(Harness::new("StripEtherVLANHeader", "4095", 1).is_ok());
    }

    #[test]
    fn encap_and_strip_round_trip() {
        // Click's EtherVLANEncap-01 test, stage by stage.
        let data = [0xaa, 0xab, 0xac, 0xad];
        let mut e = Harness::new("EtherVLANEncap", &alloc::format!("{ENCAP}, ANNO"), 1).unwrap();
        let mut n = Harness::new(
            "EtherVLANEncap",
            &alloc::format!("{ENCAP}, ANNO, NATIVE_VLAN 1"),
            1,
        )
        .unwrap();
        let mut s = Harness::new("StripEtherVLANHeader", "", 1).unwrap();
        let mut set = Harness::new("SetVLANAnno", "2, 1", 1).unwrap();
        let (_, c, tci) = run(&mut e, &data, 1).unwrap();
        assert_eq!(c, tagged(1, 0x0800, &data));
        let (_, d, tci) = run(&mut s, &c, tci).unwrap();
        assert_eq!((d.as_slice(), tci), (&data[..], 1));
        let (_, f, tci) = run(&mut n, &d, tci).unwrap();
        assert_eq!(f, untagged(0x0800, &data));
        let (_, g, tci) = run(&mut s, &f, tci).unwrap();
        let (_, g, tci) = run(&mut set, &g, tci).unwrap();
        assert_eq!(tci, 0x2002);
        assert_eq!(
            run(&mut n, &g, tci).unwrap().1,
            tagged(0x2002, 0x0800, &data)
        );
    }

    #[test]
    fn set_anno_sets_the_tci() {
        let mut s = Harness::new("SetVLANAnno", "2, 1", 1).unwrap();
        assert_eq!(run(&mut s, b"x", 0x55), Some((0, b"x".to_vec(), 0x2002)));
        for (config, tci) in [
            ("VLAN_ID 5", 5),
            ("VLAN_ID 4095, VLAN_PCP 7", 0xefff),
            ("0xffff", 0xffff),
            ("VLAN_TCI 0x1005, VLAN_ID 9", 0x1005),
            ("", 0),
        ] {
            let mut s = Harness::new("SetVLANAnno", config, 1).unwrap();
            assert_eq!(run(&mut s, b"", 0x55).map(|o| o.2), Some(tci), "{config}");
        }
    }

    #[test]
    fn set_anno_handlers_as_click() {
        // Click 2.1 reads and writes these the same.
        let s = Harness::new("SetVLANAnno", "0x1234", 1).unwrap();
        let read = |s: &Harness| ["config", "vlan_tci", "vlan_id", "vlan_pcp"].map(|h| s.read(h));
        assert_eq!(read(&s), ["VLAN_ID 564, VLAN_PCP 0", "4660", "564", "0"]);
        s.write("vlan_id", "5").unwrap();
        assert_eq!(read(&s), ["VLAN_ID 5, VLAN_PCP 0", "5", "5", "0"]);
        s.write("vlan_pcp", "7").unwrap();
        assert_eq!(s.read("vlan_tci"), "57349");
        // A VLAN_TCI written keeps the VLAN_PCP of `config`.
        s.write("vlan_tci", "0x0102").unwrap();
        assert_eq!(read(&s), ["VLAN_ID 258, VLAN_PCP 7", "57602", "258", "7"]);
        for (h, v) in [
            ("vlan_tci", "ANNO"),
            ("vlan_tci", "65536"),
            ("vlan_id", "4096"),
            ("vlan_pcp", "8"),
            ("vlan_pcp", "-1"),
        ] {
            assert!(s.write(h, v).is_err(), "{h} {v}");
        }
        assert_eq!(s.read("vlan_tci"), "57602");
        assert!(s.write("native_vlan", "1").is_err());
        // The DEI bit, which `config` leaves out, does not survive a write (Click: 4101, then
        // 8197).
        let s = Harness::new("SetVLANAnno", "0x1005", 1).unwrap();
        assert_eq!(s.read("vlan_tci"), "4101");
        s.write("vlan_pcp", "1").unwrap();
        assert_eq!(s.read("vlan_tci"), "8197");
    }

    #[test]
    fn set_anno_writes_take_effect_on_packets() {
        let mut s = Harness::new("SetVLANAnno", "1", 1).unwrap();
        s.write("vlan_id", "300").unwrap();
        assert_eq!(run(&mut s, b"", 0).map(|o| o.2), Some(300));
    }

    #[test]
    fn set_anno_configuration_errors() {
        assert!(config_error("SetVLANAnno", "ANNO").contains("VLAN_TCI"));
        assert!(config_error("SetVLANAnno", "1, 8").contains("VLAN_PCP"));
        assert!(config_error("SetVLANAnno", "VLAN_ID 4096").contains("VLAN_ID"));
        assert!(config_error("SetVLANAnno", "1, NATIVE_VLAN 1").contains("NATIVE_VLAN"));
    }
}
