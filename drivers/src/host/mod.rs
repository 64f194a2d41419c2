//! Host network devices for `sluice run` (Linux, `std` feature): TAP devices and
//! `AF_PACKET` sockets on existing interfaces.
//!
//! [`open_host_device`] turns the device name an element was given into a device:
//!
//! | spec | device |
//! |---|---|
//! | `tap:NAME` | a new TAP interface `NAME` (`/dev/net/tun`, `IFF_TAP \| IFF_NO_PI`), brought up |
//! | `packet:NAME` or `NAME` | the existing interface `NAME`, through an `AF_PACKET` raw socket |
//!
//! A `?promisc` suffix (`eth0?promisc`) puts an `AF_PACKET` interface in promiscuous mode
//! for as long as the device is open. As in Click, a bare name (`FromDevice(eth0)`) means a
//! real interface; a TAP is only created when asked for.
//!
//! Both devices are non-blocking: `receive` takes what the kernel has queued and returns,
//! `transmit` leaves packets in the batch when the kernel's queue is full. Frames are read
//! straight into pool buffers and written straight from them.
//!
//! The device's [`NetDevice::name`] is the spec without options (`tap:sl0`, `eth0`), so a
//! `FromDevice` and a `ToDevice` naming the same spec share one device.
//!
//! This module holds the crate's host-side `unsafe` code: each block calls one system call
//! on a file descriptor the device owns, with buffers whose lengths are passed alongside.

use std::boxed::Box;
use std::string::{String, ToString};

use sluice_dataplane::NetDevice;

mod packet_socket;
mod sys;
mod tap;

pub use packet_socket::PacketSocketDevice;
pub use tap::TapDevice;

/// Writes packets from the front of `batch` with `send` until the kernel's queue is full
/// (`queue_full` says which errors mean that), removing those written or dropped; the rest
/// stay for a later call. Shared by both host devices' `transmit`.
fn transmit_frames(
    batch: &mut sluice_dataplane::Batch,
    stats: &mut sluice_dataplane::DeviceStats,
    mut send: impl FnMut(&[u8]) -> std::io::Result<usize>,
    queue_full: impl Fn(&std::io::Error) -> bool,
) -> usize {
    let mut taken = 0;
    while taken < batch.len() {
        match send(batch[taken].data()) {
            Ok(_) => {
                stats.tx_packets += 1;
                stats.tx_bytes += batch[taken].len() as u64;
                taken += 1;
            }
            Err(e) if queue_full(&e) => {
                stats.tx_ring_full += 1;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                // The interface is down, or the frame is malformed: drop it.
                stats.tx_dropped += 1;
                taken += 1;
            }
        }
    }
    batch.drain(..taken);
    taken
}

/// Options a device spec may carry after `?`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostDeviceOptions {
    /// Receive frames addressed to other hosts too (`AF_PACKET` only).
    pub promiscuous: bool,
}

/// What a spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostDeviceSpec {
    /// `tap:NAME`: create a TAP interface.
    Tap(String),
    /// `packet:NAME` or `NAME`: an existing interface through `AF_PACKET`.
    Interface(String),
}

/// Parses `tap:NAME`, `packet:NAME` or `NAME`, with an optional `?promisc`.
pub fn parse_spec(spec: &str) -> Result<(HostDeviceSpec, HostDeviceOptions), String> {
    let (base, opts) = spec.split_once('?').unwrap_or((spec, ""));
    let mut options = HostDeviceOptions::default();
    for o in opts.split([',', '&']).filter(|o| !o.is_empty()) {
        match o {
            "promisc" | "promisc=true" | "promiscuous" => options.promiscuous = true,
            "promisc=false" => options.promiscuous = false,
            _ => {
                return Err(format!(
                    "device '{spec}': unknown option '{o}' (known: promisc)"
                ))
            }
        }
    }
    let (kind, name) = match base.split_once(':') {
        Some(("tap", n)) => (HostDeviceSpec::Tap(n.to_string()), n),
        Some(("packet", n)) => (HostDeviceSpec::Interface(n.to_string()), n),
        Some((k, _)) => {
            return Err(format!(
                "device '{spec}': unknown kind '{k}' (use tap:NAME or an interface name)"
            ))
        }
        None => (HostDeviceSpec::Interface(base.to_string()), base),
    };
    sys::check_ifname(name).map_err(|m| format!("device '{spec}': {m}"))?;
    Ok((kind, options))
}

/// Opens the host device named by `spec` (see the module docs). Errors say what to do:
/// `cannot open TAP device 'tap0': Operation not permitted (run as root or give
/// CAP_NET_ADMIN)`.
pub fn open_host_device(spec: &str) -> Result<Box<dyn NetDevice>, String> {
    let (kind, options) = parse_spec(spec)?;
    Ok(match kind {
        HostDeviceSpec::Tap(name) => Box::new(TapDevice::open(&name)?),
        HostDeviceSpec::Interface(name) => Box::new(PacketSocketDevice::open(&name, options)?),
    })
}

#[cfg(test)]
mod tests;
