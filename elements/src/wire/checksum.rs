//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// Adds `data` to a running one's-complement sum (partly folded, at most `0x1_ffff` plus
/// `acc`). Odd lengths are padded with a zero byte, as the RFC says.
///
/// Sums 32-bit big-endian words into a 64-bit accumulator: since 2^16 ≡ 1 (mod 2^16 - 1),
/// a word `hi·2^16 + lo` contributes exactly `hi + lo` once folded, and 64 bits cannot
/// overflow for any packet length.
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut wide = u64::from(acc);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        wide += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        wide += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        wide += u64::from(*last) << 8;
    }
    // Fold 64 → 32 → at most 17 bits.
    wide = (wide & 0xffff_ffff) + (wide >> 32);
    wide = (wide & 0xffff_ffff) + (wide >> 32);
    let w = wide as u32;
    (w & 0xffff) + (w >> 16)
}

/// Folds a running sum to 16 bits and complements it: the value to store in a header.
#[inline]
pub fn finish(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data` alone (an IPv4 header with its checksum field zeroed, an ICMP
/// message).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// The sum of the TCP/UDP pseudo-header for IPv4: addresses, protocol and length.
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u16) -> u32 {
    let acc = sum(0, &src);
    let acc = sum(acc, &dst);
    acc + u32::from(protocol) + u32::from(length)
}

/// Updates checksum `old_check` after a 16-bit field changed from `old` to `new`.
///
/// RFC 1624, equation 3: `HC' = ~(~HC + ~m + m')`, computed in one's complement so that
/// a result of `0x0000` is never produced from a non-zero sum (the RFC 1141 flaw).
#[inline]
pub fn update16(old_check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!old_check) + u32::from(!old) + u32::from(new);
    finish(acc)
}

/// Updates a checksum after a 32-bit field (an IPv4 address) changed.
#[inline]
pub fn update32(old_check: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    let hi = update16(
        old_check,
        u16::from_be_bytes([old[0], old[1]]),
        u16::from_be_bytes([new[0], new[1]]),
    );
    update16(
        hi,
        u16::from_be_bytes([old[2], old[3]]),
        u16::from_be_bytes([new[2], new[3]]),
    )
}

/// The checksum to store after an incremental update left `check` in the message `data` (the
/// whole checksummed message, `check` already stored in it).
///
/// An incremental update writes `0x0000` when the sum is one's-complement zero. That is a
/// valid checksum unless every byte of the message is zero: then the message's sum is +0 and
/// only `0xFFFF` makes it verify. This returns `0xFFFF` in that one case and `check` otherwise;
/// the scan runs only when `check` is zero.
#[inline]
pub fn fix_zero(check: u16, data: &[u8]) -> u16 {
    if check == 0 && data.iter().all(|&b| b == 0) {
        0xffff
    } else {
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An IPv4 header from RFC 1071's worked examples' style: checksum over a real header.
    const IP: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn header_with_its_checksum_sums_to_zero() {
        assert_eq!(checksum(&IP), 0);
        let mut h = IP;
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut h = IP;
        // Decrement TTL: the 16-bit word at offset 8 is (TTL, protocol).
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let inc = update16(u16::from_be_bytes([h[10], h[11]]), old, new);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(inc, checksum(&h));
    }

    #[test]
    fn address_update_matches_recomputation() {
        let mut h = IP;
        let old = [h[12], h[13], h[14], h[15]];
        let new = [10, 0, 0, 1];
        h[12..16].copy_from_slice(&new);
        let inc = update32(u16::from_be_bytes([IP[10], IP[11]]), old, new);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(inc, checksum(&h));
    }

    #[test]
    fn wide_sum_matches_the_rfc_1071_definition() {
        // Reference: 16-bit words summed one at a time, folded at the end.
        fn reference(data: &[u8]) -> u16 {
            let mut acc: u64 = 0;
            for c in data.chunks(2) {
                let hi = u64::from(c[0]) << 8;
                acc += hi | c.get(1).map_or(0, |&b| u64::from(b));
            }
            while acc >> 16 != 0 {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            !(acc as u16)
        }
        let mut data = [0u8; 1500];
        let mut x: u32 = 0x1234_5678;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        for len in (0..64).chain([1499, 1500]) {
            assert_eq!(
                checksum(&data[..len]),
                reference(&data[..len]),
                "length {len}"
            );
        }
        assert_eq!(checksum(&[0xff; 1500]), reference(&[0xff; 1500]));
    }

    #[test]
    fn a_zero_update_over_all_zero_data_becomes_all_ones() {
        // An echo request (8, 0) with identifier and sequence 0 turned into a reply (0, 0):
        // the incremental update gives 0x0000, which does not verify over all-zero bytes.
        let request = [8, 0, 0, 0, 0, 0, 0, 0];
        let c = update16(checksum(&request), 0x0800, 0);
        assert_eq!(c, 0);
        let reply = [0u8; 8];
        assert_eq!(fix_zero(c, &reply), 0xffff);
        let mut fixed = reply;
        fixed[2..4].copy_from_slice(&0xffffu16.to_be_bytes());
        assert_eq!(checksum(&fixed), 0);
        // Zero over non-zero data is a valid checksum and stays.
        let other = [0, 0, 0, 0, 0xff, 0xff, 0, 0];
        assert_eq!(checksum(&other), 0);
        assert_eq!(fix_zero(0, &other), 0);
        assert_eq!(fix_zero(0x1234, &reply), 0x1234);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0x01]), !0x0100);
    }
}
