//! virtio-net functions on PCI: QEMU's `q35` machine (with `sluice boot --machine q35` or a
//! libvirt q35 domain) and other PCs.
//!
//! Configuration space is read through I/O ports 0xCF8/0xCFC (configuration mechanism #1,
//! which every PC host bridge has), so no ACPI table (MCFG) is needed to find it; a machine
//! where no host bridge answers at 00:00.0 (microvm) has no PCI. [`topology`] finds the
//! virtio-net functions, transitional (device id 0x1000) or modern (0x1041), in interface
//! order, and their interrupt lines. Each is driven through its modern interface
//! (`virtio-drivers`' [`PciTransport`], over the vendor capabilities).
//!
//! **Firmware.** A PVH kernel on q35 is started by SeaBIOS, which has assigned every BAR and
//! numbered the buses behind bridges before the kernel runs; they are used as it left them. A
//! function whose BAR has no address is reported and skipped, and so is one whose queues
//! would be notified outside the region it declares (`PciTransport` would panic). Memory
//! decoding and bus mastering are turned on for each NIC and the bridges above it, and INTx
//! is left enabled: it is what wakes a sleeping CPU (MSI-X stays off).

mod topology;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use virtio_drivers::transport::pci::bus::{
    BarInfo, Command, ConfigurationAccess, DeviceFunction, PciRoot, PCI_CAP_ID_VNDR,
};
use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};
use x86_64::instructions::port::Port;

pub use topology::{Address, Function};

use super::KernelHal;
use crate::arch::paging;

/// The configuration address port: enable bit, bus, device, function, register.
const CONFIG_ADDRESS: u16 = 0xcf8;
/// The configuration data port: the register `CONFIG_ADDRESS` selects.
const CONFIG_DATA: u16 = 0xcfc;
/// Offsets in a virtio vendor capability (`virtio_pci_cap`, `virtio_pci_notify_cap`): the
/// BAR number, the structure's offset in the BAR and its length, the notification
/// multiplier.
const CAP_BAR: u8 = 4;
const CAP_OFFSET: u8 = 8;
const CAP_LENGTH: u8 = 12;
const CAP_NOTIFY_MULTIPLIER: u8 = 16;

/// Configuration space through configuration mechanism #1.
///
/// An access is two port operations (select, then read or write), never interleaved with
/// another: the kernel runs on one CPU, and interrupt handlers do not touch PCI.
#[derive(Debug)]
pub struct PortCam;

impl PortCam {
    fn select(at: DeviceFunction, offset: u8) {
        let address = 1 << 31
            | u32::from(at.bus) << 16
            | u32::from(at.device & 0x1f) << 11
            | u32::from(at.function & 0x7) << 8
            | u32::from(offset & 0xfc);
        // SAFETY: port 0xCF8 is the host bridge's configuration address register (or
        // nothing, on a machine without PCI); selecting a register touches no memory.
        unsafe { Port::<u32>::new(CONFIG_ADDRESS).write(address) };
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, at: DeviceFunction, offset: u8) -> u32 {
        Self::select(at, offset);
        // SAFETY: port 0xCFC reads the register just selected (all ones where no function
        // answers); reading configuration space touches no memory.
        unsafe { Port::<u32>::new(CONFIG_DATA).read() }
    }

    fn write_word(&mut self, at: DeviceFunction, offset: u8, data: u32) {
        Self::select(at, offset);
        // SAFETY: port 0xCFC writes the register just selected; the callers (this module and
        // `PciTransport`) only write a function's command register and size its BARs, which
        // changes where its registers decode, never RAM.
        unsafe { Port::<u32>::new(CONFIG_DATA).write(data) };
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

impl topology::ConfigRead for PortCam {
    fn read(&self, at: Address, offset: u8) -> u32 {
        self.read_word(device_function(at), offset)
    }
}

fn device_function(at: Address) -> DeviceFunction {
    DeviceFunction {
        bus: at.bus,
        device: at.device,
        function: at.function,
    }
}

/// The virtio-net functions on PCI, in interface order; `None` on a machine without PCI.
pub fn probe() -> Option<Vec<Function>> {
    topology::has_host_bridge(&PortCam).then(|| topology::scan(&PortCam))
}

/// Makes `function` reachable (its bridges and itself decode memory and may master the bus),
/// maps its memory BARs and opens its virtio transport.
pub fn transport(function: &Function) -> Result<PciTransport, String> {
    let mut root = PciRoot::new(PortCam);
    for bridge in &function.bridges {
        enable(&mut root, device_function(*bridge));
    }
    let at = device_function(function.address);
    // Decoding stays off until the transport is made: sizing a BAR while the function
    // decodes makes `bar_info` turn decoding off and on around it, and every such change
    // remaps the function's regions in the hypervisor (under TCG, milliseconds a NIC).
    let (_, command) = root.get_status_command(at);
    root.set_command(at, command - (Command::IO_SPACE | Command::MEMORY_SPACE));
    let caps = VirtioCaps::read(&root, at);
    // The BARs holding the virtio structures, mapped here: `PciTransport` maps its pieces of
    // them through the HAL, which cannot fail without a panic. (address, size) of each.
    let mut mapped = [(0u64, 0u64); 6];
    for index in (0..6).filter(|i| caps.bars & 1 << i != 0) {
        let bar = root
            .bar_info(at, index)
            .map_err(|e| format!("BAR {index}: {e}"))?;
        if let Some(BarInfo::Memory { address, size, .. }) = bar {
            if address != 0 && size != 0 {
                paging::map_mmio(address, size)
                    .map_err(|e| format!("cannot map BAR {index} ({address:#x}+{size:#x}): {e}"))?;
                mapped[usize::from(index)] = (address, size);
            }
        }
    }
    let transport = PciTransport::new::<KernelHal, _>(&mut root, at).map_err(|e| match e {
        VirtioPciError::BarNotAllocated(bar) => format!(
            "BAR {bar} has no address: the firmware did not assign it (SeaBIOS does on q35; \
             sluice does not assign BARs itself)"
        ),
        other => format!("{other}"),
    })?;
    enable(&mut root, at);
    if !caps.notify_offsets_fit(&mapped) {
        return Err(
            "its virtio common configuration or a queue's notification address lies \
                    outside the regions the device declares"
                .into(),
        );
    }
    Ok(transport)
}

/// `virtio_pci_cap.cfg_type` of the common configuration and of the notification region.
const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
/// `virtio_pci_common_cfg` register offsets.
const COMMON_QUEUE_SELECT: u64 = 0x16;
const COMMON_QUEUE_NOTIFY_OFF: u64 = 0x1e;

/// What the virtio vendor capabilities of a function say, as far as this module checks it.
struct VirtioCaps {
    /// The BARs they name, one bit each.
    bars: u8,
    /// The first common configuration structure: BAR and offset.
    common: Option<(u8, u32)>,
    /// The first notification structure: length and `notify_off_multiplier`.
    notify: Option<(u32, u32)>,
}

impl VirtioCaps {
    fn read(root: &PciRoot<PortCam>, at: DeviceFunction) -> Self {
        let mut caps = VirtioCaps {
            bars: 0,
            common: None,
            notify: None,
        };
        for cap in root
            .capabilities(at)
            .filter(|cap| cap.id == PCI_CAP_ID_VNDR)
        {
            let word = |offset: u8| PortCam.read_word(at, cap.offset + offset);
            let (length, kind) = (cap.private_header as u8, (cap.private_header >> 8) as u8);
            let bar = word(CAP_BAR) as u8;
            if bar < 6 {
                caps.bars |= 1 << bar;
            }
            // The first structure of each kind, as `PciTransport` takes them.
            match kind {
                CAP_COMMON if length >= 16 && caps.common.is_none() => {
                    caps.common = Some((bar, word(CAP_OFFSET)));
                }
                CAP_NOTIFY if length >= 20 && caps.notify.is_none() => {
                    caps.notify = Some((word(CAP_LENGTH), word(CAP_NOTIFY_MULTIPLIER)));
                }
                _ => {}
            }
        }
        caps
    }

    /// Whether the RX and TX queues (0 and 1) are notified inside the notification region
    /// the device declares: `PciTransport::notify` writes at `queue_notify_off *
    /// notify_off_multiplier` into that region and panics past its end. `mapped`: the
    /// address and size of each BAR mapped (zero for the others).
    fn notify_offsets_fit(&self, mapped: &[(u64, u64); 6]) -> bool {
        let (Some((bar, offset)), Some((region, multiplier))) = (self.common, self.notify) else {
            return false;
        };
        let offset = u64::from(offset);
        let Some(&(base, size)) = mapped.get(usize::from(bar)) else {
            return false;
        };
        // The registers read below, aligned inside a mapped BAR.
        if base == 0 || offset % 4 != 0 || offset + COMMON_QUEUE_NOTIFY_OFF + 2 > size {
            return false;
        }
        let common = base + offset;
        [0u16, 1].into_iter().all(|queue| {
            let select = (common + COMMON_QUEUE_SELECT) as *mut u16;
            let notify_off = (common + COMMON_QUEUE_NOTIFY_OFF) as *const u16;
            // SAFETY: the common configuration's registers up to `queue_notify_off` lie
            // inside a BAR mapped uncached by `transport`, 4-byte aligned (checked above;
            // BARs are aligned to their size), and `queue_select` is one of its 16-bit
            // registers. Selecting a queue only affects the queue registers read next;
            // `PciTransport` selects the queue again before each use.
            unsafe { select.write_volatile(queue) };
            // SAFETY: as above; `queue_notify_off` is an aligned 16-bit register of the
            // same structure, and reading it has no side effect.
            let notify_offset = unsafe { notify_off.read_volatile() };
            u64::from(notify_offset) * u64::from(multiplier) + 2 <= u64::from(region)
        })
    }
}

/// Turns on memory decoding and bus mastering, and makes sure INTx is not disabled.
fn enable(root: &mut PciRoot<PortCam>, at: DeviceFunction) {
    let (_, command) = root.get_status_command(at);
    let command = (command | Command::MEMORY_SPACE | Command::BUS_MASTER)
        .difference(Command::INTERRUPT_DISABLE);
    root.set_command(at, command);
}
