//! `AF_PACKET` raw sockets: frames of an existing interface (`eth0`, `veth1`).

use std::io;
use std::os::fd::OwnedFd;
use std::string::String;

use sluice_dataplane::{Batch, DeviceStats, NetDevice, PacketPool, PacketType};

use super::{sys, HostDeviceOptions};

/// `PACKET_OUTGOING`: a copy of a frame this host sent, which a capture socket also sees.
const PACKET_OUTGOING: u8 = 4;

/// An existing interface, through a non-blocking `AF_PACKET` socket bound to it. Frames
/// the host itself sends on the interface are not received (Click's FromDevice ignores
/// them too), so a router does not see its own output.
#[derive(Debug)]
pub struct PacketSocketDevice {
    fd: OwnedFd,
    name: String,
    mac: [u8; 6],
    stats: DeviceStats,
}

fn open_error(name: &str, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => " (run as root or give CAP_NET_RAW)",
        Some(libc::ENODEV) => " (no such interface; use tap:NAME to create a TAP device)",
        _ => "",
    };
    format!("cannot open interface '{name}': {}{hint}", sys::describe(e))
}

impl PacketSocketDevice {
    /// Opens interface `name`.
    pub fn open(name: &str, options: HostDeviceOptions) -> Result<Self, String> {
        sys::check_ifname(name).map_err(|m| format!("cannot open interface '{name}': {m}"))?;
        let ifindex = sys::if_index(name).map_err(|e| open_error(name, &e))?;
        let fd = sys::packet_socket(ifindex).map_err(|e| open_error(name, &e))?;
        if options.promiscuous {
            sys::add_promiscuous(&fd, ifindex).map_err(|e| open_error(name, &e))?;
        }
        let mac = sys::hw_addr(name).map_err(|e| open_error(name, &e))?;
        Ok(Self {
            fd,
            name: name.into(),
            mac,
            stats: DeviceStats::default(),
        })
    }
}

fn packet_type(kernel: u8) -> PacketType {
    match kernel {
        1 => PacketType::Broadcast,
        2 => PacketType::Multicast,
        3 => PacketType::OtherHost,
        4 => PacketType::Outgoing,
        _ => PacketType::Host,
    }
}

impl NetDevice for PacketSocketDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn receive(&mut self, pool: &PacketPool, batch: &mut Batch) -> usize {
        let room = pool.buffer_size() - pool.headroom();
        let mut n = 0;
        while !batch.is_full() {
            let Some(mut p) = pool.alloc(room) else {
                self.stats.rx_dropped += 1;
                break;
            };
            match sys::recv_frame(&self.fd, p.data_mut()) {
                Ok((_, PACKET_OUTGOING)) => {}
                Ok((len, _)) if len > room => {
                    // Longer than a buffer (offloads can hand up 64 KiB frames).
                    self.stats.rx_dropped += 1;
                }
                Ok((len, kind)) => {
                    if p.resize(len).is_err() {
                        self.stats.rx_dropped += 1;
                        continue;
                    }
                    p.anno_mut().packet_type = packet_type(kind);
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    batch.push(p);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        n
    }

    fn transmit(&mut self, batch: &mut Batch) -> usize {
        let fd = &self.fd;
        super::transmit_frames(
            batch,
            &mut self.stats,
            |frame| sys::send(fd, frame),
            |e| e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS),
        )
    }

    fn stats(&self) -> DeviceStats {
        self.stats
    }
}
