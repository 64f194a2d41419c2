//! Where the virtio-net functions sit in the PCI hierarchy and which I/O APIC line each one's
//! INTx pin raises: a walk over configuration space, apart from the port I/O that reads it
//! so that it runs on the host too (`tests-host/tests/pci_topology.rs`, on a fake
//! configuration space). Uses only `core` and `alloc`.
//!
//! **Order.** Depth first: bus 0 by device and function number, and the functions behind a
//! bridge where the bridge sits. QEMU's q35 puts `-device virtio-net-pci,addr=N` at 00:N.0;
//! libvirt's q35 domains put each PCI Express device behind a root port of its own, the
//! ports at 00:02.0, 00:02.1, ... in the order of the devices, and firmware numbers the buses
//! below them in the same depth-first order. Either way, this order is the order of the
//! devices on the command line or in the domain XML.
//!
//! **Interrupt lines.** A function on bus 0 raises its own pin (INTA-INTD) at its slot; a
//! function behind bridges raises its pin rotated by its device number at each bridge on the
//! way up (the PCI-to-PCI bridge specification's swizzle), and the topmost bridge raises that
//! pin at its own slot on bus 0. On Intel's ICH9 (QEMU's q35, recognised by its host bridge),
//! with the chipset's default routing that QEMU's ACPI tables describe, slots 0-24 map pins
//! INTA-INTD to PIRQ E-H rotated by the slot number and slots 25-31 to PIRQ A-D, and PIRQ A-H
//! are the I/O APIC's GSIs 16-23. Elsewhere the interrupt line register that firmware
//! programmed is taken as the GSI: it is an ISA IRQ, which QEMU's pc machine also wires to the
//! I/O APIC pin of the same number.

use alloc::vec::Vec;
use core::fmt;

/// A function's position in configuration space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    pub bus: u8,
    /// 0-31.
    pub device: u8,
    /// 0-7.
    pub function: u8,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Reads configuration space.
pub trait ConfigRead {
    /// The 32-bit register at `offset` (a multiple of 4) of the function at `at`: all ones
    /// where no function answers.
    fn read(&self, at: Address, offset: u8) -> u32;
}

/// The vendor id of virtio devices.
pub const VIRTIO_VENDOR: u16 = 0x1af4;
/// virtio-net with both the legacy and the modern interface (QEMU's default on a PCI bus).
pub const VIRTIO_NET_TRANSITIONAL: u16 = 0x1000;
/// virtio-net with the modern interface only (QEMU's default behind a PCI Express port).
pub const VIRTIO_NET_MODERN: u16 = 0x1041;

const INTEL: u16 = 0x8086;
/// The device id of the Q35 memory controller hub, the host bridge at 00:00.0.
const Q35_HOST_BRIDGE: u16 = 0x29c0;

/// Register offsets.
const REG_ID: u8 = 0x00;
const REG_HEADER: u8 = 0x0c;
const REG_BUSES: u8 = 0x18;
const REG_INTERRUPT: u8 = 0x3c;

/// Header type byte: a device with more than one function.
const MULTI_FUNCTION: u8 = 0x80;
const HEADER_STANDARD: u8 = 0x00;
const HEADER_BRIDGE: u8 = 0x01;

/// Deepest bridge nesting followed (the walk recurses once per level).
pub const MAX_BRIDGE_DEPTH: usize = 8;

/// A virtio-net function found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub address: Address,
    /// [`VIRTIO_NET_TRANSITIONAL`] or [`VIRTIO_NET_MODERN`].
    pub device_id: u16,
    /// The I/O APIC input its INTx pin raises; `None` when it has no pin or the line is
    /// unknown.
    pub gsi: Option<u32>,
    /// The bridges between bus 0 and the function, topmost first: each must forward the
    /// function's register accesses and its DMA.
    pub bridges: Vec<Address>,
}

/// How INTx pins reach the I/O APIC (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Intel ICH9 with its default routing (QEMU's q35).
    Ich9,
    /// The interrupt line register, as firmware programmed it.
    InterruptLine,
}

/// Whether a host bridge answers at 00:00.0: PCI configuration space is there.
pub fn has_host_bridge(config: &impl ConfigRead) -> bool {
    present(config.read(HOST_BRIDGE, REG_ID))
}

const HOST_BRIDGE: Address = Address {
    bus: 0,
    device: 0,
    function: 0,
};

fn present(id: u32) -> bool {
    !matches!(id as u16, 0xffff | 0x0000)
}

/// The routing of the chipset whose host bridge is at 00:00.0.
pub fn routing(config: &impl ConfigRead) -> Routing {
    let id = config.read(HOST_BRIDGE, REG_ID);
    if id as u16 == INTEL && (id >> 16) as u16 == Q35_HOST_BRIDGE {
        Routing::Ich9
    } else {
        Routing::InterruptLine
    }
}

/// Every virtio-net function, in the order of the module docs.
pub fn scan(config: &impl ConfigRead) -> Vec<Function> {
    let mut walk = Walk {
        config,
        routing: routing(config),
        bridges: Vec::new(),
        found: Vec::new(),
    };
    walk.bus(0, None);
    walk.found
}

/// Where the pins of a bus other than 0 come out on bus 0.
#[derive(Debug, Clone, Copy)]
struct Upstream {
    /// Slot of the topmost bridge on bus 0.
    root_slot: u8,
    /// Sum of the device numbers of the bridges below the topmost one.
    swizzle: u32,
}

struct Walk<'a, C> {
    config: &'a C,
    routing: Routing,
    /// The bridges above the bus being walked, topmost first.
    bridges: Vec<Address>,
    found: Vec<Function>,
}

impl<C: ConfigRead> Walk<'_, C> {
    fn bus(&mut self, bus: u8, upstream: Option<Upstream>) {
        for device in 0..32 {
            let first = Address {
                bus,
                device,
                function: 0,
            };
            if !present(self.config.read(first, REG_ID)) {
                continue;
            }
            let functions = if self.header(first) & MULTI_FUNCTION != 0 {
                8
            } else {
                1
            };
            for function in 0..functions {
                self.function(
                    Address {
                        bus,
                        device,
                        function,
                    },
                    upstream,
                );
            }
        }
    }

    fn header(&self, at: Address) -> u8 {
        (self.config.read(at, REG_HEADER) >> 16) as u8
    }

    fn function(&mut self, at: Address, upstream: Option<Upstream>) {
        let id = self.config.read(at, REG_ID);
        if !present(id) {
            return;
        }
        let (vendor, device_id) = (id as u16, (id >> 16) as u16);
        match self.header(at) & !MULTI_FUNCTION {
            HEADER_STANDARD
                if vendor == VIRTIO_VENDOR
                    && matches!(device_id, VIRTIO_NET_TRANSITIONAL | VIRTIO_NET_MODERN) =>
            {
                let interrupt = self.config.read(at, REG_INTERRUPT);
                let (line, pin) = (interrupt as u8, (interrupt >> 8) as u8);
                self.found.push(Function {
                    address: at,
                    device_id,
                    gsi: gsi(self.routing, upstream, at.device, pin, line),
                    bridges: self.bridges.clone(),
                });
            }
            HEADER_BRIDGE if self.bridges.len() < MAX_BRIDGE_DEPTH => {
                let secondary = (self.config.read(at, REG_BUSES) >> 8) as u8;
                // Firmware numbers buses downwards: 0 is a bridge it left unconfigured, a
                // smaller number a loop.
                if secondary <= at.bus {
                    return;
                }
                let below = match upstream {
                    None => Upstream {
                        root_slot: at.device,
                        swizzle: 0,
                    },
                    Some(up) => Upstream {
                        swizzle: up.swizzle + u32::from(at.device),
                        ..up
                    },
                };
                self.bridges.push(at);
                self.bus(secondary, Some(below));
                self.bridges.pop();
            }
            _ => {}
        }
    }
}

/// The GSI of INTx pin `pin` (1 = INTA ... 4 = INTD; others: none) of the function at
/// device `device` of its bus, `upstream` of bus 0; `line` is its interrupt line register.
fn gsi(routing: Routing, upstream: Option<Upstream>, device: u8, pin: u8, line: u8) -> Option<u32> {
    if !(1..=4).contains(&pin) {
        return None;
    }
    match routing {
        Routing::Ich9 => {
            let pin = u32::from(pin - 1);
            Some(match upstream {
                None => ich9_gsi(device, pin),
                Some(up) => ich9_gsi(up.root_slot, pin + up.swizzle + u32::from(device)),
            })
        }
        // 0xff: "unknown or no connection"; 0 would be the timer's.
        Routing::InterruptLine => (line != 0 && line != 0xff).then_some(u32::from(line)),
    }
}

/// The GSI of pin `pin` (0 = INTA, taken modulo 4) at bus 0's slot `slot` on ICH9.
pub fn ich9_gsi(slot: u8, pin: u32) -> u32 {
    const PIRQ_A: u32 = 16;
    const PIRQ_E: u32 = 20;
    if slot <= 24 {
        PIRQ_E + (u32::from(slot) + pin) % 4
    } else {
        PIRQ_A + pin % 4
    }
}
