//! ICMPv4 messages (RFC 792).
//!
//! Every ICMP message starts with 8 bytes: type, code, checksum and four type-specific bytes
//! (identifier and sequence number for echo, the gateway for redirect, the next-hop MTU for
//! "fragmentation needed"). [`IcmpPacket::new_checked`] checks those 8 bytes are present; the
//! view covers the whole buffer (the checksum is computed over all of it).

use super::checksum;
use super::Malformed;

/// Length of the ICMP header.
pub const HEADER_LEN: usize = 8;

/// Echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const TYPE_UNREACH: u8 = 3;
/// Source quench.
pub const TYPE_SOURCE_QUENCH: u8 = 4;
/// Redirect.
pub const TYPE_REDIRECT: u8 = 5;
/// Echo request.
pub const TYPE_ECHO: u8 = 8;
/// Time exceeded.
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Parameter problem.
pub const TYPE_PARAM_PROBLEM: u8 = 12;
/// Timestamp request.
pub const TYPE_TIMESTAMP: u8 = 13;
/// Timestamp reply.
pub const TYPE_TIMESTAMP_REPLY: u8 = 14;
/// Information request.
pub const TYPE_INFO_REQUEST: u8 = 15;
/// Information reply.
pub const TYPE_INFO_REPLY: u8 = 16;
/// Address mask request.
pub const TYPE_MASK_REQUEST: u8 = 17;
/// Address mask reply.
pub const TYPE_MASK_REPLY: u8 = 18;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const IDENT: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let s = &b[r];
    u16::from_be_bytes([s[0], s[1]])
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps `buffer` without checking it; accessors may panic unless [`Self::check_len`]
    /// succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps `buffer` after checking the 8-byte header is present.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the 8-byte header is present.
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Malformed)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (bytes 4-5).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number (bytes 6-7).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SEQ)
    }

    /// The four type-specific bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        let s = &self.buffer.as_ref()[field::REST];
        [s[0], s[1], s[2], s[3]]
    }

    /// Everything after the 8-byte header (echo data, or the quoted IP header of an error).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// Whether the checksum over the whole message is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type (checksum untouched).
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the code (checksum untouched).
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Stores `c` as the checksum.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the echo identifier (checksum untouched).
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the echo sequence number (checksum untouched).
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the four type-specific bytes.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v);
    }

    /// Recomputes the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Updates the checksum after a 16-bit word of the message changed from `old` to `new`.
    #[inline]
    pub fn update_checksum16(&mut self, old: u16, new: u16) {
        let c = checksum::update16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Sets the echo identifier and updates the checksum incrementally (ICMP ping NAT).
    #[inline]
    pub fn set_echo_ident_incremental(&mut self, v: u16) {
        self.update_checksum16(self.echo_ident(), v);
        self.set_echo_ident(v);
    }

    /// The data after the header, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request, id 0x1234, seq 1, data "abcd".
    static ECHO: [u8; 12] = [8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd'];

    #[test]
    fn parse_and_checksum_cross_check() {
        let mut b = ECHO;
        IcmpPacket::new_checked(&mut b[..]).unwrap().fill_checksum();
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), TYPE_ECHO);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), b"abcd");
        assert!(p.verify_checksum());
        let e = etherparse::Icmpv4Slice::from_slice(&b).unwrap();
        assert_eq!(e.header().checksum, p.checksum());
        assert_eq!(e.header().icmp_type.calc_checksum(b"abcd"), p.checksum());
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut b = ECHO;
        let mut p = IcmpPacket::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        p.set_echo_ident_incremental(0xbeef);
        let old_type = u16::from_be_bytes([p.msg_type(), p.msg_code()]);
        p.set_msg_type(TYPE_ECHO_REPLY);
        p.update_checksum16(old_type, 0);
        assert!(p.verify_checksum());
    }

    #[test]
    fn too_short() {
        assert!(IcmpPacket::new_checked(&ECHO[..7]).is_err());
        assert!(IcmpPacket::new_checked(&ECHO[..8])
            .unwrap()
            .data()
            .is_empty());
    }
}
