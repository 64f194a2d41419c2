//! Tests of the kernel's PCI walk (order, bridges, interrupt lines), compiled for the host
//! from the kernel's own source file over a fake configuration space.

extern crate alloc;

#[path = "../../src/net/pci/topology.rs"]
#[allow(dead_code)]
mod topology;

use std::collections::BTreeMap;

use topology::{scan, Address, ConfigRead, Function, Routing};

/// Configuration space as a map of registers; absent registers read as all ones.
#[derive(Default)]
struct Fake(BTreeMap<(Address, u8), u32>);

const fn at(bus: u8, device: u8, function: u8) -> Address {
    Address {
        bus,
        device,
        function,
    }
}

impl Fake {
    fn function(&mut self, a: Address, vendor: u16, device: u16, header: u8) -> &mut Self {
        self.0
            .insert((a, 0x00), u32::from(device) << 16 | u32::from(vendor));
        self.0.insert((a, 0x0c), u32::from(header) << 16);
        self
    }

    /// The Q35 host bridge at 00:00.0.
    fn q35() -> Fake {
        let mut fake = Fake::default();
        fake.function(at(0, 0, 0), 0x8086, 0x29c0, 0);
        fake
    }

    /// A virtio-net function with INTx pin `pin` and interrupt line `line`.
    fn nic(&mut self, a: Address, device_id: u16, pin: u8, line: u8) -> &mut Self {
        self.function(a, 0x1af4, device_id, 0);
        self.0
            .insert((a, 0x3c), u32::from(pin) << 8 | u32::from(line));
        self
    }

    /// A PCI-to-PCI bridge (a PCI Express root port) to bus `secondary`.
    fn bridge(&mut self, a: Address, secondary: u8, multi_function: bool) -> &mut Self {
        let header = if multi_function { 0x81 } else { 0x01 };
        self.function(a, 0x1b36, 0x000c, header);
        self.0.insert(
            (a, 0x18),
            u32::from(secondary) << 16 | u32::from(secondary) << 8 | u32::from(a.bus),
        );
        self
    }
}

impl ConfigRead for Fake {
    fn read(&self, a: Address, offset: u8) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned register {offset:#x}");
        assert!(a.device < 32 && a.function < 8, "{a:?}");
        self.0.get(&(a, offset)).copied().unwrap_or(u32::MAX)
    }
}

fn summary(found: &[Function]) -> Vec<(String, u16, Option<u32>, usize)> {
    found
        .iter()
        .map(|f| (f.address.to_string(), f.device_id, f.gsi, f.bridges.len()))
        .collect()
}

#[test]
fn q35_root_bus_nics_come_in_slot_order_on_pirq_e_to_h() {
    let mut fake = Fake::q35();
    // sluice boot --machine q35: NIC i at 00:0(2+i).0, INTA; a virtio block device and an
    // Intel NIC are not virtio-net.
    fake.nic(at(0, 3, 0), 0x1041, 1, 11)
        .nic(at(0, 2, 0), 0x1000, 1, 11)
        .nic(at(0, 5, 0), 0x1000, 1, 10)
        .nic(at(0, 4, 0), 0x1000, 2, 10)
        .function(at(0, 6, 0), 0x1af4, 0x1001, 0)
        .function(at(0, 7, 0), 0x8086, 0x100e, 0)
        .function(at(0, 0x1f, 0), 0x8086, 0x2918, 0x80);
    assert!(topology::has_host_bridge(&fake));
    assert_eq!(topology::routing(&fake), Routing::Ich9);
    assert_eq!(
        summary(&scan(&fake)),
        [
            ("00:02.0".into(), 0x1000, Some(22), 0),
            ("00:03.0".into(), 0x1041, Some(23), 0),
            // INTB of slot 4: PIRQ E + (4 + 1) % 4.
            ("00:04.0".into(), 0x1000, Some(21), 0),
            ("00:05.0".into(), 0x1000, Some(21), 0),
        ]
    );
}

#[test]
fn nics_behind_root_ports_come_in_port_order_with_swizzled_lines() {
    // libvirt's q35 layout: one root port per NIC at 00:02.0, 00:02.1, ..., the NIC at
    // 00.0 below each; firmware numbered the buses 1, 2, 3.
    let mut fake = Fake::q35();
    fake.bridge(at(0, 2, 0), 1, true)
        .bridge(at(0, 2, 1), 2, true)
        .bridge(at(0, 2, 2), 3, true)
        .nic(at(1, 0, 0), 0x1041, 1, 10)
        .nic(at(2, 0, 0), 0x1041, 1, 10)
        // Behind a second level of bridges: 00:03.0 -> bus 4, 04:01.0 -> bus 5, NIC at
        // 05:02.0 INTB: pin B rotated by 2 (its device) and 1 (the lower bridge's).
        .bridge(at(0, 3, 0), 4, false)
        .bridge(at(4, 1, 0), 5, false)
        .nic(at(5, 2, 0), 0x1041, 2, 10);
    let found = scan(&fake);
    assert_eq!(
        summary(&found),
        [
            ("01:00.0".into(), 0x1041, Some(22), 1),
            ("02:00.0".into(), 0x1041, Some(22), 1),
            ("05:02.0".into(), 0x1041, Some(20 + (3 + 1 + 2 + 1) % 4), 2),
        ]
    );
    assert_eq!(found[1].bridges, [at(0, 2, 1)]);
    assert_eq!(found[2].bridges, [at(0, 3, 0), at(4, 1, 0)]);
}

#[test]
fn functions_above_zero_only_count_on_multi_function_devices() {
    let mut fake = Fake::q35();
    // A single-function device that answers on every function number (some do): only
    // function 0 is real.
    fake.nic(at(0, 2, 0), 0x1000, 1, 10)
        .nic(at(0, 2, 3), 0x1000, 1, 10)
        // A multi-function device: functions 0 and 3 are both there.
        .function(at(0, 4, 0), 0x1af4, 0x1001, 0x80)
        .nic(at(0, 4, 3), 0x1000, 4, 10);
    assert_eq!(
        summary(&scan(&fake)),
        [
            ("00:02.0".into(), 0x1000, Some(22), 0),
            ("00:04.3".into(), 0x1000, Some(20 + (4 + 3) % 4), 0),
        ]
    );
}

#[test]
fn unconfigured_and_looping_bridges_are_not_followed() {
    let mut fake = Fake::q35();
    fake.bridge(at(0, 2, 0), 0, false)
        .bridge(at(0, 3, 0), 1, false)
        // Bus 1 claims bus 1 again below itself.
        .bridge(at(1, 0, 0), 1, false)
        .nic(at(1, 1, 0), 0x1041, 1, 10);
    assert_eq!(
        summary(&scan(&fake)),
        // Interrupts through the bridge in slot 3: q35's line for that slot, GSI 20.
        [("01:01.0".into(), 0x1041, Some(20), 1)]
    );
}

#[test]
fn deep_bridge_chains_stop_at_the_depth_limit() {
    let mut fake = Fake::q35();
    let depth = topology::MAX_BRIDGE_DEPTH as u8;
    for bus in 0..=depth {
        fake.bridge(at(bus, 1, 0), bus + 1, false);
    }
    fake.nic(at(depth, 2, 0), 0x1041, 1, 10)
        .nic(at(depth + 1, 2, 0), 0x1041, 1, 10);
    let found = scan(&fake);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].address, at(depth, 2, 0));
    assert_eq!(found[0].bridges.len(), topology::MAX_BRIDGE_DEPTH);
}

#[test]
fn other_chipsets_take_the_interrupt_line_register() {
    // QEMU's pc machine: i440FX host bridge.
    let mut fake = Fake::default();
    fake.function(at(0, 0, 0), 0x8086, 0x1237, 0)
        .nic(at(0, 3, 0), 0x1000, 1, 11)
        .nic(at(0, 4, 0), 0x1000, 1, 0xff)
        .nic(at(0, 5, 0), 0x1000, 0, 10);
    assert_eq!(topology::routing(&fake), Routing::InterruptLine);
    assert_eq!(
        summary(&scan(&fake)),
        [
            ("00:03.0".into(), 0x1000, Some(11), 0),
            ("00:04.0".into(), 0x1000, None, 0),
            ("00:05.0".into(), 0x1000, None, 0),
        ]
    );
}

#[test]
fn no_host_bridge_means_no_pci() {
    let fake = Fake::default();
    assert!(!topology::has_host_bridge(&fake));
    assert!(scan(&fake).is_empty());
}

#[test]
fn ich9_slots_25_and_up_use_pirq_a_to_d() {
    assert_eq!(topology::ich9_gsi(0x1d, 0), 16);
    assert_eq!(topology::ich9_gsi(0x1f, 3), 19);
    assert_eq!(topology::ich9_gsi(24, 0), 20);
    assert_eq!(topology::ich9_gsi(2, 5), 23);
}
