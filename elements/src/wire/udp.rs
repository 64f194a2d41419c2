//! UDP headers (RFC 768).
//!
//! [`UdpPacket::new_checked`] checks the 8-byte header is present and that the length field
//! lies between 8 and the buffer length; the datagram is the first `len()` bytes, anything
//! after it is ignored. After that no accessor panics.

use super::checksum;
use super::Malformed;

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// Byte offset of the checksum within the UDP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let s = &b[r];
    u16::from_be_bytes([s[0], s[1]])
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking it; accessors may panic unless [`Self::check_len`]
    /// succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` after checking its lengths.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks `8 <= len() <= buffer length`.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let blen = self.buffer.as_ref().len();
        if blen < HEADER_LEN {
            return Err(Malformed);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > blen {
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

    /// The length field: header plus payload.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum as stored (0: none was computed).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload: from the end of the header to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..usize::from(self.len())]
    }

    /// The checksum this datagram should carry for pseudo-header addresses `src`, `dst`
    /// (never 0: a computed 0 is sent as 0xffff, RFC 768).
    #[inline]
    pub fn compute_checksum(&self, src: [u8; 4], dst: [u8; 4]) -> u16 {
        let len = self.len();
        let b = &self.buffer.as_ref()[..usize::from(len)];
        let acc = checksum::pseudo_header_v4(src, dst, super::ipv4::PROTO_UDP, len);
        // Sum with the stored checksum treated as zero.
        let acc = checksum::sum(acc, &b[..field::CHECKSUM.start]);
        let acc = checksum::sum(acc, &b[field::CHECKSUM.end..]);
        match checksum::finish(acc) {
            0 => 0xffff,
            c => c,
        }
    }

    /// Whether the checksum is correct; a zero checksum ("none") counts as correct.
    #[inline]
    pub fn verify_checksum(&self, src: [u8; 4], dst: [u8; 4]) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let b = &self.buffer.as_ref()[..usize::from(len)];
        let acc = checksum::pseudo_header_v4(src, dst, super::ipv4::PROTO_UDP, len);
        checksum::finish(checksum::sum(acc, b)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
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

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Stores `c` as the checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Recomputes the checksum for pseudo-header addresses `src`, `dst`.
    #[inline]
    pub fn fill_checksum(&mut self, src: [u8; 4], dst: [u8; 4]) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }

    /// Updates the checksum after a 16-bit word of the datagram or of the pseudo-header
    /// changed from `old` to `new`. A zero checksum ("none") stays zero; a result of zero is
    /// stored as 0xffff.
    #[inline]
    pub fn update_checksum16(&mut self, old: u16, new: u16) {
        let c = self.checksum();
        if c != 0 {
            let c = match checksum::update16(c, old, new) {
                0 => 0xffff,
                c => c,
            };
            self.set_checksum(c);
        }
    }

    /// Updates the checksum after an address of the pseudo-header changed (NAT); see
    /// [`Self::update_checksum16`].
    #[inline]
    pub fn update_checksum_addr(&mut self, old: [u8; 4], new: [u8; 4]) {
        self.update_checksum16(
            u16::from_be_bytes([old[0], old[1]]),
            u16::from_be_bytes([new[0], new[1]]),
        );
        self.update_checksum16(
            u16::from_be_bytes([old[2], old[3]]),
            u16::from_be_bytes([new[2], new[3]]),
        );
    }

    /// Sets the source port and updates the checksum incrementally.
    #[inline]
    pub fn set_src_port_incremental(&mut self, v: u16) {
        self.update_checksum16(self.src_port(), v);
        self.set_src_port(v);
    }

    /// Sets the destination port and updates the checksum incrementally.
    #[inline]
    pub fn set_dst_port_incremental(&mut self, v: u16) {
        self.update_checksum16(self.dst_port(), v);
        self.set_dst_port(v);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 4] = [192, 168, 1, 10];
    const DST: [u8; 4] = [8, 8, 8, 8];

    // 5353 -> 53, length 13, "hello", then 3 bytes of trailing padding.
    static DATAGRAM: [u8; 16] = [
        0x14, 0xe9, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o', 0, 0, 0,
    ];

    #[test]
    fn parse_and_checksum_cross_check() {
        let mut b = DATAGRAM;
        UdpPacket::new_checked(&mut b[..])
            .unwrap()
            .fill_checksum(SRC, DST);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 5353);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 13);
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(SRC, DST));
        let e = etherparse::UdpHeaderSlice::from_slice(&b)
            .unwrap()
            .to_header();
        assert_eq!(
            e.calc_checksum_ipv4_raw(SRC, DST, b"hello").unwrap(),
            p.checksum()
        );
    }

    #[test]
    fn incremental_updates_match_recomputation() {
        let mut b = DATAGRAM;
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(SRC, DST);
        p.set_src_port_incremental(1);
        p.set_dst_port_incremental(65535);
        let new_dst = [1, 1, 1, 1];
        p.update_checksum_addr(DST, new_dst);
        assert!(p.verify_checksum(SRC, new_dst));
        assert_eq!(p.checksum(), p.compute_checksum(SRC, new_dst));
        // No checksum stays no checksum.
        p.set_checksum(0);
        p.set_src_port_incremental(2);
        assert_eq!(p.checksum(), 0);
    }

    #[test]
    fn lengths_are_checked() {
        assert!(UdpPacket::new_checked(&DATAGRAM[..7]).is_err());
        assert!(UdpPacket::new_checked(&DATAGRAM[..12]).is_err()); // length 13 > 12
        let mut b = DATAGRAM;
        b[5] = 7;
        assert!(UdpPacket::new_checked(&b[..]).is_err());
    }
}
