//! The VM's network interfaces: virtio-net devices on virtio-mmio (QEMU's microvm) or on PCI
//! (QEMU's q35), driven by `sluice_drivers::virtio::VirtioNet`. The same image runs on both:
//!
//! 1. `virtio_mmio.device=` entries on the kernel command line (what QEMU's microvm appends
//!    under `sluice boot`) are authoritative: those devices, and nothing else;
//! 2. without entries, a PCI host bridge at 00:00.0 means a PC: the virtio-net functions on
//!    its buses ([`pci`]);
//! 3. without either, the slots of QEMU's microvm machine are probed ([`microvm`]).
//!
//! **Order and names.** Interfaces are numbered in launcher order: the first `--nic` of
//! `sluice boot` or `sluice deploy libvirt` (the first `-device`, the first `<interface>`)
//! is `eth0` = `FromDevice(0)`, the second `eth1` = `FromDevice(1)`, and so on.
//!
//! - virtio-mmio: QEMU's microvm gives the first `-device virtio-net-device` the highest
//!   virtio-mmio slot (0xfeb00e00, IRQ 12), the next one the slot below, and so on, and
//!   appends one `virtio_mmio.device=512@<base>:<irq>` entry per device to the kernel command
//!   line. Interfaces are therefore numbered from the highest base address down, whether the
//!   command line lists them or the slots are probed.
//! - PCI: lowest address first, depth first through bridges (see [`pci`]'s `topology`).
//!   `sluice boot --machine q35` puts NIC `i` at 00:0(2+i).0 on the root bus; libvirt puts
//!   each `<interface>` behind a PCI Express root port of its own, the ports at 00:02.0,
//!   00:02.1, ... in the order of the XML, and the firmware numbers the buses below them in
//!   the same order.
//!
//! **Wake-ups.** Each interface's [`NicInfo`] names the I/O APIC line (GSI) it raises and how
//! ([`Trigger`]): virtio-mmio lines are edge-triggered, PCI INTx lines level-triggered (they
//! may be shared); see `arch::apic`.
//!
//! **Counters.** Each interface shares its counters and the number of pool buffers its
//! rings hold through a [`NicInfo`], which the control channel reads as the global handlers
//! `eth0.rx_packets`, `eth0.buffers_held`, ... without reaching into the router. The driver's
//! contract-violation counters ([`VirtioNetMetrics`]: `eth0.rx_oversized`, `eth0.rx_runt`,
//! `eth0.rx_bad_id`, `eth0.tx_bad_id`) are read the same way.

mod hal;
pub mod microvm;
pub mod pci;
mod transport;

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
pub use transport::NicTransport;

use crate::arch::apic::Trigger;
use crate::arch::paging;
use crate::pvh::{Cmdline, VirtioMmioDevice};

/// What the control channel can read about an interface while the router owns it.
#[derive(Debug)]
pub struct NicInfo {
    pub name: String,
    pub mac: [u8; 6],
    /// The interrupt line (GSI) the device raises; `None` when it has none (the CPU then
    /// cannot sleep: see `idle`).
    pub irq: Option<u32>,
    pub trigger: Trigger,
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
struct Nic {
    device: VirtioNet<KernelHal, NicTransport>,
    info: Rc<NicInfo>,
}

impl Nic {
    #[inline]
    fn publish(&self) {
        self.info.stats.set(self.device.stats());
        self.info.metrics.set(self.device.metrics());
        self.info.buffers_held.set(self.device.buffers_held());
    }
}

impl NetDevice for Nic {
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

impl Nics {
    fn add(&mut self, nic: Nic) {
        self.info.push(nic.info.clone());
        self.devices.push(Box::new(nic));
    }

    fn next_name(&self) -> String {
        format!("eth{}", self.devices.len())
    }
}

/// Brings up every virtio-net device (see the module docs for where they are looked for;
/// `acpi`: the machine has ACPI, see [`microvm`]), in launcher order, with receive buffers
/// from `pool`. A device that fails is reported and skipped.
pub fn discover(cmdline: &Cmdline<'_>, acpi: bool, pool: &PacketPool) -> Nics {
    let listed = cmdline.virtio_mmio_devices().next().is_some();
    let mut nics = Nics::default();
    if !listed {
        if let Some(functions) = pci::probe() {
            log::debug!("PCI: {} virtio-net function(s)", functions.len());
            for function in &functions {
                let name = nics.next_name();
                let trigger = Trigger::Level;
                match pci::transport(function)
                    .and_then(|t| open(NicTransport::Pci(t), &name, function.gsi, trigger, pool))
                {
                    Ok(nic) => {
                        log::debug!(
                            "{name}: virtio-pci {} ({:04x}), GSI {:?}",
                            function.address,
                            function.device_id,
                            function.gsi
                        );
                        nics.add(nic);
                    }
                    Err(e) => log::warn!("virtio-pci {}: {e}", function.address),
                }
            }
            return nics;
        }
    }
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
    // QEMU's microvm puts the first device of its command line in the highest slot, so
    // launcher order is address order from the top (a heapsort, for its small code).
    for core::cmp::Reverse(slot) in sluice_dataplane::sluice_config::heap_sorted(slots) {
        let name = nics.next_name();
        match mmio_transport(&slot) {
            Ok(Some(transport)) => match open(
                NicTransport::Mmio(transport),
                &name,
                Some(slot.irq),
                Trigger::Edge,
                pool,
            ) {
                Ok(nic) => {
                    log::debug!("{name}: virtio-mmio {:#x}, GSI {}", slot.base, slot.irq);
                    nics.add(nic);
                }
                Err(e) => log::warn!("virtio-mmio {:#x}: {e}", slot.base),
            },
            Ok(None) => {}
            Err(e) => log::warn!("virtio-mmio {:#x}: {e}", slot.base),
        }
    }
    nics
}

/// The transport of the virtio-mmio device in `slot`; `None` when it is not a NIC.
fn mmio_transport(slot: &VirtioMmioDevice) -> Result<Option<MmioTransport<'static>>, String> {
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
    Ok(Some(transport))
}

/// Brings up the NIC on `transport` as `name`, raising `irq` as `trigger` says.
fn open(
    transport: NicTransport,
    name: &str,
    irq: Option<u32>,
    trigger: Trigger,
    pool: &PacketPool,
) -> Result<Nic, String> {
    let device = VirtioNet::new(transport, name, pool.clone()).map_err(|e| format!("{e}"))?;
    let info = Rc::new(NicInfo {
        name: name.into(),
        mac: device.mac(),
        irq,
        trigger,
        stats: Cell::new(DeviceStats::default()),
        metrics: Cell::new(VirtioNetMetrics::default()),
        buffers_held: Cell::new(0),
    });
    let nic = Nic { device, info };
    nic.publish();
    Ok(nic)
}
