//! The VM's network interfaces: virtio-net devices on virtio-mmio transports, found on the
//! kernel command line (or, when it names none, in the slots of QEMU's microvm machine:
//! [`microvm`]) and driven by `sluice_drivers::virtio::VirtioNet`.
//!
//! **Order and names.** QEMU's microvm gives the first `-device virtio-net-device` the
//! highest virtio-mmio slot (0xfeb00e00, IRQ 12), the next one the slot below, and so on,
//! and appends one `virtio_mmio.device=512@<base>:<irq>` entry per device to the kernel
//! command line. Interfaces are therefore numbered from the highest base address down, so the
//! launcher's first `--nic` is `eth0` = `FromDevice(0)`, the second `eth1` = `FromDevice(1)`.
//! Devices found by probing the slots are numbered the same way, so an image names its
//! interfaces alike whether the command line lists them or not. Entries on the command line
//! are authoritative: when there is any, the slots are not probed.
//!
//! **Counters.** Each interface shares its counters and the number of pool buffers its
//! rings hold through a [`NicInfo`], which the control channel reads as the global handlers
//! `eth0.rx_packets`, `eth0.buffers_held`, ... without reaching into the router. The driver's
//! contract-violation counters ([`VirtioNetMetrics`]: `eth0.rx_oversized`, `eth0.rx_runt`,
//! `eth0.rx_bad_id`, `eth0.tx_bad_id`) are read the same way.

mod hal;
pub mod microvm;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::Cell;

use sluice_dataplane::{Batch, DeviceStats, NetDevice, PacketPool};
use sluice_drivers::virtio::{VirtioNet, VirtioNetMetrics};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

pub use hal::KernelHal;

use crate::arch::paging;
use crate::pvh::{Cmdline, VirtioMmioDevice};

/// What the control channel can read about an interface while the router owns it.
#[derive(Debug)]
pub struct NicInfo {
    pub name: String,
    pub mac: [u8; 6],
    /// The interrupt line (GSI) the device raises.
    pub irq: u32,
    stats: Cell<DeviceStats>,
    metrics: Cell<VirtioNetMetrics>,
    buffers_held: Cell<usize>,
}

impl NicInfo {
    /// The device's counters as of its last poll.
    pub fn stats(&self) -> DeviceStats {
        self.stats.get()
    }

    /// The driver's contract-violation counters as of its last poll.
    pub fn metrics(&self) -> VirtioNetMetrics {
        self.metrics.get()
    }

    /// Pool buffers posted to the device's rings (RX buffers waiting for frames, TX frames
    /// not yet completed).
    pub fn buffers_held(&self) -> usize {
        self.buffers_held.get()
    }

    /// A read handler of this interface: a [`DeviceStats`] or [`VirtioNetMetrics`] counter,
    /// `buffers_held`, `mac`.
    pub fn read_handler(&self, handler: &str) -> Option<String> {
        match handler {
            "buffers_held" => Some(format!("{}", self.buffers_held())),
            "mac" => {
                let m = self.mac;
                Some(format!(
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                ))
            }
            other => self
                .stats()
                .get(other)
                .or_else(|| self.metrics().get(other))
                .map(|v| format!("{v}")),
        }
    }
}

/// A virtio-net interface, publishing its counters to its [`NicInfo`] after every call.
struct Nic<T: Transport> {
    device: VirtioNet<KernelHal, T>,
    info: Rc<NicInfo>,
}

impl<T: Transport> Nic<T> {
    #[inline]
    fn publish(&self) {
        self.info.stats.set(self.device.stats());
        self.info.metrics.set(self.device.metrics());
        self.info.buffers_held.set(self.device.buffers_held());
    }
}

impl<T: Transport> NetDevice for Nic<T> {
    fn name(&self) -> &str {
        self.device.name()
    }

    fn mac(&self) -> [u8; 6] {
        self.device.mac()
    }

    fn receive(&mut self, pool: &PacketPool, batch: &mut Batch) -> usize {
        let n = self.device.receive(pool, batch);
        self.publish();
        n
    }

    fn transmit(&mut self, batch: &mut Batch) -> usize {
        let n = self.device.transmit(batch);
        self.publish();
        n
    }

    fn poll(&mut self) {
        self.device.poll();
        self.publish();
    }

    fn arm_wakeup(&mut self) -> bool {
        self.device.arm_wakeup()
    }

    fn stats(&self) -> DeviceStats {
        self.device.stats()
    }
}

/// The interfaces found at boot.
#[derive(Default)]
pub struct Nics {
    /// For the router, in interface order.
    pub devices: Vec<Box<dyn NetDevice>>,
    /// For the control channel, in the same order.
    pub info: Vec<Rc<NicInfo>>,
}

/// Brings up every virtio-net device on the command line (without entries there, every one
/// in microvm's slots; `acpi`: the machine has ACPI, see [`microvm`]), in launcher order,
/// with receive buffers from `pool`. A device that fails is reported and skipped.
pub fn discover(cmdline: &Cmdline<'_>, acpi: bool, pool: &PacketPool) -> Nics {
    let listed = cmdline.virtio_mmio_devices().next().is_some();
    let found: Vec<VirtioMmioDevice> = if listed {
        cmdline
            .virtio_mmio_devices()
            .filter_map(|d| d.map_err(|e| log::warn!("{e}")).ok())
            .collect()
    } else {
        let found = microvm::probe(acpi);
        log::info!(
            "no virtio_mmio.device= on the command line: {} device(s) in microvm's virtio-mmio slots",
            found.len()
        );
        found
    };
    let slots: Vec<core::cmp::Reverse<VirtioMmioDevice>> =
        found.into_iter().map(core::cmp::Reverse).collect();
    let mut nics = Nics::default();
    // QEMU's microvm puts the first device of its command line in the highest slot, so
    // launcher order is address order from the top (a heapsort, for its small code).
    for core::cmp::Reverse(slot) in sluice_dataplane::sluice_config::heap_sorted(slots) {
        let name = format!("eth{}", nics.devices.len());
        match open_mmio(&slot, &name, pool) {
            Ok(Some(nic)) => {
                log::debug!("{name}: virtio-mmio {:#x}, GSI {}", slot.base, slot.irq);
                nics.info.push(nic.info.clone());
                nics.devices.push(Box::new(nic));
            }
            Ok(None) => {}
            Err(e) => log::warn!("virtio-mmio {:#x}: {e}", slot.base),
        }
    }
    nics
}

fn open_mmio(
    slot: &VirtioMmioDevice,
    name: &str,
    pool: &PacketPool,
) -> Result<Option<Nic<MmioTransport<'static>>>, String> {
    let size = usize::try_from(slot.size).map_err(|_| "region too large".to_string())?;
    let regs = paging::map_mmio(slot.base, slot.size).map_err(|e| format!("{e}"))?;
    // SAFETY: `regs` is an uncached identity mapping of the device's whole register window,
    // which the command line names and nothing else in the kernel touches; it stays mapped
    // for the life of the kernel.
    let transport = unsafe { MmioTransport::new(regs.cast::<VirtIOHeader>(), size) }
        .map_err(|e| format!("{e}"))?;
    if transport.device_type() != DeviceType::Network {
        log::info!(
            "virtio-mmio {:#x}: {:?} device, not a NIC: ignored",
            slot.base,
            transport.device_type()
        );
        return Ok(None);
    }
    let device = VirtioNet::new(transport, name, pool.clone()).map_err(|e| format!("{e}"))?;
    let info = Rc::new(NicInfo {
        name: name.into(),
        mac: device.mac(),
        irq: slot.irq,
        stats: Cell::new(DeviceStats::default()),
        metrics: Cell::new(VirtioNetMetrics::default()),
        buffers_held: Cell::new(0),
    });
    let nic = Nic { device, info };
    nic.publish();
    Ok(Some(nic))
}
