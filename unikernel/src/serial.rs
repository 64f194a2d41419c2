//! The serial console: a 16550 UART on COM1, the [`print!`](crate::print) and
//! [`println!`](crate::println) macros, and a [`log`] backend so that `log::info!` and friends
//! (also those inside dependencies such as `virtio-drivers`) reach the console.
//!
//! Log lines carry the time since kernel entry once the clock is calibrated:
//! `[   1.234567] INFO  message`.

use core::fmt::{self, Write};

use spin::Mutex;
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;

/// I/O base of COM1 (the console).
const COM1: u16 = 0x3f8;
/// I/O base of COM2 (the control channel, see `control`).
pub const COM2: u16 = 0x2f8;

/// Register offsets from the UART's I/O base.
mod reg {
    pub const DATA: u16 = 0; // DLAB=0: transmit holding / receive buffer; DLAB=1: divisor low
    pub const INTERRUPT_ENABLE: u16 = 1; // DLAB=1: divisor high
    pub const FIFO_CONTROL: u16 = 2;
    pub const LINE_CONTROL: u16 = 3;
    pub const MODEM_CONTROL: u16 = 4;
    pub const LINE_STATUS: u16 = 5;
}

const LINE_CONTROL_8N1: u8 = 0x03;
const LINE_CONTROL_DLAB: u8 = 0x80;
const FIFO_ENABLE_AND_CLEAR: u8 = 0xc7;
const MODEM_DTR_RTS_OUT2: u8 = 0x0b;
const LINE_STATUS_THR_EMPTY: u8 = 0x20;
const LINE_STATUS_DATA_READY: u8 = 0x01;
const INTERRUPT_RECEIVED_DATA: u8 = 0x01;
/// Divisor 1: 115200 baud.
const BAUD_DIVISOR: u16 = 1;

/// A 16550-compatible UART at an I/O port base.
pub struct Uart {
    base: u16,
}

impl Uart {
    /// The UART at I/O port `base` (`COM2`, ...).
    pub const fn new(base: u16) -> Self {
        Self { base }
    }

    fn write_reg(&self, offset: u16, value: u8) {
        // SAFETY: the port is one of the UART's registers; writing it has no effect on memory.
        unsafe { Port::new(self.base + offset).write(value) }
    }

    fn read_reg(&self, offset: u16) -> u8 {
        // SAFETY: as in `write_reg`; reading the line status register has no side effects.
        unsafe { Port::new(self.base + offset).read() }
    }

    /// Programs 115200 8N1 with FIFOs on and UART interrupts off.
    pub fn init(&self) {
        self.write_reg(reg::INTERRUPT_ENABLE, 0);
        self.write_reg(reg::LINE_CONTROL, LINE_CONTROL_DLAB);
        let [low, high] = BAUD_DIVISOR.to_le_bytes();
        self.write_reg(reg::DATA, low);
        self.write_reg(reg::INTERRUPT_ENABLE, high);
        self.write_reg(reg::LINE_CONTROL, LINE_CONTROL_8N1);
        self.write_reg(reg::FIFO_CONTROL, FIFO_ENABLE_AND_CLEAR);
        self.write_reg(reg::MODEM_CONTROL, MODEM_DTR_RTS_OUT2);
    }

    /// Raises the UART's interrupt line while received data waits (IER bit 0), so a
    /// sleeping CPU wakes for input.
    pub fn enable_receive_interrupt(&self) {
        self.write_reg(reg::INTERRUPT_ENABLE, INTERRUPT_RECEIVED_DATA);
    }

    /// Whether a received byte is waiting.
    pub fn has_input(&self) -> bool {
        let status = self.read_reg(reg::LINE_STATUS);
        status & LINE_STATUS_DATA_READY != 0 && status != 0xff
    }

    /// The next received byte, if one is waiting. One port read when none is.
    pub fn try_read_byte(&self) -> Option<u8> {
        // A missing UART reads 0xff: "data ready" with 0xff bytes forever. 0xff in the line
        // status also claims a FIFO error, which a real UART with data never reports.
        self.has_input().then(|| self.read_reg(reg::DATA))
    }

    /// Writes bytes as they are (no newline translation).
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_byte(byte);
        }
    }

    fn write_byte(&self, byte: u8) {
        // Without a UART the port reads 0xff, which has the "empty" bit set: no hang.
        while self.read_reg(reg::LINE_STATUS) & LINE_STATUS_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        self.write_reg(reg::DATA, byte);
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}

static CONSOLE: Mutex<Uart> = Mutex::new(Uart::new(COM1));

/// Programs the UART. Output works before this too (QEMU's UART needs no setup), but with
/// whatever line settings the firmware left.
pub fn init() {
    CONSOLE.lock().init();
}

/// Writes formatted text to the console; used by the printing macros.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    interrupts::without_interrupts(|| {
        let _ = CONSOLE.lock().write_fmt(args);
    });
}

/// A console writer that does not take the console lock, for the panic and exception paths:
/// the code that failed may hold the lock. Lines may interleave with a half-written one, which
/// is better than no report at all.
pub struct EmergencyWriter(Uart);

impl EmergencyWriter {
    pub const fn new() -> Self {
        Self(Uart::new(COM1))
    }
}

impl Default for EmergencyWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for EmergencyWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)
    }
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::serial::_print(format_args!($($arg)*))
    };
}

/// Prints to the serial console, with a newline.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print!("\n")
    };
    ($($arg:tt)*) => {
        $crate::serial::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

struct SerialLogger;

impl log::Log for SerialLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // virtio-drivers reports feature negotiation at `info`: at boot, every console byte
        // costs a VM exit, so those lines only show at `debug`.
        let mut level = log::max_level();
        if metadata.target().starts_with("virtio_drivers") && level < log::LevelFilter::Debug {
            level = level.min(log::LevelFilter::Warn);
        }
        metadata.level() <= level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match crate::clock::uptime() {
            Some(t) => crate::println!(
                "[{:4}.{:06}] {:<5} {}",
                t.as_secs(),
                t.subsec_micros(),
                record.level(),
                record.args()
            ),
            None => crate::println!("[    ?.??????] {:<5} {}", record.level(), record.args()),
        }
    }

    fn flush(&self) {}
}

static LOGGER: SerialLogger = SerialLogger;

/// Routes the `log` macros to the console, showing records up to `level`.
pub fn init_logger(level: log::LevelFilter) {
    // Fails only if a logger is already set, in which case that one stays.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
