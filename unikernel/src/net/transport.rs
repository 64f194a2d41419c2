//! [`NicTransport`]: a NIC's virtio transport, virtio-mmio or PCI, as one type, so that the
//! driver (most of the image's device code) is compiled once for both.

use virtio_drivers::transport::mmio::MmioTransport;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{PhysAddr, Result};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// The transport of one NIC.
#[derive(Debug)]
pub enum NicTransport {
    Mmio(MmioTransport<'static>),
    Pci(PciTransport),
}

/// Runs `$call` on whichever transport `$self` holds, bound as `$t`.
macro_rules! either {
    ($self:ident, $t:ident => $call:expr) => {
        match $self {
            NicTransport::Mmio($t) => $call,
            NicTransport::Pci($t) => $call,
        }
    };
}

impl Transport for NicTransport {
    fn device_type(&self) -> DeviceType {
        either!(self, t => t.device_type())
    }

    fn read_device_features(&mut self) -> u64 {
        either!(self, t => t.read_device_features())
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        either!(self, t => t.write_driver_features(driver_features))
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        either!(self, t => t.max_queue_size(queue))
    }

    fn notify(&mut self, queue: u16) {
        either!(self, t => t.notify(queue))
    }

    fn get_status(&self) -> DeviceStatus {
        either!(self, t => t.get_status())
    }

    fn set_status(&mut self, status: DeviceStatus) {
        either!(self, t => t.set_status(status))
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        either!(self, t => t.set_guest_page_size(guest_page_size))
    }

    fn requires_legacy_layout(&self) -> bool {
        either!(self, t => t.requires_legacy_layout())
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        either!(self, t => t.queue_set(queue, size, descriptors, driver_area, device_area))
    }

    fn queue_unset(&mut self, queue: u16) {
        either!(self, t => t.queue_unset(queue))
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        either!(self, t => t.queue_used(queue))
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        either!(self, t => t.ack_interrupt())
    }

    fn read_config_generation(&self) -> u32 {
        either!(self, t => t.read_config_generation())
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T> {
        either!(self, t => t.read_config_space(offset))
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<()> {
        either!(self, t => t.write_config_space(offset, value))
    }
}
