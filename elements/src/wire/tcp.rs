//! TCP headers (RFC 9293).
//!
//! The view wraps one whole segment: header, options and payload, nothing after it (slice
//! an IP packet's [`payload`](super::ipv4::Ipv4Packet::payload) to get one).
//! [`TcpPacket::new_checked`] checks the fixed header is present and that the data offset is
//! at least 20 and fits; after that no accessor panics.

use super::checksum;
use super::Malformed;

/// Length of a TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// FIN flag.
pub const FLAG_FIN: u16 = 0x001;
/// SYN flag.
pub const FLAG_SYN: u16 = 0x002;
/// RST flag.
pub const FLAG_RST: u16 = 0x004;
/// PSH flag.
pub const FLAG_PSH: u16 = 0x008;
/// ACK flag.
pub const FLAG_ACK: u16 = 0x010;
/// URG flag.
pub const FLAG_URG: u16 = 0x020;
/// ECE flag.
pub const FLAG_ECE: u16 = 0x040;
/// CWR flag.
pub const FLAG_CWR: u16 = 0x080;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const OFF_FLAGS: Range<usize> = 12..14;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Byte offset of the checksum within the TCP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let s = &b[r];
    u16::from_be_bytes([s[0], s[1]])
}

#[inline]
fn be32(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    let s = &b[r];
    u32::from_be_bytes([s[0], s[1], s[2], s[3]])
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking it; accessors may panic unless [`Self::check_len`]
    /// succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after checking the header fits.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks `20 <= header_len <= buffer length`.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Malformed);
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN || hl > len {
            return Err(Malformed);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFF_FLAGS.start] >> 4) * 4
    }

    /// The flag bits ([`FLAG_FIN`] ... [`FLAG_CWR`], plus the NS bit at 0x100).
    #[inline]
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OFF_FLAGS) & 0x01ff
    }

    /// FIN set.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    /// SYN set.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    /// RST set.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    /// PSH set.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & FLAG_PSH != 0
    }

    /// ACK set.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    /// URG set.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & FLAG_URG != 0
    }

    /// Window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }

    /// Options (may be empty).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Payload: everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum over the pseudo-header (`src`, `dst`) and the segment is correct.
    #[inline]
    pub fn verify_checksum(&self, src: [u8; 4], dst: [u8; 4]) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u16::try_from(b.len()) else {
            return false;
        };
        let acc = checksum::pseudo_header_v4(src, dst, super::ipv4::PROTO_TCP, len);
        checksum::finish(checksum::sum(acc, b)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port (checksum untouched).
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the destination port (checksum untouched).
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::ACK].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4, at most 60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::OFF_FLAGS.start];
        *b = (*b & 0x0f) | (((len / 4) as u8 & 0x0f) << 4);
    }

    /// Sets the flag bits (nine bits; the data offset is kept).
    #[inline]
    pub fn set_flags(&mut self, flags: u16) {
        let b = self.buffer.as_mut();
        let off = b[field::OFF_FLAGS.start] & 0xf0;
        b[field::OFF_FLAGS.start] = off | ((flags >> 8) as u8 & 1);
        b[field::OFF_FLAGS.start + 1] = flags as u8;
    }

    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::WINDOW].copy_from_slice(&v.to_be_bytes());
    }

    /// Stores `c` as the checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Recomputes the checksum over the pseudo-header (`src`, `dst`) and the whole buffer.
    /// Segments longer than 65535 bytes cannot exist in IPv4; their checksum is left alone.
    #[inline]
    pub fn fill_checksum(&mut self, src: [u8; 4], dst: [u8; 4]) {
        let Ok(len) = u16::try_from(self.buffer.as_ref().len()) else {
            return;
        };
        self.set_checksum(0);
        let acc = checksum::pseudo_header_v4(src, dst, super::ipv4::PROTO_TCP, len);
        let c = checksum::finish(checksum::sum(acc, self.buffer.as_ref()));
        self.set_checksum(c);
    }

    /// Updates the checksum after an address of the pseudo-header changed from `old` to
    /// `new` (NAT).
    #[inline]
    pub fn update_checksum_addr(&mut self, old: [u8; 4], new: [u8; 4]) {
        let c = checksum::update32(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets the source port and updates the checksum incrementally.
    #[inline]
    pub fn set_src_port_incremental(&mut self, v: u16) {
        let c = checksum::update16(self.checksum(), self.src_port(), v);
        self.set_src_port(v);
        self.set_checksum(c);
    }

    /// Sets the destination port and updates the checksum incrementally.
    #[inline]
    pub fn set_dst_port_incremental(&mut self, v: u16) {
        let c = checksum::update16(self.checksum(), self.dst_port(), v);
        self.set_dst_port(v);
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
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [10, 0, 0, 2];

    // 1234 -> 80, seq 1, ack 0, SYN, window 65535, MSS option, then "hi".
    static SEGMENT: [u8; 26] = [
        0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, b'h', b'i',
    ];

    #[test]
    fn parse_and_checksum_cross_check() {
        let mut b = SEGMENT;
        TcpPacket::new_checked(&mut b[..])
            .unwrap()
            .fill_checksum(SRC, DST);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 1234);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 1);
        assert_eq!(p.header_len(), 24);
        assert!(p.syn() && !p.ack() && !p.fin());
        assert_eq!(p.window_len(), 65535);
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(p.payload(), b"hi");
        assert!(p.verify_checksum(SRC, DST));

        let e = etherparse::TcpHeaderSlice::from_slice(&b)
            .unwrap()
            .to_header();
        assert_eq!(
            e.calc_checksum_ipv4_raw(SRC, DST, b"hi").unwrap(),
            p.checksum()
        );
    }

    #[test]
    fn incremental_updates_match_recomputation() {
        let mut b = SEGMENT;
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(SRC, DST);
        p.set_src_port_incremental(40000);
        p.set_dst_port_incremental(8080);
        let new_src = [192, 0, 2, 77];
        p.update_checksum_addr(SRC, new_src);
        assert!(p.verify_checksum(new_src, DST));
    }

    #[test]
    fn emit_flags() {
        let mut b = SEGMENT;
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        p.set_flags(FLAG_SYN | FLAG_ACK);
        assert_eq!(p.header_len(), 24);
        assert!(p.syn() && p.ack());
        p.set_header_len(20);
        assert_eq!(p.header_len(), 20);
        assert_eq!(b[12], 0x50);
        assert_eq!(b[13], 0x12);
    }

    #[test]
    fn lengths_are_checked() {
        assert!(TcpPacket::new_checked(&SEGMENT[..19]).is_err());
        assert!(TcpPacket::new_checked(&SEGMENT[..23]).is_err()); // offset 24 > 23
        let mut b = SEGMENT;
        b[12] = 0x40; // offset 16 < 20
        assert!(TcpPacket::new_checked(&b[..]).is_err());
    }
}
