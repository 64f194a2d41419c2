//! Reading and writing packet capture files: classic pcap (microsecond and nanosecond
//! timestamps, either byte order, and the "modified pcap" variant) and pcapng.
//!
//! The reader streams the file: [`DumpReader::next_record`] parses one record header and
//! stops at the first byte of the packet data, which the caller copies straight into a pool
//! buffer with [`DumpReader::read_data`] (or passes over with [`DumpReader::skip_data`]).
//! Nothing is allocated per packet. A file that is cut short or whose headers make no sense
//! yields an [`Err`] with a message naming the byte offset; it never panics.
//!
//! The formats are small and fully specified (libpcap's `pcap-savefile(5)`, the pcapng
//! draft); reading them here, rather than through a general capture crate, keeps the data
//! path free of allocation and keeps exact control of file positions (`filepos`) and of how
//! each kind of damage is reported.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

/// Classic pcap, microsecond timestamps (as written, in the file's byte order).
pub const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
/// Classic pcap, nanosecond timestamps.
pub const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetsov's "modified pcap": 8 more bytes in every record header.
pub const PCAP_MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
/// pcapng Section Header Block type (also the file's first four bytes).
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
/// pcapng byte-order magic inside the Section Header Block.
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

/// Link types (`LINKTYPE_*` values as stored in files).
pub mod linktype {
    /// Ethernet.
    pub const ETHER: u32 = 1;
    /// FDDI.
    pub const FDDI: u32 = 10;
    /// `DLT_RAW` as some BSDs number it in files.
    pub const RAW_BSD: u32 = 12;
    /// `DLT_RAW` on OpenBSD.
    pub const RAW_OPENBSD: u32 = 14;
    /// ATM, RFC 1483 LLC/SNAP.
    pub const ATM_RFC1483: u32 = 100;
    /// Raw IP (IPv4 or IPv6, from the version nibble).
    pub const RAW: u32 = 101;
    /// IEEE 802.11.
    pub const IEEE802_11: u32 = 105;
    /// Linux "cooked" capture (`tcpdump -i any`).
    pub const LINUX_SLL: u32 = 113;
    /// Aironet.
    pub const AIRONET: u32 = 120;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;

    /// Maps the aliases of raw IP to [`RAW`], as Click canonicalizes link types.
    pub fn canonical(lt: u32) -> u32 {
        match lt {
            RAW_BSD | RAW_OPENBSD | IPV4 | IPV6 => RAW,
            other => other,
        }
    }

    /// Click's name for a link type (`encap` handlers, `ENCAP` arguments).
    pub fn name(lt: u32) -> &'static str {
        match canonical(lt) {
            ETHER => "ETHER",
            RAW => "IP",
            FDDI => "FDDI",
            ATM_RFC1483 => "ATM",
            IEEE802_11 => "802.11",
            AIRONET => "AIRONET",
            LINUX_SLL => "LINUX_SLL",
            _ => "??",
        }
    }

    /// Parses Click's encapsulation names (and a plain link-type number).
    pub fn parse(s: &str) -> Option<u32> {
        Some(match s {
            "IP" => RAW,
            "ETHER" => ETHER,
            "FDDI" => FDDI,
            "ATM" | "RFC1483" | "ATM-RFC1483" => ATM_RFC1483,
            "802.11" => IEEE802_11,
            "AIRONET" => AIRONET,
            "LINUX_SLL" | "SLL" => LINUX_SLL,
            _ => return s.parse().ok(),
        })
    }
}

/// Largest packet record accepted; libpcap's own limit. A bigger length means the file is
/// corrupt.
pub const MAX_CAPLEN: u32 = 262_144;

/// Largest pcapng block other than packet blocks (headers, interface descriptions,
/// statistics, name resolution): a sanity bound against a corrupt length.
const MAX_META_BLOCK: u32 = 1 << 24;

/// One packet record's header. The reader stands at its first data byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Bytes of packet data stored in the file.
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub len: u32,
    /// The link type of the interface it was captured on.
    pub linktype: u32,
    /// File offset of the record header.
    pub filepos: u64,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units: `10^-n` seconds when `decimal`, else `2^-n`.
    tsresol: u8,
    decimal: bool,
    /// Seconds added to every timestamp (`if_tsoffset`).
    tsoffset: i64,
}

impl Interface {
    fn timestamp_ns(&self, units: u64) -> u64 {
        let ns: u128 = if self.decimal {
            let exp = u32::from(self.tsresol);
            if exp <= 9 {
                u128::from(units) * 10u128.pow(9 - exp)
            } else {
                u128::from(units) / 10u128.checked_pow(exp - 9).unwrap_or(u128::MAX)
            }
        } else {
            (u128::from(units) * 1_000_000_000) >> u32::from(self.tsresol).min(127)
        };
        let off = i128::from(self.tsoffset) * 1_000_000_000;
        u64::try_from((ns as i128 + off).max(0)).unwrap_or(u64::MAX)
    }
}

#[derive(Debug)]
enum Format {
    Pcap {
        nano: bool,
        /// Bytes after the 16-byte record header (modified pcap: 8).
        extra: u64,
        /// Minor version; 2.3 and earlier may have `caplen` and `len` swapped.
        minor: u16,
        linktype: u32,
    },
    PcapNg {
        interfaces: Vec<Interface>,
    },
}

/// A streaming reader of a pcap or pcapng file.
#[derive(Debug)]
pub struct DumpReader<R: Read + Seek = File> {
    r: BufReader<R>,
    pos: u64,
    /// Big-endian fields (a capture written on, or for, the other byte order).
    big: bool,
    format: Format,
    /// Bytes of packet data left to read or skip in the current record.
    data_left: u64,
    /// Bytes of the current record after its data (pcapng padding, options, trailer;
    /// records whose caplen exceeds their len).
    after_data: u64,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of file (nothing read).
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn io_err(what: &str, pos: u64, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("truncated {what} at byte {pos}")
    } else {
        format!("reading {what} at byte {pos}: {e}")
    }
}

impl DumpReader<File> {
    /// Opens `path` and reads its file header.
    pub fn open(path: &str) -> Result<Self, String> {
        let f = File::open(path).map_err(|e| format!("{path}: {}", describe_io(&e)))?;
        Self::new(f).map_err(|m| format!("{path}: {m}"))
    }
}

/// An I/O error as a user reads it (`No such file or directory`).
pub fn describe_io(e: &io::Error) -> String {
    let s = e.to_string();
    // std appends " (os error N)"; the words are enough.
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl<R: Read + Seek> DumpReader<R> {
    /// Reads the file header from `inner`.
    pub fn new(inner: R) -> Result<Self, String> {
        let mut r = BufReader::with_capacity(64 * 1024, inner);
        let mut head = [0u8; 4];
        match read_full(&mut r, &mut head) {
            Ok(true) => {}
            Ok(false) => return Err("empty file: not a pcap or pcapng file".into()),
            Err(e) => return Err(io_err("file header", 0, &e)),
        }
        let le = u32::from_le_bytes(head);
        let be = u32::from_be_bytes(head);
        let mut me = Self {
            r,
            pos: 4,
            big: false,
            format: Format::PcapNg {
                interfaces: Vec::new(),
            },
            data_left: 0,
            after_data: 0,
        };
        if le == PCAPNG_SHB {
            let mut len = [0u8; 4];
            if !me.read_exact_at(&mut len, "pcapng section header")? {
                return Err("truncated pcapng section header at byte 0".into());
            }
            me.read_section(&len)?;
            // The link type of the first interface is what `encap` reports; interface
            // descriptions come before the packets that use them.
            me.read_until_first_interface()?;
            return Ok(me);
        }
        let (magic, big) = match (le, be) {
            (m, _) if is_pcap_magic(m) => (m, false),
            (_, m) if is_pcap_magic(m) => (m, true),
            _ => {
                return Err(format!(
                    "not a pcap or pcapng file (bad magic number 0x{be:08x})"
                ))
            }
        };
        me.big = big;
        let mut rest = [0u8; 20];
        match read_full(&mut me.r, &mut rest) {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                return Err("truncated pcap file header (24 bytes expected)".into())
            }
        }
        me.pos = 24;
        let major = me.u16(&rest[0..2]);
        let minor = me.u16(&rest[2..4]);
        if major != 2 {
            return Err(format!(
                "unsupported pcap version {major}.{minor} (expected 2.x)"
            ));
        }
        let linktype = me.u32(&rest[16..20]) & 0x0fff_ffff;
        me.format = Format::Pcap {
            nano: magic == PCAP_MAGIC_NS,
            extra: if magic == PCAP_MAGIC_MODIFIED { 8 } else { 0 },
            minor,
            linktype,
        };
        Ok(me)
    }

    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    /// The link type of the file (pcapng: of its first interface), if known.
    pub fn linktype(&self) -> Option<u32> {
        match &self.format {
            Format::Pcap { linktype, .. } => Some(*linktype),
            Format::PcapNg { interfaces } => interfaces.first().map(|i| i.linktype),
        }
    }

    /// Whether the file is pcapng.
    pub fn is_pcapng(&self) -> bool {
        matches!(self.format, Format::PcapNg { .. })
    }

    /// Bytes consumed so far.
    pub fn filepos(&self) -> u64 {
        self.pos
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        if n == 0 {
            return Ok(());
        }
        let at = self.pos;
        // Skipping past the end must be reported as truncation, so read (through the
        // buffer) rather than seek blindly.
        let got = io::copy(&mut (&mut self.r).take(n), &mut io::sink())
            .map_err(|e| io_err(what, at, &e))?;
        self.pos += got;
        if got < n {
            return Err(format!("truncated {what} at byte {at}"));
        }
        Ok(())
    }

    fn read_exact_at(&mut self, buf: &mut [u8], what: &str) -> Result<bool, String> {
        let at = self.pos;
        match read_full(&mut self.r, buf) {
            Ok(true) => {
                self.pos += buf.len() as u64;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(io_err(what, at, &e)),
        }
    }

    fn read_until_first_interface(&mut self) -> Result<(), String> {
        loop {
            let Format::PcapNg { interfaces } = &self.format else {
                return Ok(());
            };
            if !interfaces.is_empty() {
                return Ok(());
            }
            let start = self.pos;
            let mut h = [0u8; 8];
            if !self.read_exact_at(&mut h, "pcapng block header")? {
                return Ok(());
            }
            let ty = self.u32(&h[0..4]);
            let len = self.u32(&h[4..8]);
            match ty {
                1 => self.read_interface(start, len)?,
                PCAPNG_SHB => self.read_section(&h[4..8])?,
                2 | 3 | 6 => {
                    return Err(format!(
                        "pcapng packet block at byte {start} before any interface description"
                    ))
                }
                _ => {
                    check_block_len(len, 12, start)?;
                    self.skip(u64::from(len) - 8, "pcapng block")?;
                }
            }
        }
    }

    /// Reads a Section Header Block from its byte-order magic on; its type and length
    /// (`len_bytes`, whose byte order the magic decides) are already consumed.
    fn read_section(&mut self, len_bytes: &[u8]) -> Result<(), String> {
        let start = self.pos - 8;
        let mut bom = [0u8; 4];
        if !self.read_exact_at(&mut bom, "pcapng section header")? {
            return Err(format!("truncated pcapng section header at byte {start}"));
        }
        let bom_le = u32::from_le_bytes(bom);
        self.big = match bom_le {
            PCAPNG_BOM => false,
            m if m.swap_bytes() == PCAPNG_BOM => true,
            _ => return Err(format!("bad pcapng byte-order magic at byte {}", start + 8)),
        };
        let len = self.u32(len_bytes);
        if len < 28 || len & 3 != 0 || len > MAX_META_BLOCK {
            return Err(format!(
                "bad pcapng section header length {len} at byte {start}"
            ));
        }
        let mut v = [0u8; 4];
        if !self.read_exact_at(&mut v, "pcapng section header")? {
            return Err(format!("truncated pcapng section header at byte {start}"));
        }
        let major = self.u16(&v[0..2]);
        if major != 1 {
            return Err(format!(
                "unsupported pcapng version {major} at byte {start}"
            ));
        }
        self.format = Format::PcapNg {
            interfaces: Vec::new(),
        };
        self.skip(u64::from(len) - 16, "pcapng section header")
    }

    /// Reads an Interface Description Block body (type and length already consumed).
    fn read_interface(&mut self, start: u64, len: u32) -> Result<(), String> {
        check_block_len(len, 20, start)?;
        if len > MAX_META_BLOCK {
            return Err(format!(
                "pcapng block length {len} at byte {start} is implausible"
            ));
        }
        let mut body = vec![0u8; len as usize - 8];
        if !self.read_exact_at(&mut body, "pcapng interface description")? {
            return Err(format!(
                "truncated pcapng interface description at byte {start}"
            ));
        }
        let mut iface = Interface {
            linktype: u32::from(self.u16(&body[0..2])),
            snaplen: self.u32(&body[4..8]),
            tsresol: 6,
            decimal: true,
            tsoffset: 0,
        };
        // Options: code, length, value padded to 4; the trailing length is the last 4 bytes.
        let opts = &body[8..body.len() - 4];
        let mut i = 0;
        while i + 4 <= opts.len() {
            let code = self.u16(&opts[i..i + 2]);
            let olen = usize::from(self.u16(&opts[i + 2..i + 4]));
            let v = i + 4;
            if code == 0 || v + olen > opts.len() {
                break;
            }
            match (code, olen) {
                (9, 1) => {
                    let r = opts[v];
                    iface.decimal = r & 0x80 == 0;
                    iface.tsresol = r & 0x7f;
                }
                (14, 8) => {
                    let b: [u8; 8] = opts[v..v + 8].try_into().unwrap_or([0; 8]);
                    iface.tsoffset = if self.big {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
                _ => {}
            }
            i = v + olen.div_ceil(4) * 4;
        }
        if let Format::PcapNg { interfaces } = &mut self.format {
            interfaces.push(iface);
        }
        Ok(())
    }

    /// Passes over what is left of the current record, if anything.
    fn finish_record(&mut self) -> Result<(), String> {
        let n = self.data_left + self.after_data;
        self.data_left = 0;
        self.after_data = 0;
        self.skip(n, "packet record")
    }

    /// The next packet record's header, or `None` at the end of the file. The reader then
    /// stands at the record's data: call [`Self::read_data`] or [`Self::skip_data`] (or just
    /// call `next_record` again, which skips it).
    pub fn next_record(&mut self) -> Result<Option<Record>, String> {
        self.finish_record()?;
        match self.format {
            Format::Pcap {
                nano,
                extra,
                minor,
                linktype,
            } => {
                let start = self.pos;
                let mut h = [0u8; 16];
                if !self.read_exact_at(&mut h, "packet header")? {
                    return Ok(None);
                }
                let sec = u64::from(self.u32(&h[0..4]));
                let frac = u64::from(self.u32(&h[4..8]));
                let (mut caplen, mut len) = (self.u32(&h[8..12]), self.u32(&h[12..16]));
                // pcap 2.3 and earlier wrote the two lengths in either order.
                if minor < 3 || (minor == 3 && caplen > len) {
                    core::mem::swap(&mut caplen, &mut len);
                }
                if caplen > MAX_CAPLEN {
                    return Err(format!(
                        "bad packet header at byte {start} (captured length {caplen}); the file is corrupt"
                    ));
                }
                self.skip(extra, "packet header")?;
                // Some tools store a captured length one more than the wire length; read
                // the wire length and pass over the rest, as tcpdump does.
                let over = caplen.saturating_sub(len);
                let caplen = caplen - over;
                self.data_left = u64::from(caplen);
                self.after_data = u64::from(over);
                let frac_ns = if nano { frac } else { frac * 1000 };
                Ok(Some(Record {
                    timestamp_ns: sec * 1_000_000_000 + frac_ns,
                    caplen,
                    len,
                    linktype,
                    filepos: start,
                }))
            }
            Format::PcapNg { .. } => self.next_pcapng_record(),
        }
    }

    fn next_pcapng_record(&mut self) -> Result<Option<Record>, String> {
        loop {
            let start = self.pos;
            let mut h = [0u8; 8];
            if !self.read_exact_at(&mut h, "pcapng block header")? {
                return Ok(None);
            }
            let ty = self.u32(&h[0..4]);
            let len = self.u32(&h[4..8]);
            match ty {
                PCAPNG_SHB => self.read_section(&h[4..8])?,
                1 => self.read_interface(start, len)?,
                6 | 2 => {
                    // Enhanced Packet Block (6) and the obsolete Packet Block (2) share a
                    // 20-byte header after type and length.
                    check_block_len(len, 32, start)?;
                    let mut f = [0u8; 20];
                    if !self.read_exact_at(&mut f, "pcapng packet block")? {
                        return Err(format!("truncated pcapng packet block at byte {start}"));
                    }
                    let ifid = if ty == 6 {
                        self.u32(&f[0..4])
                    } else {
                        u32::from(self.u16(&f[0..2]))
                    };
                    let units =
                        (u64::from(self.u32(&f[4..8])) << 32) | u64::from(self.u32(&f[8..12]));
                    let caplen = self.u32(&f[12..16]);
                    let wire = self.u32(&f[16..20]);
                    let room = len - 32;
                    if caplen > room || caplen > MAX_CAPLEN {
                        return Err(format!(
                            "bad pcapng packet block at byte {start} (captured length {caplen} in a block of {len} bytes)"
                        ));
                    }
                    let iface = self.interface(ifid, start)?;
                    self.data_left = u64::from(caplen);
                    self.after_data = u64::from(room - caplen) + 4;
                    return Ok(Some(Record {
                        timestamp_ns: iface.timestamp_ns(units),
                        caplen,
                        len: wire.max(caplen),
                        linktype: iface.linktype,
                        filepos: start,
                    }));
                }
                3 => {
                    // Simple Packet Block: no timestamp, interface 0.
                    check_block_len(len, 16, start)?;
                    let mut f = [0u8; 4];
                    if !self.read_exact_at(&mut f, "pcapng packet block")? {
                        return Err(format!("truncated pcapng packet block at byte {start}"));
                    }
                    let wire = self.u32(&f);
                    let iface = self.interface(0, start)?;
                    let room = len - 16;
                    let mut caplen = wire.min(room);
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen);
                    }
                    if caplen > MAX_CAPLEN {
                        return Err(format!("bad pcapng packet block at byte {start}"));
                    }
                    self.data_left = u64::from(caplen);
                    self.after_data = u64::from(room - caplen) + 4;
                    return Ok(Some(Record {
                        timestamp_ns: 0,
                        caplen,
                        len: wire,
                        linktype: iface.linktype,
                        filepos: start,
                    }));
                }
                _ => {
                    check_block_len(len, 12, start)?;
                    if len > MAX_META_BLOCK {
                        return Err(format!(
                            "pcapng block length {len} at byte {start} is implausible"
                        ));
                    }
                    self.skip(u64::from(len) - 8, "pcapng block")?;
                }
            }
        }
    }

    fn interface(&self, id: u32, start: u64) -> Result<Interface, String> {
        match &self.format {
            Format::PcapNg { interfaces } => interfaces.get(id as usize).copied().ok_or_else(|| {
                format!("pcapng packet block at byte {start} names interface {id}, which was never described")
            }),
            Format::Pcap { .. } => Err("not pcapng".into()),
        }
    }

    /// Reads the current record's data into `buf`, which must be `caplen` bytes long.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let at = self.pos;
        if buf.len() as u64 != self.data_left {
            return Err(format!(
                "internal: record at byte {at} has {} bytes",
                self.data_left
            ));
        }
        if !self.read_exact_at(buf, "packet data")? && !buf.is_empty() {
            return Err(format!("truncated packet data at byte {at}"));
        }
        self.data_left = 0;
        Ok(())
    }

    /// Passes over the current record's data.
    pub fn skip_data(&mut self) -> Result<(), String> {
        self.finish_record()
    }
}

fn is_pcap_magic(m: u32) -> bool {
    matches!(m, PCAP_MAGIC_US | PCAP_MAGIC_NS | PCAP_MAGIC_MODIFIED)
}

fn check_block_len(len: u32, min: u32, start: u64) -> Result<(), String> {
    if len < min || len & 3 != 0 {
        return Err(format!(
            "bad pcapng block length {len} at byte {start}; the file is corrupt"
        ));
    }
    Ok(())
}

/// Writes a classic pcap file in this machine's byte order, as libpcap does.
#[derive(Debug)]
pub struct DumpWriter<W: Write> {
    w: BufWriter<W>,
    nano: bool,
}

impl<W: Write> DumpWriter<W> {
    /// Wraps `w` (nothing is written until [`Self::write_header`]).
    pub fn new(w: W, nano: bool) -> Self {
        Self {
            w: BufWriter::with_capacity(64 * 1024, w),
            nano,
        }
    }

    /// Writes the 24-byte file header.
    pub fn write_header(&mut self, snaplen: u32, linktype: u32) -> io::Result<()> {
        let magic = if self.nano {
            PCAP_MAGIC_NS
        } else {
            PCAP_MAGIC_US
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_ne_bytes());
        h[4..6].copy_from_slice(&2u16.to_ne_bytes());
        h[6..8].copy_from_slice(&4u16.to_ne_bytes());
        // thiszone and sigfigs stay 0: timestamps are UTC.
        h[16..20].copy_from_slice(&snaplen.to_ne_bytes());
        h[20..24].copy_from_slice(&linktype.to_ne_bytes());
        self.w.write_all(&h)
    }

    /// Writes one record: `data` is what is stored (already cut to the snap length), `len`
    /// the packet's length on the wire.
    #[inline]
    pub fn write_record(&mut self, timestamp_ns: u64, data: &[u8], len: u32) -> io::Result<()> {
        let sec = (timestamp_ns / 1_000_000_000) as u32;
        let ns = (timestamp_ns % 1_000_000_000) as u32;
        let frac = if self.nano { ns } else { ns / 1000 };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&sec.to_ne_bytes());
        h[4..8].copy_from_slice(&frac.to_ne_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        h[12..16].copy_from_slice(&len.to_ne_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn pcap(big: bool, magic: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend(w32(magic));
        f.extend(w16(2));
        f.extend(w16(4));
        f.extend([0; 8]);
        f.extend(w32(65535));
        f.extend(w32(1));
        for (sec, frac, data) in records {
            f.extend(w32(*sec));
            f.extend(w32(*frac));
            f.extend(w32(data.len() as u32));
            f.extend(w32(data.len() as u32 + 4));
            f.extend_from_slice(data);
        }
        f
    }

    fn read_all(bytes: Vec<u8>) -> Result<Vec<(Record, Vec<u8>)>, String> {
        let mut r = DumpReader::new(Cursor::new(bytes))?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            let mut buf = vec![0u8; rec.caplen as usize];
            r.read_data(&mut buf)?;
            out.push((rec, buf));
        }
        Ok(out)
    }

    #[test]
    fn reads_pcap_in_both_byte_orders_and_resolutions() {
        for big in [false, true] {
            let us = read_all(pcap(big, PCAP_MAGIC_US, &[(10, 5, b"abc"), (11, 0, b"")])).unwrap();
            assert_eq!(us.len(), 2);
            assert_eq!(us[0].0.timestamp_ns, 10_000_005_000);
            assert_eq!((us[0].0.caplen, us[0].0.len, us[0].0.linktype), (3, 7, 1));
            assert_eq!(us[0].1, b"abc");
            let ns = read_all(pcap(big, PCAP_MAGIC_NS, &[(10, 5, b"x")])).unwrap();
            assert_eq!(ns[0].0.timestamp_ns, 10_000_000_005);
        }
    }

    #[test]
    fn truncation_and_garbage_are_errors_not_panics() {
        let full = pcap(
            false,
            PCAP_MAGIC_US,
            &[(1, 0, b"0123456789"), (2, 0, b"abcdef")],
        );
        for cut in 0..full.len() {
            let r = read_all(full[..cut].to_vec());
            if cut == 24 || cut == 24 + 26 {
                assert!(r.is_ok(), "cut {cut}");
            } else {
                assert!(r.is_err(), "cut {cut} must be an error");
            }
        }
        assert!(read_all(b"GIF89a...............................".to_vec())
            .unwrap_err()
            .contains("bad magic"));
        // A record claiming a gigabyte.
        let mut bad = pcap(false, PCAP_MAGIC_US, &[]);
        bad.extend([0; 8]);
        bad.extend(0x4000_0000u32.to_le_bytes());
        bad.extend(0x4000_0000u32.to_le_bytes());
        assert!(read_all(bad).unwrap_err().contains("corrupt"));
    }

    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let len = 12 + body.len().div_ceil(4) * 4;
        let mut b = Vec::new();
        b.extend(ty.to_le_bytes());
        b.extend((len as u32).to_le_bytes());
        b.extend_from_slice(body);
        b.resize(len - 4, 0);
        b.extend((len as u32).to_le_bytes());
        b
    }

    fn shb() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(PCAPNG_BOM.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        body.extend((-1i64).to_le_bytes());
        block(PCAPNG_SHB, &body)
    }

    fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(linktype.to_le_bytes());
        body.extend([0, 0]);
        body.extend(0u32.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend(9u16.to_le_bytes());
            body.extend(1u16.to_le_bytes());
            body.extend([r, 0, 0, 0]);
            body.extend([0, 0, 0, 0]);
        }
        block(1, &body)
    }

    fn epb(ifid: u32, units: u64, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(ifid.to_le_bytes());
        body.extend(((units >> 32) as u32).to_le_bytes());
        body.extend((units as u32).to_le_bytes());
        body.extend((data.len() as u32).to_le_bytes());
        body.extend((data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        block(6, &body)
    }

    #[test]
    fn reads_pcapng_with_resolutions_and_unknown_blocks() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(idb(101, Some(9)));
        f.extend(block(0x8000_0001, b"custom!"));
        f.extend(epb(0, 1_500_000, b"hello"));
        f.extend(epb(1, 2_000_000_007, b"ip"));
        let recs = read_all(f).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].0.timestamp_ns, 1_500_000_000);
        assert_eq!(recs[0].1, b"hello");
        assert_eq!(
            (recs[1].0.linktype, recs[1].0.timestamp_ns),
            (101, 2_000_000_007)
        );
        assert_eq!(recs[1].1, b"ip");
    }

    #[test]
    fn pcapng_damage_is_reported() {
        let mut f = shb();
        f.extend(epb(0, 1, b"x"));
        assert!(read_all(f).unwrap_err().contains("before any interface"));
        let mut f = shb();
        f.extend(idb(1, None));
        let mut p = epb(3, 1, b"abcd");
        f.extend(p.clone());
        assert!(read_all(f.clone()).unwrap_err().contains("interface 3"));
        // caplen larger than the block
        p[20..24].copy_from_slice(&9999u32.to_le_bytes());
        let mut g = shb();
        g.extend(idb(1, None));
        g.extend(p);
        assert!(read_all(g).unwrap_err().contains("bad pcapng packet block"));
        let mut h = shb();
        h.extend(idb(1, None));
        let e = epb(0, 1, b"abcdefgh");
        for cut in 1..e.len() {
            let mut t = h.clone();
            t.extend_from_slice(&e[..cut]);
            assert!(read_all(t).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn writer_output_reads_back() {
        let mut out = Vec::new();
        {
            let mut w = DumpWriter::new(&mut out, true);
            w.write_header(2000, 1).unwrap();
            w.write_record(3_000_000_123, b"frame", 60).unwrap();
            w.flush().unwrap();
        }
        let recs = read_all(out).unwrap();
        assert_eq!(recs[0].0.timestamp_ns, 3_000_000_123);
        assert_eq!((recs[0].0.caplen, recs[0].0.len), (5, 60));
    }
}
