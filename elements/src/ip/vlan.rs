//! `VLANEncap(VLAN_TCI [, VLAN_PCP, keywords VLAN_ID, NATIVE_VLAN, ETHERTYPE])` — inserts an 802.1Q tag.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Inserts a 4-byte VLAN tag after the Ethernet addresses of each frame: the data start moves
//! 4 bytes into the headroom and the 12 address bytes move with it. The tag is VLAN_TCI
//! (0-0xFFFF), or VLAN_ID (0-0xFFF) with priority VLAN_PCP (0-7); `VLANEncap(ANNO)` takes
//! it from the packet's VLAN TCI annotation instead. A frame whose VLAN ID equals
//! NATIVE_VLAN is sent untagged.
//!
//! **Keywords:**
//!
//! - `VLAN_ID`: the VLAN ID, 0-0xFFF, instead of VLAN_TCI.
//! - `NATIVE_VLAN`: frames of this VLAN ID go untagged; default 0; -1 for none.
//! - `ETHERTYPE`: the tag's type; default 0x8100.
//!
//! **Handlers:** `config` (r: `VLAN_ID id, VLAN_PCP pcp` or `ANNO`, then `, NATIVE_VLAN n`
//! unless it is 0, where no native VLAN, -1, shows as 65535); `vlan_tci` (rw: the whole TCI
//! as a number, or `ANNO`); `vlan_id`, `vlan_pcp`, `native_vlan` (rw: read, the keyword's
//! value in `config`, empty when `config` leaves it out); `ethertype` (rw: read, always
//! empty, as `config` never shows it); `drops` (r).
//!
//! **Example:** `VLANEncap(VLAN_ID 10, VLAN_PCP 3)`
//!
//! **Differences from Click:** Click reallocates a packet without 4 bytes of headroom; here it
//! is dropped and counted (`drops`), as are frames shorter than the 12 address bytes (Click
//! reads past their end). Click's handlers cannot be written (it cannot reconfigure the
//! element while it runs); here writing one changes the tag.
//!
//! ## `VLANDecap([ANNO, keywords ETHERTYPE])` — removes an 802.1Q tag.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Removes a VLAN tag of type ETHERTYPE from tagged frames (the addresses move 4 bytes
//! forward, then the data start does), and, when ANNO is true (the default), stores the
//! tag's TCI in the VLAN TCI annotation (0 for untagged frames). A frame of 14 or 15 bytes
//! whose type is ETHERTYPE loses its 4 bytes too: what fits of the addresses moves forward.
//!
//! **Keywords:**
//!
//! - `ETHERTYPE`: the tag type removed; default 0x8100.
//!
//! **Differences from Click:** the TCI of a frame cut inside its tag takes the missing bytes
//! as zeros (Click reads whatever follows the data); Click reads past the end of frames
//! shorter than 14 bytes, which pass unchanged here.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::{Args, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError, Packet,
};

use super::common::{config_keyword, parse_value, push_each, Verdict};
use crate::wire::ethernet;

/// `VLANEncap`.
pub static VLANEncap: ElementClass = ElementClass {
    name: "VLANEncap",
    ports: "1/1",
    processing: "a/a",
    make: make_encap,
    names: None,
};
/// `VLANDecap`.
pub static VLANDecap: ElementClass = ElementClass {
    name: "VLANDecap",
    ports: "1/1",
    processing: "a/a",
    make: make_decap,
    names: None,
};

// ---- What the VLAN family shares ----------------------------------------------------------
//
// `VLANEncap`, `VLANDecap` here, `EtherVLANEncap`, `StripEtherVLANHeader` and `SetVLANAnno`
// in `ethervlan`: the TCI arguments, the `config` text and keyword handlers they make, and
// the tag's bytes.

/// A tag's TCI as Click's VLAN elements configure it: VLAN_TCI, or VLAN_ID with VLAN_PCP, or
/// (where allowed) `ANNO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tci {
    /// VLAN_TCI, or VLAN_ID; VLAN_PCP is ORed into the top three bits of either, as Click
    /// does.
    pub value: u16,
    /// VLAN_TCI was `ANNO`: each packet's VLAN TCI annotation is the TCI instead.
    pub anno: bool,
}

impl Tci {
    /// Reads VLAN_TCI and VLAN_PCP (positional, or keywords) and the keyword VLAN_ID, in
    /// Click's order; VLAN_TCI may be `ANNO` when `anno_ok`. `None` once an error is
    /// recorded.
    pub(super) fn read(args: &mut Args<'_>, anno_ok: bool) -> Option<Self> {
        let word = args.read_p::<String>("VLAN_TCI");
        let pcp = args.read_p::<u8>("VLAN_PCP").unwrap_or(0);
        let id = args.read_k::<u16>("VLAN_ID").unwrap_or(0);
        let mut ok = true;
        if pcp > 7 {
            args.error_whole("VLAN_PCP must be between 0 and 7");
            ok = false;
        }
        if id > 0xfff {
            args.error_whole("VLAN_ID must be between 0 and 4095");
            ok = false;
        }
        let anno = anno_ok && word.as_deref() == Some("ANNO");
        let tci = match word.as_deref() {
            Some(w) if !anno => match u16::from_arg(w, None) {
                Ok(t) => Some(t),
                Err(_) => {
                    args.error_whole(if anno_ok {
                        "VLAN_TCI: expected an integer 0-65535 or ANNO"
                    } else {
                        "VLAN_TCI: expected an integer 0-65535"
                    });
                    ok = false;
                    None
                }
            },
            _ => None,
        };
        ok.then_some(Tci {
            value: tci.unwrap_or(id) | (u16::from(pcp) << 13),
            anno,
        })
    }

    /// The TCI for packet `p`.
    #[inline]
    pub(super) fn of(&self, p: &Packet) -> u16 {
        if self.anno {
            p.anno().vlan_tci
        } else {
            self.value
        }
    }

    /// Click's text for it in `config`: `ANNO`, or `VLAN_ID id, VLAN_PCP pcp` (the DEI bit,
    /// 12, shows in neither).
    pub(super) fn config(&self) -> String {
        if self.anno {
            "ANNO".to_string()
        } else {
            alloc::format!(
                "VLAN_ID {}, VLAN_PCP {}",
                self.value & 0xfff,
                (self.value >> 13) & 7
            )
        }
    }

    /// Click's `vlan_tci` handler: `ANNO`, or the TCI as a number.
    pub(super) fn handler_text(&self) -> String {
        if self.anno {
            "ANNO".to_string()
        } else {
            self.value.to_string()
        }
    }
}

/// The tag an encapsulating VLAN element adds: its TCI and NATIVE_VLAN, the VLAN whose frames
/// go untagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tag {
    pub tci: Tci,
    /// NATIVE_VLAN; `None` for -1 (none).
    pub native: Option<u16>,
}

impl Tag {
    /// Reads the TCI (`ANNO` allowed) and the keyword NATIVE_VLAN (-1 to 0xFFF, default 0).
    /// `None` once an error is recorded.
    pub(super) fn read(args: &mut Args<'_>) -> Option<Self> {
        let tci = Tci::read(args, true);
        let native = args.read_k::<i32>("NATIVE_VLAN").unwrap_or(0);
        if !(-1..=0xfff).contains(&native) {
            args.error_whole("NATIVE_VLAN must be between -1 and 4095");
            return None;
        }
        Some(Tag {
            tci: tci?,
            native: u16::try_from(native).ok(),
        })
    }

    /// The TCI to tag packet `p` with, or `None` when its VLAN is the native one (untagged).
    #[inline]
    pub(super) fn tci_for(&self, p: &Packet) -> Option<u16> {
        let tci = self.tci.of(p);
        (Some(tci & 0xfff) != self.native).then_some(tci)
    }

    /// Click's `config` text of the tag: the TCI's, then `, NATIVE_VLAN n` unless it is 0, as
    /// a 16-bit number (none, -1, shows as 65535).
    pub(super) fn config(&self) -> String {
        self.text(self.native.unwrap_or(u16::MAX).to_string())
    }

    /// The tag as arguments that read back as it: [`config`](Self::config), but with no
    /// native VLAN as -1.
    pub(super) fn args_text(&self) -> String {
        self.text(self.native.map_or("-1".to_string(), |n| n.to_string()))
    }

    fn text(&self, native: String) -> String {
        let mut s = self.tci.config();
        if self.native != Some(0) {
            s.push_str(", NATIVE_VLAN ");
            s.push_str(&native);
        }
        s
    }

    /// The read handlers the tag gives, as Click's: `vlan_tci`, and `vlan_id`, `vlan_pcp` and
    /// `native_vlan`, the keywords of `config` (empty when it leaves one out).
    pub(super) fn read_handler(&self, name: &str) -> Option<String> {
        let key = match name {
            "vlan_tci" => return Some(self.tci.handler_text()),
            "vlan_id" => "VLAN_ID",
            "vlan_pcp" => "VLAN_PCP",
            "native_vlan" => "NATIVE_VLAN",
            _ => return None,
        };
        Some(config_keyword(&self.config(), key))
    }
}

/// Writes an 802.1Q tag, type `tpid` then `tci`, into the first four bytes of `d`.
#[inline]
pub(super) fn write_tag(d: &mut [u8], tpid: u16, tci: u16) {
    d[0..2].copy_from_slice(&tpid.to_be_bytes());
    d[2..4].copy_from_slice(&tci.to_be_bytes());
}

/// The TCI of a tagged frame `d` (bytes 14 and 15), the bytes missing from a frame cut
/// inside its tag taken as zeros (Click reads whatever follows the data).
#[inline]
pub(super) fn tag_tci(d: &[u8]) -> u16 {
    u16::from_be_bytes([
        d.get(14).copied().unwrap_or(0),
        d.get(15).copied().unwrap_or(0),
    ])
}

// ---- VLANEncap ------------------------------------------------------------------------

struct Encap {
    tag: Tag,
    ethertype: u16,
    drops: u64,
}

fn make_encap(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let tag = Tag::read(args);
    let ethertype = args
        .read_k::<u16>("ETHERTYPE")
        .unwrap_or(ethernet::ETHERTYPE_VLAN);
    Some(Box::new(Encap {
        tag: tag?,
        ethertype,
        drops: 0,
    }))
}

impl Element for Encap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let this = &mut *self;
        push_each(ctx, batch, |p| {
            let Some(tci) = this.tag.tci_for(p) else {
                return Verdict::Out(0);
            };
            if p.len() < 12 || p.push(4).is_err() {
                this.drops += 1;
                return Verdict::Drop;
            }
            let d = p.data_mut();
            d.copy_within(4..16, 0);
            write_tag(&mut d[12..16], this.ethertype, tci);
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        // As in Click, `config` never shows ETHERTYPE, so `ethertype`, the keyword of
        // `config`, reads empty.
        Some(match name {
            "config" => self.tag.config(),
            "ethertype" => String::new(),
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
        let bad = |m: &str| HandlerError::BadValue(alloc::format!("{name}: {m}"));
        let tci = &mut self.tag.tci;
        match name {
            "vlan_tci" if value.trim() == "ANNO" => tci.anno = true,
            "vlan_tci" => {
                tci.value = parse_value(name, value)?;
                tci.anno = false;
            }
            "vlan_id" => {
                let id: u16 = parse_value(name, value)?;
                if id > 0xfff {
                    return Err(bad("must be between 0 and 4095"));
                }
                tci.value = (tci.value & !0xfff) | id;
                tci.anno = false;
            }
            "vlan_pcp" => {
                let pcp: u16 = parse_value(name, value)?;
                if pcp > 7 {
                    return Err(bad("must be between 0 and 7"));
                }
                tci.value = (tci.value & 0x1fff) | (pcp << 13);
            }
            "native_vlan" => {
                let n: i32 = parse_value(name, value)?;
                if !(-1..=0xfff).contains(&n) {
                    return Err(bad("must be between -1 and 4095"));
                }
                self.tag.native = u16::try_from(n).ok();
            }
            "ethertype" => self.ethertype = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read_write("vlan_tci"),
            Handler::read_write("vlan_id"),
            Handler::read_write("vlan_pcp"),
            Handler::read_write("native_vlan"),
            Handler::read_write("ethertype"),
            Handler::read("drops"),
        ];
        H
    }
}

// ---- VLANDecap ------------------------------------------------------------------------

struct Decap {
    anno: bool,
    ethertype: u16,
}

fn make_decap(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let anno = args.read_p::<bool>("ANNO").unwrap_or(true);
    let ethertype = args
        .read_k::<u16>("ETHERTYPE")
        .unwrap_or(ethernet::ETHERTYPE_VLAN);
    Some(Box::new(Decap { anno, ethertype }))
}

impl Element for Decap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let (anno, et) = (self.anno, self.ethertype.to_be_bytes());
        push_each(ctx, batch, |p| {
            let mut tci = 0;
            let d = p.data_mut();
            let len = d.len();
            if len >= 14 && d[12..14] == et {
                // A frame cut inside its tag loses it too: what is left of the addresses
                // moves forward over it, as in Click.
                tci = tag_tci(d);
                d.copy_within(0..(len - 4).min(12), 4);
                // Cannot fail: at least 14 bytes are present.
                let _ = p.pull(4);
            }
            if anno {
                p.anno_mut().vlan_tci = tci;
            }
            Verdict::Out(0)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_error, udp_frame, Harness};

    #[test]
    fn encap_then_decap_round_trips() {
        let f = udp_frame(b"vlan");
        let mut e = Harness::new("VLANEncap", "VLAN_ID 10, VLAN_PCP 3", 1).unwrap();
        let out = e.run_packets(alloc::vec![e.pool.alloc_from(&f).unwrap()]);
        let tagged = out[0][0].data.clone();
        assert_eq!(&tagged[..12], &f[..12]);
        assert_eq!(&tagged[12..16], &[0x81, 0x00, 0x60, 0x0a]);
        assert_eq!(&tagged[16..], &f[12..]);
        let sliced = etherparse::SlicedPacket::from_ethernet(&tagged).unwrap();
        assert!(sliced.vlan().is_some());
        assert_eq!(e.read("vlan_tci"), "24586");

        let mut d = Harness::new("VLANDecap", "", 1).unwrap();
        let out = d.run_packets(out.iter().flatten().map(|o| o.packet(&d.pool)).collect());
        assert_eq!(out[0][0].data, &f[..]);
        assert_eq!(out[0][0].anno.vlan_tci, 0x600a);
        // Untagged frames pass unchanged with TCI 0.
        assert_eq!(d.one(&f).unwrap().1, f);
    }

    #[test]
    fn handlers_read_as_clicks_config_reports_them() {
        let read = |config: &str, handlers: &[&str]| {
            let e = Harness::new("VLANEncap", config, 1).unwrap();
            handlers
                .iter()
                .map(|h| e.read(h))
                .collect::<alloc::vec::Vec<_>>()
        };
        let all = [
            "config",
            "vlan_tci",
            "vlan_id",
            "vlan_pcp",
            "native_vlan",
            "ethertype",
        ];
        assert_eq!(
            read("100, 5", &all),
            ["VLAN_ID 100, VLAN_PCP 5", "41060", "100", "5", "", ""]
        );
        assert_eq!(
            read("VLAN_ID 0, NATIVE_VLAN -1, ETHERTYPE 0x88a8", &all),
            [
                "VLAN_ID 0, VLAN_PCP 0, NATIVE_VLAN 65535",
                "0",
                "0",
                "0",
                "65535",
                ""
            ]
        );
        assert_eq!(
            read("VLAN_TCI 0x1234, NATIVE_VLAN 7", &all),
            [
                "VLAN_ID 564, VLAN_PCP 0, NATIVE_VLAN 7",
                "4660",
                "564",
                "0",
                "7",
                ""
            ]
        );
        assert_eq!(
            read("ANNO, NATIVE_VLAN 12", &all),
            ["ANNO, NATIVE_VLAN 12", "ANNO", "", "", "12", ""]
        );
    }

    #[test]
    fn decap_takes_the_tag_off_frames_cut_inside_it() {
        let mut d = Harness::new("VLANDecap", "", 1).unwrap();
        let addrs: alloc::vec::Vec<u8> = (1..=12).collect();
        let cut = [&addrs[..], &[0x81, 0x00]].concat();
        assert_eq!(d.one(&cut).unwrap().1, &addrs[..10]);
        let cut = [&addrs[..], &[0x81, 0x00, 0xa0]].concat();
        assert_eq!(d.one(&cut).unwrap().1, &addrs[..11]);
        let bare = [&addrs[..], &[0x81, 0x00, 0xa0, 0x0a]].concat();
        assert_eq!(d.one(&bare).unwrap().1, addrs);
        // Not tagged: unchanged.
        let other = [&addrs[..], &[0x08, 0x00]].concat();
        assert_eq!(d.one(&other).unwrap().1, other);
    }

    #[test]
    fn native_vlan_and_anno() {
        let f = udp_frame(b"");
        let mut e = Harness::new("VLANEncap", "VLAN_ID 0", 1).unwrap();
        assert_eq!(e.one(&f).unwrap().1, f);
        e.write("native_vlan", "-1").unwrap();
        assert_eq!(e.one(&f).unwrap().1.len(), f.len() + 4);
        let mut a = Harness::new("VLANEncap", "ANNO", 1).unwrap();
        let mut p = a.pool.alloc_from(&f).unwrap();
        p.anno_mut().vlan_tci = 7;
        let out = a.run_packets(alloc::vec![p]);
        assert_eq!(&out[0][0].data[14..16], &[0, 7]);
        // TCI annotation 0 is the native VLAN: untagged.
        assert_eq!(a.one(b"short").map(|x| x.0), Some(0));
        let mut s = Harness::new("VLANEncap", "VLAN_ID 5", 1).unwrap();
        assert_eq!(s.one(b"short"), None);
        assert_eq!(s.read("drops"), "1");
        assert_eq!(a.read("vlan_tci"), "ANNO");
        assert!(config_error("VLANEncap", "VLAN_PCP 9").contains("VLAN_PCP"));
    }
}
