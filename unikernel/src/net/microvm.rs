//! Finding the virtio-mmio devices of QEMU's `microvm` machine without the command line.
//!
//! QEMU appends a `virtio_mmio.device=512@<base>:<irq>` entry per device to the kernel
//! command line only with `acpi=off` (and `auto-kernel-cmdline` left on), as `sluice boot`
//! runs it. Under libvirt, or a hand-written QEMU command line with ACPI on, the guest gets
//! none, so it looks at the transports microvm always creates (`hw/i386/microvm.c`):
//!
//! - slot `i` is a 512-byte register window at `0xfeb0_0000 + 512 * i`;
//! - without a second I/O APIC there are 8 slots, raising GSI `5 + i` (`16 + i` with ACPI
//!   on but `ioapic2=off`);
//! - with ACPI on, microvm adds a second I/O APIC by default and has 24 slots, raising GSI
//!   `24 + i` (the second I/O APIC's pins).
//!
//! Every slot has a transport, with a device or not: the magic value ("virt") tells that
//! the window is a virtio-mmio transport, a device id other than 0 that a device sits
//! there. Addresses past the last slot read as 0 on QEMU, so slot 8's magic tells 8 slots
//! from 24. Devices come out in slot order; [`super::discover`] numbers them from the
//! highest slot down, as with command-line entries.

use alloc::vec::Vec;

use crate::arch::paging;
use crate::pvh::VirtioMmioDevice;

/// Address of slot 0.
pub const BASE: u64 = 0xfeb0_0000;
/// Size of a slot's register window.
pub const SLOT_SIZE: u64 = 512;
/// Slots without a second I/O APIC.
const SLOTS: u64 = 8;
/// Slots with the second I/O APIC (its 24 pins).
const SLOTS_IOAPIC2: u64 = 24;
/// First GSI of the second I/O APIC.
const IOAPIC2_FIRST_GSI: u32 = 24;

/// "virt" in little endian: register 0 of every virtio-mmio transport.
const MAGIC: u32 = 0x7472_6976;
/// Register offsets.
const REG_MAGIC: u64 = 0x000;
const REG_DEVICE_ID: u64 = 0x008;

/// The slots of a microvm layout and the GSI of slot 0, from what the probe saw: whether
/// slot [`SLOTS`] (the first one only the 24-slot layout has) is a transport, and whether
/// the machine has ACPI.
fn layout(has_slot_8: bool, acpi: bool) -> (u64, u32) {
    if has_slot_8 {
        (SLOTS_IOAPIC2, IOAPIC2_FIRST_GSI)
    } else if acpi {
        (SLOTS, 16)
    } else {
        (SLOTS, 5)
    }
}

/// The devices in microvm's virtio-mmio slots, in slot order; none when slot 0 is not a
/// virtio-mmio transport (not a microvm machine) or its window cannot be mapped.
pub fn probe(acpi: bool) -> Vec<VirtioMmioDevice> {
    let span = SLOTS_IOAPIC2 * SLOT_SIZE;
    let window = match paging::map_mmio(BASE, span) {
        Ok(window) => window,
        Err(e) => {
            log::warn!("virtio-mmio probe: cannot map {BASE:#x}+{span:#x}: {e}");
            return Vec::new();
        }
    };
    let read = |slot: u64, reg: u64| -> u32 {
        let offset = (slot * SLOT_SIZE + reg) as usize;
        let register = window.as_ptr().wrapping_add(offset).cast::<u32>();
        // SAFETY: `offset + 4 <= span`: `slot < SLOTS_IOAPIC2` and `reg` is a register of a
        // 512-byte window, so the 4-byte read lies in the window `map_mmio` just mapped
        // uncached; both offsets are multiples of 4, so the read is aligned. Reading a
        // virtio-mmio magic or device-id register has no side effect.
        unsafe { register.read_volatile() }
    };
    let is_transport = |slot: u64| read(slot, REG_MAGIC) == MAGIC;
    if !is_transport(0) {
        return Vec::new();
    }
    let (slots, first_gsi) = layout(is_transport(SLOTS), acpi);
    (0..slots)
        .filter(|&slot| is_transport(slot) && read(slot, REG_DEVICE_ID) != 0)
        .map(|slot| VirtioMmioDevice {
            base: BASE + slot * SLOT_SIZE,
            size: SLOT_SIZE,
            irq: first_gsi + slot as u32,
        })
        .collect()
}
