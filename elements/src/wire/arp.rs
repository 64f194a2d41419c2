//! ARP packets (RFC 826).
//!
//! The view is generic over the address lengths the packet declares; the usual case is
//! Ethernet (hardware length 6) and IPv4 (protocol length 4), see
//! [`ArpPacket::is_ethernet_ipv4`]. [`ArpPacket::new_checked`] checks the fixed part and the
//! four addresses fit; after that no accessor panics (address setters copy at most the
//! declared length).

use super::Malformed;

/// Fixed part of an ARP packet.
pub const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;
/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP request.
pub const OP_REQUEST: u16 = 1;
/// ARP reply.
pub const OP_REPLY: u16 = 2;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;

    #[inline]
    pub fn sha(hlen: usize, _plen: usize) -> Range<usize> {
        8..8 + hlen
    }
    #[inline]
    pub fn spa(hlen: usize, plen: usize) -> Range<usize> {
        8 + hlen..8 + hlen + plen
    }
    #[inline]
    pub fn tha(hlen: usize, plen: usize) -> Range<usize> {
        8 + hlen + plen..8 + 2 * hlen + plen
    }
    #[inline]
    pub fn tpa(hlen: usize, plen: usize) -> Range<usize> {
        8 + 2 * hlen + plen..8 + 2 * hlen + 2 * plen
    }
}

/// A view of an ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let s = &b[r];
    u16::from_be_bytes([s[0], s[1]])
}

#[inline]
fn copy_prefix(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    dst[..n].copy_from_slice(&src[..n]);
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking it; accessors may panic unless [`Self::check_len`]
    /// succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after checking the fixed part and the addresses fit.
    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks `8 + 2 × (hardware_len + protocol_len) <= buffer length`.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(Malformed);
        }
        let (h, p) = self.lens();
        if FIXED_LEN + 2 * (h + p) > len {
            return Err(Malformed);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn lens(&self) -> (usize, usize) {
        let b = self.buffer.as_ref();
        (usize::from(b[field::HLEN]), usize::from(b[field::PLEN]))
    }

    /// Hardware type ([`HTYPE_ETHERNET`]).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (an EtherType; 0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation ([`OP_REQUEST`], [`OP_REPLY`]).
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }

    /// Whether this is Ethernet/IPv4 ARP (hardware type 1, protocol 0x0800, lengths 6 and 4).
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == super::ethernet::ETHERTYPE_IPV4
            && self.lens() == (6, 4)
    }

    /// Sender hardware address.
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::sha(h, p)]
    }

    /// Sender protocol address.
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::spa(h, p)]
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::tha(h, p)]
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::tpa(h, p)]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, v: u16) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the sender hardware address (at most the declared length is copied).
    #[inline]
    pub fn set_source_hardware_addr(&mut self, a: &[u8]) {
        let (h, p) = self.lens();
        copy_prefix(&mut self.buffer.as_mut()[field::sha(h, p)], a);
    }

    /// Sets the sender protocol address (at most the declared length is copied).
    #[inline]
    pub fn set_source_protocol_addr(&mut self, a: &[u8]) {
        let (h, p) = self.lens();
        copy_prefix(&mut self.buffer.as_mut()[field::spa(h, p)], a);
    }

    /// Sets the target hardware address (at most the declared length is copied).
    #[inline]
    pub fn set_target_hardware_addr(&mut self, a: &[u8]) {
        let (h, p) = self.lens();
        copy_prefix(&mut self.buffer.as_mut()[field::tha(h, p)], a);
    }

    /// Sets the target protocol address (at most the declared length is copied).
    #[inline]
    pub fn set_target_protocol_addr(&mut self, a: &[u8]) {
        let (h, p) = self.lens();
        copy_prefix(&mut self.buffer.as_mut()[field::tpa(h, p)], a);
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the fixed part of an Ethernet/IPv4 ARP packet (types, lengths, `op`) into a
    /// buffer of at least [`ETHERNET_IPV4_LEN`] bytes; the addresses are left to the caller.
    pub fn init_ethernet_ipv4(buffer: T, op: u16) -> Result<Self, Malformed> {
        let mut buffer = buffer;
        let b = buffer.as_mut();
        if b.len() < ETHERNET_IPV4_LEN {
            return Err(Malformed);
        }
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        let mut p = Self::new_unchecked(buffer);
        p.set_hardware_type(HTYPE_ETHERNET);
        p.set_protocol_type(super::ethernet::ETHERTYPE_IPV4);
        p.set_operation(op);
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 10.0.0.2? Tell 10.0.0.1 (02:00:00:00:00:01).
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // fixed
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 0, 2, // target
    ];

    #[test]
    fn parse_and_cross_check() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.source_hardware_addr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(p.source_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &[10, 0, 0, 2]);
        let e = etherparse::ArpPacketSlice::from_slice(&REQUEST).unwrap();
        assert_eq!(e.operation().0, p.operation());
        assert_eq!(e.sender_hw_addr(), p.source_hardware_addr());
        assert_eq!(e.target_protocol_addr(), p.target_protocol_addr());
    }

    #[test]
    fn emit() {
        let mut b = [0u8; 28];
        let mut p = ArpPacket::init_ethernet_ipv4(&mut b[..], OP_REQUEST).unwrap();
        p.set_source_hardware_addr(&[2, 0, 0, 0, 0, 1]);
        p.set_source_protocol_addr(&[10, 0, 0, 1]);
        p.set_target_protocol_addr(&[10, 0, 0, 2]);
        assert_eq!(b, REQUEST);
    }

    #[test]
    fn lengths_are_checked() {
        assert!(ArpPacket::new_checked(&REQUEST[..7]).is_err());
        assert!(ArpPacket::new_checked(&REQUEST[..27]).is_err());
        let mut b = REQUEST;
        b[4] = 200;
        assert!(ArpPacket::new_checked(&b[..]).is_err());
        b[4] = 0;
        b[5] = 0;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.is_ethernet_ipv4());
        assert!(p.source_hardware_addr().is_empty());
        let mut b2 = b;
        ArpPacket::new_checked(&mut b2[..])
            .unwrap()
            .set_source_hardware_addr(&[1, 2, 3]);
        assert_eq!(b2, b);
    }
}
