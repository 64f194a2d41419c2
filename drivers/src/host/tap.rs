//! TAP devices: an Ethernet interface in the host kernel whose wire is this process.

use std::io;
use std::os::fd::OwnedFd;
use std::string::String;

use sluice_dataplane::{Batch, DeviceStats, NetDevice, PacketPool, PacketType};

use super::sys;

/// A TAP interface (`tap:NAME`), created on open and removed when dropped (it is not made
/// persistent). Frames the kernel sends out of the interface are received here; frames
/// transmitted here arrive at the kernel as if from the wire.
#[derive(Debug)]
pub struct TapDevice {
    fd: OwnedFd,
    /// `tap:NAME`, as specs name it.
    spec: String,
    ifname: String,
    mac: [u8; 6],
    stats: DeviceStats,
}

fn open_error(name: &str, e: &io::Error, what: Option<&str>) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => " (run as root or give CAP_NET_ADMIN)",
        Some(libc::ENOENT) | Some(libc::ENODEV) => " (is the tun module loaded? modprobe tun)",
        Some(libc::EBUSY) => " (another program has it open)",
        Some(libc::EINVAL) => " (is there a non-TAP interface of that name?)",
        _ => "",
    };
    let what = what.map(|w| format!("{w}: ")).unwrap_or_default();
    format!(
        "cannot open TAP device '{name}': {what}{}{hint}",
        sys::describe(e)
    )
}

impl TapDevice {
    /// Creates (or attaches to) TAP interface `name` and brings it up.
    pub fn open(name: &str) -> Result<Self, String> {
        sys::check_ifname(name).map_err(|m| format!("cannot open TAP device '{name}': {m}"))?;
        let fd = sys::open_tun().map_err(|e| open_error(name, &e, Some("/dev/net/tun")))?;
        let ifname = sys::tun_set_tap(&fd, name).map_err(|e| open_error(name, &e, None))?;
        // Without the link up, the kernel neither sends on it nor accepts frames from it.
        sys::set_up(&ifname).map_err(|e| open_error(name, &e, Some("bringing it up")))?;
        let kernel_mac = sys::hw_addr(&ifname).map_err(|e| open_error(name, &e, None))?;
        Ok(Self {
            fd,
            spec: format!("tap:{ifname}"),
            mac: peer_mac(kernel_mac),
            ifname,
            stats: DeviceStats::default(),
        })
    }

    /// The kernel's name for the interface.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
}

/// This end of the wire needs an address of its own, distinct from the kernel side's:
/// a locally administered unicast address derived from it.
fn peer_mac(kernel: [u8; 6]) -> [u8; 6] {
    let mut m = kernel;
    m[0] = (m[0] | 0x02) & !0x01;
    m[5] ^= 0x01;
    m
}

/// Classifies a received frame by its destination, as a NIC would for the host.
pub(crate) fn packet_type(frame: &[u8], mac: &[u8; 6]) -> PacketType {
    match frame.get(0..6) {
        Some(d) if d == [0xff; 6] => PacketType::Broadcast,
        Some(d) if d[0] & 1 == 1 => PacketType::Multicast,
        Some(d) if d == mac => PacketType::Host,
        Some(_) => PacketType::OtherHost,
        None => PacketType::Host,
    }
}

impl NetDevice for TapDevice {
    fn name(&self) -> &str {
        &self.spec
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn receive(&mut self, pool: &PacketPool, batch: &mut Batch) -> usize {
        let room = pool.buffer_size() - pool.headroom();
        let mut n = 0;
        while !batch.is_full() {
            let Some(mut p) = pool.alloc(room) else {
                // No buffer: leave frames queued in the kernel for a later round.
                self.stats.rx_dropped += 1;
                break;
            };
            match sys::read(&self.fd, p.data_mut()) {
                Ok(0) => break,
                Ok(len) => {
                    if p.resize(len).is_err() {
                        self.stats.rx_dropped += 1;
                        continue;
                    }
                    p.anno_mut().packet_type = packet_type(p.data(), &self.mac);
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    batch.push(p);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: nothing more queued. Other errors (the interface went away)
                // look the same to the graph: no frames now.
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
            |frame| sys::write(fd, frame),
            |e| e.kind() == io::ErrorKind::WouldBlock,
        )
    }

    fn stats(&self) -> DeviceStats {
        self.stats
    }
}
