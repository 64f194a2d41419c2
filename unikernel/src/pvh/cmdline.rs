//! The kernel command line: whitespace-separated `key=value` parameters and bare flags.
//!
//! Values may be quoted (`key="a b"`). When a key appears more than once, [`Cmdline::get`]
//! returns the last value, as Linux does. `virtio_mmio.device=<size>@<base>:<irq>` entries,
//! which QEMU microvm appends for each virtio-mmio device, are parsed by
//! [`Cmdline::virtio_mmio_devices`].
//!
//! This file uses only `core`, so the host-side tests compile it as it is.

/// A borrowed kernel command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cmdline<'a> {
    text: &'a str,
}

/// One parameter: `key=value` or a bare `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
}

/// A virtio-mmio device announced on the command line. Ordered by address first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VirtioMmioDevice {
    /// Physical address of the register window.
    pub base: u64,
    /// Size of the register window in bytes.
    pub size: u64,
    /// Interrupt line (GSI).
    pub irq: u32,
}

/// A `virtio_mmio.device=` value that does not read `<size>@<base>:<irq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadVirtioMmioParam<'a> {
    pub value: &'a str,
}

impl core::fmt::Display for BadVirtioMmioParam<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "virtio_mmio.device={:?}: expected <size>@<base>:<irq>",
            self.value
        )
    }
}

/// The parameter name QEMU uses to announce virtio-mmio devices.
pub const VIRTIO_MMIO_KEY: &str = "virtio_mmio.device";

impl<'a> Cmdline<'a> {
    pub const fn new(text: &'a str) -> Self {
        Self { text }
    }

    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// All parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        Tokens { rest: self.text }.map(|token| match token.split_once('=') {
            Some((key, value)) => Param {
                key,
                value: Some(unquote(value)),
            },
            None => Param {
                key: token,
                value: None,
            },
        })
    }

    /// The value of the last `key=value`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.params()
            .filter(|p| p.key == key)
            .filter_map(|p| p.value)
            .last()
    }

    /// Whether `key` appears, with or without a value.
    pub fn has(&self, key: &str) -> bool {
        self.params().any(|p| p.key == key)
    }

    /// The value of `key` as an integer (decimal, or hexadecimal with `0x`).
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(parse_u64)
    }

    /// Every `virtio_mmio.device=` entry, in order.
    pub fn virtio_mmio_devices(
        &self,
    ) -> impl Iterator<Item = Result<VirtioMmioDevice, BadVirtioMmioParam<'a>>> + 'a {
        self.params().filter(|p| p.key == VIRTIO_MMIO_KEY).map(|p| {
            let value = p.value.unwrap_or("");
            parse_virtio_mmio(value).ok_or(BadVirtioMmioParam { value })
        })
    }
}

/// Splits on ASCII whitespace, keeping whitespace inside double quotes.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace());
        if text.is_empty() {
            self.rest = text;
            return None;
        }
        let mut in_quotes = false;
        let end = text
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c.is_ascii_whitespace() && !in_quotes
            })
            .map_or(text.len(), |(i, _)| i);
        self.rest = &text[end..];
        Some(&text[..end])
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Parses a decimal or `0x` hexadecimal integer.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Parses a size with an optional `K`, `M` or `G` suffix (binary multiples), as Linux's
/// `memparse` does.
pub fn parse_size(text: &str) -> Option<u64> {
    let (number, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    parse_u64(number)?.checked_mul(1 << shift)
}

/// Parses `<size>@<base>:<irq>`; a trailing `:<id>` (Linux allows a first device id) is
/// accepted and ignored.
fn parse_virtio_mmio(value: &str) -> Option<VirtioMmioDevice> {
    let (size, rest) = value.split_once('@')?;
    let (base, rest) = rest.split_once(':')?;
    let irq = rest.split(':').next()?;
    let device = VirtioMmioDevice {
        base: parse_u64(base)?,
        size: parse_size(size)?,
        irq: irq.parse().ok()?,
    };
    (device.size > 0).then_some(device)
}
