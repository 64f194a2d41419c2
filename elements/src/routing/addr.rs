//! Address arguments as Click's routing elements read them: prefixes with abbreviated
//! addresses (`18.26.4/24`, `0/0`), bare addresses standing for `/32`, and AddressInfo names.

use alloc::format;
use alloc::string::String;
use core::net::Ipv4Addr;

use sluice_config::args::{EtherAddr, FromArg, Ipv4Prefix, NameLookup};

/// The netmask of a prefix length (`0..=32`).
#[inline]
pub const fn mask_of(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

/// Parses an address that may be abbreviated, as Click allows in front of a prefix length:
/// `18.26.4` is `18.26.4.0`, `0` is `0.0.0.0`.
fn parse_partial_addr(s: &str) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        out[n] = part.parse().ok()?;
        n += 1;
    }
    (n > 0).then(|| Ipv4Addr::from(out))
}

/// Parses `ADDR/LEN`, `ADDR/MASK`, an abbreviated `ADDR/LEN`, a bare address (a /32), or an
/// AddressInfo name. With `prefer_address`, a name that stands for both an address and a
/// network resolves to the address (/32), as `ARPResponder` wants; otherwise to the network,
/// as `ARPQuerier` wants (it derives the broadcast address from the mask).
pub fn parse_prefix(
    text: &str,
    names: Option<&dyn NameLookup>,
    prefer_address: bool,
) -> Result<Ipv4Prefix, String> {
    let err = || format!("'{text}' is not an IP prefix (expected e.g. 10.0.0.0/8)");
    if let Some((a, l)) = text.split_once('/') {
        if let Some(addr) = parse_partial_addr(a) {
            if let Ok(len) = l.parse::<u8>() {
                return if len <= 32 {
                    Ok(Ipv4Prefix { addr, len })
                } else {
                    Err(err())
                };
            }
        }
        return Ipv4Prefix::from_arg(text, names).map_err(|_| err());
    }
    if let Ok(addr) = text.parse::<Ipv4Addr>() {
        return Ok(Ipv4Prefix { addr, len: 32 });
    }
    if let Some(n) = names {
        let as_addr = || {
            n.lookup(text, "ip")
                .and_then(|v| v.parse::<Ipv4Addr>().ok())
        };
        let as_net = || {
            n.lookup(text, "ipprefix")
                .and_then(|v| parse_prefix(&v, None, false).ok())
        };
        let found = if prefer_address {
            as_addr()
                .map(|addr| Ipv4Prefix { addr, len: 32 })
                .or_else(as_net)
        } else {
            match (as_net(), as_addr()) {
                // A name given an address and its network (`intern 10.0.0.1 10.0.0.0/24`,
                // as in Click's mazu-nat.click) is that address with the network's length.
                (Some(net), Some(addr))
                    if u32::from(addr) & mask_of(net.len) == u32::from(net.addr) =>
                {
                    Some(Ipv4Prefix { addr, len: net.len })
                }
                (Some(net), _) => Some(net),
                (None, addr) => addr.map(|addr| Ipv4Prefix { addr, len: 32 }),
            }
        };
        if let Some(p) = found {
            return Ok(p);
        }
    }
    Err(err())
}

/// Parses an IPv4 address or an AddressInfo name for one.
pub fn parse_ip(text: &str, names: Option<&dyn NameLookup>) -> Result<Ipv4Addr, String> {
    Ipv4Addr::from_arg(text, names)
}

/// Parses an Ethernet address or an AddressInfo name for one.
pub fn parse_ether(text: &str, names: Option<&dyn NameLookup>) -> Result<[u8; 6], String> {
    EtherAddr::from_arg(text, names).map(|e| e.0)
}

/// Click's textual form of an Ethernet address: upper-case hex, dash-separated.
pub fn unparse_ether(e: &[u8; 6]) -> String {
    format!(
        "{:02X}-{:02X}-{:02X}-{:02X}-{:02X}-{:02X}",
        e[0], e[1], e[2], e[3], e[4], e[5]
    )
}

/// `addr/len`, as Click prints a prefix.
pub fn unparse_prefix(addr: u32, len: u8) -> String {
    format!("{}/{}", Ipv4Addr::from(addr), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviated_prefixes() {
        let p = parse_prefix("18.26.4/24", None, false).unwrap();
        assert_eq!((p.addr, p.len), (Ipv4Addr::new(18, 26, 4, 0), 24));
        let p = parse_prefix("0/0", None, false).unwrap();
        assert_eq!((p.addr, p.len), (Ipv4Addr::UNSPECIFIED, 0));
        let p = parse_prefix("10.0.0.1", None, false).unwrap();
        assert_eq!(p.len, 32);
        let p = parse_prefix("10.0.0.0/255.255.0.0", None, false).unwrap();
        assert_eq!(p.len, 16);
        assert!(parse_prefix("10.0.0.0/33", None, false).is_err());
        assert!(parse_prefix("1.2.3.4.5/8", None, false).is_err());
        assert!(parse_prefix("bogus", None, false).is_err());
    }

    #[test]
    fn ether_text() {
        assert_eq!(
            unparse_ether(&[0, 0x1a, 0xff, 1, 2, 3]),
            "00-1A-FF-01-02-03"
        );
    }
}
