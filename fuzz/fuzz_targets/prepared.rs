//! `PreparedConfig::decode`, what a VM's `hotconfig` runs on the bytes it is sent.
//!
//! The first byte chooses how the rest is used:
//!
//! - even: as it is, so the header checks (magic, version, flags, length, checksum) see
//!   arbitrary bytes;
//! - odd: as a payload under a correct header, so mutations reach the content checks past
//!   the checksum.
//!
//! Either way decoding gives an error or a configuration, never a panic. A configuration
//! encodes to bytes that decode to it again, and a router built from it with a generic
//! image's classes over stand-in NICs starts or reports why not, never panics.
#![no_main]

use sluice_dataplane::console::MemoryConsole;
use sluice_dataplane::prepared::{crc32, PreparedConfig, MAGIC, VERSION};
use sluice_dataplane::{Environment, LoopbackDevice, ManualClock, NetDevice, PacketPool, Router};

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        framed(rest)
    };
    let Ok(config) = PreparedConfig::decode(&bytes) else {
        return;
    };
    assert_eq!(
        PreparedConfig::decode(&config.encode()).as_ref(),
        Ok(&config),
        "encode(decode(x)) decodes to the same configuration"
    );
    if config.graph.elements.len() > 64 {
        return;
    }
    let devices: Vec<Box<dyn NetDevice>> = (0..2u8)
        .map(|i| {
            Box::new(LoopbackDevice::new(
                &format!("eth{i}"),
                [0x52, 0x54, 0, 0x12, 0x34, 0x50 + i],
            )) as Box<dyn NetDevice>
        })
        .collect();
    let env = Environment {
        pool: PacketPool::new(32),
        clock: Box::new(ManualClock::new(0)),
        devices,
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    // A generic image's classes: the host-only ones (files, Linux devices) never run in a
    // guest.
    let host: Vec<&str> = sluice_elements::host::ALL.iter().map(|c| c.name).collect();
    let classes: Vec<_> = sluice_elements::all_classes()
        .into_iter()
        .filter(|c| !host.contains(&c.name))
        .collect();
    let _ = Router::new_prepared(&config.graph, &classes, env, &config.prepared_table());
});
