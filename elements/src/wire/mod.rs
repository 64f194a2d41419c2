//! Wire formats: header offsets, views and checksums shared by the elements.
//!
//! Reading headers from untrusted packets goes through `etherparse`'s slices or through the
//! checked views here: a view validates the length once, after which no accessor panics.

pub mod arp;
pub mod checksum;
mod error;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::ArpPacket;
pub use error::Malformed;
pub use ethernet::EthernetFrame;
pub use icmpv4::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;
