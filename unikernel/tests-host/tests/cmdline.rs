//! Unit tests of the kernel's command-line parser, compiled for the host from the kernel's own
//! source file (it uses only `core`).

#[path = "../../src/pvh/cmdline.rs"]
#[allow(dead_code)]
mod cmdline;

use cmdline::{parse_size, parse_u64, Cmdline, Param, VirtioMmioDevice};

#[test]
fn splits_keys_values_and_flags() {
    let line = Cmdline::new("  tsc_khz=2600000 quiet  name=\"a b\" selftest=clock ");
    let params: Vec<_> = line.params().collect();
    assert_eq!(
        params,
        [
            Param {
                key: "tsc_khz",
                value: Some("2600000")
            },
            Param {
                key: "quiet",
                value: None
            },
            Param {
                key: "name",
                value: Some("a b")
            },
            Param {
                key: "selftest",
                value: Some("clock")
            },
        ]
    );
    assert_eq!(line.get_u64("tsc_khz"), Some(2_600_000));
    assert!(line.has("quiet"));
    assert_eq!(line.get("quiet"), None);
    assert_eq!(line.get("missing"), None);
}

#[test]
fn last_value_wins() {
    assert_eq!(Cmdline::new("a=1 a=2").get("a"), Some("2"));
}

#[test]
fn empty_line_has_no_params() {
    assert_eq!(Cmdline::new("").params().count(), 0);
    assert_eq!(Cmdline::new("   ").params().count(), 0);
}

#[test]
fn parses_numbers_and_sizes() {
    assert_eq!(parse_u64("0xfeb00e00"), Some(0xfeb0_0e00));
    assert_eq!(parse_u64("512"), Some(512));
    assert_eq!(parse_u64("0xzz"), None);
    assert_eq!(parse_size("4K"), Some(4096));
    assert_eq!(parse_size("2M"), Some(2 << 20));
    assert_eq!(parse_size("0x200"), Some(512));
    assert_eq!(parse_size(""), None);
}

#[test]
fn reads_the_virtio_mmio_devices_qemu_appends() {
    let line = Cmdline::new(
        "selftest=mmio virtio_mmio.device=512@0xfeb00e00:12 \
         virtio_mmio.device=4K@0xfeb00c00:11:3 virtio_mmio.device=bogus",
    );
    let devices: Vec<_> = line.virtio_mmio_devices().collect();
    assert_eq!(devices.len(), 3);
    assert_eq!(
        devices[0],
        Ok(VirtioMmioDevice {
            base: 0xfeb0_0e00,
            size: 512,
            irq: 12
        })
    );
    assert_eq!(
        devices[1],
        Ok(VirtioMmioDevice {
            base: 0xfeb0_0c00,
            size: 4096,
            irq: 11
        })
    );
    let error = devices[2].expect_err("bogus entry");
    assert_eq!(error.value, "bogus");
    assert!(error.to_string().contains("<size>@<base>:<irq>"));
}
