//! IPv4 headers (RFC 791).
//!
//! [`Ipv4Packet::new_checked`] validates the buffer once: it holds the fixed header, the
//! header length field is at least 20 and fits, and the total length field lies between the
//! header length and the buffer length (trailing bytes, such as Ethernet padding, are allowed
//! and are not part of [`Ipv4Packet::payload`]). After that no accessor panics. The version
//! and the checksum are *not* checked: they are values, not lengths; elements such as
//! `CheckIPHeader` decide what to do about them.

use core::net::Ipv4Addr;

use super::checksum;
use super::Malformed;

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of IGMP.
pub const PROTO_IGMP: u8 = 2;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// "Don't fragment" in the flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
/// "More fragments" in the flags/fragment-offset word.
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset (in 8-byte units) in the flags/fragment-offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
    pub const OPTIONS: usize = 20;
}

/// Byte offset of the TTL within the header.
pub const TTL_OFFSET: usize = field::TTL;
/// Byte offset of the source address within the header.
pub const SRC_OFFSET: usize = field::SRC.start;
/// Byte offset of the destination address within the header.
pub const DST_OFFSET: usize = field::DST.start;
/// Byte offset of the header checksum within the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let s = &b[r];
    u16::from_be_bytes([s[0], s[1]])
}

#[inline]
fn addr(b: &[u8], r: core::ops::Range<usize>) -> [u8; 4] {
    let s = &b[r];
    [s[0], s[1], s[2], s[3]]
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it; accessors may panic unless [`Self::check_len`]
    /// succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after checking its lengths (see the module docs).
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths: fixed header present, `20 <= header_len <= total_len <= buffer`.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Malformed);
        }
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        if hl < MIN_HEADER_LEN || hl > len || tl < hl || tl > len {
            return Err(Malformed);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (4 for a well-formed packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// The DSCP (upper six bits of the TOS byte).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// The ECN bits (lower two bits of the TOS byte).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 3
    }

    /// The total length field: header plus payload, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// The raw flags and fragment offset word ([`FLAG_DF`], [`FLAG_MF`], [`OFFSET_MASK`]).
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF)
    }

    /// Whether "don't fragment" is set.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// Whether "more fragments" is set.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// The fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// The time-to-live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol number ([`PROTO_TCP`], ...).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The header checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_bytes())
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_bytes())
    }

    /// The source address as bytes.
    #[inline]
    pub fn src_bytes(&self) -> [u8; 4] {
        addr(self.buffer.as_ref(), field::SRC)
    }

    /// The destination address as bytes.
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 4] {
        addr(self.buffer.as_ref(), field::DST)
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options (may be empty).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The payload: from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// Whether the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }

    /// The TCP/UDP pseudo-header sum for a transport segment of `length` bytes.
    #[inline]
    pub fn pseudo_header_sum(&self, length: u16) -> u32 {
        checksum::pseudo_header_v4(self.src_bytes(), self.dst_bytes(), self.protocol(), length)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version.
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4, at most 60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the type-of-service byte.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, id: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets the raw flags and fragment offset word.
    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the time-to-live (the checksum is not touched).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, p: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = p;
    }

    /// Stores `c` as the header checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the source address (the checksum is not touched).
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address (the checksum is not touched).
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Recomputes the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// Sets the TTL and updates the header checksum incrementally (RFC 1624).
    #[inline]
    pub fn set_ttl_incremental(&mut self, ttl: u8) {
        // The TTL is the high byte of the 16-bit word (TTL, protocol).
        let p = self.protocol();
        let old = u16::from_be_bytes([self.ttl(), p]);
        let new = u16::from_be_bytes([ttl, p]);
        self.set_ttl(ttl);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets the source address and updates the header checksum incrementally.
    #[inline]
    pub fn set_src_addr_incremental(&mut self, a: Ipv4Addr) {
        let c = checksum::update32(self.checksum(), self.src_bytes(), a.octets());
        self.set_src_addr(a);
        self.set_checksum(c);
    }

    /// Sets the destination address and updates the header checksum incrementally.
    #[inline]
    pub fn set_dst_addr_incremental(&mut self, a: Ipv4Addr) {
        let c = checksum::update32(self.checksum(), self.dst_bytes(), a.octets());
        self.set_dst_addr(a);
        self.set_checksum(c);
    }

    /// The options, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// Whether `a` is a class D (multicast) address, 224.0.0.0/4.
#[inline]
pub fn is_multicast(a: Ipv4Addr) -> bool {
    (a.octets()[0] & 0xf0) == 0xe0
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.0.1 -> 192.168.0.199, UDP, 115 bytes total; header only (buffer is cut by tests).
    static HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet() -> [u8; 30] {
        // 20 header + 8 payload (total_len 28) + 2 trailing bytes of padding.
        let mut b = [0u8; 30];
        b[..20].copy_from_slice(&HEADER);
        b[20..28].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        b[28] = 0xee;
        b[29] = 0xee;
        b
    }

    #[test]
    fn parse_and_cross_check() {
        let mut b = packet();
        Ipv4Packet::new_checked(&mut b[..]).unwrap().fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(p.verify_checksum());

        let e = etherparse::Ipv4HeaderSlice::from_slice(&b).unwrap();
        assert_eq!(e.header_checksum(), p.checksum());
        assert_eq!(e.to_header().calc_header_checksum(), p.checksum());
        assert_eq!(e.source(), p.src_bytes());
        assert_eq!(e.destination(), p.dst_bytes());
        assert_eq!(e.total_len(), p.total_len());
    }

    #[test]
    fn incremental_updates_match_recomputation() {
        let mut b = packet();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        p.set_ttl_incremental(63);
        p.set_src_addr_incremental(Ipv4Addr::new(10, 1, 2, 3));
        p.set_dst_addr_incremental(Ipv4Addr::new(172, 16, 255, 254));
        assert!(p.verify_checksum());
        let inc = p.checksum();
        p.fill_checksum();
        assert_eq!(inc, p.checksum());
    }

    #[test]
    fn emit() {
        let mut b = [0u8; 20];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_total_len(0x1c);
        p.set_ident(0x1c46);
        p.set_flags_frag(FLAG_DF);
        p.set_ttl(64);
        p.set_protocol(PROTO_UDP);
        p.set_src_addr(Ipv4Addr::new(192, 168, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(b, HEADER);
    }

    #[test]
    fn lengths_are_checked() {
        let b = packet();
        assert!(Ipv4Packet::new_checked(&b[..19]).is_err());
        // total_len 28 > 27 bytes of buffer
        assert!(Ipv4Packet::new_checked(&b[..27]).is_err());
        let mut bad = b;
        bad[0] = 0x44; // IHL 16 bytes
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        bad[0] = 0x4f; // IHL 60 bytes > buffer
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        let mut bad = b;
        bad[3] = 19; // total_len below the header length
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
    }

    #[test]
    fn options_and_fragments() {
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&HEADER);
        b[0] = 0x46;
        b[3] = 28;
        b[6] = 0x20; // MF, offset 0x0010 units
        b[7] = 0x10;
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload().len(), 4);
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 128);
        assert!(p.is_fragment());
    }
}
