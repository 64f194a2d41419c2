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

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
};

use super::common::{parse_value, push_each, Verdict};
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

struct Encap {
    tci: u16,
    use_anno: bool,
    native: Option<u16>,
    ethertype: u16,
    drops: u64,
}

fn make_encap(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let tci_word = args.read_p::<String>("VLAN_TCI");
    let pcp = args.read_p::<u8>("VLAN_PCP").unwrap_or(0);
    let id = args.read_k::<u16>("VLAN_ID").unwrap_or(0);
    let native = args.read_k::<i32>("NATIVE_VLAN").unwrap_or(0);
    let ethertype = args
        .read_k::<u16>("ETHERTYPE")
        .unwrap_or(ethernet::ETHERTYPE_VLAN);
    if pcp > 7 {
        args.error_whole("VLAN_PCP must be between 0 and 7");
    }
    if id > 0xfff {
        args.error_whole("VLAN_ID must be between 0 and 4095");
    }
    if !(-1..=0xfff).contains(&native) {
        args.error_whole("NATIVE_VLAN must be between -1 and 4095");
    }
    let use_anno = tci_word.as_deref() == Some("ANNO");
    let tci = match tci_word.as_deref() {
        Some(w) if !use_anno => match <u16 as sluice_config::args::FromArg>::from_arg(w, None) {
            Ok(t) => Some(t),
            Err(_) => {
                args.error_whole("VLAN_TCI: expected an integer 0-65535 or ANNO");
                return None;
            }
        },
        _ => None,
    };
    if pcp > 7 || id > 0xfff || !(-1..=0xfff).contains(&native) {
        return None;
    }
    Some(Box::new(Encap {
        tci: tci.unwrap_or(id) | (u16::from(pcp) << 13),
        use_anno,
        native: u16::try_from(native).ok(),
        ethertype,
        drops: 0,
    }))
}

impl Encap {
    /// Click's `config` text: the VLAN ID and priority (or `ANNO`), then NATIVE_VLAN when
    /// it is not 0, as a 16-bit number (none, -1, shows as 65535).
    fn config(&self) -> String {
        let mut s = if self.use_anno {
            "ANNO".to_string()
        } else {
            alloc::format!(
                "VLAN_ID {}, VLAN_PCP {}",
                self.tci & 0xfff,
                (self.tci >> 13) & 7
            )
        };
        let native = self.native.unwrap_or(u16::MAX);
        if native != 0 {
            s.push_str(&alloc::format!(", NATIVE_VLAN {native}"));
        }
        s
    }
}

impl Element for Encap {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        let this = &mut *self;
        push_each(ctx, batch, |p| {
            let tci = if this.use_anno {
                p.anno().vlan_tci
            } else {
                this.tci
            };
            if Some(tci & 0xfff) == this.native {
                return Verdict::Out(0);
            }
            if p.len() < 12 || p.push(4).is_err() {
                this.drops += 1;
                return Verdict::Drop;
            }
            let d = p.data_mut();
            d.copy_within(4..16, 0);
            d[12..14].copy_from_slice(&this.ethertype.to_be_bytes());
            d[14..16].copy_from_slice(&tci.to_be_bytes());
            Verdict::Out(0)
        });
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        // As in Click, `vlan_id`, `vlan_pcp` and `native_vlan` are the keywords of the
        // configuration `config` reports, empty when it leaves them out; it never shows
        // ETHERTYPE.
        let keyword = |key: &str| {
            let config = self.config();
            config
                .split(", ")
                .find_map(|arg| arg.strip_prefix(key)?.strip_prefix(' ').map(String::from))
                .unwrap_or_default()
        };
        Some(match name {
            "config" => self.config(),
            "vlan_tci" if self.use_anno => "ANNO".to_string(),
            "vlan_tci" => self.tci.to_string(),
            "vlan_id" => keyword("VLAN_ID"),
            "vlan_pcp" => keyword("VLAN_PCP"),
            "native_vlan" => keyword("NATIVE_VLAN"),
            "ethertype" => String::new(),
            "drops" => self.drops.to_string(),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let bad = |m: &str| HandlerError::BadValue(alloc::format!("{name}: {m}"));
        match name {
            "vlan_tci" if value.trim() == "ANNO" => self.use_anno = true,
            "vlan_tci" => {
                self.tci = parse_value(name, value)?;
                self.use_anno = false;
            }
            "vlan_id" => {
                let id: u16 = parse_value(name, value)?;
                if id > 0xfff {
                    return Err(bad("must be between 0 and 4095"));
                }
                self.tci = (self.tci & !0xfff) | id;
                self.use_anno = false;
            }
            "vlan_pcp" => {
                let pcp: u16 = parse_value(name, value)?;
                if pcp > 7 {
                    return Err(bad("must be between 0 and 7"));
                }
                self.tci = (self.tci & 0x1fff) | (pcp << 13);
            }
            "native_vlan" => {
                let n: i32 = parse_value(name, value)?;
                if !(-1..=0xfff).contains(&n) {
                    return Err(bad("must be between -1 and 4095"));
                }
                self.native = u16::try_from(n).ok();
            }
            "ethertype" => self.ethertype = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("config"),
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
                tci = u16::from_be_bytes([
                    d.get(14).copied().unwrap_or(0),
                    d.get(15).copied().unwrap_or(0),
                ]);
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
