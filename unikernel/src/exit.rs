//! Leaving the VM: [`exit`] through QEMU's `isa-debug-exit` device, and the panic handler.
//!
//! With `-device isa-debug-exit,iobase=0xf4,iosize=0x04`, writing `code` to port 0xf4 makes
//! QEMU exit with status `(code << 1) | 1`; [`ExitCode::qemu_status`] gives that number. Status
//! 0 therefore never means success: QEMU returns 0 when the guest resets or powers off some
//! other way (a triple fault with `-no-reboot`, for instance).

use core::fmt::Write;

use x86_64::instructions::port::Port;

use crate::arch;
use crate::serial::EmergencyWriter;

/// I/O port of QEMU's `isa-debug-exit` device.
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the kernel stops. Each has its own QEMU exit status.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Finished normally (QEMU status 1).
    Success = 0,
    /// Stopped on an error it reported (QEMU status 3).
    Failure = 1,
    /// A Rust panic (QEMU status 5).
    Panic = 2,
    /// A CPU exception (QEMU status 7).
    Exception = 3,
    /// The configuration was rejected at boot (QEMU status 9).
    ConfigError = 4,
}

impl ExitCode {
    /// The status QEMU's process exits with for this code.
    pub const fn qemu_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}

/// Stops the VM with `code`. Without an `isa-debug-exit` device the CPU halts instead.
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the debug-exit device or nothing; writing it touches no memory.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(code as u32) };
    arch::halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut out = EmergencyWriter::new();
    let _ = write!(out, "\nPANIC");
    if let Some(location) = info.location() {
        let _ = write!(
            out,
            " at {}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        );
    }
    let _ = writeln!(out, ": {}", info.message());
    exit(ExitCode::Panic)
}
